"""The report's adapter at the edges (DESIGN.md §8): the only module of the package with I/O.

It reads what ``build.py`` needs (the store's links, revision and recorded audits, the snapshot,
the activities CSV), reads the clock when the caller gives no time, and writes the rendered
pages atomically. ``write_report_for_snapshot`` is ``usermap report``.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .build import ACTIVITY_COLUMNS, ACTIVITY_TYPES, _strs, build_report
from .model import FailureReport, Report

__all__ = ["write_report", "write_report_for_snapshot", "read_activities", "read_store"]


def read_activities(path) -> pd.DataFrame:
    """An activities CSV (``aloware_user_id,type,timestamp``; type call or sms; ISO 8601
    timestamps). Errors name the file, row and column (InputError, exit 2)."""
    from ..errors import InputError
    from ..sources.snapshot import read_csv_validated
    path = Path(path)
    df = read_csv_validated(path, ACTIVITY_COLUMNS)
    for c in ACTIVITY_COLUMNS:
        df[c] = pd.Series(_strs(df[c]), index=df.index, dtype=object).str.strip()
    df["type"] = df["type"].str.lower()
    empty = (df["aloware_user_id"] == "").to_numpy()
    if empty.any():
        i = int(empty.argmax())
        raise InputError("empty aloware_user_id", file=str(path), row=i + 2,
                         column="aloware_user_id")
    bad = ~df["type"].isin(ACTIVITY_TYPES).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"type {df['type'].iloc[i]!r} is not one of {', '.join(ACTIVITY_TYPES)}",
                         file=str(path), row=i + 2, column="type")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = ts.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"timestamp {df['timestamp'].iloc[i]!r} is not an ISO 8601 time",
                         file=str(path), row=i + 2, column="timestamp")
    return df.reset_index(drop=True)


def read_store(store_path) -> tuple[pd.DataFrame, int, list[dict]]:
    """The store's links, revision and the history of recorded audits (oldest first)."""
    from ..store import Store
    with Store.open(store_path, create=False) as store:
        return store.links(), store.revision, store.audits()


def write_report(report: Report | FailureReport, path) -> Path:
    """Write the HTML page of a report (or a failure report) atomically."""
    from ..sources.snapshot import write_atomic
    html = report.to_html()
    return write_atomic(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"))


def write_report_for_snapshot(config, snapshot, store_path, out, activities=None, *,
                              now: str | None = None) -> Path:
    """`usermap report`: audit a snapshot against the store, with the plan a sync would make and
    the history of recorded audits, and write the HTML report. Changes nothing. ``now``
    (``YYYY-MM-DDTHH:MM:SSZ``) defaults to the clock."""
    from .. import plan as planmod
    from .. import reconcile
    from ..sources.snapshot import fingerprint, read_snapshot
    users, owners = read_snapshot(snapshot)
    links, revision, history = read_store(store_path)
    result = reconcile.audit(users, owners, links, suggestions=True,
                             profile_url=config.aloware.profile_url)
    plan = planmod.make_plan(result, store_revision=revision, fingerprint=fingerprint(snapshot))
    path = activities or (str(config.resolve(config.report.activities_csv))
                          if config.report.activities_csv else None)
    acts = read_activities(path) if path else None
    snap, db = shlex.quote(str(snapshot)), shlex.quote(str(store_path))
    now = now or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = build_report(
        result, plan=plan, applied=False, run_id="", generated_at=now, status="ok",
        history=history, activities=acts, mask_emails=config.report.mask_emails,
        fix_command=f"usermap plan {snap} --store {db} --out fix.json --only {{issue_id}}",
        decide_command=(f"decide: usermap map {{aloware_user_id}} OWNER_ID --store {db}  or  "
                        f"usermap unmap {{aloware_user_id}} --store {db}"),
        notes=[f"Snapshot {snapshot}; store {store_path} at revision {revision}. "
               "A report only: nothing was changed."])
    return write_report(report, out)
