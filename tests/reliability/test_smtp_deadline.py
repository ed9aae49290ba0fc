"""Issue 19 item 1: every network wait has a wall-clock deadline, SMTP included. A relay that
sends its greeting one line a second resets any per-read timeout for ever; `[smtp] timeout`
bounds the whole delivery (the failure e-mail too). Past it the run ends with its own status,
run.json and the report say "notification not sent: ...", and the lock is released."""

from __future__ import annotations

import json
import time

import pytest

import runkit
from conftest import SANDBOX_TOKENS
from slowrelay import SlowRelay
from usermap.config import Config
from usermap.errors import NotifyError
from usermap.notify import notify, send

TIMEOUT = 2.0


def _config(port: int) -> Config:
    return Config.from_dict({"smtp": {"host": "127.0.0.1", "port": port, "starttls": False,
                                      "timeout": TIMEOUT, "recipients": ["ops@acme.test"]}})


def _message():
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["Subject"] = "x"
    msg.set_content("hello")
    return msg


def test_send_to_a_relay_that_never_finishes_its_greeting_stops_at_the_timeout():
    with SlowRelay(interval=0.5) as relay:
        t0 = time.monotonic()
        with pytest.raises(NotifyError) as e:
            send(_message(), _config(relay.port))
        took = time.monotonic() - t0
    assert TIMEOUT - 0.1 <= took < TIMEOUT + 1.0, took
    assert "[smtp] timeout" in str(e.value) and "2 s" in str(e.value)


def test_notify_records_not_sent_and_says_so_in_the_report(tmp_path):
    from tiny import U, O, L, run
    from usermap.report.build import build_report
    from usermap.report.compose import write_report
    a, p = run([U(1, "a@x.com")], [O(10, "a@x.com")], [L(1, 10, "a@x.com", "a@x.com")])
    rep = build_report(a, plan=p, run_id="r1", generated_at="2026-03-01T12:00:00Z")
    path = write_report(rep, tmp_path / "report.html")
    with SlowRelay(interval=0.5) as relay:
        t0 = time.monotonic()
        out = notify(rep, _config(relay.port), tmp_path, report_path=path)
        took = time.monotonic() - t0
    assert took < TIMEOUT + 1.0
    assert out["sent"] is False and "[smtp] timeout" in out["error"]
    assert "notification not sent: " in path.read_text(encoding="utf-8")
    assert (tmp_path / "notification.eml").is_file()


def _run(tmp_path, relay, *, extra=None, **server_kw):
    toml = (f'[smtp]\nhost = "127.0.0.1"\nport = {relay.port}\nstarttls = false\n'
            f'timeout = {TIMEOUT}\nrecipients = ["ops@acme.test"]\n')
    srv, _, _, _ = runkit.make_env(tmp_path, n_users=60, extra_toml=toml, **server_kw)
    try:
        return runkit.cli(["run", "--config", str(tmp_path / "usermap.toml"), "--apply",
                           *(extra or [])], env_extra=SANDBOX_TOKENS, timeout=120)
    finally:
        srv.stop()


def _the_run(tmp_path):
    (run_dir,) = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    return run_dir, json.loads((run_dir / "run.json").read_text(encoding="utf-8"))


def test_applied_run_with_a_slow_relay_ends_ok_and_releases_the_lock(tmp_path):
    from usermap.lock import RunLock
    with SlowRelay() as relay:
        p, seconds = _run(tmp_path, relay, extra=["--force"])
        assert relay.connections == 1
    assert p.returncode == 0, p.stdout + p.stderr
    run_dir, info = _the_run(tmp_path)
    assert info["status"] == "ok"
    assert info["notification"].startswith("notification not sent: SMTP 127.0.0.1:")
    assert "[smtp] timeout of 2 s" in info["notification"]
    assert "notification not sent: " in (run_dir / "report.html").read_text(encoding="utf-8")
    assert "notification not sent: " in p.stdout
    RunLock(tmp_path / "runs" / ".lock").acquire("20990101T000000Z-beef").release()


def test_failed_run_sends_its_failure_email_under_the_same_deadline(tmp_path):
    with SlowRelay() as relay:
        p, seconds = _run(tmp_path, relay, hubspot_token="another", aloware_token="another2")
    assert p.returncode == 4, p.stdout + p.stderr
    run_dir, info = _the_run(tmp_path)
    assert info["status"] == "failed" and info["exit_code"] == 4
    assert info["notification"].startswith("notification not sent: ")
    assert "[smtp] timeout" in info["notification"]
    assert "notification not sent: " in (run_dir / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / "runs" / ".lock").exists() or _lock_free(tmp_path)


def _lock_free(tmp_path) -> bool:
    from usermap.lock import RunLock
    RunLock(tmp_path / "runs" / ".lock").acquire("20990101T000000Z-beef").release()
    return True
