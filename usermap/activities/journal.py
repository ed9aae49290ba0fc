"""The store's journal of activity repairs (table ``activity_journal``, schema 7) and their runs.

A repair (or its undo) is a run in the store's ``runs`` table (kind ``activities`` or
``activities_undo``; the links and the revision are untouched), whose ``fingerprint`` is the
plan's hash and whose ``finished_at`` stays empty until every batch is settled: a killed run is
found again by its plan and completed. Each activity gets one row per run: ``intent`` (written,
committed, before its batch goes to HubSpot), then ``done`` or ``skipped``.

Adapter: SQLite, through an open ``usermap.store.Store``.
"""

from __future__ import annotations

import sqlite3

from ..store.errors import db_error

__all__ = ["open_run", "run_rows", "record", "finish", "run_kind", "unfinished_run", "done_after",
           "owners_users"]


def _tx(store, work):
    c = store.conn
    try:
        c.execute("BEGIN IMMEDIATE")
        out = work(c)
        c.execute("COMMIT")
        return out
    except BaseException as e:
        if c.in_transaction:
            c.execute("ROLLBACK")
        if isinstance(e, sqlite3.Error):
            raise db_error(e, store.path, "write") from None
        raise


def open_run(store, *, plan_hash: str, kind: str, run_id: str, now: str) -> tuple[str, bool]:
    """(run id, resumed): the unfinished run of this plan, or a new one recorded now."""
    def work(c):
        row = c.execute("SELECT run_id FROM runs WHERE kind=? AND fingerprint=? AND "
                        "finished_at='' ORDER BY run_id LIMIT 1", (kind, plan_hash)).fetchone()
        if row:
            return row[0], True
        rev = int(c.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])
        c.execute("INSERT INTO runs (run_id, kind, started_at, finished_at, changes, adds, "
                  "updates, removes, revision_before, revision_after, fingerprint) "
                  "VALUES (?,?,?,'',0,0,0,0,?,?,?)", (run_id, kind, now, rev, rev, plan_hash))
        return run_id, False
    return _tx(store, work)


def unfinished_run(store, *, plan_hash: str, kind: str) -> str | None:
    """The run of this plan that has not finished (a failed or killed apply), or None."""
    row = store.conn.execute("SELECT run_id FROM runs WHERE kind=? AND fingerprint=? AND "
                             "finished_at='' ORDER BY run_id LIMIT 1", (kind, plan_hash)
                             ).fetchone()
    return row[0] if row else None


def owners_users(store) -> dict:
    """{HubSpot owner id: the Aloware user it was last linked to} from the links' journal."""
    return dict(store.conn.execute("SELECT hubspot_owner_id, aloware_user_id FROM journal "
                                   "ORDER BY seq").fetchall())


def done_after(store, at: str) -> dict[tuple[str, str], str]:
    """{(object, activity_id): the kind of the activities run that set it last} for every
    activity a repair or an undo set at ``at`` (``clock.utc_now``'s form) or later. By the time
    each was set, not by run: a resumed run keeps its first id and its rows their first order."""
    return {(obj, aid): kind for obj, aid, kind in store.conn.execute(
        "SELECT j.object, j.activity_id, r.kind FROM activity_journal j JOIN runs r ON "
        "r.run_id = j.run_id WHERE j.state = 'done' AND j.at >= ? AND r.kind IN "
        "('activities', 'activities_undo') ORDER BY j.at, j.seq", (at,))}


def run_kind(store, run_id: str) -> str | None:
    row = store.conn.execute("SELECT kind FROM runs WHERE run_id=?", (run_id,)).fetchone()
    return row[0] if row else None


def run_rows(store, run_id: str) -> dict:
    """{(object, activity_id): row dict} of a run's journal."""
    cur = store.conn.execute("SELECT object, activity_id, old_owner, new_owner, state, reason, "
                             "at FROM activity_journal WHERE run_id=? ORDER BY seq", (run_id,))
    names = [d[0] for d in cur.description]
    return {(r[0], r[1]): dict(zip(names, r)) for r in cur.fetchall()}


def record(store, run_id: str, now: str, *, settle=(), intend=None) -> None:
    """One transaction: mark the ``settle`` batches (``(object, done, skipped)``: items written
    or found written, items skipped) and record the intent to write ``intend`` (``(object,
    items)``). Items are dicts: activity_id, from, to, reason (skip_reason when skipped)."""
    def work(c):
        _settle(c, run_id, now, settle)
        if intend:
            obj, items = intend
            c.executemany(_UPSERT, [(run_id, obj, i["activity_id"], i["from"], i["to"],
                                     "intent", i["reason"], now) for i in items])
    _tx(store, work)


def _settle(c, run_id: str, now: str, settle) -> None:
    for obj, done, skipped in settle:
        for state, items in (("done", done), ("skipped", skipped)):
            c.executemany(_UPSERT, [(run_id, obj, i["activity_id"], i["from"], i["to"], state,
                                     i.get("skip_reason") or i["reason"], now) for i in items])


_UPSERT = ("INSERT INTO activity_journal (run_id, object, activity_id, old_owner, new_owner, "
           "state, reason, at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (run_id, object, "
           "activity_id) DO UPDATE SET state=excluded.state, reason=excluded.reason, "
           "at=excluded.at")


def finish(store, run_id: str, now: str, settle=()) -> dict:
    """Settle the last batches (as ``record``) and close the run: its counts into ``runs``."""
    def work(c):
        _settle(c, run_id, now, settle)
        counts = dict(c.execute("SELECT state, count(*) FROM activity_journal WHERE run_id=? "
                                "GROUP BY state", (run_id,)).fetchall())
        c.execute("UPDATE runs SET finished_at=?, changes=?, updates=? WHERE run_id=?",
                  (now, counts.get("done", 0), counts.get("done", 0), run_id))
        return counts
    return _tx(store, work)
