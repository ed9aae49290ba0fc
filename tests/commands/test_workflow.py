"""usermap.workflow, the one wiring of the steps: load -> audit -> plan -> apply -> record ->
report -> notify, on generated worlds written to disk and real SQLite stores."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from usermap import workflow
from usermap.config import Config
from usermap.errors import InputError, RemovalGuardError, StalePlanError
from usermap.output import fix_commands
from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
from usermap.sources.snapshot import read_mappings_csv
from usermap.store.store import Store

NOW = "2026-11-25T12:00:00Z"


@pytest.fixture
def world(tmp_path):
    """A generated world's snapshot (in a folder whose name needs quoting) and a store
    holding its links, at revision 1."""
    snap = tmp_path / "my snapshot"
    write_world(generate(150, seed=3), snap)
    db = tmp_path / "store.db"
    with Store.open(db, create=True) as store:
        store.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now=NOW)
    return snap, db, tmp_path


def _runs(db) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT run_id, kind, changes, revision_after FROM runs "
                         "ORDER BY revision_after").fetchall()


def _revision(db) -> int:
    with Store.open(db, create=False) as store:
        return store.revision


def test_load_audit_plan_apply_reaches_a_fixed_point(world):
    snap, db, tmp = world
    data = workflow.load(snap, db)
    assert data.revision == 1 and data.fingerprint.startswith("sha256:")
    assert len(data.users) and len(data.owners) and len(data.links)
    result = workflow.audit(data)
    plan = workflow.make_plan(data, result, now=NOW, out=tmp / "plan.json")
    assert len(plan) and (tmp / "plan.json").is_file()
    done = workflow.apply(db, plan, now=NOW, force=True)
    assert done.applied and not done.dry_run and done.changes == len(plan)
    assert done.revision == _revision(db) == 2
    assert _runs(db)[-1][:2] == (done.store_run_id, "apply")
    again = workflow.make_plan(workflow.load(snap, db), workflow.audit(workflow.load(snap, db)),
                               now=NOW)
    assert len(again) == 0 and again.store_revision == 2


def test_dry_run_checks_and_writes_nothing(world):
    snap, db, _ = world
    data = workflow.load(snap, db)
    plan = workflow.make_plan(data, workflow.audit(data), now=NOW, force=True)
    done = workflow.apply(db, plan, now=NOW, yes=False)
    assert done.dry_run and not done.applied and done.store_run_id is None
    assert done.revision == 1 and len(_runs(db)) == 1
    with Store.open(db, create=True) as store:      # the store moves on: even a dry run refuses the plan
        store.unmap(str(data.links["aloware_user_id"].iloc[0]), now=NOW)
    with pytest.raises(StalePlanError):
        workflow.apply(db, plan, now=NOW, yes=False)


def test_empty_plan_revision_comes_from_the_store(world):
    """An empty plan records no run and bumps nothing, however it is applied; the revision
    reported is the store's (issue 10: `usermap apply --yes` used to record a run)."""
    snap, db, _ = world
    data = workflow.load(snap, db)
    workflow.apply(db, workflow.make_plan(data, workflow.audit(data), now=NOW, force=True),
                   now=NOW)
    data = workflow.load(snap, db)
    empty = workflow.make_plan(data, workflow.audit(data), now=NOW)
    assert len(empty) == 0 and empty.store_revision == 2
    with Store.open(db) as store:
        runs = len(store.runs())
    done = workflow.apply(db, empty, now=NOW)                          # `usermap apply --yes`
    assert not done.applied and done.store_run_id is None
    assert done.revision == 2 == _revision(db)
    with Store.open(db) as store:
        assert len(store.runs()) == runs


def _guard_world(tmp_path):
    """Every linked user gone from Aloware: the plan removes every link."""
    w = generate(150, seed=4)
    snap = tmp_path / "snap"
    write_world(w, snap)
    db = tmp_path / "guard.db"
    with Store.open(db, create=True) as store:
        store.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now=NOW)
    users = pd.read_csv(snap / "aloware_users.csv", dtype=str, keep_default_na=False)
    linked = set(w.links["aloware_user_id"].astype(str))
    users[~users["id"].isin(linked)].to_csv(snap / "aloware_users.csv", index=False)
    return snap, db


def test_removal_guard_is_checked_at_plan_and_at_apply(tmp_path):
    snap, db = _guard_world(tmp_path)
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    with pytest.raises(RemovalGuardError, match="--force"):
        workflow.make_plan(data, result, now=NOW, out=tmp_path / "refused.json")
    assert not (tmp_path / "refused.json").exists()         # a refused plan is not written
    plan = workflow.make_plan(data, result, now=NOW, guard=False, out=tmp_path / "review.json")
    assert plan.exceeds_guard and (tmp_path / "review.json").is_file()
    with pytest.raises(RemovalGuardError):
        workflow.apply(db, plan, now=NOW)
    assert _revision(db) == 1 and len(_runs(db)) == 1
    done = workflow.apply(db, plan, now=NOW, force=True)
    assert done.applied and done.revision == 2
    with Store.open(db, create=False) as store:
        assert store.count() == len(data.links) - plan.removals + plan.counts()["add"]


def test_plan_made_with_force_carries_it_to_apply(tmp_path):
    snap, db = _guard_world(tmp_path)
    data = workflow.load(snap, db)
    plan = workflow.make_plan(data, workflow.audit(data), now=NOW, force=True)
    assert plan.force
    assert workflow.apply(db, plan, now=NOW).applied


def test_only_restricts_the_plan_to_one_issue(world):
    snap, db, _ = world
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    issue = next(i for i in result.errors["issue_id"] if i)
    p = workflow.make_plan(data, result, now=NOW, only=issue, force=True)
    assert p.only == issue and 0 < len(p) < len(workflow.make_plan(data, result, now=NOW,
                                                                   force=True))


def test_missing_snapshot_creates_no_store(tmp_path):
    with pytest.raises(InputError, match="snapshot folder not found"):
        workflow.load(tmp_path / "nope", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()


def test_write_audit_records_the_run_for_the_report_history(world):
    snap, db, tmp = world
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    summary = workflow.write_audit(result, tmp / "a", snapshot=snap, store_path=db,
                                   run_id="20261125T120000Z-aaaa", now=NOW)
    assert json.loads((tmp / "a" / "summary.json").read_text()) == summary
    with Store.open(db, create=False) as store:
        (h,) = store.audits()
    assert h["run_id"] == "20261125T120000Z-aaaa" and h["summary"] == summary
    workflow.write_audit(result, tmp / "b", snapshot=snap, store_path=db)   # not recorded
    with Store.open(db, create=False) as store:
        assert len(store.audits()) == 1


def test_fix_commands_are_built_once_and_quoted(world):
    """errors.csv, the notebooks' tables and the report show the same commands, with the
    snapshot and store paths quoted for a shell."""
    snap, db, tmp = world
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    cmds = workflow.commands(snap, db)
    assert cmds == fix_commands(snap, db)
    assert f"'{snap}'" in cmds.fix and "{issue_id}" in cmds.fix
    workflow.write_audit(result, tmp / "a", snapshot=snap, store_path=db)
    errors = pd.read_csv(tmp / "a" / "errors.csv", dtype=str, keep_default_na=False)
    assert len(errors)
    want = [cmds.for_issue(i, c, u, m, o) for i, c, u, m, o in zip(
        errors["issue_id"], errors["code"], errors["aloware_user_id"], errors["method"],
        errors["hubspot_owner_id"])]
    assert errors["fix"].tolist() == want
    assert not errors["fix"].str.contains("OWNER_ID").any()
    rep = workflow.build_report(Config(), result, snapshot=snap, store_path=db, now=NOW)
    # the report shows a command only where a person decides: both choices, complete and quoted
    shown = [row for row in rep.errors.rows() if row["fix"]]
    assert shown and all(r["code"] in ("aloware_email_changed", "hubspot_email_changed")
                         for r in shown)
    for r in shown:
        assert f"usermap map {r['aloware_user_id']} {r['hubspot_owner_id']} --store {db}" in r["fix"]
        assert "OWNER_ID" not in r["fix"]


def test_report_for_snapshot_changes_nothing(world):
    snap, db, tmp = world
    before = (_revision(db), _runs(db))
    path = workflow.report_for_snapshot(Config(), snap, db, tmp / "r" / "report.html", now=NOW)
    html = Path(path).read_text(encoding="utf-8")
    assert "A report only: nothing was changed." in html and "<html" in html.lower()
    assert (_revision(db), _runs(db)) == before


def test_finish_writes_report_notification_and_sync_json(world):
    snap, db, tmp = world
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    plan = workflow.make_plan(data, result, now=NOW, force=True)
    done = workflow.apply(db, plan, now=NOW, force=True, run_id="20261125T120000Z-bbbb")
    run_dir = tmp / "run"
    run_dir.mkdir()
    out = workflow.finish(Config(), result, plan, done, snapshot=snap, store_path=db,
                          run_dir=run_dir, run_id="20261125T120000Z-bbbb", now=NOW)
    assert Path(out["report"]).is_file() and Path(out["notification"]).is_file()
    assert out["sent"] is False
    sync = json.loads((run_dir / "sync.json").read_text())
    assert sync["applied"] is True and sync["revision"] == 2 and sync["status"] == "ok"
    assert "the store is now at revision 2" in Path(out["report"]).read_text(encoding="utf-8")


def test_workflow_neither_prints_nor_exits(world, capsys):
    snap, db, tmp = world
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    plan = workflow.make_plan(data, result, now=NOW, force=True)
    workflow.apply(db, plan, now=NOW, yes=False)
    workflow.write_audit(result, tmp / "a", snapshot=snap, store_path=db)
    workflow.report_for_snapshot(Config(), snap, db, tmp / "r.html", now=NOW)
    assert capsys.readouterr() == ("", "")
    import ast
    tree = ast.parse(Path(workflow.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("print", "exit", "quit", "input"), node.func.id
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not {"sys", "cli", "notebook", "runner", "tab"} & set(mods), mods
