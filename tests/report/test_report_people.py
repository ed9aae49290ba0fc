"""The report, the e-mail and the audit's CSVs in the same words (issue 20, docs/design.md §8):
"Need a person" counts only cases someone must act on, information is listed apart; a change an
e-mail caused shows that e-mail before -> after; errors.csv and the notebooks give the report's
concrete commands (never OWNER_ID); and names from the APIs never make a line of their own in the
e-mail, its headers, the CSVs or the report (issue 19 item 11).
"""

from __future__ import annotations

import csv
import email
import io
import json
import re
import shlex
from email import policy

import pandas as pd
import pytest

from test_report import world_report
from tiny import L, O, U, frames
from usermap.engine import plan as planmod
from usermap.engine import reconcile
from usermap.labels import (ALOWARE_REASON_ADVICE, FOR_INFORMATION_HUBSPOT,
                            HUBSPOT_REASON_ADVICE)
from usermap.report.build import build_report

NOW = "2026-03-01T12:00:00Z"


# --- Need a person, and for information -----------------------------------------------------------
def test_need_a_person_counts_only_cases_someone_must_act_on():
    r = world_report()
    needs, fyi = list(r.needs_person.rows()), list(r.for_information.rows())
    assert r.needs_count == len(needs) == 4 and r.fyi_count == len(fyi) == 2
    # every case counted asks someone to act; every "Nothing, unless…" case is listed apart
    assert needs and not any(row["advice"].startswith("Nothing") for row in needs)
    assert fyi and all(row["advice"].startswith("Nothing, unless") for row in fyi)
    assert {row["hubspot_owner_id"] for row in fyi} == {"107", "111"}      # no Aloware user
    assert {row["what"] for row in fyi} == {"hubspot:no_matching_user"}
    # the subject, the first line, the numbers and the worklist all count the same cases
    assert "4 need a person" in r.subject() and "4 cases need a person" in r.first_line()
    assert r.to_json()["needs_person"] == 4 and r.to_json()["for_information"] == 2
    rows = list(csv.reader(io.StringIO(r.worklist_csv().decode("utf-8-sig"))))
    assert len(rows) == 1 + 4 and not any("no_matching_user" in c for row in rows for c in row)


def test_information_is_listed_apart_in_the_page_and_both_email_parts():
    r = world_report()
    text = r.email_text()
    needs_part, _, rest = text.partition("NEEDS A PERSON (4)")[2].partition("FOR INFORMATION (2)")
    assert "No Aloware user has this e-mail" not in needs_part
    assert "2  No Aloware user has this e-mail. Nothing, unless" in rest
    assert "HubSpot 111  nobody@acme.com" in rest and "HubSpot 107  gus@acme.com" in rest
    assert "       2  for information (nobody must act)" in text
    html = r.email_html()
    assert "Needs a person (4)" in html and "For information (2)" in html
    page = r.to_html()
    assert 'id="n-needs">4<' in page and 'id="n-fyi">2<' in page and 'id="fyi"' in page


def test_every_reason_is_need_or_information_by_its_advice():
    """The rule behind the split: a reason whose advice is "Nothing, unless…" is never counted
    as needing a person."""
    from usermap.labels import NEEDS_PERSON_ALOWARE, NEEDS_PERSON_HUBSPOT
    for r in NEEDS_PERSON_ALOWARE:
        assert not ALOWARE_REASON_ADVICE[r].startswith("Nothing"), r
    for r in NEEDS_PERSON_HUBSPOT:
        assert not HUBSPOT_REASON_ADVICE[r].startswith("Nothing"), r
    unless = {r for r, a in HUBSPOT_REASON_ADVICE.items() if a.startswith("Nothing, unless")}
    assert unless == set(FOR_INFORMATION_HUBSPOT)


# --- a change an e-mail caused ------------------------------------------------------------------
def _applied_run(tmp_path):
    """A real applied run (store, snapshot, run folder) of a generated world."""
    from usermap import workflow
    from usermap.config import Config
    from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    snap, db, run_dir = tmp_path / "snapshot", tmp_path / "store.db", tmp_path / "run"
    write_world(generate(150, seed=3), snap)
    with Store.open(db, create=True) as s:
        s.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now="2026-03-01T00:00:00Z")
    run_dir.mkdir()
    run_id = "20260301T120000Z-abcd"
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    workflow.write_audit(result, run_dir, snapshot=snap, store_path=db, run_id=run_id, now=NOW)
    plan = workflow.make_plan(data, result, now=NOW, guard=False)
    done = workflow.apply(db, plan, now=NOW, force=True, run_id=run_id)
    workflow.finish(Config(), result, plan, done, snapshot=snap, store_path=db,
                    run_dir=run_dir, run_id=run_id, now=NOW, record=True)
    return snap, db, run_dir, result, plan


def test_a_link_removed_for_a_hubspot_email_change_shows_the_email_before_and_after():
    r = world_report()
    row = next(x for x in r.changes.table.rows() if x["reason"] == "hubspot_email_changed")
    # the link as recorded held the old e-mail on both sides; the new one is the owner's now
    assert row["email_change"] == "bob@acme.com → bob.stone@acmegroup.com"
    others = [x for x in r.changes.table.rows() if x["reason"] in ("aloware_user_deleted",
                                                                    "email_match")]
    assert others and all(x["email_change"] == "" for x in others)
    assert "HubSpot e-mail changed: e-mail bob@acme.com -> bob.stone@acmegroup.com" in \
        r.email_text()
    assert "e-mail bob@acme.com → bob.stone@acmegroup.com" in r.email_html()
    masked = world_report(mask_emails=True)
    row = next(x for x in masked.changes.table.rows() if x["reason"] == "hubspot_email_changed")
    assert row["email_change"] == "b***@acme.com → b***@acmegroup.com"


def test_an_aloware_email_change_and_an_emails_update_show_before_and_after():
    users = [U(1, "ann@new.com"), U(2, "bo@new.com")]
    owners = [O(101, "ann@old.com"), O(102, "bo@new.com")]
    links = [L(1, 101, "ann@old.com", "ann@old.com"),        # Aloware side changed
             L(2, 102, "bo@old.com", "bo@old.com")]          # both changed, still matching
    u, o, lk = frames(users, owners, links)
    a = reconcile.audit(u, o, lk)
    p = planmod.make_plan(a, store_revision=0, fingerprint="t", only="aloware_email_changed:1")
    p2 = planmod.make_plan(a, store_revision=0, fingerprint="t")
    rows = {x["reason"]: x for x in build_report(a, plan=p2).changes.table.rows()}
    assert rows["emails_changed"]["email_change"] == "bo@old.com → bo@new.com"
    # a plan never changes an Aloware-side conflict, but a change of it would say the same
    assert all(c.reason != "aloware_email_changed" for c in p.changes)


def test_the_applied_runs_report_shows_each_email_change_with_the_new_email(tmp_path):
    snap, db, run_dir, before, plan = _applied_run(tmp_path)
    owners = json.loads((snap / "hubspot_owners.json").read_text(encoding="utf-8"))
    owners = owners if isinstance(owners, list) else owners.get("results", owners)
    email_of = {str(o["id"]): o.get("email") or "" for o in owners}
    removed = [c for c in plan.changes if c.reason == "hubspot_email_changed"]
    assert removed
    from usermap import workflow
    from usermap.config import Config
    after = workflow.audit(workflow.load(snap, db))
    r = workflow.build_report(Config(), after, snapshot=snap, store_path=db, now=NOW,
                              plan=plan, applied=True, before=before)
    shown = {x["aloware_user_id"]: x["email_change"] for x in r.changes.table.rows()
             if x["reason"] == "hubspot_email_changed"}
    for c in removed:
        old, new = shown[c.aloware_user_id].split(" → ")
        assert old == (c.before["hubspot_email"] or "(none recorded)")   # an imported link
        assert new == email_of[c.hubspot_owner_id] and old.lower() != new.lower()
    text = (run_dir / "notification.eml").read_bytes()
    msg = email.message_from_bytes(text, policy=policy.default)
    plain = msg.get_body(("plain",)).get_content()
    c = next(c for c in removed if c.before["hubspot_email"])
    assert f"{c.before['hubspot_email']} -> {email_of[c.hubspot_owner_id]}" in plain


# --- the same concrete commands everywhere -------------------------------------------------------
def test_errors_csv_the_notebooks_and_the_report_give_the_same_concrete_commands(tmp_path):
    from usermap import display, workflow
    from usermap.config import Config
    snap, db, run_dir, result, plan = _applied_run(tmp_path)
    errors = pd.read_csv(run_dir / "errors.csv", dtype=str, keep_default_na=False)
    decide = errors[errors["code"].isin(["aloware_email_changed", "hubspot_email_changed"])
                    & ~errors["fix"].str.startswith("usermap plan")]
    assert len(decide)
    rep = workflow.build_report(Config(), result, snapshot=snap, store_path=db, now=NOW)
    in_report = {r["issue_id"]: r["fix"] for r in rep.errors.rows() if r["fix"]}
    frame = display.errors_frame(result, workflow.commands(snap, db))
    in_notebook = dict(zip(result.errors["issue_id"], frame["fix"]))
    for _, row in decide.iterrows():
        assert in_report[row["issue_id"]] == row["fix"] == in_notebook[row["issue_id"]]
        keep, unlink = row["fix"].split("  |  ")
        assert shlex.split(keep.removeprefix("keep the link: ")) == [
            "usermap", "map", row["aloware_user_id"], row["hubspot_owner_id"], "--store", str(db)]
        assert shlex.split(unlink.removeprefix("unlink: ")) == [
            "usermap", "unmap", row["aloware_user_id"], "--store", str(db)]
    everything = (errors["fix"].tolist() + frame["fix"].tolist()
                  + display.errors_by_code(result, workflow.commands(snap, db))[
                      "fix (e.g. the first one)"].tolist())
    assert not any("OWNER_ID" in f or "{" in f for f in everything)


def test_with_no_owner_to_name_keeping_a_link_is_said_in_words():
    from usermap.output import fix_commands
    from usermap.report.build import fix_for
    for fix in (fix_commands("s", "d.db").for_issue("aloware_email_changed:7",
                                                    "aloware_email_changed", "7", "email", ""),
                fix_for("aloware_email_changed", "email", "aloware_email_changed:7", "7", "",
                        decide_command=fix_commands("s", "d.db").decide)):
        unlink, words = fix.split("  |  ")
        assert shlex.split(unlink) == ["unlink:", "usermap", "unmap", "7", "--store", "d.db"]
        assert "OWNER_ID" not in fix and "usermap map" in words and "HubSpot owner id" in words


# --- API text is data: hostile names -----------------------------------------------------------
HOSTILE = ["Eve\r\n*** ACTION REQUIRED http://evil.example/login",
           "Mal\u2028*** LINE SEPARATOR", "Nel\x85*** NEXT LINE", "Esc\x1b[31mRED\x0bVT\x0cFF",
           "Tab\there\x00nul", "Par\u2029*** PARAGRAPH"]
# A lone surrogate cannot reach an audit (the frames are Arrow strings, UTF-8), but it can reach
# the report through a status, a note or a table made elsewhere: those are tested on their own.
SURROGATE = "Sur\ud800rogate"
BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def hostile_report(**kw):
    users, owners, links = [], [], []
    for k, name in enumerate(HOSTILE):
        uid, oid = 200 + k, 300 + k
        users.append(U(uid, f"h{k}@acme.com", first=name, last=name))
        owners.append(O(oid, f"h{k}@other.com", first=name, last=name))    # no user: FYI
        users.append(U(400 + k, f"m{k}@acme.com", first=name, last="Match"))
        owners.append(O(500 + k, f"m{k}@acme.com", first=name, last="Match"))  # a link to add
        users.append(U(600 + k, f"x{k}@new.com", first=name, last="Moved"))
        owners.append(O(700 + k, f"x{k}@acme.com", first=name, last="Moved"))
        links.append(L(600 + k, 700 + k, f"x{k}@acme.com", f"x{k}@acme.com"))  # a decision
    u, o, lk = frames(users, owners, links)
    a = reconcile.audit(u, o, lk, profile_url="https://app.aloware.com/users/{id}")
    p = planmod.make_plan(a, store_revision=0, fingerprint="h")
    return a, build_report(a, plan=p, applied=False, run_id="r", generated_at=NOW,
                           notes=["note with\na break"], **kw)


def _no_line_of_their_own(text: str) -> None:
    assert not BREAKS.search(text.replace("\r\n", "").replace("\n", "")), "hidden break"
    for line in text.splitlines():
        assert "***" not in line or not line.lstrip().startswith("***"), line
    assert not re.search("[\x00-\x08\x1b\x7f\ud800-\udfff]", text)


def test_hostile_names_never_make_a_line_in_the_email_text_headers_or_html():
    from usermap.config import Config
    from usermap.notify import build_message
    a, r = hostile_report()
    assert r.needs_count >= len(HOSTILE) and r.fyi_count >= len(HOSTILE)
    text = r.email_text()
    _no_line_of_their_own(text)
    assert "Eve\\r\\n*** ACTION REQUIRED" in text and "Mal\\u2028***" in text
    assert "Nel\\x85***" in text and "Esc\\x1b[31mRED" in text
    msg = build_message(r, Config())
    raw = msg.as_bytes()                                  # lone surrogates would not encode
    back = email.message_from_bytes(raw, policy=policy.default)
    for name, value in back.items():
        assert "\n" not in str(value) and "\r" not in str(value), name
    _no_line_of_their_own(back.get_body(("plain",)).get_content())
    html = back.get_body(("html",)).get_content()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]", html)
    assert "Eve\\r\\n*** ACTION REQUIRED" in html


def test_hostile_names_stay_in_their_cell_in_the_csvs_and_the_report(tmp_path):
    from usermap.output import write_audit
    a, r = hostile_report()
    rows = list(csv.reader(io.StringIO(r.worklist_csv().decode("utf-8-sig"))))
    assert len(rows) == 1 + r.needs_count
    out = tmp_path / "audit"
    write_audit(a, out)
    for name in ("mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv", "errors.csv"):
        raw = (out / name).read_bytes().decode("utf-8")     # valid UTF-8: no lone surrogate
        frame = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        # one physical line per row: no cell holds a line break
        assert len(raw.splitlines()) == len(frame) + 1, name
        assert not BREAKS.search(raw.replace("\r\n", "\n").replace("\n", "")), name
    ua = pd.read_csv(out / "unmapped_aloware.csv", dtype=str, keep_default_na=False)
    assert "Eve\\r\\n*** ACTION REQUIRED http://evil.example/login" in ua["first_name"].tolist()
    page = r.to_html()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", page)
    assert "note with\\na break" in page


@pytest.mark.parametrize("name", HOSTILE + [SURROGATE])
def test_the_subject_is_one_line_whatever_the_status(name):
    a, r = hostile_report()
    from dataclasses import replace
    s = replace(r, status=name).subject()
    assert not BREAKS.search(s) and not re.search("[\x00-\x08\x1b\ud800-\udfff]", s)


def test_a_lone_surrogate_is_replaced_wherever_it_comes_from():
    from usermap.config import Config
    from usermap.notify import build_message
    from usermap.report.table import Column, Table
    from usermap.visible import visible
    assert visible(SURROGATE) == "Sur\ufffdrogate" and visible("ok") == "ok"
    t = Table("t", "T", (Column("name", "Name"),), ((SURROGATE, "fine"),))
    assert t.col("name") == ("Sur\ufffdrogate", "fine")
    a, r = hostile_report()
    from dataclasses import replace
    r = replace(r, notes=(SURROGATE,), status=SURROGATE)
    assert r.status == r.notes[0] == "Sur\ufffdrogate"
    msg = email.message_from_bytes(build_message(r, Config()).as_bytes(),   # it encodes
                                   policy=policy.default)
    assert msg["X-Usermap-Status"] == "Sur\ufffdrogate"
    _no_line_of_their_own(r.email_text())


def test_a_failure_report_keeps_quoted_api_text_on_its_lines():
    from usermap.config import Config
    from usermap.notify import build_message
    from usermap.report.failure import FailureReport
    bad = "Eve\r\n*** ACTION REQUIRED http://evil.example\u2028x\x85y"
    f = FailureReport(run_id="r1", generated_at=NOW, status="failed", exit_code=4,
                      error_class="SourceError", error_message=f"owner {bad} is invalid\nline 2",
                      where=f"the fetch of {bad}", store="The store was not changed.",
                      advice=(f"check {bad}",), notes=(bad,), files=(("run.log", bad),))
    assert f.error_message == ("owner Eve\\r\\n*** ACTION REQUIRED http://evil.example\\u2028x"
                               "\\x85y is invalid\\nline 2")
    text = f.email_text()
    _no_line_of_their_own(text)
    assert "*** ACTION" not in f.to_html().replace("\\n*** ACTION", "")
    for line in text.splitlines():
        assert not line.lstrip().startswith("***"), line
    msg = email.message_from_bytes(build_message(f, Config()).as_bytes(), policy=policy.default)
    assert "\n" not in msg["Subject"] and "***" in msg["Subject"]
    for line in msg.get_body(("plain",)).get_content().splitlines():
        assert not line.lstrip().startswith("***"), line


def test_the_notebooks_use_the_reports_words_left_aligned(monkeypatch):
    from test_report import world_audit
    from usermap import display
    from usermap.engine.models import ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES
    a, p = world_audit()
    text = display.overview_text(a) + "\n" + display.describe_plan(p)
    for code in set(ISSUE_CODES) | set(ALOWARE_REASONS) | set(HUBSPOT_REASONS):
        assert code not in text, code
    assert "correctly linked" in text and "Would remove: ⚠ HubSpot e-mail changed" in text
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda x: shown.append(x))
    display.show_overview(a)
    html = shown[0].to_html()
    assert "text-align: left" in html and "links with an error" in html
