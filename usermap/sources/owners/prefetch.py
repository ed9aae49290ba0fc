"""The owners file read ahead in a forked child process, while the parent starts up.

``usermap plan`` and ``usermap audit`` spend their first moments importing pandas and reading
the users CSV and the store, all of it holding one core; parsing hubspot_owners.json
(``fast.owner_columns``) needs neither pandas nor the store. So the console script
(``usermap/launch.py``) forks a child as soon as the arguments name a snapshot: the child parses
the owners file into columns and hands them back as msgpack through an anonymous in-memory file
(``memfd``). The handle is passed down (``cli.main(prefetch=...)`` → ``workflow.load`` →
``read.read_owners``); nothing finds it by path.

The child answers in one of three ways, told apart by its exit status: columns the fast reader
vouched for (0), "declined" (3: the fast reader cannot vouch for the file, so the parent goes
straight to the exact reader without trying msgspec again), or nothing usable (crashed, killed:
the parent reads the file itself as if there had been no child). It never raises an error of
its own. No ``fork`` on this system, or other threads already running in the parent (a fork
would not carry them over): no child. The child dies with its parent (``PR_SET_PDEATHSIG``),
and ``close()`` kills and reaps it.

Adapter: processes and the file system. Imports nothing of pandas (the child must start fast).
"""

from __future__ import annotations

import mmap
import os
import signal
import stat
import threading
from pathlib import Path

__all__ = ["OwnersPrefetch", "start", "DECLINED"]

DECLINED = "declined"   # the child's answer when the fast reader cannot vouch for the file
_DECLINE = 3             # its exit status then


class OwnersPrefetch:
    """A child reading one owners file; ``take()`` waits for it once."""

    def __init__(self, path: Path, pid: int, fd: int) -> None:
        self.path, self.pid, self.fd = path, pid, fd

    def take(self):
        """The fast reader's answer from the child (columns, typed), ``DECLINED``, or None
        (no answer: crashed, killed, unreadable; read the file here as if there were no child)."""
        if self.pid is None:
            return None
        try:
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                return DECLINED if code == _DECLINE else None
            size = os.fstat(self.fd).st_size
            if not size:
                return None
            with mmap.mmap(self.fd, size, access=mmap.ACCESS_READ) as data:   # (a memfd:
                return _unpack(data)                                         # ours alone)
        except (OSError, ValueError, TypeError, KeyError, ImportError):   # (msgspec's
            return None                                                  # errors: ValueError)
        finally:
            self.close()

    def close(self) -> None:
        """Kill and reap the child if it still runs; free its memory file. Idempotent."""
        pid, self.pid = self.pid, None
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> "OwnersPrefetch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start(path) -> OwnersPrefetch | None:
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
    parent = os.getpid()
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
            _die_with(parent)
            code = _child(path, fd)
        finally:
            os._exit(code)
    return OwnersPrefetch(path, pid, fd)


def _die_with(parent: int) -> None:
    """Linux: the kernel kills this child when its parent ends, however it ends (SIGKILL
    included); then a parent that ended before the request leaves this child at once."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):   # not Linux: close() and the signal handlers reap it
        pass
    if os.getppid() != parent:
        os._exit(1)


def _child(path: Path, fd: int) -> int:
    """0 with the packed columns written to ``fd``; ``_DECLINE`` when the fast reader declines."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO would block: never open it
            return _DECLINE
    except OSError:
        return _DECLINE
    from .fast import owner_columns
    result = owner_columns(path)
    if result is None:
        return _DECLINE
    try:
        view = memoryview(_pack(*result))
    except (TypeError, ValueError, OverflowError):   # (an id past 64 bits: read it at home)
        return _DECLINE
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
