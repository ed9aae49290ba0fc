"""A repair from start to end (design §10), as the tab runs it: scan and plan (the proven
activities only, nothing written), then apply under the scheduled runs' lock. The same steps as
``usermap activities plan`` and ``usermap activities apply --yes``, without a plan file in
between (the plan stays in the page until Apply)."""

from __future__ import annotations

from ..clock import utc_now
from ..lock import LOCK_NAME, RunLock
from ..clock import new_run_id
from ..store.store import Store
from .apply import apply_plan, guard
from .commands import client_for
from .impact import scan
from .plan import repair_plan
from .timeline import load_timeline

__all__ = ["plan_repair", "apply_repair", "share_limit"]


def plan_repair(config, store_path) -> dict:
    """The repair plan of the account as it is now (a fresh scan; writes nothing)."""
    with Store.open(store_path, create=False) as store:
        tl = load_timeline(store)
        client = client_for(config)
        try:
            imp = scan(client, tl, app_id=config.activities.app_id)
        finally:
            client.close()
        return repair_plan(imp.rows, store_id=store.store_id, created_at=utc_now(), since="",
                           scanned=imp.scanned)


def share_limit(plan: dict, share: float) -> int:
    """How many changes the share guard lets through without Force."""
    return max(10, int(share * int(plan.get("activities_scanned") or 0)))


def apply_repair(config, store_path, plan: dict, *, force: bool = False) -> dict:
    """Apply a repair plan: the share guard (ShareGuardError unless ``force``), the runs' lock
    (LockedError while a run holds it), every change journalled; returns the run's counts."""
    guard(plan, config.activities.guard_share, force)
    runs_dir = config.resolve(config.runs.dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    lock = RunLock(runs_dir / LOCK_NAME).acquire(run_id)
    try:
        with Store.open(store_path, create=False) as store:
            client = client_for(config)
            try:
                return apply_plan(plan, store, client, run_id=run_id, now=utc_now)
            finally:
                client.close()
    finally:
        lock.release()
