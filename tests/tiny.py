"""Builders of tiny literal worlds for the rule tests (one user, owner or link per call)."""

from __future__ import annotations

import pandas as pd

from usermap.engine import plan as planmod
from usermap.engine import reconcile
from usermap.engine.models import LINK_COLUMNS
from usermap.sources.owners.frame import owners_frame


def U(id, email, status="active", kind="user", first="", last=""):
    return dict(id=str(id), first_name=first or f"F{id}", last_name=last or f"L{id}",
                email=email, status=status, kind=kind, role="")


def O(id, email, state="active", type="PERSON", first="", last=""):
    """state: active | archived | deactivated (userId null, userIdIncludingInactive kept)."""
    return dict(id=str(id), email=email, firstName=first or f"F{id}", lastName=last or f"L{id}",
                userId=None if state != "active" else int(id) + 1000,
                userIdIncludingInactive=int(id) + 1000, type=type,
                archived=state == "archived", createdAt="2026-01-01T00:00:00Z",
                updatedAt="2026-01-01T00:00:00Z", teams=[])


def L(user, owner, a="", h="", method="email"):
    return dict(aloware_user_id=str(user), hubspot_owner_id=str(owner), aloware_email=a,
                hubspot_email=h, method=method, mapped_at="2026-01-01T00:00:00Z",
                updated_at="2026-01-01T00:00:00Z")


def frames(users=(), owners=(), links=()):
    u = pd.DataFrame(list(users), columns=["id", "first_name", "last_name", "email", "status",
                                           "kind", "role"])
    o = owners_frame(list(owners))
    lk = pd.DataFrame(list(links), columns=list(LINK_COLUMNS))
    return u, o, lk


def run(users=(), owners=(), links=(), **kw):
    """(audit, plan) of a tiny world."""
    from conftest import current_engine
    u, o, lk = frames(users, owners, links)
    kw.setdefault("arrow", current_engine() != "exact")   # (the engine fixture's kernels)
    a = reconcile.audit(u, o, lk, **kw)
    return a, planmod.make_plan(a, store_revision=0, fingerprint="test")


def issue_of(a, user):
    m = a.mapped.set_index("aloware_user_id")
    return m.loc[str(user), "issue"]


def reason_of(a, user=None, owner=None):
    if user is not None:
        return a.unmapped_aloware.set_index("aloware_user_id").loc[str(user), "reason"]
    return a.unmapped_hubspot.set_index("hubspot_owner_id").loc[str(owner), "reason"]


def changes(p):
    return sorted((c.action, c.aloware_user_id, c.hubspot_owner_id, c.reason) for c in p.changes)
