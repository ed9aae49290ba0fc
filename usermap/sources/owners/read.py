"""hubspot_owners.json → the owners frame: the one entry (``read_owners``).

``engine`` chooses the parser ("exact": the standard library's json in ``exact.py``, where the
semantics live; "fast" and "auto": msgspec in ``fast.py`` when it vouches for the file, else the
exact one). Both give the same raw columns, and ``frame.py`` validates them into the same frame
with the same errors. ``prefetch``: a child already parsing this file (``prefetch.py``), handed in
by the console script; its answer is taken instead of parsing here (when it read this very
file), and after it declined the file goes straight to the exact reader.

A file that changes while it is read (its size or time differ before and after) is an
``InputError`` naming it: what was read may be neither the old file nor the new one.

Adapter: file I/O only; no network, no SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ...errors import InputError
from ...files import check_regular_file
from . import exact, fast
from .frame import columns_frame, typed_columns_frame
from .prefetch import DECLINED

__all__ = ["read_owners"]


def read_owners(path, *, engine: str = "auto", prefetch=None) -> pd.DataFrame:
    """The owners frame of the owners file at ``path``; an InputError naming the file, the
    owner and the field for anything wrong with it."""
    path = Path(path)
    source = str(path)
    try:
        before = check_regular_file(path)   # a FIFO or a device: exit 2 at once, before opening
        got = None
        if engine != "exact":
            mine = prefetch is not None and _same_file(prefetch.path, path)
            got = prefetch.take() if mine else None
            if got is None:
                got = fast.owner_columns(path)
    finally:
        if prefetch is not None:   # waited for, or killed: reaped either way
            prefetch.close()
    if got is not None and got is not DECLINED:
        _check_unchanged(path, before)
        cols, typed = got
        return typed_columns_frame(cols, source) if typed else columns_frame(cols, source)
    try:
        cols = exact.read_columns(path, source)
    except InputError:   # (a truncated file reads as broken JSON: say what happened instead)
        _check_unchanged(path, before)
        raise
    _check_unchanged(path, before)
    return columns_frame(cols, source)


def _same_file(a, b) -> bool:
    """The child read this very file (it was started from the command line's words)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_unchanged(path: Path, before: os.stat_result) -> None:
    """The file is the one whose status was taken before reading (same size and time)."""
    try:
        now = os.stat(path)
    except OSError:
        now = None
    if now is None or (now.st_ino, now.st_size, now.st_mtime_ns) != (
            before.st_ino, before.st_size, before.st_mtime_ns):
        raise InputError("the file changed while usermap read it; read it again once it is "
                         "complete", file=str(path))
