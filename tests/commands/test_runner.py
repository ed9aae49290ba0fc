"""`usermap run` (issue 4): papermill runs end to end against the sandbox, the lock, retention,
failures and their exit codes, and the secrets scan of the run folder.

The end-to-end runs are shared by a module-scoped fixture (each run starts a kernel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from usermap import lock as lockmod

from usermap import execute

import runkit
from conftest import SANDBOX_TOKENS
from usermap import errors, files, planfile, runner
from usermap.config import Config
from usermap.errors import InputError, LockedError

pytestmark = pytest.mark.slow

USERMAP = runkit.USERMAP
OLD_RUNS = ["20200101T000000Z-aaaa", "20200102T000000Z-bbbb", "20200103T000000Z-cccc"]


def _make_env(root: Path, *, n_users=300, seed=3, keep=30, served_users=None, **server_kw):
    """See runkit.make_env: (server, config, world, store path)."""
    return runkit.make_env(root, n_users=n_users, seed=seed, keep=keep,
                           served_users=served_users, **server_kw)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Run 1 with --apply (over a stale lock and three old run folders, keep=3), then run 2
    without: the fixed point."""
    root = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SANDBOX_TOKENS.items():
            mp.setenv(k, v)
        srv, cfg, world, store = _make_env(root, keep=3)
        try:
            runs = root / "runs"
            for name in OLD_RUNS + ["notes"]:
                (runs / name).mkdir(parents=True)
            stale = {"pid": _dead_pid(), "host": "x", "run_id": "20200104T000000Z-dead",
                     "started_at": "2020-01-04T00:00:00Z"}
            (runs / lockmod.LOCK_NAME).write_text(json.dumps(stale))
            from usermap.store.store import Store
            with Store.open(store) as st:
                links_before, rev_before = st.links(), st.revision
            r1 = runner.run(cfg, apply=True)
            after_first = sorted(p.name for p in runs.iterdir())
            r2 = runner.run(cfg)
        finally:
            srv.stop()
    return {"root": root, "cfg": cfg, "world": world, "store": store, "r1": r1, "r2": r2,
            "links_before": links_before, "rev_before": rev_before, "stale": stale,
            "after_first": after_first}


def test_run_folder_holds_everything(two_runs):
    r1 = two_runs["r1"]
    assert r1.exit_code == 0, r1.describe()
    d = r1.run_dir
    assert d.parent == two_runs["root"] / "runs" and lockmod.RUN_ID_PATTERN.match(d.name)
    for name in ("kernel.log", "snapshot/aloware_users.csv", "snapshot/hubspot_owners.json",
                 "snapshot/fetch.json", "audit.ipynb", "sync.ipynb", "summary.json",
                 "plan.json", "report.html", "notification.eml", "run.log", "run.json",
                 "mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv", "errors.csv"):
        assert (d / name).is_file(), name
    info = json.loads((d / "run.json").read_text())
    assert info["exit_code"] == 0 and info["status"] == "ok" and info["run_id"] == d.name
    assert [t["notebook"] for t in info["timings"]] == ["audit", "sync"]
    assert all(t["overhead_seconds"] >= 0 for t in info["timings"])
    text = r1.describe()
    assert str(d / "report.html") in text and "applied" in text
    # the executed notebooks got the run's parameters, and no error
    nb = json.loads((d / "audit.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and f'run_id = "{d.name}"' in "".join(injected[0]["source"])
    assert not any(o.get("output_type") == "error" for c in nb["cells"]
                   for o in c.get("outputs", []))


def test_summary_and_plan_match_the_engine(two_runs):
    """summary.json and plan.json are what the engine computes from the run's snapshot and
    the store as it was."""
    from usermap.engine import plan as planmod
    from usermap.engine import reconcile
    from usermap.sources.snapshot import fingerprint, read_snapshot
    r1 = two_runs["r1"]
    users, owners = read_snapshot(r1.run_dir / "snapshot")
    expect = reconcile.audit(users, owners, two_runs["links_before"], suggestions=False)
    summary = json.loads((r1.run_dir / "summary.json").read_text())
    for key, value in expect.summary().items():
        assert summary[key] == value, key
    assert summary["mapped"] > 0 and summary["errors"] > 0
    p = planfile.read_plan(r1.run_dir / "plan.json")
    want = planmod.make_plan(expect, store_revision=two_runs["rev_before"],
                             fingerprint=fingerprint(r1.run_dir / "snapshot"))
    assert sorted(p.changes) == sorted(want.changes) and len(p) > 0
    assert p.store_revision == two_runs["rev_before"]


def test_apply_recorded_and_second_run_plans_nothing(two_runs):
    from usermap.engine import plan as planmod
    from usermap.store.store import Store
    r1, r2 = two_runs["r1"], two_runs["r2"]
    assert r2.exit_code == 0, r2.describe()
    with Store.open(two_runs["store"]) as st:
        runs = {r["run_id"]: r for r in st.runs()}
        audits = [a["run_id"] for a in st.audits()]
        assert st.revision == two_runs["rev_before"] + 1
    assert r1.run_id in runs and runs[r1.run_id]["kind"] == "apply"
    assert runs[r1.run_id]["changes"] == len(planfile.read_plan(r1.run_dir / "plan.json"))
    assert r2.run_id not in runs                      # a dry run changes nothing
    assert audits[-2:] == [r1.run_id, r2.run_id]      # both audits kept for the history
    p2 = planfile.read_plan(r2.run_dir / "plan.json")
    assert len(p2) == 0
    assert json.loads((r2.run_dir / "sync.json").read_text())["dry_run"] is True
    # the second report compares with the first run
    assert r1.run_id in (r2.run_dir / "report.html").read_text(encoding="utf-8")


def test_no_secret_in_any_file_of_a_run(two_runs):
    tokens = [v.encode() for v in SANDBOX_TOKENS.values()]
    runs = two_runs["root"] / "runs"
    checked = 0
    for path in runs.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for t in tokens:
                assert t not in data, f"a token leaked into {path}"
            checked += 1
    assert checked > 20
    # nor in the store, the config or the export
    for path in two_runs["root"].glob("*.*"):
        data = path.read_bytes()
        assert not any(t in data for t in tokens), path


def test_stale_lock_taken_over_and_released(two_runs):
    r1 = two_runs["r1"]
    assert r1.took_over and r1.took_over["run_id"] == two_runs["stale"]["run_id"]
    assert "took over the lock" in (r1.run_dir / "run.log").read_text()
    lock = two_runs["root"] / "runs" / lockmod.LOCK_NAME
    assert lock.read_text() == ""           # released cleanly after the last run


def test_retention_keeps_runs_keep_folders(two_runs):
    r1, r2 = two_runs["r1"], two_runs["r2"]
    assert two_runs["after_first"] == sorted([*OLD_RUNS[1:], r1.run_id, "notes",
                                              lockmod.LOCK_NAME])
    left = sorted(p.name for p in (two_runs["root"] / "runs").iterdir())
    assert left == sorted([OLD_RUNS[2], r1.run_id, r2.run_id, "notes", lockmod.LOCK_NAME])
    assert r2.pruned == [OLD_RUNS[1]]


def test_log_is_written_and_redacted(two_runs):
    text = (two_runs["r1"].run_dir / "run.log").read_text()
    assert "executing audit.ipynb" in text and "sync.ipynb done" in text
    assert "kernel:" in text
    assert "fetched" in text                     # the notebook's printed output is in the log


# --- failures -------------------------------------------------------------------------------
_cli = runkit.cli


def test_failing_source_exits_4_and_keeps_partial_notebook(tmp_path):
    """The sandbox refuses the tokens (401): the audit notebook fails in its fetch cell; the
    run exits 4, keeps the half-executed notebook, and does not run the sync."""
    srv, cfg, _, store = _make_env(tmp_path, n_users=120, hubspot_token="the-right-one",
                                   aloware_token="the-right-one-too")
    try:
        p, _ = _cli(["run", "--config", str(tmp_path / "usermap.toml"), "--apply"],
                    env_extra=SANDBOX_TOKENS)
    finally:
        srv.stop()
    assert p.returncode == 4, p.stdout + p.stderr
    assert not any(v in p.stdout + p.stderr for v in SANDBOX_TOKENS.values())
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert "FAILED in audit" in p.stdout and "AuthError" in p.stdout
    nb = json.loads((run_dir / "audit.ipynb").read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "AuthError"
    assert not (run_dir / "sync.ipynb").exists()
    assert not (run_dir / "summary.json").exists() and not (run_dir / "snapshot").exists()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["exit_code"] == 4 and info["failed_notebook"] == "audit"
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert not any(v.encode() in path.read_bytes() for v in SANDBOX_TOKENS.values())


def test_cell_timeout_exits_1_and_keeps_partial_notebook(tmp_path, monkeypatch):
    """A cell over the per-cell timeout (a slow source) ends the run with exit 1; the notebook
    is kept as far as it ran."""
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    srv, cfg, _, _ = _make_env(tmp_path, n_users=120, latency_ms=4000)
    try:
        r = runner.run(cfg, cell_timeout=2)
    finally:
        srv.stop()
    assert r.exit_code == 1 and r.failed_notebook == "audit"
    assert "timed out" in r.error and "CellTimeoutError" in r.describe()
    assert (r.run_dir / "audit.ipynb").is_file() and not (r.run_dir / "sync.ipynb").exists()
    assert json.loads((r.run_dir / "run.json").read_text())["exit_code"] == 1


def test_second_run_while_one_holds_the_lock_exits_3_at_once(tmp_path):
    (tmp_path / "usermap.toml").write_text('[runs]\ndir = "runs"\n[store]\npath = "s.db"\n')
    from usermap.store.store import Store
    Store.open(tmp_path / "s.db", create=True).close()   # a missing store would be exit 2 first
    lock = lockmod.RunLock(tmp_path / "runs" / lockmod.LOCK_NAME).acquire("20990101T000000Z-beef")
    try:
        p, seconds = _cli(["run", "--config", str(tmp_path / "usermap.toml")],
                          env_extra=SANDBOX_TOKENS)
    finally:
        lock.release()
    assert p.returncode == 3, p.stdout + p.stderr
    assert "20990101T000000Z-beef" in p.stderr and "one run at a time" in p.stderr
    assert seconds < 10
    assert [d.name for d in (tmp_path / "runs").iterdir()] == [lockmod.LOCK_NAME]


def test_removal_guard_refusal_exits_3(tmp_path, monkeypatch):
    """Most linked users vanished from Aloware: the plan removes far more than the guard
    allows; --apply is refused (exit 3) in the sync notebook, the store is untouched, and the
    report and the notification say so."""
    from usermap.store.store import Store
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    srv, cfg, _, store = _make_env(tmp_path, n_users=150, served_users=lambda u: u.iloc[::4])
    try:
        with Store.open(store) as st:
            rev = st.revision
        r = runner.run(cfg, apply=True)
    finally:
        srv.stop()
    assert r.exit_code == 3, r.describe()
    assert r.failed_notebook == "sync" and "RemovalGuardError" in r.error
    with Store.open(store) as st:
        assert st.revision == rev
    d = r.run_dir
    nb = json.loads((d / "sync.ipynb").read_text())
    assert any(o.get("ename") == "RemovalGuardError" for c in nb["cells"]
               for o in c.get("outputs", []))
    assert (d / "plan.json").is_file() and (d / "notification.eml").is_file()
    sync = json.loads((d / "sync.json").read_text())
    assert sync["status"] == "refused"
    assert "refused" in r.describe()
    eml = (d / "notification.eml").read_bytes()
    assert b"REFUSED" in eml


# --- units ----------------------------------------------------------------------------------
def test_runner_refuses_undeclared_parameters_before_papermill(tmp_path):
    src = execute.notebooks_dir() / "audit.ipynb"
    with pytest.raises(InputError, match="bogus"):
        execute.execute_notebook(src, tmp_path / "out.ipynb", {"bogus": 1}, cwd=tmp_path,
                                kernel={})
    assert not (tmp_path / "out.ipynb").exists()


def test_lock_is_exclusive_and_reports_the_holder(tmp_path):
    path = tmp_path / "runs" / ".lock"
    a = lockmod.RunLock(path).acquire("20990101T000000Z-0001")
    with pytest.raises(LockedError) as e:
        lockmod.RunLock(path).acquire("20990101T000000Z-0002")
    assert "20990101T000000Z-0001" in str(e.value) and e.value.exit_code == 3
    a.release()
    assert path.read_text() == ""
    b = lockmod.RunLock(path).acquire("20990101T000000Z-0003")
    assert b.previous is None                      # a clean release is not "stale"
    b.release()


def test_stale_lock_of_a_killed_process_is_taken_over(tmp_path):
    """A run killed with SIGKILL leaves its lock file behind; the next run takes it over."""
    path = tmp_path / ".lock"
    code = ("import sys, time; sys.path.insert(0, %r); from usermap.runner import RunLock; "
            "RunLock(%r).acquire('20990101T000000Z-dead'); print('held', flush=True); "
            "time.sleep(60)") % (str(Path(runner.__file__).parent.parent), str(path))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(LockedError):
            lockmod.RunLock(path).acquire()
    finally:
        p.kill()
        p.wait()
    lock = lockmod.RunLock(path).acquire("20990101T000000Z-next")
    assert lock.previous["run_id"] == "20990101T000000Z-dead"
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_prune_keeps_newest_and_ignores_other_folders(tmp_path):
    names = ["20240101T000000Z-0001", "20240101T000000Z-0002", "20250101T000000Z-ffff",
             "20230101T000000Z-abcd"]
    for n in names + ["keepme", "2024-not-a-run"]:
        (tmp_path / n).mkdir()
    (tmp_path / "20200101T000000Z-f1le").write_text("a file, not a run folder")
    gone = lockmod.prune(tmp_path, 2, protect={"20230101T000000Z-abcd"})
    assert gone == ["20240101T000000Z-0001"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["20230101T000000Z-abcd", "20240101T000000Z-0002",
                           "20250101T000000Z-ffff", "keepme", "2024-not-a-run",
                           "20200101T000000Z-f1le"])


def test_exit_codes_of_notebook_errors():
    assert errors.exit_code_for_name("AuthError") == 4
    assert errors.exit_code_for_name("IncompleteListingError") == 4
    assert errors.exit_code_for_name("RemovalGuardError") == 3
    assert errors.exit_code_for_name("StalePlanError") == 3
    assert errors.exit_code_for_name("StoreConflictError") == 3
    assert errors.exit_code_for_name("InputError") == 2
    assert errors.exit_code_for_name("ConfigError") == 2
    assert errors.exit_code_for_name("KeyError") == 1
    assert errors.exit_code_for_name("") == 1


def test_kernel_runs_this_interpreter():
    kw, desc = execute.kernel_options()
    km = kw["kernel_manager_class"](kernel_name=kw["kernel_name"])
    assert Path(km.kernel_spec.argv[0]).parent == Path(sys.executable).parent
    assert desc
    # and without the usermap kernelspec: this interpreter, directly
    kw, desc = {"kernel_name": "usermap-env",
                "kernel_manager_class": execute._kernel_manager_class(True, None)}, ""
    km = kw["kernel_manager_class"](kernel_name=kw["kernel_name"])
    assert km.kernel_spec.argv[0] == sys.executable


def test_config_file_must_exist_for_the_notebooks(tmp_path):
    cfg = Config.from_dict({}, source=str(tmp_path / "gone.toml"))
    with pytest.raises(InputError, match="config file not found"):
        runner.run(cfg)
