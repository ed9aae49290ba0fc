"""The fast CSV readers, beside the exact one (``exact.py``: pandas): Arrow's tokenizer where it
is proven to give pandas' strings, and for big plain mappings CSVs the whole links frame by
pyarrow's vector checks. Each answers the same frame the exact path would, or None (never an
error of its own); what they will not vouch for is ``NOT_VOUCHED``.

``arrow_frame`` (``read.read_csv_validated`` uses it; every check after it is shared): pyarrow
parses in C++ and makes no Python object until a column is asked for; pandas' C tokenizer makes
one string object per field. The two agree on well-formed CSV, which is checked first, over the
bytes:
- no lone CR (pandas and Arrow end lines differently at a CR before a comma);
- quotes only around whole fields: outside quoted fields (every second piece of the text
  split at quotes) the text between two quoted fields is nothing (an escaped quote) or starts
  after the closing quote with a comma or line break and ends before the opening one with a
  comma or line break;
- the header is one line (no line break inside quotes: Arrow skips it as one row), names no
  empty column (pandas calls it "Unnamed: k") and has two columns or more (pandas skips a
  line of blanks as empty; with two columns Arrow finds one field there and refuses it);
- every row has as many fields as the header (Arrow refuses other rows; pandas would pad a
  short row, which the caller then reports, or take extra fields as an index).

``read_mappings_fast`` (``snapshot.read_mappings_csv``): only when it has proven that the exact
checks would pass and give the same frame: the file is ASCII with no control character, no
quote, tab or CR (so no field can hold a line break and strip() can only remove spaces), its
header is exactly the six mappings columns, pyarrow finds six fields on every line, no value of
any column starts or ends with a space, no id is empty or repeated, every method is known and
every ``mapped_at`` is a time or empty (both checked per distinct value by the same code as the
exact path). Under ``USERMAP_ENGINE=auto`` only files of ``FAST_MIN_BYTES`` or more take it.

Adapter: parsing and file reading only. Imports pyarrow lazily.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from ...files import read_regular_bytes
from ...engine.models import L_MAPPED_AT, L_METHOD, L_OWNER, L_USER, MAPPINGS_CSV_COLUMNS, METHODS
from ...strings import by_value, objects
from .checks import iso_times_ok, raw_control

__all__ = ["arrow_frame", "read_mappings_fast", "FAST_MIN_BYTES", "NOT_VOUCHED"]

FAST_MIN_BYTES = 1 << 20  # auto: smaller mappings files are as quick in pandas

NOT_VOUCHED = (
    "arrow_frame: a lone CR, an odd quote in the header, a header of one column or with an "
    "empty name, quotes that do not wrap whole fields, rows of another field count",
    "read_mappings_fast: anything not plain ASCII without quotes, tabs, CRs or control "
    "characters, another header, padded values, an empty or repeated id, an unknown method, "
    "a mapped_at that is not a time, no rows",
)


def arrow_frame(data: bytes, names: list[str]) -> pd.DataFrame | None:
    """The frame pandas' ``read_csv(dtype=object, keep_default_na=False, na_values=[])`` gives
    for ``data`` (UTF-8, BOM stripped, header ``names`` as written), or None when this path
    cannot vouch for it."""
    first = data.split(b"\n", 1)[0]
    if (first.count(b'"') % 2 or len(names) < 2
            or "" in (n.strip() for n in names)          # (pandas: "Unnamed: k")
            or data.count(b"\r") != data.count(b"\r\n")):
        return None
    if b'"' in data and not _quotes_wrap_fields(data):
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except (ImportError, ValueError, TypeError, OSError):   # ArrowInvalid is a ValueError
        return None
    if table.num_columns != len(names):
        return None
    return pd.DataFrame({n: pd.Series(objects(table.column(i)), dtype=object, copy=False)
                         for i, n in enumerate(names)}, index=pd.RangeIndex(table.num_rows))


def _quotes_wrap_fields(data: bytes) -> bool:
    """True when the quotes wrap whole fields: split at the quotes, the text outside quoted
    fields is every second piece; each must be empty (an escaped quote, "") or start where a
    field ends (comma, CR, LF) and end where one starts (comma, LF), the first piece only the
    latter and the last only the former. The pieces of a file repeat a few shapes (",", "\n"),
    so each distinct piece is looked at once (set() runs in C)."""
    pieces = data.split(b'"')
    if len(pieces) % 2 == 0:           # an odd number of quotes
        return False
    head, tail = pieces[0], pieces[-1]
    if head and head[-1:] not in (b",", b"\n"):
        return False
    if len(pieces) > 1 and tail and tail[:1] not in (b",", b"\r", b"\n"):
        return False
    return all(not p or (p[:1] in (b",", b"\r", b"\n") and p[-1:] in (b",", b"\n"))
               for p in set(pieces[2:-1:2]))


def read_mappings_fast(path: Path, *, min_bytes: int | None = None) -> pd.DataFrame | None:
    """The links frame of the mappings CSV at ``path`` when the fast path proves it, else None."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    try:
        data = read_regular_bytes(path)
    except (OSError, InputError):
        return None
    if len(data) < (FAST_MIN_BYTES if min_bytes is None else min_bytes) or not _plain(data):
        return None
    columns = list(MAPPINGS_CSV_COLUMNS)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=columns),
            parse_options=pacsv.ParseOptions(quote_char=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in columns}, strings_can_be_null=False,
                quoted_strings_can_be_null=False))
    except (pa.ArrowException, ValueError):  # a short or long row, a huge field: the usual way
        return None
    del data
    try:
        return _frame(table, pc)
    finally:  # pyarrow's allocator keeps freed pages: 170 MB more at the peak of an import
        del table
        pa.default_memory_pool().release_unused()


def _frame(table, pc) -> pd.DataFrame | None:
    """The links frame of a parsed table, or None when the checks do not all pass."""
    if table.num_rows == 0 or not _valid(table, pc):
        return None
    out = {}
    for c in MAPPINGS_CSV_COLUMNS:
        if c == L_METHOD:
            out[c] = by_value(table.column(c), lambda v: v.strip().lower() or "email")
        elif c == L_MAPPED_AT:
            out[c] = by_value(table.column(c))
        else:
            out[c] = table.column(c).to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for c, v in out.items():  # column by column: one block each, no 2-D copy of the objects
        frame[c] = pd.Series(v, dtype=object, copy=False)
    return frame


def _plain(data: bytes) -> bool:
    """ASCII without control characters, quotes, tabs or CRs, and the exact mappings header."""
    if not data.isascii() or b'"' in data or b"\r" in data or b"\t" in data:
        return False
    if raw_control(data) >= 0:
        return False
    end = data.find(b"\n")
    return end >= 0 and data[:end] == ",".join(MAPPINGS_CSV_COLUMNS).encode()


def _valid(table, pc) -> bool:
    """Every check of read_mappings_csv passes, and strip() would change nothing."""
    for c in MAPPINGS_CSV_COLUMNS:
        col = table.column(c)
        if pc.any(pc.or_(pc.starts_with(col, " "), pc.ends_with(col, " "))).as_py():
            return False
    for c in (L_USER, L_OWNER):
        col = table.column(c)
        if pc.any(pc.equal(col, "")).as_py():
            return False
        ordered = col.take(pc.sort_indices(col))  # repeated values end up side by side
        if len(ordered) > 1 and pc.any(pc.equal(ordered[1:], ordered[:-1])).as_py():
            return False
    methods = pc.unique(table.column(L_METHOD)).to_pylist()
    if any((m.strip().lower() or "email") not in METHODS for m in methods):
        return False
    times = np.array(pc.unique(table.column(L_MAPPED_AT)).to_pylist(), dtype=object)
    return bool(iso_times_ok(times).all())
