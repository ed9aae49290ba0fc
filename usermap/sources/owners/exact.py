"""Reading hubspot_owners.json (split out of snapshot.py, which re-exports ``read_owners_json``
and ``owners_frame``): the JSON array of Owners API v3 objects, parsed a piece at a time (by
owners_fast.py with msgspec when it can vouch for the file, else by json here), validated, into
the owners frame; ``owners_frame`` builds the same frame
from objects already in memory. Every error is an ``InputError`` naming the file, the object and
the field.

Adapter: file I/O only; no network, no SQLite. Must not import snapshot.py, the store, the report.
"""

from __future__ import annotations

import gc
import re
import json
import json.scanner
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter
from pathlib import Path

import pandas as pd

from ...errors import InputError, RecutSignal
from ...files import check_regular_file
from ...redact import bounded, quoted
from ..csv.read import read_text_utf8
from .fast import owner_columns
from ...engine.models import (
    API_OWNER_FIELDS, O_ARCHIVED, O_EMAIL, O_FIRST, O_ID, O_LAST, O_TYPE, O_USER_ID, O_USER_ID_ALL,
    OWNER_TYPES,
)

__all__ = ["read_owners_json", "owners_frame"]


# --- HubSpot owners ---------------------------------------------------------------------------
def read_owners_json(path, *, ahead=None) -> pd.DataFrame:
    """hubspot_owners.json (a JSON array of Owners API objects) → owners frame.

    The array is parsed a few MB at a time and each piece's fields gathered into columns at once,
    so a million owner dicts never exist together: the peak is the text plus the columns. Pieces
    are cut at "}, {" between elements; a cut that falls inside a string leaves an unterminated
    string, which fails to parse, and then the file is read element by element instead, which
    also gives the exact line of any syntax error.

    ``ahead``: an ``ahead.OwnersAhead`` child reading the same file; its columns are used when
    it has them, else the file is read here.

    A key given twice in one object (two ``"email"`` keys: json keeps the last one silently) is
    an InputError naming the owner (row) and the key; an ``object_pairs_hook`` that only builds
    the dict and compares lengths finds it (measured in docs/decisions.md "Input files").
    """
    path = Path(path)
    source = str(path)
    try:
        check_regular_file(path)   # a FIFO or a device: exit 2 at once, before anything opens it
        # ``ahead``: a child process that parsed the file already (sources/ahead.py)
        fast = (ahead.columns() if ahead is not None else None) or owner_columns(path)
    finally:
        if ahead is not None:   # waited for, or killed: reaped either way
            ahead.close()
    if fast is not None:
        cols, typed = fast
        return _typed_columns_frame(cols, source) if typed else _owner_columns_frame(cols, source)
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
    if _SURROGATE.search(text):  # "\ud800" alone decodes to a string nothing can write out
        for col, api in API_OWNER_FIELDS.items():
            for i, v in enumerate(cols[col]):
                if isinstance(v, str) and _SURROGATE_CHAR.search(v):
                    raise InputError("not valid text: a lone UTF-16 surrogate escape",
                                     file=source, row=i + 1, column=api)
    return _owner_columns_frame(cols, source)


_WS = re.compile(r"\s*")
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_CHAR = re.compile("[\ud800-\udfff]")
_SEP = re.compile(r"\s*([,\]])\s*")
_BOUNDARY = re.compile(r"\}\s*,\s*\{")
_PIECE_CHARS = 4 << 20
_CHUNK = 20_000


class _DupKeyObject(dict):
    """A parsed JSON object that had a key twice (``dup``: the first such key)."""
    dup: str = ""


def _dup_key_hook(flagged: list):
    """An object_pairs_hook: the dict, as json builds it, plus a note when a key repeats."""
    def hook(pairs):
        d = dict(pairs)
        if len(d) != len(pairs):
            d = _DupKeyObject(d)
            seen: set = set()
            d.dup = next(k for k, _ in pairs if k in seen or seen.add(k))
            flagged.append(d)
        return d
    return hook


def _dup_key_in(value):
    """The repeated key inside ``value`` (an owner, searched with its nested objects), or None."""
    if isinstance(value, _DupKeyObject):
        return value.dup
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for v in items:
        found = _dup_key_in(v)
        if found is not None:
            return found
    return None


def _refuse_dup_keys(objs: list, offset: int, source: str) -> None:
    for i, o in enumerate(objs):
        key = _dup_key_in(o)
        if key is not None:
            raise InputError(f"key {key!r} appears twice in one owner object (JSON would keep "
                             f"only the last)", file=source, row=offset + i + 1, column=key)


def _owners_by_pieces(text: str, pos: int, source: str) -> dict:
    cols = {col: [] for col in API_OWNER_FIELDS}
    count = 0
    flagged: list = []
    loads = json.JSONDecoder(object_pairs_hook=_dup_key_hook(flagged)).decode
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
            _refuse_dup_keys(objs, count, source)
            flagged.clear()
        _gather(objs, cols, count, source)
        count += len(objs)
        if cut is None:
            return cols
        pos = cut.end() - 1


def _owners_by_element(text: str, pos: int, source: str) -> dict:
    cols = {col: [] for col in API_OWNER_FIELDS}
    flagged: list = []
    scan = json.scanner.make_scanner(json.JSONDecoder(object_pairs_hook=_dup_key_hook(flagged)))
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
                _refuse_dup_keys(chunk, count, source)
            m = _SEP.match(text, i)
            if not m:
                line = text.count("\n", 0, i) + 1
                raise InputError("not valid JSON: expected ',' or ']' after an owner "
                                 "(truncated?)", file=source, row=line,
                                 column=f"char {i - text.rfind(chr(10), 0, i)}")
            i = m.end()
            if len(chunk) == _CHUNK or m.group(1) == "]":
                _gather(chunk, cols, count, source)
                count += len(chunk)
                chunk = []
            if m.group(1) == "]":
                break
    if text[i:].strip():
        raise InputError("not valid JSON: extra data after the array", file=source,
                         row=text.count("\n", 0, i) + 1)
    return cols


def _gather(chunk: list, cols: dict, offset: int, source: str) -> None:
    """Append the fields of a chunk of parsed owners to the column lists."""
    if not set(map(type, chunk)) <= {dict}:
        i = next(k for k, o in enumerate(chunk) if not isinstance(o, dict))
        raise InputError(f"expected an owner object, found {type(chunk[i]).__name__}",
                         file=source, row=offset + i + 1)
    for col, api in API_OWNER_FIELDS.items():
        cols[col].extend(_column(chunk, api))


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


def _column(objects: list[dict], field: str) -> list:
    """One field of every object, None where absent. itemgetter in map() runs the loop in C;
    when some object lacks the field, fall back to dict.get."""
    try:
        return list(map(itemgetter(field), objects))
    except KeyError:
        return list(map(dict.get, objects, repeat(field)))


def owners_frame(owners, source: str = "owners") -> pd.DataFrame:
    """A list of Owners API objects → the owners frame (snake_case columns of models.O_*).

    Validates: an array of objects, each with a non-empty ``id``, unique ids, ``type`` in
    PERSON/QUEUE when present, ``archived`` a boolean when present. "row" is the element number
    (1-based) and "column" the field.
    """
    if not isinstance(owners, list):
        raise InputError(f"expected a JSON array of owner objects, found {type(owners).__name__}",
                         file=source)
    cols = {col: [] for col in API_OWNER_FIELDS}
    _gather(owners, cols, 0, source) if owners else None
    return _owner_columns_frame(cols, source)


def _owner_columns_frame(cols: dict, source: str) -> pd.DataFrame:
    """Validate the owner columns (raw values, as parsed) and make the owners frame."""
    n = len(cols[O_ID])
    cols[O_ID] = _owner_ids(cols[O_ID], source)
    _check_owner_fields(cols, source)
    _fill_owner_defaults(cols)
    df = pd.DataFrame({c: pd.Series(v, dtype=bool if c == O_ARCHIVED else object)
                       for c, v in cols.items()}, index=pd.RangeIndex(n))
    dup = df[O_ID].duplicated()
    if dup.any():
        i = int(dup.to_numpy().argmax())
        raise InputError(f"owner id {quoted(df[O_ID].iloc[i])} appears twice", file=source, row=i + 1,
                         column="id")
    return df


def _typed_columns_frame(cols: dict, source: str) -> pd.DataFrame:
    """The owners frame from columns owners_fast already vouched for (typed: the types are
    right, ``type`` is PERSON or QUEUE, ids stripped, distinct and not empty, defaults filled,
    one string per distinct name): only the frame is left to build."""
    return pd.DataFrame({c: pd.Series(v, dtype=bool if c == O_ARCHIVED else object)
                         for c, v in cols.items()}, index=pd.RangeIndex(len(cols[O_ID])))


def _first_bad(values, ok, types=()) -> int:
    """Index of the first value that fails ``ok`` (-1 if none); checks the raw lists so pandas
    never coerces types before we look. When every value's type is in ``types`` (one C-speed
    pass over the list) only ``ok`` on strings can still fail."""
    if types and set(map(type, values)) <= set(types):
        return -1
    for i, v in enumerate(values):
        if not ok(v):
            return i
    return -1


def _owner_ids(values: list, source: str) -> list[str]:
    """The ids as stripped strings; a missing, empty or non-scalar id is an InputError."""
    i = _first_bad(values, lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
                   (str, int))
    if i < 0:
        ids = ([v.strip() for v in values] if set(map(type, values)) == {str} else
               [str(v).strip() for v in values])
        if ids.count(""):
            i = ids.index("")
    if i >= 0:
        raise InputError("missing or empty owner id", file=source, row=i + 1, column="id")
    return ids


def _check_owner_fields(cols: dict, source: str) -> None:
    """The type of every other field (None where absent is fine)."""
    for col in (O_EMAIL, O_FIRST, O_LAST):
        i = _first_bad(cols[col], lambda v: v is None or isinstance(v, str), (str, type(None)))
        if i >= 0:
            raise InputError(f"expected a string, found {type(cols[col][i]).__name__}",
                             file=source, row=i + 1, column=API_OWNER_FIELDS[col])
    i = -1 if set(map(type, cols[O_TYPE])) <= {str, type(None)} and set(cols[O_TYPE]) <= {
        None, *OWNER_TYPES} else _first_bad(  # (a list or dict value is not hashable)
        cols[O_TYPE], lambda v: v is None or (isinstance(v, str) and v.upper() in OWNER_TYPES))
    if i >= 0:
        raise InputError(f"unknown owner type {quoted(cols[O_TYPE][i])}; expected PERSON or QUEUE",
                         file=source, row=i + 1, column="type")
    i = _first_bad(cols[O_ARCHIVED], lambda v: v is None or isinstance(v, bool),
                   (bool, type(None)))
    if i >= 0:
        raise InputError(f"expected true or false, found {quoted(cols[O_ARCHIVED][i])}", file=source,
                         row=i + 1, column="archived")
    for col in (O_USER_ID, O_USER_ID_ALL):
        i = _first_bad(cols[col], lambda v: v is None or (isinstance(v, (int, str))
                                                          and not isinstance(v, bool)),
                       (int, str, type(None)))
        if i >= 0:
            raise InputError(f"expected a number or null, found {quoted(cols[col][i])}", file=source,
                             row=i + 1, column=API_OWNER_FIELDS[col])


def _fill_owner_defaults(cols: dict) -> None:
    """Defaults for absent fields, on the lists (list.count(None) is a C loop; most files have
    no gaps, so this usually copies nothing); owner types upper case."""
    for col, default in ((O_EMAIL, ""), (O_FIRST, ""), (O_LAST, ""), (O_TYPE, "PERSON"),
                         (O_ARCHIVED, False)):
        if cols[col].count(None):
            cols[col] = [default if v is None else v for v in cols[col]]
    if not set(cols[O_TYPE]) <= set(OWNER_TYPES):
        cols[O_TYPE] = [v.strip().upper() for v in cols[O_TYPE]]
    # one string object per type instead of one per owner (a parser makes a new one each
    # time), and one per distinct first or last name (few: 100 MB less for a million owners)
    cols[O_TYPE] = list(map({t: t for t in OWNER_TYPES}.__getitem__, cols[O_TYPE]))
    for col in (O_FIRST, O_LAST):
        seen: dict = {}
        cols[col] = list(map(seen.setdefault, cols[col], cols[col]))
