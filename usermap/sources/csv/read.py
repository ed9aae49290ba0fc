"""CSV files people hand to usermap, read as strings with full validation: the one entry
(``read_csv_validated``).

It checks the encoding, control characters, the header, the field count of every row and names
the file, the row (its real line in the file) and the column of the first problem
(``InputError``). ``engine`` chooses the tokenizer: "exact" is pandas' (``exact.py``), "fast" and
"auto" take Arrow's (``fast.py``) where it proves it gives pandas' strings, else pandas'. Every
check after the tokenizer is shared (``checks.py``).

Used by the snapshot reader (aloware_users.csv, mappings.csv) and the Aloware admin export.
Adapter: file reading only.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import InputError
from ...redact import bounded
from .checks import check_field_controls, raw_control, read_utf8, refuse_raw_control
from .exact import pandas_frame
from .fast import arrow_frame

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["read_csv_validated"]


def read_csv_validated(path: Path, required: tuple[str, ...], strict=None, *,
                       engine: str = "auto") -> "pd.DataFrame":
    """Read a CSV as strings; check control characters, header, field counts.

    ``strict``: the columns where tab, CR and LF inside a field are refused too (default: the
    required ones). Errors name the real file line (``line_of``).
    """
    path = Path(path)
    data, text = read_utf8(path)
    offset = raw_control(data)
    if offset >= 0:
        refuse_raw_control(data, text, offset, str(path))
    if not text.strip():
        raise InputError("empty file (expected a header row)", file=str(path), row=1)
    try:  # a lone CR ends the header line, as it does for pandas below
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0], newline=None)), [])
    except csv.Error as e:
        raise InputError(f"cannot read the header: {e}", file=str(path), row=1) from None
    raw_header, header = header, [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; header is {bounded(','.join(header), 80)}",
                         file=str(path), row=1, column=missing[0])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError("column appears twice in the header", file=str(path), row=1,
                         column=dupes[0])
    # Arrow's tokenizer where it is proven to give pandas' strings (fast.py): several times
    # faster, and no Python object per field until a column is used
    df = None
    if engine != "exact":
        df = arrow_frame(data[3:] if data.startswith(b"\xef\xbb\xbf") else data, raw_header)
    if df is None:
        df = pandas_frame(data, text, path)
    df.columns = [c.strip() for c in df.columns]
    if '"' in text or "\t" in text:  # else no field can hold a tab, CR or LF
        check_field_controls(df, required if strict is None else strict, path)
    return df
