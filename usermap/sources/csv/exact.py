"""The exact CSV tokenizer: pandas' C reader, the semantics of a CSV file for usermap (``read.py``
uses it for whatever ``fast.py`` cannot vouch for, and always under ``USERMAP_ENGINE=exact``).
Its errors become ``InputError``s naming the real file line.

Adapter: parsing only (the caller reads the file).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from ...errors import InputError
from .checks import check_short_rows, record_line

__all__ = ["pandas_frame"]


def pandas_frame(data: bytes, text: str, path: Path) -> pd.DataFrame:
    """The frame of ``data`` (the file's bytes; ``text`` the same decoded, for messages), every
    value a string, with pandas' row checks: a row with too many fields, a short row, a quoted
    field never closed."""
    df = _tokenize(data, text, path)
    if not isinstance(df.index, pd.RangeIndex):  # pandas took the first field(s) as an index:
        raise InputError(f"expected {len(df.columns)} fields, found "     # row 2 has more
                         f"{len(df.columns) + df.index.nlevels}", file=str(path), row=2)
    check_short_rows(text, len(df.columns), len(df), str(path), [c.strip() for c in df.columns])
    return df


def _tokenize(data: bytes, text: str, path: Path) -> pd.DataFrame:
    """pandas' C tokenizer; its errors become InputErrors naming the real file line."""
    try:
        # the bytes, not the text: a StringIO holds 4 bytes per character and pandas encodes
        # it back to UTF-8 for its tokenizer (the same bytes; utf-8-sig drops a BOM as the
        # text did)
        df = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False, na_filter=True,
                         na_values=[], skip_blank_lines=True, engine="c", encoding="utf-8-sig")
    except pd.errors.ParserError as e:
        msg = str(e)
        # "Error tokenizing data. C error: Expected 6 fields in line 5, saw 7"
        # pandas counts records, not lines: a quoted multi-line field shifts them
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise InputError(f"expected {m.group(1)} fields, found {m.group(3)}", file=str(path),
                             row=record_line(text, int(m.group(2))), column=None) from None
        m = re.search(r"EOF inside string starting at row (\d+)", msg)  # row is 0-based
        if m:
            raise InputError("a quoted field is never closed", file=str(path),
                             row=record_line(text, int(m.group(1)) + 1)) from None
        raise InputError(f"cannot parse CSV: {msg}", file=str(path)) from None
    return df
