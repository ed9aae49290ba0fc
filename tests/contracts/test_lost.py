"""Issue 10, "Nothing lost": outputs never destroy what usermap did not write, stores are never
made by accident, a plan belongs to one store, an empty plan writes nothing, `mappings import`
diffs inside its own transaction, manual links are never made from placeholders or typos, and
a damaged store is named with its real cause and left byte for byte as it was.

Every refusal is checked on disk: a hash of the whole tree before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SANDBOX_TOKENS
from runkit import run_cli

pytestmark = pytest.mark.usefixtures("engine")   # the contract under both engines (conftest)

NOW = "2026-11-24T12:00:00Z"
USERMAP = [sys.executable, "-m", "usermap.launch"]


# --- helpers --------------------------------------------------------------------------------
def tree(root: Path) -> dict:
    """Every path under ``root``: a file's sha256, a link's target, "dir" for a folder."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def new_store(path, links_csv=None) -> Path:
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    with Store.open(path, create=True) as s:
        if links_csv is not None:
            s.import_links(read_mappings_csv(links_csv), now=NOW)
    return Path(path)


@pytest.fixture
def site(tmp_path):
    """A folder as an analyst has it: a snapshot, a store holding its links (revision 1), a
    config naming the store, a runs folder and a note of their own."""
    from usermap.sandbox.scenarios import generate, write_world
    write_world(generate(60, seed=5), tmp_path / "snap")
    (tmp_path / "snap" / "mappings.csv").rename(tmp_path / "mappings.csv")
    new_store(tmp_path / "s.db", tmp_path / "mappings.csv")
    (tmp_path / "usermap.toml").write_text('[store]\npath = "s.db"\n[runs]\ndir = "runs"\n')
    (tmp_path / "runs").mkdir()
    (tmp_path / "notes.txt").write_text("mine\n")
    return tmp_path


# === 1. outputs never destroy what usermap did not write =====================================
def test_fetch_into_a_folder_that_is_not_a_snapshot_exits_2_and_deletes_nothing(
        tmp_path, sandbox, monkeypatch):
    """The red-team case: `fetch --out DIR` replaced DIR (a store, run history...) whole."""
    from usermap.sandbox.scenarios import generate
    w = generate(30, seed=2)
    srv = sandbox(w)
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "usermap.toml").write_text(srv.config_toml())
    work = tmp_path / "work"
    (work / "runs" / "20261101T000000Z-aaaa").mkdir(parents=True)
    (work / "runs" / "20261101T000000Z-aaaa" / "run.json").write_text("{}")
    new_store(work / "usermap.db")
    (work / "aloware_users.csv").write_text("id\n")      # one snapshot-like name is not enough
    before = tree(tmp_path)
    code, out, err = run_cli("fetch", "--out", work, "--config", tmp_path / "usermap.toml")
    assert code == 2, err
    assert "not a snapshot folder" in err and str(work) in err
    assert tree(tmp_path) == before
    # a folder an earlier fetch wrote is replaced (that is what --out of a snapshot means)
    code, _, err = run_cli("fetch", "--out", tmp_path / "snap", "--config",
                           tmp_path / "usermap.toml")
    assert code == 0, err
    code, _, err = run_cli("fetch", "--out", tmp_path / "snap", "--config",
                           tmp_path / "usermap.toml")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == [
        "aloware_users.csv", "fetch.json", "hubspot_owners.json"]


def test_audit_into_a_folder_holding_other_files_exits_2_and_writes_nothing(site):
    before = tree(site)
    for out in (site, site / "snap", site / "runs" / ".."):
        code, _, err = run_cli("audit", site / "snap", "--store", site / "s.db", "--out", out)
        assert code == 2, (out, err)
        assert "not an audit folder" in err or "would overwrite the store" in err, err
    assert tree(site) == before
    # an audit folder may be written again
    assert run_cli("audit", site / "snap", "--store", site / "s.db", "--out", site / "a")[0] == 0
    code, _, err = run_cli("audit", site / "snap", "--store", site / "s.db", "--out", site / "a")
    assert code == 0, err


def _outs(site):
    """(command, what it is) pairs whose output is the store, the config, or a folder where a
    file goes (and the other way round), in several spellings."""
    (site / "link.db").symlink_to(site / "s.db")
    (site / "cfg-link.toml").symlink_to("usermap.toml")
    (site / "afolder").mkdir()
    (site / "afolder" / "keep.txt").write_text("keep\n")
    spellings = [site / "s.db", site / "link.db", site / "runs" / ".." / "s.db",
                 Path(os.path.relpath(site / "s.db"))]
    snap, db = site / "snap", site / "s.db"
    cases = []
    for store in spellings:
        cases += [("plan", snap, "--store", db, "--out", store),
                  ("report", snap, "--store", db, "--out", store),
                  ("mappings", "export", "--store", db, store),
                  ("audit", snap, "--store", db, "--out", store),
                  ("fetch", "--out", store, "--config", site / "usermap.toml")]
    cases += [("undo", "x", "--store", db, "--out", db)]
    for cfg in (site / "usermap.toml", site / "cfg-link.toml"):
        cases += [("plan", snap, "--store", db, "--out", cfg),
                  ("report", snap, "--store", db, "--out", cfg, "--config", site / "usermap.toml"),
                  ("mappings", "export", "--store", db, cfg)]
    for folder in (site / "afolder", site / "runs"):
        cases += [("plan", snap, "--store", db, "--out", folder),
                  ("report", snap, "--store", db, "--out", folder),
                  ("mappings", "export", "--store", db, folder),
                  ("undo", "x", "--store", db, "--out", folder)]
    cases += [("audit", snap, "--store", db, "--out", site / "notes.txt"),
              ("audit", snap, "--store", db, "--out", site / "notes.txt" / "sub"),
              ("plan", snap, "--store", db, "--out", site / "notes.txt" / "p.json"),
              ("fetch", "--out", site / "notes.txt", "--config", site / "usermap.toml"),
              # an existing file that is not a usermap output of that kind
              ("plan", snap, "--store", db, "--out", snap / "aloware_users.csv"),
              ("report", snap, "--store", db, "--out", site / "notes.txt"),
              ("mappings", "export", "--store", db, snap / "hubspot_owners.json")]
    return cases


def test_an_output_that_is_the_store_the_config_or_the_wrong_kind_exits_2_untouched(
        site, monkeypatch):
    monkeypatch.chdir(site)
    cases = _outs(site)
    before = tree(site)
    for args in cases:
        code, out, err = run_cli(*args)
        assert code == 2, (args, out, err)
        assert tree(site) == before, args


# === 2. stores are never made by accident ====================================================
MISSING = ["audit", "plan", "apply", "report", "runs", "undo", "export", "unmap", "import",
           "map"]


@pytest.mark.parametrize("command", MISSING)
def test_a_missing_store_exits_2_naming_it_and_init(site, command):
    db = site / "new" / "missing.db"
    snap, plan = site / "snap", site / "p.json"
    assert run_cli("plan", snap, "--store", site / "s.db", "--out", plan, "--force")[0] == 0
    args = {"audit": ("audit", snap, "--store", db, "--out", site / "a"),
            "plan": ("plan", snap, "--store", db, "--out", site / "q.json"),
            "apply": ("apply", plan, "--store", db, "--yes", "--force"),
            "report": ("report", snap, "--store", db, "--out", site / "r.html"),
            "runs": ("runs", "--store", db),
            "undo": ("undo", "20261124T120000Z-aaaa", "--store", db, "--out", site / "u.json"),
            "export": ("mappings", "export", "--store", db, site / "m.csv"),
            "unmap": ("unmap", "1", "--store", db),
            "import": ("mappings", "import", site / "mappings.csv", "--store", db),
            "map": ("map", "1", "2", "--store", db)}[command]
    before = tree(site)
    code, _, err = run_cli(*args)
    assert code == 2, err
    assert str(db) in err and "usermap init" in err, err
    assert tree(site) == before and not db.exists()


def test_import_and_map_create_a_store_only_with_create(site):
    db = site / "made.db"
    code, _, err = run_cli("mappings", "import", site / "mappings.csv", "--store", db, "--create")
    assert code == 0 and db.is_file(), err
    db2 = site / "made2.db"
    code, _, err = run_cli("map", "1", "2", "--store", db2, "--create")
    assert code == 0 and db2.is_file(), err


def test_init_creates_once_and_refuses_what_is_not_a_store(site):
    db = site / "fresh" / "n.db"
    code, out, err = run_cli("init", "--store", db)
    assert code == 0 and db.is_file(), err
    assert "created" in out
    from usermap.store.store import Store
    with Store.open(db) as s:
        assert s.revision == 0 and s.count() == 0 and len(s.store_id) == 32
    raw = db.read_bytes()
    code, out, err = run_cli("init", "--store", db)          # already a store: said, untouched
    assert code == 0 and "already" in out, err
    assert db.read_bytes() == raw
    empty = site / "empty.db"
    empty.write_bytes(b"")
    before = tree(site)
    for path in (site / "notes.txt", site / "usermap.toml", empty, site / "runs",
                 site / "snap" / "aloware_users.csv"):
        code, _, err = run_cli("init", "--store", path)
        assert code == 2 and str(path) in err, (path, err)
    other = site / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    before = tree(site)
    code, _, err = run_cli("init", "--store", other)
    assert code == 2 and "not a usermap store" in err
    assert tree(site) == before


def test_run_with_a_missing_store_exits_2_before_anything(site):
    (site / "s.db").rename(site / "elsewhere.db")
    before = tree(site)
    code, _, err = run_cli("run", "--config", site / "usermap.toml")
    assert code == 2 and "usermap init" in err and "s.db" in err, err
    assert tree(site) == before


def test_the_config_store_is_the_default(site, monkeypatch):
    monkeypatch.chdir(site)
    code, out, err = run_cli("runs", "--config", site / "usermap.toml")
    assert code == 0 and "import" in out, err
    code, out, err = run_cli("runs")                         # ./usermap.toml
    assert code == 0 and "import" in out, err


# === 3. a plan belongs to one store; an empty plan writes nothing ===========================
def _twin(site):
    """A second store holding the same links at the same revision."""
    return new_store(site / "twin.db", site / "mappings.csv")


def test_a_plan_applied_to_another_store_exits_3_and_changes_nothing(site):
    from usermap.store.store import Store
    twin = _twin(site)
    plan = site / "p.json"
    assert run_cli("plan", site / "snap", "--store", site / "s.db", "--out", plan,
                   "--force")[0] == 0
    with Store.open(site / "s.db") as a, Store.open(twin) as b:
        ids = a.store_id, b.store_id
        assert a.revision == b.revision and ids[0] != ids[1]
    assert json.loads(plan.read_text())["store_id"] == ids[0]
    raw = twin.read_bytes()
    code, _, err = run_cli("apply", plan, "--store", twin, "--yes", "--force")
    assert code == 3, err
    assert ids[0] in err and ids[1] in err
    assert twin.read_bytes() == raw
    assert run_cli("apply", plan, "--store", site / "s.db", "--yes", "--force")[0] == 0


def _without_store_id(plan_path: Path) -> Path:
    """The plan file as a usermap before store ids wrote it (no store_id; checksum valid)."""
    from usermap.planfile import _CHECKSUM_LINE
    text = plan_path.read_text()
    lines = [ln for ln in text.splitlines(keepends=True) if not ln.startswith(' "store_id"')]
    body = "".join(lines)
    body = body[:body.rfind(_CHECKSUM_LINE) + 1]
    digest = hashlib.sha256(body.encode()).hexdigest()
    old = plan_path.with_name("old.json")
    old.write_text(body + f' "checksum": "sha256:{digest}"\n}}\n')
    return old


def test_a_plan_without_a_store_id_is_refused(site):
    plan = site / "p.json"
    assert run_cli("plan", site / "snap", "--store", site / "s.db", "--out", plan,
                   "--force")[0] == 0
    old = _without_store_id(plan)
    raw = (site / "s.db").read_bytes()
    code, _, err = run_cli("apply", old, "--store", site / "s.db", "--yes", "--force")
    assert code == 3 and "no store id" in err, err
    assert (site / "s.db").read_bytes() == raw


def test_undo_plans_carry_the_store_id(site):
    from usermap.store.store import Store
    with Store.open(site / "s.db") as s:
        rid, sid = s.runs()[0]["run_id"], s.store_id
    assert run_cli("undo", rid, "--store", site / "s.db", "--out", site / "u.json")[0] == 0
    assert json.loads((site / "u.json").read_text())["store_id"] == sid
    twin = _twin(site)
    code, _, err = run_cli("apply", site / "u.json", "--store", twin, "--yes", "--force")
    assert code == 3 and sid in err


def test_an_older_store_gets_a_store_id_once(tmp_path):
    from usermap.store.store import Store
    from usermap.store.schema import MIGRATIONS
    db = tmp_path / "v4.db"
    c = sqlite3.connect(db)
    for m in MIGRATIONS[:4]:
        c.executescript(m)
    c.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    c.commit()
    c.close()
    with Store.open(db) as s:
        first = s.store_id
        assert s.schema_version >= 5
    with Store.open(db) as s:
        assert s.store_id == first


def test_an_empty_plan_records_no_run_and_bumps_nothing(site):
    db = site / "s.db"
    assert run_cli("plan", site / "snap", "--store", db, "--out", site / "p.json",
                   "--force")[0] == 0
    assert run_cli("apply", site / "p.json", "--store", db, "--yes", "--force")[0] == 0
    assert run_cli("plan", site / "snap", "--store", db, "--out", site / "e.json")[0] == 0
    raw = db.read_bytes()
    code, out, err = run_cli("apply", site / "e.json", "--store", db, "--yes")
    assert code == 0, err
    assert "nothing to apply; store revision is 2" in out
    assert db.read_bytes() == raw
    assert run_cli("mappings", "export", "--store", db, site / "now.csv")[0] == 0
    assert run_cli("mappings", "import", site / "now.csv", "--store", db)[0] == 0
    raw = db.read_bytes()
    code, out, err = run_cli("mappings", "import", site / "now.csv", "--store", db)
    assert code == 0 and "nothing to import" in out, out + err
    assert db.read_bytes() == raw


# === 4. `mappings import` diffs inside its write transaction ================================
def test_a_map_committed_while_an_import_reads_is_neither_kept_nor_lost_silently(
        site, monkeypatch):
    """A second connection pins a link just after the import read the current links. Before
    the fix the import's diff missed it, so a link the CSV does not hold outlived the import
    (which reported success). Now the import holds the write lock while it reads: the pin
    waits, and either fails loudly (busy) or lands after the import."""
    from usermap.errors import LockedError
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    db = site / "s.db"
    links = read_mappings_csv(site / "mappings.csv")
    with Store.open(db) as s:
        linked = set(s.links()["hubspot_owner_id"])
    from usermap.sources.owners.read import read_owners as read_owners_json
    from usermap.sources.snapshot import read_users_csv
    users = read_users_csv(site / "snap" / "aloware_users.csv")
    free_user = next(u for u in users["id"] if u not in set(links["aloware_user_id"]))
    owners = read_owners_json(site / "snap" / "hubspot_owners.json")
    free_owner = next(o for o in owners["id"] if o not in linked)
    outcome = {}
    real_links = Store.links

    def links_then_a_pin(self):
        got = real_links(self)
        if not outcome:
            outcome["tried"] = True
            try:
                with Store.open(db, busy_timeout=0.2) as other:
                    outcome["pinned"] = other.map(free_user, free_owner, now=NOW)
            except LockedError as e:
                outcome["refused"] = str(e)
        return got

    monkeypatch.setattr(Store, "links", links_then_a_pin)
    with Store.open(db) as s:
        run_id, counts = s.import_links(links.iloc[:-1], now=NOW)
    monkeypatch.setattr(Store, "links", real_links)
    assert outcome.get("tried")
    with Store.open(db) as s:
        final = s.links()
        journal = s.journal()
    pinned = final[final["aloware_user_id"] == free_user]
    if "pinned" in outcome:      # the pin landed: after the import, and journaled
        assert journal["run_id"].iloc[-1] == outcome["pinned"]
        assert len(pinned) == 1
    else:                        # refused loudly; the import made the store exactly the CSV's
        assert "busy" in outcome["refused"]
        assert pinned.empty
        assert sorted(final["aloware_user_id"]) == sorted(links.iloc[:-1]["aloware_user_id"])


def test_import_holds_the_write_lock_while_it_reads(site):
    """With the import paused (test hook) right after reading the links, a writer on another
    connection is busy, not silently interleaved."""
    db = site / "s.db"
    env = {**os.environ, "USERMAP_TEST_IMPORT_HOOK": "sleep:3"}
    (site / "one.csv").write_text("aloware_user_id,hubspot_owner_id\nzz1,zz9\n")
    p = subprocess.Popen(USERMAP + ["mappings", "import", str(site / "one.csv"), "--store",
                                    str(db), "--force"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        import time
        deadline = time.monotonic() + 20
        locked = False
        while time.monotonic() < deadline and p.poll() is None:
            c = sqlite3.connect(db, timeout=0, isolation_level=None)
            try:
                c.execute("BEGIN IMMEDIATE")
                c.execute("ROLLBACK")
            except sqlite3.OperationalError:
                locked = True
                break
            finally:
                c.close()
            time.sleep(0.05)
        assert locked, "the import never held the write lock while reading"
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    from usermap.store.store import Store
    with Store.open(db) as s:
        assert list(s.links()["aloware_user_id"]) == ["zz1"]


# === 5. manual links: no placeholders, no typos ==============================================
def test_map_strips_ids_and_refuses_empty_ones_and_placeholders(site):
    from usermap.store.store import Store
    db = site / "s.db"
    before = tree(site)
    for a, o in (("  ", "5"), ("7", "\t"), ("OWNER_ID", "5"), ("7", "OWNER_ID"),
                 ("ALOWARE_ID", "5"), ("<ALOWARE_ID>", "5"), ("7", "{hubspot_owner_id}")):
        code, _, err = run_cli("map", a, o, "--store", db)
        assert code == 2, (a, o, err)
    assert tree(site) == before
    code, out, err = run_cli("map", " new-user ", " new-owner\n", "--store", db)
    assert code == 0, err
    assert "nothing was checked" in out
    with Store.open(db) as s:
        link = s.link("new-user")
    assert link is not None and link["hubspot_owner_id"] == "new-owner"


def test_map_checks_ids_against_a_snapshot(site):
    db = site / "s.db"
    before = tree(site)
    code, _, err = run_cli("map", "no-such-user", "1", "--store", db, "--snapshot", site / "snap")
    assert code == 2 and "no-such-user" in err and str(site / "snap") in err, err
    assert tree(site) == before


def test_map_uses_the_newest_run_snapshot_of_the_config(site):
    db = site / "s.db"
    old = site / "runs" / "20261101T000000Z-aaaa" / "snapshot"
    new = site / "runs" / "20261102T000000Z-bbbb" / "snapshot"
    shutil.copytree(site / "snap", old)
    shutil.copytree(site / "snap", new)
    before = tree(site)
    code, _, err = run_cli("map", "no-such-user", "1", "--store", db, "--config",
                           site / "usermap.toml")
    assert code == 2 and "no-such-user" in err and str(new) in err, err
    assert tree(site) == before


# === 6. a damaged store ======================================================================
def _damaged(site, how: str) -> Path:
    db = site / "s.db"
    if how == "not sqlite":
        db.write_bytes(b"this is my shopping list\n" * 200)
    elif how == "malformed pages":
        from usermap.sources.snapshot import read_mappings_csv
        from usermap.store.store import Store
        db.unlink()
        links = read_mappings_csv(site / "mappings.csv")
        big = links.loc[links.index.repeat(1)].copy()
        n = 4000
        import pandas as pd
        big = pd.DataFrame({"aloware_user_id": [f"u{i:05d}" for i in range(n)],
                            "hubspot_owner_id": [f"o{i:05d}" for i in range(n)],
                            "aloware_email": [f"user{i}@example.com" for i in range(n)],
                            "hubspot_email": [f"user{i}@example.com" for i in range(n)],
                            "method": "email", "mapped_at": ""})
        with Store.open(db, create=True) as s:
            s.import_links(big, now=NOW)
        with sqlite3.connect(db) as c:
            page = c.execute("PRAGMA page_size").fetchone()[0]
            first = c.execute("SELECT min(rootpage) FROM sqlite_master WHERE tbl_name='links'"
                              ).fetchone()[0]
        with open(db, "r+b") as f:       # garbage over pages in the middle: the links' B-trees
            for k in range(first + 4, first + 40):
                f.seek(k * page)
                f.write(os.urandom(page))
    elif how in ("revision", "schema_version"):
        c = sqlite3.connect(db)
        c.execute("UPDATE meta SET value='12a' WHERE key=?", (how,))
        c.commit()
        c.close()
    return db


DAMAGE = ["not sqlite", "malformed pages", "revision", "schema_version"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_store_exits_2_naming_it_and_stays_as_it_was(site, how):
    db = _damaged(site, how)
    raw = db.read_bytes()
    snap = site / "snap"
    # (a damaged page is found when a command reads it: `runs`, `map` and `unmap` may touch
    # only intact pages of a store whose links are damaged, so they are tried on the others)
    per_link = () if how == "malformed pages" else (("runs", "--store", db),
                                                    ("map", "1", "2", "--store", db),
                                                    ("unmap", "u00001", "--store", db))
    for args in per_link + (
                 ("audit", snap, "--store", db, "--out", site / "a"),
                 ("plan", snap, "--store", db, "--out", site / "p.json"),
                 ("mappings", "export", "--store", db, site / "m.csv"),
                 ("mappings", "import", site / "mappings.csv", "--store", db)):
        code, out, err = run_cli(*args)
        assert code == 2, (how, args, out, err)
        assert str(db) in err and "unexpected" not in err and "rollback" not in err, err
        want = {"not sqlite": "SQLite", "malformed pages": "damaged",
                "revision": "revision", "schema_version": "schema_version"}[how]
        assert want in err, (how, err)
        assert db.read_bytes() == raw, (how, args)
    assert not (site / "a").exists() and not (site / "p.json").exists()
    assert not (site / "m.csv").exists()


def _as_unprivileged(args):
    """The command as a process that file permissions apply to (root drops its capabilities
    to bypass them: setpriv)."""
    cmd = USERMAP + [str(a) for a in args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: permissions cannot be tested")
        cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_store_exits_2_naming_it(site, what):
    db = site / "s.db"
    raw = db.read_bytes()
    target = db if what == "file" else site
    mode = target.stat().st_mode
    target.chmod(0o444 if what == "file" else 0o555)
    try:
        p = _as_unprivileged(["map", "1", "2", "--store", db])
        r = _as_unprivileged(["runs", "--store", db])          # reading is fine
    finally:
        target.chmod(mode)
    assert p.returncode == 2, p.stderr
    assert str(db) in p.stderr and ("read-only" in p.stderr or "permissions" in p.stderr)
    assert "busy" not in p.stderr and "rollback" not in p.stderr
    assert r.returncode == 0, r.stderr
    assert db.read_bytes() == raw


def test_a_full_disk_exits_1_naming_the_store(tmp_path):
    """A 256 KB tmpfs holding the store and a file that fills the rest (root only)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    disk = tmp_path / "disk"
    disk.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
                       capture_output=True, text=True, timeout=20)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {m.stderr.strip()}")
    try:
        db = new_store(disk / "s.db")
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        raw = db.read_bytes()
        code, out, err = run_cli("map", "1", "2", "--store", db)
        assert code == 1, (out, err)
        assert str(db) in err and "disk is full" in err, err
        assert "unexpected" not in err and "rollback" not in err
        assert db.read_bytes() == raw
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=20)
