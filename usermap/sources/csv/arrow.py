"""Arrow's CSV tokenizer in place of pandas' for the CSV files people hand to usermap, where it
is proven to give the same strings (``read_csv_validated`` uses it; every check after it is
the same either way).

pyarrow parses in C++ on every core and makes no Python object until a column is asked for;
pandas' C tokenizer makes one string object per field. The two agree on well-formed CSV, and
``tests/test_csvarrow.py`` compares them on generated text. Well-formed is checked first,
over the bytes, and anything else is left to pandas (which names the row of a problem):
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

Adapter: parsing only (the caller reads the file). Imports pyarrow lazily.
"""

from __future__ import annotations

import pandas as pd

from ...strings import objects

__all__ = ["arrow_frame"]


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
