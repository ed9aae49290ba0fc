"""Writes an audit's files (DESIGN.md §6): summary.json, mapped.csv, unmapped_aloware.csv,
unmapped_hubspot.csv, errors.csv. Adapter: files only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .models import CONFLICT_ICON
from .reconcile import Audit

__all__ = ["write_audit", "suggestions_text", "fix_command"]


def suggestions_text(items) -> str:
    """'id name <email> (score)' joined by '; ' for CSV cells."""
    return "; ".join(f"{s['hubspot_owner_id']} {s['name']} <{s['email']}> ({s['score']:.2f})"
                     for s in (items or []))


def fix_command(issue_id: str, code: str, user: str, method: str, snapshot="SNAPSHOT_DIR",
                store="DB") -> str:
    """The command that fixes one issue, or what a person must decide when a sync leaves it."""
    if code == "aloware_email_changed" or (code == "hubspot_email_changed" and method == "manual"):
        return (f"decide: usermap map {user} OWNER_ID --store {store}  or  "
                f"usermap unmap {user} --store {store}")
    return f"usermap plan {snapshot} --store {store} --out fix.json --only {issue_id}"


def write_audit(result: Audit, out: Path, *, snapshot=None, store=None) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # names and e-mails: owner-only, like the store and run folders
    summary = result.summary()
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    mapped = result.mapped.copy()
    mapped["conflict"] = mapped["conflict"].map({True: CONFLICT_ICON, False: ""})
    mapped.to_csv(out / "mapped.csv", index=False, lineterminator="\n")
    ua = result.unmapped_aloware.copy()
    ua["suggestions"] = ua["suggestions"].map(suggestions_text)
    ua.to_csv(out / "unmapped_aloware.csv", index=False, lineterminator="\n")
    result.unmapped_hubspot.to_csv(out / "unmapped_hubspot.csv", index=False,
                                   lineterminator="\n")
    errors = result.errors
    snap = snapshot or "SNAPSHOT_DIR"
    db = store or "DB"
    errors["fix"] = [fix_command(i, c, u, m, snap, db) for i, c, u, m in zip(
        errors["issue_id"], errors["code"], errors["aloware_user_id"], errors["method"])]
    errors.to_csv(out / "errors.csv", index=False, lineterminator="\n")
    for name in ("summary.json", "mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv",
                 "errors.csv"):
        os.chmod(out / name, 0o600)
    return summary
