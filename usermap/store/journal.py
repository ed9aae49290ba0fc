"""The rows the store's journal records for an import (split out of store.py, which re-exports
these names): the diff of an import against the current links, its journal rows with before and
after as sorted-keys JSON, and that JSON for one link (``_dump``) or many rows (``_json_rows``).

Pure: pandas and the standard library; no SQLite, no files. Must not import: the store, sources,
report, notify or runner.
"""

from __future__ import annotations

import json
from itertools import repeat

import pandas as pd

from ..engine.models import (
    ADD, L_A_EMAIL, L_H_EMAIL, L_MAPPED_AT, L_METHOD, L_OWNER, L_UPDATED_AT, L_USER, LINK_COLUMNS,
    REMOVE, UPDATE,
)


_IMPORT_FIELDS = (L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD)


def _import_diff(cur: pd.DataFrame, new: pd.DataFrame):
    """(added, removed, updated) rows of an import: ``removed`` and ``updated`` carry the old
    values in ``<column>_old`` columns (an outer merge on the Aloware id)."""
    if cur.empty:  # the first import: everything is an add, no diff to compute
        return new, new.iloc[:0], new.iloc[:0]
    merged = cur.merge(new, on=L_USER, how="outer", suffixes=("_old", ""), indicator=True)
    removed = merged[merged["_merge"] == "left_only"]
    added = merged[merged["_merge"] == "right_only"]
    both = merged[merged["_merge"] == "both"]
    differs = pd.Series(False, index=both.index)
    for f in _IMPORT_FIELDS:
        differs |= both[f + "_old"].astype(str) != both[f].astype(str)
    return added, removed, both[differs]


def _import_journal_rows(run_id: str, revision: int, now: str, removed: pd.DataFrame,
                         updated: pd.DataFrame, added: pd.DataFrame) -> list[tuple]:
    """The journal rows of an import (removes, updates, adds), before/after as JSON."""
    old_cols = [L_USER] + [f + "_old" for f in _IMPORT_FIELDS] + [L_MAPPED_AT + "_old",
                                                                  L_UPDATED_AT + "_old"]

    def old(df):
        return _json_rows(df[old_cols].set_axis(list(LINK_COLUMNS), axis=1))

    def new_(df):
        return _json_rows(df[list(LINK_COLUMNS)])

    rows: list[tuple] = []
    for action, df, b, a in ((REMOVE, removed, old, None), (UPDATE, updated, old, new_),
                             (ADD, added, None, new_)):
        if df.empty:
            continue
        owner = df[L_OWNER].where(df[L_OWNER].notna(), df.get(L_OWNER + "_old"))
        n = len(df)
        rows.extend(zip(repeat(run_id, n), repeat(revision, n), repeat(action, n), df[L_USER],
                        owner, b(df) if b else repeat(None, n), a(df) if a else repeat(None, n),
                        repeat("import", n), repeat(now, n)))
    return rows


def _dump(link: dict | None) -> str | None:
    return None if link is None else json.dumps(link, sort_keys=True, ensure_ascii=False,
                                                separators=(",", ":"))


def _json_rows(df: pd.DataFrame) -> list[str]:
    """One sorted-keys JSON object per row (the same text as _dump), fast for millions of rows:
    each column is encoded by the C string encoder in one map(), then rows are %-formatted."""
    cols = sorted(df.columns)
    enc = json.encoder.encode_basestring
    template = "{" + ",".join(f'"{c}":%s' for c in cols) + "}"
    encoded = [list(map(enc, df[c].astype(str).tolist())) for c in cols]
    return [template % row for row in zip(*encoded)]
