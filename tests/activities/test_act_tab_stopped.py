"""The tab's Repair Apply shares the CLI's wiring (issue 21): when HubSpot stops the run half-way
(its daily limit, in the sandbox), the tab says so in red with View report (the run's report:
what was set) and the e-mail's words, and Repair then Apply completes the work."""

from __future__ import annotations

import pytest

import act_kit
from conftest import SANDBOX_TOKENS

from usermap.tab.app import MappingTab

pytestmark = pytest.mark.issue(21)


def test_a_stopped_repair_says_so_with_its_report_and_the_next_repair_completes_it(
        tmp_path, monkeypatch):
    e = act_kit.make_for_tab(tmp_path / "w", n=1500)
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    tab = MappingTab(str(e.config), workdir=tmp_path / "work")
    try:
        tab.repair()
        plan = tab.pending_repair
        calls = [c for c in plan["changes"] if c["object"] == "call"]
        assert 0 < len(calls) <= 100 and len(calls) < len(plan["changes"])
        e.srv.daily_limit = e.srv.stats["hubspot"] + -(-len(calls) // 50) + 1
        assert tab.apply(force=tab.preview["needs_force"]) is None
        o = tab.outcome
        assert o["kind"] == "bad" and o["text"].startswith("The repair stopped: ")
        assert "daily API limit" in o["text"] and f"{len(calls)} calls and texts were set" \
            in o["text"] and "Press Repair, then Apply, to complete it." in o["text"]
        assert o["email"] == "E-mail not sent: no SMTP server configured."
        report = e.root / "runs" / o["run_id"] / "report.html"
        assert 'id="run-status">failed<' in report.read_text(encoding="utf-8")
        assert str(e.root) not in o["text"] and "usermap.toml" not in o["text"]
        e.srv.daily_limit = 10**9
        tab.repair()
        assert tab.preview["total"] == len(plan["changes"]) - len(calls)
        out = tab.apply(force=tab.preview["needs_force"])
        assert out["done"] == len(plan["changes"]) - len(calls) and tab.outcome["kind"] == ""
        assert all(e.owner(c) == c["to"] for c in plan["changes"])
    finally:
        tab.close()
        e.srv.stop()
