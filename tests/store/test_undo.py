"""`usermap runs` and `usermap undo`: an applied run turned into its inverse plan."""

import sqlite3

from test_cli import db_state, usermap, world  # noqa: F401  (fixture)


def _links(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT aloware_user_id, hubspot_owner_id, aloware_email, hubspot_email,"
                         " method, mapped_at FROM links ORDER BY 1").fetchall()


def _run_ids(db, kind):
    with sqlite3.connect(db) as c:
        return [r[0] for r in c.execute("SELECT run_id FROM runs WHERE kind=? ORDER BY run_id",
                                        (kind,))]


def test_undo_restores_the_links_exactly(world):
    snap, db, tmp = world
    before = _links(db)
    usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    assert usermap("apply", tmp / "plan.json", "--store", db, "--yes").returncode == 0
    (run_id,) = _run_ids(db, "apply")
    r = usermap("runs", "--store", db)
    assert run_id in r.stdout
    r = usermap("undo", run_id, "--store", db, "--out", tmp / "undo.json")
    assert r.returncode == 0, r.stderr
    assert "1 to add, 1 to update, 2 to remove" in r.stdout  # inverse of +2 ~1 -1
    r = usermap("apply", tmp / "undo.json", "--store", db, "--yes")
    assert r.returncode == 0, r.stderr
    assert _links(db) == before
    assert _run_ids(db, "undo")


def test_undo_is_refused_when_the_store_moved_on(world):
    snap, db, tmp = world
    usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    usermap("apply", tmp / "plan.json", "--store", db, "--yes")
    (run_id,) = _run_ids(db, "apply")
    assert usermap("unmap", "3", "--store", db).returncode == 0  # a link that run added
    state = db_state(db)
    r = usermap("undo", run_id, "--store", db, "--out", tmp / "undo.json")
    assert r.returncode == 3 and "moved on" in r.stderr
    assert not (tmp / "undo.json").exists()
    assert db_state(db) == state


def test_undo_plan_goes_stale_like_any_plan(world):
    snap, db, tmp = world
    usermap("plan", snap, "--store", db, "--out", tmp / "plan.json")
    usermap("apply", tmp / "plan.json", "--store", db, "--yes")
    (run_id,) = _run_ids(db, "apply")
    assert usermap("undo", run_id, "--store", db, "--out", tmp / "undo.json").returncode == 0
    assert usermap("map", "9", "99", "--store", db).returncode == 0
    r = usermap("apply", tmp / "undo.json", "--store", db, "--yes")
    assert r.returncode == 3


def test_undo_of_unknown_run(world):
    snap, db, tmp = world
    r = usermap("undo", "20990101T000000Z-0000", "--store", db, "--out", tmp / "u.json")
    assert r.returncode == 2 and "no applied run" in r.stderr
