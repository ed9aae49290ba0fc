"""What the User Mapping tab says in sentences (docs/design.md §9): when it was refreshed, what
an undo takes back, what an apply did and whether the e-mail went out. No server paths and no
command-line advice: the page is for admins in a browser."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from ..redact import redact

_PLAN_PEEK_BYTES = 1_000_000      # a run's plan.json larger than this is a sync, not a pin


def when_words(iso: str, *, year: bool = False) -> str:
    """"6 Dec 18:52" (UTC) from an ISO time or a run id's leading time; the text as is when it
    is neither."""
    s = str(iso or "")
    for fmt, n in (("%Y-%m-%dT%H:%M:%SZ", 20), ("%Y%m%dT%H%M%SZ", 16)):
        try:
            t = datetime.strptime(s[:n], fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
        return f"{t.day} {t:%b}{f' {t.year}' if year else ''} {t:%H:%M}"
    return s


def refreshed_words(now: str) -> str:
    return f"{when_words(now, year=True)} UTC"


def counts_words(adds: int, updates: int, removes: int) -> str:
    parts = [f"{n:,} {w}" for n, w in ((adds, "linked"), (updates, "updated"),
                                        (removes, "removed")) if n]
    return ", ".join(parts) or "no changes"


def _what(run: dict, runs_dir: Path) -> str:
    """"sync", "fix", "link" or "unlink": what kind of change a run was."""
    kind = run.get("kind")
    if kind == "map":
        return "link"
    if kind == "unmap":
        return "unlink"
    plan = Path(runs_dir) / str(run["run_id"]) / "plan.json"
    try:
        if plan.stat().st_size <= _PLAN_PEEK_BYTES:
            doc = json.loads(plan.read_text(encoding="utf-8"))
            meta = doc.get("meta") or {}
            if meta.get("pin"):
                return "link"
            if meta.get("unlink"):
                return "unlink"
            if doc.get("only"):
                return "fix"
    except (OSError, ValueError, AttributeError):
        pass
    return "sync"


def undo_title(run: dict, runs_dir: Path) -> str:
    """"Undo the sync of 6 Dec 18:52: 139 linked, 24 removed"."""
    when = when_words(run.get("finished_at") or run.get("run_id", ""))
    n = [int(run.get(k) or 0) for k in ("adds", "updates", "removes")]
    return f"Undo the {_what(run, runs_dir)} of {when}: {counts_words(*n)}"


def apply_words(plan, out: dict) -> str:
    n = plan.counts()
    total = int(out.get("changes", len(plan)))
    return (f"Applied {total:,} change{'s' if total != 1 else ''}: "
            f"{counts_words(n['add'], n['update'], n['remove'])}.")


def repair_words(out: dict, error: str = "") -> str:
    """What a Repair Apply did (an activities run's counts), or where it stopped (``error``)."""
    if error:
        return (f"The repair stopped: {error}. {int(out['done']):,} calls and texts were set "
                f"before it stopped. Press Repair, then Apply, to complete it.")
    failed = int(out.get("failed", 0))
    return (f"Repaired: {int(out['done']):,} calls and texts now belong to their owner; "
            f"{int(out['skipped']):,} left alone (changed since the scan)"
            + (f"; {failed:,} failed (HubSpot refused the owner)" if failed else "")
            + f". Recorded as run {out['run_id']}.")


def email_words(out: dict, config) -> str:
    if out.get("sent"):
        to = ", ".join(config.smtp.recipients) or "the recipients"
        return f"E-mail sent to {redact(to)}."
    if out.get("send_error"):
        return f"E-mail not sent: {redact(str(out['send_error']))}."
    return "E-mail not sent: no SMTP server configured."


def error_words(message: str) -> str:
    """An error's own message for the page: secrets redacted, and the hints meant for whoever
    edits the config (a parenthesis naming usermap.toml or a --flag) left out."""
    text = re.sub(r"\s*\([^()]*(?:usermap\.toml|\s--[a-z])[^()]*\)", "", redact(message))
    return text.rstrip(". ")
