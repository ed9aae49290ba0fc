"""The report's adapter at the edges (docs/design.md §8): the only module of the package with I/O.

It reads the activities CSV that ``build.py`` takes as a DataFrame and writes the rendered pages
atomically. The store's history is read by ``usermap.workflow`` (the one wiring of load, audit,
plan, report), which calls these (``usermap report`` is ``workflow.report_for_snapshot``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_report", "read_activities"]


def read_activities(path) -> "pd.DataFrame":
    """An activities CSV (``aloware_user_id,type,timestamp``; type call or sms; ISO 8601
    timestamps). Errors name the file, row and column (InputError, exit 2). pandas and the
    readers load here: writing a failed run's report needs neither."""
    import pandas as pd

    from ..errors import InputError
    from ..sources.csv.checks import line_of
    from ..sources.csv.read import read_csv_validated
    from .activity import ACTIVITY_COLUMNS, ACTIVITY_TYPES
    from .cells import _strs
    path = Path(path)
    df = read_csv_validated(path, ACTIVITY_COLUMNS)
    for c in ACTIVITY_COLUMNS:
        df[c] = pd.Series(_strs(df[c]), index=df.index, dtype=object).str.strip()
    df["type"] = df["type"].str.lower()
    empty = (df["aloware_user_id"] == "").to_numpy()
    if empty.any():
        i = int(empty.argmax())
        raise InputError("empty aloware_user_id", file=str(path), row=line_of(path, i),
                         column="aloware_user_id")
    bad = ~df["type"].isin(ACTIVITY_TYPES).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"type {df['type'].iloc[i]!r} is not one of {', '.join(ACTIVITY_TYPES)}",
                         file=str(path), row=line_of(path, i), column="type")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = ts.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"timestamp {df['timestamp'].iloc[i]!r} is not an ISO 8601 time",
                         file=str(path), row=line_of(path, i), column="timestamp")
    return df.reset_index(drop=True)


def write_report(report: Report | FailureReport, path) -> Path:
    """Write the HTML page of a report (or a failure report) atomically."""
    from ..files import write_atomic
    html = report.to_html()
    return write_atomic(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"))

