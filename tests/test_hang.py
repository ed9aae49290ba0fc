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

import runkit
from conftest import SANDBOX_TOKENS

USERMAP = runkit.USERMAP
TRICKLE_MS = 250          # one byte every quarter second: every byte resets a socket timeout
DEADLINE = 3.0            # [fetch] total_seconds in these tests


def fetch_toml(**kw) -> str:
    bounds = {"attempts": 3, "total_seconds": DEADLINE, "backoff": 0.01, "backoff_max": 0.05,
              "max_wait": 5.0, "connect_timeout": 2.0, "read_timeout": 2.0} | kw
    return "[fetch]\n" + "".join(f"{k} = {v!r}\n" for k, v in bounds.items())


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


def test_fetch_against_a_trickling_server_stops_at_the_deadline(tmp_path, small_world,
                                                                 sandbox_tokens):
    """Every answer trickles, one byte every 0.25 s (each byte resets the 2 s read timeout):
    the fetch ends with exit 4 (SourceError) at total_seconds, and writes nothing."""
    from usermap.config import Config
    from usermap.errors import SourceError
    from usermap.sources.fetch import fetch_snapshot
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
    from usermap.sources import aloware, hubspot
    from usermap.sources.retry import Retrier, RetryPolicy
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
    from usermap.sources.fetch import fetch_snapshot
    with _sandbox(small_world) as srv:
        cfg = Config.load(_config(tmp_path, srv, fetch_toml()))
        info = fetch_snapshot(cfg, tmp_path / "snap", progress=False)
    assert info["counts"]["aloware_users"] > 0 and (tmp_path / "snap" / "fetch.json").is_file()
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name == "usermap-fetch-deadline"
                and t.is_alive()]


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
    from usermap.sources.retry import RetryPolicy
    for kw in ({"total_seconds": math.inf}, {"read_timeout": math.nan}, {"max_wait": math.inf},
               {"connect_timeout": 0}):
        with pytest.raises(ValueError):
            RetryPolicy(**kw)
