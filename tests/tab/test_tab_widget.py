"""The User Mapping tab as a Python object (docs/design.md §9, issue 20): the anywidget driven
by the messages its page sends (``{"action": ...}``), against generated worlds on disk and real
stores. What the page draws from these traitlets is tests/browser/test_tab_page.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from usermap.config import Config
from usermap.errors import ConfigError
from usermap.lock import LOCK_NAME, RunLock
from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
from usermap.sources.snapshot import read_mappings_csv
from usermap.store.store import Store

from runkit import cli, store_state
from test_report import XSS

NOW = "2026-11-25T12:00:00Z"
COLS = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]


def make_env(root: Path, n=300, seed=3, mutate=None, extra_toml=""):
    """A snapshot of a generated world, a store holding its links (an import), a usermap.toml."""
    snap = root / "snap"
    write_world(generate(n, seed=seed), snap)
    if mutate:
        mutate(snap)
    db = root / "store.db"
    with Store.open(db, create=True) as st:
        st.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now=NOW)
    cfg = root / "usermap.toml"
    cfg.write_text(f'[store]\npath = "store.db"\n\n[runs]\ndir = "runs"\n{extra_toml}',
                   encoding="utf-8")
    return snap, db, cfg


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


@pytest.fixture
def tab(env, tmp_path):
    from usermap.tab.app import MappingTab
    snap, _, cfg = env
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "work")
    yield t
    t.close()


def act(t, action: str, **kw) -> None:
    """What the page sends when a button is pressed."""
    t._on_msg(t, {"action": action, **kw}, None)


def links(db) -> list[tuple]:
    return sorted(map(tuple, store_state(db)["links"][COLS].astype(str).to_numpy().tolist()))


# --- what the page shows ----------------------------------------------------------------------
def test_cards_and_counts_equal_the_audit(tab, env, tmp_path):
    snap, db, cfg = env
    p, _ = cli(["audit", str(snap), "--store", str(db), "--out", str(tmp_path / "a")])
    assert p.returncode == 0, p.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    cards = {c["key"]: c["value"] for c in tab.cards}
    assert list(cards) == ["mapped", "synced", "errors", "email_conflicts", "unmapped_aloware",
                           "unmapped_hubspot"]
    assert cards == {k: summary[k] for k in cards}
    counts = {k: v["count"] for k, v in tab.lists.items()}
    assert counts == {"mapped": summary["mapped"], "aloware": summary["unmapped_aloware"],
                      "hubspot": summary["unmapped_hubspot"], "errors": summary["errors"]}
    assert re.fullmatch(r"\d{1,2} \w{3} \d{4} \d\d:\d\d UTC", tab.refreshed)
    assert tab.placeholder == "Search by name, e-mail or id"
    assert tab.activities == []


def test_rows_say_synced_or_error_and_flag_conflicts(tab):
    rows = tab.lists["mapped"]["rows"]
    assert {r["status"] for r in rows} == {"Synced", "Error"}
    conflict = [r for r in rows if r["conflict"]]
    assert conflict and all(r["status"] == "Error" for r in conflict)
    assert all("⚠" not in r["issue"] for r in rows)      # the page draws one icon, not two


def test_pages_of_fifty_and_one_search_for_every_list(tab):
    m = tab.lists["mapped"]
    assert len(m["rows"]) == 50 and m["start"] == 0
    act(tab, "page", list="mapped", step=1)
    assert tab.lists["mapped"]["start"] == 50 and tab.lists["mapped"]["rows"][0] != m["rows"][0]
    for _ in range(5):
        act(tab, "page", list="mapped", step=1)
    last = tab.lists["mapped"]
    assert last["start"] == 100 and len(last["rows"]) == 50           # clamps at the last page
    act(tab, "page", list="mapped", step=-1)
    assert tab.lists["mapped"]["start"] == 50
    row = tab.lists["mapped"]["rows"][7]
    for q in (row["email"].upper(), row["aid"], f"{row['first']} {row['last']}"):
        tab.query = q
        assert row["aid"] in [r["aid"] for r in tab.lists["mapped"]["rows"]], q
        assert tab.lists["mapped"]["start"] == 0
    tab.query = "zz-no-one-zz"
    assert all(v["count"] == 0 for v in tab.lists.values())
    tab.query = ""
    assert tab.lists["mapped"]["count"] == 150


def test_links_to_the_aloware_profile_and_the_portal_user_page(env, tmp_path):
    from usermap.tab.app import MappingTab
    snap, _, cfg = env
    cfg.write_text(cfg.read_text() + '\n[hubspot]\nportal_id = 4242\n', encoding="utf-8")
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    act(t, "tab", list="aloware")
    a = t.lists["aloware"]["rows"][0]
    assert a["profile_url"] == f"https://app.aloware.com/users/{a['aid']}"
    h = t.lists["hubspot"]["rows"]
    assert any(r["owner_url"].startswith("https://app.hubspot.com/settings/4242/users/user/")
               for r in h)
    assert any(r["owner_url"] for r in t.lists["mapped"]["rows"])
    t.close()
    assert Config.load(cfg).hubspot.portal_id == "4242"
    assert Config.from_dict({"hubspot": {"portal_id": ""}}).hubspot.portal_id == ""
    with pytest.raises(ConfigError, match="portal_id"):
        Config.from_dict({"hubspot": {"portal_id": "12; x"}})


def test_without_portal_id_owners_are_not_links(tab):
    assert not any(r["owner_url"] for r in tab.lists["hubspot"]["rows"])


def test_suggestions_come_when_their_list_is_opened(tab):
    assert not any(r["suggestions"] for r in tab.lists["aloware"]["rows"])
    act(tab, "tab", list="aloware")
    for _ in range(4):
        if any(r["suggestions"] for r in tab.lists["aloware"]["rows"]):
            break
        act(tab, "page", list="aloware", step=1)
    s = next(r for r in tab.lists["aloware"]["rows"] if r["suggestions"])["suggestions"][0]
    assert set(s) == {"oid", "name", "email", "score", "owner_url"}


def test_details_tell_both_records_the_link_and_its_journal(tab):
    r = tab.lists["mapped"]["rows"][1]
    act(tab, "details", aid=r["aid"])
    p = tab.panel
    assert p["aid"] == r["aid"] and [s["title"] for s in p["sections"]] == [
        "Aloware user", "HubSpot owner", "The link"]
    assert all(s["rows"] for s in p["sections"])
    assert p["journal"] and p["journal"][0]["why"]
    act(tab, "close_panel")
    assert tab.panel == {}


# --- previews and Apply -------------------------------------------------------------------------
def test_sync_users_is_usermap_plan_and_apply_is_usermap_apply(tab, env, tmp_path):
    snap, db, _ = env
    db2 = tmp_path / "cli.db"
    db2.write_bytes(db.read_bytes())
    p, _ = cli(["plan", str(snap), "--store", str(db2), "--out", str(tmp_path / "plan.json")])
    assert p.returncode == 0, p.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    act(tab, "sync")
    pv = tab.preview
    assert pv["can_apply"] and not pv["needs_force"] and pv["total"] == len(plan["changes"])
    want = {}
    for c in plan["changes"]:
        want[c["step"]] = want.get(c["step"], 0) + 1
    assert {s["step"]: s["count"] for s in pv["steps"]} == want
    match = next(s for s in pv["steps"] if s["step"] == "match")
    assert all("@" in r["email"] for r in match["rows"])              # the matched e-mail
    before = store_state(db)["revision"]
    act(tab, "cancel")
    assert tab.preview == {} and store_state(db)["revision"] == before
    assert tab.status["text"] == "Cancelled: nothing was changed."
    act(tab, "sync")
    act(tab, "apply")
    assert tab.preview == {}
    o = tab.outcome
    assert o["text"].startswith(f"Applied {len(plan['changes'])} changes: ")
    assert o["email"] == "E-mail not sent: no SMTP server configured."
    assert "/" not in o["text"] + o["email"]                          # no server paths
    p, _ = cli(["apply", str(tmp_path / "plan.json"), "--store", str(db2), "--yes"])
    assert p.returncode == 0, p.stderr
    assert links(db) == links(db2)
    run = tmp_path / "runs" / o["run_id"]
    for name in ("report.html", "notification.eml", "plan.json", "summary.json", "run.json"):
        assert (run / name).is_file(), name
    assert (run / "snapshot" / "aloware_users.csv").read_bytes() == \
        (snap / "aloware_users.csv").read_bytes()                      # the snapshot it used
    act(tab, "sync")
    assert tab.preview["total"] == 0 and not tab.preview["can_apply"]  # a fixed point


def test_view_report_is_the_servers_url_when_served(env, tmp_path, monkeypatch):
    from usermap.tab.app import REPORT_URL_ENV, MappingTab
    monkeypatch.setenv(REPORT_URL_ENV, "/usermap/report/")
    snap, _, cfg = env
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    act(t, "fix", issue_id=t.lists["errors"]["rows"][1]["issue_id"])
    act(t, "apply")
    assert t.outcome["report_url"] == "/usermap/report/" + t.outcome["run_id"]
    t.close()


def test_fix_issue_changes_only_that_link(tab, env):
    _, db, _ = env
    row = next(r for r in tab.lists["errors"]["rows"] if r["issue"] == "Aloware user deleted")
    before = store_state(db)
    act(tab, "fix", issue_id=row["issue_id"])
    assert tab.preview["total"] == 1 and tab.preview["title"].startswith("Fix Issue: ")
    act(tab, "apply")
    after = store_state(db)
    assert set(before["links"]["aloware_user_id"]) - set(after["links"]["aloware_user_id"]) \
        == {row["aid"]}


def test_a_conflict_a_sync_leaves_offers_keep_link_and_unlink(tab, env):
    _, db, _ = env
    rows = [r for r in tab.lists["errors"]["rows"] if r["decide"]]
    assert rows and all(r["conflict"] for r in rows)
    assert not any(r["decide"] for r in tab.lists["errors"]["rows"]
                   if r["issue"] == "HubSpot owner deactivated")
    keep, drop = rows[0], rows[1]
    act(tab, "fix", issue_id=keep["issue_id"])
    assert tab.preview["total"] == 0
    assert "Keep link" in tab.preview["message"] and "Unlink" in tab.preview["message"]
    assert "in step" not in json.dumps(tab.preview)
    act(tab, "keep", aid=keep["aid"])
    assert tab.preview["kind"] == "keep" and tab.preview["can_apply"]
    act(tab, "apply")
    with Store.open(db, create=False) as st:
        link = st.link(keep["aid"])
    assert link["method"] == "manual" and link["hubspot_owner_id"] == keep["oid"]
    assert keep["aid"] not in [r["aid"] for r in tab.lists["errors"]["rows"]]   # now synced
    act(tab, "unlink", aid=drop["aid"])
    assert tab.preview["kind"] == "unlink" and tab.preview["remove"] == 1
    act(tab, "apply")
    with Store.open(db, create=False) as st:
        assert st.link(drop["aid"]) is None


def test_link_pins_a_suggestion_after_apply_only(tab, env):
    _, db, _ = env
    act(tab, "tab", list="aloware")
    row = None
    for _ in range(4):
        row = next((r for r in tab.lists["aloware"]["rows"] if r["suggestions"]), None)
        if row:
            break
        act(tab, "page", list="aloware", step=1)
    oid = row["suggestions"][0]["oid"]
    before = store_state(db)["revision"]
    act(tab, "link", aid=row["aid"], oid=oid)
    assert tab.preview["title"].endswith("as a manual link?")
    assert store_state(db)["revision"] == before
    act(tab, "apply")
    with Store.open(db, create=False) as st:
        link = st.link(row["aid"])
    assert link["hubspot_owner_id"] == oid and link["method"] == "manual"


# --- undo ---------------------------------------------------------------------------------------
def test_undo_never_offers_the_import(tab, env):
    _, db, _ = env
    with Store.open(db, create=False) as st:
        assert [r["kind"] for r in st.runs()] == ["import"]
    act(tab, "undo")
    assert tab.preview == {}
    assert tab.status["text"] == "Nothing to undo: no sync, fix or link has been applied here yet."


def test_undo_names_the_sync_and_needs_no_force(tab, env):
    _, db, _ = env
    before = links(db)
    act(tab, "sync")
    n = tab.preview
    act(tab, "apply")
    act(tab, "undo")
    pv = tab.preview
    m = re.fullmatch(r"Undo the sync of (\d{1,2} \w{3} \d\d:\d\d): (.+)", pv["title"])
    assert m, pv["title"]
    assert m.group(2) == ", ".join(f"{x} {w}" for x, w in (
        (n["add"], "linked"), (n["update"], "updated"), (n["remove"], "removed")) if x)
    assert pv["remove"] == n["add"] > 10 and pv["can_apply"] and not pv["needs_force"]
    assert {s["label"] for s in pv["steps"]} == {"Link again", "Put back as it was", "Remove"}
    act(tab, "apply")
    assert links(db) == before
    act(tab, "undo")        # the undo itself is not offered, nor the import
    assert tab.preview == {} and tab.status["text"].startswith("Nothing to undo")


def test_undo_names_a_fix_and_a_link(tab):
    act(tab, "fix", issue_id=tab.lists["errors"]["rows"][1]["issue_id"])
    act(tab, "apply")
    act(tab, "undo")
    assert tab.preview["title"].startswith("Undo the fix of ")
    act(tab, "cancel")
    aid = next(r for r in tab.lists["errors"]["rows"] if r["decide"])["aid"]
    act(tab, "keep", aid=aid)
    act(tab, "apply")
    act(tab, "undo")
    assert re.fullmatch(r"Undo the link of .+: 1 updated", tab.preview["title"])


# --- refusals -----------------------------------------------------------------------------------
def test_a_stale_plan_is_refused_and_changes_nothing(tab, env):
    _, db, _ = env
    act(tab, "sync")
    aid = tab.lists["mapped"]["rows"][0]["aid"]
    p, _ = cli(["unmap", aid, "--store", str(db)])
    assert p.returncode == 0, p.stderr
    before = store_state(db)
    act(tab, "apply")
    assert "The store changed since this plan was made" in tab.preview["message"]
    assert not tab.preview["can_apply"] and tab.status["kind"] == "bad"
    assert store_state(db)["revision"] == before["revision"]


def test_a_changed_snapshot_folder_is_refused(tab, env):
    snap, db, _ = env
    act(tab, "sync")
    users = snap / "aloware_users.csv"
    users.write_text(users.read_text() + "", encoding="utf-8")
    owners = snap / "hubspot_owners.json"
    data = json.loads(owners.read_text())
    data[0]["email"] = "someone.else@acme.com"
    owners.write_text(json.dumps(data))
    before = store_state(db)["revision"]
    act(tab, "apply")
    assert "snapshot folder changed" in tab.status["text"]
    assert store_state(db)["revision"] == before
    assert not (Path(tab.config.path).parent / "runs").exists()


def test_apply_while_a_run_holds_the_lock_changes_nothing(tab, env, tmp_path):
    _, db, _ = env
    act(tab, "sync")
    lock = RunLock(tmp_path / "runs" / LOCK_NAME).acquire()
    try:
        before = store_state(db)["revision"]
        act(tab, "apply")
        assert "Another run is applying changes" in tab.status["text"]
        assert store_state(db)["revision"] == before
    finally:
        lock.release()


def test_removal_guard_offers_force(tmp_path):
    from usermap.tab.app import MappingTab

    def drop_owners(snap: Path):
        owners = json.loads((snap / "hubspot_owners.json").read_text())
        (snap / "hubspot_owners.json").write_text(json.dumps(owners[: len(owners) // 3]))
    snap, db, cfg = make_env(tmp_path, mutate=drop_owners)
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    act(t, "sync")
    assert t.preview["needs_force"] and not t.preview["can_apply"]
    assert "removal guard" in t.preview["message"]
    act(t, "force")
    assert t.outcome["text"].startswith("Applied ")
    t.close()


def test_a_failed_refresh_says_why_and_keeps_the_data(tmp_path, sandbox, sandbox_tokens):
    from usermap.tab.app import MappingTab
    from usermap.tabserver import free_port
    world = generate(120, seed=5)
    srv = sandbox(world)
    db = tmp_path / "store.db"
    Store.open(db, create=True).close()
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(srv.config_toml() + '\n[store]\npath = "store.db"\n[fetch]\nattempts = 1\n'
                   'total_seconds = 10\n', encoding="utf-8")
    t = MappingTab(str(cfg), workdir=tmp_path / "w")
    shown = (t.cards, t.lists["aloware"]["count"], t.refreshed)
    assert shown[1] > 0
    dead = free_port()
    cfg.write_text(cfg.read_text().replace(f":{srv.port}", f":{dead}"), encoding="utf-8")
    t.config = Config.load(cfg)
    act(t, "refresh")
    s = t.status
    assert s["kind"] == "bad" and s["text"].startswith("Refresh failed: ")
    assert "Nothing was changed" in s["text"] and f"127.0.0.1:{dead}" in s["text"]
    assert "Error:" not in s["text"] and "Traceback" not in s["text"]
    assert (t.cards, t.lists["aloware"]["count"], t.refreshed) == shown
    t.close()


def test_values_travel_as_values(tmp_path):
    from usermap.tab.app import MappingTab

    def hostile(snap: Path):
        users = pd.read_csv(snap / "aloware_users.csv", dtype=str, keep_default_na=False)
        for i, x in enumerate(XSS):
            users.loc[i, "first_name"] = x
        users.to_csv(snap / "aloware_users.csv", index=False)
    snap, _, cfg = make_env(tmp_path, mutate=hostile)
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    t.query = "onerror"
    firsts = [r["first"] for k in ("mapped", "aloware") for r in t.lists[k]["rows"]]
    assert XSS[0] in firsts                                    # the text, exactly, unescaped
    t.close()


def test_a_missing_store_is_said_not_created(tmp_path):
    from usermap.tab.app import MappingTab
    snap = tmp_path / "snap"
    write_world(generate(50, seed=1), snap)
    cfg = tmp_path / "usermap.toml"
    cfg.write_text('[store]\npath = "nope.db"\n', encoding="utf-8")
    t = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    assert t.status["kind"] == "bad" and "mapping store was not found" in t.status["text"]
    assert "usermap" not in t.status["text"] and "nope.db" not in t.status["text"]
    assert not (tmp_path / "nope.db").exists()
    t.close()


def test_notebook_helper_returns_the_widget_and_ships_its_page(env, tmp_path):
    import anywidget

    from usermap import notebook
    from usermap.tab import app
    snap, _, cfg = env
    t = notebook.tab(config=str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    assert isinstance(t, anywidget.AnyWidget) and t.cards
    for f in ("widget.js", "widget.css"):
        text = (Path(app.__file__).parent / f).read_text()
        assert "http://" not in text and "https://cdn" not in text and "@import" not in text
    js = (Path(app.__file__).parent / "widget.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js
    t.close()
