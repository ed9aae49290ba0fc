"""The plan file (docs/design.md §5, §6): its format, header, change lines and checksum; the one
reader and the one writer.

A plan file is JSON laid out for people: one header field per line, one change per line, then a
sha256 checksum of every byte above it, so it reads in a pager, diffs, and refuses to be applied
after an edit. The change lines are made from a plan's ``ChangeTable`` columns by Arrow's string
kernels (``change_lines``), in pieces, so a plan of a million changes is never one string;
``tests/planfile`` holds them to what ``json`` writes for the same changes (the test oracle).
``read_plan`` verifies the checksum and the shape before a plan is ever applied (exit 2).
"""

from __future__ import annotations

import hashlib
import json
import os
from itertools import chain
from operator import itemgetter
from pathlib import Path

from .engine.changes import ChangeBlock, ChangeTable, reason_counts
from .engine.models import ADD, L_METHOD, METHOD_EMAIL, METHOD_MANUAL, REMOVE, UPDATE, Change, Plan
from .errors import PlanFileError
from .files import read_regular_bytes, write_atomic

__all__ = ["PLAN_FORMAT", "plan_to_json", "plan_from_json", "plan_file_chunks", "change_lines",
           "write_plan", "read_plan"]

PLAN_FORMAT = "usermap-plan/1"


def plan_to_json(plan: Plan) -> str:
    """The plan file's text: one header field per line, one change per line, then a sha256
    checksum of every byte above it. Readable in a pager and diffable. (The file's bytes are
    ``plan_file_chunks``; this is them decoded.)"""
    return b"".join(plan_file_chunks(plan)).decode("utf-8")


def _checksum_line(h) -> str:
    return f' "checksum": "sha256:{h.hexdigest()}"\n}}\n'


def _plan_body(plan: Plan, chunk: int = 20_000):
    """The plan file above its checksum line, in UTF-8 bytes-like pieces (a large plan is
    never one string)."""
    header = {
        "format": PLAN_FORMAT, "created_at": plan.created_at,
        "store_revision": plan.store_revision, "fingerprint": plan.fingerprint,
        "current_links": plan.current_links, "force": plan.force, "only": plan.only,
        "meta": plan.meta, "summary": _summary(plan), "store_id": plan.store_id,
    }
    enc = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(", ", ": ")).encode
    yield ("{\n" + "".join(f" {enc(k)}: {enc(header[k])},\n" for k in sorted(header))
           + ' "changes": [').encode("utf-8")
    first = True
    for lines in _change_texts(plan.changes, chunk):
        yield b"\n  " if first else b",\n  "
        yield lines.encode("utf-8") if isinstance(lines, str) else lines   # (or an Arrow
        first = False                                                       # buffer of UTF-8)
    yield b"\n ],\n"


def _summary(plan: Plan) -> dict:
    return {**plan.counts(), "removal_limit": plan.removal_limit,
            "by_reason": reason_counts(plan.changes)}


def _change_texts(changes: ChangeTable, chunk: int):
    """The change lines, ``chunk`` changes a piece, block by block. A value that is not text
    (a lone surrogate, which no UTF-8 file can hold) is refused by name, before any byte of the
    plan file is written."""
    for block in changes.blocks:
        try:
            pieces = list(change_lines(block, chunk))
        except (ValueError, TypeError, UnicodeError) as e:   # (ArrowInvalid is a ValueError)
            raise PlanFileError(f"a change holds a value that is not text ({type(e).__name__}): "
                                f"the plan cannot be written", column="changes") from None
        yield from pieces


_CHECKSUM_LINE = '\n "checksum": "'


def plan_from_json(text: str, source: str = "plan.json") -> Plan:
    """Parse and verify a plan file; an edited or truncated one is refused (exit 2)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PlanFileError(f"not valid JSON (truncated?): {e.msg}", file=source, row=e.lineno,
                            column=f"char {e.colno}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply; a number too long for int
        raise PlanFileError(f"not valid JSON: {type(e).__name__}", file=source) from None
    if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
        raise PlanFileError(f"not a usermap plan (expected format {PLAN_FORMAT!r})",
                            file=source, column="format")
    checksum = doc.get("checksum")
    cut = text.rfind(_CHECKSUM_LINE)
    if not isinstance(checksum, str) or cut < 0:
        raise PlanFileError("the plan has no checksum", file=source, column="checksum")
    actual = "sha256:" + hashlib.sha256(text[:cut + 1].encode("utf-8")).hexdigest()
    # the checksum line must close the file: keys after it would escape the checksum
    if checksum != actual or text[cut:].rstrip() != f'{_CHECKSUM_LINE}{actual}"\n}}':
        raise PlanFileError("the checksum does not match: the plan was edited by hand or "
                            "damaged. Make a new plan with `usermap plan`", file=source,
                            column="checksum")
    try:
        changes = tuple(Change(**c) for c in doc["changes"])
        # a checksum is no proof of sense: check the shape, column-wise (set/map run in C)
        act, users, owners, before, after, reason, step = (
            list(map(itemgetter(i), changes)) for i in range(7))
        links = [d for d in chain(before, after) if d is not None]
        if (not set(act) <= {ADD, UPDATE, REMOVE}
                or not set(map(type, chain(users, owners, reason, step))) <= {str}
                or "" in users or "" in owners
                or not set(map(type, chain(before, after))) <= {dict, type(None)}
                or not set(map(type, chain.from_iterable(map(dict.values, links)))) <= {str}
                or not {d.get(L_METHOD, METHOD_EMAIL) for d in after if d} <= {METHOD_EMAIL,
                                                                               METHOD_MANUAL}):
            raise ValueError("a change is not an add, update or remove of string ids and links")
        if not all(isinstance(doc[k], int) and not isinstance(doc[k], bool)
                   for k in ("store_revision", "current_links")) or not isinstance(
                doc["force"], bool):
            raise ValueError("store_revision, current_links or force has the wrong type")
        if not isinstance(doc.get("store_id", ""), str):
            raise ValueError("store_id has the wrong type")
        if "\\u" in text:  # a lone "\ud800" escape gives a string SQLite cannot store
            json.dumps(doc["changes"], ensure_ascii=False).encode("utf-8")
        return Plan(changes=ChangeTable.from_changes(changes),
                    store_revision=int(doc["store_revision"]),
                    fingerprint=str(doc["fingerprint"]), current_links=int(doc["current_links"]),
                    created_at=str(doc["created_at"]), force=bool(doc["force"]),
                    only=doc.get("only"), meta=dict(doc.get("meta") or {}),
                    store_id=str(doc.get("store_id", "")))
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise PlanFileError(f"malformed plan: {e}", file=source) from None


def plan_file_chunks(plan: Plan):
    """The plan file's bytes in pieces, the checksum line last: a large plan is written
    without ever being one string (``files.write_plan``)."""
    h = hashlib.sha256()
    for piece in _plan_body(plan):
        h.update(piece)
        yield piece
    yield _checksum_line(h).encode("utf-8")


_KEYS = ("action", "aloware_user_id", "hubspot_owner_id", "before", "after", "reason", "step")
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'   # (RE2) what json.dumps(ensure_ascii=False) escapes
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def change_lines(block: ChangeBlock, chunk: int):
    """The plan file's lines of ``block`` as UTF-8 buffers (bytes-like), ``chunk`` changes a
    piece (``json`` with ", " and ": " separators, keys in Change order, ",\\n  " between
    lines): the same text as encoding the Change dicts, made by Arrow kernels over the
    columns (each column converted once). pyarrow loads here, when a plan is written: commands
    that never write one (``fetch``) stay free of it."""
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
        for i, f in enumerate(cols):
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


def write_plan(plan, path) -> Path:
    """Write the plan file atomically, streaming: text and checksum are made piece by piece."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            for piece in plan_file_chunks(plan):
                f.write(piece)
    return write_atomic(Path(path), write)


_NO_PLAN = ("plan file not found; make one with `usermap plan SNAPSHOT_DIR --store DB --out "
            "PLAN.json` (or `usermap undo RUN_ID --store DB --out PLAN.json`)")


def read_plan(path):
    """Read and verify a plan file (``plan_from_json``); PlanFileError when it is not one."""
    p = Path(path)
    if not os.path.lexists(p):
        raise PlanFileError(_NO_PLAN, file=str(p))
    try:
        text = read_regular_bytes(p, error=PlanFileError).decode("utf-8")
    except FileNotFoundError:
        raise PlanFileError(_NO_PLAN, file=str(p)) from None
    except UnicodeDecodeError:
        raise PlanFileError("not UTF-8: not a plan file", file=str(p)) from None
    return plan_from_json(text, source=str(p))
