"""Writes an audit's files (docs/design.md §6): summary.json, mapped.csv, unmapped_aloware.csv,
unmapped_hubspot.csv, errors.csv; and builds the fix and "decide" commands that every view of an
error shows (``fix_commands``: the one place those command strings are made; errors.csv, the
notebooks' tables and the HTML report all take them from here).

Adapter: files only. Must not import store, sources, report, notify, runner or workflow.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .files import write_csv
from .engine.models import CONFLICT_ICON, METHOD_MANUAL, fill_command
from .engine.reconcile import Audit

__all__ = ["write_audit", "suggestions_text", "fix_command", "fix_commands", "FixCommands",
           "needs_decision", "for_people", "FORMULA_STARTS"]

#: A cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutral(v):
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v


def for_people(df):
    """A copy of ``df`` whose text cells a spreadsheet would run as a formula (leading ``=``,
    ``+``, ``-``, ``@``, tab or CR) start with ``'`` instead: the one place the audit's CSVs are
    neutralised. Numbers stay numbers. Not for data formats (the mappings export round-trips
    exactly)."""
    out = df.copy()
    for c in out.columns:
        if not (out[c].dtype.kind in "biufcmM"):
            out[c] = out[c].map(_neutral).astype(object)
    return out


def _write_people_csv(df, path: Path) -> None:
    write_csv(for_people(df), path)


def suggestions_text(items) -> str:
    """'id name <email> (score)' joined by '; ' for CSV cells."""
    return "; ".join(f"{s['hubspot_owner_id']} {s['name']} <{s['email']}> ({s['score']:.2f})"
                     for s in (items or []))


def needs_decision(code: str, method: str) -> bool:
    """An issue a sync leaves to a person (the e-mail changed on the Aloware side, or on the
    HubSpot side of a manual link): its fix is a decision, not a plan."""
    return code == "aloware_email_changed" or (code == "hubspot_email_changed"
                                               and method == METHOD_MANUAL)


@dataclass(frozen=True)
class FixCommands:
    """The two command templates of a snapshot and a store: ``fix`` (placeholder
    ``{issue_id}``) and ``decide`` (placeholder ``{aloware_user_id}``), as the HTML report takes
    them; ``for_issue`` fills in the one for an error."""

    fix: str
    decide: str

    def for_issue(self, issue_id: str, code: str, user: str, method: str) -> str:
        """The command for one error, every id shell-quoted (``models.fill_command``)."""
        if needs_decision(code, method):
            return fill_command(self.decide, aloware_user_id=user)
        return fill_command(self.fix, issue_id=issue_id)


def fix_commands(snapshot="SNAPSHOT_DIR", store="DB") -> FixCommands:
    """The fix and decide commands for ``snapshot`` and ``store`` (paths, quoted for a shell;
    the placeholders SNAPSHOT_DIR and DB when not known). The one place they are built."""
    snap = shlex.quote(str(snapshot or "SNAPSHOT_DIR"))
    db = shlex.quote(str(store or "DB"))
    return FixCommands(
        fix=f"usermap plan {snap} --store {db} --out fix.json --only {{issue_id}}",
        decide=(f"decide: usermap map {{aloware_user_id}} OWNER_ID --store {db}  or  "
                f"usermap unmap {{aloware_user_id}} --store {db}"))


def fix_command(issue_id: str, code: str, user: str, method: str, snapshot="SNAPSHOT_DIR",
                store="DB") -> str:
    """The command that fixes one issue, or what a person must decide when a sync leaves it."""
    return fix_commands(snapshot, store).for_issue(issue_id, code, user, method)


def write_audit(result: Audit, out: Path, *, snapshot=None, store=None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # names and e-mails: owner-only, like the store and run folders
    summary = result.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    mapped = result.mapped.copy()
    mapped["conflict"] = mapped["conflict"].map({True: CONFLICT_ICON, False: ""})
    _write_people_csv(mapped, out / "mapped.csv")
    ua = result.unmapped_aloware.copy()
    ua["suggestions"] = ua["suggestions"].map(suggestions_text)
    _write_people_csv(ua, out / "unmapped_aloware.csv")
    _write_people_csv(result.unmapped_hubspot, out / "unmapped_hubspot.csv")
    errors = result.errors
    commands = fix_commands(snapshot, store)
    errors["fix"] = [commands.for_issue(i, c, u, m) for i, c, u, m in zip(
        errors["issue_id"], errors["code"], errors["aloware_user_id"], errors["method"])]
    _write_people_csv(errors, out / "errors.csv")
    for name in ("summary.json", "mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv",
                 "errors.csv"):
        os.chmod(out / name, 0o600)
    return summary
