"""Issue 19 item 9: two processes opening an older-schema store at the same moment both
succeed, and the store is migrated once: the version is read again inside the migration's
write transaction (BEGIN IMMEDIATE). Real SQLite files, real processes (`usermap runs` and
`usermap audit`-like opens through the CLI), started together on a shared signal."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from usermap.store.schema import MIGRATIONS, SCHEMA_VERSION

OPEN = """
import os, sys, time
from pathlib import Path
from usermap.store.store import Store
go = Path(sys.argv[2])
Path(sys.argv[2] + f".ready{os.getpid()}").touch()
while not go.exists():        # both see it within half a millisecond, without burning a core
    time.sleep(0.0005)
with Store.open(sys.argv[1]) as s:
    print(s.schema_version, s.revision, s.store_id, s.count())
"""


def _ready(go: Path, n: int) -> None:
    t0 = time.monotonic()
    while len(list(go.parent.glob(go.name + ".ready*"))) < n:
        assert time.monotonic() - t0 < 60, "the processes did not start"
        time.sleep(0.01)


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
    for attempt in range(3):             # three races per schema
        db, go = tmp_path / f"s{attempt}.db", tmp_path / f"go{attempt}"
        old_store(db, version)
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(db), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        _ready(go, 2)                    # both have imported usermap and spin on the signal
        go.touch()
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        got = {out.strip() for out, _ in outs}
        assert len(got) == 1, got        # the same store id: migrated once
        schema, revision, _, links = got.pop().split()
        assert (int(schema), int(revision), int(links)) == (SCHEMA_VERSION, 3, 2)


def test_a_store_made_by_one_process_while_another_opens_it(tmp_path):
    """`mappings import --create` style: one process makes the store while another opens the
    fresh file; both end with one schema-6 store."""
    code = OPEN.replace("Store.open(sys.argv[1])", "Store.open(sys.argv[1], create=True)")
    for attempt in range(3):
        db, go = tmp_path / f"n{attempt}.db", tmp_path / f"gn{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(db), str(go)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        _ready(go, 2)
        go.touch()
        outs = [p.communicate(timeout=60) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        assert len({out.strip() for out, _ in outs}) == 1
