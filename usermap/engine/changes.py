"""The changes of a plan kept column-wise (``ChangeTable``): the one representation of a
plan's changes.

A plan of a million users carries hundreds of thousands of changes. ``usermap plan`` only
counts them, describes them and writes them to the plan file, so it never needs them as
``Change`` tuples: the table keeps the columns of each block of like changes (one action and
step: the clean-up's removals, the resolve step's updates, the match step's adds), counts from
them, and ``usermap.planfile`` writes the plan file's lines from the columns. Plans made of
single changes (``--only``, undo, a pin, a plan read from its file) are tables too
(``ChangeTable.from_changes``). Anything that reads the changes one by one (apply, the tab, the
report) gets ``Change`` tuples, made once on first use; the table is a read-only sequence of them.

PURE: standard library and ``usermap.engine.models``; no file, no clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

from .models import ACTIONS, L_A_EMAIL, L_H_EMAIL, L_METHOD, L_OWNER, L_USER, Change

__all__ = ["ChangeBlock", "ChangeTable", "LINK_FIELDS", "reason_counts"]

# What a link dict in a change carries (timestamps are set by the store when it applies).
LINK_FIELDS = (L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD)


@dataclass(frozen=True)
class ChangeBlock:
    """Changes of one action and step, column-wise: ``users``, ``owners`` and ``reason`` (one
    string for all, or one per change) are lists of strings; ``before``/``after`` map each
    field of the block's links (LINK_FIELDS, in that order, and ``mapped_at`` where an undo
    restores it) to a list of strings, or are None (no link on that side)."""

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
        fields = tuple(cols)
        return [dict(zip(fields, row)) for row in zip(*cols.values())]


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

    @classmethod
    def from_changes(cls, changes) -> "ChangeTable":
        """The table of ``Change`` tuples (an ``--only`` plan, an undo plan, a pin, a plan read
        from its file): one block per run of changes with the same action, step and link fields."""
        blocks, run, key = [], [], None
        for c in changes:
            k = (c.action, c.step, _fields(c.before), _fields(c.after))
            if k != key and run:
                blocks.append(_block_of(run))
                run = []
            key = k
            run.append(c)
        if run:
            blocks.append(_block_of(run))
        return cls(blocks)

    def action_counts(self) -> dict[str, int]:
        """How many changes of each action (add, update, remove), from the blocks."""
        out = {a: 0 for a in ACTIONS}
        for b in self.blocks:
            out[b.action] += len(b)
        return out


def _fields(link: dict | None) -> tuple | None:
    return None if link is None else tuple(link)


def _block_of(run: list[Change]) -> ChangeBlock:
    first = run[0]

    def columns(links: list) -> dict | None:
        if links[0] is None:
            return None
        return {f: [link[f] for link in links] for f in links[0]}

    reasons = [c.reason for c in run]
    reason = reasons[0] if reasons.count(reasons[0]) == len(reasons) else reasons
    return ChangeBlock(first.action, first.step, [c.aloware_user_id for c in run],
                       [c.hubspot_owner_id for c in run], columns([c.before for c in run]),
                       columns([c.after for c in run]), reason)


def reason_counts(changes: ChangeTable) -> dict[str, int]:
    """How many changes of each "action:reason", sorted by that key (from the blocks)."""
    n: Counter = Counter()
    for b in changes.blocks:
        if isinstance(b.reason, str):
            n[f"{b.action}:{b.reason}"] += len(b)
        else:
            n.update(f"{b.action}:{r}" for r in b.reason)
    return dict(sorted(n.items()))
