"""Design §10 in the words people read: the impact per person in the report, the e-mail, the
notebook and `usermap run` (with ``[activities] enabled``), against the sandbox's world."""

from __future__ import annotations

import json
import os

import pytest

import forkcli

import act_kit
from conftest import SANDBOX_TOKENS
from test_report import world_audit

from usermap import workflow
from usermap.config import Config
from usermap.report.build import build_report
from usermap.report.render import report_email, report_html
from usermap.report.repair import build_repair, person_sentence

pytestmark = pytest.mark.issue(21)

SUMMARY = {"since": "2026-11-03T00:00:00Z", "activities": 500, "misattributed": 59,
           "by_grade": {"A": 30, "B": 11, "unknown": 18}, "repairable": 41,
           "by_reason": {"stale_link": 11, "export_names_user": 30, "unassigned": 18},
           "unattributed": 0,
           "by_person": [{"aloware_user_id": "7", "name": "liam@x.io", "calls": 47, "sms": 12,
                          "A": 30, "B": 11, "unknown": 18, "repairable": 41},
                         {"aloware_user_id": "8", "name": "x@x.io", "calls": 1, "sms": 0,
                          "A": 0, "B": 0, "unknown": 1, "repairable": 0}]}


def test_one_sentence_per_person_in_the_words_of_the_issue():
    r = build_repair(SUMMARY, {"7": "Liam Walsh"})
    assert r.people[0] == ("7", "Liam Walsh", person_sentence("Liam Walsh", SUMMARY["by_person"][0],
                                                              "3 Nov 2026"))
    assert r.people[0][2] == ("Liam Walsh: 47 calls and 12 texts since 3 Nov 2026 landed on the "
                              "wrong owner; 41 can be repaired (proven), 18 cannot be proven (an "
                              "Aloware export or a person must say).")
    # no name known: the export's e-mail, else the id; most activities first
    assert r.people[1][1] == "x@x.io" and "1 call since" in r.people[1][2]
    assert [c for c, _, _ in r.by_reason] == ["export_names_user", "unassigned", "stale_link"]
    assert r.repairable == 41 and r.unknown == 18 and r.misattributed == 59


def test_a_name_with_line_breaks_stays_on_its_line():
    r = build_repair(SUMMARY, {"7": "Liam\r\nSUBJECT: ACTION REQUIRED\u2028x"})
    sentence = r.people[0][2]
    assert len(sentence.splitlines()) == 1 and "\\r\\n" in sentence


def test_report_and_email_show_the_people():
    audit, _ = world_audit()
    rep = build_report(audit, run_id="r1", generated_at="2026-12-06T10:00:00Z", repair=SUMMARY)
    html = report_html(rep)
    assert 'id="repair"' in html and "landed on the wrong owner" in html
    assert 'id="n-repairable">41<' in html
    text = report_email(rep, {}, html=False)
    assert "CALLS AND TEXTS ON THE WRONG OWNER" in text
    assert "59 of 500 calls and texts since 3 Nov 2026 landed on the wrong owner" in text
    assert report_email(rep, {}, html=True).count("landed on the wrong owner") >= 2
    assert rep.to_json()["repair"]["repairable"] == 41
    without = build_report(audit, run_id="r1", generated_at="2026-12-06T10:00:00Z")
    assert 'id="repair"' not in report_html(without)
    assert "WRONG OWNER" not in report_email(without, {}, html=False)


def _env(tmp_path, enabled: bool):
    e = act_kit.make(tmp_path / "w", n=800, extra="enabled = true\n" if enabled else "")
    cfg = e.config.read_text(encoding="utf-8")
    e.config.write_text(cfg + f'\n[aloware]\nbase_url = "{e.srv.base_url}"\n\n[runs]\ndir = "runs"\n',
                        encoding="utf-8")
    return e


def test_the_impact_step_writes_what_the_command_writes(tmp_path):
    e = _env(tmp_path, enabled=True)
    try:
        os.environ.update(SANDBOX_TOKENS)
        cfg = Config.load(str(e.config))
        got = workflow.activity_impact(cfg, e.store, tmp_path / "run")
        rows, summary = act_kit.read_impact(tmp_path / "run" / workflow.IMPACT_DIR)
        assert got == summary == workflow.read_impact(tmp_path / "run")
        assert set(rows) == {t["activity_id"] for t in e.truth["misattributed"]}
        assert summary["misattributed"] == len(rows) > 0
        off = Config.load(None)
        assert workflow.activity_impact(off, e.store, tmp_path / "run2") is None
        assert not (tmp_path / "run2").exists()
    finally:
        for k in SANDBOX_TOKENS:
            os.environ.pop(k, None)
        e.srv.stop()


@pytest.mark.slow
def test_usermap_run_includes_the_impact_when_enabled(tmp_path):
    e = _env(tmp_path, enabled=True)
    try:
        env = {**os.environ, **SANDBOX_TOKENS}
        r = forkcli.run(["run", "--config", str(e.config)], env=env, cwd=e.root, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        run_dir = sorted(p for p in (e.root / "runs").iterdir() if p.is_dir())[-1]
        summary = json.loads((run_dir / "activities" / "summary.json").read_text("utf-8"))
        html = (run_dir / "report.html").read_text(encoding="utf-8")
        eml = (run_dir / "notification.eml").read_text(encoding="utf-8")
        assert f'id="n-misattributed">{summary["misattributed"]:,}<' in html
        assert "landed on the wrong owner" in html and "WRONG OWNER" in eml
    finally:
        e.srv.stop()
