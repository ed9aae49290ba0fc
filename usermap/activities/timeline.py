"""The mapping timeline of a store (DESIGN §10): its journal of links and its recorded audits,
read into a ``rules.Timeline``. Also the names (e-mails) the store knows for its users.

Adapter: reads the store (SQLite) only.
"""

from __future__ import annotations

import json

from .rules import Timeline

__all__ = ["load_timeline"]


def load_timeline(store) -> Timeline:
    """The Timeline of an open ``usermap.store.Store``: every link journal row in order, and
    every recorded audit (its issue ids)."""
    rows = store.conn.execute("SELECT action, aloware_user_id, hubspot_owner_id, after, at "
                              "FROM journal ORDER BY seq")
    journal = [{"action": a, "aloware_user_id": u, "hubspot_owner_id": o,
                "after": json.loads(after) if after else None, "at": at}
               for a, u, o, after, at in rows]
    audits = [{"at": a["at"], "issues": a["issues"]} for a in store.audits()]
    return Timeline.build(journal, audits)
