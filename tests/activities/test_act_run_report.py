"""An activities repair run (and its undo) is recorded like a sync (design §10, issue 21): a run
folder with report.html (per person: set, skipped as changed since the plan, failed; the state
after; the next commands, which work as printed) and the e-mail (aiosmtpd on 127.0.0.1) or
"not sent"; a run that stops half-way still gets a report that says what was done, and the
command it prints completes it. `usermap` runs as a subprocess against the sandbox and a real
SQLite store; the report is looked at in Chromium at 1280 and 390 px."""

from __future__ import annotations

import email
import json
import os
import re
import shlex
import sqlite3
from email import policy
from pathlib import Path

import pytest

import act_kit
from runkit import cli, token_leaks
from test_report_browser import browser  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.issue(21)

ENV = act_kit.env_vars()
HOSTILE = "<img src=x onerror=alert(1)>\r\nBcc: evil@attacker.test"
SHOTS = Path(os.environ.get("USERMAP_ACT_SHOTS", "/work/notes/shots-act2"))


class Sink:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.content)
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    from aiosmtpd.controller import Controller

    from usermap.tabserver import free_port
    sink = Sink()
    port = free_port()
    c = Controller(sink, hostname="127.0.0.1", port=port)
    c.start()
    yield sink, port
    c.stop()


def _with(e, text: str) -> None:
    e.config.write_text(e.config.read_text(encoding="utf-8") + text, encoding="utf-8")


def _run(e, *args, cwd=None):
    p, _ = cli(list(args), ENV, cwd=cwd or e.root)
    return p


def _hostile_name(e, user: str) -> None:
    """The e-mail the store recorded for ``user`` (the name the report shows) made hostile."""
    con = sqlite3.connect(e.store)
    with con:
        for seq, after in con.execute("SELECT seq, after FROM journal WHERE aloware_user_id=?",
                                      (user,)).fetchall():
            if after:
                a = json.loads(after)
                a["aloware_email"] = HOSTILE
                con.execute("UPDATE journal SET after=? WHERE seq=?", (json.dumps(a), seq))
    con.close()


def _message(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


@pytest.fixture(scope="module")
def repaired(tmp_path_factory, smtp):
    """One world repaired through the CLI with SMTP configured: (env, plan, stdout, run id)."""
    e = act_kit.make(tmp_path_factory.mktemp("act-run") / "w", n=1500)
    _with(e, f'\n[runs]\ndir = "runs"\n\n[smtp]\nhost = "127.0.0.1"\nport = {smtp[1]}\n'
             f'starttls = false\nsender = "usermap@acme.test"\n'
             f'recipients = ["ops@acme.test"]\ntimeout = 20\n')
    truth = {t["activity_id"]: t for t in e.truth["misattributed"]}
    top = max((t["aloware_user_id"] for t in truth.values() if t["grade"] in ("A", "B")),
              key=lambda u: sum(t["aloware_user_id"] == u and t["grade"] in ("A", "B")
                                for t in truth.values()))
    _hostile_name(e, top)
    p = _run(e, "activities", "plan", "--config", "usermap.toml", "--evidence",
             str(e.evidence), "--out", "repair.json")
    assert p.returncode == 0, p.stderr
    plan = json.loads((e.root / "repair.json").read_text())
    edited = plan["changes"][0]                  # a person changes one before the apply
    obj = "calls" if edited["object"] == "call" else "communications"
    rec = e.crm.get(obj, edited["activity_id"])
    e.crm.add(obj, edited["activity_id"], {**rec["properties"], "hubspot_owner_id": "999"},
              [{"value": "999", "timestamp": "2026-12-01T00:00:00.000Z",
                "sourceType": "CRM_UI", "sourceId": "userId:5"}] + rec["history"])
    p = _run(e, "activities", "apply", "repair.json", "--config", "usermap.toml", "--yes")
    assert p.returncode == 0, p.stderr
    run_id = p.stdout.split()[1].rstrip(":")
    yield e, plan, p.stdout, run_id, top, edited
    e.srv.stop()


def test_the_repair_run_has_its_report_and_email(repaired, smtp):
    e, plan, out, run_id, top, edited = repaired
    n = len(plan["changes"])
    run_dir = e.root / "runs" / run_id
    # the CLI says where the report is, as `usermap run` does
    assert f"  report:       {run_dir / 'report.html'}" in out
    assert f"  notification: {run_dir / 'notification.eml'} (sent)" in out
    assert f"{n - 1} activities set, 1 skipped (changed since the plan), 0 failed" in out
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h1>Activities repair</h1>" in html
    assert f'id="n-set">{n - 1}<' in html and 'id="n-skipped">1<' in html
    assert 'id="n-failed">0<' in html and f'id="n-planned">{n}<' in html
    assert "Where things stand after this run" in html and "What to do next" in html
    assert "changed since the plan" in html
    # per person: the hostile name is text, never markup; its counts are the plan's
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    mine = [c for c in plan["changes"] if c["aloware_user_id"] == top]
    want = (sum(c != edited for c in mine), sum(c == edited for c in mine))
    cells = re.findall(r'data-label="(Set|Skipped|Failed)" class="k-num"><span class="v">'
                       r'([\d,]+)</span>', html.split("&lt;img", 1)[1])[:3]
    assert cells == [("Set", str(want[0])), ("Skipped", str(want[1])), ("Failed", "0")]
    # the plan it applied is in the run folder, with run.json
    assert json.loads((run_dir / "activities-plan.json").read_text())["hash"] == plan["hash"]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["kind"] == "activities" and info["status"] == "ok" and info["sent"] is True
    # the e-mail: the counts in the subject and the text; no name can make a header
    sink, _ = smtp
    m = _message(sink.received[0])
    assert m["Subject"] == (f"usermap [OK]: activities repair, run {run_id}: {n - 1} set, 1 "
                            f"skipped (changed since the plan), 0 failed")
    assert m["X-Usermap-Run"] == run_id and m["To"] == "ops@acme.test"
    assert m["Bcc"] is None and "attacker" not in str(m.items())
    text = m.get_body(("plain",)).get_content()
    assert f"{n - 1:>9}  owner set" in text and "changed since the plan" in text
    assert "<img src=x onerror=alert(1)>\\r\\nBcc" in text     # one line, as text
    part = m.get_body(("html",)).get_content()
    assert "<img" not in part and "&lt;img" in part
    assert token_leaks(e.root, out) == []


def test_the_undo_the_report_prints_works_and_is_reported_too(repaired, smtp):
    e, plan, _, run_id, _, edited = repaired
    sink, _ = smtp
    html = (e.root / "runs" / run_id / "report.html").read_text(encoding="utf-8")
    cmd = re.search(r'<code class="code">(usermap activities undo [^<]+)</code>', html).group(1)
    assert cmd == f"usermap activities undo {run_id} --config usermap.toml --out undo.json"
    p = _run(e, *shlex.split(cmd)[1:])
    assert p.returncode == 0, p.stderr
    apply = re.search(r'<code class="code">(usermap activities apply undo.json [^<]+)</code>',
                      html).group(1)
    p = _run(e, *shlex.split(apply)[1:])
    assert p.returncode == 0, p.stderr
    undo_id = p.stdout.split()[1].rstrip(":")
    for c in plan["changes"]:                     # every owner back as it was
        if c != edited:
            assert e.owner(c) == c["from"], c
    html = (e.root / "runs" / undo_id / "report.html").read_text(encoding="utf-8")
    assert "<h1>Undo of an activities repair</h1>" in html and f"undoes <code>{run_id}" in html
    assert f'id="n-set">{len(plan["changes"]) - 1}<' in html
    assert "`usermap activities plan --config usermap.toml --out repair.json`" in \
        _message(sink.received[-1]).get_body(("plain",)).get_content()
    m = _message(sink.received[-1])
    assert m["Subject"].startswith(f"usermap [OK]: undo of activities repair {run_id}, run "
                                   f"{undo_id}: {len(plan['changes']) - 1} set")
    assert "report:" in p.stdout and "(sent)" in p.stdout


def test_a_run_that_stops_half_way_says_what_was_done_and_how_to_complete_it(tmp_path):
    e = act_kit.make(tmp_path / "w", n=1500)
    try:
        _with(e, '\n[runs]\ndir = "runs"\n')
        p = _run(e, "activities", "plan", "--config", "usermap.toml", "--evidence",
                 str(e.evidence), "--out", "repair.json")
        assert p.returncode == 0, p.stderr
        plan = json.loads((e.root / "repair.json").read_text())
        calls = [c for c in plan["changes"] if c["object"] == "call"]
        texts = [c for c in plan["changes"] if c["object"] == "sms"]
        assert 0 < len(calls) <= 100 and texts
        # HubSpot's daily limit runs out after the calls' batch (its re-reads and its update)
        e.srv.daily_limit = e.srv.stats["hubspot"] + -(-len(calls) // 50) + 1
        p = _run(e, "activities", "apply", "repair.json", "--config", "usermap.toml", "--yes")
        assert p.returncode == 4, p.stdout + p.stderr
        report = re.search(r"  report:       (\S+)", p.stderr).group(1)
        assert "(written, not sent: no [smtp] host)" in p.stderr
        html = Path(report).read_text(encoding="utf-8")
        assert 'id="run-status">failed<' in html
        assert f'id="n-set">{len(calls)}<' in html and f'id="n-failed">{len(texts)}<' in html
        assert "The run stopped: SourceError" in html and "daily API limit" in html
        assert all(e.owner(c) == c["to"] for c in calls)
        assert all(e.owner(c) == c["from"] for c in texts)
        cmd = re.search(r'<code class="code">(usermap activities apply [^<]+)</code>',
                        html).group(1)
        assert "--config usermap.toml --yes" in cmd and "activities-plan.json" in cmd
        e.srv.daily_limit = 10**9
        p = _run(e, *shlex.split(cmd)[1:])
        assert p.returncode == 0, p.stderr
        assert "(resumed)" in p.stdout and p.stdout.split()[1].rstrip(":") == Path(report).parent.name
        assert all(e.owner(c) == c["to"] for c in plan["changes"])
        html = Path(report).read_text(encoding="utf-8")
        assert 'id="run-status">ok<' in html and f'id="n-set">{len(plan["changes"])}<' in html
        assert "resumed" in html
    finally:
        e.srv.stop()


@pytest.mark.browser
def test_the_report_reads_in_chromium_at_1280_and_390(repaired, browser):  # noqa: F811
    e, _, _, run_id, _, _ = repaired
    url = (e.root / "runs" / run_id / "report.html").as_uri()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        ctx = browser.new_context(viewport={"width": width, "height": 900})
        requests = []
        ctx.on("request", lambda r: requests.append(r.url))
        pg = ctx.new_page()
        pg.goto(url)
        assert pg.locator("h1").inner_text() == "Activities repair"
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        wide = pg.evaluate("""() => Array.from(document.querySelectorAll('body *')).filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1); }).length""")
        assert wide == 0
        assert pg.get_by_text("What to do next").is_visible()
        pg.screenshot(path=str(SHOTS / f"repair-report-{width}.png"), full_page=True)
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
        ctx.close()



def test_usermap_undo_of_an_activities_run_names_the_command_that_works(repaired):
    e, _, _, run_id, _, _ = repaired
    p = _run(e, "undo", run_id, "--config", "usermap.toml", "--out", "u.json")
    assert p.returncode == 2 and not (e.root / "u.json").exists()
    cmd = f"usermap activities undo {run_id} --config usermap.toml --out u.json"
    assert f"`{cmd}`" in p.stderr, p.stderr
    p = _run(e, *shlex.split(cmd)[1:])                    # works as printed
    assert p.returncode == 0, p.stderr
    assert "`usermap activities apply u.json --config usermap.toml --yes`" in p.stdout
    assert json.loads((e.root / "u.json").read_text())["undo_of"] == run_id
    # without --config (and no ./usermap.toml): it says which config it needs
    p = _run(e, "undo", run_id, "--store", str(e.store), "--out", "v.json", cwd=e.root.parent)
    assert p.returncode == 2 and f"[store] path is {e.store}" in p.stderr, p.stderr
    # the undo of a repair is not undone by either: a new repair plan sets those owners again
    con = sqlite3.connect(e.store)
    undo_id = con.execute("SELECT run_id FROM runs WHERE kind='activities_undo'").fetchone()
    con.close()
    if undo_id:
        p = _run(e, "undo", undo_id[0], "--config", "usermap.toml", "--out", "w.json")
        assert p.returncode == 2 and "usermap activities plan --config usermap.toml" in p.stderr


def test_usermap_runs_lines_up_the_activities_runs(repaired):
    e, _, _, run_id, _, _ = repaired
    p = _run(e, "runs", "--store", str(e.store))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert any(run_id in ln and " activities" in ln for ln in lines), p.stdout
    # every column starts where its header does, whatever the kind's length
    starts = [lines[0].index(h) for h in ("kind", "time")]
    for ln in lines[1:]:
        assert ln[starts[0] - 1] == " " and ln[starts[0]] != " ", p.stdout
        assert ln[starts[1] - 1] == " " and ln[starts[1]].isdigit(), p.stdout
