"""The scenario generator: deterministic, sized as asked, valid, and every case present."""

from __future__ import annotations

import csv
import hashlib
import json

import pandas as pd
import pytest

from usermap.engine import models as m
from usermap.engine.normalize import email_key, is_valid_key
from usermap.sandbox import scenarios, showcase
from usermap.sandbox.scenarios import generate, write_world
from usermap.sandbox.world import World

USER_COLUMNS = ["id", "first_name", "last_name", "email", "status", "kind", "role"]
LINK_COLUMNS = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method",
                "mapped_at"]
OWNER_FIELDS = {"id", "email", "firstName", "lastName", "userId", "userIdIncludingInactive",
                "type", "archived", "createdAt", "updatedAt", "teams"}


@pytest.fixture(scope="module")
def worlds() -> dict[int, World]:
    return {n: generate(n, seed=3) for n in (10, 100, 200, 2000)}


def _digest(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir())}


def test_same_seed_same_files(tmp_path):
    write_world(generate(500, seed=11), tmp_path / "a")
    write_world(generate(500, seed=11), tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_different_seed_different_files(tmp_path):
    write_world(generate(500, seed=11), tmp_path / "a")
    write_world(generate(500, seed=12), tmp_path / "b")
    a, b = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[name] != b[name] for name in a)


@pytest.mark.parametrize("n", [10, 100, 200, 2000])
def test_sizes_and_columns(worlds, n):
    w = worlds[n]
    assert len(w.users) == n
    assert len(w.owners) == n          # n_owners defaults to n_users
    assert list(w.users.columns) == USER_COLUMNS
    assert list(w.links.columns) == LINK_COLUMNS
    for col in USER_COLUMNS:
        assert all(isinstance(v, str) for v in w.users[col]), col
    for col in LINK_COLUMNS:
        assert all(isinstance(v, str) for v in w.links[col]), col
    assert all(set(o) == OWNER_FIELDS for o in w.owners)


@pytest.mark.parametrize("n_users,n_owners", [(10, 3), (10, 40), (300, 120), (300, 900), (1, 0)])
def test_explicit_owner_count(n_users, n_owners):
    w = generate(n_users, seed=1, n_owners=n_owners)
    assert len(w.users) == n_users
    assert len(w.owners) == n_owners
    _assert_valid(w)


@pytest.mark.parametrize("share", [0.0, 0.5, 0.8])
def test_linked_share(share):
    n = 4000
    w = generate(n, seed=2, linked_share=share)
    _assert_valid(w)
    # issue links always exist; the healthy ones follow the share
    assert abs(len(w.links) / n - share) < 0.06 if share else len(w.links) < 0.1 * n


def _assert_valid(w: World) -> None:
    users, links = w.users, w.links
    oids = [o["id"] for o in w.owners]
    assert users["id"].is_unique
    assert len(set(oids)) == len(oids)
    assert users["id"].str.fullmatch(r"\d+").all()
    assert all(isinstance(i, str) and i.isdigit() for i in oids)
    assert links["aloware_user_id"].is_unique
    assert links["hubspot_owner_id"].is_unique
    assert links["aloware_user_id"].str.fullmatch(r"\d+").all()
    assert links["hubspot_owner_id"].str.fullmatch(r"\d+").all()
    assert set(links["method"]) <= set(m.METHODS)
    assert links["mapped_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert set(users["status"]) <= set(m.USER_STATUSES)
    assert set(users["kind"]) <= set(m.USER_KINDS)
    for o in w.owners:
        assert o["type"] in m.OWNER_TYPES
        assert isinstance(o["archived"], bool)
        assert o["userId"] is None or isinstance(o["userId"], int)
        assert isinstance(o["userIdIncludingInactive"], int)
        assert o["createdAt"].endswith("Z") and o["updatedAt"] >= o["createdAt"]
        assert all(set(t) == {"id", "name", "primary"} for t in o["teams"])


@pytest.mark.parametrize("n", [10, 100, 200, 2000])
def test_valid_world(worlds, n):
    _assert_valid(worlds[n])


@pytest.mark.parametrize("n", [100, 200, 2000])
def test_every_status_and_kind(worlds, n):
    users = worlds[n].users
    assert set(users["status"]) == set(m.USER_STATUSES)
    assert set(users["kind"]) == set(m.USER_KINDS)
    owners = worlds[n].owners
    assert {o["type"] for o in owners} == set(m.OWNER_TYPES)
    assert any(o["archived"] for o in owners)
    assert any(o["userId"] is None and o["userIdIncludingInactive"] for o in owners)


def test_links_to_absent_records(worlds):
    w = worlds[200]
    oids = {o["id"] for o in w.owners}
    assert (~w.links["aloware_user_id"].isin(set(w.users["id"]))).any()
    assert (~w.links["hubspot_owner_id"].isin(oids)).any()


def test_email_edge_cases(worlds):
    emails = list(worlds[100].users["email"]) + [o["email"] for o in worlds[100].owners]
    assert any(e and e != e.strip() for e in emails)                  # surrounding whitespace
    assert any(e and e != e.lower() for e in emails)                  # mixed case
    assert any(e and not e.isascii() for e in emails)                 # non-ASCII
    assert any(e is None for e in emails)                             # a null owner e-mail
    names = set(worlds[100].users["first_name"])
    assert {"José", "Zoë"} <= names


def test_most_users_healthy(worlds):
    """~70-80 % of users are eligible with exactly one clean active PERSON owner."""
    w = worlds[2000]
    owners = pd.DataFrame(w.owners)
    active = (owners["type"] == "PERSON") & ~owners["archived"] & owners["userId"].notna()
    okeys = owners.loc[active, "email"].map(email_key)
    once = okeys.value_counts()
    ukeys = w.users["email"].map(email_key)
    elig = w.users["status"].isin(m.ELIGIBLE_STATUSES) & (w.users["kind"] == "user")
    healthy = elig & ukeys.map(lambda k: is_valid_key(k) and once.get(k, 0) == 1)
    assert 0.68 <= healthy.mean() <= 0.85


def test_showcase_locals_have_no_digits():
    # bulk e-mails only differ from the showcase's by an appended number
    assert not any(c.isdigit() for loc in showcase.showcase_locals(showcase.CASES)
                   for c in loc)


def test_files(tmp_path, worlds):
    w = worlds[200]
    paths = write_world(w, tmp_path / "snap")
    assert set(paths) == {"aloware_users.csv", "hubspot_owners.json", "mappings.csv"}
    assert all(p.exists() for p in paths.values())
    with open(paths["aloware_users.csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == USER_COLUMNS
    assert len(rows) == 201
    assert rows[1:] == w.users.values.tolist()           # whitespace and accents kept as is
    with open(paths["mappings.csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == LINK_COLUMNS
    assert rows[1:] == w.links.values.tolist()
    owners = json.loads(paths["hubspot_owners.json"].read_text(encoding="utf-8"))
    assert isinstance(owners, list)
    assert owners == w.owners
    assert any(o["archived"] for o in owners) and any(not o["archived"] for o in owners)
    assert all(OWNER_FIELDS <= set(o) for o in owners)


def test_read_back_with_pandas(tmp_path, worlds):
    paths = write_world(worlds[200], tmp_path)
    users = pd.read_csv(paths["aloware_users.csv"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(users, worlds[200].users, check_dtype=False)


@pytest.mark.parametrize("n", [200, 2000])
def test_every_code_occurs(worlds, n):
    reconcile = pytest.importorskip("usermap.engine.reconcile")
    owners_frame = pytest.importorskip("usermap.sources.owners.frame").owners_frame
    w = worlds[n]
    audit = reconcile.audit(w.users, owners_frame(w.owners), w.links, suggestions=False)
    issues = set(audit.mapped["issue"])
    assert set(m.ISSUE_CODES) <= issues
    assert set(m.ALOWARE_REASONS) == set(audit.unmapped_aloware["reason"])
    assert set(m.HUBSPOT_REASONS) == set(audit.unmapped_hubspot["reason"])
    synced = (audit.mapped["issue"].fillna("") == "").sum()
    assert synced >= 0.35 * n     # most links are healthy (linked_share 0.5)


def test_showcase_table_matches_cases():
    assert [c[0] for c in showcase.CASES] == list(showcase.EXPECT)
    for name, us, os_, ls in showcase.CASES:
        eu, eo, el = showcase.EXPECT[name]
        assert len(eu) == sum(not u["ghost"] for u in us), name
        assert len(eo) == sum(not o["ghost"] for o in os_), name
        assert len(el) == len(ls), name


@pytest.mark.parametrize("n", [10, 100, 2000])
def test_showcase_outcomes(worlds, n):
    """Each hand-built case produces exactly the code it was built for."""
    reconcile = pytest.importorskip("usermap.engine.reconcile")
    owners_frame = pytest.importorskip("usermap.sources.owners.frame").owners_frame
    w = worlds[n]
    audit = reconcile.audit(w.users, owners_frame(w.owners), w.links, suggestions=False)
    got = {
        "user": dict(zip(audit.unmapped_aloware["aloware_user_id"],
                         audit.unmapped_aloware["reason"])),
        "owner": dict(zip(audit.unmapped_hubspot["hubspot_owner_id"],
                          audit.unmapped_hubspot["reason"])),
        "link": dict(zip(audit.mapped["aloware_user_id"], audit.mapped["issue"].fillna(""))),
    }
    exp = showcase.showcase_expectations(w)
    assert len(exp) > 0
    wrong = [(r.case, r.record, r.id, r.expected, got[r.record].get(r.id))
             for r in exp.itertuples() if got[r.record].get(r.id) != r.expected]
    assert not wrong
