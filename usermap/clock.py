"""The one clock of usermap: ``utc_now()``, the UTC time as ``YYYY-MM-DDTHH:MM:SSZ``.

The pure core never reads the clock (``now`` is passed in); the edges (cli, notebook helpers,
runner, lock, tab) ask this function for it, and nothing else formats "now".
Imports only the standard library.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["utc_now"]


def utc_now() -> str:
    """The current UTC time, to the second, as the store, plans and reports write it."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
