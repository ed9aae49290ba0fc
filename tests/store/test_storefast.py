"""The fast import of issue 12: the pyarrow path for big mappings CSVs (sources/csvfast.py), the
first import into the bare links table (store_import.py), schema 6 (the links' named unique
indexes) and the page size of new stores. Each fast path must give exactly what the usual one
gives, and every error must stay the usual one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from test_cli import usermap
from usermap.errors import InputError, StoreConflictError
from usermap.engine.models import LINK_COLUMNS
from usermap.sources.csv import fast as csvfast
from usermap.sources import snapshot
from usermap.store.store import Store
from usermap.store.schema import SCHEMA_VERSION
from usermap.store.journal import _dump
from usermap.store.schema import LINK_INDEXES, MIGRATIONS, PAGE_SIZE

pytestmark = pytest.mark.issue(12)  # the issue that asked for these tests

NOW = "2026-01-02T00:00:00Z"
MAP = "aloware_user_id,hubspot_owner_id,aloware_email,hubspot_email,method,mapped_at\n"


def rows(n: int, method="email", at="2026-01-01T00:00:00Z") -> list[str]:
    return [f"{100000 + i},{9000000 + i},u{i}@example.com,u{i}@example.com,{method},{at}\n"
            for i in range(n)]


def exact(path: Path, monkeypatch) -> pd.DataFrame:
    """read_mappings_csv the usual way (the exact engine: no fast path)."""
    return snapshot.read_mappings_csv(path, engine="exact")


def write(tmp_path, text: str, name="links.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8"))
    return p


# --- the CSV fast path ------------------------------------------------------------------------
VALID = {
    "plain": MAP + "".join(rows(50)),
    "methods in any case, empty": MAP + "".join(rows(5, "Manual") + rows(5, "") + rows(3, "EMAIL")
                                                ).replace("1000000,", "2000000,"),
    "times empty and various": MAP + "".join(rows(3, at="") + rows(2, at="2026-01-01 10:00:00")
                                             ).replace(",9000000,", ",8000000,"),
    "no final newline, blank lines": MAP + "\n" + "".join(rows(4)) + "\n" + "".join(rows(1)
                                                                                   ).rstrip("\n"),
    "NA and null are strings": MAP + "1,2,NA,null,email,\n3,4,nan,NULL,manual,\n",
    "empty e-mails": MAP + "1,2,,,email,\n",
}


def unique_ids(text: str) -> str:
    """Make every row's ids distinct (the VALID texts reuse rows())."""
    out, k = [], 0
    for line in text.split("\n"):
        if line and not line.startswith("aloware_user_id"):
            f = line.split(",")
            f[0], f[1], k = f"{k}a", f"{k}o", k + 1
            line = ",".join(f)
        out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("name", sorted(VALID))
def test_fast_path_gives_the_frame_of_the_usual_path(tmp_path, monkeypatch, name):
    p = write(tmp_path, unique_ids(VALID[name]))
    fast = csvfast.read_mappings_fast(p, min_bytes=0)
    assert fast is not None
    pd.testing.assert_frame_equal(fast, exact(p, monkeypatch), check_dtype=True,
                                  check_index_type=True, check_column_type=True)


@pytest.mark.parametrize("text", [
    MAP + '1,2,"a@x",b,email,\n',                  # quotes
    MAP + "1,2,a@x ,b,email,\n",                   # a value strip() would change
    MAP + " 1,2,a,b,email,\n",
    MAP + "1,2,a,b,email,\n1,3,a,b,email,\n",      # a user twice
    MAP + "1,2,a,b,email,\n4,2,a,b,email,\n",      # an owner twice
    MAP + ",2,a,b,email,\n",                       # an empty id
    MAP + "1,2,a,b,robot,\n",                      # an unknown method
    MAP + "1,2,a,b,email,yesterday\n",             # not a time
    MAP + "1,2,a,b,email\n",                       # a short row
    MAP + "1,2,a,b,email,,x\n",                    # a long row
    MAP + "1,2,ä,b,email,\n",                      # not ASCII
    MAP.replace("\n", "\r\n") + "1,2,a,b,email,\r\n",
    MAP + "1,2,a\tb,b,email,\n",
    MAP + "1,2,a\x1fb,b,email,\n",                 # a control character
    MAP.replace(",mapped_at", ",mapped_at,notes") + "1,2,a,b,email,,n\n",   # another header
    MAP.replace("method,mapped_at", "mapped_at,method") + "1,2,a,b,,email\n",
    MAP,                                           # no rows
])
def test_fast_path_declines_what_it_cannot_prove(tmp_path, text):
    assert csvfast.read_mappings_fast(write(tmp_path, text), min_bytes=0) is None


def test_small_files_take_the_usual_path(tmp_path):
    p = write(tmp_path, MAP + "".join(rows(10)))
    assert csvfast.read_mappings_fast(p) is None
    assert csvfast.read_mappings_fast(p, min_bytes=0) is not None


@pytest.mark.parametrize("bad, column, needle", [
    ("100007,9000007,u7@example.com,u7@example.com,robot,", "method", "unknown value"),
    ("100007,9000003,u7@example.com,u7@example.com,email,", "hubspot_owner_id", "twice"),
    ("100007,9000007,u7@example.com,u7@example.com,email,later", "mapped_at", "ISO 8601"),
    (",9000007,u7@example.com,u7@example.com,email,", "aloware_user_id", "empty"),
    ("100007,9000007,u7@example.com,u7@example.com", "method", "short"),
])
def test_import_of_a_big_csv_with_a_bad_row_exits_2_naming_it_and_changes_nothing(
        tmp_path, bad, column, needle):
    """A file big enough for the fast path (> 1 MB): a bad row at line 9 still exits 2 naming
    the file, the row and the column, like before; the store is neither changed nor created."""
    lines = rows(30_000)
    lines[7] = bad + "\n"                     # data row 8: line 9 of the file
    csv = write(tmp_path, MAP + "".join(lines))
    assert csv.stat().st_size > csvfast.FAST_MIN_BYTES
    db = tmp_path / "s.db"
    r = usermap("mappings", "import", csv, "--store", db, "--create")
    assert r.returncode == 2, r.stderr
    assert db.exists() is False
    assert str(csv) in r.stderr and "9" in r.stderr and column in r.stderr, r.stderr
    assert needle in r.stderr, r.stderr
    e = None
    try:
        snapshot.read_mappings_csv(csv)
    except InputError as err:
        e = err
    assert e is not None and (e.row, e.column) == (9, column), e
    good = write(tmp_path, MAP + "".join(rows(20)), "good.csv")
    assert usermap("mappings", "import", good, "--store", db, "--create").returncode == 0
    before = db.read_bytes()
    assert usermap("mappings", "import", csv, "--store", db, "--force").returncode == 2
    assert db.read_bytes() == before


def test_big_import_through_the_cli_is_the_file(tmp_path):
    csv = write(tmp_path, MAP + "".join(rows(30_000, method="Manual", at="")))
    db = tmp_path / "s.db"
    r = usermap("mappings", "import", csv, "--store", db, "--create")
    assert r.returncode == 0, r.stderr
    with Store.open(db) as s:
        links = s.links()
    assert len(links) == 30_000 and set(links["method"]) == {"manual"}
    assert (links["mapped_at"] == links["updated_at"]).all()


# --- the first import, schema 6 ---------------------------------------------------------------
def test_first_import_journal_is_that_of_every_link(tmp_path):
    """SQLite writes a first import's journal from the links: the same rows (id order) and the
    same JSON text as the Python path (_dump) would."""
    csv = write(tmp_path, unique_ids(MAP + "".join(rows(300) + rows(5, "manual", ""))))
    links = snapshot.read_mappings_csv(csv)
    with Store.open(tmp_path / "s.db", create=True) as s:
        run_id, counts = s.import_links(links.sample(frac=1, random_state=3), now=NOW)
        assert counts["add"] == len(links)
        stored = s.links()
        j = s.journal(run_id)
    assert list(j["aloware_user_id"]) == sorted(links["aloware_user_id"])
    assert list(stored["aloware_user_id"]) == sorted(links["aloware_user_id"])
    expect = [_dump(dict(zip(LINK_COLUMNS, r))) for r in stored[list(LINK_COLUMNS)].itertuples(
        index=False)]
    assert list(j["after"]) == expect
    assert j["before"].isna().all() and set(j["action"]) == {"add"}
    assert set(j["reason"]) == {"import"} and set(j["revision"]) == {1}


def indexes(db) -> set[str]:
    with sqlite3.connect(db) as c:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index' "
                                        "AND tbl_name='links'")}


def test_first_import_with_an_owner_twice_fails_and_leaves_the_indexes(tmp_path):
    """The CSV reader refuses repeats; a frame handed to the store directly is refused by the
    index build with the old message, and the store keeps its indexes."""
    db = tmp_path / "s.db"
    links = pd.DataFrame({"aloware_user_id": ["1", "2"], "hubspot_owner_id": ["10", "10"],
                          "aloware_email": "", "hubspot_email": "", "method": "email",
                          "mapped_at": ""})
    with Store.open(db, create=True) as s:
        with pytest.raises(StoreConflictError, match="UNIQUE constraint failed: "
                                                     "links.hubspot_owner_id; nothing"):
            s.import_links(links, now=NOW)
        assert s.count() == 0 and s.revision == 0 and s.runs() == []
    assert indexes(db) == set(LINK_INDEXES)
    with Store.open(db) as s:
        s.map("1", "10", now=NOW)
        with pytest.raises(InputError, match="already linked"):
            s.map("2", "10", now=NOW)
        with pytest.raises(sqlite3.IntegrityError):  # the index itself, not only the check
            s.conn.execute("INSERT INTO links VALUES ('3','10','','','email',?,?)", (NOW, NOW))


def test_version_5_store_migrates_to_named_unique_indexes(tmp_path):
    db = tmp_path / "v5.db"
    c = sqlite3.connect(db)
    for m in MIGRATIONS[:5]:
        c.executescript(m)
    c.execute("INSERT INTO meta VALUES ('schema_version', '5')")
    c.executemany("INSERT INTO links VALUES (?,?,?,?,?,?,?)",
                  [(u, o, "a@x", "", "email", NOW, NOW) for u, o in (("2", "20"), ("1", "10"))])
    c.commit()
    c.close()
    with Store.open(db) as s:
        assert s.schema_version == SCHEMA_VERSION == 7
        assert list(s.links()["aloware_user_id"]) == ["1", "2"]
        assert s.link("2")["hubspot_owner_id"] == "20"
        with pytest.raises(sqlite3.IntegrityError, match="links.aloware_user_id"):
            s.conn.execute("INSERT INTO links VALUES ('1','30','','','email',?,?)", (NOW, NOW))
    assert indexes(db) == set(LINK_INDEXES)
    with sqlite3.connect(db) as c:   # an old file keeps its page size
        assert c.execute("PRAGMA page_size").fetchone()[0] == 4096


def test_a_new_store_has_16k_pages(tmp_path):
    with Store.open(tmp_path / "s.db", create=True):
        pass
    with sqlite3.connect(tmp_path / "s.db") as c:
        assert c.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384


def test_later_import_journal_unchanged(tmp_path):
    """An import into a store with links still journals through Python (removes, updates,
    adds), in that order, with the before and after of each."""
    csv = write(tmp_path, unique_ids(MAP + "".join(rows(6))))
    links = snapshot.read_mappings_csv(csv)
    with Store.open(tmp_path / "s.db", create=True) as s:
        s.import_links(links, now=NOW)
        changed = links.iloc[1:].copy()
        changed.loc[2, "hubspot_owner_id"] = "new"
        changed = pd.concat([changed, pd.DataFrame([{**changed.iloc[0].to_dict(),
                                                     "aloware_user_id": "zz",
                                                     "hubspot_owner_id": "zo"}])])
        run_id, counts = s.import_links(changed, now="2026-01-03T00:00:00Z")
        j = s.journal(run_id)
    assert counts == {"add": 1, "update": 1, "remove": 1}
    assert list(j["action"]) == ["remove", "update", "add"]
    assert json.loads(j.loc[1, "before"])["hubspot_owner_id"] == "2o"
    assert json.loads(j.loc[1, "after"])["hubspot_owner_id"] == "new"


# --- Store.links(): one joined string per column ------------------------------------------------
def plain_links(store) -> pd.DataFrame:
    """Store.links() the plain way (fetchall), whatever pandas infers."""
    from usermap.store import read as store_read
    real = store_read._joined
    store_read._joined = lambda conn, dtype: None      # "cannot be trusted": the plain way
    try:
        return store.links()
    finally:
        store_read._joined = real


@pytest.mark.parametrize("infer", [True, False])
@pytest.mark.parametrize("values", [
    ["plain"],
    ["", "ünï", "日本", "a b ", "x,y", "q\"uote", "emoji 🎉"],
    ["sep\x1finside"],          # the separator in a value: the plain way
])
def test_links_frame_is_the_plain_frame(tmp_path, values, infer):
    """The links come joined per column through pyarrow, as Arrow strings (pandas' string
    inference: the library) or object columns of shared strings (the command): the same frame
    as fetchall either way."""
    import random
    rnd = random.Random(5)
    ids = [f"{rnd.randrange(10**6)}-{i}" for i in range(400)] + ["Z", "a", "ä", "10", "9"]
    db = tmp_path / "s.db"
    with Store.open(db, create=True) as s:
        assert s.links().equals(plain_links(s))                       # empty
        s.conn.executemany("INSERT INTO links VALUES (?,?,?,?,?,?,?)",
                           [(u, f"o{k}", values[k % len(values)], values[(k + 1) % len(values)],
                             "email", NOW, NOW) for k, u in enumerate(ids)])  # not in id order
        s.conn.execute("DELETE FROM links WHERE aloware_user_id IN ('Z', '10')")
        with pd.option_context("future.infer_string", infer):
            fast, plain = s.links(), plain_links(s)
    assert (str(fast.dtypes.iloc[0]) == "str") is infer
    pd.testing.assert_frame_equal(fast, plain, check_dtype=True, check_index_type=True,
                                  check_column_type=True)
    assert list(fast["aloware_user_id"]) == sorted(set(ids) - {"Z", "10"})
    assert len(fast) == len(ids) - 2


# --- start-up of a small command ---------------------------------------------------------------
def test_a_command_loads_no_package_metadata_nor_toml_parser_and_leaves_the_gc(tmp_path):
    """`--version` alone looks the package metadata up (importlib.metadata: 15-20 ms); the TOML
    parser loads only with a config file; cli.main leaves the GC as it found it (freezing it is
    the console script's, usermap/launch.py)."""
    import subprocess
    import sys
    probe = ("import gc, sys\n"
             "pre = {m for m in ('importlib.metadata', 'tomllib') if m in sys.modules}\n"
             "from usermap.cli import main\n"
             "code = main(['init', '--store', sys.argv[1]])\n"
             "loaded = [m for m in ('importlib.metadata', 'tomllib')\n"
             "          if m in sys.modules and m not in pre]\n"
             "print(code, loaded, gc.get_freeze_count() > 0, gc.isenabled())\n")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "s.db")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 [] False True"


def test_the_commands_links_share_one_string_per_repeated_value(tmp_path):
    """Object columns (the command) hold one string object per distinct method and time."""
    db = tmp_path / "s.db"
    with Store.open(db, create=True) as s:
        s.conn.execute("BEGIN")   # (one transaction: not 3,000 synchronous commits)
        s.conn.executemany("INSERT INTO links VALUES (?,?,?,?,?,?,?)",
                           [(f"u{i}", f"o{i}", f"a{i}@x.io", f"h{i}@x.io",
                             "manual" if i % 7 == 0 else "email", NOW, NOW)
                            for i in range(3000)])
        s.conn.execute("COMMIT")
        with pd.option_context("future.infer_string", False):
            fast, plain = s.links(), plain_links(s)
    pd.testing.assert_frame_equal(fast, plain, check_dtype=True)
    assert len({id(v) for v in fast["method"]}) == 2
    assert len({id(v) for v in fast["mapped_at"]}) == 1
    assert len({id(v) for v in fast["aloware_user_id"]}) == 3000
