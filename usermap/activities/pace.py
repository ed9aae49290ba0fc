"""Start-to-start pacing of requests under a documented rate (issue 21): a token bucket.

The bucket holds at most one token and gains one every ``interval`` seconds (a share of the
documented limit, a little wider: the server's rolling window counts arrivals, which jitter).
A request takes the next token and is sent at once:

- the spacing is start to start: the time a request takes never adds to it, and any number of
  threads sending together (searches of both objects and both ends, several readers) share one
  rate;
- it is kept on the times the requests really went: a thread that wakes late moves the ones
  after it, and the last ``window`` sends (the limit's own window, one second for search, ten
  for the rest) always span ``window`` intervals, so a late wake-up never packs the next
  window's arrivals closer than the limit;
- after an idle spell there is no burst (capacity one);
- a token past ``deadline`` is refused (``SourceError``) instead of slept for: every wait ends by
  the fetch's wall-clock deadline.

Pure: the clock and the sleep are given.
"""

from __future__ import annotations

import threading
from collections import deque

from ..errors import SourceError

__all__ = ["TokenBucket"]


class TokenBucket:
    """``per_second`` requests a second at most, each ``interval = (1 + slack) / per_second``
    after the one before, and any ``window_seconds × per_second`` in a row spanning as many
    intervals, whichever thread sends them."""

    SETTLE = 25         # tokens without a 429 after which a widening goes back one step

    def __init__(self, per_second: float, *, clock, sleep, slack: float = 0.0,
                 widest: float = 0.25, window_seconds: float = 1.0):
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = self._base = (1.0 + slack) / per_second
        self._widest = (1.0 + widest) / per_second
        self._clock, self._sleep = clock, sleep
        self._sent: deque = deque(maxlen=max(1, int(per_second * window_seconds)))
        self._lock = threading.Lock()        # held through the wait: sends go one at a time
        self._clean = 0                      # tokens taken since the last widening
        self.taken = 0

    def widen(self) -> None:
        """A 429 came all the same (arrivals jittered more than the slack): 5 % wider, up to
        ``widest``; back by as much after every ``SETTLE`` tokens without one, so a burst of
        jitter does not slow the rest of a long scan."""
        self.interval = min(self._widest, self.interval * 1.05)
        self._clean = 0

    def take(self, deadline: float | None = None, what: str = "a request") -> float:
        """Wait for the next token; the time it was taken (the request goes now). Refuses one
        that comes after ``deadline``."""
        with self._lock:
            now = self._clock()
            slot = now
            if self._sent:
                slot = max(slot, self._sent[-1] + self.interval)
                if len(self._sent) == self._sent.maxlen:
                    slot = max(slot, self._sent[0] + len(self._sent) * self.interval)
            if deadline is not None and slot > deadline:
                raise SourceError(f"{what}: the time budget runs out before the rate limit "
                                  f"allows the request")
            if slot > now:
                self._sleep(slot - now)
            sent = max(slot, self._clock())  # a late wake-up: the later time counts
            self._sent.append(sent)
            self.taken += 1
            self._clean += 1
            if self._clean >= self.SETTLE and self.interval > self._base:
                self.interval, self._clean = max(self._base, self.interval / 1.05), 0
            return sent
