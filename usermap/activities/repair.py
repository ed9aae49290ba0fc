"""The wiring of design §10's steps, once, for the command, the workflow and the tab: the CRM
client of a config, a scan of the account against the store's timeline, a repair plan of the
proven activities, and its apply under the scheduled runs' lock, recorded like a sync: a run
folder ``[runs] dir/<run id>/`` with the plan it applied, report.html, the notification (sent by
SMTP when configured) and run.json, then retention."""

from __future__ import annotations

import json
import logging
import shlex

from ..clock import new_run_id, utc_now
from ..lock import LOCK_NAME, RunLock
from . import journal
from .apply import RUN_KINDS, apply_plan
from .crm import OBJECT_TYPES
from .impact import scan
from .plan import repair_plan
from .timeline import load_timeline

__all__ = ["client_for", "scan_store", "plan_repair", "apply_repair", "record_run",
           "share_limit", "PLAN_FILE"]

PLAN_FILE = "activities-plan.json"     # the plan a run applied, kept in its run folder


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


def apply_repair(cfg, store, plan: dict, *, names=None, config_arg: str = "") -> dict:
    """Apply a plan the caller checked (``plan.read_plan``, ``apply.guard``) under the runs'
    lock (LockedError while a run holds it), every change journalled, and record the run
    (``record_run``): the run's counts with its report and notification. A run that fails
    half-way is recorded too (its report says what was done and how to complete it) before
    the error is raised again, carrying that record as ``run_record``."""
    runs_dir = cfg.resolve(cfg.runs.dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    # the lock of scheduled runs: a repair never overlaps a run or a tab's apply
    lock = RunLock(runs_dir / LOCK_NAME).acquire(run_id)
    client = None
    try:
        client = client_for(cfg)
        try:
            got = apply_plan(plan, store, client, run_id=run_id, now=utc_now)
        except Exception as e:
            rid = journal.unfinished_run(store, plan_hash=plan["hash"],
                                         kind=RUN_KINDS[plan["kind"]])
            if rid is not None:
                _record_failure(cfg, store, plan, rid, e, names=names, config_arg=config_arg)
            raise
        return {**got, **record_run(cfg, store, plan, got["run_id"], resumed=got["resumed"],
                                    names=names, config_arg=config_arg)}
    finally:
        lock.release()
        if client is not None:
            client.close()


def _record_failure(cfg, store, plan: dict, run_id: str, error: Exception, **kw) -> None:
    """The report of a run that stopped, kept on ``error`` as ``run_record``; a failure to
    write it is logged and never hides ``error`` itself."""
    from ..redact import bounded
    try:
        error.run_record = record_run(cfg, store, plan, run_id, resumed=False,
                                      error=f"{type(error).__name__}: {bounded(error, 1500)}",
                                      **kw)
    except Exception as e:  # noqa: BLE001 - the run's own error is the one to raise
        logging.getLogger("usermap.activities").warning(
            "could not write the report of run %s: %s", run_id, bounded(e, 300))


def record_run(cfg, store, plan: dict, run_id: str, *, resumed: bool, names=None,
               config_arg: str = "", error: str = "") -> dict:
    """The run folder of an activities run: the plan, report.html (built from the run's
    journal: per person set, skipped, failed; the state after; the next commands),
    notification.eml (sent when ``[smtp] host`` is set) and run.json; then retention. ``names``:
    {Aloware id: name} (default: the e-mails the store recorded). Returns where they are and
    whether the e-mail went out."""
    from ..files import shown
    from ..lock import prune
    from ..notify import notify
    from ..report.compose import write_report
    from ..report.repairrun import build_repair_run
    from .plan import write_plan
    runs_dir = cfg.resolve(cfg.runs.dir).absolute()
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    plan_path = write_plan(plan, run_dir / PLAN_FILE)
    people_of = _people_of(store, plan)
    rep = build_repair_run(
        run_id=run_id, generated_at=utc_now(), plan=plan, rows=journal.run_rows(store, run_id),
        people_of=people_of, names=names if names is not None else
        _store_names(cfg, store), resumed=resumed, error=error,
        config_arg=shlex.quote(shown(config_arg or cfg.path or "usermap.toml")),
        plan_file=shlex.quote(shown(plan_path)), mask_emails=cfg.report.mask_emails)
    path = write_report(rep, run_dir / "report.html")
    sent = notify(rep, cfg, run_dir, report_path=path)
    out = {"run_id": run_id, "report": str(path), "notification": sent.get("eml"), "sent": sent.get("sent"),
           "send_error": sent.get("error"), "subject": rep.subject(), "run_dir": str(run_dir),
           "done": rep.done, "skipped": rep.skipped, "failed": rep.failed}
    (run_dir / "run.json").write_text(json.dumps(
        {**rep.to_json(), "kind": RUN_KINDS[plan["kind"]], "finished_at": rep.generated_at,
         **out}, indent=2) + "\n",
        encoding="utf-8")
    prune(runs_dir, cfg.runs.keep, protect={run_id})
    return out


def _people_of(store, plan: dict) -> dict:
    """{(object, activity id): Aloware user id} of a plan's changes; an undo's are the users
    linked to the owner the repair wrote."""
    users = journal.owners_users(store) if plan.get("kind") == "undo" else {}
    return {(OBJECT_TYPES.get(c["object"], c["object"]), c["activity_id"]):
            c.get("aloware_user_id") or users.get(c.get("from") or "", "")
            for c in plan.get("changes") or ()}


def _store_names(cfg, store) -> dict:
    """{Aloware id: the e-mail the store recorded} (masked when ``[report] mask_emails``)."""
    from ..report.cells import mask_email
    tl = load_timeline(store)
    return {u: (mask_email(e) if cfg.report.mask_emails else e)
            for u in tl.by_user if (e := tl.email(u))}
