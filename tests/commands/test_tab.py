"""The User Mapping tab as a Python object (docs/design.md §9): widgets driven directly
(``button.click()``), against generated worlds on disk and real stores. Fast; the browser and
Voilà are tests/browser/test_tab_browser.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from usermap import workflow
from usermap.config import Config
from usermap.lock import LOCK_NAME, RunLock
from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
from usermap.sources.snapshot import read_mappings_csv
from usermap.store.store import Store

from runkit import cli, store_state
from test_report import XSS

NOW = "2026-11-25T12:00:00Z"
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")


def make_env(root: Path, n=300, seed=3, mutate=None, extra_toml=""):
    """A snapshot of a generated world, a store holding its links, and a usermap.toml."""
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


def open_tab(snap, cfg, tmp_path):
    from usermap.tab.app import MappingTab
    return MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "work")


@pytest.fixture
def tab(env, tmp_path):
    snap, db, cfg = env
    t = open_tab(snap, cfg, tmp_path)
    yield t
    t.close()


def all_html(t) -> str:
    """Every HTML value the tab shows now, and the buttons' text (tooltips are a plain-text
    ``title`` attribute, never markup, so they are left out)."""
    import ipywidgets as W
    seen, out, todo = set(), [], [t.widget]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        if isinstance(w, (W.HTML, W.Label)):
            out.append(w.value or "")
        if isinstance(w, W.Button):
            out.append(w.description)
        todo += list(getattr(w, "children", ()) or ())
    return "\n".join(out)


def open_all(t) -> None:
    """Open every list's tab once (a list makes its rows when its tab is first opened)."""
    for i in (1, 2, 3, 0):
        t.tabs.selected_index = i


def visible(b) -> bool:
    return b.layout.display != "none"


def comparable(links: pd.DataFrame) -> list[tuple]:
    cols = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    return sorted(map(tuple, links[cols].astype(str).to_numpy().tolist()))


# --- the overview, lists and search -----------------------------------------------------------
def test_overview_equals_the_audit_summary(tab, env, tmp_path):
    snap, db, _ = env
    data = workflow.load(snap, db, create=False)
    summary = workflow.write_audit(workflow.audit(data), tmp_path / "audit")
    assert summary == json.loads((tmp_path / "audit" / "summary.json").read_text())
    cards = dict(re.findall(r'data-key="(\w+)" data-value="(\d+)"', tab.cards.value))
    assert {k: int(v) for k, v in cards.items()} == {
        k: summary[k] for k in ("mapped", "synced", "errors", "email_conflicts",
                                "unmapped_aloware", "unmapped_hubspot")}
    assert tab.tabs.titles[0] == f"Mapped users ({summary['mapped']:,})"


def test_accessible_names_are_the_contract(tab):
    names = {b.description for b in (tab.refresh_button, tab.sync_button, tab.undo_button,
                                     tab.apply_button, tab.force_button, tab.cancel_button,
                                     tab.mapped.next, tab.mapped.prev)}
    assert names == {"Refresh", "Sync Users", "Undo last sync", "Apply", "Force", "Cancel",
                     "Next", "Previous"}
    for b in (tab.refresh_button, tab.sync_button, tab.apply_button, tab.mapped.next):
        assert b.icon == "" and b.tooltip
    assert tab.search.placeholder == "Search by name, e-mail or id"
    open_all(tab)
    assert {b.description for box, _, bs in tab.errors.slots for b in bs if visible(box)} == \
        {"Fix Issue"}
    assert {b.description for box, _, bs in tab.aloware.slots for b in bs
            if visible(box) and visible(b)} == {"Link"}


def test_lists_make_their_rows_when_their_tab_is_opened(tab):
    assert tab.mapped._slots is not None and tab.errors._slots is None
    tab.tabs.selected_index = 3
    assert tab.errors._slots is not None and tab.errors.slots[0][1].value


def test_pages_of_fifty_with_next_and_previous(tab):
    m = tab.mapped
    assert len(m.slots) == 50 and m.count == 150
    first = [r["aloware_user_id"] for r in m.rows()]
    assert len(first) == 50 and m.prev.disabled and not m.next.disabled
    assert "Rows 1–50 of 150" in m.info.value
    m.next.click()
    m.next.click()
    assert "Rows 101–150 of 150" in m.info.value and m.next.disabled
    assert not set(first) & {r["aloware_user_id"] for r in m.rows()}
    m.prev.click()
    assert "Rows 51–100" in m.info.value


def test_one_search_box_filters_by_name_email_or_id(tab):
    row = tab.result.mapped.iloc[7]
    for q in (row["aloware_user_id"], row["hubspot_owner_id"], row["email"].upper(),
              f"{row['first_name']} {row['last_name']}"):
        tab.search.value = q
        ids = [r["aloware_user_id"] for r in tab.mapped.rows()]
        assert row["aloware_user_id"] in ids, q
        assert tab.timings["search"] < 0.3
    tab.search.value = "no such person anywhere"
    assert tab.mapped.count == tab.aloware.count == tab.hubspot.count == tab.errors.count == 0
    assert "No rows" in tab.mapped.info.value
    tab.search.value = ""
    assert tab.mapped.count == 150


def test_details_show_both_records_the_link_and_its_journal(tab):
    row = tab.result.mapped.iloc[0]
    tab.mapped.slots[0][2][0].click()
    s = tab.story.value
    assert f"Aloware user {row['aloware_user_id']}" in s and "HubSpot owner" in s
    assert "The link (store)" in s and "Journal" in s and "import" in s


def test_labels_in_words_and_codes_in_a_legend(tab):
    from usermap import labels
    from usermap.engine.models import ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES
    assert all(labels.ISSUE_LABELS[c] != c for c in ISSUE_CODES)
    assert all(labels.ALOWARE_REASON_LABELS[r] != r for r in ALOWARE_REASONS)
    assert all(labels.HUBSPOT_REASON_LABELS[r] != r for r in HUBSPOT_REASONS)
    for code in ISSUE_CODES:
        assert code in tab.legend.value
    tab.tabs.selected_index = 3
    rows = "".join(c.value for _, c, _ in tab.errors.slots)
    assert "aloware_user_not_found" not in rows and "Aloware user not found" in rows


# --- plans and applies ---------------------------------------------------------------------
def test_sync_users_shows_the_plan_and_apply_is_usermap_apply(env, tmp_path):
    snap, db, cfg = env
    # the CLI on a copy of the same store
    db2 = tmp_path / "cli.db"
    db2.write_bytes(db.read_bytes())
    p, _ = cli(["plan", str(snap), "--store", str(db2), "--out", str(tmp_path / "plan.json")])
    assert p.returncode == 0, p.stderr
    cli_plan = json.loads((tmp_path / "plan.json").read_text())
    t = open_tab(snap, cfg, tmp_path)
    t.sync_button.click()
    plan = t.pending
    assert plan is not None and visible(t.plan_panel) and visible(t.apply_button)
    assert not visible(t.force_button)
    assert sorted((c.action, c.aloware_user_id, c.hubspot_owner_id, c.reason)
                  for c in plan.changes) == sorted(
        (c["action"], c["aloware_user_id"], c["hubspot_owner_id"], c["reason"])
        for c in cli_plan["changes"])
    for step, label in (("match", "Match"), ("resolve", "Resolve"), ("cleanup", "Clean up")):
        n = sum(c.step == step for c in plan.changes)
        assert f'data-step="{step}">{label}: {n:,}</h4>' in t.plan_view.value
    before = store_state(db)
    assert before["revision"] == 1      # nothing changed by showing the plan
    t.apply_button.click()
    assert "Applied" in t.status.value, t.status.value
    p, _ = cli(["apply", str(tmp_path / "plan.json"), "--store", str(db2), "--yes"])
    assert p.returncode == 0, p.stderr
    mine, theirs = store_state(db), store_state(db2)
    assert comparable(mine["links"]) == comparable(theirs["links"])
    assert mine["revision"] == theirs["revision"] == 2
    assert mine["journal"] == theirs["journal"]
    run_id = mine["runs"][-1]
    run_dir = tmp_path / "runs" / run_id
    assert RUN_ID.match(run_id) and run_dir.is_dir()
    for name in ("report.html", "notification.eml", "plan.json", "sync.json", "run.json",
                 "summary.json", "mapped.csv", "snapshot/aloware_users.csv"):
        assert (run_dir / name).is_file(), name
    sync = json.loads((run_dir / "sync.json").read_text())
    assert sync["applied"] and sync["store_run_id"] == run_id and sync["revision"] == 2
    assert json.loads((run_dir / "run.json").read_text())["status"] == "ok"
    with Store.open(db, create=False) as st:
        assert [a["run_id"] for a in st.audits()] == [run_id]     # recorded like a run
    # the tab now shows the state after the sync; a second sync has nothing to do
    assert t.summary["errors"] < 26 and not visible(t.plan_panel)
    t.sync_button.click()
    assert len(t.pending) == 0 and not visible(t.apply_button)
    t.close()


def _guard_snapshot(snap: Path) -> None:
    """Every linked user gone from Aloware: the sync removes every link."""
    links = pd.read_csv(snap / FILE_MAPPINGS, dtype=str)
    users = pd.read_csv(snap / "aloware_users.csv", dtype=str, keep_default_na=False)
    users[~users["id"].isin(set(links["aloware_user_id"]))].to_csv(
        snap / "aloware_users.csv", index=False)


def test_removal_guard_offers_force_and_cancel_changes_nothing(tmp_path):
    snap, db, cfg = make_env(tmp_path, n=150, seed=4, mutate=_guard_snapshot)
    t = open_tab(snap, cfg, tmp_path)
    t.sync_button.click()
    assert t.pending.exceeds_guard
    assert visible(t.force_button) and not visible(t.apply_button)
    assert "removal guard" in t.plan_message.value and "Clean up" in t.plan_view.value
    before = store_state(db)
    t.cancel_button.click()
    assert t.pending is None and not visible(t.plan_panel) and "nothing was changed" in \
        t.status.value
    assert store_state(db)["revision"] == before["revision"]
    assert not (tmp_path / "runs").exists() or not [
        p for p in (tmp_path / "runs").iterdir() if RUN_ID.match(p.name)]
    t.sync_button.click()
    n = t.pending.counts()
    t.force_button.click()
    after = store_state(db)
    assert after["revision"] == before["revision"] + 1
    assert len(after["links"]) == len(before["links"]) - n["remove"] + n["add"]
    assert json.loads((tmp_path / "runs" / after["runs"][-1] / "run.json").read_text())["force"]
    t.close()


def test_a_stale_plan_says_the_store_changed_and_changes_nothing(tab, env):
    snap, db, _ = env
    tab.sync_button.click()
    workflow.unmap_link(db, tab.result.mapped.iloc[0]["aloware_user_id"], now=NOW)
    before = store_state(db)
    tab.apply_button.click()
    assert "store changed" in tab.plan_message.value and "Refresh" in tab.plan_message.value
    assert not visible(tab.apply_button)
    assert store_state(db)["revision"] == before["revision"]
    tab.refresh_button.click()
    assert tab.data.revision == before["revision"] and tab.pending is None


def test_fix_issue_changes_only_that_link(tab, env):
    snap, db, _ = env
    er = tab.result.errors
    target = er[er["code"] == "aloware_user_deleted"].iloc[0]
    before = store_state(db)["links"]
    tab.tabs.selected_index = 3
    for i, r in enumerate(tab.errors.rows()):
        if r["issue_id"] == target["issue_id"]:
            tab.errors.slots[i][2][0].click()
            break
    else:
        pytest.fail("issue not on the first page")
    assert [c.aloware_user_id for c in tab.pending.changes] == [target["aloware_user_id"]]
    tab.apply_button.click()
    after = store_state(db)["links"]
    gone = set(before["aloware_user_id"]) - set(after["aloware_user_id"])
    assert gone == {target["aloware_user_id"]}
    assert comparable(before[before["aloware_user_id"] != target["aloware_user_id"]]) == \
        comparable(after)


def test_link_pins_a_suggestion_after_a_confirmation(tab, env):
    snap, db, _ = env
    tab.search.value = ""
    tab.tabs.selected_index = 1
    for _ in range(10):
        hit = [(i, r) for i, r in enumerate(tab.aloware.rows())
               if isinstance(r["suggestions"], list) and r["suggestions"]]
        if hit:
            break
        tab.aloware.next.click()
    assert hit, "the world has a user with suggestions"
    i, row = hit[0]
    owner = row["suggestions"][0]["hubspot_owner_id"]
    tab.aloware.slots[i][2][0].click()
    assert "manual link?" in tab.plan_view.value and visible(tab.apply_button)
    assert store_state(db)["revision"] == 1             # nothing yet: a confirmation first
    tab.apply_button.click()
    with Store.open(db, create=False) as st:
        link = st.link(row["aloware_user_id"])
        j = st.journal()
    assert link["hubspot_owner_id"] == owner and link["method"] == "manual"
    assert j.iloc[-1]["reason"] == "manual_pin"


def test_undo_last_sync_restores_the_links(tab, env):
    snap, db, _ = env
    before = store_state(db)
    tab.sync_button.click()
    tab.apply_button.click()
    assert store_state(db)["revision"] == 2
    tab.undo_button.click()
    assert tab.pending.meta.get("undo_of") and "Undo last sync" in tab.plan_view.value
    (tab.force_button if visible(tab.force_button) else tab.apply_button).click()
    after = store_state(db)
    assert comparable(after["links"]) == comparable(before["links"])
    assert after["revision"] == 3 and len(after["runs"]) == 3
    tab.undo_button.click()       # the undo is not undone, and the sync was undone already
    assert "Nothing to undo" in tab.status.value or tab.pending.meta.get("undo_of") != \
        after["runs"][1]


# --- safety ----------------------------------------------------------------------------------
def test_apply_while_a_run_holds_the_lock_changes_nothing(tab, env, tmp_path):
    snap, db, _ = env
    tab.sync_button.click()
    with RunLock(tmp_path / "runs" / LOCK_NAME):
        tab.apply_button.click()
    assert "holds the lock" in tab.plan_message.value and "nothing was changed" in \
        tab.status.value
    assert store_state(db)["revision"] == 1
    tab.apply_button.click()      # the plan is still there: applied once the lock is free
    assert store_state(db)["revision"] == 2


def test_a_scheduled_run_while_the_tab_applies_exits_3(tab, env, tmp_path, monkeypatch):
    snap, db, cfg = env
    monkeypatch.setenv("USERMAP_TEST_APPLY_HOOK", "sleep:4")
    er = tab.result.errors
    tab.fix(er[er["code"] == "aloware_user_deleted"].iloc[0]["issue_id"])
    th = threading.Thread(target=tab.apply_button.click)
    th.start()
    try:
        deadline = time.monotonic() + 10
        lock = tmp_path / "runs" / LOCK_NAME
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text().strip()):
            time.sleep(0.05)
        p, _ = cli(["run", "--config", str(cfg)], timeout=60)
    finally:
        th.join(timeout=30)
    assert p.returncode == 3, p.stderr
    assert "lock" in p.stderr
    assert store_state(db)["revision"] == 2


def test_hostile_values_stay_text(tmp_path):
    def hostile(snap: Path):
        users = pd.read_csv(snap / "aloware_users.csv", dtype=str, keep_default_na=False)
        for i, x in enumerate(XSS):
            users.loc[i, "first_name"] = x
            users.loc[i + len(XSS), "last_name"] = x
        users.to_csv(snap / "aloware_users.csv", index=False)
        owners = json.loads((snap / "hubspot_owners.json").read_text())
        for i, x in enumerate(XSS):
            owners[i]["firstName"] = x
        (snap / "hubspot_owners.json").write_text(json.dumps(owners))
    snap, db, cfg = make_env(tmp_path, n=100, seed=5, mutate=hostile)
    t = open_tab(snap, cfg, tmp_path)
    open_all(t)
    t.search.value = "<"
    assert t.mapped.count + t.aloware.count + t.hubspot.count > 0
    shown = all_html(t)
    for lst in (t.mapped, t.aloware, t.hubspot):
        lst.filter("<")
        shown += "".join(c.value for _, c, _ in lst.slots)
    t.mapped.slots[0][2][0].click()
    t.sync_button.click()
    shown += t.story.value + t.plan_view.value
    for x in XSS:
        assert x not in shown.replace("\x00", "")
    assert "&lt;img src=x onerror=alert(1)&gt;" in shown
    t.close()


def test_a_missing_store_is_said_not_created(tmp_path):
    snap = tmp_path / "snap"
    write_world(generate(60, seed=1), snap)
    (tmp_path / "usermap.toml").write_text('[store]\npath = "nope.db"\n')
    t = open_tab(snap, tmp_path / "usermap.toml", tmp_path)     # the first load, said
    assert "store not found" in t.status.value and not (tmp_path / "nope.db").exists()
    t.refresh_button.click()
    assert "store not found" in t.status.value and not (tmp_path / "nope.db").exists()
    t.sync_button.click()
    assert "Refresh" in t.status.value


def test_refresh_fetches_through_the_sources(sandbox, sandbox_tokens, tmp_path):
    from usermap.tab.app import MappingTab
    world = generate(120, seed=2)
    srv = sandbox(world)
    (tmp_path / "usermap.toml").write_text(srv.config_toml() + '\n[store]\npath = "s.db"\n',
                                           encoding="utf-8")
    world.links.to_csv(tmp_path / "m.csv", index=False)
    with Store.open(tmp_path / "s.db", create=True) as st:
        st.import_links(read_mappings_csv(tmp_path / "m.csv"), now=NOW)
    t = MappingTab(str(tmp_path / "usermap.toml"), workdir=tmp_path / "w")
    served = len(pd.read_csv(tmp_path / "w" / "snapshot-1" / "aloware_users.csv"))
    assert t.summary["aloware_users"] == served > 100 and srv.requests >= 3
    t.refresh_button.click()
    assert (tmp_path / "w" / "snapshot-2").is_dir() and not (tmp_path / "w" / "snapshot-1").exists()
    assert "Fetched" in t.status.value
    t.close()


# --- the notebook and the helper -------------------------------------------------------------
def test_mapping_notebook_is_thin_and_tagged(root):
    nb = json.loads((root / "notebooks" / "mapping.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    src = "".join(code[0]["source"])
    assert re.search(r"^config: str = \"\"", src, re.M) and re.search(r"^snapshot: str = \"\"",
                                                                     src, re.M)
    assert len(code) == 2 and "nb.tab(config=config, snapshot=snapshot)" in "".join(
        code[1]["source"])
    assert all(not c.get("outputs") for c in code)


def test_notebook_tab_helper_returns_the_application(env, tmp_path):
    import usermap.notebook as nb
    snap, db, cfg = env
    t = nb.tab(config=str(cfg), snapshot=str(snap), workdir=tmp_path / "w")
    assert t.summary["mapped"] == 150 and "application/vnd.jupyter.widget-view+json" in \
        t._repr_mimebundle_()
    t.close()


# --- usermap tab, without a browser (tests/browser/test_tab_browser.py drives the page) ---------------
def test_usermap_tab_needs_the_token_and_ends_on_sigint(env, tmp_path):
    import http.client
    import signal
    snap, db, cfg = env
    from usermap.tabserver import free_port
    port = free_port()
    out, err = tmp_path / "tab.out", tmp_path / "tab.err"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "usermap"), "tab", "--config",
                                 str(cfg), "--port", str(port), "--snapshot", str(snap)],
                                stdout=o, stderr=e, cwd=tmp_path)
    try:
        deadline, url = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None and not url:
            url = re.search(rf"http://127\.0\.0\.1:{port}/\?token=([\w-]{{40,}})", out.read_text())
            time.sleep(0.05)
        assert url, out.read_text() + err.read_text()
        for path in ("/", "/?token=" + "x" * 43, "/api/kernels"):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            body = r.read().decode(errors="replace")
            assert r.status in (302, 403) and "um-card" not in body, (path, r.status)
            c.close()
        private = Path(re.search(r"Storing connection files in (\S+?)/voila_",
                                 err.read_text()).group(1))
        assert private.is_dir() and oct(private.stat().st_mode & 0o777) == "0o700"
        copy = (private / "app" / "mapping.ipynb").read_text()
        assert json.dumps(str(cfg.absolute()))[1:-1] in copy and str(snap) in copy
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert not private.exists()
        assert "Kernel started" not in err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

