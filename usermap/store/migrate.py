"""Bringing a store file to this usermap's schema (``schema.MIGRATIONS``), safely under
concurrency, and the checked reading of its meta numbers (revision, schema version).

Two processes may open the same older store at the same moment (a scheduled run and the tab,
two commands). Each reads the version outside any transaction; only the one that gets the write
lock first migrates. So the version is read **again inside** the migration's write transaction
(BEGIN IMMEDIATE): the other process, which waited for that lock, then finds the store current
and does nothing (never "duplicate column name"). The wait for another process's migration is
long (``MIGRATION_WAIT_MS``): a big store's migration rewrites its tables.

Adapter: SQLite. Must not import the store module, sources, report, notify or runner.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import InputError
from .schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["meta_int", "schema_version", "migrate", "MIGRATION_WAIT_MS", "state"]

MIGRATION_WAIT_MS = 60_000


def state(path) -> dict:
    """The store's revision and link count, read through a read-only connection with sqlite3
    alone (nothing of pandas): what a run records before and after it. SQLite's and the meta
    table's errors are raised (the caller says the store could not be read)."""
    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=2.0)
    try:
        return {"revision": meta_int(conn, path, "revision"),
                "links": int(conn.execute("SELECT count(*) FROM links").fetchone()[0])}
    finally:
        conn.close()


def meta_int(conn: sqlite3.Connection, path, key: str) -> int:
    """A number of the meta table; a missing or non-numeric one is an InputError naming the
    store (damaged: restore it from a backup)."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    if row is None:
        raise InputError(f"the store is damaged: its meta table has no {key}", file=str(path))
    try:
        value = int(str(row[0]).strip())
    except ValueError:
        value = -1
    if value < 0:
        raise InputError(f"the store is damaged: its meta table has {key} = {row[0]!r}, "
                         f"not a number; restore it from a backup", file=str(path))
    return value


def schema_version(conn: sqlite3.Connection, path) -> int:
    """The file's schema version (0: an empty file), checked: a foreign or damaged file, or
    one newer than this usermap, is an InputError."""
    # one statement, so one snapshot: another process that makes the store between two reads
    # would otherwise show no meta table, then its tables ("other tables")
    has_meta, tables = conn.execute(
        "SELECT coalesce(sum(type = 'table' AND name = 'meta'), 0), count(*) FROM sqlite_master"
    ).fetchone()
    version = 0
    if has_meta:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = meta_int(conn, path, "schema_version") if row else 1
        if conn.execute("SELECT 1 FROM meta WHERE key='revision'").fetchone():
            meta_int(conn, path, "revision")
    elif tables:
        raise InputError("not a usermap store (it has other tables)", file=str(path))
    if version > SCHEMA_VERSION:
        raise InputError(f"the store has schema version {version}, newer than this usermap "
                         f"({SCHEMA_VERSION}); upgrade usermap", file=str(path))
    return version


def migrate(conn: sqlite3.Connection, path, busy_ms: float) -> None:
    """Run the migrations the file lacks, in one write transaction whose first act is to read
    the version again. ``busy_ms``: the connection's own busy timeout, restored after the
    longer wait for the write lock. Rolls back on any error (then re-raises it)."""
    if schema_version(conn, path) == SCHEMA_VERSION:
        return
    conn.execute(f"PRAGMA busy_timeout={int(max(busy_ms, MIGRATION_WAIT_MS))}")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    try:
        version = schema_version(conn, path)
        for step in range(version, SCHEMA_VERSION):
            for stmt in MIGRATIONS[step].split(";"):
                if stmt.strip():
                    conn.execute(stmt)
        if version != SCHEMA_VERSION:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:      # SQLite may have ended it already (a full disk)
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise
