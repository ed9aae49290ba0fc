"""Plan → store: checked, transactional, journaled (docs/design.md §3, §5).

``apply_plan`` is the apply step's one safety check: the plan refuses itself (``Plan.check``)
when it was made on another store (store id), when the store's revision moved on, or when it is
over the removal guard without force. Then it
hands the changes to ``Store.write_changes``: one SQLite transaction, so after any failure or
crash the store is exactly as before. ``workflow.apply`` is how the cli, notebooks and tab call
it.

Adapter: uses store; must not import sources, report, notify, runner or workflow.
"""

from __future__ import annotations

from ..engine.models import Plan
from .store import Store

__all__ = ["apply_plan"]


def apply_plan(store: Store, plan: Plan, *, now: str, force: bool = False,
               run_id: str | None = None, kind: str = "apply",
               dry_run: bool = False) -> str | None:
    """Check ``plan`` against ``store`` (made on this store, not stale, within the removal
    guard) and apply it; returns the run id recorded in the store's runs table, or None for a
    ``dry_run`` (checked, nothing written) and for a plan without changes (checked, nothing
    written: an empty plan records no run and bumps no revision)."""
    plan.check(force=force, revision=store.revision, store_id=store.store_id)
    if dry_run or not len(plan):
        return None
    kind = "undo" if plan.meta.get("undo_of") else kind
    return store.write_changes(plan.changes, kind=kind, now=now, run_id=run_id,
                               expect_revision=plan.store_revision,
                               fingerprint=plan.fingerprint)
