"""The report of an activities run from plain values (report/repairrun.py, pure): set, skipped as
changed since the plan, failed (HubSpot refused the owner; or never reached when the run
stopped), per person, with the state after and the next commands."""

from __future__ import annotations

import pytest

from usermap.labels import REFUSED_OWNER
from usermap.report.repairrun import build_repair_run

pytestmark = pytest.mark.issue(21)

PLAN = {"kind": "repair", "undo_of": "", "changes": [
    {"object": "call", "activity_id": str(i), "aloware_user_id": u, "from": "1", "to": "2"}
    for i, u in enumerate(["7", "7", "7", "8", "8", ""])]}


def _build(rows, error=""):
    return build_repair_run(run_id="R1", generated_at="2026-12-06T10:00:00Z", plan=PLAN,
                            rows=rows, people_of={("calls", c["activity_id"]):
                                                  c["aloware_user_id"] for c in PLAN["changes"]},
                            names={"7": "Liam Walsh"}, resumed=False, config_arg="c.toml",
                            plan_file="runs/R1/activities-plan.json", error=error)


def test_set_skipped_and_refused_per_person():
    rows = {("calls", "0"): {"state": "done"}, ("calls", "1"): {"state": "done"},
            ("calls", "2"): {"state": "skipped", "reason": "skipped: changed since the plan"},
            ("calls", "3"): {"state": "skipped", "reason": REFUSED_OWNER},
            ("calls", "4"): {"state": "done"}, ("calls", "5"): {"state": "done"}}
    r = _build(rows)
    assert (r.status, r.done, r.skipped, r.failed, r.planned) == ("warning", 4, 1, 1, 6)
    assert r.people[0] == ("Liam Walsh", "7", 2, 1, 0)
    assert ("Aloware user 8", "8", 1, 0, 1) in r.people
    assert ("no Aloware user named", "", 1, 0, 0) in r.people
    assert r.skip_reasons == (("changed since the plan", 1),)
    assert any("HubSpot refused their owner" in s for s in r.state)
    assert any("usermap activities undo R1 --config c.toml --out undo.json" in s
               for s in r.next_steps)
    assert r.subject() == ("usermap [WARNING]: activities repair, run R1: 4 set, 1 skipped "
                           "(changed since the plan), 1 failed")


def test_a_stopped_run_counts_the_unreached_as_failed_and_says_how_to_complete_it():
    rows = {("calls", "0"): {"state": "done"}, ("calls", "1"): {"state": "intent"}}
    r = _build(rows, error="SourceError: the daily limit")
    assert (r.status, r.done, r.failed) == ("failed", 1, 5)
    assert r.next_steps[0].startswith("Apply the same plan again") and \
        "`usermap activities apply runs/R1/activities-plan.json --config c.toml --yes`" in \
        r.next_steps[0]
    assert any("1 may or may not have reached HubSpot" in s and "4 were not sent yet" in s
               for s in r.state)
    html = r.to_html()
    assert 'id="run-status">failed<' in html and "The run stopped: SourceError" in html
