"""The changes of a plan kept column-wise (``ChangeTable``), as ``plan.make_plan`` makes them.

A plan of a million users carries hundreds of thousands of changes. ``usermap plan`` only
counts them, describes them and writes them to the plan file, so it never needs them as
``Change`` tuples: the table keeps the columns of each block of like changes (one action and
step: the clean-up's removals, the resolve step's updates, the match step's adds), counts from
them, and makes the plan file's change lines with Arrow's string kernels, byte for byte what
``json`` writes for the same changes (``tests/test_rules.py`` compares the two). Anything that
reads the changes one by one (apply, the tab, the report, ``--only``) gets ``Change`` tuples,
made once on first use; the table is a read-only sequence of them and equals the tuple of the
same changes.

PURE: standard library, pyarrow's compute kernels and ``usermap.engine.models``; no file, no clock.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from .models import ACTIONS, L_A_EMAIL, L_H_EMAIL, L_METHOD, L_OWNER, L_USER, Change

__all__ = ["ChangeBlock", "ChangeTable", "LINK_FIELDS", "reason_counts",
           "change_lines"]

# What a link dict in a change carries (timestamps are set by the store when it applies).
LINK_FIELDS = (L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD)


@dataclass(frozen=True)
class ChangeBlock:
    """Changes of one action and step, column-wise: ``users``, ``owners`` and ``reason`` (one
    string for all, or one per change) are lists of strings; ``before``/``after`` map each of
    LINK_FIELDS to a list of strings, or are None (no link on that side)."""

    action: str
    step: str
    users: list
    owners: list
    before: dict | None
    after: dict | None
    reason: str | list

    def __len__(self) -> int:
        return len(self.users)

    def reasons(self) -> list:
        return [self.reason] * len(self) if isinstance(self.reason, str) else self.reason

    def rows(self) -> list[Change]:
        """The block as Change tuples (link dicts built by zip: C speed)."""
        n = len(self)
        before = self._links(self.before) if self.before is not None else repeat(None, n)
        after = self._links(self.after) if self.after is not None else repeat(None, n)
        return list(map(Change._make, zip(repeat(self.action, n), self.users, self.owners,
                                          before, after, self.reasons(), repeat(self.step, n))))

    @staticmethod
    def _links(cols: dict) -> list[dict]:
        return [dict(zip(LINK_FIELDS, row)) for row in zip(*(cols[f] for f in LINK_FIELDS))]


class ChangeTable(Sequence):
    """The changes of a plan as blocks of columns; a read-only sequence of ``Change`` tuples
    (made on first use) that compares equal to the tuple of the same changes."""

    __slots__ = ("blocks", "_rows")

    def __init__(self, blocks) -> None:
        self.blocks = tuple(b for b in blocks if len(b))
        self._rows: tuple | None = None

    @property
    def rows(self) -> tuple[Change, ...]:
        if self._rows is None:
            self._rows = tuple(c for b in self.blocks for c in b.rows())
        return self._rows

    def __len__(self) -> int:
        return sum(map(len, self.blocks))

    def __getitem__(self, i):
        return self.rows[i]

    def __iter__(self):
        return iter(self.rows)

    def __eq__(self, other) -> bool:
        if isinstance(other, ChangeTable):
            other = other.rows
        return isinstance(other, (tuple, list)) and self.rows == tuple(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"ChangeTable({len(self)} changes in {len(self.blocks)} blocks)"

    def __reduce__(self):   # pickled (a notebook's plan) as the plain tuple
        return tuple, (self.rows,)

    def action_counts(self) -> dict[str, int]:
        """How many changes of each action (add, update, remove), from the blocks."""
        out = {a: 0 for a in ACTIONS}
        for b in self.blocks:
            out[b.action] += len(b)
        return out


def reason_counts(changes) -> dict[str, int]:
    """How many changes of each "action:reason", sorted by that key."""
    n: Counter = Counter()
    if isinstance(changes, ChangeTable):
        for b in changes.blocks:
            if isinstance(b.reason, str):
                n[f"{b.action}:{b.reason}"] += len(b)
            else:
                n.update(f"{b.action}:{r}" for r in b.reason)
    else:
        n.update(f"{c.action}:{c.reason}" for c in changes)
    return dict(sorted(n.items()))


# --- the plan file's change lines ------------------------------------------------------------
_KEYS = ("action", "aloware_user_id", "hubspot_owner_id", "before", "after", "reason", "step")
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'   # (RE2) what json.dumps(ensure_ascii=False) escapes
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def change_lines(block: ChangeBlock, chunk: int):
    """The plan file's lines of ``block`` as UTF-8 buffers (bytes-like), ``chunk`` changes a
    piece (``json`` with ", " and ": " separators, keys in Change order, ",\\n  " between
    lines): the same text as encoding the Change dicts, made by Arrow kernels over the
    columns (each column converted once)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    made: dict = {}   # id(column) -> its literals: a column shared by two fields, made once

    def lit(values):
        """One JSON string literal per value (the column, or one constant for all)."""
        if isinstance(values, str):
            return _dumps(values)
        if id(values) not in made:
            made[id(values)] = (values, _literals(values))   # (values: kept alive, id unique)
        return made[id(values)][1]

    def _literals(values):
        if len(values) and values.count(values[0]) == len(values):   # (method: one value)
            return _dumps(values[0])
        a = pa.array(values, type=pa.string())
        if pc.any(pc.match_substring_regex(a, _NEEDS_ESCAPE)).as_py():
            return pa.array(list(map(_dumps, values)), type=pa.string())
        return pc.binary_join_element_wise('"', a, '"', "")

    def link(cols):
        if cols is None:
            return ["null"]
        out = ["{"]
        for i, f in enumerate(LINK_FIELDS):
            out += [f'{", " if i else ""}{_dumps(f)}: ', lit(cols[f])]
        return out + ["}"]

    values = [block.action, block.users, block.owners, block.before, block.after,
              block.reason, block.step]
    parts: list = ["{"]
    for i, (key, v) in enumerate(zip(_KEYS, values)):
        parts.append(f'{", " if i else ""}{_dumps(key)}: ')
        parts += link(v) if key in ("before", "after") else [lit(v)]
    parts.append("}")
    merged: list = []   # adjacent constants merged: fewer arguments to the kernel
    for p in parts:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    if len(merged) == 1:   # every field one value (a block of one change): the same line
        lines = pa.array([merged[0]] * len(block), type=pa.string())
    else:
        lines = pc.binary_join_element_wise(*merged, "")
    for i in range(0, len(lines), chunk):
        piece = lines.slice(i, chunk)
        whole = pa.ListArray.from_arrays(pa.array([0, len(piece)], type=pa.int32()), piece)
        yield pc.binary_join(whole, ",\n  ")[0].as_buffer()   # UTF-8 bytes, not copied
