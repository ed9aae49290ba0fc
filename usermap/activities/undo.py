"""The undo of an activities repair run (DESIGN §10): a plan that writes each activity's old
owner back. Applied like any activities plan, it writes only where the current owner is still
the one the repair wrote (apply.py skips every other).

Adapter: reads the store's activity journal.
"""

from __future__ import annotations

import shlex

from ..errors import InputError
from . import journal
from .plan import FORMAT, finish

__all__ = ["undo_plan", "refuse_link_undo"]


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


def refuse_link_undo(store, run_id: str, *, store_path, config: str, out) -> None:
    """``usermap undo`` of an activities run (a repair or its undo): an InputError (exit 2)
    with the command that undoes it (``usermap activities undo``, which reads the activities
    journal), naming ``config`` (the --config given, "" for none) and ``out``; else nothing."""
    from ..files import shown
    kind = journal.run_kind(store, run_id)
    if kind not in ("activities", "activities_undo"):
        return
    c = f"--config {shlex.quote(shown(config or 'usermap.toml'))}"
    where = "" if config else f" (a config whose [store] path is {shown(store_path)})"
    if kind == "activities_undo":
        raise InputError(f"{run_id} is the undo of an activities repair: `usermap undo` takes "
                         f"back changes of links only. To set those owners again, make a new "
                         f"repair plan with `usermap activities plan {c} --out repair.json`"
                         f"{where}; nothing was written", column="RUN_ID")
    cmd = (f"usermap activities undo {run_id} {c} --out "
           f"{shlex.quote(shown(out or 'undo.json'))}")
    raise InputError(f"{run_id} is an activities repair run: `usermap undo` takes back "
                     f"changes of links only. Write its undo plan with `{cmd}`{where}, then "
                     f"apply it with `usermap activities apply`; nothing was written",
                     column="RUN_ID")
