"""The mapping store's SQLite schema, as the list of migrations that build it (docs/design.md §3).

``Store.open`` (usermap.store.store) runs the migrations a file lacks, step by step, in one
transaction. Data only: no I/O here.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "MIGRATIONS", "LINK_INDEXES", "PAGE_SIZE"]

SCHEMA_VERSION = 7

# A new store's page size (set before its first table; older files keep theirs). 16 KB pages
# made a first import of a million links 0.4 s faster than 4 KB ones (fewer B-tree pages to
# build and to write at the commit); an import that changes a few links writes a few pages.
PAGE_SIZE = 16384

# The links' two unique indexes (schema 6): named, so that a first import can drop them, insert
# into the bare table and build them at once (docs/decisions.md "Import of links").
LINK_INDEXES = {
    "links_user": "CREATE UNIQUE INDEX links_user ON links (aloware_user_id)",
    "links_owner": "CREATE UNIQUE INDEX links_owner ON links (hubspot_owner_id)",
}

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
    # 5 -> 6: the links' uniqueness (a user has one owner, an owner one user) by two named
    # unique indexes instead of the PRIMARY KEY and UNIQUE of the table: the same rules and
    # the same errors, but indexes a transaction can drop and build again (a first import
    # builds them after inserting, 0.7 s less per million links than one key at a time).
    """
    CREATE TABLE links_v6 (
        aloware_user_id  TEXT NOT NULL,
        hubspot_owner_id TEXT NOT NULL,
        aloware_email    TEXT NOT NULL DEFAULT '',
        hubspot_email    TEXT NOT NULL DEFAULT '',
        method           TEXT NOT NULL CHECK (method IN ('email', 'manual')),
        mapped_at        TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    INSERT INTO links_v6 SELECT aloware_user_id, hubspot_owner_id, aloware_email, hubspot_email,
        method, mapped_at, updated_at FROM links ORDER BY aloware_user_id;
    DROP TABLE links;
    ALTER TABLE links_v6 RENAME TO links;
    """ + ";\n".join(LINK_INDEXES.values()) + ";",
    # 6 -> 7: the journal of activity repairs (DESIGN §10): one row per activity a repair run
    # writes, its old and new owner; ``intent`` is written before the batch goes to HubSpot and
    # becomes ``done`` after (or ``skipped``), so a killed run is completed by the next one.
    """
    CREATE TABLE activity_journal (
        seq          INTEGER PRIMARY KEY,
        run_id       TEXT NOT NULL,
        object       TEXT NOT NULL,
        activity_id  TEXT NOT NULL,
        old_owner    TEXT NOT NULL,
        new_owner    TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('intent', 'done', 'skipped')),
        reason       TEXT NOT NULL,
        at           TEXT NOT NULL,
        UNIQUE (run_id, object, activity_id)
    );
    """,
]
assert len(MIGRATIONS) == SCHEMA_VERSION
