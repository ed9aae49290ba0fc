"""The hard wall-clock deadline of a fetch (``[fetch] total_seconds``), slow reads included.

Socket timeouts bound each ``recv`` only: a server that sends one byte every few seconds resets
them with every byte and can hold a fetch (and ``usermap run``, and its lock) for ever. So every
connection a fetch opens is watched: a ``Watchdog`` timer fires at the fetch's deadline and shuts
down the sockets of the connections it watches, which ends any blocked connect, header read or
body read at once (the read sees the connection cut). The ``Retrier`` then turns whatever the
attempt raised into "the time budget ran out" (exit 4), and nothing is written.

``watched_pool_classes(watchdog)`` gives urllib3 pool classes whose connections register their
sockets with the watchdog; the Aloware pool and hubspot-api-client's pool manager both use them
(``install(pool_manager, watchdog)``). Each request also gets a read timeout no longer than what
is left of the budget (``Retrier.timeout``).

Only live socket objects that a watched connection holds are shut down (never a bare file
descriptor number, which another part of the process may have been given since).

Adapter helper: standard library, urllib3 (imported when pools are made).
"""

from __future__ import annotations

import socket
import threading
import weakref
from typing import Callable

__all__ = ["Watchdog", "watched_pool_classes", "install"]


def _shutdown(sock) -> None:
    """Cut a live socket (raw or TLS) so that a read blocked in another thread returns now."""
    if sock is None:
        return
    try:
        fd = sock.fileno()
    except (OSError, ValueError):
        return
    if fd < 0:
        return
    try:
        # a duplicate of the descriptor: shutting it down cuts the connection for every
        # descriptor of it, without touching the TLS object another thread is reading through
        dup = socket.socket(fileno=socket.dup(fd))
    except OSError:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()


class Watchdog:
    """Shuts down the watched connections when ``deadline`` (on ``clock``) passes."""

    def __init__(self, deadline: float, clock: Callable[[], float]):
        self.deadline, self._clock = deadline, clock
        self._conns: "weakref.WeakSet" = weakref.WeakSet()
        self._socks: "weakref.WeakSet" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._fired = threading.Event()
        self._timer: threading.Timer | None = None
        self._cancelled = False

    @property
    def fired(self) -> bool:
        return self._fired.is_set()

    def start(self) -> None:
        """Arm the timer (once; a cancelled watchdog stays off)."""
        with self._lock:
            if self._timer is not None or self._cancelled:
                return
            left = max(0.0, min(self.deadline - self._clock(), threading.TIMEOUT_MAX / 2))
            self._timer = threading.Timer(left, self._fire)
            self._timer.daemon = True
            self._timer.name = "usermap-fetch-deadline"
            self._timer.start()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._timer is not None:
                self._timer.cancel()

    def watch_conn(self, conn) -> None:
        with self._lock:
            self._conns.add(conn)
        if self.fired:
            _shutdown(getattr(conn, "sock", None))

    def watch_sock(self, sock) -> None:
        with self._lock:
            self._socks.add(sock)
        if self.fired:
            _shutdown(sock)

    def _fire(self) -> None:
        self._fired.set()
        with self._lock:
            socks = [getattr(c, "sock", None) for c in list(self._conns)] + list(self._socks)
        for s in socks:
            _shutdown(s)


def watched_pool_classes(watchdog: Watchdog) -> dict:
    """urllib3 pool classes (by scheme) whose connections the watchdog can cut."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def conn_class(base):
        class Watched(base):
            def _new_conn(self):
                sock = super()._new_conn()
                watchdog.watch_sock(sock)      # a plain connection, from its first byte
                return sock

            def connect(self):
                watchdog.watch_conn(self)
                return super().connect()

            def request(self, *args, **kwargs):
                watchdog.watch_conn(self)      # a kept-alive connection used again
                return super().request(*args, **kwargs)
        Watched.__name__ = f"Watched{base.__name__}"
        return Watched

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = conn_class(HTTPConnection)

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = conn_class(HTTPSConnection)

    return {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


def install(pool_manager, watchdog: Watchdog | None):
    """Make ``pool_manager`` (a urllib3 PoolManager) open watched connections from now on."""
    if watchdog is not None and pool_manager is not None:
        pool_manager.clear()
        pool_manager.pool_classes_by_scheme = watched_pool_classes(watchdog)
    return pool_manager
