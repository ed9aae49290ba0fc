"""Faults, end to end (issue 6): `usermap run --apply`, the command a scheduler runs, against a
sandbox that misbehaves: a 429 storm, server errors, cut connections, a listing cut short, an
owners listing that comes back empty, a server slower than the timeouts; and two runs at once.

Every case either completes correctly (the store then equals what a fault-free run on the same
world gives) or stops with exit 4 (3 for the removal guard) and leaves the store exactly as it was
(links with every column, revision, journal, runs). Either way the run folder says what happened:
run.json (status, exit code, error class and message), report.html and notification.eml, which
state a failure as FAILED or REFUSED with its error. The tokens appear in no file of the runs
folder and in no output.

The retry bounds and timeouts come from the config's [fetch] section, small here so every case
ends within seconds. One world (600 users: the active owners listing takes two pages of 500, so
a listing can be cut after its first page) serves every case; the reference run is shared.
"""

from __future__ import annotations

import json
from collections import Counter
import os
import re
import subprocess
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import markupsafe
import pandas as pd
import pytest

import runkit
from conftest import SANDBOX_TOKENS

pytestmark = pytest.mark.slow

N_USERS, SEED = 600, 3
LINK_KEYS = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
RUN_TIMEOUT = 120          # seconds any one `usermap run` may take before the test fails


def fetch_toml(**kw) -> str:
    """A [fetch] section: tiny backoffs and timeouts unless ``kw`` says otherwise."""
    bounds = {"attempts": 6, "total_seconds": 30.0, "backoff": 0.01, "backoff_max": 0.05,
              "max_wait": 5.0, "connect_timeout": 2.0, "read_timeout": 5.0} | kw
    return "[fetch]\n" + "".join(f"{k} = {v!r}\n" for k, v in bounds.items())


@pytest.fixture(scope="module")
def world():
    from usermap.sandbox.scenarios import generate
    w = generate(N_USERS, seed=SEED)
    active = sum(1 for o in w.owners if not o.get("archived"))
    assert active > 500, "the active listing must take more than one page"
    return w


class Outcome:
    """One `usermap run --apply` against a sandbox, with the store before and after."""

    def __init__(self, root: Path, proc, seconds: float, before: dict, after: dict, stats):
        self.root, self.proc, self.seconds = root, proc, seconds
        self.before, self.after, self.stats = before, after, stats
        runs = [d for d in (root / "runs").iterdir() if d.is_dir()]
        assert len(runs) == 1, runs
        self.run_dir = runs[0]
        self.info = json.loads((self.run_dir / "run.json").read_text(encoding="utf-8"))

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr

    def report(self) -> str:
        return (self.run_dir / "report.html").read_text(encoding="utf-8")

    def email(self):
        with open(self.run_dir / "notification.eml", "rb") as f:
            return BytesParser(policy=policy.default).parse(f)

    def email_text(self) -> str:
        return self.email().get_body(preferencelist=("plain",)).get_content()


def run_apply(root: Path, world, *, fetch: str | None = None, served_owners=None,
              **server_kw) -> Outcome:
    """A sandbox with ``server_kw`` faults, then `usermap run --apply` as a subprocess."""
    srv, _cfg, _w, store = runkit.make_env(root, world=world, served_owners=served_owners,
                                           extra_toml=fetch if fetch is not None else fetch_toml(),
                                           **server_kw)
    try:
        before = runkit.store_state(store)
        p, seconds = runkit.cli(["run", "--config", str(root / "usermap.toml"), "--apply"],
                                env_extra=SANDBOX_TOKENS, timeout=RUN_TIMEOUT)
    finally:
        srv.stop()
    out = Outcome(root, p, seconds, before, runkit.store_state(store), Counter(srv.stats))
    leaks = runkit.token_leaks(root, p.stdout, p.stderr)   # runs folder, store, config
    assert not leaks, f"a token leaked into {leaks}"
    return out


def normalized(links: pd.DataFrame) -> list[tuple]:
    """The links without their timestamps (mapped_at/updated_at are the time of the apply)."""
    return sorted(map(tuple, links[LINK_KEYS].astype(str).to_numpy().tolist()))


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory) -> Outcome:
    """The same world, no faults: what every case that completes must leave in the store."""
    out = run_apply(tmp_path_factory.mktemp("reference"), world)
    assert out.proc.returncode == 0, out.output
    assert out.after["revision"] == out.before["revision"] + 1     # the plan was not empty
    assert out.info["fetch"]["retries"] == 0 and out.stats["429"] == out.stats["5xx"] == 0
    return out


def assert_completed_like(out: Outcome, reference: Outcome) -> None:
    assert out.proc.returncode == 0, out.output
    assert out.info["status"] == "ok" and out.info["exit_code"] == 0
    assert normalized(out.after["links"]) == normalized(reference.after["links"])
    assert out.after["revision"] == reference.after["revision"]
    assert out.after["journal"] == reference.after["journal"]
    assert len(out.after["runs"]) == len(reference.after["runs"])
    assert out.after["runs"] == out.before["runs"] + [out.run_dir.name]   # applied as this run
    assert json.loads((out.run_dir / "sync.json").read_text())["applied"] is True


def assert_stopped(out: Outcome, code: int, error_class: str, *, status: str = "failed",
                   notebook: str = "audit") -> None:
    """Exit ``code``, the store exactly as it was, and a run folder that says why."""
    assert out.proc.returncode == code, out.output
    # the store: every column of every link, the revision, the journal, the runs
    pd.testing.assert_frame_equal(out.after["links"], out.before["links"])
    assert {k: v for k, v in out.after.items() if k != "links"} == \
        {k: v for k, v in out.before.items() if k != "links"}
    # run.json: status, exit code, the fault's class and message
    info = out.info
    assert info["status"] == status and info["exit_code"] == code
    assert info["error_class"] == error_class and info["error_message"]
    assert info["error"].startswith(f"{error_class}: ")
    assert info["failed_notebook"] == notebook
    assert info["store_changed"] is False
    assert info["store_before"] == info["store_after"] == {
        "revision": out.before["revision"], "links": len(out.before["links"])}
    # the command's output
    assert f"{status.upper()} in {notebook}" in out.proc.stdout and error_class in out.proc.stdout
    # the report and the notification state the failure and the error
    html = out.report()
    assert re.search(rf'id="run-status">{status}<', html, re.I)
    assert str(markupsafe.escape(info["error_message"])) in html
    msg = out.email()
    assert f"[{status.upper()}]" in msg["Subject"]
    assert info["error_message"][:60] in " ".join(out.email_text().split())
    assert not (out.run_dir / "snapshot").exists() or code == 3   # no partial data kept


def assert_failure_report(out: Outcome) -> None:
    """The runner's failure report (the audit failed: no audit, no plan)."""
    html = out.report()
    assert 'id="run-status">FAILED<' in html and out.info["error_class"] in html
    assert "The store was not changed" in html
    assert "Content-Security-Policy" in html
    assert "<script" not in html and "<link" not in html and " src=" not in html
    text = out.email_text()
    assert "Status: FAILED" in text and out.info["error_class"] in text
    assert not (out.run_dir / "sync.ipynb").exists() and not (out.run_dir / "plan.json").exists()
    assert out.info["report"]["notification"].endswith("notification.eml")


# --- the faults ---------------------------------------------------------------------------------
def test_reference_run_without_faults(reference):
    assert reference.seconds < RUN_TIMEOUT
    assert "without retries" in reference.report()


def test_429_storm_completes_after_waiting_retry_after(tmp_path, world, reference):
    """One request per second per API: the second and third owners pages get 429 with
    Retry-After 1; the client waits as told and completes, with the same store as without
    faults; run.json, the report and the e-mail count the retries."""
    out = run_apply(tmp_path, world, rate_limit=1, rate_window=1.0)
    assert_completed_like(out, reference)
    assert out.stats["429"] >= 1
    assert out.info["fetch"]["retries_by_cause"]["rate_limit"] == out.stats["429"]
    assert "rate limiting (HTTP 429)" in out.report()
    assert "rate limiting (HTTP 429)" in out.email_text()


def test_429_storm_outlasting_the_retry_budget_exits_4(tmp_path, world):
    """One request per 30 s per API, and a retry budget of 3 s: the second owners page is told
    to wait 30 s, longer than the budget left. Exit 4 (RateLimitError), store untouched."""
    out = run_apply(tmp_path, world, rate_limit=1, rate_window=30.0,
                    fetch=fetch_toml(total_seconds=3.0, max_wait=60.0))
    assert_stopped(out, 4, "RateLimitError")
    assert_failure_report(out)
    assert out.stats["429"] >= 1
    assert "retry budget of 3 s ran out" in out.info["error_message"]
    assert "rate limited" in out.info["error_message"]
    assert out.seconds < 30       # not waited for


def test_server_errors_recovered(tmp_path, world, reference):
    """30 % of the answers are 500/502/503/504: each is retried with backoff; the run
    completes with the store a fault-free run gives."""
    out = run_apply(tmp_path, world, error_rate=0.3, sandbox_seed=11)
    assert_completed_like(out, reference)
    assert out.stats["5xx"] >= 1
    assert out.info["fetch"]["retries_by_cause"]["server_error"] == out.stats["5xx"]
    assert "server errors (HTTP 5xx)" in out.report()


def test_server_errors_persistent_exit_4(tmp_path, world):
    """Every answer is a 5xx: after `attempts` tries the source has failed. Exit 4."""
    out = run_apply(tmp_path, world, error_rate=1.0, fetch=fetch_toml(attempts=3))
    assert_stopped(out, 4, "SourceError")
    assert_failure_report(out)
    assert "gave up after 3 attempts" in out.info["error_message"]
    assert out.stats["5xx"] == 3 and out.stats["hubspot"] == 0   # Aloware first; no further


def test_cut_connections_recovered(tmp_path, world, reference):
    """40 % of the answers are cut half-way through the body: retried, the run completes."""
    out = run_apply(tmp_path, world, drop_rate=0.4, sandbox_seed=5)
    assert_completed_like(out, reference)
    assert out.stats["drops"] >= 1
    assert out.info["fetch"]["retries_by_cause"]["connection"] == out.stats["drops"]
    assert "cut or timed-out connections" in out.report()


def test_cut_connections_persistent_exit_4(tmp_path, world):
    """Every answer is cut: exit 4 once the attempts are used up; no partial listing kept."""
    out = run_apply(tmp_path, world, drop_rate=1.0, fetch=fetch_toml(attempts=3))
    assert_stopped(out, 4, "SourceError")
    assert_failure_report(out)
    assert "connection was cut" in out.info["error_message"]


def test_listing_cut_short_exits_4(tmp_path, world):
    """Every owners page after the first is cut: the active listing can never complete, so
    IncompleteListingError (exit 4), and the half listing never reaches the planner."""
    out = run_apply(tmp_path, world, cut_after=1, fetch=fetch_toml(attempts=3))
    assert_stopped(out, 4, "IncompleteListingError")
    assert_failure_report(out)
    assert out.stats["cuts"] == 3
    msg = out.info["error_message"]
    assert "page 2" in msg and "incomplete and was discarded" in msg


def test_empty_owners_listing_refused_by_the_guard(tmp_path, world):
    """HubSpot lists no owner at all: the plan would remove every link. The removal guard
    refuses it (exit 3); the store is unchanged; the report and the e-mail say REFUSED."""
    out = run_apply(tmp_path, world, served_owners=lambda owners: [])
    assert_stopped(out, 3, "RemovalGuardError", status="refused", notebook="sync")
    assert out.stats["hubspot"] == 2                  # both listings, each empty
    assert json.loads((out.run_dir / "snapshot" / "hubspot_owners.json").read_text()) == []
    plan = json.loads((out.run_dir / "plan.json").read_text())
    assert plan["summary"]["remove"] == len(out.before["links"]) > 0
    sync = json.loads((out.run_dir / "sync.json").read_text())
    assert sync["status"] == "refused" and sync["applied"] is False
    assert out.info["report"]["status"] == "refused"
    assert "Refused for safety" in out.report()
    assert "REFUSED" in out.email()["Subject"]


def test_server_slower_than_the_timeouts_exits_4(tmp_path, world):
    """Every answer takes 1.5 s and the client waits 0.4 s for one: each request times out;
    exit 4 after the attempts, well before the cell timeout."""
    out = run_apply(tmp_path, world, latency_ms=1500,
                    fetch=fetch_toml(attempts=2, read_timeout=0.4, connect_timeout=0.4))
    assert_stopped(out, 4, "SourceError")
    assert_failure_report(out)
    assert "timed out" in out.info["error_message"]
    assert "gave up after 2 attempts" in out.info["error_message"]
    assert out.seconds < 40


# --- two runs at once ----------------------------------------------------------------------------
def test_two_runs_at_once_one_is_refused(tmp_path, world, reference):
    """Two `usermap run --apply` started together on one config: one runs, the other exits 3
    at once (the lock) without a run folder; the store ends as one fault-free run leaves it."""
    srv, _cfg, _w, store = runkit.make_env(tmp_path, world=world, extra_toml=fetch_toml())
    env = {**os.environ, **SANDBOX_TOKENS}
    args = [runkit.USERMAP, "run", "--config", str(tmp_path / "usermap.toml"), "--apply"]
    try:
        t0 = time.perf_counter()
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env) for _ in range(2)]
        ended = {}
        while len(ended) < 2 and time.perf_counter() - t0 < RUN_TIMEOUT:
            for i, p in enumerate(procs):
                if i not in ended and p.poll() is not None:
                    ended[i] = time.perf_counter() - t0
            time.sleep(0.05)
        outs = [p.communicate(timeout=5) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        srv.stop()
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3], (codes, outs)
    loser, winner = codes.index(3), codes.index(0)
    assert ended[loser] < ended[winner]                  # refused at once, not after waiting
    assert "one run at a time" in outs[loser][1]
    runs = [d for d in (tmp_path / "runs").iterdir() if d.is_dir()]
    assert len(runs) == 1 and json.loads((runs[0] / "run.json").read_text())["exit_code"] == 0
    after = runkit.store_state(store)
    before_runs = [r for r in after["runs"] if r != runs[0].name]
    assert normalized(after["links"]) == normalized(reference.after["links"])
    assert after["revision"] == reference.after["revision"]
    assert after["journal"] == reference.after["journal"] and after["runs"] == before_runs + [runs[0].name]
    leaks = runkit.token_leaks(tmp_path / "runs", *[o for pair in outs for o in pair])
    assert not leaks, leaks


# --- the failure report ----------------------------------------------------------------------------
def test_failure_report_after_the_audit_keeps_its_report_and_escapes_the_error(tmp_path):
    """A failure in the sync notebook that the notebook did not report itself (here a stale
    plan): the runner's failure report replaces the audit's report.html (kept as
    audit-report.html), shows the audit's numbers, and escapes the error everywhere."""
    from usermap import runner
    from usermap.config import Config
    run_dir = tmp_path / "20260101T000000Z-abcd"
    run_dir.mkdir()
    (run_dir / "report.html").write_text("<html>the audit's report</html>", encoding="utf-8")
    (run_dir / "sync.ipynb").write_text("{}", encoding="utf-8")
    r = runner.RunResult(run_id=run_dir.name, run_dir=run_dir, apply=True)
    evil = "<img src=x onerror=alert(1)> changed since the plan"
    r._fail("StalePlanError", evil, 3)
    r.failed_notebook, r.failed_cell = "sync", 7
    r.summary = {"mapped": 12, "synced": 10, "errors": 2, "unmapped_aloware": 3,
                 "unmapped_hubspot": 1}
    r.store_before = r.store_after = {"revision": 4, "links": 12}
    runner._report_failure(r, Config(), run_dir)
    assert (run_dir / "audit-report.html").read_text() == "<html>the audit's report</html>"
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="run-status">REFUSED<' in html and "StalePlanError" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "audit-report.html" in html and "with issues" in html
    assert "The store was not changed: revision 4, 12 links" in html
    with open(run_dir / "notification.eml", "rb") as f:
        msg = BytesParser(policy=policy.default).parse(f)
    assert msg["Subject"].startswith("usermap [REFUSED]: run 20260101T000000Z-abcd, exit 3")
    assert msg["X-Usermap-Status"] == "refused"
    assert "<img" not in msg.get_body(preferencelist=("html",)).get_content()
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Status: REFUSED" in text and evil in text      # plain text: nothing to escape
    assert r.notification["status"] == "refused" and r.to_json()["report"] == r.notification
