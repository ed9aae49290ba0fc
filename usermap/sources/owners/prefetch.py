"""The owners file read ahead in a forked child process, while the parent starts up.

``usermap plan`` and ``usermap audit`` spend their first moments importing pandas and reading
the users CSV and the store, all of it holding one core; parsing hubspot_owners.json
(``owners_fast.owner_columns``) needs neither pandas nor the store. So the command forks a
child as soon as its arguments are checked: the child parses the owners file into columns and
hands them back as msgpack through an anonymous in-memory file (``memfd``), and the parent picks
them up in ``workflow.load`` where it would have parsed them itself. Two cores work at once.

The child only ever answers with columns the fast reader vouched for, or not at all: it never
raises an error of its own. Whatever goes wrong (not a regular file, a file the fast reader
leaves to json, the child killed, no ``fork`` on this system, other threads already running in
the parent, which a fork would not carry over) leaves the parent to read the file itself as
before, with the same errors. A child nobody collects is killed and reaped at exit.

Adapter: processes and the file system. Imports nothing of pandas (the child must start fast).
"""

from __future__ import annotations

import atexit
import mmap
import os
import signal
import stat
import threading
from pathlib import Path

__all__ = ["OwnersAhead", "read_ahead", "take_ahead", "close_pending"]

_pending: dict[str, "OwnersAhead"] = {}


class OwnersAhead:
    """A child reading one owners file; ``columns()`` waits for it once."""

    def __init__(self, path: Path, pid: int, fd: int) -> None:
        self.path, self.pid, self.fd = path, pid, fd

    def columns(self):
        """``owner_columns``'s answer from the child, or None (read the file here instead)."""
        if self.pid is None:
            return None
        try:
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            size = os.fstat(self.fd).st_size
            if not size:
                return None
            with mmap.mmap(self.fd, size, access=mmap.ACCESS_READ) as data:
                return _unpack(data)
        except (OSError, ValueError, TypeError, KeyError, ImportError):   # (msgspec's
            return None                                                  # errors: ValueError)
        finally:
            self.close()

    def close(self) -> None:
        """Kill and reap the child if it still runs; free its memory file."""
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def read_ahead(path) -> OwnersAhead | None:
    """Start reading the owners file at ``path`` in a child (None when this process cannot:
    no fork or memfd, or threads already running)."""
    path = Path(path)
    if (not hasattr(os, "fork") or not hasattr(os, "memfd_create")
            or threading.active_count() != 1):
        return None
    try:
        fd = os.memfd_create("usermap-owners", getattr(os, "MFD_CLOEXEC", 0))
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(fd)
        return None
    if pid == 0:   # the child: parse, write, leave (never returns into the parent's code)
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = _child(path, fd)
        finally:
            os._exit(code)
    ahead = OwnersAhead(path, pid, fd)
    old = _pending.pop(_key(path), None)
    if old is not None:
        old.close()
    _pending[_key(path)] = ahead
    return ahead


def take_ahead(path) -> OwnersAhead | None:
    """The child started for ``path``, if any (each is taken once)."""
    return _pending.pop(_key(path), None) if _pending else None


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _child(path: Path, fd: int) -> int:
    """0 with the packed columns written to ``fd``; 3 when the fast reader declines."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO would block: never open it
            return 3
    except OSError:
        return 3
    from .fast import owner_columns
    result = owner_columns(path)
    if result is None:
        return 3
    try:
        view = memoryview(_pack(*result))
    except (TypeError, ValueError, OverflowError):   # (an id past 64 bits: read it at home)
        return 3
    while view:
        view = view[os.write(fd, view):]
    return 0


# Columns whose values repeat (names, the owner type): sent as distinct values and codes, so
# the parent makes one string per distinct value, as the reader does (a million names would
# otherwise be a million strings again).
_CODED = ("first_name", "last_name", "type")


def _pack(cols: dict, typed: bool) -> bytes:
    """The columns as msgpack (several times faster than pickle to write, about as fast to
    read; the child's time is the parent's wait)."""
    import msgspec
    packed = {}
    for name, values in cols.items():
        if name in _CODED:
            seen: dict = {}
            codes = [seen.setdefault(v, len(seen)) for v in values]
            packed[name] = [list(seen), codes]
        else:
            packed[name] = values
    return msgspec.msgpack.encode([packed, typed])


def _unpack(data) -> tuple[dict, bool]:
    import msgspec
    packed, typed = msgspec.msgpack.decode(data)
    cols = {}
    for name, values in packed.items():
        if name in _CODED:
            distinct, codes = values
            cols[name] = list(map(distinct.__getitem__, codes))
        else:
            cols[name] = values
    return cols, bool(typed)


def close_pending() -> None:
    """Kill and reap every child nobody took (the command ended before it read the owners)."""
    while _pending:
        _pending.popitem()[1].close()


atexit.register(close_pending)
