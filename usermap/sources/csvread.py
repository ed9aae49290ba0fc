"""CSV files people hand to usermap, read as strings with full validation.

``read_csv_validated`` checks the encoding, the header, the field count of every row and names
the file, the row (its real line in the file) and the column of the first problem
(``InputError``). The ``check_*`` helpers validate one column of the frame it returns, naming the
row with ``line_of``; ``strip_column`` strips (and lowers) a column of strings fast.

Used by the snapshot reader (aloware_users.csv, mappings.csv) and the Aloware admin export.
Adapter: file reading only.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..redact import bounded, quoted

__all__ = ["read_csv_validated", "read_text_utf8", "strip_column", "line_of", "check_unique", "check_in",
           "check_nonempty"]


# --- low-level CSV reading -----------------------------------------------------------------
def read_text_utf8(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is reported with its line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", file=str(path)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise InputError(f"not UTF-8 (byte {data[e.start]:#04x} at offset {e.start})",
                         file=str(path), row=line, column=_column_at(data, e.start)) from None
    return text[1:] if text.startswith("\ufeff") else text  # tolerate a BOM from spreadsheets


def _column_at(data: bytes, offset: int) -> str | None:
    """The header name of the CSV field holding byte ``offset`` (best effort, for messages)."""
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
    line_start = data.rfind(b"\n", 0, offset) + 1
    index = data.count(b",", line_start, offset)
    return header[index] if index < len(header) else None


def read_csv_validated(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV as strings; check header, field counts; rows keep their file line in .attrs."""
    path = Path(path)
    text = read_text_utf8(path)
    if not text.strip():
        raise InputError("empty file (expected a header row)", file=str(path), row=1)
    try:  # a lone CR ends the header line, as it does for pandas below
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0], newline=None)), [])
    except csv.Error as e:
        raise InputError(f"cannot read the header: {e}", file=str(path), row=1) from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}; header is {bounded(','.join(header), 80)}",
                         file=str(path), row=1, column=missing[0])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError("column appears twice in the header", file=str(path), row=1,
                         column=dupes[0])
    try:
        df = pd.read_csv(io.StringIO(text), dtype=object, keep_default_na=False, na_filter=True,
                         na_values=[], skip_blank_lines=True, engine="c")
    except pd.errors.ParserError as e:
        msg = str(e)
        # "Error tokenizing data. C error: Expected 6 fields in line 5, saw 7"
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise InputError(f"expected {m.group(1)} fields, found {m.group(3)}", file=str(path),
                             row=int(m.group(2)), column=None) from None
        m = re.search(r"EOF inside string starting at row (\d+)", msg)  # row is 0-based
        if m:
            raise InputError("a quoted field is never closed", file=str(path),
                             row=int(m.group(1)) + 1) from None
        raise InputError(f"cannot parse CSV: {msg}", file=str(path)) from None
    if not isinstance(df.index, pd.RangeIndex):  # pandas took the first field(s) as an index:
        raise InputError(f"expected {len(df.columns)} fields, found "  # row 2 has extra ones
                         f"{len(df.columns) + df.index.nlevels}", file=str(path), row=2)
    df.columns = [c.strip() for c in df.columns]
    _check_short_rows(text, len(df.columns), len(df), str(path), list(df.columns))
    if _BLANK_LINE.search(text) and '"' not in text:
        # pandas skipped blank lines: keep each row's real file line for error messages
        lines = [n for n, ln in enumerate(text.split("\n"), start=1) if ln.strip()][1:]
        if len(lines) == len(df):
            df.attrs["lines"] = lines
    return df


_BLANK_LINE = re.compile(r"\n[^\S\n]*(\n|$)")


_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def _check_short_rows(text: str, n_fields: int, n_rows: int, path: str, columns: list[str]
                      ) -> None:
    """pandas fills a row with too few fields with "" (the same as empty fields), so count.

    Rows with too many fields were refused by the parser already. Without quotes the check is
    one count of commas over the whole text; the per-line scan runs only to name the row (and
    for quoted files, through the csv module).
    """
    def report(line: int, found: int):
        raise InputError(f"expected {n_fields} fields, found {found}: the row is short",
                         file=path, row=line, column=columns[found] if found < n_fields else None)

    quoted = '"' in text
    plain = _QUOTED.sub('""', text) if quoted else text  # commas inside quotes don't count
    if plain.count(",") == (n_fields - 1) * (n_rows + 1):  # the header and every row
        return
    if not quoted:
        for number, ln in enumerate(text.split("\n"), start=1):
            if ln.strip() and ln.count(",") < n_fields - 1:
                report(number, ln.count(",") + 1)
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        if row and any(f.strip() for f in row) and len(row) < n_fields:
            report(reader.line_num, len(row))


def strip_column(s: pd.Series, lower: bool = False) -> pd.Series:
    """Strip (and lower) a column of strings. Low-cardinality columns (status, kind) are done per
    distinct value; pandas' .str methods are Python loops and several times slower."""
    if lower:  # status and kind: a handful of distinct values
        codes, uniques = pd.factorize(s.to_numpy(dtype=object))
        done = np.array([u.strip().lower() for u in uniques] + [""], dtype=object)
        return pd.Series(done[codes], index=s.index, dtype=object)
    return pd.Series([v.strip() for v in s.to_numpy(object)], index=s.index, dtype=object)


def line_of(df: pd.DataFrame, i: int) -> int:
    """File line of data row i: the header is line 1, and blank lines (skipped by pandas) are
    counted when the reader recorded them."""
    lines = df.attrs.get("lines")
    return lines[i] if lines and i < len(lines) else i + 2


def check_unique(df: pd.DataFrame, column: str, path: Path, what: str) -> None:
    dup = df[column].duplicated(keep="first")
    if dup.any():
        i = int(dup.to_numpy().argmax())
        value = df[column].iloc[i]
        first = int((df[column] == value).to_numpy().argmax())
        raise InputError(f"{what} {quoted(value)} appears twice (first on row {line_of(df, first)})",
                         file=str(path), row=line_of(df, i), column=column)


def check_in(df: pd.DataFrame, column: str, allowed, path: Path) -> None:
    bad = ~df[column].isin(allowed)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(f"unknown value {quoted(df[column].iloc[i])}; expected one of "
                         f"{', '.join(allowed)}", file=str(path), row=line_of(df, i),
                         column=column)


def check_nonempty(df: pd.DataFrame, column: str, path: Path) -> None:
    """Callers strip the column first."""
    empty = df[column] == ""
    if empty.any():
        i = int(empty.to_numpy().argmax())
        raise InputError("empty value", file=str(path), row=line_of(df, i), column=column)
