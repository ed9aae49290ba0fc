"""Nothing hangs (issue 10): a trickling server, a FIFO or a device where a file should be, a
signal to `usermap run`, another writer holding the store, a symlinked run lock.

Every server here listens on 127.0.0.1 and stops within bounded time; every subprocess has a
timeout, so a regression fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from usermap import lock as lockmod

import runkit
from conftest import SANDBOX_TOKENS

pytestmark = pytest.mark.issue(10)  # the issue that asked for these tests

USERMAP = runkit.USERMAP
TRICKLE_MS = 250          # one byte every quarter second: every byte resets a socket timeout
DEADLINE = 3.0            # [fetch] total_seconds in these tests


def fetch_toml(**kw) -> str:
    bounds = {"attempts": 3, "total_seconds": DEADLINE, "backoff": 0.01, "backoff_max": 0.05,
              "max_wait": 5.0, "connect_timeout": 2.0, "read_timeout": 2.0} | kw
    return "[fetch]\n" + "".join(f"{k} = {v!r}\n" for k, v in bounds.items())


@pytest.fixture(autouse=True)
def _trickle_bounded(monkeypatch):
    """A trickled answer is cut after 20 s here: a fetch that ignored its deadline fails the
    test (too slow, or an error) instead of holding it for the sandbox's usual 300 s."""
    from usermap.sandbox import server
    monkeypatch.setattr(server, "TRICKLE_MAX_SECONDS", 20.0)


@pytest.fixture(scope="module")
def small_world():
    from usermap.sandbox.scenarios import generate
    return generate(40, seed=5)


def _sandbox(world, **kw):
    from usermap.sandbox.server import SandboxServer
    kw.setdefault("hubspot_token", SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"])
    kw.setdefault("aloware_token", SANDBOX_TOKENS["ALOWARE_API_TOKEN"])
    return SandboxServer(world.users, world.owners, **kw).start(max_seconds=120)


def _config(tmp_path, srv, extra: str = "") -> Path:
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(srv.config_toml() + "\n" + extra, encoding="utf-8")
    return cfg


# --- 1. the fetch's deadline holds against a trickling server --------------------------------------
def test_sandbox_trickle_sends_one_byte_at_a_time(small_world):
    """The fault itself: the answer arrives, but byte by byte, TRICKLE_MS apart."""
    import socket
    with _sandbox(small_world, trickle_ms=100) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        got = s.recv(100)
        assert len(got) == 1
        s.recv(100)
        assert time.monotonic() - t0 >= 0.05      # the second byte came later
        s.close()
    assert srv.stats["trickles"] == 1


@pytest.mark.parametrize("value", ["-1", "60001"])
def test_sandbox_trickle_flag_is_bounded(value):
    p, _ = runkit.cli(["sandbox", "--trickle", value, "--max-seconds", "1"], timeout=30)
    assert p.returncode == 2 and "--trickle" in p.stderr, p.stdout + p.stderr


def test_fetch_against_a_trickling_server_stops_at_the_deadline(tmp_path, small_world,
                                                                 sandbox_tokens):
    """Every answer trickles, one byte every 0.25 s (each byte resets the 2 s read timeout):
    the fetch ends with exit 4 (SourceError) at total_seconds, and writes nothing."""
    from usermap.config import Config
    from usermap.errors import SourceError
    from usermap.sources.api.fetch import fetch_snapshot
    with _sandbox(small_world, trickle_ms=TRICKLE_MS) as srv:
        cfg = Config.load(_config(tmp_path, srv, fetch_toml()))
        t0 = time.monotonic()
        with pytest.raises(SourceError) as e:
            fetch_snapshot(cfg, tmp_path / "snap", progress=False)
        took = time.monotonic() - t0
    assert DEADLINE - 0.1 <= took <= DEADLINE + 1.5, took
    assert "time budget of 3 s" in str(e.value) and e.value.exit_code == 4
    assert not (tmp_path / "snap").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["usermap.toml"]   # no temp folder left


@pytest.mark.parametrize("source", ["hubspot", "aloware"])
def test_each_client_honours_the_deadline(source, small_world):
    """hubspot-api-client (urllib3 underneath) and the Aloware client each stop at the
    deadline when the answer trickles."""
    from usermap.errors import SourceError
    from usermap.sources.api import aloware, hubspot
    from usermap.sources.api.retry import Retrier, RetryPolicy
    policy = RetryPolicy(attempts=3, total_seconds=2.0, backoff=0.01, backoff_max=0.01,
                         connect_timeout=2.0, read_timeout=2.0)
    with _sandbox(small_world, trickle_ms=TRICKLE_MS) as srv:
        t0 = time.monotonic()
        with Retrier(policy) as r, pytest.raises(SourceError, match="time budget of 2 s"):
            if source == "hubspot":
                hubspot.fetch_owners(srv.base_url, SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"], r)
            else:
                aloware.get_api_users(srv.base_url, SANDBOX_TOKENS["ALOWARE_API_TOKEN"], r)
        took = time.monotonic() - t0
    assert 1.9 <= took <= 3.5, took
    assert r.requests == 1     # no retry after the deadline


def test_usermap_fetch_against_a_trickling_server_exits_4_at_the_deadline(tmp_path,
                                                                           small_world):
    with _sandbox(small_world, trickle_ms=TRICKLE_MS) as srv:
        cfg = _config(tmp_path, srv, fetch_toml())
        p, seconds = runkit.cli(["fetch", "--config", str(cfg), "--out", str(tmp_path / "snap")],
                                env_extra=SANDBOX_TOKENS, timeout=60)
    assert p.returncode == 4, p.stdout + p.stderr
    assert "time budget of 3 s" in p.stderr
    assert seconds < DEADLINE + 6       # the deadline, plus starting Python and pandas
    assert not (tmp_path / "snap").exists()


def test_fast_fetch_still_completes_and_leaves_no_timer(tmp_path, small_world, sandbox_tokens):
    """The watchdog does not disturb a fetch that finishes in time, and is disarmed after it."""
    from usermap.config import Config
    from usermap.sources.api.fetch import fetch_snapshot
    def timers():
        return {t for t in threading.enumerate() if t.name == "usermap-fetch-deadline"
                and t.is_alive()}
    before = timers()     # other tests' Retriers that were never closed
    with _sandbox(small_world) as srv:
        cfg = Config.load(_config(tmp_path, srv, fetch_toml()))
        info = fetch_snapshot(cfg, tmp_path / "snap", progress=False)
    assert info["counts"]["aloware_users"] > 0 and (tmp_path / "snap" / "fetch.json").is_file()
    time.sleep(0.05)
    assert not timers() - before


BAD_VALUES = [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("0", "0"), ("-1", "-1"),
              ('"10"', "str")]


@pytest.mark.parametrize("key", ["total_seconds", "connect_timeout", "read_timeout",
                                 "backoff", "backoff_max", "max_wait"])
@pytest.mark.parametrize("value,shown", BAD_VALUES)
def test_fetch_bounds_must_be_finite_and_positive(tmp_path, key, value, shown):
    from usermap.config import Config
    from usermap.errors import ConfigError
    path = tmp_path / "usermap.toml"
    path.write_text(f"[fetch]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        Config.load(path)
    assert e.value.column == f"fetch.{key}" and f"[fetch] {key}" in str(e.value)
    assert e.value.exit_code == 2


@pytest.mark.parametrize("section,key,value", [
    ("fetch", "attempts", "0"), ("fetch", "attempts", "-3"), ("fetch", "attempts", "2.5"),
    ("smtp", "timeout", "nan"), ("smtp", "timeout", "inf"), ("smtp", "timeout", "0"),
    ("smtp", "timeout", "-5"), ("smtp", "timeout", '"30"'), ("smtp", "port", "0"),
    ("smtp", "port", "70000"), ("fetch", "total_seconds", "1e300")])
def test_other_numeric_bounds_are_checked(tmp_path, section, key, value):
    from usermap.config import Config
    from usermap.errors import ConfigError
    path = tmp_path / "usermap.toml"
    path.write_text(f"[{section}]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        Config.load(path)
    assert e.value.column == f"{section}.{key}" and f"[{section}] {key}" in str(e.value)


def test_a_bad_bound_is_exit_2_naming_the_key(tmp_path):
    (tmp_path / "usermap.toml").write_text("[fetch]\ntotal_seconds = nan\n", encoding="utf-8")
    p, _ = runkit.cli(["fetch", "--config", str(tmp_path / "usermap.toml"), "--out",
                       str(tmp_path / "snap")], env_extra=SANDBOX_TOKENS, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "[fetch] total_seconds" in p.stderr


def test_retry_policy_refuses_infinite_bounds():
    from usermap.sources.api.retry import RetryPolicy
    for kw in ({"total_seconds": math.inf}, {"read_timeout": math.nan}, {"max_wait": math.inf},
               {"connect_timeout": 0}):
        with pytest.raises(ValueError):
            RetryPolicy(**kw)


# --- 2. a FIFO, a device or a folder where a file should be: exit 2 at once ------------------------
def _make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _snapshot(tmp_path, small_world) -> Path:
    from usermap.sources.snapshot import write_snapshot
    snap = tmp_path / "snap"
    write_snapshot(snap, small_world.users, small_world.owners)
    return snap


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
@pytest.mark.parametrize("which", ["aloware_users.csv", "hubspot_owners.json"])
def test_snapshot_file_that_is_not_a_regular_file_is_exit_2_at_once(tmp_path, small_world,
                                                                    kind, which):
    snap = _snapshot(tmp_path, small_world)
    target = snap / which
    target.unlink()
    if kind == "fifo":
        _make_fifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    from usermap.store.store import Store
    Store.open(tmp_path / "s.db", create=True).close()
    p, seconds = runkit.cli(["audit", str(snap), "--store", str(tmp_path / "s.db"), "--out",
                             str(tmp_path / "out")], timeout=30)
    assert p.returncode == 2, p.stdout + p.stderr
    assert which in p.stderr
    assert seconds < 15


@pytest.mark.parametrize("reader", ["mappings", "plan", "config", "export", "activities"])
def test_every_reader_refuses_a_fifo(tmp_path, reader):
    """Each reader checks before it opens: a FIFO with no writer would block open() for ever.
    Run in a thread with a timeout so that a regression fails instead of hanging."""
    from usermap import files, planfile
    from usermap.report import compose
    from usermap.config import Config
    from usermap.errors import InputError
    from usermap.sources.api import aloware
    from usermap.sources import snapshot
    fifo = _make_fifo(tmp_path / "input")
    call = {"mappings": lambda: snapshot.read_mappings_csv(fifo),
            "plan": lambda: planfile.read_plan(fifo),
            "config": lambda: Config.load(fifo),
            "export": lambda: aloware.read_export(fifo),
            "activities": lambda: compose.read_activities(fifo)}[reader]
    out: dict = {}

    def go():
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - reported below
            out["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():   # unblock the reader so the thread can end, then fail
        with open(fifo, "wb", buffering=0) as w:
            w.write(b"")
        pytest.fail(f"{reader}: reading a FIFO blocked")
    e = out.get("error")
    assert isinstance(e, InputError), repr(e)
    assert "FIFO" in str(e) and str(fifo) in str(e)


def test_check_regular_file_names_what_it_found(tmp_path):
    from usermap.errors import InputError
    from usermap.files import check_regular_file, read_regular_bytes
    (tmp_path / "ok.csv").write_text("a\n")
    assert read_regular_bytes(tmp_path / "ok.csv") == b"a\n"
    (tmp_path / "link.csv").symlink_to(tmp_path / "ok.csv")
    check_regular_file(tmp_path / "link.csv")            # a symlink to a file is fine
    for path, words in ((Path("/dev/zero"), "a device"), (tmp_path, "a folder"),
                        (_make_fifo(tmp_path / "f"), "FIFO"), (tmp_path / "none", "not found")):
        with pytest.raises(InputError, match=words):
            check_regular_file(path)


def test_config_that_is_a_device_is_exit_2(tmp_path):
    p, seconds = runkit.cli(["fetch", "--config", "/dev/zero", "--out", str(tmp_path / "s")],
                            env_extra=SANDBOX_TOKENS, timeout=30)
    assert p.returncode == 2 and "/dev/zero" in p.stderr and "device" in p.stderr
    assert seconds < 15


# --- 3. SIGTERM / SIGINT stop `usermap run` cleanly ----------------------------------------------------
def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"      # a zombie has exited; only its parent's reaping is left


@pytest.mark.slow
@pytest.mark.parametrize("signame,code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_signal_stops_a_run_cleanly(tmp_path, signame, code):
    """`usermap run` gets the signal while the audit notebook is fetching from a slow sandbox:
    it exits 143 / 130 within seconds; run.json says killed with that exit code; the failure
    report and the notification are written; the lock is released (another run can take it);
    the kernel is gone; the store is unchanged."""
    from email import policy as email_policy
    from email.parser import BytesParser

    from usermap import runner
    srv, _cfg, _w, store = runkit.make_env(
        tmp_path, n_users=120, latency_ms=4000,
        extra_toml="[fetch]\ntotal_seconds = 60.0\nread_timeout = 30.0\n")
    before = runkit.store_state(store)
    proc = subprocess.Popen([USERMAP, "run", "--config", str(tmp_path / "usermap.toml"),
                             "--apply"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **SANDBOX_TOKENS})
    try:
        t0 = time.monotonic()
        while srv.stats["requests"] < 1 and proc.poll() is None and time.monotonic() - t0 < 90:
            time.sleep(0.05)
        assert proc.poll() is None and srv.stats["requests"] >= 1, "the fetch never started"
        kernels = _children(proc.pid)
        assert kernels, "no kernel process under usermap run"
        proc.send_signal(getattr(signal, signame))
        t1 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        stopped_in = time.monotonic() - t1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
        srv.stop()
    assert proc.returncode == code, out + err
    assert stopped_in < 20, stopped_in
    assert f"KILLED in audit (exit {code}" in out
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["status"] == "killed" and info["exit_code"] == code
    assert info["killed_by"] == signame and info["error_class"] == "RunKilled"
    assert info["failed_notebook"] == "audit" and info["store_changed"] is False
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="run-status">KILLED<' in html and signame in html
    with open(run_dir / "notification.eml", "rb") as f:
        msg = BytesParser(policy=email_policy.default).parse(f)
    assert "[KILLED]" in msg["Subject"] and f"exit {code}" in msg["Subject"]
    assert info["report"]["notification"].endswith("notification.eml")
    # the partially executed notebook is kept, written when the signal stopped it (papermill's
    # end, whatever execute.SAVE_EVERY skipped): the cells up to the fetch ran, none after it
    nb = json.loads((run_dir / "audit.ipynb").read_text(encoding="utf-8"))
    ran = ["".join(c["source"]) for c in nb["cells"]
           if c["cell_type"] == "code" and c.get("execution_count")]
    assert any("nb.start(" in src for src in ran), ran
    assert not any("nb.audit(s, data)" in src for src in ran), ran
    # the lock: released, and another run can take it at once
    assert (tmp_path / "runs" / lockmod.LOCK_NAME).read_text() == ""
    lockmod.RunLock(tmp_path / "runs" / lockmod.LOCK_NAME).acquire("next").release()
    # the kernel: gone
    t2 = time.monotonic()
    while any(_alive(k) for k in kernels) and time.monotonic() - t2 < 10:
        time.sleep(0.1)
    assert not [k for k in kernels if _alive(k)], "a kernel outlived the run"
    after = runkit.store_state(store)
    assert after["revision"] == before["revision"] and after["runs"] == before["runs"]
    assert not runkit.token_leaks(tmp_path / "runs", out, err)


# --- 4. another writer holding the store: exit 3, never exit 1 ------------------------------------
@pytest.mark.slow
def test_run_while_another_writer_holds_the_store_exits_3_with_a_report(tmp_path):
    srv, _cfg, _w, store = runkit.make_env(tmp_path, n_users=120)
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        p, _ = runkit.cli(["run", "--config", str(tmp_path / "usermap.toml"), "--apply"],
                          env_extra=SANDBOX_TOKENS, timeout=180)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        srv.stop()
    assert p.returncode == 3, p.stdout + p.stderr
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["exit_code"] == 3 and info["status"] == "refused"
    assert info["error_class"] == "LockedError"
    assert (run_dir / "report.html").is_file() and (run_dir / "notification.eml").is_file()


@pytest.mark.slow
def test_store_locked_inside_a_notebook_is_exit_3_not_1(tmp_path):
    """A read of the store that meets another writer's lock (sqlite3's "database is locked",
    not wrapped by the store) fails the notebook: that is exit 3 (LockedError), never 1."""
    import nbformat

    from usermap.errors import NotebookFailedError
    from usermap.execute import execute_notebook, kernel_options
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import sqlite3\nraise sqlite3.OperationalError('database is locked')")]
    src = tmp_path / "busy.ipynb"
    nbformat.write(nb, str(src))
    kernel, _ = kernel_options(tmp_path / "kernel.log")
    with pytest.raises(NotebookFailedError) as e:
        execute_notebook(src, tmp_path / "out.ipynb", {}, cwd=tmp_path, kernel=kernel,
                         cell_timeout=60)
    assert e.value.exit_code == 3 and e.value.ename == "LockedError"
    assert "another writer holds the store" in e.value.evalue


# --- 5. the run lock never writes through a symlink -------------------------------------------------
def test_run_lock_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    (tmp_path / "usermap.toml").write_text('[runs]\ndir = "runs"\n[store]\npath = "s.db"\n')
    (tmp_path / "runs").mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("do not touch\n")
    (tmp_path / "runs" / ".lock").symlink_to(victim)
    stat_before = victim.stat()
    from usermap.store.store import Store
    Store.open(tmp_path / "s.db", create=True).close()   # a store, so the lock is what refuses
    p, seconds = runkit.cli(["run", "--config", str(tmp_path / "usermap.toml")],
                            env_extra=SANDBOX_TOKENS, timeout=60)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "symbolic link" in p.stderr and ".lock" in p.stderr
    assert victim.read_text() == "do not touch\n"
    assert victim.stat().st_mtime_ns == stat_before.st_mtime_ns
    assert (tmp_path / "runs" / ".lock").is_symlink()
    assert [d.name for d in (tmp_path / "runs").iterdir()] == [".lock"]   # no run folder


def test_run_lock_symlink_to_a_missing_file_creates_nothing(tmp_path):
    from usermap.errors import SafetyError
    from usermap.lock import RunLock
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".lock").symlink_to(tmp_path / "created-through-the-link")
    with pytest.raises(SafetyError, match="symbolic link"):
        RunLock(tmp_path / "runs" / ".lock").acquire("x")
    assert not (tmp_path / "created-through-the-link").exists()


@pytest.mark.slow
def test_usermap_run_against_a_trickling_server_exits_4_and_frees_the_lock(tmp_path):
    """The red-team case end to end: `usermap run` (the scheduled command) against a server
    trickling every answer. The audit's fetch stops at the deadline: exit 4, failure report,
    store unchanged, and the lock is free for the next scheduled run."""
    from usermap import runner
    srv, _cfg, _w, store = runkit.make_env(tmp_path, n_users=120, trickle_ms=TRICKLE_MS,
                                           extra_toml=fetch_toml())
    before = runkit.store_state(store)
    try:
        p, seconds = runkit.cli(["run", "--config", str(tmp_path / "usermap.toml"), "--apply"],
                                env_extra=SANDBOX_TOKENS, timeout=120)
    finally:
        srv.stop()
    assert p.returncode == 4, p.stdout + p.stderr
    assert srv.stats["trickles"] >= 1
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["status"] == "failed" and info["error_class"] == "SourceError"
    assert "time budget of 3 s" in info["error_message"]
    assert (run_dir / "report.html").is_file() and (run_dir / "notification.eml").is_file()
    assert not (run_dir / "snapshot").exists()
    assert runkit.store_state(store)["revision"] == before["revision"]
    lockmod.RunLock(tmp_path / "runs" / lockmod.LOCK_NAME).acquire("next").release()
    assert seconds < 40, seconds
