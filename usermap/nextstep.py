"""The next command a command prints (docs/design.md §6: advice a newcomer can follow): a plan
file's apply command, shell-quoted so that it runs as printed, with ``--force`` when the removal
guard needs it, and the line that says so.

Pure: strings from a plan and paths; imports only the standard library.
"""

from __future__ import annotations

import shlex

__all__ = ["apply_command", "needs_force"]


def apply_command(plan_path, store, *, force: bool) -> str:
    """``usermap apply PLAN --store DB --yes [--force]``, every path shell-quoted."""
    return (f"usermap apply {shlex.quote(str(plan_path))} --store {shlex.quote(str(store))} "
            f"--yes" + (" --force" if force else ""))


def needs_force(plan) -> str:
    """A line saying that applying ``plan`` needs --force (over the removal guard, and not made
    with force), or "" when it does not."""
    if not plan.exceeds_guard or plan.force:
        return ""
    undo = plan.meta.get("undo_of")
    what = f"the undo of run {undo}" if undo else "the plan"
    return (f"{what} removes {plan.removals} of {plan.current_links} links, more than the "
            f"removal guard allows ({plan.removal_limit}): applying it needs --force")
