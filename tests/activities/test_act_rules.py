"""Activities (issue 21): the pure rules against the world's ground truth (a real store written
through Store.write_changes/record_audit at past times), and the evidence reader's exit-2
errors. No HTTP here: the end-to-end tests against the sandbox are test_act_sandbox.py."""

from __future__ import annotations

import json

import pytest

from usermap.activities import rules
from usermap.activities.evidence import read_evidence
from usermap.activities.timeline import load_timeline
from usermap.errors import InputError
from usermap.sandbox import activities_world as aw
from usermap.sandbox.scenarios import generate
from usermap.store.store import Store


def _activities(world):
    out = []
    for obj, aid, p, h in world.records:
        out.append(rules.Activity(
            "call" if obj == "calls" else "sms", aid, rules.to_ms(p["hs_timestamp"]),
            p["hubspot_owner_id"] or "", tuple(h), p.get("hs_call_external_id", ""),
            p.get("hs_call_from_number", ""), p.get("hs_call_to_number", ""),
            int(p["hs_call_duration"]) if "hs_call_duration" in p else None))
    return out


@pytest.mark.parametrize("default_owner", [False, True])
def test_rules_find_exactly_the_truth(tmp_path, default_owner):
    world = aw.build(generate(300, 3), 3000, 1, default_owner=default_owner)
    aw.write_store(world, tmp_path / "s.db")
    aw.write_evidence(world, tmp_path / "ev.jsonl")
    with Store.open(tmp_path / "s.db") as st:
        tl = load_timeline(st)
        assert st.journal()["at"].min().startswith("2026-09-01T06")   # past times kept
        assert len(st.audits()) == aw.DAYS
    acts = _activities(world)
    named = rules.match_evidence(read_evidence(tmp_path / "ev.jsonl"),
                                 [a for a in acts if a.object == "call"])
    got = {}
    for a in acts:
        r = rules.assess(a, tl, evidence_user=named.get(a.id), app_id=aw.APP_ID)
        if r is not None:
            got[r.activity_id] = (r.aloware_user_id, r.intended_owner_id, r.grade, r.reason)
    want = {t["activity_id"]: (t["aloware_user_id"], t["intended_owner_id"], t["grade"],
                               t["reason"]) for t in world.truth}
    assert got == want
    grades = {g for _, _, g, _ in want.values()}
    assert grades == {"A", "B", "unknown"}      # the world exercises every grade
    reasons = {r for *_, r in want.values()}
    assert {"export_names_user", "stale_link", "owner_changed_since",
            "no_valid_link_since"} <= reasons


def _tl(journal, audits):
    return rules.Timeline.build(journal, audits)


def test_intended_is_next_valid_link_and_error_onset_is_the_audit():
    j = [{"action": "add", "aloware_user_id": "u", "hubspot_owner_id": "o1", "after": None,
          "at": "2026-01-01T00:00:00Z"},
         {"action": "update", "aloware_user_id": "u", "hubspot_owner_id": "o2", "after": None,
          "at": "2026-01-10T00:00:00Z"}]
    a = [{"at": "2026-01-03T00:00:00Z", "issues": []},
         {"at": "2026-01-05T00:00:00Z", "issues": ["hubspot_owner_deactivated:u"]},
         {"at": "2026-01-10T00:00:00Z", "issues": []}]
    tl = _tl(j, a)
    t = rules.to_ms
    assert tl.intended("u", t("2026-01-04T00:00:00Z")) == "o1"   # before the audit saw it
    assert tl.intended("u", t("2026-01-06T00:00:00Z")) == "o2"   # in error: the next link's
    assert tl.intended("u", t("2025-12-01T00:00:00Z")) == "o1"   # unmapped then: the fix's
    assert tl.intended("x", t("2026-01-06T00:00:00Z")) == ""
    stale = rules.Activity("call", "1", t("2026-01-06T00:00:00Z"), "o1",
                           ({"value": "o1", "sourceType": "INTEGRATION", "sourceId": "9"},))
    assert rules.assess(stale, tl, app_id="9").grade == "B"
    assert rules.assess(stale, tl, app_id="8").reason == "not_set_by_integration"
    edited = rules.Activity("call", "2", stale.t, "o9",
                            ({"value": "o9", "sourceType": "CRM_UI"},) + stale.history)
    assert rules.assess(edited, tl).reason == "owner_changed_since"
    fine = rules.Activity("call", "3", t("2026-01-04T00:00:00Z"), "o1", stale.history)
    assert rules.assess(fine, tl) is None


def test_evidence_matching_is_one_to_one():
    c1 = rules.Activity("call", "1", 1_000_000, "", (), "", "+1 555 0100", "+15550200", 60_000)
    c2 = rules.Activity("call", "2", 1_003_000, "", (), "", "+15550100", "+15550200", 61_000)
    ev = {"type": "call", "communication_id": "x", "user_id": "u", "from": "+15550100",
          "to": "+15550200", "started_at": 1_001_000, "duration": 60}
    assert rules.match_evidence([ev], [c1, c2]) == {}            # two calls fit: ambiguous
    assert rules.match_evidence([ev], [c1]) == {"1": "u"}
    assert rules.match_evidence([ev, {**ev, "user_id": "v"}], [c1]) == {}   # two events
    far = {**ev, "started_at": 1_006_000}
    assert rules.match_evidence([far], [c1]) == {}               # start off by 6 s
    ext = rules.Activity("call", "3", 0, "", (), "alw-7")
    assert rules.match_evidence([{**ev, "communication_id": "alw-7"}], [ext]) == {"3": "u"}


@pytest.mark.parametrize("text,row,column", [
    ('{"communication_id": "1", "user_id": "u", "type": "call", "started_at": '
     '"2026-01-01T00:00:00Z"}\n{"communication_id": "2", "user_id": "u", "type": "fax", '
     '"started_at": "2026-01-01T00:00:00Z"}\n', 2, "type"),
    ('{"communication_id": "1", "user_id": "u", "type": "call", "started_at": "soon"}\n',
     1, "started_at"),
    ('{"communication_id": "1"\n', 1, None),
    ("communication_id,user_id,type,direction,from,to,started_at,duration\n"
     "1,u,call,outbound,+1,+2,2026-01-01T00:00:00Z,ten\n", 2, "duration"),
    ("id,user\n1,u\n", 1, "communication_id"),
])
def test_evidence_errors_name_file_row_column(tmp_path, text, row, column):
    p = tmp_path / "export.jsonl"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_evidence(p)
    assert e.value.exit_code == 2 and e.value.file == str(p)
    assert e.value.row == row and e.value.column == column


def test_evidence_csv_reads_like_jsonl(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text("communication_id,user_id,type,direction,from,to,started_at,duration\n"
                 "c1,10002,call,outbound,+15550100,+15550200,2026-01-01T00:00:00Z,61\n",
                 encoding="utf-8")
    (ev,) = read_evidence(p)
    assert ev["started_at"] == rules.to_ms("2026-01-01T00:00:00Z") and ev["duration"] == 61
    assert json.dumps(ev)


def test_impact_csv_neutralises_formulas_and_keeps_lines():
    from usermap.activities.impact import impact_csv
    row = rules.Row("call", "=HYPERLINK(\"x\")", 0, "u\n2", "+1", "@x", "A", "export_names_user")
    text = impact_csv([row])
    import csv as _csv
    import io as _io
    (got,) = list(_csv.DictReader(_io.StringIO(text)))
    assert got["activity_id"] == "'=HYPERLINK(\"x\")" and got["current_owner_id"] == "'+1"
    assert got["intended_owner_id"] == "'@x" and got["aloware_user_id"] == "u\n2"
    assert text.count("\n") == 3   # the header, the row, the newline inside its quoted cell
