"""The mapping store on SQLite (docs/design.md §3): links, revision, journal of every change, runs.

One row per link; an Aloware user has at most one owner and an owner at most one user (both
enforced by the schema). Every write goes through ``write_changes``, one transaction that checks,
applies, journals, bumps the revision by one and records the run; after any failure or crash the
file is exactly as before (SQLite rolls the transaction back). The schema carries a version, and
``open`` migrates older files step by step (migrate.py: safe when two processes open one at once).

``db_error`` (SQLite errors in words) is in store_errors.py and the journal rows of an import in
store_journal.py; both re-exported here. An import's link writes (a first import into the bare
table, its indexes built after) are in store_import.py, reading all links in store_read.py.

Adapter: SQLite and files. Must not import sources, report, notify or runner.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..clock import new_run_id
from ..errors import InputError, RemovalGuardError, StoreConflictError, UsermapError
from ..files import write_atomic
from .errors import db_error
from .journal import _dump, _import_diff, _import_journal_rows
from .read import links_frame
from .migrate import meta_int, migrate
from .schema import PAGE_SIZE, SCHEMA_VERSION
from ..engine.models import (
    ADD, L_A_EMAIL, L_H_EMAIL, L_MAPPED_AT, L_METHOD, L_OWNER, L_UPDATED_AT, L_USER, LINK_COLUMNS,
    MAPPINGS_CSV_COLUMNS, METHOD_EMAIL, METHOD_MANUAL, REMOVE, UPDATE, Change,
)

__all__ = ["Store"]

_TEST_HOOK = "USERMAP_TEST_APPLY_HOOK"  # tests only: "fail:N" or "sleep:SECONDS" per change
_IMPORT_HOOK = "USERMAP_TEST_IMPORT_HOOK"  # tests only: once the import has read the links


class Store:
    """A mapping store file. Use as a context manager; every write is one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path, *, create: bool = False, busy_timeout: float = 2.0) -> "Store":
        """Open the store at ``path``. A path that does not exist is an InputError naming it and
        ``usermap init`` unless ``create`` (stores are never made by accident: only ``init``,
        and ``mappings import``/``map`` with ``--create``, pass it). A damaged, read-only or
        foreign file is an InputError naming the store and the cause; nothing is written to it.
        """
        path = Path(path)
        made = False
        if path.is_dir():
            raise InputError("is a folder, not a usermap store file", file=str(path))
        if not path.exists():
            if not create:
                raise InputError(f"store not found; create an empty one with `usermap init "
                                 f"--store {path}`", file=str(path))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                made = True
            except FileExistsError:
                pass          # another process made it a moment ago: open theirs
            except OSError as e:
                raise InputError(f"cannot create the store: {e.strerror or e}",
                                 file=str(path)) from None
        conn = None
        try:
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
            if made:  # before the first table: a page size only a new file can take
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA cache_size=-262144")  # 256 MB: big imports stay off the disk
            store = cls(conn, path)
            migrate(conn, path, busy_timeout * 1000)
        except BaseException as e:
            if conn is not None:
                conn.close()
            if made:  # a store this call began to make and could not finish: leave nothing
                path.unlink(missing_ok=True)
            if isinstance(e, sqlite3.Error):
                raise db_error(e, path, "open") from None
            raise
        return store

    @classmethod
    def peek(cls, path) -> tuple[pd.DataFrame, int, str] | None:
        """(links, revision, store id) of the store at ``path``, read in one read transaction
        of a read-only connection, or None when that cannot vouch for the answer (no such
        file, a schema this usermap would migrate, busy, damaged): the caller then opens the
        store the usual way, which migrates it or says what is wrong. Writes nothing, so it
        may run before the input is known to be good (``workflow.load``)."""
        path = Path(path)
        try:
            if not path.is_file() or not path.stat().st_size:
                return None
            conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True,
                                   timeout=0.5, isolation_level=None)
        except (OSError, ValueError, sqlite3.Error):
            return None
        try:
            conn.execute("BEGIN")
            store = cls(conn, path)
            if store.schema_version != SCHEMA_VERSION:
                return None
            found = store.links(), store.revision, store.store_id
            conn.execute("COMMIT")
            return found
        except (sqlite3.Error, InputError):
            return None
        finally:
            conn.close()

    @classmethod
    def init(cls, path) -> tuple["Store", bool]:
        """``usermap init``: (the store, True) for a new empty store made at ``path``; (the
        store, False) when ``path`` is a usermap store already (left as it is). Anything else
        at ``path`` (a folder, an empty or foreign file) is an InputError, untouched."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            if path.stat().st_size == 0:
                raise InputError("is an empty file, not a usermap store; remove it or choose "
                                 "another path", file=str(path))
            return cls.open(path), False
        return cls.open(path, create=True), True

    def _meta_int(self, key: str) -> int:
        return meta_int(self.conn, self.path, key)

    def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not already (a full disk or an I/O
        error ends it): the error that got us here is the one to report, never "cannot
        rollback"."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        if isinstance(exc, sqlite3.Error):  # whatever a `with` block did with the store
            raise db_error(exc, self.path) from None

    # --- reading ---------------------------------------------------------------------------
    @property
    def revision(self) -> int:
        return self._meta_int("revision")

    @property
    def schema_version(self) -> int:
        return self._meta_int("schema_version")

    @property
    def store_id(self) -> str:
        """The random id made when the store was created (or first migrated to schema 5):
        every plan records it, and a plan is applied to this store only."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        if row is None or not str(row[0]).strip():
            raise InputError("the store is damaged: its meta table has no store_id",
                             file=str(self.path))
        return str(row[0])

    def links(self) -> pd.DataFrame:
        """All links as a frame with LINK_COLUMNS (strings), in Aloware id order."""
        return links_frame(self.conn)

    def link(self, aloware_user_id: str) -> dict | None:
        row = self.conn.execute(f"SELECT {', '.join(LINK_COLUMNS)} FROM links "
                                "WHERE aloware_user_id=?", (aloware_user_id,)).fetchone()
        return dict(zip(LINK_COLUMNS, row)) if row else None

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM links").fetchone()[0])

    def runs(self) -> list[dict]:
        cur = self.conn.execute("SELECT * FROM runs ORDER BY run_id")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def journal(self, run_id: str | None = None) -> pd.DataFrame:
        """The journal (of one run: its seq range, read through the primary key)."""
        sql, args = "SELECT * FROM journal", ()
        if run_id:
            row = self.conn.execute("SELECT journal_from, journal_to FROM runs WHERE run_id=?",
                                    (run_id,)).fetchone()
            if row is None or row[0] is None:
                sql, args = sql + " WHERE 0", ()
            else:
                sql, args = sql + " WHERE seq BETWEEN ? AND ? AND run_id=?", (*row, run_id)
        cur = self.conn.execute(sql + " ORDER BY seq", args)
        names = [d[0] for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)

    def record_audit(self, run_id: str, at: str, summary: dict, issue_ids) -> None:
        """Keep an audit's summary and issue ids (for history); not a change of the links."""
        self.conn.execute("INSERT OR REPLACE INTO audits VALUES (?,?,?,?)",
                          (run_id, at, json.dumps(summary, sort_keys=True),
                           json.dumps(sorted(map(str, issue_ids)))))

    def audits(self, limit: int | None = None) -> list[dict]:
        """Recorded audits, oldest first: run_id, at, summary (dict), issues (list of ids)."""
        sql = "SELECT run_id, at, summary, issues FROM audits ORDER BY at, run_id"
        rows = self.conn.execute(sql).fetchall()
        if limit is not None:
            rows = rows[-limit:]
        return [{"run_id": r, "at": a, "summary": json.loads(s), "issues": json.loads(i)}
                for r, a, s, i in rows]

    def export_links(self, path) -> int:
        df = self.links()
        write_atomic(Path(path), lambda tmp: df.to_csv(tmp, index=False,
                                                       columns=list(MAPPINGS_CSV_COLUMNS),
                                                       lineterminator="\n"))
        return len(df)

    # --- writing ---------------------------------------------------------------------------
    def write_changes(self, changes, *, kind: str, now: str, run_id: str | None = None,
                      expect_revision: int | None = None, fingerprint: str = "") -> str:
        """Apply ``changes`` (Change objects) in one transaction; journal them; record the run.

        Each change's ``before`` must be what the store holds (for an add: no link for the user),
        else nothing is written and StoreConflictError is raised. The revision goes up by one.
        """
        run_id = run_id or new_run_id(now)
        hook = os.environ.get(_TEST_HOOK, "")
        c = self.conn
        self._begin()  # take the write lock before reading the revision
        try:
            rev = self.revision
            if expect_revision is not None and rev != expect_revision:
                from ..errors import StalePlanError
                raise StalePlanError(f"the store is at revision {rev} but the plan was made at "
                                     f"revision {expect_revision}: the store changed since; nothing "
                                     f"was changed. Make a new plan with `usermap plan "
                                     f"SNAPSHOT_DIR --store DB --out PLAN.json`")
            counts = {ADD: 0, UPDATE: 0, REMOVE: 0}
            journal = []
            for n, ch in enumerate(changes):
                self._check_before(ch)
                before = self.link(ch.aloware_user_id) if ch.action != ADD else None
                after = None
                if ch.action in (REMOVE, UPDATE):
                    c.execute("DELETE FROM links WHERE aloware_user_id=?", (ch.aloware_user_id,))
                if ch.action in (ADD, UPDATE):
                    after = self._row_after(ch, before, now)
                    try:
                        c.execute(f"INSERT INTO links ({', '.join(LINK_COLUMNS)}) VALUES "
                                  f"({', '.join('?' * len(LINK_COLUMNS))})",
                                  [after[k] for k in LINK_COLUMNS])
                    except sqlite3.IntegrityError:
                        raise StoreConflictError(
                            f"change {n + 1} ({ch.action} {ch.aloware_user_id} -> "
                            f"{ch.hubspot_owner_id}): the owner is already linked to another "
                            f"user; nothing was changed") from None
                counts[ch.action] += 1
                journal.append((run_id, rev + 1, ch.action, ch.aloware_user_id,
                                ch.hubspot_owner_id, _dump(before), _dump(after), ch.reason, now))
                if hook:
                    _run_hook(hook, n + 1)
            seqs = self._journal(journal)
            self._finish(run_id, kind, now, counts, rev, fingerprint, seqs)
            c.execute("COMMIT")
        except BaseException as e:
            self._rollback()
            if isinstance(e, sqlite3.Error):
                raise db_error(e, self.path, "write") from None
            raise
        return run_id

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: the write lock, or LockedError when another writer holds it (and
        the real cause when the store cannot be written at all: read-only, damaged)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise db_error(e, self.path, "write") from None

    def _check_before(self, ch: Change) -> None:
        current = self.link(ch.aloware_user_id)
        if ch.action == ADD:
            if current is not None:
                raise StoreConflictError(f"add {ch.aloware_user_id}: the user is already linked "
                                         f"to owner {current[L_OWNER]}; nothing was changed")
            return
        want = ch.before or {}
        if current is None or any(str(current.get(k, "")) != str(want.get(k, ""))
                                  for k in (L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD)
                                  if k in want):
            raise StoreConflictError(f"{ch.action} {ch.aloware_user_id}: the store does not hold "
                                     f"the link the change expects; nothing was changed")

    @staticmethod
    def _row_after(ch: Change, before: dict | None, now: str) -> dict:
        a = ch.after or {}
        same_pair = before is not None and before[L_OWNER] == a.get(L_OWNER)
        mapped_at = a.get(L_MAPPED_AT) or (before[L_MAPPED_AT] if same_pair else now)
        return {L_USER: ch.aloware_user_id, L_OWNER: str(a.get(L_OWNER, ch.hubspot_owner_id)),
                L_A_EMAIL: str(a.get(L_A_EMAIL, "") or ""),
                L_H_EMAIL: str(a.get(L_H_EMAIL, "") or ""),
                L_METHOD: a.get(L_METHOD) or METHOD_EMAIL, L_MAPPED_AT: mapped_at,
                L_UPDATED_AT: now}

    def _journal(self, rows) -> tuple[int | None, int | None]:
        """Append journal rows; returns the (first, last) seq they got."""
        return self._journal_range(lambda c: c.executemany(
            "INSERT INTO journal (run_id, revision, action, aloware_user_id, hubspot_owner_id, "
            "before, after, reason, at) VALUES (?,?,?,?,?,?,?,?,?)", rows))

    def _journal_adds_from_links(self, run_id: str, revision: int, now: str):
        """Journal every link as an add, the JSON made by SQLite (the same keys, sorted, and
        compact separators as _dump): no Python work per row for a first import."""
        pairs = ", ".join(f"'{k}', {k}" for k in sorted(LINK_COLUMNS))
        return self._journal_range(lambda c: c.execute(
            "INSERT INTO journal (run_id, revision, action, aloware_user_id, hubspot_owner_id, "
            "before, after, reason, at) SELECT ?, ?, 'add', aloware_user_id, hubspot_owner_id, "
            f"NULL, json_object({pairs}), 'import', ? FROM links ORDER BY aloware_user_id",
            (run_id, revision, now)))

    def _journal_range(self, insert) -> tuple[int | None, int | None]:
        """Run ``insert(conn)`` and return the (first, last) seq of the rows it appended (a
        run's rows are contiguous: runs keep this range instead of an index by run)."""
        c = self.conn
        first = c.execute("SELECT coalesce(max(seq), 0) + 1 FROM journal").fetchone()[0]
        insert(c)
        last = c.execute("SELECT max(seq) FROM journal").fetchone()[0]
        return (first, last) if last is not None and last >= first else (None, None)

    def _finish(self, run_id, kind, now, counts, rev, fingerprint, seqs) -> None:
        total = sum(counts.values())
        self.conn.execute("UPDATE meta SET value=? WHERE key='revision'", (str(rev + 1),))
        self.conn.execute("INSERT INTO runs (run_id, kind, started_at, finished_at, changes, adds,"
                          " updates, removes, revision_before, revision_after, fingerprint, "
                          "journal_from, journal_to) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          (run_id, kind, now, now, total, counts[ADD], counts[UPDATE],
                           counts[REMOVE], rev, rev + 1, fingerprint, *seqs))

    # --- manual links and import -------------------------------------------------------------
    def map(self, aloware_user_id: str, hubspot_owner_id: str, *, aloware_email: str = "",
            hubspot_email: str = "", now: str) -> str:
        """Pin a manual link (replacing the user's current link, if any)."""
        current = self.link(aloware_user_id)
        taken = self.conn.execute("SELECT aloware_user_id FROM links WHERE hubspot_owner_id=?",
                                  (hubspot_owner_id,)).fetchone()
        if taken and taken[0] != aloware_user_id:
            raise InputError(f"HubSpot owner {hubspot_owner_id} is already linked to Aloware "
                             f"user {taken[0]}; unmap that one first", column="OWNER_ID")
        after = {L_USER: aloware_user_id, L_OWNER: hubspot_owner_id, L_A_EMAIL: aloware_email,
                 L_H_EMAIL: hubspot_email, L_METHOD: METHOD_MANUAL}
        action = UPDATE if current else ADD
        ch = Change(action, aloware_user_id, hubspot_owner_id, current, after, "manual_pin",
                    "manual")
        return self.write_changes([ch], kind="map", now=now)

    def unmap(self, aloware_user_id: str, *, now: str) -> str:
        current = self.link(aloware_user_id)
        if current is None:
            raise InputError(f"Aloware user {aloware_user_id} has no link", column="ALOWARE_ID")
        ch = Change(REMOVE, aloware_user_id, current[L_OWNER], current, None, "manual_unpin",
                    "manual")
        return self.write_changes([ch], kind="unmap", now=now)

    def import_links(self, links: pd.DataFrame, *, now: str, force: bool = False
                     ) -> tuple[str | None, dict]:
        """Make the store's links those of ``links`` (a validated mappings frame), journaled.

        Bulk path: one transaction (taken before the current links are read, so the diff is
        that of the store as the import writes it), set-based diff, executemany. Refused (exit
        3) when it would remove more than the plan guard allows, unless forced. An import that
        changes nothing records no run and bumps no revision: the run id is then None.
        """
        run_id = new_run_id(now)
        c = self.conn
        # The write lock first, then the current links: a `map` or an apply committed while
        # this import reads would otherwise be overwritten (or kept) without a word.
        self._begin()
        try:
            cur = self.links()
            if _IMPORT_HOOK in os.environ:
                _run_hook(os.environ[_IMPORT_HOOK], 1)
            new = links.assign(**{L_MAPPED_AT: links[L_MAPPED_AT].where(
                links[L_MAPPED_AT] != "", now), L_UPDATED_AT: now})
            added, removed, updated = _import_diff(cur, new)
            limit = max(10, (len(cur) * 20) // 100)
            if len(removed) > limit and not force:
                raise RemovalGuardError(f"the import removes {len(removed)} of {len(cur)} links, "
                                        f"more than the limit of {limit}; nothing was changed. "
                                        f"Check the CSV (`usermap mappings export --store DB "
                                        f"CSV` writes the current links to compare), then add "
                                        f"--force to go ahead")
            counts = {ADD: len(added), UPDATE: len(updated), REMOVE: len(removed)}
            if not sum(counts.values()):  # nothing to change: no run, no new revision
                self._rollback()
                return None, counts
            rev = self.revision
            from .bulk import insert_first  # here: only an import writes through it
            if cur.empty:  # a first import: all adds, and SQLite journals them from the links
                insert_first(c, added, now)
                seqs = self._journal_adds_from_links(run_id, rev + 1, now)
            else:
                seqs = self._import_changes(run_id, rev + 1, now, removed, updated, added)
            self._finish(run_id, "import", now, counts, rev, "", seqs)
            c.execute("COMMIT")
        except BaseException as e:
            self._rollback()
            if isinstance(e, sqlite3.Error):
                raise db_error(e, self.path, "write") from None
            raise
        return run_id, counts

    def _import_changes(self, run_id, revision, now, removed, updated, added):
        """Write the changes of an import into a store that has links; returns the journal's
        seq range. The journal's JSON is made in a second thread while SQLite (which releases
        the GIL) writes the links: a million-link import overlaps the two."""
        from .bulk import replace_links
        with ThreadPoolExecutor(max_workers=1) as pool:
            journal = pool.submit(_import_journal_rows, run_id, revision, now, removed,
                                  updated, added)
            replace_links(self.conn, gone=list(removed[L_USER]) + list(updated[L_USER]),
                          ins=pd.concat([added, updated]) if len(updated) else added)
            journal = journal.result()
        return self._journal(journal)


def _run_hook(hook: str, n: int) -> None:
    """Test-only fault injection inside the apply transaction."""
    kind, _, arg = hook.partition(":")
    if kind == "fail" and n >= int(arg):
        raise UsermapError(f"injected failure after {n} changes ({_TEST_HOOK})")
    if kind == "sleep":
        time.sleep(float(arg))
