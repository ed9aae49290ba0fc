"""Issue 19 item 12: the next command usermap prints works as printed. `usermap undo` prints the
apply command of its plan, shell-quoted, with --force when the removal guard needs it;
`usermap apply PLAN` without --yes is a dry run that always shows the plan, exits 0 and says
when --force would be needed; the guard's advice fits an undo plan. The printed commands are
run through a real shell, as a newcomer pastes them."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd

import forkcli
import runkit
from tiny import O, U

N = 12      # more removals than the guard's minimum of 10


def usermap(*args, cwd):
    return forkcli.run(args, cwd=cwd, timeout=120)


def shell(line: str, cwd):
    """``line`` as printed, through /bin/sh, with this environment's `usermap` first."""
    assert line.startswith("usermap ")
    return subprocess.run(runkit.USERMAP + line[len("usermap"):], shell=True,
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def links(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT count(*) FROM links").fetchone()[0]


def printed_command(out: str) -> str:
    (line,) = [ln for ln in out.splitlines() if "usermap apply " in ln]
    return line[line.index("usermap apply "):]


def world(d: Path, store="my store.db"):
    """A snapshot of N users and owners with the same e-mails, an empty store, and a synced
    plan of N adds applied (so that its undo removes N of N links)."""
    snap = d / "snap"
    snap.mkdir()
    pd.DataFrame([U(i, f"u{i}@x.com") for i in range(1, N + 1)]).to_csv(
        snap / "aloware_users.csv", index=False)
    (snap / "hubspot_owners.json").write_text(
        json.dumps([O(100 + i, f"u{i}@x.com") for i in range(1, N + 1)]), encoding="utf-8")
    assert usermap("init", "--store", store, cwd=d).returncode == 0
    assert usermap("plan", "snap", "--store", store, "--out", "sync plan.json",
                   cwd=d).returncode == 0
    r = usermap("apply", "sync plan.json", "--store", store, "--yes", cwd=d)
    assert r.returncode == 0, r.stderr
    return re.search(r"applied as run (\S+);", r.stdout).group(1), d / store


def test_undo_prints_a_command_that_works_as_printed_with_force(tmp_path):
    run_id, db = world(tmp_path)
    r = usermap("undo", run_id, "--store", db.name, "--out", "undo plan.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"the undo of run {run_id} removes {N} of {N} links" in r.stdout
    line = printed_command(r.stdout)
    assert line.endswith("--yes --force")
    done = shell(line, tmp_path)
    assert done.returncode == 0, done.stderr
    assert links(db) == 0


def test_apply_without_yes_is_a_dry_run_that_says_force_is_needed(tmp_path):
    run_id, db = world(tmp_path)
    assert usermap("undo", run_id, "--store", db.name, "--out", "u.json",
                   cwd=tmp_path).returncode == 0
    r = usermap("apply", "u.json", "--store", db.name, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"0 to add, 0 to update, {N} to remove" in r.stdout          # the plan, shown
    assert "applying it needs --force" in r.stdout and "dry run: nothing was changed" in r.stdout
    assert links(db) == N
    line = printed_command(r.stdout)
    assert line.endswith("--yes --force")
    assert shell(line, tmp_path).returncode == 0 and links(db) == 0


def test_a_dry_run_with_force_or_within_the_guard_needs_no_force(tmp_path):
    run_id, db = world(tmp_path)
    assert usermap("undo", run_id, "--store", db.name, "--out", "u.json",
                   cwd=tmp_path).returncode == 0
    r = usermap("apply", "u.json", "--store", db.name, "--force", cwd=tmp_path)
    assert r.returncode == 0 and "applying it needs --force" not in r.stdout
    assert printed_command(r.stdout).endswith("--yes --force")
    r = usermap("plan", "snap", "--store", db.name, "--out", "p.json", cwd=tmp_path)
    r = usermap("apply", "p.json", "--store", db.name, cwd=tmp_path)
    assert r.returncode == 0 and "nothing to apply" in r.stdout


def test_the_guard_advice_fits_an_undo_plan(tmp_path):
    run_id, db = world(tmp_path)
    assert usermap("undo", run_id, "--store", db.name, "--out", "u.json",
                   cwd=tmp_path).returncode == 0
    r = usermap("apply", "u.json", "--store", db.name, "--yes", cwd=tmp_path)
    assert r.returncode == 3
    assert f"This plan undoes run {run_id}" in r.stderr and "--force" in r.stderr
    assert "usermap audit" not in r.stderr and "errors.csv" not in r.stderr
    assert links(db) == N


def test_a_stale_plan_is_still_refused_in_a_dry_run_after_showing_it(tmp_path):
    run_id, db = world(tmp_path)
    assert usermap("undo", run_id, "--store", db.name, "--out", "u.json",
                   cwd=tmp_path).returncode == 0
    assert usermap("unmap", "1", "--store", db.name, cwd=tmp_path).returncode == 0
    r = usermap("apply", "u.json", "--store", db.name, cwd=tmp_path)
    assert r.returncode == 3 and "to remove" in r.stdout and "changed since" in r.stderr
