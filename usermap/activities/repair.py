"""The wiring of design §10's steps, once, for the command, the workflow and the tab: the CRM
client of a config, a scan of the account against the store's timeline, a repair plan of the
proven activities, and its apply under the scheduled runs' lock."""

from __future__ import annotations

from ..clock import new_run_id, utc_now
from ..lock import LOCK_NAME, RunLock
from .apply import apply_plan
from .impact import scan
from .plan import repair_plan
from .timeline import load_timeline

__all__ = ["client_for", "scan_store", "plan_repair", "apply_repair", "share_limit"]


def client_for(cfg):
    """The CRM client of a config: its host, API version and share of the limits, the token
    from HUBSPOT_ACCESS_TOKEN, the fetch's retry policy."""
    from ..config import secret
    from ..sources.api.fetch import policy_for
    from ..sources.api.retry import Retrier
    from .crm import CrmClient
    a = cfg.activities
    return CrmClient(cfg.hubspot.host, secret("HUBSPOT_ACCESS_TOKEN", required=True),
                     api_version=cfg.hubspot.api_version, rate_share=a.rate_share,
                     ten_second_limit=a.ten_second_limit, retrier=Retrier(policy_for(cfg)))


def scan_store(cfg, store, *, since_ms: int = 0, events=None):
    """(impact, timeline): the account's calls and texts graded against the store's timeline."""
    tl = load_timeline(store)
    client = client_for(cfg)
    try:
        return scan(client, tl, since_ms=since_ms, events=events,
                    app_id=cfg.activities.app_id), tl
    finally:
        client.close()


def plan_repair(cfg, store, *, since: str = "", since_ms: int = 0, events=None):
    """(repair plan, impact) of the account as it is now: a fresh scan; writes nothing."""
    imp, _ = scan_store(cfg, store, since_ms=since_ms, events=events)
    return repair_plan(imp.rows, store_id=store.store_id, created_at=utc_now(), since=since,
                       scanned=imp.scanned), imp


def share_limit(plan: dict, share: float) -> int:
    """How many changes the share guard lets through without Force."""
    return max(10, int(share * int(plan.get("activities_scanned") or 0)))


def apply_repair(cfg, store, plan: dict) -> dict:
    """Apply a plan the caller checked (``plan.read_plan``, ``apply.guard``) under the runs'
    lock (LockedError while a run holds it), every change journalled; the run's counts."""
    runs_dir = cfg.resolve(cfg.runs.dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    # the lock of scheduled runs: a repair never overlaps a run or a tab's apply
    lock = RunLock(runs_dir / LOCK_NAME).acquire(run_id)
    client = client_for(cfg)
    try:
        return apply_plan(plan, store, client, run_id=run_id, now=utc_now)
    finally:
        lock.release()
        client.close()
