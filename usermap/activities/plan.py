"""The activities plan file (DESIGN §10): a reviewable JSON file of owner changes, with the
store id it was made for and a hash of its content (an edited file is refused).

``{"format": "usermap-activities-plan/1", "kind": "repair"|"undo", "store_id", "created_at",
"since", "activities_scanned", "undo_of", "changes": [{object, activity_id, logged_at,
aloware_user_id, from, to, grade, reason}], "hash"}``. A repair plan holds only proven
activities (grade A or B); ``from`` is the owner it has now, ``to`` the one it gets.

Adapter: one file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ForeignPlanError, PlanFileError
from ..files import write_atomic
from . import rules

__all__ = ["FORMAT", "repair_plan", "write_plan", "read_plan", "plan_hash", "finish"]

FORMAT = "usermap-activities-plan/1"


def plan_hash(plan: dict) -> str:
    body = {k: v for k, v in plan.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def repair_plan(rows, *, store_id: str, created_at: str, since: str, scanned: int) -> dict:
    """The repair plan of impact rows: the proven ones (A, B) only."""
    changes = [{"object": r.object, "activity_id": r.activity_id,
                "logged_at": rules.iso(r.logged_at), "aloware_user_id": r.aloware_user_id,
                "from": r.current_owner_id, "to": r.intended_owner_id, "grade": r.grade,
                "reason": r.reason}
               for r in rows if r.grade in (rules.GRADE_A, rules.GRADE_B)]
    return finish({"format": FORMAT, "kind": "repair", "store_id": store_id,
                    "created_at": created_at, "since": since, "activities_scanned": scanned,
                    "undo_of": "", "changes": changes})


def finish(plan: dict) -> dict:
    """``plan`` with its hash."""
    plan["hash"] = plan_hash(plan)
    return plan


def write_plan(plan: dict, path) -> Path:
    text = json.dumps(plan, indent=1, ensure_ascii=False) + "\n"
    return write_atomic(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_plan(path, *, store_id: str) -> dict:
    """The plan at ``path``, checked: its format and hash (PlanFileError, exit 2) and that it
    was made for this store (ForeignPlanError, exit 3)."""
    path = Path(path)
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError("plan file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PlanFileError(f"not an activities plan file ({type(e).__name__})",
                            file=str(path)) from None
    if not isinstance(plan, dict) or plan.get("format") != FORMAT:
        raise PlanFileError(f"not an activities plan file (format {FORMAT})", file=str(path),
                            column="format")
    if plan.get("hash") != plan_hash(plan):
        raise PlanFileError("the plan was edited after it was made (its hash does not match); "
                            "make a new one with `usermap activities plan`", file=str(path),
                            column="hash")
    if plan.get("store_id") != store_id:
        raise ForeignPlanError(f"{path}: the plan was made for another store "
                               f"({plan.get('store_id')}); nothing was changed")
    return plan
