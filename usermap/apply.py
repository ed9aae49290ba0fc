"""Plan → store: checked, transactional, journaled (DESIGN.md §3, §5).

``apply_plan`` refuses a stale plan (the store's revision moved on) and one over the removal
guard without --force, then hands the changes to ``Store.write_changes``: one SQLite transaction,
so after any failure or crash the store is exactly as before.

Adapter: uses store; must not import sources, report, notify or runner.
"""

from __future__ import annotations

from .models import Plan
from .plan import check_guard, check_stale
from .store import Store

__all__ = ["apply_plan"]


def apply_plan(store: Store, plan: Plan, *, now: str, force: bool = False,
               run_id: str | None = None, kind: str = "apply") -> str:
    """Apply ``plan`` to ``store``; returns the run id recorded in the store's runs table."""
    check_stale(plan, store.revision)
    check_guard(plan, force=force or plan.force)
    kind = "undo" if plan.meta.get("undo_of") else kind
    return store.write_changes(plan.changes, kind=kind, now=now, run_id=run_id,
                               expect_revision=plan.store_revision,
                               fingerprint=plan.fingerprint)
