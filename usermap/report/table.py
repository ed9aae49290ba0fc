"""The report's lists (docs/design.md §8): ``Column`` and ``Table``, a list the page draws with
search and pagination, stored column by column, and the compact encoding of a column for the page
(``_encode_column``). Split out of model.py, which re-exports these names.

Every string of a table is made visible (``usermap.visible``) when the table is made: a name with
a line break shows as ``\n`` in every view of the report. Imports only the standard library and
``usermap.visible`` at import time (pandas when a long column is encoded). Must not import: jinja2, markupsafe, sqlite3, socket, the runner, the store, the sources, the rest of the
report package; no file I/O, no clock, no environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

from ..visible import HIDDEN, visible_all

__all__ = ["Column", "Table"]


# --- tables ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A column of a Table. ``kind`` tells the page how to draw a cell: text, id, email, status,
    code (an issue code or reason; e-mail conflicts get the icon), link (its URL is in the
    column named by ``link``), suggestions, command, num, advice (what to do: text that gets
    room on a wide screen). ``search``: the search box looks here."""

    key: str
    label: str
    kind: str = "text"
    search: bool = False
    link: str | None = None
    hidden: bool = False
    labels: str | None = None    # kind code: which table of plain labels (usermap.labels) names it


@dataclass(frozen=True)
class Table:
    """A list the page draws with search and pagination; stored column by column."""

    id: str
    title: str
    columns: tuple[Column, ...]
    data: tuple[tuple, ...]          # one tuple of cell values per column
    facet: str | None = None         # a column to filter on with a <select>
    empty: str = "Nothing to show."

    def __post_init__(self):
        # API text is data: no value of a list can start a line of its own anywhere the list
        # is shown (page, e-mail text and HTML, worklist CSV).
        object.__setattr__(self, "data", tuple(_shown(c) for c in self.data))

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def col(self, key: str) -> tuple:
        for c, values in zip(self.columns, self.data):
            if c.key == key:
                return values
        raise KeyError(key)

    def rows(self, limit: int | None = None) -> Iterator[dict]:
        """Rows as dicts (the first ``limit``), for the text and e-mail templates."""
        n = len(self) if limit is None else min(limit, len(self))
        keys = [c.key for c in self.columns]
        for i in range(n):
            yield {k: v[i] for k, v in zip(keys, self.data)}

    @property
    def visible(self) -> tuple[Column, ...]:
        """The columns the page shows: not hidden, and not empty in every row (a column with
        nothing in it only takes room, most of all on a phone)."""
        return tuple(c for c, v in zip(self.columns, self.data)
                     if not c.hidden and _filled(v))

    def keep(self, key: str, predicate) -> "Table":
        """The same table with only the rows whose ``key`` cell satisfies ``predicate``."""
        col = self.col(key)
        idx = [i for i, v in enumerate(col) if predicate(v)]
        return Table(self.id, self.title, self.columns,
                     tuple(tuple(c[i] for i in idx) for c in self.data), self.facet, self.empty)

    def page_json(self) -> dict:
        shown = {c.key for c in self.visible}
        return {"columns": [{"key": c.key, "label": c.label, "kind": c.kind, "search": c.search,
                             "link": c.link, "hidden": c.key not in shown, "labels": c.labels}
                            for c in self.columns],
                "data": [_encode_column(c) for c in self.data], "facet": self.facet,
                "empty": self.empty}

    def to_json(self) -> dict:
        return {"columns": [c.key for c in self.columns],
                "rows": [list(r) for r in zip(*self.data)] if self.data else []}


def _filled(values: tuple) -> bool:
    """Whether any cell of a column holds something."""
    return any(v not in ("", None, ()) for v in values)


def _shown(values: tuple) -> tuple:
    """A column with every string made visible (``usermap.visible``), nested ones (the
    suggestions' tuples) included; the column itself when nothing needs it."""
    values = tuple(values)
    if not any(isinstance(v, tuple) for v in values[:64]):
        plain = list(values)
        out = visible_all(plain)
        return values if out is plain else tuple(out)
    if not HIDDEN.search("".join(_strings(values))):     # one scan of every nested string
        return values
    return tuple(_shown(v) if isinstance(v, tuple) else visible_all([v])[0] for v in values)


def _strings(values):
    """Every string inside nested tuples, in order."""
    for v in values:
        if isinstance(v, tuple):
            yield from _strings(v)
        elif isinstance(v, str):
            yield v


def _encode_column(values: tuple):
    """A column for the page, compact: ``{"d": distinct, "i": codes}`` when few values repeat
    (statuses, codes, reasons, common names), ``{"p": prefix, "v": rests}`` when every value
    starts with the same long prefix (profile links), else the plain list. The script expands
    them once at load."""
    n = len(values)
    if n < 16 or not all(isinstance(v, str) for v in values[:64]):
        return values
    limit = max(16, n // 4)
    sample = values[:2048]
    if len(set(sample)) <= max(16, len(sample) // 4):       # worth counting them all
        import pandas as pd
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        if len(uniques) <= limit:
            order = sorted(range(len(uniques)), key=uniques.__getitem__)
            rank = [0] * len(order)
            for r, i in enumerate(order):
                rank[i] = r
            return {"d": [uniques[i] for i in order],
                    "i": [rank[c] for c in codes.tolist()]}
    prefix = os.path.commonprefix([min(values), max(values)])
    if len(prefix) >= 8:
        k = len(prefix)
        return {"p": prefix, "v": [v[k:] for v in values]}
    return values
