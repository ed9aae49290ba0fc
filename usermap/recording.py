"""The tab's runs (docs/design.md §7, §9): a pin as a one-change plan
(``pin_plan``), an apply recorded as a run like ``usermap run --apply`` (``apply_recorded``: run
lock, run folder, audit, plan, report, notification, run.json, retention), the newest run an undo
can take back (``last_undoable_run``) and what the store knows of one user (``person``).

It builds on ``usermap.workflow`` (never the other way round). Same rules as workflow.py: must
not print, read stdin, call
``sys.exit`` or map errors to exit codes; must not import cli, notebook, runner or tab; adapters
(store, lock) are imported inside the functions that use them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import planfile
from .errors import InputError
from .workflow import Loaded, apply, finish, write_audit

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .engine.models import Plan
    from .engine.reconcile import Audit

__all__ = ["RUN_JSON", "UNDOABLE_KINDS", "pin_plan", "unlink_plan", "last_undoable_run", "person",
           "apply_recorded"]

RUN_JSON = "run.json"
#: The runs an "Undo last sync" may take back: applied plans (syncs, fixes, pins and unlinks of
#: the tab and `usermap run`) and `usermap map` / `unmap`; never an import (issue 20).
UNDOABLE_KINDS = ("apply", "map", "unmap")


def pin_plan(data: Loaded, aloware_id: str, owner_id: str, *, now: str) -> "Plan":
    """A one-change plan that pins ``aloware_id`` to ``owner_id`` as a ``manual`` link (what
    ``usermap map --snapshot`` writes: both ids checked against the loaded snapshot, both
    e-mails recorded, the user's current link replaced). Applied like any plan (stale-checked,
    journaled with reason ``manual_pin``), so a pin from the tab is a recorded run too."""
    from .engine.changes import ChangeTable
    from .engine.models import ADD, L_USER, METHOD_MANUAL, UPDATE, Change, Plan
    from .engine.reconcile import check_manual_link
    a_email, h_email = check_manual_link(data.users, data.owners, aloware_id, owner_id)
    links = data.links
    taken = links[(links["hubspot_owner_id"] == owner_id) & (links[L_USER] != aloware_id)]
    if len(taken):
        raise InputError(f"HubSpot owner {owner_id} is already linked to Aloware user "
                         f"{taken[L_USER].iloc[0]}; unlink that one first",
                         column="hubspot_owner_id")
    cur = links[links[L_USER] == aloware_id]
    before = ({k: ("" if v is None or v != v else str(v)) for k, v in
               cur.iloc[0].to_dict().items()} if len(cur) else None)
    after = {"aloware_user_id": aloware_id, "hubspot_owner_id": owner_id,
             "aloware_email": a_email, "hubspot_email": h_email, "method": METHOD_MANUAL}
    ch = Change(UPDATE if before else ADD, aloware_id, owner_id, before, after, "manual_pin",
                "manual")
    return Plan(changes=ChangeTable.from_changes([ch]), store_revision=data.revision,
                fingerprint=data.fingerprint,
                current_links=len(links), created_at=now, meta={"pin": True},
                store_id=data.store_id)


def unlink_plan(data: Loaded, aloware_id: str, *, now: str) -> "Plan":
    """A one-change plan that removes ``aloware_id``'s link (reason ``manual_unlink``): the
    tab's **Unlink** for an e-mail conflict a sync leaves in place. Applied like any plan."""
    from .engine.changes import ChangeTable
    from .engine.models import L_USER, REMOVE, Change, Plan
    links = data.links
    cur = links[links[L_USER] == aloware_id]
    if not len(cur):
        raise InputError(f"Aloware user {aloware_id} has no link", column="aloware_user_id")
    before = {k: ("" if v is None or v != v else str(v)) for k, v in cur.iloc[0].to_dict().items()}
    ch = Change(REMOVE, aloware_id, before["hubspot_owner_id"], before, None, "manual_unlink",
                "manual")
    return Plan(changes=ChangeTable.from_changes([ch]), store_revision=data.revision,
                fingerprint=data.fingerprint, current_links=len(links), created_at=now,
                meta={"unlink": True}, store_id=data.store_id)


def last_undoable_run(store_path) -> dict | None:
    """The newest applied run with changes of a kind in ``UNDOABLE_KINDS`` (never an import,
    never an undo) that was not undone yet (an undo's fingerprint is ``undo:<run id>``), or
    None."""
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        runs = store.runs()
    undone = {str(r.get("fingerprint") or "")[5:] for r in runs
              if str(r.get("fingerprint") or "").startswith("undo:")}
    # newest by the revision it left (two runs of the same second sort by a random suffix)
    for r in sorted(runs, key=lambda r: int(r.get("revision_after") or 0), reverse=True):
        if (r.get("kind") in UNDOABLE_KINDS and int(r.get("changes") or 0)
                and r["run_id"] not in undone):
            return r
    return None


def person(store_path, aloware_id: str) -> dict:
    """Everything the store knows of one Aloware user: the link and its journal (oldest first)."""
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        link = store.link(aloware_id)
        j = store.journal()
    j = j[j["aloware_user_id"] == aloware_id] if len(j) else j
    return {"link": link, "journal": j.to_dict("records")}


def apply_recorded(config: "Config", data: Loaded, result: "Audit", plan: "Plan", *,
                   store_path, now: str, force: bool = False, notes=()) -> dict:
    """Apply ``plan`` as a recorded run, exactly like ``usermap run --apply`` (docs/design.md §7, §9):
    under the runs folder's lock (``lock.RunLock``: LockedError while a scheduled run holds
    it, and a scheduled run exits 3 while this holds it), checked first (stale, removal guard:
    a refused plan writes nothing, not even a run folder), then a run folder
    ``[runs] dir/<run_id>/`` with the snapshot, the audit files (recorded in the store's
    history), plan.json, the store's run under the same id, report.html, the notification
    (sent by SMTP when configured), sync.json and run.json; then retention.

    Returns {run_id, run_dir, applied, revision, report, notification, sent, send_error}."""
    import shutil
    import time

    from .errors import exit_code_for
    from .lock import LOCK_NAME, RunLock, prune
    from .clock import new_run_id
    t0 = time.perf_counter()
    runs_dir = config.resolve(config.runs.dir).absolute()
    store_path = Path(store_path).absolute()
    lock = RunLock(runs_dir / LOCK_NAME).acquire()
    try:
        apply(store_path, plan, now=now, yes=False, force=force)   # checked; nothing written
        run_id = new_run_id()
        while (runs_dir / run_id).exists():   # pragma: no cover - same second, same suffix
            run_id = new_run_id()
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True)
        lock.update(run_id)
        info = {"run_id": run_id, "kind": "tab", "apply": True, "force": bool(force),
                "started_at": now, "status": "ok", "exit_code": 0}
        try:
            snap = run_dir / "snapshot"
            shutil.copytree(data.snapshot, snap)
            summary = write_audit(result, run_dir, snapshot=str(snap), store_path=str(store_path),
                                  run_id=run_id, now=now)
            planfile.write_plan(plan, run_dir / "plan.json")
            done = apply(store_path, plan, now=now, force=force, run_id=run_id)
            out = finish(config, result, plan, done, snapshot=snap, store_path=store_path,
                         run_dir=run_dir, run_id=run_id, now=now, notes=notes)
            info.update(summary=summary, plan=plan.counts(), sync=done.to_dict(), report=out)
            return {"run_id": run_id, "run_dir": str(run_dir), "applied": done.applied,
                    "revision": done.revision, "changes": len(plan), **out}
        except BaseException as e:
            info.update(status="refused" if exit_code_for(e) == 3 else "failed",
                        exit_code=exit_code_for(e) if isinstance(e, Exception) else 130,
                        error_class=type(e).__name__)
            raise
        finally:
            info["seconds"] = round(time.perf_counter() - t0, 3)
            (run_dir / RUN_JSON).write_text(json.dumps(info, indent=2, default=str) + "\n",
                                            encoding="utf-8")
            prune(runs_dir, config.runs.keep, protect={run_id})
    finally:
        lock.release()
