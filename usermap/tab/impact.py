"""The tab's Activities list (design §10): the calls and texts on the wrong owner, one row per
person, from the newest run that scanned them (``runs/<id>/activities/summary.json``, written by
``usermap run`` with ``[activities] enabled``). Read-only: nothing here talks to HubSpot."""

from __future__ import annotations

from pathlib import Path

from .. import workflow
from ..report.repair import build_repair

__all__ = ["newest_impact", "people_rows", "repair_preview"]


def newest_impact(runs_dir) -> tuple[str, dict] | None:
    """(run id, impact summary) of the newest run folder that holds one, or None."""
    runs = Path(runs_dir)
    if not runs.is_dir():
        return None
    for run in sorted((p for p in runs.iterdir() if p.is_dir()), reverse=True):
        summary = workflow.read_impact(run)
        if summary is not None:
            return run.name, summary
    return None


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
    from ..activities.rules import REASONS
    changes = plan.get("changes") or []
    rows = [{"action": "Set owner", "aid": str(c.get("aloware_user_id", "")),
             "name": names.get(str(c.get("aloware_user_id", "")), ""),
             "owner": f"{c.get('from') or 'nobody'} → {c.get('to')}",
             "email": f"{'call' if c.get('object') == 'call' else 'text'} of "
                      f"{str(c.get('logged_at', ''))[:16].replace('T', ' ')}",
             "why": REASONS.get(str(c.get("reason", "")), str(c.get("reason", "")))}
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
