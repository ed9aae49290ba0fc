"""HubSpot's CRM objects API for calls and SMS (DESIGN §10), as HubSpot documents it.

- **Search** (``POST …/{object}/search``): 200 a page, at most 10,000 results a query, read
  from both ends of the time range at once in ceil(N/200) requests (search.py says how).
- **Batch read** (``POST …/{object}/batch/read``) with ``propertiesWithHistory`` of
  ``hubspot_owner_id``: 50 a request.
- **Batch update** (``POST …/{object}/batch/update``): 100 a request, ``hubspot_owner_id`` only.
- **Paths**: date-versioned ``/crm/objects/{api_version}/{object}/…`` by ``[hubspot]
  api_version``; ``v3`` (or a dated path the account answers 404) uses ``/crm/v3/objects/…``.
- **Rate**: a share (``[activities] rate_share``) of the documented limits: search about 5
  requests a second (no rate headers), the rest ``ten_second_limit`` per 10 s, each paced start
  to start by a token bucket (pace.py) that every thread sending shares, so the time an answer
  takes never slows the rate and the share is never exceeded. A 429 is a fault of the pacing:
  counted in ``stats["429"]`` (the bucket widens), then retried by ``sources.retry.Retrier``
  (bounded, with its wall-clock deadline cutting a slow answer and ending every wait).

Adapter: network only. The token is passed in and never appears in a message.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from urllib.parse import urlsplit

from ..errors import AuthError, BadAnswerError, CrmValidationError, SourceError
from ..redact import redact
from ..sources.api.hubspot import KEYS_PAGE, OWNERS_SCOPE
from ..sources.api.retry import (CONNECTION, RATE_LIMIT, SERVER, Retrier, Retryable,
                                 hubspot_rate_limit)
from .pace import TokenBucket
from .search import search_range

__all__ = ["CrmClient", "READ_BATCH", "UPDATE_BATCH",
           "SEARCH_PER_SECOND", "READ_SCOPES", "WRITE_SCOPES", "CALL_PROPS", "SMS_PROPS",
           "OBJECT_TYPES"]

READ_BATCH, UPDATE_BATCH = 50, 100
SEARCH_PER_SECOND = 5.0
# the scopes docs/configuration.md lists: calls and communications are read and written under
# the contacts scopes (HubSpot's spec), owners under their own
READ_SCOPES = (OWNERS_SCOPE, "crm.objects.contacts.read")
WRITE_SCOPES = ("crm.objects.contacts.write",)
CALL_PROPS = ("hs_timestamp", "hubspot_owner_id", "hs_call_external_id", "hs_call_from_number",
              "hs_call_to_number", "hs_call_duration", "hs_call_source", "hs_call_app_id")
SMS_PROPS = ("hs_timestamp", "hubspot_owner_id", "hs_communication_channel_type",
             "hs_communication_logged_from")
OBJECT_TYPES = {"call": "calls", "sms": "communications"}
_OWNER = "hubspot_owner_id"


# Spacing a little wider than the limit: the server's window counts arrivals, not sendings, and
# an arrival late by more than the slack lets the next window see one request too many (a 429,
# then a wait of a whole window). Search's window is one second: 5 % is 10 ms a request.
SEARCH_SLACK, OTHER_SLACK = 0.05, 0.02


class CrmClient:
    """Calls and communications of one HubSpot account. ``stats`` counts requests by kind."""

    def __init__(self, host: str, token: str, *, api_version: str = "2026-03",
                 rate_share: float = 0.5, ten_second_limit: int = 190,
                 retrier: Retrier | None = None, clock=time.monotonic, sleep=time.sleep):
        u = urlsplit(host.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise SourceError(f"[hubspot] host is not an http(s) URL: {redact(host)}")
        self._https, self._host, self._port = u.scheme == "https", u.hostname, u.port
        self._prefix = u.path.rstrip("/")
        self._token = token
        self.version = api_version.strip() or "v3"
        self.retrier = retrier or Retrier()
        self._search = TokenBucket(SEARCH_PER_SECOND * rate_share, clock=clock, sleep=sleep,
                                   slack=SEARCH_SLACK)
        self._other = TokenBucket(ten_second_limit / 10.0 * rate_share, clock=clock,
                                  sleep=sleep, slack=OTHER_SLACK, window_seconds=10.0)
        self._clock = clock
        self._local = threading.local()    # one connection per thread (searches from both ends
        self._conns: list = []             # and history reads go on side by side)
        self.stats = {"search": 0, "read": 0, "update": 0, "fallback": 0, "429": 0}
        self._count = threading.Lock()

    # --- transport -----------------------------------------------------------------------
    def _path(self, obj: str, tail: str) -> str:
        if self.version == "v3":
            return f"{self._prefix}/crm/v3/objects/{obj}/{tail}"
        return f"{self._prefix}/crm/objects/{self.version}/{obj}/{tail}"

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port,
                                          timeout=self.retrier.timeout()[1])
            self.retrier.watchdog.watch_conn(conn)
            self._conns.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self.retrier.close()

    def _post(self, kind: str, obj: str, tail: str, body: dict, what: str) -> dict:
        """POST ``body`` as JSON; the answer's JSON. Falls back to v3 once on a 404 of a dated
        path (the account does not serve that version)."""
        pace = self._search if kind == "search" else self._other
        data = json.dumps(body).encode()

        def attempt():
            pace.take(self._deadline(), what)
            with self._count:
                self.stats[kind] += 1
            return self._send(self._path(obj, tail), data, what)

        limited = self.retrier.causes[RATE_LIMIT]
        status, payload = self.retrier.call(attempt, what)
        if self.retrier.causes[RATE_LIMIT] > limited:
            pace.widen()
        if status == 404 and self.version != "v3":
            self.version = "v3"
            self.stats["fallback"] += 1
            status, payload = self.retrier.call(attempt, what)
        if status >= 400:
            raise _final(status, payload, what, write=kind == "update")
        return payload

    def _deadline(self) -> float:
        """The retrier's wall-clock deadline on this client's clock."""
        return self._clock() + self.retrier.remaining()

    def _send(self, path: str, data: bytes, what: str) -> tuple[int, dict]:
        conn = self._connection()
        conn.timeout = self.retrier.timeout()[1]      # a new connection's
        if conn.sock is not None:                     # an open one's: never past the deadline
            conn.sock.settimeout(conn.timeout)
        try:
            conn.request("POST", path, body=data, headers={
                "Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
                "Accept": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            headers = dict(resp.getheaders())
        except (OSError, http.client.HTTPException) as e:
            self._local.conn = None
            conn.close()
            raise Retryable(CONNECTION, redact(f"the connection failed ({type(e).__name__})"))
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {}
        if resp.status == 429:                        # a fault of the pacing: counted
            with self._count:
                self.stats["429"] += 1
            policy, wait = hubspot_rate_limit(headers, payload)
            if policy == "DAILY":
                raise SourceError(f"{what}: HubSpot's daily API limit is spent (HTTP 429)")
            raise Retryable(RATE_LIMIT, f"HTTP 429 {policy}", wait=wait)
        if resp.status >= 500:
            raise Retryable(SERVER, f"HTTP {resp.status}")
        if not isinstance(payload, dict):
            raise BadAnswerError(f"{what}: the answer is not a JSON object")
        return resp.status, payload

    # --- the three operations ------------------------------------------------------------
    def search(self, obj: str, *, since_ms: int = 0, until_ms: int | None = None,
               properties=(), filters=()):
        """Every object of type ``obj`` with ``hs_timestamp`` in [since, until), each once, as
        result dicts (id, properties), read from both ends at once (search.py): in no set
        order."""
        return search_range(
            lambda body, what: self._post("search", obj, "search", body, what),
            self.retrier.remaining, obj, since_ms=since_ms, until_ms=until_ms,
            properties=properties, filters=filters)

    def read_history(self, obj: str, ids, properties=()) -> dict:
        """{id: (properties, owner history newest first)} for ``ids``, 50 a request."""
        ids, out = list(ids), {}
        for i in range(0, len(ids), READ_BATCH):
            chunk = ids[i:i + READ_BATCH]
            ans = self._post("read", obj, "batch/read", {
                "inputs": [{"id": x} for x in chunk], "properties": list(properties),
                "propertiesWithHistory": [_OWNER]}, f"HubSpot {obj} batch read")
            for r in ans.get("results") or ():
                hist = (r.get("propertiesWithHistory") or {}).get(_OWNER) or []
                out[str(r.get("id"))] = (r.get("properties") or {}, tuple(hist))
        return out

    def current_owners(self, obj: str, ids) -> dict:
        """{id: current hubspot_owner_id ("" when unassigned)} for ``ids`` (batch read, 50 a
        request); an id HubSpot does not return is absent."""
        ids, out = list(ids), {}
        for i in range(0, len(ids), READ_BATCH):
            chunk = ids[i:i + READ_BATCH]
            ans = self._post("read", obj, "batch/read", {
                "inputs": [{"id": x} for x in chunk], "properties": [_OWNER]},
                f"HubSpot {obj} batch read")
            for r in ans.get("results") or ():
                out[str(r.get("id"))] = str((r.get("properties") or {}).get(_OWNER) or "")
        return out

    def update_owners(self, obj: str, owners: dict) -> None:
        """Set ``hubspot_owner_id`` of each id in ``owners`` (at most 100: one request)."""
        assert len(owners) <= UPDATE_BATCH
        self._post("update", obj, "batch/update", {
            "inputs": [{"id": k, "properties": {_OWNER: v}} for k, v in owners.items()]},
            f"HubSpot {obj} batch update")


def _final(status: int, payload: dict, what: str, *, write: bool = False) -> Exception:
    msg = redact(str(payload.get("message") or ""))[:300]
    if status == 401:
        return AuthError(f"{what}: HubSpot refused the access token (HTTP 401): a bad or "
                         f"expired token; check HUBSPOT_ACCESS_TOKEN, a service key (made in "
                         f"{KEYS_PAGE}). {msg}".strip())
    if status == 403:
        need = (f"a repair or undo writes owners and needs {', '.join(WRITE_SCOPES)} too"
                if write else f"a repair or undo also needs {', '.join(WRITE_SCOPES)}")
        return AuthError(f"{what}: HubSpot denied access (HTTP 403): the service key lacks a "
                         f"scope. Give it, in {KEYS_PAGE}, the read scopes "
                         f"{', '.join(READ_SCOPES)} (impact and plan; calls and communications "
                         f"are read under the contacts scope); {need}. {msg}".strip())
    if status == 400 and payload.get("category") == "VALIDATION_ERROR":
        bad = set(re.findall(r"(\d+) was not a valid owner ID", str(payload.get("message"))))
        return CrmValidationError(f"{what}: HubSpot refused the values (HTTP 400): {msg}", bad)
    return SourceError(f"{what}: HubSpot answered HTTP {status}: {msg}")
