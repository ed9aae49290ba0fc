"""The one clock of usermap: ``utc_now()``, the UTC time as ``YYYY-MM-DDTHH:MM:SSZ``, and
``new_run_id()``, a run id that starts with it.

The pure core never reads the clock (``now`` is passed in); the edges (cli, notebook helpers,
runner, lock, tab) ask this function for it, and nothing else formats "now".
Imports only the standard library.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

__all__ = ["utc_now", "new_run_id", "run_started"]


def utc_now() -> str:
    """The current UTC time, to the second, as the store, plans and reports write it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(now: str | None = None) -> str:
    """A run id: its UTC time then a short random suffix, e.g. 20261124T120000Z-3f9a."""
    t = (datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ") if now else datetime.now(timezone.utc))
    return t.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def run_started(run_id: str) -> str:
    """When a run began, in ``utc_now``'s form, from its id (``20261124T120000Z-3f9a`` ->
    ``2026-11-24T12:00:00Z``); "" for a name that is not a run id."""
    try:
        t = datetime.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%SZ")
    except ValueError:
        return ""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")
