"""Activities end to end against the sandbox (issue 21 "Done when"): `usermap activities impact`
finds exactly the world's misattributed activities with the right grade; plan + apply repairs
exactly the proven ones and never one edited since; undo restores them; a SIGKILL at several
points leaves the journal and HubSpot consistent and the next apply or undo completes the work.
The `usermap` command runs as a subprocess against a real sandbox and a real SQLite store."""

from __future__ import annotations

import json
import signal
import sqlite3

import pytest

import act_kit
from runkit import cli, token_leaks

ENV = act_kit.env_vars()


@pytest.fixture
def env(tmp_path):
    e = act_kit.make(tmp_path / "w", n=1500)
    yield e
    e.srv.stop()


def _run(e, *args, extra_env=None):
    p, _ = cli(["activities", *args, "--config", str(e.config)], {**ENV, **(extra_env or {})},
               cwd=e.root)
    return p


def _truth(e) -> dict:
    return {t["activity_id"]: t for t in e.truth["misattributed"]}


def test_impact_finds_exactly_the_truth(env, tmp_path):
    p = _run(env, "impact", "--evidence", str(env.evidence), "--out", str(tmp_path / "imp"))
    assert p.returncode == 0, p.stderr
    rows, summary = act_kit.read_impact(tmp_path / "imp")
    truth = _truth(env)
    assert set(rows) == set(truth)
    for aid, t in truth.items():
        r = rows[aid]
        assert (r["grade"], r["reason"], r["aloware_user_id"], r["intended_owner_id"],
                r["current_owner_id"], r["object"], r["logged_at"]) == (
            t["grade"], t["reason"], t["aloware_user_id"], t["intended_owner_id"],
            t["current_owner_id"], t["object"], t["logged_at"]), aid
    assert summary["activities"] == env.world.n
    assert summary["misattributed"] == len(truth)
    by = {g: sum(t["grade"] == g for t in truth.values()) for g in ("A", "B", "unknown")}
    assert summary["by_grade"] == by and summary["repairable"] == by["A"] + by["B"]
    assert by["A"] and by["B"] and by["unknown"]
    person = {p["aloware_user_id"]: p for p in summary["by_person"]}
    some = next(t for t in truth.values() if t["aloware_user_id"])
    assert person[some["aloware_user_id"]]["calls"] + person[some["aloware_user_id"]]["sms"] \
        == sum(t["aloware_user_id"] == some["aloware_user_id"] for t in truth.values())
    # per issue: the link's issue code then, "unmapped" without a link (the world's stories)
    from usermap.activities.rules import to_ms
    from usermap.sandbox.activities_world import run_time
    stories = {st.user: st for st in env.world.stories}
    t0 = to_ms(run_time(0).strftime("%Y-%m-%dT%H:%M:%SZ"))
    want_issue: dict = {}
    for t in truth.values():
        if not t["aloware_user_id"]:
            key = "unknown_user"
        else:
            st = stories[t["aloware_user_id"]]
            owner, valid = st.at((to_ms(t["logged_at"]) - t0) / 86_400_000)
            key = "unmapped" if not owner else ("other" if valid else st.code)
        want_issue[key] = want_issue.get(key, 0) + 1
    assert summary["by_issue"] == dict(sorted(want_issue.items()))
    assert {"hubspot_owner_deactivated", "hubspot_email_changed", "unmapped"} <= set(want_issue)
    # read-only: nothing was written; the token is nowhere
    assert env.crm.stats.get("batch/update", 0) == 0
    assert token_leaks(tmp_path, p.stdout, p.stderr) == []


def test_impact_without_evidence_and_since(env, tmp_path):
    since = "2026-10-01"
    p = _run(env, "impact", "--since", since, "--out", str(tmp_path / "imp"))
    assert p.returncode == 0, p.stderr
    rows, summary = act_kit.read_impact(tmp_path / "imp")
    assert rows and all(r["logged_at"] >= since for r in rows.values())
    assert not any(r["grade"] == "A" for r in rows.values())        # no export: no A
    want = {k: t["without_export"] for k, t in _truth(env).items() if t["logged_at"] >= since}
    assert set(rows) == set(want)
    for k, t in want.items():
        assert (rows[k]["grade"], rows[k]["reason"], rows[k]["aloware_user_id"],
                rows[k]["intended_owner_id"]) == (t["grade"], t["reason"], t["aloware_user_id"],
                                                  t["intended_owner_id"]), k
    assert {t["grade"] for t in want.values()} == {"B", "unknown"}


def test_v3_paths_give_the_same_impact(tmp_path):
    e = act_kit.make(tmp_path / "w", n=600, api_version="v3")
    try:
        p = _run(e, "impact", "--evidence", str(e.evidence), "--out", str(tmp_path / "imp"))
        assert p.returncode == 0, p.stderr
        rows, _ = act_kit.read_impact(tmp_path / "imp")
        assert set(rows) == set(_truth(e))
    finally:
        e.srv.stop()


def _edit_by_person(e, row) -> str:
    """A person changes the owner of ``row``'s activity in HubSpot (a CRM_UI history entry)."""
    obj = "calls" if row["object"] == "call" else "communications"
    rec = e.crm.get(obj, row["activity_id"])
    new = row["to"] + "0" if row["to"] else "1"
    hist = [{"value": new, "timestamp": "2026-12-01T00:00:00.000Z", "sourceType": "CRM_UI",
             "sourceId": "userId:5"}] + rec["history"]
    e.crm.add(obj, row["activity_id"], {**rec["properties"], "hubspot_owner_id": new}, hist)
    return new


def _journal(e, run_id=None):
    con = sqlite3.connect(e.store)
    try:
        sql = "SELECT run_id, object, activity_id, old_owner, new_owner, state FROM " \
              "activity_journal" + (" WHERE run_id=?" if run_id else "")
        return con.execute(sql, (run_id,) if run_id else ()).fetchall()
    finally:
        con.close()


def _plan(e, tmp_path, name="plan.json"):
    out = tmp_path / name
    p = _run(e, "plan", "--evidence", str(e.evidence), "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out, json.loads(out.read_text())


def test_repair_fixes_exactly_the_proven_and_undo_restores(env, tmp_path):
    before = {t["activity_id"]: env.owner(t) for t in env.truth["misattributed"]}
    path, plan = _plan(env, tmp_path)
    proven = {k for k, t in _truth(env).items() if t["grade"] in ("A", "B")}
    assert {c["activity_id"] for c in plan["changes"]} == proven
    assert plan["store_id"] and len(plan["hash"]) == 64
    dry = _run(env, "apply", str(path))
    assert dry.returncode == 0 and "dry run" in dry.stdout
    assert env.crm.stats.get("batch/update", 0) == 0
    edited = plan["changes"][0]
    edited_to = _edit_by_person(env, edited)
    p = _run(env, "apply", str(path), "--yes")
    assert p.returncode == 0, p.stderr
    run_id = p.stdout.split()[1].rstrip(":")
    for c in plan["changes"]:
        now = env.owner(c)
        assert now == (edited_to if c is edited else c["to"]), c
    for aid, t in _truth(env).items():          # nothing outside the plan was touched
        if aid not in proven:
            assert env.owner(t) == before[aid]
    rows = {r[2]: r[5] for r in _journal(env, run_id)}
    assert rows.pop(edited["activity_id"]) == "skipped"
    assert set(rows.values()) == {"done"} and set(rows) == proven - {edited["activity_id"]}
    written = [c for c in plan["changes"] if c is not edited]
    assert env.crm.stats["batch/update"] == sum(      # batches of 100, one request each
        -(-sum(c["object"] == o for c in written) // 100) for o in ("call", "sms"))
    # the run is recorded; a second apply of the same plan changes nothing more
    con = sqlite3.connect(env.store)
    kind, finished = con.execute("SELECT kind, finished_at FROM runs WHERE run_id=?",
                                 (run_id,)).fetchone()
    con.close()
    assert kind == "activities" and finished
    # undo: back to the old owner, except where the value is no longer usermap's
    undo = tmp_path / "undo.json"
    p = _run(env, "undo", run_id, "--out", str(undo))
    assert p.returncode == 0, p.stderr
    later = next(c for c in plan["changes"] if c is not edited)
    _edit_by_person(env, later)
    later_to = env.owner(later)
    p = _run(env, "apply", str(undo), "--yes")
    assert p.returncode == 0, p.stderr
    for c in plan["changes"]:
        want = edited_to if c is edited else later_to if c is later else c["from"]
        assert env.owner(c) == want, c


def test_plan_is_refused_on_another_store_or_edited(env, tmp_path):
    path, plan = _plan(env, tmp_path)
    tampered = tmp_path / "t.json"
    plan["changes"][0]["to"] = "666"
    tampered.write_text(json.dumps(plan))
    p = _run(env, "apply", str(tampered), "--yes")
    assert p.returncode == 2 and "hash" in p.stderr
    other = act_kit.make(tmp_path / "other", n=200)
    try:
        p, _ = cli(["activities", "apply", str(path), "--yes", "--config", str(other.config)],
                   ENV, cwd=other.root)
        assert p.returncode == 3 and "another store" in p.stderr
    finally:
        other.srv.stop()


def test_share_guard_refuses_without_force(env, tmp_path):
    env.config.write_text(env.config.read_text().replace("rate_share = 1.0",
                                                         "rate_share = 1.0\nguard_share = 0.01"))
    path, plan = _plan(env, tmp_path)
    p = _run(env, "apply", str(path), "--yes")
    assert p.returncode == 3 and "--force" in p.stderr
    assert env.crm.stats.get("batch/update", 0) == 0
    p = _run(env, "apply", str(path), "--yes", "--force")
    assert p.returncode == 0, p.stderr


def _consistent(e, plan):
    """Journal and HubSpot agree: every activity HubSpot holds at the plan's new owner has a
    journal row (intent or done) of a run, and every ``done`` row is at its new owner."""
    rows = {(r[1], r[2]): r for r in _journal(e)}
    for c in plan["changes"]:
        obj = "calls" if c["object"] == "call" else "communications"
        now, row = e.owner(c), rows.get((obj, c["activity_id"]))
        if now == c["to"]:
            assert row is not None and row[5] in ("intent", "done"), c
        else:
            assert now == c["from"] and (row is None or row[5] == "intent"), c


@pytest.mark.parametrize("point", ["after_intent:1", "after_update:1", "after_intent:2"])
def test_kill_then_apply_completes(tmp_path, point):
    e = act_kit.make(tmp_path / "w", n=3000)
    try:
        path, plan = _plan(e, tmp_path)
        assert len([c for c in plan["changes"] if c["object"] == "call"]) > 100   # 2 batches
        p = _run(e, "apply", str(path), "--yes",
                 extra_env={"USERMAP_TEST_ACTIVITIES_KILL": point})
        assert p.returncode == -signal.SIGKILL
        _consistent(e, plan)
        p = _run(e, "apply", str(path), "--yes")
        assert p.returncode == 0 and "(resumed)" in p.stdout, p.stderr
        assert all(e.owner(c) == c["to"] for c in plan["changes"])
        states = {r[5] for r in _journal(e)}
        assert states == {"done"}
    finally:
        e.srv.stop()


def test_kill_then_undo_restores(tmp_path):
    e = act_kit.make(tmp_path / "w", n=3000)
    try:
        path, plan = _plan(e, tmp_path)
        p = _run(e, "apply", str(path), "--yes",
                 extra_env={"USERMAP_TEST_ACTIVITIES_KILL": "after_update:2"})
        assert p.returncode == -signal.SIGKILL
        _consistent(e, plan)
        run_id = _journal(e)[0][0]
        undo = tmp_path / "undo.json"
        assert _run(e, "undo", run_id, "--out", str(undo)).returncode == 0
        p = _run(e, "apply", str(undo), "--yes")
        assert p.returncode == 0, p.stderr
        assert all(e.owner(c) == c["from"] for c in plan["changes"])
    finally:
        e.srv.stop()


def test_owner_deactivated_since_the_plan_is_skipped_not_fatal(tmp_path):
    env = act_kit.make(tmp_path / "w", n=1500, inactive_owners="refuse")
    try:
        _deactivated_owner_skipped(env, tmp_path)
    finally:
        env.srv.stop()


def _deactivated_owner_skipped(env, tmp_path):
    path, plan = _plan(env, tmp_path)
    gone = plan["changes"][0]["to"]
    for o in env.srv.owners:        # the intended owner is deactivated in HubSpot meanwhile
        if str(o["id"]) == gone:
            o["archived"] = True
    p = _run(env, "apply", str(path), "--yes")
    assert p.returncode == 0, p.stderr
    for c in plan["changes"]:
        assert env.owner(c) == (c["from"] if c["to"] == gone else c["to"]), c
    states = {(r[2], r[5]) for r in _journal(env)}
    assert all((c["activity_id"], "skipped" if c["to"] == gone else "done") in states
               for c in plan["changes"])


def test_apply_is_refused_while_a_run_holds_the_lock(env, tmp_path):
    from usermap.lock import LOCK_NAME, RunLock
    path, plan = _plan(env, tmp_path)
    (env.root / "runs").mkdir(exist_ok=True)
    lock = RunLock(env.root / "runs" / LOCK_NAME).acquire("20261201T000000Z-aaaa")
    try:
        p = _run(env, "apply", str(path), "--yes")
        assert p.returncode == 3, p.stderr
        assert env.crm.stats.get("batch/update", 0) == 0
    finally:
        lock.release()
    assert _run(env, "apply", str(path), "--yes").returncode == 0


def test_impact_never_reaches_before_the_store_history(env, tmp_path):
    import sqlite3 as sq
    con = sq.connect(env.store)   # the store's history begins on 2026-10-01 instead
    con.execute("DELETE FROM journal WHERE at < '2026-10-01'")
    first = con.execute("SELECT min(at) FROM journal").fetchone()[0]
    con.commit()
    con.close()
    p = _run(env, "impact", "--since", "2026-01-01", "--out", str(tmp_path / "imp"))
    assert p.returncode == 0, p.stderr
    rows, summary = act_kit.read_impact(tmp_path / "imp")
    assert summary["history_starts"][:19] == first[:19]
    assert rows and min(r["logged_at"] for r in rows.values()) >= first
    assert summary["activities"] < env.world.n


def test_a_trickling_server_ends_at_the_deadline(tmp_path):
    import time
    e = act_kit.make(tmp_path / "w", n=300, trickle_ms=200, fetch="total_seconds = 3.0")
    try:
        t0 = time.monotonic()
        p = _run(e, "impact", "--out", str(tmp_path / "imp"))
        took = time.monotonic() - t0
        assert p.returncode == 4, p.stderr
        assert "time budget" in p.stderr and took < 15
        assert not (tmp_path / "imp").exists()
    finally:
        e.srv.stop()


def test_server_errors_are_retried_and_counted_once(tmp_path):
    e = act_kit.make(tmp_path / "w", n=600, error_rate=0.2,
                     fetch="attempts = 10\nbackoff = 0.01\nbackoff_max = 0.05")
    try:
        p = _run(e, "impact", "--evidence", str(e.evidence), "--out", str(tmp_path / "imp"))
        assert p.returncode == 0, p.stderr
        rows, _ = act_kit.read_impact(tmp_path / "imp")
        assert set(rows) == set(_truth(e))
        assert e.srv.stats["5xx"] > 0
    finally:
        e.srv.stop()


def test_missing_scope_is_exit_4_naming_the_scopes(tmp_path):
    e = act_kit.make(tmp_path / "w", n=200, missing_scope=True)
    try:
        p = _run(e, "impact", "--out", str(tmp_path / "imp"))
        assert p.returncode == 4 and "crm.objects.contacts.read" in p.stderr, p.stderr
        assert token_leaks(tmp_path, p.stdout, p.stderr) == []
    finally:
        e.srv.stop()


def test_outputs_never_replace_the_store_or_the_config(env, tmp_path):
    p = _run(env, "impact", "--out", str(env.root))          # the folder holding the store
    assert p.returncode == 2
    p = _run(env, "plan", "--out", str(env.store))
    assert p.returncode == 2
    p = _run(env, "undo", "20260101T000000Z-0000", "--out", str(env.config))
    assert p.returncode == 2
    assert env.store.stat().st_size and "[store]" in env.config.read_text()
