"""The `usermap` command as scheduled jobs use it: real processes, files and SQLite stores."""

import json
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

import forkcli
from tiny import L, O, U

A = "a@x.com"


def usermap(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.update(env or {})
    return forkcli.run(args, env=e, cwd=cwd, timeout=120)


def write_snapshot(d: Path, users, owners):
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(users, columns=["id", "first_name", "last_name", "email", "status", "kind",
                                 "role"]).to_csv(d / "aloware_users.csv", index=False)
    (d / "hubspot_owners.json").write_text(json.dumps(owners))
    return d


def write_links(path: Path, links):
    pd.DataFrame(links).drop(columns=["updated_at"]).to_csv(path, index=False)
    return path


@pytest.fixture
def world(tmp_path):
    """A snapshot where a sync adds 1, removes 1 and refreshes 1; and a store holding 3 links."""
    users = [U(1, A), U(2, "b@x.com", status="deleted"), U(3, "c@x.com"), U(4, "D@x.com"),
             U(5, "e@x.com")]
    owners = [O(10, A), O(11, "b@x.com"), O(12, "c@x.com"), O(13, "d@x.com"),
              O(14, "e@x.com")]
    snap = write_snapshot(tmp_path / "snap", users, owners)
    csv = write_links(tmp_path / "links.csv", [L(1, 10, A, A), L(2, 11, "b@x.com", "b@x.com"),
                                               L(4, 13, "old@x.com", "old@x.com")])
    db = tmp_path / "store.db"
    r = usermap("mappings", "import", "--create", csv, "--store", db)
    assert r.returncode == 0, r.stderr
    return snap, db, tmp_path


def db_state(db):
    with sqlite3.connect(db) as c:
        return (c.execute("SELECT * FROM links ORDER BY 1").fetchall(),
                c.execute("SELECT count(*) FROM journal").fetchone()[0],
                c.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])


def test_audit_writes_its_files_and_a_summary(world):
    snap, db, tmp = world
    r = usermap("audit", snap, "--store", db, "--out", tmp / "audit")
    assert r.returncode == 0, r.stderr
    assert "mapped 3: 1 synced, 2 with issues" in r.stdout
    s = json.loads((tmp / "audit" / "summary.json").read_text())
    assert s["mapped"] == 3 and s["synced"] == 1 and s["errors"] == 2
    assert s["errors_by_code"] == {"aloware_user_deleted": 1, "emails_changed": 1}
    assert s["unmapped_aloware_by_reason"] == {"match_pending": 2}
    mapped = pd.read_csv(tmp / "audit" / "mapped.csv", dtype=str, keep_default_na=False)
    assert {"aloware_user_id", "hubspot_owner_id", "status", "issue"} <= set(mapped.columns)
    ua = pd.read_csv(tmp / "audit" / "unmapped_aloware.csv", dtype=str)
    assert list(ua["aloware_user_id"]) == ["3", "5"] and set(ua["reason"]) == {"match_pending"}
    uh = pd.read_csv(tmp / "audit" / "unmapped_hubspot.csv", dtype=str)
    assert {"hubspot_owner_id", "reason"} <= set(uh.columns)
    import stat
    assert stat.S_IMODE((tmp / "audit").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp / "audit" / "mapped.csv").stat().st_mode) == 0o600
    errors = pd.read_csv(tmp / "audit" / "errors.csv", dtype=str)
    assert "--only aloware_user_deleted:2" in errors.set_index("code").loc[
        "aloware_user_deleted", "fix"]


def test_plan_apply_then_plan_is_empty(world):
    snap, db, tmp = world
    before = db_state(db)
    r = usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    assert r.returncode == 0, r.stderr
    assert "2 to add, 1 to update, 1 to remove" in r.stdout
    r = usermap("apply", tmp / "plan.json", "--store", db)  # dry run
    assert r.returncode == 0 and "dry run" in r.stdout
    assert db_state(db) == before
    r = usermap("apply", tmp / "plan.json", "--store", db, "--yes")
    assert r.returncode == 0, r.stderr
    links, journal, rev = db_state(db)
    assert rev == "2" and journal == 3 + 4
    assert [(row[0], row[1]) for row in links] == [("1", "10"), ("3", "12"), ("4", "13"),
                                                   ("5", "14")]
    r = usermap("plan", snap, "--store", db, "--out", tmp / "plan2.json")
    assert r.returncode == 0 and "no changes" in r.stdout
    r = usermap("runs", "--store", db)
    assert r.returncode == 0 and r.stdout.count("\n") == 3  # header, import, apply
    assert "apply" in r.stdout and "import" in r.stdout


def test_stale_plan_exits_3_and_changes_nothing(world):
    snap, db, tmp = world
    assert usermap("plan", snap, "--store", db, "--out", tmp / "plan.json").returncode == 0
    assert usermap("map", "3", "12", "--store", db).returncode == 0
    before = db_state(db)
    r = usermap("apply", tmp / "plan.json", "--store", db, "--yes")
    assert r.returncode == 3 and "changed since" in r.stderr
    assert db_state(db) == before


def test_guard_exits_3_without_force(tmp_path):
    users = [U(i, f"u{i}@x.com", status="deleted") for i in range(12)]
    owners = [O(100 + i, f"u{i}@x.com") for i in range(12)]
    snap = write_snapshot(tmp_path / "snap", users, owners)
    csv = write_links(tmp_path / "l.csv", [L(i, 100 + i, f"u{i}@x.com", f"u{i}@x.com")
                                           for i in range(12)])
    db = tmp_path / "s.db"
    assert usermap("mappings", "import", "--create", csv, "--store", db).returncode == 0
    r = usermap("plan", snap, "--store", db, "--out", tmp_path / "p.json")
    assert r.returncode == 3 and "--force" in r.stderr
    assert not (tmp_path / "p.json").exists()
    r = usermap("plan", snap, "--store", db, "--out", tmp_path / "p.json", "--force")
    assert r.returncode == 0
    r = usermap("apply", tmp_path / "p.json", "--store", db, "--yes")
    assert r.returncode == 0, r.stderr
    assert db_state(db)[0] == []


def test_edited_plan_exits_2(world):
    snap, db, tmp = world
    usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    text = (tmp / "plan.json").read_text()
    (tmp / "plan.json").write_text(text.replace('"14"', '"99"'))
    before = db_state(db)
    r = usermap("apply", tmp / "plan.json", "--store", db, "--yes")
    assert r.returncode == 2 and "plan.json" in r.stderr and "checksum" in r.stderr
    assert db_state(db) == before


def test_only_gives_the_fix_of_one_issue(world):
    snap, db, tmp = world
    r = usermap("plan", snap, "--store", db, "--out", tmp / "fix.json", "--only",
                "aloware_user_deleted:2")
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp / "fix.json").read_text())
    assert [(c["action"], c["aloware_user_id"]) for c in doc["changes"]] == [("remove", "2")]
    r = usermap("plan", snap, "--store", db, "--out", tmp / "x.json", "--only", "nope:1")
    assert r.returncode == 2


def test_injected_failure_mid_apply_leaves_store_unchanged(world):
    snap, db, tmp = world
    usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    before = db_state(db)
    r = usermap("apply", tmp / "plan.json", "--store", db, "--yes",
                env={"USERMAP_TEST_APPLY_HOOK": "fail:2"})
    assert r.returncode == 1 and "injected failure" in r.stderr
    assert db_state(db) == before
    r = usermap("apply", tmp / "plan.json", "--store", db, "--yes")  # the same plan still applies
    assert r.returncode == 0


def test_map_and_unmap_are_journaled(world):
    snap, db, tmp = world
    r = usermap("map", "3", "12", "--store", db, "--snapshot", snap)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(db) as c:
        row = c.execute("SELECT method, aloware_email, hubspot_email FROM links "
                        "WHERE aloware_user_id='3'").fetchone()
        assert row == ("manual", "c@x.com", "c@x.com")
        assert c.execute("SELECT action, reason FROM journal ORDER BY seq DESC LIMIT 1"
                         ).fetchone() == ("add", "manual_pin")
    assert usermap("unmap", "3", "--store", db).returncode == 0
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM links WHERE aloware_user_id='3'").fetchone()[0] == 0
        assert c.execute("SELECT action FROM journal ORDER BY seq DESC LIMIT 1").fetchone() == (
            "remove",)
    r = usermap("map", "3", "10", "--store", db)  # owner 10 is linked to user 1
    assert r.returncode == 2 and "already linked" in r.stderr
    r = usermap("map", "2", "11", "--store", db, "--snapshot", snap)  # user 2 is deleted
    assert r.returncode == 2 and "deleted" in r.stderr


def test_mappings_export_round_trip(world):
    snap, db, tmp = world
    assert usermap("mappings", "export", "--store", db, tmp / "out.csv").returncode == 0
    out = pd.read_csv(tmp / "out.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["aloware_user_id", "hubspot_owner_id", "aloware_email",
                                 "hubspot_email", "method", "mapped_at"]
    assert list(out["aloware_user_id"]) == ["1", "2", "4"]
    before = db_state(db)
    r = usermap("mappings", "import", tmp / "out.csv", "--store", db)  # same links: no change
    assert r.returncode == 0 and "nothing to import" in r.stdout, r.stdout + r.stderr
    assert db_state(db) == before                     # no run recorded, no revision bumped


def test_missing_store_and_bad_usage(tmp_path):
    r = usermap("runs", "--store", tmp_path / "nope.db")
    assert r.returncode == 2 and "nope.db" in r.stderr
    assert not (tmp_path / "nope.db").exists()
    r = usermap("plan")
    assert r.returncode == 2


# --- bad input: exit 2, file + row + column named, nothing written ---------------------------
GOOD_USERS = "id,first_name,last_name,email,status,kind\n1,A,B,a@x.com,active,user\n"
BAD_USERS = [
    ("id,first_name,last_name,email,status\n1,A,B,a@x.com,active\n", "row 1", "kind"),
    (GOOD_USERS + "2,C,D,c@x.com,retired,user\n", "row 3", "status"),
    (GOOD_USERS + "2,C,D,c@x.com,active,robot\n", "row 3", "kind"),
    (GOOD_USERS + "1,C,D,c@x.com,active,user\n", "row 3", "'id'"),
    (GOOD_USERS + "2,C,D,c@x.com,active,user,extra\n", "row 3", "expected 6 fields"),
    (GOOD_USERS + "2,C,D,c@x.com\n", "row 3", "status"),
    (GOOD_USERS + "\n\n2,C,D,c@x.com,active,robot\n", "row 5", "kind"),  # blank lines counted
    (GOOD_USERS.encode() + b"2,Jos\xe9,D,c@x.com,active,user\n", "row 3", "first_name"),
]


@pytest.mark.parametrize("content,row,column", BAD_USERS)
def test_bad_users_csv(tmp_path, content, row, column):
    snap = tmp_path / "snap"
    snap.mkdir()
    path = snap / "aloware_users.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (snap / "hubspot_owners.json").write_text("[]")
    _new_store(tmp_path / "s.db")
    before = (tmp_path / "s.db").read_bytes()
    r = usermap("audit", snap, "--store", tmp_path / "s.db", "--out", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert "aloware_users.csv" in r.stderr and row in r.stderr and column in r.stderr
    assert not (tmp_path / "out").exists() and (tmp_path / "s.db").read_bytes() == before


def _new_store(path):
    from usermap.store.store import Store
    Store.open(path, create=True).close()


BAD_OWNERS = [
    ('{"results": []}', "", "array"),
    ('[{"id": "1"}, 5]', "row 2", "owner object"),
    ('[{"id": "1"}, {"email": "x@y.z"}]', "row 2", "'id'"),
    ('[{"id": "1"}, {"id": "1"}]', "row 2", "twice"),
    ('[{"id": "1", "type": "ROBOT"}]', "row 1", "'type'"),
    ('[{"id": "1", "archived": "no"}]', "row 1", "'archived'"),
    ('[{"id": "1", "email": 7}]', "row 1", "'email'"),
    ('[{"id": "1"},\n {"id": ', "row 2", "not valid JSON"),
]


@pytest.mark.parametrize("content,row,needle", BAD_OWNERS)
def test_bad_owners_json(tmp_path, content, row, needle):
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "aloware_users.csv").write_text(GOOD_USERS)
    (snap / "hubspot_owners.json").write_text(content)
    _new_store(tmp_path / "s.db")
    r = usermap("plan", snap, "--store", tmp_path / "s.db", "--out", tmp_path / "p.json")
    assert r.returncode == 2, r.stderr
    assert "hubspot_owners.json" in r.stderr and row in r.stderr and needle in r.stderr
    assert not (tmp_path / "p.json").exists()


BAD_MAPPINGS = [
    ("aloware_user_id,hubspot_owner_id\n1,10\n1,11\n", "row 3", "aloware_user_id"),
    ("aloware_user_id,hubspot_owner_id\n1,10\n2,10\n", "row 3", "hubspot_owner_id"),
    ("aloware_user_id,hubspot_owner_id,method\n1,10,auto\n", "row 2", "method"),
    ("aloware_user_id,hubspot_owner_id,mapped_at\n1,10,yesterday\n", "row 2", "mapped_at"),
    ("aloware_user_id\n1\n", "row 1", "hubspot_owner_id"),
    ("aloware_user_id,hubspot_owner_id\n,10\n", "row 2", "aloware_user_id"),
    ("aloware_user_id,hubspot_owner_id,method\n1,10,email\n2,11\n", "row 3", "method"),
]


@pytest.mark.parametrize("content,row,column", BAD_MAPPINGS)
def test_bad_mappings_csv(world, content, row, column):
    snap, db, tmp = world
    before = db_state(db)
    (tmp / "bad.csv").write_text(content)
    r = usermap("mappings", "import", "--create", tmp / "bad.csv", "--store", db)
    assert r.returncode == 2, r.stderr
    assert "bad.csv" in r.stderr and row in r.stderr and column in r.stderr
    assert db_state(db) == before


def test_plan_file_that_is_not_a_plan(world):
    snap, db, tmp = world
    (tmp / "p.json").write_text('{"changes": []}')
    r = usermap("apply", tmp / "p.json", "--store", db, "--yes")
    assert r.returncode == 2 and "not a usermap plan" in r.stderr


def test_apply_of_an_empty_plan_prints_the_store_revision(world):
    """The revision printed after an apply is the store's, read back from it; an empty plan
    records no run and bumps nothing (issue 10), and says so."""
    snap, db, tmp = world
    assert usermap("plan", snap, "--store", db, "--out", tmp / "p.json").returncode == 0
    assert usermap("apply", tmp / "p.json", "--store", db, "--yes").returncode == 0
    assert usermap("plan", snap, "--store", db, "--out", tmp / "empty.json").returncode == 0
    assert db_state(db)[2] == "2"
    before = db_state(db)
    r = usermap("apply", tmp / "empty.json", "--store", db, "--yes")
    assert r.returncode == 0, r.stderr
    assert db_state(db) == before and before[2] == "2"
    assert "nothing to apply; store revision is 2" in r.stdout, r.stdout
