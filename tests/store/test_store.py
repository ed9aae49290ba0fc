"""The SQLite store: schema versions, permissions, locking, journal."""

import os
import sqlite3
import stat

import pandas as pd
import pytest

from usermap.errors import InputError, LockedError, StalePlanError
from usermap.engine.models import Change
from usermap.clock import new_run_id
from usermap.store.store import Store
from usermap.store.schema import SCHEMA_VERSION

NOW = "2026-11-24T12:00:00Z"


def test_new_store_is_owner_only_and_current(tmp_path):
    with Store.open(tmp_path / "s.db", create=True) as s:
        assert s.schema_version == SCHEMA_VERSION and s.revision == 0
    assert stat.S_IMODE(os.stat(tmp_path / "s.db").st_mode) == 0o600


def test_run_id_starts_with_utc_time():
    rid = new_run_id(NOW)
    assert rid.startswith("20261124T120000Z-") and len(rid) == len("20261124T120000Z-3f9a")


def test_version_1_file_is_migrated(tmp_path):
    db = tmp_path / "old.db"
    from usermap.store.schema import MIGRATIONS as _MIGRATIONS
    c = sqlite3.connect(db)
    c.executescript(_MIGRATIONS[0])
    c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    c.execute("INSERT INTO links VALUES ('1','10','a@x','a@x','email',?,?)", (NOW, NOW))
    c.commit()
    c.close()
    with Store.open(db, create=True) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert list(s.links()["aloware_user_id"]) == ["1"]
        s.record_audit("r", NOW, {"mapped": 1}, ["x:1"])
        assert s.audits()[0]["issues"] == ["x:1"]
    names = {r[0] for r in sqlite3.connect(db).execute(
        "SELECT name FROM sqlite_master WHERE type IN ('index','table')")}
    assert "audits" in names and "journal_run" not in names  # v4 dropped the index
    with Store.open(db, create=True) as s:
        run = s.runs()
        assert run == [] or run[0]["journal_from"] is not None


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "new.db"
    with Store.open(db, create=True) as s:
        s.conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(InputError, match="newer"):
        Store.open(db)


def test_foreign_sqlite_file_is_refused(tmp_path):
    db = tmp_path / "other.db"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(InputError, match="not a usermap store"):
        Store.open(db)
    (tmp_path / "junk.db").write_text("hello")
    with pytest.raises(InputError):
        Store.open(tmp_path / "junk.db")


def test_expected_revision_is_checked_inside_the_transaction(tmp_path):
    with Store.open(tmp_path / "s.db", create=True) as s:
        ch = Change("add", "1", "10", None, {"hubspot_owner_id": "10"}, "email_match", "match")
        s.write_changes([ch], kind="apply", now=NOW, expect_revision=0)
        with pytest.raises(StalePlanError):
            s.write_changes([Change("add", "2", "11", None, {"hubspot_owner_id": "11"},
                                    "email_match", "match")], kind="apply", now=NOW,
                            expect_revision=0)
        assert s.revision == 1 and s.count() == 1


def test_conflicting_change_writes_nothing(tmp_path):
    with Store.open(tmp_path / "s.db", create=True) as s:
        s.write_changes([Change("add", "1", "10", None, {"hubspot_owner_id": "10"}, "m", "match")],
                        kind="apply", now=NOW)
        bad = [Change("add", "2", "11", None, {"hubspot_owner_id": "11"}, "m", "match"),
               Change("add", "3", "10", None, {"hubspot_owner_id": "10"}, "m", "match")]
        with pytest.raises(Exception, match="already linked"):
            s.write_changes(bad, kind="apply", now=NOW)
        assert s.revision == 1 and list(s.links()["aloware_user_id"]) == ["1"]
        assert len(s.journal()) == 1 and len(s.runs()) == 1


def test_a_second_writer_is_refused_while_one_holds_the_store(tmp_path):
    db = tmp_path / "s.db"
    Store.open(db, create=True).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store.open(db, busy_timeout=0.2, create=True) as s:
            with pytest.raises(LockedError):
                s.write_changes([Change("add", "1", "10", None, {"hubspot_owner_id": "10"}, "m",
                                        "match")], kind="apply", now=NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Store.open(db, create=True) as s:
        assert s.count() == 0 and s.revision == 0


def test_import_journal_matches_links(tmp_path):
    links = pd.DataFrame({"aloware_user_id": ["1", "2"], "hubspot_owner_id": ["10", "11"],
                          "aloware_email": ["a@x", ""], "hubspot_email": ["a@x", ""],
                          "method": ["email", "manual"], "mapped_at": ["", NOW]})
    with Store.open(tmp_path / "s.db", create=True) as s:
        run_id, counts = s.import_links(links, now=NOW)
        assert counts == {"add": 2, "update": 0, "remove": 0}
        j = s.journal(run_id)
        assert list(j["action"]) == ["add", "add"]
        import json
        assert json.loads(j.loc[0, "after"])["hubspot_owner_id"] == "10"
        changed = links.copy()
        changed.loc[0, "hubspot_owner_id"] = "12"
        _, counts = s.import_links(changed.iloc[:1], now=NOW)
        assert counts == {"add": 0, "update": 1, "remove": 1}
        assert dict(zip(s.links()["aloware_user_id"], s.links()["hubspot_owner_id"])) == {"1": "12"}


def test_version_3_runs_get_their_journal_range(tmp_path):
    """A v3 file with a run migrates to v4: the run's journal is still found by run id."""
    db = tmp_path / "v3.db"
    from usermap.store.schema import MIGRATIONS as _MIGRATIONS
    c = sqlite3.connect(db)
    for m in _MIGRATIONS[:3]:
        c.executescript(m)
    c.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    c.execute("INSERT INTO journal (run_id, revision, action, aloware_user_id, hubspot_owner_id,"
              " before, after, reason, at) VALUES ('r1', 1, 'add', '1', '10', NULL,"
              " '{\"hubspot_owner_id\": \"10\"}', 'import', ?)", (NOW,))
    c.execute("INSERT INTO runs VALUES ('r1','import',?,?,1,1,0,0,0,1,'')", (NOW, NOW))
    c.commit()
    c.close()
    with Store.open(db, create=True) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert list(s.journal("r1")["aloware_user_id"]) == ["1"]
        assert s.runs()[0]["journal_from"] == 1
