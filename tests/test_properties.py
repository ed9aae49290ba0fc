"""Properties of plan + apply on generated worlds (hypothesis)."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usermap import plan as planmod
from usermap import reconcile
from usermap.apply import apply_plan
from usermap.models import LINK_COLUMNS
from usermap.store import Store

from tiny import L, O, U, frames

EMAILS = ["a@x.com", "A@x.com ", "b@x.com", "c@x.com", "d@x.com", "", "bad", "e@@x.com"]
USER_STATUSES = ["active", "active", "active", "paused", "inactive", "suspended", "deleted"]
KINDS = ["user", "user", "user", "extension", "call_destination"]
OWNER_STATES = ["active", "active", "active", "archived", "deactivated"]


@st.composite
def worlds(draw):
    n_users = draw(st.integers(0, 7))
    n_owners = draw(st.integers(0, 7))
    users = [U(i, draw(st.sampled_from(EMAILS)), draw(st.sampled_from(USER_STATUSES)),
               draw(st.sampled_from(KINDS))) for i in range(n_users)]
    owners = [O(100 + j, draw(st.sampled_from(EMAILS)), draw(st.sampled_from(OWNER_STATES)),
                draw(st.sampled_from(["PERSON"] * 4 + ["QUEUE"]))) for j in range(n_owners)]
    # Links may point at ids that exist or not (up to 9 users, owners 100..109).
    user_ids = draw(st.lists(st.integers(0, 9), unique=True, max_size=6))
    owner_ids = draw(st.lists(st.integers(100, 109), unique=True, min_size=len(user_ids),
                              max_size=len(user_ids)))
    links = [L(u, o, draw(st.sampled_from(EMAILS)), draw(st.sampled_from(EMAILS)),
               draw(st.sampled_from(["email", "email", "manual"])))
             for u, o in zip(user_ids, owner_ids)]
    return users, owners, links


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(worlds())
def test_plan_apply_reaches_a_fixed_point(tmp_path_factory, world):
    users, owners, links = world
    u, o, lk = frames(users, owners, links)
    db = tmp_path_factory.mktemp("p") / "s.db"
    with Store.open(db) as store:
        store.import_links(lk.drop(columns=["updated_at"]), now="2026-11-24T00:00:00Z",
                           force=True)
        a = reconcile.audit(u, o, store.links(), suggestions=False)
        p = planmod.make_plan(a, store_revision=store.revision, fingerprint="f")
        apply_plan(store, p, now="2026-11-24T00:00:01Z", force=True)
        after = store.links()
        a2 = reconcile.audit(u, o, after, suggestions=False)
        p2 = planmod.make_plan(a2, store_revision=store.revision, fingerprint="f")

    # planning again is empty
    assert len(p2) == 0, [c.to_dict() for c in p2.changes]
    # no user or owner linked twice
    assert not after["aloware_user_id"].duplicated().any()
    assert not after["hubspot_owner_id"].duplicated().any()
    # no kept link breaks a rule: only the conflicts that are left for a person remain
    m = a2.mapped
    left = m[m["status"] == "error"]
    ok = (left["issue"] == "aloware_email_changed") | (
        (left["issue"] == "hubspot_email_changed") & (left["method"] == "manual"))
    assert ok.all(), left
    # match_pending is exactly what the plan links among the unmapped users and owners
    ua, uh = a.unmapped_aloware, a.unmapped_hubspot
    added_users = {c.aloware_user_id for c in p.changes if c.action == "add"}
    added_owners = {c.after["hubspot_owner_id"] for c in p.changes  # adds and re-points
                    if c.after and (c.before or {}).get("hubspot_owner_id") !=
                    c.after["hubspot_owner_id"]}
    assert set(ua.loc[ua["reason"] == "match_pending", "aloware_user_id"]) == (
        added_users & set(ua["aloware_user_id"]))
    assert set(uh.loc[uh["reason"] == "match_pending", "hubspot_owner_id"]) == (
        added_owners & set(uh["hubspot_owner_id"]))
    # store journal agrees with its links: replaying the journal gives the links
    with Store.open(db) as store:
        j = store.journal()
    replay = {}
    import json
    for r in j.itertuples():
        if r.action == "remove":
            replay.pop(r.aloware_user_id, None)
        else:
            replay[r.aloware_user_id] = json.loads(r.after)["hubspot_owner_id"]
    assert replay == dict(zip(after["aloware_user_id"], after["hubspot_owner_id"]))
