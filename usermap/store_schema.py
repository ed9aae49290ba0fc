"""The mapping store's SQLite schema, as the list of migrations that build it (docs/design.md §3).

``Store.open`` (usermap.store) runs the migrations a file lacks, step by step, in one
transaction. Data only: no I/O here.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "MIGRATIONS"]

SCHEMA_VERSION = 5

# Each migration takes the store from version i to i+1 (index i). Never edit one that shipped.
MIGRATIONS = [
    # 0 -> 1: the first layout
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS links (
        aloware_user_id  TEXT PRIMARY KEY,
        hubspot_owner_id TEXT NOT NULL UNIQUE,
        aloware_email    TEXT NOT NULL DEFAULT '',
        hubspot_email    TEXT NOT NULL DEFAULT '',
        method           TEXT NOT NULL CHECK (method IN ('email', 'manual')),
        mapped_at        TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS journal (
        seq              INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id           TEXT NOT NULL,
        revision         INTEGER NOT NULL,
        action           TEXT NOT NULL CHECK (action IN ('add', 'update', 'remove')),
        aloware_user_id  TEXT NOT NULL,
        hubspot_owner_id TEXT NOT NULL,
        before           TEXT,
        after            TEXT,
        reason           TEXT NOT NULL,
        at               TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS runs (
        run_id           TEXT PRIMARY KEY,
        kind             TEXT NOT NULL,
        started_at       TEXT NOT NULL,
        finished_at      TEXT NOT NULL,
        changes          INTEGER NOT NULL,
        adds             INTEGER NOT NULL,
        updates          INTEGER NOT NULL,
        removes          INTEGER NOT NULL,
        revision_before  INTEGER NOT NULL,
        revision_after   INTEGER NOT NULL,
        fingerprint      TEXT NOT NULL DEFAULT ''
    );
    INSERT OR IGNORE INTO meta VALUES ('revision', '0');
    """,
    # 1 -> 2: undo and `runs` read the journal by run
    "CREATE INDEX IF NOT EXISTS journal_run ON journal (run_id, seq);",
    # 2 -> 3: audits, for the report's history (what changed since the last run, trends)
    """
    CREATE TABLE IF NOT EXISTS audits (
        run_id   TEXT PRIMARY KEY,
        at       TEXT NOT NULL,
        summary  TEXT NOT NULL,
        issues   TEXT NOT NULL
    );
    """,
    # 3 -> 4: a run's journal rows are contiguous, so a run records their seq range and the
    # journal needs neither AUTOINCREMENT nor an index by run (each made big imports 2x slower).
    """
    CREATE TABLE journal_v4 (
        seq              INTEGER PRIMARY KEY,
        run_id           TEXT NOT NULL,
        revision         INTEGER NOT NULL,
        action           TEXT NOT NULL,
        aloware_user_id  TEXT NOT NULL,
        hubspot_owner_id TEXT NOT NULL,
        before           TEXT,
        after            TEXT,
        reason           TEXT NOT NULL,
        at               TEXT NOT NULL
    );
    INSERT INTO journal_v4 SELECT * FROM journal;
    DROP TABLE journal;
    ALTER TABLE journal_v4 RENAME TO journal;
    ALTER TABLE runs ADD COLUMN journal_from INTEGER;
    ALTER TABLE runs ADD COLUMN journal_to INTEGER;
    UPDATE runs SET journal_from = (SELECT min(seq) FROM journal j WHERE j.run_id = runs.run_id),
                    journal_to = (SELECT max(seq) FROM journal j WHERE j.run_id = runs.run_id);
    """,
    # 4 -> 5: a random store id (every plan records it; a plan is applied to its store only).
    # A store made now gets it at birth, an older one at its first open (which migrates it).
    "INSERT OR IGNORE INTO meta VALUES ('store_id', lower(hex(randomblob(16))));",
]
assert len(MIGRATIONS) == SCHEMA_VERSION
