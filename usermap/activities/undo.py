"""The undo of an activities repair run (DESIGN §10): a plan that writes each activity's old
owner back. Applied like any activities plan, it writes only where the current owner is still
the one the repair wrote (apply.py skips every other).

Adapter: reads the store's activity journal.
"""

from __future__ import annotations

from ..errors import InputError
from . import journal
from .plan import FORMAT, finish

__all__ = ["undo_plan"]


def undo_plan(store, run_id: str, *, created_at: str) -> dict:
    """The inverse of a repair run: every activity it wrote or meant to write (an intent may
    have reached HubSpot), from its new owner back to its old one. A run that is not a repair
    is exit 2."""
    if journal.run_kind(store, run_id) != "activities":
        raise InputError(f"{run_id} is not an activities repair run (see `usermap runs`)",
                         column="RUN_ID")
    rows = journal.run_rows(store, run_id)
    short = {"calls": "call", "communications": "sms"}
    changes = [{"object": short[obj], "activity_id": aid, "logged_at": "", "aloware_user_id": "",
                "from": r["new_owner"], "to": r["old_owner"], "grade": "", "reason": "undo"}
               for (obj, aid), r in rows.items() if r["state"] in ("done", "intent")]
    return finish({"format": FORMAT, "kind": "undo", "store_id": store.store_id,
                    "created_at": created_at, "since": "", "activities_scanned": len(changes),
                    "undo_of": run_id, "changes": changes})
