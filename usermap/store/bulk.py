"""The link writes of an import, inside the transaction ``Store.import_links`` holds (split out of
store.py): the rows of a frame in id order, a first import into the bare table with its unique
indexes built afterwards, and the delete-then-insert of a later import.

Only ever called with the store's write transaction open: whatever fails here is rolled back by
the caller with everything else. Adapter: SQLite. Must not import sources, report, notify or
runner.
"""

from __future__ import annotations

import sqlite3
from itertools import repeat

import numpy as np
import pandas as pd

from ..errors import StoreConflictError
from ..engine.models import L_UPDATED_AT, L_USER, LINK_COLUMNS
from .schema import LINK_INDEXES

_INSERT = (f"INSERT INTO links ({', '.join(LINK_COLUMNS)}) VALUES "
           f"({', '.join('?' * len(LINK_COLUMNS))})")


def rows_in_id_order(ins: pd.DataFrame, updated_at: str | None = None):
    """The rows of ``ins`` (LINK_COLUMNS) as tuples in Aloware id order: B-tree inserts then
    append instead of splitting pages at random. ``updated_at`` stands for that whole column.

    Python's sort of the id strings (0.12 s per million; ``DataFrame.sort_values`` took 0.57 s:
    object arrays go through a slower generic path), then one numpy take per column.
    """
    ids = ins[L_USER].to_numpy(object)
    order = None
    if not ins[L_USER].is_monotonic_increasing:
        order = np.fromiter(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.intp,
                            count=len(ids))
    columns = []
    for col in LINK_COLUMNS:
        if col == L_UPDATED_AT and updated_at is not None:
            columns.append(repeat(updated_at, len(ids)))
            continue
        values = ins[col].to_numpy(object)
        columns.append((values if order is None else values[order]).tolist())
    return zip(*columns)


def insert_first(conn: sqlite3.Connection, links: pd.DataFrame, now: str) -> None:
    """A first import (the store holds no link): drop the two unique indexes, insert the rows in
    id order into the bare table, build the indexes again (SQLite sorts each key column once
    instead of inserting a million keys one at a time: 0.7 s less per million links). All in
    the caller's transaction, so a failure or a crash leaves the indexes as they were; a
    repeated user or owner fails the index build with SQLite's own UNIQUE message."""
    for name in LINK_INDEXES:
        conn.execute(f"DROP INDEX {name}")
    try:
        conn.executemany(_INSERT, rows_in_id_order(links, now))
        for sql in LINK_INDEXES.values():
            conn.execute(sql)
    except sqlite3.IntegrityError as e:
        raise StoreConflictError(f"import: {e}; nothing was changed") from None


def replace_links(conn: sqlite3.Connection, gone: list, ins: pd.DataFrame) -> None:
    """Delete the links of the users in ``gone``, then insert the rows of ``ins``."""
    conn.executemany("DELETE FROM links WHERE aloware_user_id=?", ((u,) for u in gone))
    try:
        conn.executemany(_INSERT, rows_in_id_order(ins))
    except sqlite3.IntegrityError as e:
        raise StoreConflictError(f"import: {e}; nothing was changed") from None
