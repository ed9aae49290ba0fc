"""The tab's Activities list (design §10): the newest run's impact, one row per person, in the
report's words."""

import json

import pytest

from usermap.tab.impact import after_runs, newest_impact, people_rows

pytestmark = pytest.mark.issue(21)

SUMMARY = {"since": "", "activities": 10, "misattributed": 3, "repairable": 2,
           "by_grade": {"A": 1, "B": 1, "unknown": 1}, "by_reason": {"stale_link": 3},
           "by_person": [{"aloware_user_id": "5", "calls": 1, "sms": 0, "repairable": 1,
                          "unknown": 0},
                         {"aloware_user_id": "9", "calls": 1, "sms": 1, "repairable": 1,
                          "unknown": 1}]}


def test_the_newest_run_with_an_impact_is_read(tmp_path):
    assert newest_impact(tmp_path / "none") is None
    for rid, n in (("20261201T000000Z-aaaa", 1), ("20261202T000000Z-bbbb", 2)):
        d = tmp_path / rid / "activities"
        d.mkdir(parents=True)
        (d / "summary.json").write_text(json.dumps({**SUMMARY, "activities": n}))
    (tmp_path / "20261203T000000Z-cccc").mkdir()          # a run without activities
    rid, summary = newest_impact(tmp_path)
    assert rid == "20261202T000000Z-bbbb" and summary["activities"] == 2


def test_rows_say_it_per_person_most_first():
    rows = people_rows(SUMMARY, {"9": "Ann <b>Lee</b>\nX"})
    assert [r["Aloware id"] for r in rows] == ["9", "5"]
    assert rows[0]["Person"] == "Ann <b>Lee</b>\\nX"             # text, on its line
    assert rows[0]["What happened"].startswith("Ann <b>Lee</b>\\nX: 1 call and 1 text landed")
    assert (rows[0]["Calls"], rows[0]["Texts"], rows[0]["Can be repaired"],
            rows[0]["Cannot be proven"]) == (1, 1, 1, 1)
    assert rows[1]["Person"] == "Aloware user 5"


def test_after_runs_takes_off_what_a_repair_set_last_and_keeps_what_an_undo_set_back():
    rows = [{"object": "call", "activity_id": "1", "aloware_user_id": "7", "grade": "A",
             "reason": "r1"},
            {"object": "sms", "activity_id": "2", "aloware_user_id": "7", "grade": "B",
             "reason": "r2"},
            {"object": "call", "activity_id": "3", "aloware_user_id": "7", "grade": "unknown",
             "reason": "r3"},
            {"object": "call", "activity_id": "4", "aloware_user_id": "", "grade": "A",
             "reason": "r1"}]
    summary = {"misattributed": 4, "repairable": 3, "unattributed": 1,
               "by_grade": {"A": 2, "B": 1, "unknown": 1}, "by_reason": {"r1": 2, "r2": 1, "r3": 1},
               "by_person": [{"aloware_user_id": "7", "calls": 2, "sms": 1, "A": 1, "B": 1,
                              "unknown": 1, "repairable": 2}]}
    fixed = {("calls", "1"): "activities", ("communications", "2"): "activities",
             ("calls", "4"): "activities"}
    after = after_runs(summary, rows, fixed)
    assert after["by_person"] == [{"aloware_user_id": "7", "calls": 1, "sms": 0, "A": 0, "B": 0,
                                   "unknown": 1, "repairable": 0}]
    assert (after["misattributed"], after["repairable"], after["unattributed"]) == (1, 0, 0)
    assert after["by_grade"] == {"A": 0, "B": 0, "unknown": 1} and after["by_reason"] == {"r3": 1}
    undone = dict.fromkeys(fixed, "activities_undo")
    assert after_runs(summary, rows, undone) == summary
    assert after_runs(summary, rows, {("calls", "9"): "activities"}) == summary


def test_done_after_takes_who_set_each_activity_last_by_time(tmp_path):
    """A resumed repair keeps its first run id and its rows their first place: what counts is
    when each activity was set, so a repair resumed after an undo of it wins."""
    from usermap.activities import journal
    from usermap.clock import run_started
    from usermap.store.store import Store
    with Store.open(tmp_path / "s.db", create=True) as store:
        def settle(run_id, kind, aid, at):
            journal.open_run(store, plan_hash=run_id, kind=kind, run_id=run_id, now=at)
            item = {"activity_id": aid, "from": "1", "to": "2", "reason": "r"}
            journal.record(store, run_id, at, intend=("calls", [item]))
            journal.record(store, run_id, at, settle=[("calls", [item], [])])
        settle("20260101T000000Z-aaaa", "activities", "old", "2026-01-01T00:00:00Z")
        settle("20260102T000000Z-r1r1", "activities", "x", "2026-01-03T00:00:00Z")
        settle("20260104T000000Z-u1u1", "activities_undo", "x", "2026-01-04T00:00:00Z")
        journal.record(store, "20260102T000000Z-r1r1", "2026-01-05T00:00:00Z",   # resumed
                       settle=[("calls", [{"activity_id": "x", "from": "1", "to": "2",
                                           "reason": "r"}], [])])
        got = journal.done_after(store, run_started("20260102T120000Z-scan"))
    assert got == {("calls", "x"): "activities"}
    assert run_started("not-a-run") == ""
