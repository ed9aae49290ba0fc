"""Reading hubspot_owners.json the exact way: the semantics of the owners file live here.

The JSON array of Owners API v3 objects is parsed by the standard library's ``json`` a piece at
a time into raw owner columns (``read_columns``); ``frame.py`` validates them into the owners
frame, as it does the columns ``fast.py`` gives. Every error is an ``InputError`` naming the
file, the object and the field. ``read.py`` is the one entry that chooses between the two.

Adapter: file I/O only; no network, no SQLite. Must not import snapshot.py, the store, the report.
"""

from __future__ import annotations

import gc
import re
import json
import json.scanner
from contextlib import contextmanager
from pathlib import Path

from ...errors import InputError, RecutSignal
from ...redact import bounded
from ..csv.checks import read_text_utf8
from ...engine.models import API_OWNER_FIELDS
from .dupkeys import dup_key_hook, refuse_dup_keys
from .frame import JSON_WS, gather, refuse_surrogates

__all__ = ["read_columns"]


def read_columns(path: Path, source: str) -> dict:
    """The raw owner columns of the file at ``path`` (keyed by the frame's column names).

    The array is parsed a few MB at a time and each piece's fields gathered into columns at once,
    so a million owner dicts never exist together: the peak is the text plus the columns. Pieces
    are cut at "}, {" between elements; a cut that falls inside a string leaves an unterminated
    string, which fails to parse, and then the file is read element by element instead, which
    also gives the exact line of any syntax error.

    A key given twice in one object (two ``"email"`` keys: json keeps the last one silently) is
    an InputError naming the owner (row) and the key; an ``object_pairs_hook`` that only builds
    the dict and compares lengths finds it (measured in docs/decisions.md "Input files").
    """
    text = read_text_utf8(path)
    start = _WS.match(text, 0).end()
    if not text.startswith("[", start):
        data = _parse_json(text, source)  # say what it is instead
        raise InputError(f"expected a JSON array of owner objects, found {type(data).__name__}",
                         file=source)
    with _json_parsing(source):
        try:
            cols = _owners_by_pieces(text, start + 1, source)
        except (json.JSONDecodeError, RecutSignal):
            cols = _owners_by_element(text, start + 1, source)
    if _SURROGATE.search(text):
        refuse_surrogates(cols, source)
    return cols


_WS = re.compile(JSON_WS)
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SEP = re.compile(JSON_WS + "([,\\]])" + JSON_WS)
_BOUNDARY = re.compile("\\}" + JSON_WS + "," + JSON_WS + "\\{")
_PIECE_CHARS = 4 << 20
_CHUNK = 20_000


def _owners_by_pieces(text: str, pos: int, source: str) -> dict:
    cols = {col: [] for col in API_OWNER_FIELDS}
    count = 0
    flagged: list = []
    loads = json.JSONDecoder(object_pairs_hook=dup_key_hook(flagged)).decode
    while True:
        cut = _BOUNDARY.search(text, pos + _PIECE_CHARS) if pos + _PIECE_CHARS < len(text) else None
        if cut is None:
            objs = loads("[" + text[pos:])  # the rest, with its closing bracket
            if not isinstance(objs, list):
                raise RecutSignal()
        else:
            for _ in range(64):  # a cut inside a nested array (e.g. teams) fails: take the next
                try:
                    objs = loads("[" + text[pos:cut.start() + 1] + "]")
                    break
                except json.JSONDecodeError:
                    cut = _BOUNDARY.search(text, cut.end())
                    if cut is None:
                        raise RecutSignal() from None
            else:
                raise RecutSignal()
        if flagged:  # (a failed attempt on a piece may have flagged too: look, then forget)
            refuse_dup_keys(objs, count, source)
            flagged.clear()
        gather(objs, cols, count, source)
        count += len(objs)
        if cut is None:
            return cols
        pos = cut.end() - 1


def _owners_by_element(text: str, pos: int, source: str) -> dict:
    cols = {col: [] for col in API_OWNER_FIELDS}
    flagged: list = []
    scan = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=dup_key_hook(flagged)))
    i = _WS.match(text, pos).end()
    chunk: list = []
    count = 0
    if text.startswith("]", i):
        i += 1
    else:
        while True:
            try:
                obj, i = scan(text, i)
            except StopIteration:
                line = text.count("\n", 0, i) + 1
                raise InputError("not valid JSON: expected an owner object (truncated?)",
                                 file=source, row=line) from None
            except json.JSONDecodeError as e:
                raise InputError(f"not valid JSON: {e.msg}", file=source, row=e.lineno,
                                 column=f"char {e.colno}") from None
            chunk.append(obj)
            if flagged:
                refuse_dup_keys(chunk, count, source)
            m = _SEP.match(text, i)
            if not m:
                line = text.count("\n", 0, i) + 1
                raise InputError("not valid JSON: expected ',' or ']' after an owner "
                                 "(truncated?)", file=source, row=line,
                                 column=f"char {i - text.rfind(chr(10), 0, i)}")
            i = m.end()
            if len(chunk) == _CHUNK or m.group(1) == "]":
                gather(chunk, cols, count, source)
                count += len(chunk)
                chunk = []
            if m.group(1) == "]":
                break
    if _WS.match(text, i).end() != len(text):
        raise InputError("not valid JSON: extra data after the array", file=source,
                         row=text.count("\n", 0, i) + 1)
    return cols


@contextmanager
def _json_parsing(source: str):
    """Parse JSON with the cyclic GC paused (millions of short-lived dicts: collections would
    find nothing), every parser error becoming an InputError that names the file."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON: {e.msg}", file=source, row=e.lineno,
                         column=f"char {e.colno}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply; a number too long for int
        raise InputError(f"not valid JSON: {type(e).__name__}: {bounded(e, 200)}",
                         file=source) from None
    finally:
        if was:
            gc.enable()


def _parse_json(text: str, source: str):
    with _json_parsing(source):
        return json.loads(text)
