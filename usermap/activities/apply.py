"""Applying an activities plan (a repair, or the undo of one) to HubSpot (DESIGN §10).

For each object type, in batches of 100 (one batch update each):
1. re-read the batch's current owners (batch read, 50 a request);
2. an activity whose owner is the plan's ``from`` is to be written; one already at ``to`` that
   this run meant to write is done; any other was changed since the plan: skipped, never
   written (so an undo writes the old owner back only where the value is still usermap's);
3. journal the intent (committed, in one transaction with the previous batch's outcome), send
   the batch update; its outcome (done, skipped) is journalled with the next batch's intent or
   when the run finishes.

A kill at any point leaves the journal saying what may have been written (``intent``) and
HubSpot holding either value; applying the same plan again resumes its run (step 2 tells the
written from the unwritten) and ``usermap activities undo`` covers intents too.

``USERMAP_TEST_ACTIVITIES_KILL`` (tests only): ``POINT:N`` SIGKILLs this process at ``POINT``
(``after_intent`` or ``after_update``) of batch N.

Adapter: store and network, through journal.py and crm.py.
"""

from __future__ import annotations

import os
import signal

from ..errors import CrmValidationError, ShareGuardError
from ..labels import REFUSED_OWNER
from . import journal
from .crm import OBJECT_TYPES, UPDATE_BATCH

__all__ = ["apply_plan", "guard", "KILL_HOOK", "RUN_KINDS"]

KILL_HOOK = "USERMAP_TEST_ACTIVITIES_KILL"
RUN_KINDS = {"repair": "activities", "undo": "activities_undo"}


def guard(plan: dict, share: float, force: bool) -> None:
    """A repair that changes more than max(10, share × activities scanned) is refused unless
    ``force`` (exit 3)."""
    n, scanned = len(plan["changes"]), int(plan.get("activities_scanned") or 0)
    limit = max(10, int(share * scanned))
    if plan["kind"] == "repair" and n > limit and not force:
        raise ShareGuardError(f"the plan changes the owner of {n} of {scanned} activities, more "
                              f"than the guard allows ({limit}: {share:.0%}); review the plan "
                              f"and apply it with --force")


def _hook(point: str, batch: int) -> None:
    want = os.environ.get(KILL_HOOK, "")
    if want and want == f"{point}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)


def apply_plan(plan: dict, store, client, *, run_id: str, now) -> dict:
    """Apply ``plan`` (checked by plan.read_plan and guard) to HubSpot. ``now()`` gives the
    time of each journal write. Returns counts and the run id (resumed or new)."""
    kind = RUN_KINDS[plan["kind"]]
    run_id, resumed = journal.open_run(store, plan_hash=plan["hash"], kind=kind,
                                       run_id=run_id, now=now())
    rows = journal.run_rows(store, run_id)
    batch_no, pending = 0, []
    try:
        for short, obj in OBJECT_TYPES.items():
            todo = [c for c in plan["changes"] if c["object"] == short and
                    rows.get((obj, c["activity_id"]), {}).get("state") not in ("done", "skipped")]
            for i in range(0, len(todo), UPDATE_BATCH):
                batch_no += 1
                pending = _batch(store, client, run_id, obj, todo[i:i + UPDATE_BATCH], rows,
                                 batch_no, now, pending)
    except Exception:
        # a batch failed (HubSpot, the network): the batches before it are settled, so the
        # run's report says what was done; the run stays open for the next apply to complete
        if pending:
            journal.record(store, run_id, now(), settle=pending)
        raise
    counts = journal.finish(store, run_id, now(), pending)
    return {"run_id": run_id, "resumed": resumed, "done": counts.get("done", 0),
            "skipped": counts.get("skipped", 0)}


def _batch(store, client, run_id, obj, items, rows, batch_no, now, pending) -> list:
    """One batch: re-read, journal the previous batch's outcome with this one's intent (one
    transaction), write. Returns this batch's outcome, to be journalled with the next."""
    current = client.current_owners(obj, [c["activity_id"] for c in items])
    write, done, skipped = [], [], []
    for c in items:
        cur = current.get(c["activity_id"])
        intended = rows.get((obj, c["activity_id"]), {}).get("state") == "intent"
        if cur is not None and cur == c["from"] and cur != c["to"]:
            write.append(c)
        elif cur is not None and cur == c["to"] and intended:
            done.append(c)
        else:
            why = ("not found" if cur is None else
                   "already the intended owner" if cur == c["to"] else "changed since the plan")
            skipped.append({**c, "skip_reason": f"skipped: {why}"})
    if not write:
        return pending + [(obj, done, skipped)]
    journal.record(store, run_id, now(), settle=pending, intend=(obj, write))
    _hook("after_intent", batch_no)
    write, refused = _update(client, obj, write)
    _hook("after_update", batch_no)
    return [(obj, done + write, skipped + refused)]


def _update(client, obj, write) -> tuple[list, list]:
    """Send the batch update; when HubSpot refuses the whole batch for owners that are not
    valid (deactivated since the plan), send it again without the activities going to them.
    (written, refused)."""
    try:
        client.update_owners(obj, {c["activity_id"]: c["to"] for c in write})
        return write, []
    except CrmValidationError as e:
        bad = e.invalid_owners
        if not bad:
            raise
    refused = [{**c, "skip_reason": REFUSED_OWNER}
               for c in write if c["to"] in bad]
    rest = [c for c in write if c["to"] not in bad]
    if rest:
        rest, more = _update(client, obj, rest)
        refused += more
    return rest, refused
