"""Crashes and concurrency: `usermap apply` killed with SIGKILL mid-transaction, and two applies
at once (issue 6). Real processes on real SQLite files.

The store is always exactly the state before or after a whole apply, and its journal agrees with
its links: replaying the journal from an empty store gives exactly the links, each change's
`before` is what the replay held at that moment, and the revision equals the number of runs.

A kill once a transaction has begun hits a `usermap` process forked from the worker's warm
server (tests/forkcli.py): a process of its own, killed in its transaction as the console script
would be. Kills during start-up, and the two applies at once, run the console script.

Bounded: a fixed number of kill points (seeded), every wait has a deadline, and the whole file
runs in well under a minute.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import forkcli
from test_cli import usermap

pytestmark = pytest.mark.slow   # ~35 s for the file: real processes, killed and timed

HOOK = "USERMAP_TEST_APPLY_HOOK"
SLEEP = 0.0015           # per change inside the transaction: ~800 changes -> ~1.2 s
KILL_POINTS = 6          # seeded offsets after the transaction starts
EARLY_KILLS = 2          # plus kills at seeded times before the transaction can start
SEED = 20261124
DEADLINE = 20.0          # no single wait in this file lasts longer
KEY_FIELDS = ("aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method")


# --- reading a store file as it is (plain sqlite3: a hot journal is rolled back on open) -------
def links_of(db) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT aloware_user_id, hubspot_owner_id, aloware_email, "
                         "hubspot_email, method, mapped_at, updated_at FROM links "
                         "ORDER BY aloware_user_id").fetchall()


def key_links(links) -> list[tuple]:
    """Links without their timestamps (an apply stamps the time it ran)."""
    return [row[:5] for row in links]


def store_facts(db) -> dict:
    with sqlite3.connect(db) as c:
        return {
            "integrity": c.execute("PRAGMA integrity_check").fetchone()[0],
            "revision": int(c.execute("SELECT value FROM meta WHERE key='revision'"
                                      ).fetchone()[0]),
            "runs": c.execute("SELECT run_id, kind, changes, revision_before, revision_after "
                              "FROM runs ORDER BY revision_after").fetchall(),
            "journal": c.execute("SELECT seq, run_id, revision, action, aloware_user_id, "
                                 "hubspot_owner_id, before, after FROM journal ORDER BY seq"
                                 ).fetchall(),
        }


def assert_journal_agrees(db) -> None:
    """Replaying the journal from an empty store gives exactly the links (all columns), every
    change's `before` is what the replay held, and revision = runs = distinct journal runs."""
    facts = store_facts(db)
    assert facts["integrity"] == "ok"
    state: dict[str, dict] = {}
    for seq, run_id, rev, action, user, owner, before, after in facts["journal"]:
        b = json.loads(before) if before else None
        a = json.loads(after) if after else None
        held = state.get(user)
        if action == "add":
            assert held is None and b is None and a is not None, seq
        else:
            assert held == b, f"journal row {seq}: before is not what the store held"
        if action == "remove":
            assert a is None, seq
            del state[user]
        else:
            state[user] = a
    cols = ("aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method",
            "mapped_at", "updated_at")
    replayed = sorted(tuple(link[c] for c in cols) for link in state.values())
    assert replayed == links_of(db)
    runs = facts["runs"]
    assert facts["revision"] == len(runs)
    assert [r[4] for r in runs] == list(range(1, len(runs) + 1))        # one step per run
    per_run: dict[str, int] = {}
    for row in facts["journal"]:
        per_run[row[1]] = per_run.get(row[1], 0) + 1
    assert per_run == {r[0]: r[2] for r in runs if r[2]}                 # changes counted
    revs = {r[0]: r[4] for r in runs}
    assert all(revs[row[1]] == row[2] for row in facts["journal"])       # journal revision


# --- a large world, its store and its plan (built once for the module) ------------------------
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 2000-user world; a store holding its links (revision 1); a plan of ~800 changes; and the
    store after applying that plan once (the expected 'after'), with how long that took."""
    from usermap.sandbox.scenarios import generate, write_world
    d = tmp_path_factory.mktemp("crash")
    world = generate(2000, seed=11)
    write_world(world, d / "snap")
    base = d / "base.db"
    r = usermap("mappings", "import", "--create", d / "snap" / "mappings.csv", "--store", base)
    assert r.returncode == 0, r.stderr
    r = usermap("plan", d / "snap", "--store", base, "--out", d / "plan.json", "--force")
    assert r.returncode == 0, r.stderr
    n_changes = len(json.loads((d / "plan.json").read_text())["changes"])
    assert n_changes >= 300
    after = d / "after.db"
    shutil.copy(base, after)
    # the reference apply, timed from its first write (journal appears) to its commit (gone)
    journal_file = after.with_name(after.name + "-journal")
    proc = spawn_apply(d / "plan.json", after, f"sleep:{SLEEP}", forked=True)
    try:
        assert wait_for(journal_file, proc, DEADLINE)
        t0 = time.monotonic()
        assert wait_for_gone(journal_file, DEADLINE)
        tx = time.monotonic() - t0
    except BaseException:
        kill(proc)          # never leave the worker's fork server waiting on it
        raise
    code, err = finish(proc)
    assert code == 0, err
    assert_journal_agrees(base)
    assert_journal_agrees(after)
    return {"dir": d, "base": base, "plan": d / "plan.json", "n": n_changes,
            "before": links_of(base), "after": links_of(after), "tx": tx}


def spawn_apply(plan, db, hook: str, *, forked: bool = False):
    """`usermap apply PLAN --yes` with the per-change hook. ``forked``: a child of the worker's
    warm fork server (tests/forkcli.py), for kills once its transaction has begun; else the
    console script, for kills during its start-up and for two applies at once."""
    env = {**os.environ, HOOK: hook}
    argv = ["apply", str(plan), "--store", str(db), "--yes"]
    if forked:
        return forkcli.start(argv, env=env)
    return subprocess.Popen([sys.executable, "-m", "usermap.launch", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc) -> tuple[int, str]:
    """(exit code, standard error) of an apply, once it has ended."""
    if isinstance(proc, subprocess.Popen):
        _, err = proc.communicate(timeout=DEADLINE)
        return proc.returncode, err
    r = proc.wait(DEADLINE)
    return r.returncode, r.stderr


def wait_for(path: Path, proc, deadline: float) -> bool:
    """Poll until ``path`` exists (the rollback journal: the transaction has begun writing)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    return False


def wait_for_gone(path: Path, deadline: float) -> bool:
    """Poll until ``path`` is gone (the rollback journal is deleted when the commit is done)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not path.exists():
            return True
        time.sleep(0.0005)
    return False


def kill(proc) -> None:
    """SIGKILL unless it has ended, then reap it. A forked child may already be reaped by its
    server (its exit line not yet read): the kill then finds no process, which is fine."""
    try:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        finish(proc)


def classify(db, big) -> str:
    links = links_of(db)
    facts = store_facts(db)
    if links == big["before"]:
        assert facts["revision"] == 1 and len(facts["runs"]) == 1
        return "before"
    assert key_links(links) == key_links(big["after"]), "the store is neither before nor after"
    assert facts["revision"] == 2 and len(facts["runs"]) == 2
    assert facts["runs"][1][2] == big["n"]
    return "after"


def test_sigkill_during_apply_leaves_the_store_before_or_after(big, tmp_path):
    rng = random.Random(SEED)
    # seeded offsets after the transaction starts, spread over (and a little past) its length
    offsets = sorted(rng.uniform(0.0, 1.1) for _ in range(KILL_POINTS))
    early = [rng.uniform(0.0, 0.25) for _ in range(EARLY_KILLS)]  # seconds after spawn
    points = ([("tx", f) for f in offsets] + [("spawn", s) for s in early]
              + [("commit", 0.0)])                 # the moment the commit is done, before exit
    outcomes = []
    t_start = time.monotonic()
    for i, when in enumerate(points):
        db = tmp_path / f"s{i}.db"
        shutil.copy(big["base"], db)
        journal_file = db.with_name(db.name + "-journal")
        proc = spawn_apply(big["plan"], db, f"sleep:{SLEEP}", forked=when[0] != "spawn")
        try:
            if when[0] == "spawn":
                time.sleep(when[1])
            else:
                assert wait_for(journal_file, proc, DEADLINE), "the apply never began writing"
                if when[0] == "tx":
                    time.sleep(when[1] * big["tx"])
                else:
                    assert wait_for_gone(journal_file, DEADLINE)
            finished_first = proc.poll() is not None
        finally:
            kill(proc)
        mid_tx = journal_file.exists()       # killed inside the transaction: a journal is left
        state = classify(db, big)           # opening rolls a hot journal back
        assert not (mid_tx and state == "after")
        assert_journal_agrees(db)
        outcomes.append((when[0], round(when[1], 3), mid_tx, finished_first, state))
        if state == "before" and i % 3 == 0:
            # the store is whole and usable: the same plan still applies, to exactly 'after'
            r = usermap("apply", big["plan"], "--store", db, "--yes")
            assert r.returncode == 0, r.stderr
            assert classify(db, big) == "after"
            assert_journal_agrees(db)
        assert time.monotonic() - t_start < 90, outcomes
    print("kill points (when, offset, mid-transaction, exited first, state):", *outcomes,
          sep="\n  ")
    inside = sum(1 for o in outcomes if o[2])
    assert inside >= KILL_POINTS // 2, outcomes   # most kills really landed mid-transaction
    assert any(o[4] == "before" for o in outcomes)
    assert outcomes[-1][4] == "after"             # killed right after its commit: all kept


def test_sigkill_during_import_leaves_the_store_before_or_after(big, tmp_path):
    """`mappings import` is the other bulk writer: kill it while it writes (no hook there, so
    kill as soon as its journal appears and a few ms later)."""
    from usermap.sandbox.scenarios import generate, write_world
    other = generate(2000, seed=12)
    write_world(other, tmp_path / "w")
    rng = random.Random(SEED + 1)
    for i in range(3):
        db = tmp_path / f"i{i}.db"
        shutil.copy(big["base"], db)
        before = links_of(db)
        proc = forkcli.start(["mappings", "import", tmp_path / "w" / "mappings.csv", "--store",
                              db, "--force"])
        try:
            wait_for(db.with_name(db.name + "-journal"), proc, DEADLINE)
            time.sleep(rng.uniform(0.0, 0.01))
        finally:
            kill(proc)
        links = links_of(db)
        if links != before:
            assert len(links) == len(other.links) and store_facts(db)["revision"] == 2
        assert_journal_agrees(db)


def test_sigkill_during_a_first_import_leaves_an_empty_store_with_its_indexes(tmp_path):
    """A first import drops the links' unique indexes, inserts, builds them again, all in its
    transaction (store_import.insert_first): killed at any point, the store is empty with both
    indexes, or holds every link."""
    csv = tmp_path / "links.csv"
    with open(csv, "w") as f:
        f.write("aloware_user_id,hubspot_owner_id,aloware_email,hubspot_email,method,mapped_at\n")
        f.writelines(f"{i},{9000000 + i},u{i}@x.com,u{i}@x.com,email,\n" for i in range(200_000))
    rng = random.Random(SEED + 2)
    for i in range(4):
        db = tmp_path / f"f{i}.db"
        assert usermap("init", "--store", db).returncode == 0
        proc = forkcli.start(["mappings", "import", csv, "--store", db])
        try:
            wait_for(db.with_name(db.name + "-journal"), proc, DEADLINE)
            time.sleep(rng.uniform(0.0, 0.8))
        finally:
            kill(proc)
        links = links_of(db)
        assert len(links) in (0, 200_000)
        assert store_facts(db)["revision"] == (1 if links else 0)
        assert_journal_agrees(db)
        with sqlite3.connect(db) as c:
            names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE "
                                             "type='index' AND tbl_name='links'")}
            assert names == {"links_user", "links_owner"}
            c.execute("INSERT INTO links VALUES ('x', 'o', '', '', 'email', '', '')")
            with pytest.raises(sqlite3.IntegrityError):
                c.execute("INSERT INTO links VALUES ('y', 'o', '', '', 'email', '', '')")


# --- two applies at once --------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_plans(big):
    """Two different plans made from the same store revision, and each one's result alone."""
    import pandas as pd
    d = big["dir"]
    # the second snapshot: the same world with every tenth user gone (another plan)
    snap2 = d / "snap2"
    shutil.copytree(d / "snap", snap2)
    users = pd.read_csv(snap2 / "aloware_users.csv", dtype=str, keep_default_na=False)
    users.drop(users.index[::10]).to_csv(snap2 / "aloware_users.csv", index=False)
    r = usermap("plan", snap2, "--store", big["base"], "--out", d / "plan2.json", "--force")
    assert r.returncode == 0, r.stderr
    results = {}
    for name in ("plan.json", "plan2.json"):
        db = d / f"alone-{name}.db"
        shutil.copy(big["base"], db)
        assert usermap("apply", d / name, "--store", db, "--yes").returncode == 0
        results[name] = key_links(links_of(db))
    assert results["plan.json"] != results["plan2.json"]
    return d / "plan.json", d / "plan2.json", results


@pytest.mark.parametrize("sleep,needle", [
    # the second waits for the lock (< 2 s), then finds the store at a new revision: stale
    (0.0005, "revision"),
    # the first holds the lock past SQLite's 2 s busy timeout: the second is refused, busy
    (0.004, "busy"),
])
def test_two_applies_at_once_one_wins_the_other_exits_3(big, two_plans, tmp_path, sleep, needle):
    plan1, plan2, results = two_plans
    db = tmp_path / "s.db"
    shutil.copy(big["base"], db)
    procs = {"plan.json": spawn_apply(plan1, db, f"sleep:{sleep}"),
             "plan2.json": spawn_apply(plan2, db, f"sleep:{sleep}")}
    out = {}
    try:
        for name, p in procs.items():
            out[name] = (*p.communicate(timeout=60), p.returncode)
    finally:
        for p in procs.values():
            if p.poll() is None:
                kill(p)
    codes = sorted(o[2] for o in out.values())
    assert codes == [0, 3], out
    winner = next(n for n, o in out.items() if o[2] == 0)
    loser = next(n for n, o in out.items() if o[2] == 3)
    assert "usermap: error:" in out[loser][1] and "Traceback" not in out[loser][1]
    assert needle in out[loser][1], out[loser][1]
    print(f"sleep {sleep}: loser says {out[loser][1].strip()}")
    assert key_links(links_of(db)) == results[winner]
    facts = store_facts(db)
    assert facts["revision"] == 2 and len(facts["runs"]) == 2
    assert_journal_agrees(db)
    # the loser's plan is now stale for good: exit 3 again, store untouched
    snapshot = links_of(db)
    r = usermap("apply", plan1 if loser == "plan.json" else plan2, "--store", db, "--yes")
    assert r.returncode == 3 and links_of(db) == snapshot
