"""The sandbox's faults (split out of server.py): the token check, the answers that refuse or fail
a request (401, 403, 429 of HubSpot's rolling and daily limits or of Aloware's, injected 5xx,
broken JSON), the rolling rate window and HubSpot's ``X-HubSpot-RateLimit-*`` headers, as the
mixin ``_Faults`` of ``SandboxServer``. server.py's docstring describes the faults and when they are drawn.

Uses the server's state (``_lock``, ``stats``, ``_windows``, ``rate_limit``, ``rate_window``,
``daily_limit``, ``broken_json``, the tokens) and its ``_send`` and ``_log``. Must not import:
server.py, the store, the sources, the report, pandas; no network of its own (answers go through
``_send``).
"""

from __future__ import annotations

import email.utils
import hmac
import math
import time

__all__ = ["TEN_SECONDLY", "OWNERS_SCOPE"]

TEN_SECONDLY = 190             # HubSpot's per-10-second limit (Professional/Enterprise: 190)
OWNERS_SCOPE = "crm.objects.owners.read"
MIGRATION_RETRY_AFTER = 1      # seconds a 477 asks to wait


class _Faults:
    """The token check, refusals, injected errors and rate limits of ``SandboxServer`` (a
    mixin)."""

    def _authorized(self, api: str, h, q) -> bool:
        if api == "hubspot":
            want = self.hubspot_token
            got = h.headers.get("Authorization", "")
            got = got[7:].strip() if got[:7].lower() == "bearer " else None
        else:
            want = self.aloware_token
            got = (q.get("api_token") or [None])[-1]
        if not got:
            return False
        return want is None or hmac.compare_digest(got.encode(), want.encode())

    def _hs_error(self, message: str, category: str, corr: str, **extra) -> dict:
        return {"status": "error", "message": message, "correlationId": corr,
                "category": category, **extra}

    def _rate_headers(self, api: str, corr: str = "") -> dict:
        """HubSpot's rate-limit headers, as it sends them on every answer of a private app:
        the rolling window (``-Max`` requests per ``-Interval-Milliseconds``; 190 per 10 s unless
        ``rate_limit`` says otherwise, enforced only when it does) and the daily limit; none
        for ``api="search"``, the CRM search."""
        if api == "search":        # HubSpot sends no rate-limit headers on search answers
            return {"X-HubSpot-Correlation-Id": corr}
        if api != "hubspot":
            return {}
        limit = self.rate_limit or TEN_SECONDLY
        with self._lock:
            used = len(self._windows[api])
            daily = self.stats["hubspot"]
        h = {"X-HubSpot-RateLimit-Daily": self.daily_limit,
             "X-HubSpot-RateLimit-Daily-Remaining": max(0, self.daily_limit - daily),
             "X-HubSpot-RateLimit-Interval-Milliseconds": int(self.rate_window * 1000),
             "X-HubSpot-RateLimit-Max": limit,
             "X-HubSpot-RateLimit-Remaining": max(0, limit - used)}
        if corr:
            h["X-HubSpot-Correlation-Id"] = corr
        return h

    def _rate_check(self, api: str, now: float) -> float | None:
        """None if the request may go on, else the seconds until the window has room."""
        with self._lock:
            win = self._windows[api]
            while win and win[0] <= now - self.rate_window:
                win.popleft()
            if self.rate_limit and len(win) >= self.rate_limit:
                return win[0] + self.rate_window - now
            win.append(now)
            return None

    def _refuse_token(self, h, api: str, corr: str) -> None:
        with self._lock:
            self.stats["401"] += 1
        self._log(f"401 {api}: bad or missing token")
        if api == "hubspot":
            self._send(h, 401, self._hs_error(
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION", corr), headers={"WWW-Authenticate": "Bearer"})
        else:
            self._send(h, 401, {"message": "Unauthenticated: invalid api_token."})

    def _not_found(self, h, corr: str) -> None:
        with self._lock:
            self.stats["other"] += 1
        self._log(f"404 {h.command} {h.path}")
        self._send(h, 404, self._hs_error("Not found", "OBJECT_NOT_FOUND", corr))

    def _refused_hubspot(self, h, corr: str, scope: str) -> bool:
        """Answer a HubSpot request without ``scope`` (``missing_scope``: 403), past the daily
        limit (429 DAILY) or among the first ``migrating`` ones (477), and say so; False lets
        it go on."""
        if self.missing_scope:
            self._refuse_scope(h, corr, scope)
            return True
        with self._lock:
            hs_n = self.stats["hubspot"]
        if hs_n > self.daily_limit:
            self._refuse_rate(h, "hubspot", 0.0, corr, policy="DAILY")
            return True
        if hs_n <= self.migrating:
            with self._lock:
                self.stats["477"] += 1
            self._log("477 hubspot: migration in progress")
            self._send(h, 477, self._hs_error("This portal is currently being migrated; try "
                                              "again later.", "MIGRATION_IN_PROGRESS", corr),
                       headers={"Retry-After": self._retry_after(MIGRATION_RETRY_AFTER),
                                "X-HubSpot-Correlation-Id": corr})
            return True
        return False

    def _refuse_scope(self, h, corr: str, scope: str = OWNERS_SCOPE) -> None:
        with self._lock:
            self.stats["403"] += 1
        self._log("403 hubspot: missing scope")
        self._send(h, 403, self._hs_error(
            "This app hasn't been granted all required scopes to make this call. Read "
            "more about required scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES", corr,
            errors=[{"message": "One or more of the following scopes are required.",
                     "context": {"requiredGranularScopes": [scope]}}]))

    def _retry_after(self, seconds: float):
        """A ``Retry-After`` value: delay-seconds, or with ``retry_after_date`` RFC 9110's other
        form, an HTTP-date cut to the whole second as servers format it (so it can name the
        second that is running now)."""
        if not self.retry_after_date:
            return seconds
        return email.utils.formatdate(time.time() + max(0.0, seconds), usegmt=True)

    def _refuse_rate(self, h, api: str, wait: float, corr: str, policy: str = "") -> None:
        with self._lock:
            self.stats["429"] += 1
            if policy == "DAILY":
                self.stats["429_daily"] += 1
        if api == "hubspot":
            # as HubSpot does: no Retry-After; the body's policyName says which limit it was
            headers = self._rate_headers(api, corr)
            if policy == "SECONDLY":   # the search's own limit: no rate-limit headers
                self._log("429 hubspot: more than the search's requests a second")
                headers = {"X-HubSpot-Correlation-Id": corr}
                body = {"status": "error", "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT", "correlationId": corr, "policyName": "SECONDLY"}
            elif policy == "DAILY":
                self._log(f"429 hubspot: the daily limit of {self.daily_limit} is spent")
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = 0
                body = {"status": "error", "message": "You have reached your daily limit.",
                        "errorType": "RATE_LIMIT", "correlationId": corr, "policyName": "DAILY"}
            else:
                self._log(f"429 hubspot: more than {self.rate_limit} requests in "
                          f"{self.rate_window:g} s")
                headers["X-HubSpot-RateLimit-Remaining"] = 0
                if self.retry_after_date:      # "if one ever comes": sent as an HTTP-date
                    headers["Retry-After"] = self._retry_after(wait)
                body = {"status": "error", "message": "You have reached your ten_secondly_rolling "
                        "limit.", "errorType": "RATE_LIMIT", "correlationId": corr,
                        "policyName": "TEN_SECONDLY_ROLLING"}
        else:
            self._log(f"429 {api}: more than {self.rate_limit} requests in "
                      f"{self.rate_window:g} s")
            headers = {"Retry-After": self._retry_after(max(1, math.ceil(wait)))}
            headers.update({"X-RateLimit-Limit": self.rate_limit, "X-RateLimit-Remaining": 0})
            body = {"message": "Too Many Attempts."}
        self._send(h, 429, body, headers=headers)

    def _injected_error(self, h, api: str, status: int, corr: str, rate_headers: dict) -> None:
        with self._lock:
            self.stats["5xx"] += 1
        self._log(f"{status} {api}: injected server error")
        if api == "hubspot" and status == 500:
            self._send(h, 500, self._hs_error("internal error", "INTERNAL_ERROR", corr),
                       headers=rate_headers)
        else:
            self._send(h, status, f"<html><body><h1>{status}</h1>The server is having a bad "
                       f"day.</body></html>".encode(), content_type="text/html",
                       headers=rate_headers)

    def _dropping(self, api: str, drop: bool) -> bool:
        """``drop``, counted and logged when true (the answer is then cut half-way)."""
        if drop:
            with self._lock:
                self.stats["drops"] += 1
            self._log(f"drop {api}: connection cut mid-answer")
        return drop

    def _maybe_broken(self, api: str, body: bytes) -> bytes:
        if api in self.broken_json:
            return b"<!DOCTYPE html><html><body>Down for maintenance</body></html>"
        return body
