"""The owners frame: validation, defaults and shared strings of the owner columns, whichever
reader parsed them (``exact.py``'s json or ``fast.py``'s msgspec).

Every error is an ``InputError`` naming the file, the object (row, 1-based) and the field.

Adapter helpers: pandas only; no file I/O, network or SQLite.
"""

from __future__ import annotations

import re
from itertools import repeat
from operator import itemgetter

import pandas as pd

from ...errors import InputError
from ...redact import quoted
from ...engine.models import (
    API_OWNER_FIELDS, O_ARCHIVED, O_EMAIL, O_FIRST, O_ID, O_LAST, O_TYPE, O_USER_ID, O_USER_ID_ALL,
    OWNER_TYPES,
)

__all__ = ["owners_frame", "columns_frame", "typed_columns_frame", "gather", "JSON_WS",
           "SURROGATE_CHAR", "refuse_surrogates"]

# JSON's whitespace is exactly these four characters (RFC 8259 §2): a regular expression's
# ``\s`` also takes NBSP, U+2028, U+3000, form feed and NEL, which json.loads refuses.
JSON_WS = "[ \t\n\r]*"
SURROGATE_CHAR = re.compile("[\ud800-\udfff]")


def refuse_surrogates(cols: dict, source: str) -> None:
    """A lone UTF-16 surrogate ("\\ud800" alone decodes to a string nothing can write out) in
    any text field: an InputError naming the owner and the field."""
    for col, api in API_OWNER_FIELDS.items():
        for i, v in enumerate(cols[col]):
            if isinstance(v, str) and SURROGATE_CHAR.search(v):
                raise InputError("not valid text: a lone UTF-16 surrogate escape",
                                 file=source, row=i + 1, column=api)


# --- the columns ----------------------------------------------------------------------------
def gather(chunk: list, cols: dict, offset: int, source: str) -> None:
    """Append the fields of a chunk of parsed owners to the column lists."""
    if not set(map(type, chunk)) <= {dict}:
        i = next(k for k, o in enumerate(chunk) if not isinstance(o, dict))
        raise InputError(f"expected an owner object, found {type(chunk[i]).__name__}",
                         file=source, row=offset + i + 1)
    for col, api in API_OWNER_FIELDS.items():
        cols[col].extend(_column(chunk, api))


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
    gather(owners, cols, 0, source) if owners else None
    return columns_frame(cols, source)


def columns_frame(cols: dict, source: str) -> pd.DataFrame:
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


def typed_columns_frame(cols: dict, source: str) -> pd.DataFrame:
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
