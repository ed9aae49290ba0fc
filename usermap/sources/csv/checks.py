"""The checks every CSV reader shares, whichever tokenizer (``exact.py``'s pandas or ``fast.py``'s
Arrow) made the frame: the encoding, control characters, short rows, one column at a time
(``check_*``), and the real file line of a data row (``line_of``) for messages.

Control characters (Unicode category Cc; docs/decisions.md "Input files"): NUL and every control
character other than tab, CR and LF are refused anywhere in the file (pandas' tokenizer cuts a
field at NUL, so ``a@x.com\0.evil`` would read as ``a@x.com``). Tab, CR and LF inside a (quoted)
field are refused in the columns usermap reads (``strict``: ids, e-mails, names, status, kind,
role, …) and accepted only in extra columns it does not read (a multi-line "notes" column).

Row numbers are real file lines, after blank lines and quoted multi-line fields too. They are
worked out only when an error is raised (``line_of`` reads the file again): the frame carries no
per-row line information.

Adapter: file reading only.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import InputError
from ...files import read_regular_bytes
from ...redact import quoted

__all__ = ["read_text_utf8", "read_utf8", "raw_control", "refuse_raw_control",
           "check_field_controls", "check_short_rows", "record_line", "strip_column", "line_of",
           "check_unique", "check_in", "check_nonempty", "iso_times_ok"]


def read_text_utf8(path: Path) -> str:
    """The file's text; a byte that is not UTF-8 is reported with its line."""
    return read_utf8(Path(path))[1]


def read_utf8(path: Path) -> tuple[bytes, str]:
    """(the file's bytes, its text without a BOM); InputError when missing or not UTF-8."""
    try:
        data = read_regular_bytes(path)   # a FIFO, a device or a folder: exit 2, never a hang
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
    return data, (text[1:] if text.startswith("\ufeff") else text)  # a BOM from spreadsheets


# Cc other than tab, LF and CR (those three are CSV syntax, or legitimate inside quoted fields)
_NOT_RAW_CTRL = bytes(b for b in range(256) if not ((b < 0x20 and b not in (9, 10, 13))
                                                    or b == 0x7F))
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")          # U+0080..U+009F encoded
_FIELD_CTRL = re.compile("[\t\r\n]")
_RAW_CTRL_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def raw_control(data: bytes) -> int:
    """Byte offset of the first control character other than tab/CR/LF, or -1. One C pass
    (bytes.translate deletes every other byte) for the common case of none."""
    found = data.translate(None, _NOT_RAW_CTRL)
    first = min((data.find(bytes([c])) for c in set(found)), default=-1)
    if not data.isascii():
        m = _C1_UTF8.search(data)
        if m and (first < 0 or m.start() < first):
            first = m.start()
    return first


def _describe(ch: str) -> str:
    return f"control character U+{ord(ch):04X} ({ch!r})"


def refuse_raw_control(data: bytes, text: str, offset: int, path: str) -> None:
    """Name the line and column of the control character at byte ``offset``."""
    line = data.count(b"\n", 0, offset) + 1
    ch = data[offset:offset + 2].decode("utf-8", "replace")[0]
    column = None
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    try:
        for record in reader:
            if reader.line_num >= line:   # the record holding that line
                k = next((k for k, v in enumerate(record) if _RAW_CTRL_CHAR.search(v)), None)
                if k is not None:
                    column = (f"header field {k + 1}" if header is None else
                              header[k] if k < len(header) else f"field {k + 1}")
                break
            if header is None and any(f.strip() for f in record):
                header = [h.strip() for h in record]
    except csv.Error:
        pass
    raise InputError(f"{_describe(ch)} inside a field; control characters are not allowed",
                     file=path, row=line, column=column)


def check_field_controls(df: pd.DataFrame, strict, path: Path) -> None:
    """Tab, CR or LF inside a field of a column usermap reads (the raw check refused the other
    control characters already)."""
    for col in strict:
        if col not in df.columns:
            continue
        values = df[col].to_numpy(object)
        joined = ",".join(values)  # three C-speed scans; a regex search was 0.1 s per column
        if "\n" not in joined and "\r" not in joined and "\t" not in joined:
            continue
        i = next(k for k, v in enumerate(values) if _FIELD_CTRL.search(v))
        ch = _FIELD_CTRL.search(values[i]).group()
        raise InputError(f"{_describe(ch)} inside the value; not allowed in this column",
                         file=str(path), row=line_of(path, i), column=col)


def _column_at(data: bytes, offset: int) -> str | None:
    """The header name of the CSV field holding byte ``offset`` (best effort, for messages)."""
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
    line_start = data.rfind(b"\n", 0, offset) + 1
    index = data.count(b",", line_start, offset)
    return header[index] if index < len(header) else None


_BLANK_LINE = re.compile(r"\n[^\S\n]*(\n|$)")


def check_short_rows(text: str, n_fields: int, n_rows: int, path: str, columns: list[str]
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
    # commas inside quotes don't count: split at quotes, the text outside quoted fields is at
    # the even places (an escaped quote "" leaves an empty piece there); C speed throughout
    outside = "".join(text.split('"')[0::2]) if quoted else text
    if outside.count(",") == (n_fields - 1) * (n_rows + 1):  # the header and every row
        return
    if not quoted:
        for number, ln in enumerate(text.split("\n"), start=1):
            if ln.strip() and ln.count(",") < n_fields - 1:
                report(number, ln.count(",") + 1)
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for row in reader:
        if row and any(f.strip() for f in row) and len(row) < n_fields:
            report(start, len(row))  # the line the record starts on
        start = reader.line_num + 1


def strip_column(s: pd.Series, lower: bool = False) -> pd.Series:
    """Strip (and lower) a column of strings. Low-cardinality columns (status, kind) are done per
    distinct value; pandas' .str methods are Python loops and several times slower."""
    if lower:  # status and kind: a handful of distinct values
        codes, uniques = pd.factorize(s.to_numpy(dtype=object))
        done = np.array([u.strip().lower() for u in uniques] + [""], dtype=object)
        return pd.Series(done[codes], index=s.index, dtype=object)
    values = s.to_numpy(object)
    if set(map(type, values)) <= {str}:  # map over the C method: no bytecode per value
        return pd.Series(list(map(str.strip, values)), index=s.index, dtype=object)
    return pd.Series([v.strip() for v in values], index=s.index, dtype=object)


def record_line(text: str, n: int) -> int:
    """The file line on which CSV record ``n`` (1-based, as pandas counts: every line break
    outside quotes ends one) starts."""
    if '"' not in text:
        return n
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for k, _ in enumerate(reader, start=1):
            if k == n:
                return start
            start = reader.line_num + 1
    except csv.Error:
        pass
    return start if n > 0 else 1


def line_of(path, i: int) -> int:
    """The real file line of data row ``i`` (0-based, as read_csv_validated returned it): the
    header is line 1, blank lines (pandas skips them) and line breaks inside quoted fields are
    counted. Reads the file again: call it only to name the row of an error."""
    text = read_text_utf8(Path(path))
    if '"' not in text and not _BLANK_LINE.search(text):
        return i + 2
    reader = csv.reader(io.StringIO(text, newline=""))
    start, seen = 1, -1  # -1: the header is the first non-blank record
    try:
        for record in reader:
            if any(f.strip() for f in record):
                if seen == i:
                    return start
                seen += 1
            start = reader.line_num + 1
    except csv.Error:
        pass
    return i + 2


def check_unique(df: pd.DataFrame, column: str, path: Path, what: str) -> None:
    dup = df[column].duplicated(keep="first")
    if dup.any():
        i = int(dup.to_numpy().argmax())
        value = df[column].iloc[i]
        first = int((df[column] == value).to_numpy().argmax())
        raise InputError(f"{what} {quoted(value)} appears twice (first on row {line_of(path, first)})",
                         file=str(path), row=line_of(path, i), column=column)


def check_in(df: pd.DataFrame, column: str, allowed, path: Path) -> None:
    bad = ~df[column].isin(allowed)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(f"unknown value {quoted(df[column].iloc[i])}; expected one of "
                         f"{', '.join(allowed)}", file=str(path), row=line_of(path, i),
                         column=column)


def check_nonempty(df: pd.DataFrame, column: str, path: Path) -> None:
    """Callers strip the column first."""
    empty = df[column] == ""
    if empty.any():
        i = int(empty.to_numpy().argmax())
        raise InputError("empty value", file=str(path), row=line_of(path, i), column=column)


def iso_times_ok(values: np.ndarray) -> np.ndarray:
    """Which of ``values`` (stripped strings) are an ISO 8601 time or empty."""
    return pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", utc=True,
                          format="ISO8601").notna().to_numpy() | (values == "")
