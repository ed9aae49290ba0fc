"""The SQLite mapping store: links, revision, store id, journal, runs, recorded audits (design §3)."""
