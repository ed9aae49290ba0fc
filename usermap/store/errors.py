"""The store's SQLite errors in words (split out of store.py, which re-exports ``db_error``): the
usermap error for an SQLite error on the store, naming the store and the real cause (busy,
damaged, read-only, cannot open, disk full, I/O), with SQLite's own name of it in brackets.

Must not import: the store, sources, report, notify or runner; opens no file and no database.
"""

from __future__ import annotations

import sqlite3

from ..errors import InputError, LockedError, StoreWriteError, UsermapError

__all__ = ["db_error"]


def db_error(e: sqlite3.Error, path, doing: str = "use") -> UsermapError:
    """The usermap error for an SQLite error on the store at ``path``: the store named, and the
    real cause in words (SQLite's own name of it in brackets)."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e)
    low = f"{name} {text}".lower()
    where = str(path)
    if "busy" in low or "locked" in low:
        return LockedError(f"{where}: the store is busy: another process is writing it ({text})")
    if "corrupt" in low or "malformed" in low or "notadb" in low or "not a database" in low:
        return InputError(f"the store is damaged: not a readable SQLite database ({text}); "
                          f"restore it from a backup", file=where)
    if "readonly" in low:
        return InputError(f"the store is read-only: usermap cannot {doing} it ({text}); check "
                          f"the permissions of the file and of its folder", file=where)
    if "cantopen" in low or "unable to open" in low:
        return InputError(f"cannot {doing} the store: SQLite cannot open it or create its "
                          f"journal beside it ({text}); check the permissions of the file and "
                          f"of its folder", file=where)
    if "full" in low:
        return StoreWriteError(f"{where}: the disk is full ({text}); nothing was changed")
    if "ioerr" in low or "i/o" in low:
        return StoreWriteError(f"{where}: the disk refused the write ({text}: full, over the "
                               f"file size limit, or failing); nothing was changed")
    return StoreWriteError(f"{where}: SQLite failed ({name or type(e).__name__}: {text})")
