"""The tab's Activities list (design §10): the newest run's impact, one row per person, in the
report's words."""

import json

import pytest

from usermap.tab.impact import newest_impact, people_rows

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
