"""The report (issue 5, docs/design.md §8): data model, escaping, offline HTML, activity impact,
history, the `usermap report` command. Golden files are in test_report_golden.py and browser
tests in test_report_browser.py; both use the world built here.
"""

from __future__ import annotations

import html.parser
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

import forkcli

from conftest import shared_cache
from tiny import L, O, U, frames
from usermap.engine import plan as planmod
from usermap.engine import reconcile
from usermap.engine.models import CONFLICT_ICON
from usermap.report.model import Report
from usermap.report.build import build_report
from usermap.report.render import jinja_env, templates_dir
from usermap.report.cells import mask_email
from usermap.report.compose import read_activities, write_report

pytestmark = pytest.mark.issue(5)  # the issue that asked for these tests

# Payloads that must show as text wherever they appear (every table has at least one).
XSS = ['<img src=x onerror=alert(1)>', '"><script>alert(2)</script>', "<svg onload=alert(3)>",
       "'><b onmouseover=alert(4)>x</b>", "<img src=x onerror=alert(5)>",
       "Grant<img src=x onerror=alert(7)>", "<script>alert(9)</script>"]
PROFILE = "https://app.aloware.com/users/{id}"
RUN_ID = "20260301T120000Z-c0de"
NOW = "2026-03-01T12:00:00Z"


def world_frames():
    """A small fixed world: every issue code family, unmapped reasons, a manual pin, a
    suggestion, and an XSS payload in a name or e-mail of every table."""
    users = [
        U(1, "ann@acme.com", first="Ann", last="Lee"),                           # synced
        U(2, "bob@acme.com", first=XSS[0], last="Stone"),                        # hubspot changed
        U(3, "cy@acme.com", first=XSS[1], last="Cole"),                          # synced
        U(4, "dee@acme.com", status="deleted", first="Dee", last="Moss"),        # deleted
        U(5, "eve@acme.com", first="Eve", last="Hart"),                          # owner archived
        U(6, "finn@acme.com", first="Finn", last="Ode"),                         # match pending
        U(7, "gus@acme.co", first="Gus", last="Grant"),                          # typo: suggestion
        U(8, "hal@acme.com", first="Hal", last="Pin"),                           # manual alias
        U(9, "ivy@gmail.com", first="Ivy", last="Chen"),                         # aloware changed
        U(10, "desk@acme.com", kind="extension", first="Front", last="Desk"),   # not eligible
        U(11, "x@acme.com", first=XSS[2], last=XSS[3]),                          # no owner
        U(12, "", first="Kim", last="Noel"),                                     # missing email
    ]
    owners = [
        O(101, "ann@acme.com", first="Ann", last="Lee"),
        O(102, "bob.stone@acmegroup.com", first="Bob", last="Stone"),
        O(103, "cy@acme.com", first="Cy", last="Cole"),
        O(104, "dee@acme.com", first="Dee", last="Moss"),
        O(105, "eve@acme.com", state="archived", first="Eve", last="Hart"),
        O(106, "finn@acme.com", first="Finn", last="Ode"),
        O(107, "gus@acme.com", first="Gus", last=XSS[5]),
        O(108, "hal.sales@acmesales.com", first="Hal", last="Pin"),
        O(109, "ivy@acme.com", first="Ivy", last="Chen"),
        O(110, "sales@acme.com", type="QUEUE", first="Inbound", last="Sales"),
        O(111, "nobody@acme.com", first=XSS[4], last="Nobody"),
    ]
    links = [
        L(1, 101, "ann@acme.com", "ann@acme.com"),
        L(2, 102, "bob@acme.com", "bob@acme.com"),
        L(3, 103, "cy@acme.com", "cy@acme.com"),
        L(4, 104, "dee@acme.com", "dee@acme.com"),
        L(5, 105, "eve@acme.com", "eve@acme.com"),
        L(8, 108, "hal@acme.com", "hal.sales@acmesales.com", method="manual"),
        L(9, 109, "ivy@acme.com", "ivy@acme.com"),
    ]
    return users, owners, links


HISTORY = [
    {"run_id": "20260215T120000Z-aaaa", "at": "2026-02-15T12:00:00Z",
     "summary": {"mapped": 6, "synced": 3, "errors": 3},
     "issues": ["aloware_user_deleted:4", "hubspot_owner_not_found:99", "emails_changed:1"]},
    {"run_id": "20260222T120000Z-bbbb", "at": "2026-02-22T12:00:00Z",
     "summary": {"mapped": 7, "synced": 4, "errors": 3},
     "issues": ["aloware_user_deleted:4", "hubspot_owner_not_found:99", "emails_changed:1"]},
]

ACTIVITIES = pd.DataFrame(
    [("1", "call", "2026-02-23T09:00:00Z"), ("1", "sms", "2026-02-24T09:00:00Z"),
     ("2", "call", "2026-02-25T10:00:00Z"), ("2", "call", "2026-02-25T11:00:00Z"),
     ("5", "sms", "2026-02-26T08:30:00Z"), ("11", "call", "2026-02-27T15:00:00Z"),
     ("11", "sms", "2026-02-27T15:05:00Z"), ("11", "call", "2026-02-28T16:00:00Z"),
     ("999", "call", "2026-02-28T17:00:00Z"), ("3", "call", "2026-03-01T08:00:00Z")],
    columns=["aloware_user_id", "type", "timestamp"])


def world_audit():
    u, o, lk = frames(*world_frames())
    a = reconcile.audit(u, o, lk, profile_url=PROFILE)
    return a, planmod.make_plan(a, store_revision=3, fingerprint="golden")


def world_report(**kw) -> Report:
    a, p = world_audit()
    args = dict(plan=p, applied=True, run_id=RUN_ID, generated_at=NOW, status="ok",
                history=HISTORY, activities=ACTIVITIES,
                notes=["Weekly run. " + XSS[6]])
    args.update(kw)
    return build_report(a, **args)


@lru_cache(maxsize=1)
def big_report(n_links: int = 100_000):
    """A report of an account with about ``n_links`` links (built once per run: several test
    files use it)."""
    return shared_cache(f"big-report-{n_links}", lambda: _big_report(n_links))


def _big_report(n_links: int):
    from usermap.sandbox.scenarios import generate
    from usermap.sources.owners.frame import owners_frame
    w = generate(int(n_links * 1.2), seed=11, linked_share=1.0)
    lk = w.links.copy()
    lk["updated_at"] = ""
    a = reconcile.audit(w.users, owners_frame(w.owners), lk, profile_url=PROFILE)
    p = planmod.make_plan(a, store_revision=1, fingerprint="big")
    return build_report(a, plan=p, applied=True, run_id=RUN_ID, generated_at=NOW)


# --- the environment --------------------------------------------------------------------------
def test_one_environment_autoescapes_every_template_and_is_strict():
    import jinja2
    env = jinja_env()
    assert env is jinja_env()
    assert env.autoescape is True              # not select_autoescape(): that skips *.j2
    assert env.undefined is jinja2.StrictUndefined
    assert Path(env.loader.searchpath[0]) == templates_dir()
    assert templates_dir() == Path(__file__).resolve().parents[2] / "reports" / "templates"
    for name in ("report.html.j2", "email.html.j2", "email.txt.j2"):
        assert (templates_dir() / name).is_file()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing.here }}").render()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_templates_found_through_the_environment_variable(tmp_path, monkeypatch):
    import shutil
    from usermap.report import render as rep
    copy = tmp_path / "tpl"
    shutil.copytree(templates_dir(), copy)
    monkeypatch.setenv("USERMAP_TEMPLATES", str(copy))
    assert rep.templates_dir() == copy
    assert rep.jinja_env().loader.searchpath == [str(copy)]


# --- the data model ----------------------------------------------------------------------------
def test_build_is_pure_and_frozen():
    import dataclasses
    r = world_report()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = "x"
    assert world_report() == world_report()   # same data, same report
    o = r.overview
    assert (o.mapped, o.synced, o.errors) == (7, 3, 4)
    assert dict(o.errors_by_code) == {"aloware_user_deleted": 1, "hubspot_owner_deactivated": 1,
                                      "hubspot_email_changed": 1, "aloware_email_changed": 1}
    assert r.changes.applied and (r.changes.adds, r.changes.removes) == (1, 3)


def test_mapped_list_columns_and_conflicts():
    r = world_report()
    keys = [c.key for c in r.mapped.visible]
    for k in ("first_name", "last_name", "aloware_user_id", "hubspot_owner_id", "email",
              "status", "issue"):
        assert k in keys
    rows = {row["aloware_user_id"]: row for row in r.mapped.rows()}
    assert rows["1"]["status"] == "synced" and rows["1"]["hubspot_email"] == ""
    assert rows["2"]["issue"] == "hubspot_email_changed"
    assert rows["2"]["hubspot_email"] == "bob.stone@acmegroup.com"   # shown where it differs
    assert rows["8"]["status"] == "synced" and rows["8"]["method"] == "manual"
    # the conflict icon goes with conflict codes in the text, and the page's script knows them
    text = r.to_text()
    assert f"HubSpot e-mail changed {CONFLICT_ICON}" in text
    assert f"Aloware user deleted {CONFLICT_ICON}" not in text
    assert "[hubspot_email_changed]" not in text       # plain words; codes in the legend, CSVs
    data = _page_data(r.to_html())
    assert "hubspot_email_changed" in data["conflict_codes"]


def test_unmapped_views_errors_and_fix_commands():
    r = world_report(fix_command="usermap plan S --store D --out f.json --only {issue_id}")
    ua = {row["aloware_user_id"]: row for row in r.unmapped_aloware.rows()}
    assert ua["6"]["reason"] == "match_pending"
    assert ua["10"]["reason"] == "not_eligible"
    assert ua["7"]["profile_url"] == "https://app.aloware.com/users/7"
    assert ua["7"]["suggestions"][0][0] == "107"          # (owner id, name, email, score)
    uh = {row["hubspot_owner_id"]: row for row in r.unmapped_hubspot.rows()}
    assert uh["110"]["reason"] == "queue_owner"
    errors = {row["code"]: row for row in r.errors.rows()}
    # the sync fixes this one by itself: no command in the report (errors.csv keeps it)
    assert errors["aloware_user_deleted"]["fix"] == ""
    assert errors["aloware_user_deleted"]["advice"].startswith("Nothing: the sync removes")
    # a decision: both choices, complete (the link's own ids), never a placeholder
    fix = errors["aloware_email_changed"]["fix"]
    assert fix.startswith("keep the link: usermap map 9 ") and "unlink: usermap unmap 9 " in fix
    assert "OWNER_ID" not in fix and "{" not in fix
    assert errors["aloware_email_changed"]["advice"].startswith("Decide:")
    assert "ivy@gmail.com" in errors["aloware_email_changed"]["detail"]


def test_profile_links_are_encoded_and_only_http():
    u, o, lk = frames([U("a/b?c", "q@x.com"), U("7", "z@x.com")], [], [])
    r = build_report(reconcile.audit(u, o, lk, profile_url=PROFILE))
    urls = dict(zip(r.unmapped_aloware.col("aloware_user_id"),
                    r.unmapped_aloware.col("profile_url")))
    assert urls["a/b?c"] == "https://app.aloware.com/users/a%2Fb%3Fc"
    r = build_report(reconcile.audit(u, o, lk, profile_url="javascript:alert({id})"))
    assert set(r.unmapped_aloware.col("profile_url")) == {""}


def test_mask_emails_everywhere():
    assert mask_email("john@example.com") == "j***@example.com"
    assert mask_email("") == "" and mask_email("nope") == "n***"
    r = world_report(mask_emails=True)
    everything = json.dumps(r.to_json(rows=True), ensure_ascii=False) + r.to_text() + r.to_html()
    for email in ("ann@acme.com", "bob.stone@acmegroup.com", "ivy@gmail.com", "gus@acme.com",
                  "hal.sales@acmesales.com"):
        assert email not in everything, email
    assert "a***@acme.com" in everything and "b***@acmegroup.com" in everything
    errors = {row["code"]: row for row in r.errors.rows()}
    assert "i***@gmail.com" in errors["aloware_email_changed"]["detail"]


def test_since_previous_run_and_trend():
    r = world_report()
    s = r.since
    assert s.previous_run_id == "20260222T120000Z-bbbb"
    assert set(s.new.col("issue_id")) == {"hubspot_email_changed:2",
                                          "hubspot_owner_deactivated:5",
                                          "aloware_email_changed:9"}
    assert set(s.resolved.col("issue_id")) == {"hubspot_owner_not_found:99", "emails_changed:1"}
    assert r.subject() == ("usermap: sync applied (1 linked, 3 removed), 3 of 7 links correct, "
                           "4 errors, 4 need a person, 3 new issues")
    assert [p.run_id for p in r.trend] == ["20260215T120000Z-aaaa", "20260222T120000Z-bbbb",
                                           RUN_ID]
    share = r.charts[0]
    assert len(share.dots) == 3 and share.polyline.count(",") == 3
    # a history that already holds this run's own audit compares with the one before it
    same = HISTORY + [{"run_id": RUN_ID, "at": NOW, "summary": {}, "issues": []}]
    assert world_report(history=same).since.previous_run_id == "20260222T120000Z-bbbb"


def test_first_run_and_no_plan():
    a, _ = world_audit()
    r = build_report(a)
    assert r.since is None and r.changes is None and len(r.trend) == 1
    assert r.subject() == "usermap: 3 of 7 links correct, 4 errors, 4 need a person"
    html = r.to_html()
    assert "nothing to compare with" in html and "No sync in this run." in html
    _, p = world_audit()
    r = build_report(a, plan=p, applied=False, status="refused")
    assert r.subject() == ("usermap [REFUSED]: nothing changed (1 to link, 3 to remove), "
                           "3 of 7 links correct, 4 errors, 4 need a person")
    assert "not applied" in r.to_html()


def test_subject_is_one_line():
    a, _ = world_audit()
    assert "\n" not in build_report(a, status="fail\r\nBcc: x@y").subject()


def test_activity_impact():
    r = world_report()
    a = r.activity
    assert a.total == 10 and dict(a.by_type) == {"call": 7, "sms": 3}
    # 1 and 3 are synced; 2 (hubspot_email_changed), 5 (deactivated), 11 (no link), 999 unknown
    assert a.unassigned == 7 and dict(a.unassigned_by_type) == {"call": 5, "sms": 2}
    causes = {(k, c): t for k, c, _, _, t in a.by_cause}
    assert causes == {("no link", "no_matching_owner"): 3,
                      ("link with an issue", "hubspot_email_changed"): 2,
                      ("link with an issue", "hubspot_owner_deactivated"): 1,
                      ("unknown user", "unknown_user"): 1}
    assert a.users.col("aloware_user_id")[0] == "11"       # most activities first
    assert a.period_start == "2026-02-23 09:00 UTC" and a.period_end == "2026-03-01 08:00 UTC"
    assert "7 of 10 activities" in r.to_text()


def test_read_activities_validates(tmp_path):
    from usermap.errors import InputError
    good = tmp_path / "a.csv"
    good.write_text("aloware_user_id,type,timestamp\n1,CALL,2026-01-01T00:00:00Z\n"
                    "2,sms,2026-01-02 10:00:00+00:00\n")
    df = read_activities(good)
    assert list(df["type"]) == ["call", "sms"]
    cases = [("aloware_user_id,type\n1,call\n", 1, "timestamp"),
             ("aloware_user_id,type,timestamp\n1,call,2026-01-01T00:00:00Z\n1,fax,"
              "2026-01-01T00:00:00Z\n", 3, "type"),
             ("aloware_user_id,type,timestamp\n1,call,yesterday\n", 2, "timestamp"),
             ("aloware_user_id,type,timestamp\n,call,2026-01-01T00:00:00Z\n", 2,
              "aloware_user_id"),
             # the real file line after a blank line and a quoted multi-line extra field
             ('aloware_user_id,type,timestamp,note\n\n1,call,2026-01-01T00:00:00Z,"a\nb"\n'
              '2,fax,2026-01-01T00:00:00Z,\n', 5, "type")]
    for text, row, column in cases:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(InputError) as e:
            read_activities(bad)
        assert (e.value.row, e.value.column) == (row, column), text
        assert str(bad) in str(e.value)


# --- escaping and the offline page -------------------------------------------------------------
def _page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def _expand(col) -> list:
    """A column as the page ships it (list, dictionary- or prefix-coded) → its values."""
    if isinstance(col, list):
        return col
    if "d" in col:
        return [col["d"][i] for i in col["i"]]
    return [col["p"] + v for v in col["v"]]


def page_column(data: dict, table: str, key: str) -> list:
    t = data["tables"][table]
    i = [c["key"] for c in t["columns"]].index(key)
    return _expand(t["data"][i])


def test_page_columns_are_coded_compactly_and_decode_exactly():
    from usermap.report.table import _encode_column
    status = tuple(["synced"] * 90 + ["error"] * 10)
    assert _encode_column(status) == {"d": ["error", "synced"], "i": [1] * 90 + [0] * 10}
    urls = tuple(f"https://app.aloware.com/users/{i}" for i in range(100))
    assert _encode_column(urls)["p"] == "https://app.aloware.com/users/"
    ids = tuple(str(i) for i in range(100))
    assert _encode_column(ids) == ids
    for col in (status, urls, ids):
        assert _expand(json.loads(json.dumps(_encode_column(col)))) == list(col)


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def test_every_payload_is_escaped_in_the_html_source():
    h = world_report().to_html()
    for p in XSS:
        assert p not in h, p
    # the payloads travel in the JSON block, with < > & ' as \u escapes ...
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in h
    # ... and where Jinja renders them (the note), as entities
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in h
    t = _Tags()
    t.feed(h)
    assert [tag for tag, _ in t.tags if tag == "script"] == ["script", "script"]
    assert not [tag for tag, _ in t.tags if tag in ("img", "iframe", "object", "embed", "b")]
    assert not [a for _, a in t.tags if any(k.startswith("on") for k in a)]
    # the data decodes to the exact payloads: the page shows them as text
    data = _page_data(h)
    assert XSS[0] in page_column(data, "mapped", "first_name")
    # and the page's script never puts data into HTML
    js = (templates_dir() / "report.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on"):
        assert sink not in js, sink


def test_the_text_shows_payloads_verbatim():
    # text/plain has no markup: escaping would garble names, so the text template turns it off
    t = world_report().to_text()
    assert XSS[0] in t and "&lt;" not in t


def test_the_page_loads_nothing_from_the_network():
    h = world_report().to_html()
    t = _Tags()
    t.feed(h)
    for tag, a in t.tags:
        for attr in ("src", "srcset", "poster", "data", "action", "formaction", "background"):
            assert attr not in a, (tag, attr)
        if tag == "link":
            assert a.get("href", "").startswith("data:"), a
        if tag == "svg":
            assert a.get("xmlns") == "http://www.w3.org/2000/svg"   # a name, not a request
    css = re.search(r"<style>(.*?)</style>", h, re.S).group(1)
    assert "url(" not in css and "@import" not in css and "@font-face" not in css
    # outside the data block and the SVG namespace there is no URL at all
    outside = re.sub(r'<script type="application/json".*?</script>', "", h, flags=re.S)
    outside = outside.replace('xmlns="http://www.w3.org/2000/svg"', "")
    outside = re.sub(r'href="data:[^"]*"', "", outside)   # the inline icon
    found = re.search(r"(?i)(https?:)?//[a-z0-9].{0,40}", outside)
    assert found is None, found.group(0)
    # and the CSP forbids loading anything, allowing only our script (by hash)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', h).group(1)
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1] \
        .split(";")[0]


def test_long_tables_have_search_and_pagination():
    h = world_report().to_html()
    data = _page_data(h)
    assert set(data["tables"]) == {"needs_person", "for_information", "changes", "new_issues", "resolved_issues",
                                   "activity_users",
                                   "errors", "mapped", "unmapped_aloware", "unmapped_hubspot"}
    for tid in data["tables"]:
        assert f'<input type="search" id="{tid}-search"' in h
        assert f'id="{tid}-next"' in h and f'id="{tid}-prev"' in h and f'id="{tid}-page"' in h


def test_large_account_file_size():
    r = big_report()
    assert len(r.mapped) >= 100_000
    size = len(r.to_html().encode("utf-8"))
    assert size < 20_000_000, size


# --- files and the command ---------------------------------------------------------------------
def _store_with_links(tmp_path, links, audits=()):
    from usermap.store.store import Store
    db = tmp_path / "store.db"
    _, _, lk = frames((), (), links)
    with Store.open(db, create=True) as s:
        s.import_links(lk.drop(columns=["updated_at"]), now="2026-01-01T00:00:00Z")
        for h in audits:
            s.record_audit(h["run_id"], h["at"], h["summary"], h["issues"])
    return db


def _snapshot(tmp_path, users, owners):
    d = tmp_path / "snap"
    d.mkdir()
    pd.DataFrame(users).to_csv(d / "aloware_users.csv", index=False)
    (d / "hubspot_owners.json").write_text(json.dumps(owners))
    return d


def test_report_for_snapshot(tmp_path):
    from usermap.config import Config
    from usermap.workflow import report_for_snapshot
    users, owners, links = world_frames()
    snap = _snapshot(tmp_path, users, owners)
    db = _store_with_links(tmp_path, links, HISTORY)
    acts = tmp_path / "acts.csv"
    ACTIVITIES.to_csv(acts, index=False)
    before = db.read_bytes()
    out = report_for_snapshot(Config(), snap, db, tmp_path / "r" / "report.html",
                              activities=str(acts), now="2026-03-01T12:00:00Z")
    assert db.read_bytes() == before                    # a report changes nothing
    h = out.read_text()
    assert "What a sync would change (not applied)" in h
    assert "20260222T120000Z-bbbb" in h                 # compared with the last recorded audit
    assert "Activity impact" in h
    data = _page_data(h)
    fixes = [f for f in page_column(data, "errors", "fix") if f]
    assert fixes and all(f"--store {db}" in f and "OWNER_ID" not in f for f in fixes)


def test_usermap_report_command(tmp_path):
    users, owners, links = world_frames()
    snap = _snapshot(tmp_path, users, owners)
    db = _store_with_links(tmp_path, links)
    (tmp_path / "usermap.toml").write_text('[report]\nmask_emails = true\n')
    acts = tmp_path / "acts.csv"
    ACTIVITIES.to_csv(acts, index=False)
    cmd = ["report", str(snap), "--store", str(db),
           "--out", str(tmp_path / "report.html"), "--config", str(tmp_path / "usermap.toml"),
           "--activities", str(acts)]
    r = forkcli.run(cmd, timeout=120)
    assert r.returncode == 0, r.stderr
    h = (tmp_path / "report.html").read_text()
    assert "ann@acme.com" not in h and "a***@acme.com" in h
    # a bad activities file is bad input: exit 2 naming file, row and column
    acts.write_text("aloware_user_id,type,timestamp\n1,fax,2026-01-01T00:00:00Z\n")
    r = forkcli.run(cmd, timeout=120)
    assert r.returncode == 2 and "row 2" in r.stderr and "'type'" in r.stderr, r.stderr
    # a missing store is bad input too
    cmd[cmd.index(str(db))] = str(tmp_path / "nope.db")
    r = forkcli.run(cmd, timeout=120)
    assert r.returncode == 2 and "store not found" in r.stderr


def test_write_report_is_atomic_and_utf8(tmp_path):
    r = world_report()
    p = write_report(r, tmp_path / "x" / "report.html")
    assert p.read_text(encoding="utf-8") == r.to_html()
    assert [f.name for f in p.parent.iterdir()] == ["report.html"]


def test_to_json_is_serialisable():
    r = world_report()
    j = r.to_json()
    json.dumps(j)
    assert j["overview"]["errors"] == 4 and j["changes"]["add"] == 1
    assert j["since_previous"]["resolved"] == ["hubspot_owner_not_found:99", "emails_changed:1"] \
        or set(j["since_previous"]["resolved"]) == {"hubspot_owner_not_found:99",
                                                    "emails_changed:1"}
    assert "tables" not in j and "tables" in r.to_json(rows=True)


# --- the package: model, build, render, compose ------------------------------------------------
def failure_report(**kw):
    """A fixed failure report (the failure golden files use it)."""
    from usermap.report.failure import build_failure_report
    args = dict(run_id=RUN_ID, generated_at=NOW, status="refused", exit_code=3,
                meaning="refused for safety", error_class="StalePlanError",
                error_message=XSS[0] + " changed since the plan", failed_notebook="sync",
                failed_cell=7, store_before={"revision": 4, "links": 12},
                store_after={"revision": 4, "links": 12},
                fetch={"retries": 3, "retries_by_cause": {"429": 2, "timeout": 1}}, apply=True,
                summary={"mapped": 12, "synced": 10, "errors": 2, "unmapped_aloware": 3,
                         "unmapped_hubspot": 1},
                audit_report="audit-report.html", run_dir="/runs/" + RUN_ID,
                files=(("sync.ipynb", "the sync notebook, executed as far as it ran"),
                       ("run.log", "the runner's log and the notebooks' output")))
    args.update(kw)
    return build_failure_report(**args)


def test_build_imports_no_jinja_sqlite_or_io_modules():
    """build.py is pure: importing it (and the package's lazy __init__) pulls in no Jinja, no
    SQLite; its own imports name no I/O, network or clock module (pandas itself imports
    socket, so that one is checked in build.py's source, not in sys.modules)."""
    import ast
    code = ("import sys, usermap.report.build, usermap.report.chart, usermap.report.model\n"
            "bad = [m for m in ('jinja2', 'markupsafe', 'sqlite3', 'usermap.store.store', "
            "'usermap.runner', 'usermap.report.render', 'usermap.report.compose', "
            "'usermap.sources') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    folder = Path(__file__).resolve().parents[2] / "usermap" / "report"
    tree = ast.Module(body=[n for f in ("build.py", "chart.py", "activity.py", "cells.py") for n in
                            ast.parse((folder / f).read_text(encoding="utf-8")).body],
                      type_ignores=[])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("open", "print", "input"), node.func.id
    forbidden = {"jinja2", "markupsafe", "sqlite3", "socket", "os", "pathlib", "time",
                 "datetime", "shutil", "subprocess", "smtplib", ".render", ".compose",
                 "..store", "..runner", "..sources", "..config"}
    assert not {n for n in names if n.split(".")[0] in forbidden or n in forbidden}, names
    assert names <= {"__future__", "math", "typing", "urllib.parse", "numpy", "pandas",
                     "..engine.models", "..labels", "..visible", ".model", ".chart", ".failure", ".activity",
                     ".cells", ".build", ".table", ".text", ".repair"}, names
    # failure.py (build_failure_report, FailureReport): the standard library only, and render.py
    # imported inside its rendering methods, as model.py does
    tree = ast.parse((folder / "failure.py").read_text(encoding="utf-8"))
    top = {n.module if isinstance(n, ast.ImportFrom) else a.name
           for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
           for a in n.names}
    assert top <= {"__future__", "dataclasses", "typing", "visible"}, top   # visible: stdlib only
    lazy = {("." * n.level + (n.module or ""), a.name) for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n not in tree.body for a in n.names}
    assert lazy <= {(".", "render")}, lazy


def test_report_and_failure_report_satisfy_the_notification_contract():
    from usermap.report.failure import FailureReport
    from usermap.report.model import Notification
    r, f = world_report(), failure_report()
    for n in (r, f):
        assert isinstance(n, Notification)
        assert n.subject() and "\n" not in n.subject()
        assert "<style" in n.email_html({"url": "https://x/r"}) and n.email_text()
    assert isinstance(f, FailureReport) and not f.ok
    json.dumps(f.to_json())


def test_failure_report_is_built_from_plain_values():
    f = failure_report()
    assert f.where == "the sync notebook (the cell numbered [7])"
    assert f.store == "The store was not changed: revision 4, 12 links, as before the run."
    assert f.notes == ("The fetch completed after 3 retries (429: 2, timeout: 1).",)
    assert f.advice[0] == "Refused for safety: nothing was applied."
    assert f.summary_rows[2] == ("with issues", 2) and f.css_class == "warn"
    assert f.subject().startswith(f"usermap [REFUSED]: run {RUN_ID}, exit 3 (refused for "
                                  "safety): StalePlanError: <img")
    g = failure_report(failed_notebook="", store_after={"revision": 5, "links": 11}, exit_code=9,
                       status="failed", error_class="", error_message="", fetch=None)
    assert g.where == "the runner" and "revision 4 -> 5, 12 -> 11 links" in g.store
    assert g.error_class == "Error" and g.error_message == "(no message)"
    assert g.advice == failure_report(exit_code=1).advice and g.css_class == "bad"
    h = failure_report(store_after=None)
    assert h.store == "The store could not be read before and after the run."
    html = f.to_html()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_decide_commands_are_complete_and_safe_to_paste():
    """Both choices of a decision carry the link's own ids, each one shell word however hostile,
    and no placeholder (`usermap map` refuses OWNER_ID)."""
    import shlex
    from usermap.report.build import fix_for
    from usermap.workflow import PLACEHOLDER_IDS
    user, owner = "1; rm -rf ~", "$(reboot)"
    tpl = ("keep the link: usermap map {aloware_user_id} {hubspot_owner_id} --store 'my db'"
           "  |  unlink: usermap unmap {aloware_user_id} --store 'my db'")
    fix = fix_for("aloware_email_changed", "email", "x", user, owner, decide_command=tpl)
    keep, unlink = fix.split("  |  ")
    assert shlex.split(keep.removeprefix("keep the link: ")) == [
        "usermap", "map", user, owner, "--store", "my db"]
    assert shlex.split(unlink.removeprefix("unlink: ")) == [
        "usermap", "unmap", user, "--store", "my db"]
    assert not set(shlex.split(fix)) & PLACEHOLDER_IDS
