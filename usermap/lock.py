"""One run at a time, and run-folder retention (docs/design.md §7), for ``usermap run``.

- ``RunLock``: ``runs/.lock`` held with ``flock`` for the whole run, so a second run fails at once
  with LockedError (exit 3). The kernel drops a killed process's lock, so a lock left behind by
  a killed run is taken over (``previous`` names it). Without ``fcntl`` (Windows) the lock is an
  exclusive-create file whose pid is checked instead. The lock file is opened with
  ``O_NOFOLLOW``: a symbolic link (or anything but a regular file) at its path is refused with
  exit 3 (``SafetyError``) and whatever it points to is left untouched.
- ``prune``: only the newest ``keep`` run folders stay (folders named by a run id; nothing else
  in the runs folder is touched).

Adapter: files and processes only. Must not import store, sources, report, notify, workflow or
runner.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import stat
from pathlib import Path

from .clock import utc_now
from .errors import LockedError, SafetyError

__all__ = ["RunLock", "prune", "RUN_ID_PATTERN", "LOCK_NAME"]

RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")
LOCK_NAME = ".lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


# --- the lock ---------------------------------------------------------------------------------
class RunLock:
    """One run at a time in a runs folder. ``acquire`` raises LockedError (exit 3) at once when a
    live run holds it; ``previous`` then names the run whose stale lock was taken over, if any."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd: int | None = None
        self.previous: dict | None = None

    def _read(self, fd: int | None = None) -> dict:
        """What the lock file says (through ``fd`` when given: never through a link)."""
        try:
            if fd is not None:
                data = os.pread(fd, 65536, 0)
            else:
                nofollow = os.open(self.path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
                try:
                    data = os.pread(nofollow, 65536, 0)
                finally:
                    os.close(nofollow)
            text = data.decode("utf-8").strip()
            return json.loads(text) if text else {}
        except (OSError, ValueError):
            return {}

    def _open(self, flags: int) -> int:
        """The lock file, opened without following a symbolic link (``O_NOFOLLOW``): a link
        at the lock's path is refused (exit 3) and the file it points to is never touched."""
        if self.path.is_symlink():
            raise SafetyError(self._link_message())
        try:
            fd = os.open(self.path, flags | _NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP or self.path.is_symlink():
                raise SafetyError(self._link_message()) from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SafetyError(f"the run lock {self.path} is not a regular file; remove it, "
                              f"then run again")
        os.set_blocking(fd, True)
        return fd

    def _link_message(self) -> str:
        return (f"the run lock {self.path} is a symbolic link: refused, the lock is never "
                f"written through a link (it would overwrite the file the link points to); "
                f"remove the link, then run again")

    def acquire(self, run_id: str = "") -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self._acquire_pidfile(run_id)
        fd = self._open(os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            held = self._read(fd)
            os.close(fd)
            raise LockedError(self._held_message(held)) from None
        self.fd = fd
        held = self._read(fd)
        self.previous = held or None   # a lock file with content but no flock: a killed run
        self._write(run_id)
        return self

    def _acquire_pidfile(self, run_id: str) -> "RunLock":  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = self._open(os.O_RDWR | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                held = self._read()
                if held and _pid_alive(int(held.get("pid", 0) or 0)):
                    raise LockedError(self._held_message(held)) from None
                self.previous = held or None
                self.path.unlink(missing_ok=True)
                continue
            self.fd = fd
            self._write(run_id)
            return self
        raise LockedError(self._held_message(self._read()))

    def _write(self, run_id: str) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id,
                "started_at": utc_now()}
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, (json.dumps(info) + "\n").encode())
        os.fsync(self.fd)

    def update(self, run_id: str) -> None:
        if self.fd is not None:
            self._write(run_id)

    def _held_message(self, held: dict) -> str:
        who = (f"run {held.get('run_id') or '?'} (pid {held.get('pid', '?')} on "
               f"{held.get('host', '?')}, since {held.get('started_at', '?')})") if held else \
            "another run"
        return (f"{who} holds the lock {self.path}: one run at a time; try again when it has "
                f"finished")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)   # an empty file: released cleanly
        except OSError:
            pass
        try:
            import fcntl
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        except ImportError:  # pragma: no cover - Windows: the file itself is the lock
            os.close(self.fd)
            self.fd = None
            self.path.unlink(missing_ok=True)
            return
        os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- retention --------------------------------------------------------------------------------
def prune(runs_dir, keep: int, *, protect=()) -> list[str]:
    """Delete all but the newest ``keep`` run folders (named by run id, so by time); returns
    the names deleted. Folders in ``protect`` and anything not named like a run stay."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    runs = sorted(d.name for d in runs_dir.iterdir()
                  if d.is_dir() and not d.is_symlink() and RUN_ID_PATTERN.match(d.name))
    doomed = [n for n in runs[:max(len(runs) - max(int(keep), 1), 0)] if n not in protect]
    for name in doomed:
        shutil.rmtree(runs_dir / name, ignore_errors=True)
    return doomed
