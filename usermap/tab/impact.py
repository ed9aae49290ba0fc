"""The tab's Activities list (design §10): the calls and texts on the wrong owner, one row per
person, from the newest run that scanned them (``runs/<id>/activities/summary.json``, written by
``usermap run`` with ``[activities] enabled``), less what repairs set since and plus what undos
gave back (the store's activities journal). Read-only: nothing here talks to HubSpot."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from .. import workflow
from ..activities.crm import OBJECT_TYPES
from ..activities.journal import done_after
from ..activities.rules import GRADE_A, GRADE_B, UNKNOWN
from ..clock import run_started
from ..labels import ACTIVITY_REASON_LABELS
from ..output import FORMULA_STARTS
from ..report.repair import build_repair
from ..store.store import Store

__all__ = ["activity_rows", "newest_impact", "after_runs", "people_rows", "repair_preview"]


def activity_rows(runs_dir, store_path, names) -> list[dict]:
    """The Activities list: the newest scan, less what repairs set since; ``names()`` gives
    {Aloware id: name}."""
    with Store.open(store_path, create=False) as store:
        found = newest_impact(runs_dir, store)
    return people_rows(found[1], names()) if found else []


def newest_impact(runs_dir, store=None) -> tuple[str, dict] | None:
    """(run id, impact summary) of the newest run folder that holds one, or None. With
    ``store``, the summary counts the state after the activities runs recorded since."""
    runs = Path(runs_dir)
    if not runs.is_dir():
        return None
    for run in sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True):
        summary = workflow.read_impact(run)
        if summary is not None:
            since = done_after(store, run_started(run.name)) if store is not None else {}
            if since:       # the scan's rows are read only when a run changed something since
                summary = after_runs(summary, _impact_rows(run), since)
            return run.name, summary
    return None


def _impact_rows(run: Path) -> list[dict]:
    """The rows of a run's impact.csv (ids without the ' a spreadsheet guard added)."""
    def bare(v: str) -> str:
        return v[1:] if v[:1] == "'" and v[1:].startswith(FORMULA_STARTS) else v
    try:
        with open(run / workflow.IMPACT_DIR / "impact.csv", newline="", encoding="utf-8") as f:
            return [{k: bare(v or "") for k, v in r.items()} for r in csv.DictReader(f)]
    except OSError:
        return []


def after_runs(summary: dict, rows: list[dict], last: dict) -> dict:
    """``summary`` (of the impact ``rows``) after the activities runs since the scan
    (``journal.done_after``: who set each activity last): one a repair set last is no longer on
    the wrong owner; one an undo set back last is again. An undo of a repair older than the
    scan sets back activities the scan did not list: the next scan counts them."""
    gone = {k for k, kind in last.items() if kind == "activities"}
    fixed = [r for r in rows if (OBJECT_TYPES.get(r.get("object", ""), ""),
                                  r.get("activity_id", "")) in gone]
    if not fixed:
        return summary
    less: dict[str, Counter] = {}
    for r in fixed:
        c = less.setdefault(r.get("aloware_user_id", ""), Counter())
        c["calls" if r.get("object") == "call" else "sms"] += 1
        c[r.get("grade", "")] += 1
        c["repairable"] += r.get("grade") in (GRADE_A, GRADE_B)
    people = []
    for p in summary.get("by_person") or ():
        c = less.get(str(p.get("aloware_user_id", "")), Counter())
        p = {**p, **{k: int(p.get(k, 0)) - c[k]
                     for k in ("calls", "sms", GRADE_A, GRADE_B, UNKNOWN, "repairable")}}
        if p["calls"] + p["sms"] > 0:
            people.append(p)
    grades = Counter(r.get("grade", "") for r in fixed)
    reasons = Counter(r.get("reason", "") for r in fixed)
    return {**summary, "by_person": people,
            "by_grade": {g: int(n) - grades[g] for g, n in (summary.get("by_grade") or {}).items()},
            "by_reason": {k: int(n) - reasons[k] for k, n in
                          (summary.get("by_reason") or {}).items() if int(n) - reasons[k] > 0},
            "misattributed": int(summary.get("misattributed", 0)) - len(fixed),
            "repairable": int(summary.get("repairable", 0)) - grades[GRADE_A] - grades[GRADE_B],
            "unattributed": int(summary.get("unattributed", 0)) - sum(
                1 for r in fixed if not r.get("aloware_user_id"))}


def people_rows(summary: dict, names: dict[str, str]) -> list[dict]:
    """One row per person, most activities first, in the report's words."""
    rep = build_repair(summary, names)
    by_id = {str(p.get("aloware_user_id", "")): p for p in summary.get("by_person") or ()}
    rows = []
    for uid, name, sentence in rep.people:
        p = by_id.get(uid, {})
        rows.append({"Person": name, "Aloware id": uid, "Calls": int(p.get("calls", 0)),
                     "Texts": int(p.get("sms", 0)),
                     "Can be repaired": int(p.get("repairable", 0)),
                     "Cannot be proven": int(p.get("unknown", 0)), "What happened": sentence})
    return rows


def repair_preview(plan: dict, names: dict[str, str], limit: int) -> dict:
    """The preview of a repair plan in the shape of a sync's (``rows.plan_preview``): one step,
    a row per activity (who made it, its owner now → the owner it gets, why it is proven)."""
    changes = plan.get("changes") or []
    rows = [{"action": "Set owner", "aid": str(c.get("aloware_user_id", "")),
             "name": names.get(str(c.get("aloware_user_id", "")), ""),
             "owner": f"{c.get('from') or 'nobody'} → {c.get('to')}",
             "email": f"{'call' if c.get('object') == 'call' else 'text'} of "
                      f"{str(c.get('logged_at', ''))[:16].replace('T', ' ')}",
             "why": ACTIVITY_REASON_LABELS.get(str(c.get("reason", "")), str(c.get("reason", "")))}
            for c in changes[:50]]
    n, guarded = len(changes), len(changes) > limit
    steps = [{"step": "repair", "label": "Calls and texts proven to belong to another owner",
              "count": n, "rows": rows, "more": max(n - 50, 0)}] if n else []
    message = (f"This repair changes {n:,} activities, more than the guard allows ({limit:,}). "
               f"Force applies it anyway." if guarded else "")
    return {"title": f"Repair {n:,} calls and texts", "total": n, "add": 0, "update": n,
            "remove": 0, "steps": steps, "kind": "repair", "can_apply": bool(n) and not guarded,
            "needs_force": bool(n) and guarded, "message": message,
            "message_kind": "warn" if message else ""}
