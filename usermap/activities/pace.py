"""Start-to-start pacing of requests under a documented rate (issue 21): a token bucket.

The bucket holds at most one token and gains one every ``interval`` seconds (a share of the
documented limit, a little wider: the server's rolling window counts arrivals, which jitter).
A request takes the next token under a lock and sleeps outside it until that token's time, so:

- the spacing is start to start: the time a request takes never adds to it, and any number of
  threads sending together (searches of both objects and both ends, several readers) share one
  rate;
- after an idle spell there is no burst (capacity one): a rolling window of one second never
  sees more than the rate;
- a token past ``deadline`` is refused (``SourceError``) instead of slept for: every wait ends by
  the fetch's wall-clock deadline.

Pure: the clock and the sleep are given.
"""

from __future__ import annotations

import threading

from ..errors import SourceError

__all__ = ["TokenBucket"]


class TokenBucket:
    """``per_second`` requests a second at most, each ``interval = (1 + slack) / per_second``
    after the one before, whichever thread sends it."""

    def __init__(self, per_second: float, *, clock, sleep, slack: float = 0.0,
                 widest: float = 0.25):
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = self._base = (1.0 + slack) / per_second
        self._widest = (1.0 + widest) / per_second
        self._clean = 0                      # tokens taken since the last widening
        self._clock, self._sleep = clock, sleep
        self._next: float | None = None      # the time of the next token
        self._lock = threading.Lock()
        self.taken = 0

    def widen(self) -> None:
        """A 429 came all the same (arrivals jittered more than the slack): 5 % wider, up to
        ``widest``; back by as much after every ``SETTLE`` tokens without one, so a burst of
        jitter does not slow the rest of a long scan."""
        with self._lock:
            self.interval = min(self._widest, self.interval * 1.05)
            self._clean = 0

    SETTLE = 100

    def take(self, deadline: float | None = None, what: str = "a request") -> float:
        """Wait for the next token; its time. Refuses one that comes after ``deadline``."""
        with self._lock:
            now = self._clock()
            slot = now if self._next is None else max(now, self._next)
            if deadline is not None and slot > deadline:
                raise SourceError(f"{what}: the time budget runs out before the rate limit "
                                  f"allows the request")
            self._next = slot + self.interval
            self.taken += 1
            self._clean += 1
            if self._clean >= self.SETTLE and self.interval > self._base:
                self.interval, self._clean = max(self._base, self.interval / 1.05), 0
        if slot > now:
            self._sleep(slot - now)
        return slot
