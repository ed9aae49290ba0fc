"""Properties of plan + apply on generated worlds (hypothesis).

The examples per test are few enough for `make test`; USERMAP_PROPERTY_EXAMPLES=1000 (say) runs
a long local hunt with the same properties."""

import json
import os

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from usermap.engine import plan as planmod
from usermap.engine import reconcile
from usermap.store.apply import apply_plan
from usermap.engine.models import LINK_COLUMNS
from usermap.store.store import Store

from tiny import L, O, U, frames

EMAILS = ["a@x.com", "A@x.com ", "b@x.com", "c@x.com", "d@x.com", "", "bad", "e@@x.com",
          "a\tb@x.com", "stra\u00dfe@x.com", "STRASSE@x.com"]
USER_STATUSES = ["active", "active", "active", "paused", "inactive", "suspended", "deleted"]
KINDS = ["user", "user", "user", "extension", "call_destination"]
OWNER_STATES = ["active", "active", "active", "archived", "deactivated"]
EXAMPLES = int(os.environ.get("USERMAP_PROPERTY_EXAMPLES", "80"))
CURRENT = object()   # a recorded e-mail that is the user's (owner's) current one


@st.composite
def worlds(draw):
    # Few distinct keys, so that e-mails are shared (duplicates, mapped elsewhere, pending).
    emails = st.sampled_from(EMAILS[:5] * 3 + EMAILS[5:])
    n_users = draw(st.integers(0, 7))
    n_owners = draw(st.integers(0, 7))
    users = [U(i, draw(emails), draw(st.sampled_from(USER_STATUSES)),
               draw(st.sampled_from(KINDS))) for i in range(n_users)]
    owners = [O(100 + j, draw(emails), draw(st.sampled_from(OWNER_STATES)),
                draw(st.sampled_from(["PERSON"] * 4 + ["QUEUE"]))) for j in range(n_owners)]
    # Links point mostly at ids that exist, sometimes not (one user and one owner id past the
    # listings). A recorded e-mail is often the current one (so a link's one changed side,
    # aloware_email_changed or hubspot_email_changed, is common), else any.
    user_ids = draw(st.lists(st.integers(0, n_users + 1), unique=True,
                             max_size=min(6, n_owners + 2)))
    owner_ids = draw(st.lists(st.integers(100, 100 + n_owners + 1), unique=True,
                              min_size=len(user_ids), max_size=len(user_ids)))
    recorded = st.one_of(st.just(CURRENT), emails)

    def rec(value, rows, i):
        return (rows[i]["email"] if i < len(rows) else "") if value is CURRENT else value

    links = [L(u, o, rec(draw(recorded), users, u), rec(draw(recorded), owners, o - 100),
               draw(st.sampled_from(["email", "email", "manual"])))
             for u, o in zip(user_ids, owner_ids)]
    return users, owners, links


def _apply_in_memory(links: pd.DataFrame, plan) -> pd.DataFrame:
    """The links after the plan, without a store (the store's own apply is checked below)."""
    by_user = {r["aloware_user_id"]: r for r in links.to_dict("records")}
    for c in plan.changes:                       # removals first, as the plan lists them
        if c.action == "remove":
            del by_user[c.aloware_user_id]
        else:
            by_user[c.aloware_user_id] = {**dict.fromkeys(LINK_COLUMNS, ""), **c.after}
    return pd.DataFrame(list(by_user.values()), columns=list(LINK_COLUMNS))


def _check_rules(a, p, a2, p2):
    """The properties of one world: a = audit before, p = its plan, a2/p2 after applying it."""
    # planning again is empty
    assert len(p2) == 0, [c.to_dict() for c in p2.changes]
    after = a2.links
    # no user or owner linked twice
    assert not after["aloware_user_id"].duplicated().any()
    assert not after["hubspot_owner_id"].duplicated().any()
    # no kept link breaks a rule: only the conflicts that are left for a person remain
    m = a2.mapped
    left = m[m["status"] == "error"]
    ok = (left["issue"] == "aloware_email_changed") | (
        (left["issue"] == "hubspot_email_changed") & (left["method"] == "manual"))
    assert ok.all(), left
    # The audit's reasons agree with the plan on both sides: the unmapped users and owners
    # whose reason is match_pending are exactly the unmapped ones the plan links (an add, or a
    # re-point to a new owner); none of those gets another reason ("mapped elsewhere"...).
    ua, uh = a.unmapped_aloware, a.unmapped_hubspot
    linked_users = {c.aloware_user_id for c in p.changes if c.action == "add"}
    linked_owners = {c.after["hubspot_owner_id"] for c in p.changes  # adds and re-points
                     if c.after and (c.before or {}).get("hubspot_owner_id") !=
                     c.after["hubspot_owner_id"]}
    pending_users = set(ua.loc[ua["reason"] == "match_pending", "aloware_user_id"])
    pending_owners = set(uh.loc[uh["reason"] == "match_pending", "hubspot_owner_id"])
    assert pending_users == linked_users & set(ua["aloware_user_id"]), ua
    assert pending_owners == linked_owners & set(uh["hubspot_owner_id"]), uh
    # and after the sync nothing is pending any more
    assert "match_pending" not in set(a2.unmapped_aloware["reason"])
    assert "match_pending" not in set(a2.unmapped_hubspot["reason"])


# Budget (2 shared cores, measured with --durations): audit + plan + apply in memory + audit +
# plan is ~0.05-0.08 s an example, so 200 examples take 10-16 s; the store round trip is ~0.2 s an
# example, so it gets fewer. Both are derandomized (tests/conftest.py): the same examples on
# every run and in CI.
# Worlds the random search once found (kept as explicit examples: derandomized runs draw the
# same examples every time and may never meet them again). Users 0 and 1 share a@; user 1 is
# kept on a link to owner 101 (aloware_email_changed); the sync links user 0 to owner 100, which
# the audit called "user_mapped_elsewhere".
FOUND = [
    ([U(0, "a@x.com"), U(1, "a@x.com")], [O(100, "a@x.com"), O(101, "b@x.com")],
     [L(1, 101, "b@x.com", "b@x.com")]),
    ([U(0, "a@x.com"), U(1, "b@x.com")], [O(100, "a@x.com"), O(101, "a@x.com")],
     [L(1, 101, "b@x.com", "b@x.com", "manual")]),
]


@settings(max_examples=EXAMPLES,
          suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
@example(FOUND[0])
@example(FOUND[1])
def test_reasons_agree_with_the_plan_and_the_plan_reaches_a_fixed_point(world):
    users, owners, links = world
    u, o, lk = frames(users, owners, links)
    a = reconcile.audit(u, o, lk, suggestions=False)
    p = planmod.make_plan(a, store_revision=0, fingerprint="f")
    after = _apply_in_memory(lk, p)
    a2 = reconcile.audit(u, o, after, suggestions=False)
    p2 = planmod.make_plan(a2, store_revision=1, fingerprint="f")
    _check_rules(a, p, a2, p2)


@settings(max_examples=max(10, EXAMPLES // 4),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(worlds())
def test_plan_apply_through_the_store_reaches_a_fixed_point(tmp_path_factory, world):
    users, owners, links = world
    u, o, lk = frames(users, owners, links)
    db = tmp_path_factory.mktemp("p") / "s.db"
    with Store.open(db, create=True) as store:
        store.import_links(lk.drop(columns=["updated_at"]), now="2026-11-24T00:00:00Z",
                           force=True)
        a = reconcile.audit(u, o, store.links(), suggestions=False)
        p = planmod.make_plan(a, store_revision=store.revision, fingerprint="f",
                              store_id=store.store_id)
        apply_plan(store, p, now="2026-11-24T00:00:01Z", force=True)
        after = store.links()
        a2 = reconcile.audit(u, o, after, suggestions=False)
        p2 = planmod.make_plan(a2, store_revision=store.revision, fingerprint="f")
        j = store.journal()
    _check_rules(a, p, a2, p2)
    # the store applies what the in-memory apply gives
    key = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    mem = _apply_in_memory(a.links[list(LINK_COLUMNS)], p)
    assert sorted(map(tuple, after[key].to_numpy().tolist())) == sorted(
        map(tuple, mem[key].to_numpy().tolist()))
    # store journal agrees with its links: replaying the journal gives the links
    replay = {}
    for r in j.itertuples():
        if r.action == "remove":
            replay.pop(r.aloware_user_id, None)
        else:
            replay[r.aloware_user_id] = json.loads(r.after)["hubspot_owner_id"]
    assert replay == dict(zip(after["aloware_user_id"], after["hubspot_owner_id"]))
