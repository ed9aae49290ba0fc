"""One run at a time, and run-folder retention (DESIGN.md §7), for ``usermap run``.

- ``RunLock``: ``runs/.lock`` held with ``flock`` for the whole run, so a second run fails at once
  with LockedError (exit 3). The kernel drops a killed process's lock, so a lock left behind by
  a killed run is taken over (``previous`` names it). Without ``fcntl`` (Windows) the lock is an
  exclusive-create file whose pid is checked instead.
- ``prune``: only the newest ``keep`` run folders stay (folders named by a run id; nothing else
  in the runs folder is touched).

Adapter: files and processes only. Must not import store, sources, report, notify, workflow or
runner.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

from .clock import utc_now
from .errors import LockedError

__all__ = ["RunLock", "prune", "RUN_ID_PATTERN", "LOCK_NAME"]

RUN_ID_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4,}$")
LOCK_NAME = ".lock"


# --- the lock ---------------------------------------------------------------------------------
class RunLock:
    """One run at a time in a runs folder. ``acquire`` raises LockedError (exit 3) at once when a
    live run holds it; ``previous`` then names the run whose stale lock was taken over, if any."""

    def __init__(self, path):
        self.path = Path(path)
        self.fd: int | None = None
        self.previous: dict | None = None

    def _read(self) -> dict:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
            return json.loads(text) if text else {}
        except (OSError, ValueError):
            return {}

    def acquire(self, run_id: str = "") -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self._acquire_pidfile(run_id)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LockedError(self._held_message(self._read())) from None
        self.fd = fd
        held = self._read()
        self.previous = held or None   # a lock file with content but no flock: a killed run
        self._write(run_id)
        return self

    def _acquire_pidfile(self, run_id: str) -> "RunLock":  # pragma: no cover - Windows
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
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
