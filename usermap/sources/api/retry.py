"""Bounded retries shared by the HTTP sources (HubSpot owners, Aloware users).

One ``Retrier`` serves one fetch: it counts every request and every retry (for fetch.json) and
holds the fetch's time budget. Each request is an ``attempt()`` callable that either returns,
raises ``Retryable`` (429, 5xx, a cut or refused connection) or raises a final ``SourceError``.

- a 429 waits as the server says: ``Retry-After`` (seconds or an HTTP date), else the
  ``X-HubSpot-RateLimit-*`` headers, else exponential backoff;
- 5xx and connection failures back off exponentially (``backoff`` doubling up to ``backoff_max``);
- attempts per request and the total time of the fetch are both bounded; ``total_seconds`` is a
  hard wall-clock deadline, slow reads included: each request's read timeout is at most what is
  left, and a ``deadline.Watchdog`` cuts the fetch's connections when it passes (a server that
  trickles one byte every few seconds resets socket timeouts, not the deadline). When either runs out the
  error becomes ``RateLimitError`` (429s), ``IncompleteListingError`` (a listing that had started and
  could not go on) or ``SourceError`` (anything else). All of them exit 4.

The HTTP clients underneath must not retry on their own (urllib3 ``retries=False``) so that this
loop is in charge and the counts are true. Every message passes through ``redact``.

Adapter helper: standard library only (plus usermap.errors / usermap.redact).
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timezone
from typing import Callable, Mapping, TypeVar

from ...errors import IncompleteListingError, RateLimitError, Retryable, SourceError
from ...redact import bounded, redact

__all__ = ["RetryPolicy", "Retrier", "retry_after_seconds", "connection_problem",
           "connection_failure", "hubspot_rate_limit", "RATE_LIMIT", "SERVER", "CONNECTION",
           "MIGRATION"]


T = TypeVar("T")
log = logging.getLogger("usermap.fetch")

RATE_LIMIT, SERVER, CONNECTION = "rate_limit", "server_error", "connection"
MIGRATION = "migration"        # HubSpot's 477: the portal is being migrated; wait Retry-After
DEFAULT_WINDOW = 10.0          # HubSpot's TEN_SECONDLY_ROLLING window when no header says


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop. The defaults suit the real APIs; tests pass tiny values."""

    attempts: int = 8               # tries per request, the first one included
    total_seconds: float = 900.0    # budget of a whole fetch (requests and waits together)
    backoff: float = 1.0            # first backoff after a 5xx or a cut connection; doubles
    backoff_max: float = 30.0       # longest backoff
    max_wait: float = 120.0         # a server asking for a longer wait than this is not waited for
    connect_timeout: float = 10.0
    read_timeout: float = 120.0

    def __post_init__(self):
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        for name in ("total_seconds", "connect_timeout", "read_timeout"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number above 0")
        for name in ("backoff", "backoff_max", "max_wait"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a finite number, not negative")

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


def retry_after_seconds(headers: Mapping[str, str] | None, *, now: float | None = None
                        ) -> float | None:
    """How long a 429 asks us to wait, from its headers (None when they do not say).

    ``Retry-After`` wins (delay-seconds or an HTTP date). Otherwise HubSpot's
    ``X-HubSpot-RateLimit-*`` headers: the secondly window exhausted → 1 s; the interval window
    exhausted → the interval; the daily limit exhausted → ``math.inf`` (not worth waiting for).
    """
    if not headers:
        return None
    h = {str(k).lower(): str(v).strip() for k, v in headers.items()}
    ra = h.get("retry-after")
    if ra:
        said = _retry_after(ra, time.time() if now is None else now)
        if said is not None:
            return said

    def num(name):
        try:
            return float(h[name])
        except (KeyError, ValueError):
            return None

    if num("x-hubspot-ratelimit-daily-remaining") == 0:
        return math.inf
    if num("x-hubspot-ratelimit-secondly-remaining") == 0:
        return 1.0
    interval = num("x-hubspot-ratelimit-interval-milliseconds")
    if num("x-hubspot-ratelimit-remaining") == 0 and interval:
        return interval / 1000.0
    return None


DATE_RESOLUTION = 1.0     # an HTTP-date names a whole second: never wait less than one


def _retry_after(value: str, now: float) -> float | None:
    """One ``Retry-After`` value (RFC 9110 §10.2.3) in seconds, None when it is neither form.

    delay-seconds: digits (a fraction is tolerated), nothing else: "inf", "nan", "1e999" or
    "0x10" say nothing. HTTP-date: IMF-fixdate and the obsolete RFC 850 and asctime forms, in
    GMT. Servers cut the date to the whole second, so a date can name the second that is
    running now (or one just past, with clocks a little apart) while the server still means
    "later": the wait from a date is at least ``DATE_RESOLUTION``, which keeps a client from
    spending every attempt at once inside that second. How long is too long to wait is the
    caller's (``RetryPolicy.max_wait``), for both forms alike."""
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value):
        return float(value)
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    if dt.tzinfo is None:                  # "-0000" or the asctime form: GMT, as RFC 9110 says
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        when = dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
    return max(DATE_RESOLUTION, when - now)


def connection_problem(e: BaseException) -> str:
    """A short, redacted description of a network failure (urllib3 / http.client / OSError)."""
    name = type(e).__name__
    text = str(e)
    if "IncompleteRead" in text or "Connection broken" in text or name in (
            "ProtocolError", "IncompleteRead", "RemoteDisconnected"):
        what = "the connection was cut before the answer was complete"
    elif "Timeout" in name or "timed out" in text:
        what = "the request timed out"
    elif "NewConnectionError" in name or "refused" in text.lower():
        what = "cannot connect"
    else:
        what = "the connection failed"
    return f"{what} ({name}: {bounded(text, 160)})"


def _num(h: Mapping[str, str], name: str) -> float | None:
    try:
        v = float(h[name])
    except (KeyError, TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v >= 0 else None


def hubspot_rate_limit(headers: Mapping[str, str] | None, body: dict | None) -> tuple[str, float]:
    """A HubSpot 429 → (policy name, seconds to wait); ``math.inf`` for the DAILY policy (not
    worth waiting for: the caller stops at once).

    HubSpot sends no ``Retry-After`` on a 429; the JSON body's ``policyName`` says which limit
    was hit. ``TEN_SECONDLY_ROLLING``: the window of ``X-HubSpot-RateLimit-Interval-Milliseconds``
    (else 10 s); ``SECONDLY``: 1 s (the secondly headers' interval if given). Never less than any
    header or a ``Retry-After`` (if one ever comes) says. Without a policy name: the headers
    (``retry_after_seconds``), else the 10 s window."""
    h = {str(k).lower(): str(v).strip() for k, v in (headers or {}).items()}
    policy = str((body or {}).get("policyName") or "").strip().upper()
    said = retry_after_seconds(h)
    if policy == "DAILY" or (not policy and said is not None and math.isinf(said)):
        return "DAILY", math.inf
    if policy == "SECONDLY":
        wait = (_num(h, "x-hubspot-ratelimit-secondly-interval-milliseconds") or 1000.0) / 1000
    else:
        interval = _num(h, "x-hubspot-ratelimit-interval-milliseconds")
        wait = interval / 1000.0 if interval else DEFAULT_WINDOW
        policy = policy or "TEN_SECONDLY_ROLLING"
    if said is not None and not math.isinf(said):
        wait = max(wait, said)
    return policy, wait


def _chain(e: BaseException):
    """``e`` and the exceptions behind it (cause, context, urllib3's ``reason``), once each."""
    seen, todo = set(), [e]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        yield x
        todo += [x.__cause__, x.__context__, getattr(x, "reason", None)
                 if isinstance(getattr(x, "reason", None), BaseException) else None]


def connection_failure(e: BaseException, where: str = "", key: str = "the host") -> Exception:
    """A network failure → a final ``SourceError`` when another try cannot help (the host name
    does not resolve, the connection is refused, TLS fails), else ``Retryable(CONNECTION)``
    (a cut connection, a timeout). ``where`` is the host (and port) for the message."""
    at = f" {where}" if where else ""
    names = [type(x).__name__ for x in _chain(e)]
    text = " ".join(str(x) for x in _chain(e))
    if any(isinstance(x, socket.gaierror) for x in _chain(e)) or "NameResolutionError" in names:
        return SourceError(redact(f"the host name{at} does not resolve (DNS lookup failed: "
                                  f"{_short(e)}); check {key} in usermap.toml"))
    if any(isinstance(x, ConnectionRefusedError) for x in _chain(e)) or (
            "refused" in text.lower() and "NewConnectionError" in names):
        return SourceError(redact(f"connection refused{at}: nothing listens there (is "
                                  f"{key} in usermap.toml right: host and port?)"))
    if any(isinstance(x, ssl.SSLError) for x in _chain(e)) or "SSLError" in names:
        return SourceError(redact(f"TLS error{at}: the secure connection could not be set up "
                                  f"({_short(e)}); is it an https:// URL for a plain HTTP "
                                  f"server, or a certificate problem?"))
    return Retryable(CONNECTION, connection_problem(e))


def _short(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) <= 160 else text[:157] + "..."


def _host_hint(what: str) -> str:
    """Where the address of an unreachable source is set: the config key to check."""
    key = ("[hubspot] host" if what.startswith("HubSpot") else
           "[aloware] base_url" if what.startswith("Aloware") else
           "[hubspot] host and [aloware] base_url")
    return (f". Check {key} in the config (usermap.toml, or --config): is the address right "
            f"and the server reachable from here?")


class Retrier:
    """Runs attempts under a RetryPolicy; counts requests, retries and what caused them."""

    def __init__(self, policy: RetryPolicy | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self.started = clock()
        self.deadline = self.started + self.policy.total_seconds
        from .deadline import Watchdog
        self.watchdog = Watchdog(self.deadline, clock)
        self.requests = 0
        self.retries = 0
        self.waited = 0.0
        self.causes: Counter = Counter()   # retries by kind
        self.waits: list[dict] = []        # every wait: what, why, seconds, attempt k of n

    def backoff(self, attempt: int) -> float:
        """Our own wait before try ``attempt + 1`` (attempt counts from 1)."""
        p = self.policy
        return min(p.backoff_max, p.backoff * (2 ** (attempt - 1)))

    def remaining(self) -> float:
        return self.deadline - self._clock()

    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeouts of the next request: never longer than what is left."""
        p = self.policy
        left = max(0.001, min(self.remaining(), threading.TIMEOUT_MAX / 2))
        return (min(p.connect_timeout, left), min(p.read_timeout, left))

    def close(self) -> None:
        """The fetch is over: disarm the deadline's watchdog."""
        self.watchdog.cancel()

    def __enter__(self) -> "Retrier":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _out_of_time(self, what: str, started_listing: bool, during: str = "") -> SourceError:
        msg = redact(f"{what}: the time budget of {self.policy.total_seconds:g} s for the fetch "
                     f"ran out{during}")
        if started_listing:
            return IncompleteListingError(msg + "; the listing is incomplete and was discarded")
        return SourceError(msg)

    def call(self, attempt: Callable[[], T], what: str, *, started_listing: bool = False) -> T:
        """``attempt()`` until it returns, a final error, or the bounds run out.

        ``what`` names the request in messages ("HubSpot owners (active), page 3").
        ``started_listing``: pages were already read, so giving up leaves the listing incomplete.
        """
        p = self.policy
        tries = 0
        self.watchdog.start()
        while True:
            if self.remaining() <= 0 or self.watchdog.fired:
                raise self._out_of_time(what, started_listing)
            tries += 1
            self.requests += 1
            try:
                got = attempt()
            except Exception as e:
                if self.watchdog.fired:   # the deadline cut the connection mid-answer
                    raise self._out_of_time(
                        what, started_listing, " while waiting for the answer (the server "
                        "answered too slowly)") from None
                if not isinstance(e, Retryable):
                    raise
                r = e
                wait = r.wait if r.wait is not None else self.backoff(tries)
                reason = None
                if r.wait is not None and math.isinf(r.wait):
                    reason = "the daily limit is used up"
                elif tries >= p.attempts:
                    reason = f"gave up after {tries} attempts"
                elif r.wait is not None and r.wait > p.max_wait:
                    reason = ("the daily limit is used up" if math.isinf(r.wait) else
                              f"the server asked to wait {r.wait:.0f} s, more than the "
                              f"{p.max_wait:g} s we wait at once")
                elif wait >= self.remaining() or self.watchdog.fired:
                    reason = f"the retry budget of {p.total_seconds:g} s ran out"
                if reason:
                    raise self._final(r, what, reason, started_listing) from None
                self.retries += 1
                self.causes[r.kind] += 1
                self.waited += wait
                self._tell(what, r, wait, tries + 1)
                if wait > 0:
                    self._sleep(wait)
                continue
            if self.watchdog.fired:   # an answer the deadline cut may look complete: it is not
                raise self._out_of_time(what, started_listing, " while reading the answer (the "
                                        "server answered too slowly)")
            return got

    def _tell(self, what: str, r: Retryable, wait: float, attempt: int) -> None:
        """A retry is coming: say what failed, the wait and the attempt, in fetch.json's
        ``waits``, in the log, and on stderr when it is a terminal."""
        n = self.policy.attempts
        self.waits.append({"request": what, "cause": r.kind, "detail": r.detail[:200],
                           "seconds": round(wait, 3), "attempt": attempt, "of": n})
        line = redact(f"{what}: {r.detail}; waiting {wait:.1f} s before attempt {attempt} "
                      f"of {n}")
        log.warning("%s", line)
        try:
            if sys.stderr is not None and sys.stderr.isatty():
                print(f"usermap: {line}", file=sys.stderr, flush=True)
        except (AttributeError, ValueError, OSError):
            pass

    @staticmethod
    def _final(r: Retryable, what: str, reason: str, started_listing: bool) -> SourceError:
        msg = redact(f"{what}: {r.detail}; {reason}")
        if r.kind == RATE_LIMIT and r.wait is not None and math.isinf(r.wait):
            return RateLimitError(redact(f"{what}: {r.detail}"))
        if r.kind == RATE_LIMIT:
            return RateLimitError(msg + " (rate limited)")
        if r.kind == CONNECTION and r.detail.startswith(("cannot connect", "the connection failed")):
            msg += _host_hint(what)
        if started_listing:
            return IncompleteListingError(msg + "; the listing is incomplete and was discarded")
        return SourceError(msg)

    def summary(self) -> dict:
        return {"requests": self.requests, "retries": self.retries,
                "retries_by_cause": dict(self.causes), "seconds_waited": round(self.waited, 3),
                "waits": list(self.waits)}
