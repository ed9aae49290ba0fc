"""Snapshot folders and the mappings CSV: read with full validation, write atomically.

A snapshot (docs/design.md §6) is ``aloware_users.csv`` plus ``hubspot_owners.json``. Every reader
validates and raises ``InputError`` naming the file, the row and the column; nothing is written
by a reader. Writers write into a temporary sibling and rename, so a half-written snapshot never
exists under its final name.

The owners file is read by ``sources/owners/read.py`` (``read_owners``); the CSV files through
``sources/csv/read.py``. ``engine`` ("auto", "exact", "fast": the console script's
``USERMAP_ENGINE``) picks the exact or the fast readers; both give the same frames and errors.

Adapter: file I/O only; no network, no SQLite.
"""

from __future__ import annotations

import os
import json
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..redact import quoted
from ..files import write_atomic
from .csv.checks import check_in, check_nonempty, check_unique, iso_times_ok, line_of, strip_column
from ..files import check_regular_file
from .csv.read import read_csv_validated
from ..engine.models import (
    L_A_EMAIL, L_H_EMAIL, L_MAPPED_AT, L_METHOD, L_OWNER, L_USER, MAPPINGS_CSV_COLUMNS, METHODS,
    U_ID, U_KIND, U_ROLE, U_STATUS, USER_CSV_COLUMNS, USER_KINDS, USER_STATUSES,
)
from .owners.read import read_owners

__all__ = [
    "read_snapshot", "read_users_csv", "read_mappings_csv",
    "write_snapshot", "fingerprint", "check_snapshot_folder",
]

from ..engine.models import OWNERS_FILE, USERS_FILE  # noqa: E402 - (used here; defined in models)


# --- Aloware users ----------------------------------------------------------------------------
def read_users_csv(path, *, engine: str = "auto") -> pd.DataFrame:
    """aloware_users.csv → users frame (USER_CSV_COLUMNS + role; more columns kept)."""
    path = Path(path)
    df = read_csv_validated(path, USER_CSV_COLUMNS, strict=USER_CSV_COLUMNS + (U_ROLE,),
                            engine=engine)
    df[U_ID] = strip_column(df[U_ID])
    df[U_STATUS] = strip_column(df[U_STATUS], lower=True)
    df[U_KIND] = strip_column(df[U_KIND], lower=True)
    check_nonempty(df, U_ID, path)
    check_unique(df, U_ID, path, "user id")
    check_in(df, U_STATUS, USER_STATUSES, path)
    check_in(df, U_KIND, USER_KINDS, path)
    if U_ROLE not in df.columns:
        df[U_ROLE] = ""
    return df.reset_index(drop=True)


# --- the snapshot as a whole ------------------------------------------------------------------
MAKE_SNAPSHOT = ("make one with `usermap fetch --out DIR` (its tokens come from the environment), "
                 "or try usermap on a made-up world: `usermap sandbox --config-out usermap.toml`, "
                 "then `usermap fetch --out DIR --config usermap.toml`")


def check_snapshot_folder(directory) -> Path:
    """``directory`` is a folder holding both snapshot files, or an InputError (exit 2) that
    says how to make a snapshot."""
    d = Path(directory)
    if not d.is_dir():
        what = "is a file, not a snapshot folder" if d.exists() else "snapshot folder not found"
        raise InputError(f"{what}; {MAKE_SNAPSHOT}", file=str(d))
    missing = [n for n in (USERS_FILE, OWNERS_FILE) if not os.path.lexists(d / n)]
    if missing:
        raise InputError(f"{' and '.join(missing)} not found: not a snapshot folder; "
                         f"{MAKE_SNAPSHOT}", file=str(d))
    return d


def read_snapshot(directory, *, engine: str = "auto") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(users frame, owners frame) of a snapshot folder."""
    d = check_snapshot_folder(directory)
    return (read_users_csv(d / USERS_FILE, engine=engine),
            read_owners(d / OWNERS_FILE, engine=engine))


def fingerprint(directory) -> str:
    """sha256 over the snapshot's two files: what a plan was made from."""
    import hashlib
    h = hashlib.sha256()
    for name in (USERS_FILE, OWNERS_FILE):
        check_regular_file(Path(directory) / name)   # a FIFO or a device: exit 2, not a hang
        with open(Path(directory) / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


def write_snapshot(directory, users: pd.DataFrame, owners: list[dict], extra: dict | None = None
                   ) -> Path:
    """Write a complete snapshot folder atomically (a temp folder renamed when complete).

    ``extra`` maps further file names to JSON-able objects (e.g. fetch.json).
    """
    def write(tmp: Path) -> None:
        cols = list(USER_CSV_COLUMNS) + [c for c in users.columns if c not in USER_CSV_COLUMNS]
        users.to_csv(tmp / USERS_FILE, index=False, columns=cols, lineterminator="\n")
        with open(tmp / OWNERS_FILE, "w", encoding="utf-8") as f:
            # dumps (one shot) uses the C encoder; dump() would fall back to the Python one
            f.write(json.dumps(owners, ensure_ascii=False, separators=(",", ":")))
        for name, obj in (extra or {}).items():
            (tmp / name).write_text(json.dumps(obj, indent=2, default=str) + "\n",
                                    encoding="utf-8")
    return write_atomic(directory, write)


# --- the mappings CSV -----------------------------------------------------------------------
def read_mappings_csv(path, *, engine: str = "auto") -> pd.DataFrame:
    """A mappings CSV → links frame. A user or an owner linked twice is an error.

    Unless ``engine`` is "exact", a plain file is read by pyarrow when it proves the frame is
    the one the checks below would give (csv/fast.py; under "auto" only a big one); anything
    else, and every error, goes the way below."""
    from .csv.fast import read_mappings_fast  # here: an audit reads no mappings CSV
    path = Path(path)
    if engine != "exact":
        fast = read_mappings_fast(path, min_bytes=0 if engine == "fast" else None)
        if fast is not None:
            return fast
    df = read_csv_validated(path, (L_USER, L_OWNER), strict=MAPPINGS_CSV_COLUMNS, engine=engine)
    for col in MAPPINGS_CSV_COLUMNS:
        if col not in df.columns:
            df[col] = ""
    if list(df.columns) != list(MAPPINGS_CSV_COLUMNS):
        df = df[list(MAPPINGS_CSV_COLUMNS)]
    df[L_USER] = strip_column(df[L_USER])
    df[L_OWNER] = strip_column(df[L_OWNER])
    check_nonempty(df, L_USER, path)
    check_nonempty(df, L_OWNER, path)
    check_unique(df, L_USER, path, "Aloware user")
    check_unique(df, L_OWNER, path, "HubSpot owner")
    df[L_METHOD] = strip_column(df[L_METHOD], lower=True).replace("", "email")
    check_in(df, L_METHOD, METHODS, path)
    for col in (L_A_EMAIL, L_H_EMAIL):
        df[col] = strip_column(df[col])
    df[L_MAPPED_AT] = strip_column(df[L_MAPPED_AT], lower=False)
    # parse each distinct time once (imports often share a handful of timestamps)
    codes, uniques = pd.factorize(df[L_MAPPED_AT].to_numpy(object))
    bad = pd.Series(~iso_times_ok(uniques)[codes], index=df.index)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(f"not an ISO 8601 time: {quoted(df[L_MAPPED_AT].iloc[i])}", file=str(path),
                         row=line_of(path, i), column=L_MAPPED_AT)
    return df.reset_index(drop=True)
