"""Issue 19 item 9: two processes opening an older-schema store at the same moment both
succeed, and the store is migrated once: the version is read again inside the migration's
write transaction (BEGIN IMMEDIATE). Real SQLite files, real processes (forked after usermap
is imported, each opening the store with its own connection, as `usermap` commands do),
started together on a shared signal."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from usermap.store.schema import MIGRATIONS, SCHEMA_VERSION

# One interpreter imports usermap once, then for each store forks two children that wait for a
# shared signal and open it at the same moment: two real processes, each with its own SQLite
# connection, as two `usermap` commands would be (importing usermap in each child instead cost a
# second of CPU per process and told nothing more).
RACE = """
import os, sys, time, traceback
from pathlib import Path
from usermap.store.store import Store
kw = {"create": True} if sys.argv[1] == "create" else {}
for db in sys.argv[2:]:
    go, pids = Path(db + ".go"), []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                Path(f"{db}.ready{k}").touch()
                while not go.exists():    # both see it within half a millisecond
                    time.sleep(0.0005)
                with Store.open(db, **kw) as s:
                    out = f"{s.schema_version} {s.revision} {s.store_id} {s.count()}"
                Path(f"{db}.out{k}").write_text(out)
                code = 0
            except BaseException:
                Path(f"{db}.err{k}").write_text(traceback.format_exc())
            finally:
                os._exit(code)
        pids.append(pid)
    deadline = time.monotonic() + 60
    while not all(Path(f"{db}.ready{k}").exists() for k in range(2)):
        assert time.monotonic() < deadline, "the processes did not start"
        time.sleep(0.001)
    go.touch()
    print(db, *(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids), flush=True)
"""


def _race(dbs: list[Path], create: bool = False) -> list[set[str]]:
    """For each store: what the two processes that opened it at once printed (a set: one
    element when both saw the same store)."""
    p = subprocess.run([sys.executable, "-c", RACE, "create" if create else "open",
                        *map(str, dbs)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [x for db in dbs for x in (str(db), "0", "0")], (
        p.stdout, [Path(f"{db}.err{k}").read_text() for db in dbs for k in range(2)
                   if Path(f"{db}.err{k}").exists()])
    return [{Path(f"{db}.out{k}").read_text() for k in range(2)} for db in dbs]


def old_store(path: Path, version: int) -> None:
    """A store at schema ``version`` holding two links and revision 3."""
    c = sqlite3.connect(path)
    for m in MIGRATIONS[:version]:
        c.executescript(m)
    c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
    c.execute("UPDATE meta SET value='3' WHERE key='revision'")
    for i in (1, 2):
        c.execute("INSERT INTO links (aloware_user_id, hubspot_owner_id, method, mapped_at, "
                  "updated_at) VALUES (?, ?, 'email', 'x', 'x')", (f"u{i}", f"o{i}"))
    c.commit()
    c.close()


@pytest.mark.parametrize("version", [1, 3, 4, 5])
def test_two_processes_open_an_older_store_at_once(tmp_path, version):
    dbs = [tmp_path / f"s{attempt}.db" for attempt in range(3)]     # three races per schema
    for db in dbs:
        old_store(db, version)
    for got in _race(dbs):
        assert len(got) == 1, got        # the same store id: migrated once
        schema, revision, _, links = got.pop().split()
        assert (int(schema), int(revision), int(links)) == (SCHEMA_VERSION, 3, 2)


def test_a_store_made_by_one_process_while_another_opens_it(tmp_path):
    """`mappings import --create` style: one process makes the store while another opens the
    fresh file; both end with one schema-6 store."""
    for got in _race([tmp_path / f"n{attempt}.db" for attempt in range(3)], create=True):
        assert len(got) == 1, got
