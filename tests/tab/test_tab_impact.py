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


def test_after_runs_counts_a_repair_an_undo_and_a_repair_again():
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
    repair = ("activities", {("calls", "1"), ("communications", "2"), ("calls", "4")})
    undo = ("activities_undo", {("calls", "1"), ("communications", "2"), ("calls", "4")})
    after = after_runs(summary, rows, [repair])
    assert after["by_person"] == [{"aloware_user_id": "7", "calls": 1, "sms": 0, "A": 0, "B": 0,
                                   "unknown": 1, "repairable": 0}]
    assert (after["misattributed"], after["repairable"], after["unattributed"]) == (1, 0, 0)
    assert after["by_grade"] == {"A": 0, "B": 0, "unknown": 1} and after["by_reason"] == {"r3": 1}
    assert after_runs(summary, rows, [repair, undo]) == summary
    assert after_runs(summary, rows, [repair, undo, repair]) == after
    assert after_runs(summary, rows, [("activities", {("calls", "9")})]) == summary
