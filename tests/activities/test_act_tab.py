"""The tab's Repair (design §9, §10) against the sandbox's world: a preview of the proven
activities with Apply in the bar, then Apply sets exactly those owners; the Activities list
reads the newest run's impact."""

from __future__ import annotations


import pytest

import act_kit
from conftest import SANDBOX_TOKENS

from usermap import workflow
from usermap.config import Config
from usermap.tab.app import MappingTab

pytestmark = pytest.mark.issue(21)


@pytest.fixture
def env(tmp_path, monkeypatch):
    e = act_kit.make_for_tab(tmp_path / "w", n=600)
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    yield e
    e.srv.stop()


def test_repair_previews_the_proven_and_apply_sets_exactly_them(env, tmp_path):
    proven = {t["activity_id"]: t for t in env.truth["misattributed"]
              if t["without_export"]["grade"] == "B"}
    before = {t["activity_id"]: env.owner(t) for t in env.truth["misattributed"]}
    tab = MappingTab(str(env.config), workdir=tmp_path / "work")
    try:
        tab.repair()
        p = tab.preview
        assert p["kind"] == "repair" and p["total"] == len(proven) > 0
        assert p["can_apply"] or p["needs_force"]
        assert all(r["action"] == "Set owner" and "→" in r["owner"] for r in p["steps"][0]["rows"])
        assert all(env.owner(t) == before[k] for k, t in proven.items())   # nothing yet
        out = tab.apply(force=p["needs_force"])
        assert out["done"] == len(proven) and "Repaired:" in tab.outcome["text"]
        for k, t in proven.items():
            assert env.owner(t) == t["without_export"]["intended_owner_id"], k
        unproven = [t for t in env.truth["misattributed"] if t["activity_id"] not in proven]
        assert all(env.owner(t) == before[t["activity_id"]] for t in unproven)
        assert tab.preview == {} and tab.pending_repair is None
    finally:
        tab.close()


def test_the_activities_list_shows_the_newest_run(env, tmp_path):
    cfg = Config.load(str(env.config))
    runs = cfg.resolve(cfg.runs.dir)
    summary = workflow.activity_impact(cfg, env.store, runs / "20991231T000000Z-abcd")
    tab = MappingTab(str(env.config), workdir=tmp_path / "work")
    try:
        rows = tab.activities
        assert len(rows) == len(summary["by_person"]) > 0
        assert sum(r["Calls"] + r["Texts"] for r in rows) == summary["misattributed"] - summary[
            "unattributed"]
        assert all("landed on the wrong owner" in r["What happened"] for r in rows)
    finally:
        tab.close()


def _totals(rows) -> tuple[int, int]:
    return (sum(r["Calls"] + r["Texts"] for r in rows), sum(r["Can be repaired"] for r in rows))


def test_after_a_repair_the_list_counts_what_is_left_and_an_undo_brings_it_back(env, tmp_path):
    from usermap.activities.apply import guard
    from usermap.activities.repair import apply_repair
    from usermap.activities.undo import undo_plan
    from usermap.clock import utc_now
    from usermap.store.store import Store
    cfg = Config.load(str(env.config))
    summary = workflow.activity_impact(cfg, env.store,
                                       cfg.resolve(cfg.runs.dir) / "20200101T000000Z-abcd")
    tab = MappingTab(str(env.config), workdir=tmp_path / "work")
    try:
        before = _totals(tab.activities)
        assert before == (summary["misattributed"] - summary["unattributed"],
                          summary["repairable"]) and before[1] > 0
        tab.repair()
        out = tab.apply(force=tab.preview["needs_force"])
        assert out["done"] == before[1]
        after = _totals(tab.activities)   # the proven ones left the wrong owner
        assert after == (before[0] - out["done"], 0)
        assert all("can be repaired" not in r["What happened"] for r in tab.activities)
    finally:
        tab.close()
    again = MappingTab(str(env.config), workdir=tmp_path / "work2")   # reopened: the same
    try:
        assert _totals(again.activities) == after
    finally:
        again.close()
    with Store.open(env.store) as store:
        undo = undo_plan(store, out["run_id"], created_at=utc_now())
        guard(undo, 1.0, True)
        apply_repair(cfg, store, undo)
    undone = MappingTab(str(env.config), workdir=tmp_path / "work3")
    try:
        assert _totals(undone.activities) == before
    finally:
        undone.close()


def test_a_repair_before_any_refresh_says_what_it_did(env, tmp_path):
    """No data loaded (a first Refresh that failed): the repair still applies, the list still
    counts what is left, and the words say the repair, not an error."""
    cfg = Config.load(str(env.config))
    workflow.activity_impact(cfg, env.store, cfg.resolve(cfg.runs.dir) / "20200101T000000Z-abcd")
    tab = MappingTab(str(env.config), workdir=tmp_path / "work", load=False)
    try:
        tab.repair()
        n = tab.preview["total"]
        tab._on_msg(None, {"action": "force" if tab.preview["needs_force"] else "apply"}, None)
        assert "Repaired:" in tab.outcome["text"] and "went wrong" not in str(tab.status)
        assert sum(r["Can be repaired"] for r in tab.activities) == 0 < n
    finally:
        tab.close()
