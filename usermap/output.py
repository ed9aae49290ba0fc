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

import pandas as pd

from .engine.models import CONFLICT_ICON, METHOD_MANUAL, fill_command
from .engine.reconcile import Audit
from .files import write_csv
from .labels import KEEP_WITHOUT_OWNER
from .visible import visible_all

__all__ = ["write_audit", "suggestions_text", "fix_command", "fix_commands", "FixCommands",
           "needs_decision", "for_people", "FORMULA_STARTS"]

#: A cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _neutral(v):
    return "'" + v if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v


def for_people(df):
    """A copy of ``df`` whose text cells a spreadsheet would run as a formula (leading ``=``,
    ``+``, ``-``, ``@``, tab or CR) start with ``'`` instead, and whose line breaks and other
    hidden characters are shown escaped (``usermap.visible``: a name never makes a row of its
    own): the one place the audit's CSVs are neutralised. Numbers stay numbers. Not for data
    formats (the mappings export round-trips exactly)."""
    out = df.copy()
    for c in out.columns:
        if not (out[c].dtype.kind in "biufcmM"):
            cells = out[c].map(_neutral).tolist()
            # one scan of the column finds whether any cell needs escaping
            out[c] = pd.Series(visible_all(cells), index=out.index, dtype=object)
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
    ``{issue_id}``) and ``decide`` (placeholders ``{aloware_user_id}`` and
    ``{hubspot_owner_id}``: both choices complete, as the HTML report shows them);
    ``for_issue`` fills in the one for an error."""

    fix: str
    decide: str
    unlink: str

    def for_issue(self, issue_id: str, code: str, user: str, method: str,
                  owner: str = "") -> str:
        """The command for one error, every id shell-quoted (``models.fill_command``). A
        decision names the link's own owner; with no owner to name, the choice to keep a link
        is said in words, never as a placeholder that ``usermap map`` refuses."""
        if not needs_decision(code, method):
            return fill_command(self.fix, issue_id=issue_id)
        if str(owner or "").strip():
            return fill_command(self.decide, aloware_user_id=user, hubspot_owner_id=owner)
        return fill_command(self.unlink, aloware_user_id=user) + "  |  " + KEEP_WITHOUT_OWNER


def fix_commands(snapshot="SNAPSHOT_DIR", store="DB") -> FixCommands:
    """The fix and decide commands for ``snapshot`` and ``store`` (paths, quoted for a shell;
    the placeholders SNAPSHOT_DIR and DB when not known). The one place they are built: the
    report, errors.csv and the notebooks take them from here."""
    snap = shlex.quote(str(snapshot or "SNAPSHOT_DIR"))
    db = shlex.quote(str(store or "DB"))
    unlink = f"unlink: usermap unmap {{aloware_user_id}} --store {db}"
    return FixCommands(
        fix=f"usermap plan {snap} --store {db} --out fix.json --only {{issue_id}}",
        decide=(f"keep the link: usermap map {{aloware_user_id}} {{hubspot_owner_id}} "
                f"--store {db}  |  {unlink}"),
        unlink=unlink)


def fix_command(issue_id: str, code: str, user: str, method: str, snapshot="SNAPSHOT_DIR",
                store="DB", owner: str = "") -> str:
    """The command that fixes one issue, or what a person must decide when a sync leaves it."""
    return fix_commands(snapshot, store).for_issue(issue_id, code, user, method, owner)


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
    errors["fix"] = [commands.for_issue(i, c, u, m, o) for i, c, u, m, o in zip(
        errors["issue_id"], errors["code"], errors["aloware_user_id"], errors["method"],
        errors["hubspot_owner_id"])]
    _write_people_csv(errors, out / "errors.csv")
    for name in ("summary.json", "mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv",
                 "errors.csv"):
        os.chmod(out / name, 0o600)
    return summary
