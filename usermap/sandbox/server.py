"""The sandbox: one local HTTP server that speaks HubSpot's Owners and CRM objects APIs and
Aloware's Users API. ``usermap sandbox`` and tests use the same class::

    with SandboxServer(world.users, world.owners, error_rate=0.2, seed=3) as srv:
        srv.base_url                      # http://127.0.0.1:PORT (port 0 picks a free one)
        srv.stats["requests"]             # counters: requests, hubspot, aloware, 429, 5xx, drops…

What it serves, on 127.0.0.1 only:

- ``GET /crm/v3/owners/?limit=&after=&archived=&email=``: HubSpot's Owners API v3. Owner objects
  exactly as given (camelCase; active ones in ``archived=false``, archived ones only in
  ``archived=true``), ``limit`` 1–500 (default 100; anything else is a 400 ``VALIDATION_ERROR``
  in HubSpot's error JSON with ``status``, ``message``, ``correlationId``, ``category``), opaque
  ``after`` cursors (salted base64, not offsets), ``paging.next.after``/``link``, Bearer auth
  (401 ``INVALID_AUTHENTICATION``, or 403 ``MISSING_SCOPES`` naming ``crm.objects.owners.read``
  when built with ``missing_scope=True``) and ``X-HubSpot-RateLimit-*`` headers on every answer.
  ``GET /crm/v3/owners/{id}?archived=&idProperty=`` returns one owner or a 404. The same at
  ``/crm/owners/2026-03`` (the date-versioned path).
- ``POST /crm/v3/objects/{calls|communications}/{search|batch/read|batch/update}`` and the same
  under ``/crm/objects/2026-03/``: the calls and SMS of ``crm=CrmObjects(...)`` (crm.py says how).
- ``GET /api/v1/webhook/users?api_token=…``: Aloware's Users API, a JSON array (or
  ``{"data": [...]}`` with ``aloware_wrap=True``) of ``{id, name, email, agent_status,
  human_readable_agent_status}``. Users whose status is ``deleted`` are not listed: they exist only
  in the admin export (``write_export``), as in real life.

Tokens: demanded only when ``HUBSPOT_ACCESS_TOKEN`` / ``ALOWARE_API_TOKEN`` are set in the
server's environment (or passed to the class); otherwise any token is taken. Tokens never reach
a log line: request lines are redacted.

HubSpot answers carry ``X-HubSpot-RateLimit-{Max,Remaining,Interval-Milliseconds,Daily,
Daily-Remaining}`` (190 per 10 s and 250,000 a day unless told otherwise) and
``X-HubSpot-Correlation-Id``. Archived owners are served with ``userId`` null (HubSpot's owners
guide), whatever the world says; ``AGENT_STATUSES`` are Aloware's presence codes as its Users API
documentation lists them.

Faults, drawn from a ``random.Random(seed)`` once per request in arrival order, so a single client
sees the same faults on every run: ``rate_limit`` N requests per ``rate_window`` (10 s) per API,
then 429 (HubSpot's: no ``Retry-After``, a body with ``policyName`` TEN_SECONDLY_ROLLING;
Aloware's: ``Retry-After``); ``daily_limit`` HubSpot requests, then 429 ``policyName`` DAILY;
``migrating`` K: the first K HubSpot requests are 477 with ``Retry-After: 1`` (with
``retry_after_date`` every ``Retry-After`` is an HTTP-date, and HubSpot's 429 gets one);
``error_rate`` P answers 500/502/503/504; ``drop_rate`` P cuts the connection half-way through the body (a CRM
update is applied first); ``latency_ms`` before every answer; ``trickle_ms`` sends every answer
one byte at a time, ``trickle_ms`` apart (a server too slow for any deadline; bounded:
``TRICKLE_MAX_SECONDS`` per answer); ``cut_after`` K cuts every owners page after page K (the
listing can never complete); ``max_seconds`` stops the server. The CRM search is exempt from ``rate_limit``: it has
its own (``CrmObjects.search_rate``), 429 ``policyName`` SECONDLY; the daily limit is shared.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter, deque
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd

from ..errors import InputError
from ..engine.models import (OWNERS_FILE, U_EMAIL, U_FIRST, U_ID, U_KIND, U_LAST, U_ROLE,
                             U_STATUS, USERS_FILE)
from ..redact import MASK, redact
from .crm import CrmObjects
from .crmquery import crm_route, crm_scope
from .faults import OWNERS_SCOPE, _Faults
from .transport import _Handler, _HTTPServer

__all__ = ["SandboxServer", "FROM_ENV", "OWNERS_PATH", "OWNERS_DATED", "USERS_PATH"]

FROM_ENV = object()   # a token argument that means "read it from the environment"
OWNERS_PATH = "/crm/v3/owners/"
OWNERS_DATED = "/crm/owners/2026-03"    # the date-versioned owners path: the same answers
USERS_PATH = "/api/v1/webhook/users"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
DAILY_LIMIT = 250_000          # HubSpot's daily limit of a Free/Starter portal's private apps
TRICKLE_MAX_SECONDS = 300.0   # a trickled answer is cut after this, finished or not
EXPORT_COLUMNS = (U_ID, U_STATUS, U_KIND, U_ROLE, U_FIRST, U_LAST, U_EMAIL)
# Aloware's agent_status codes and labels (unverified: Aloware publishes no table; design §2)
AGENT_STATUSES = {0: "Offline", 1: "Available", 2: "Busy", 3: "On Break", 4: "On Call",
                  5: "Wrap-up", 6: "Ringing"}
_PRESENCE = tuple(AGENT_STATUSES.items())


class SandboxServer(_Faults):
    """An in-process sandbox; ``start()`` serves in a thread, ``stop()`` ends it.

    ``users`` is a users frame (id, first_name, last_name, email, status, kind, role) and
    ``owners`` a list of Owners API objects (active and archived together). The answers that
    refuse or fail a request (401, 403, 429, injected 5xx, broken JSON) and HubSpot's rate-limit
    headers are in faults.py (``_Faults``).
    """

    def __init__(self, users: pd.DataFrame, owners: list[dict], *, seed: int = 0,
                 host: str = "127.0.0.1", port: int = 0,
                 hubspot_token=FROM_ENV, aloware_token=FROM_ENV, missing_scope: bool = False,
                 rate_limit: int = 0, rate_window: float = 10.0, error_rate: float = 0.0,
                 drop_rate: float = 0.0, latency_ms: float = 0.0, cut_after: int = 0,
                 trickle_ms: float = 0.0, daily_limit: int = DAILY_LIMIT, migrating: int = 0,
                 aloware_wrap: bool = False, broken_json: tuple | set = (),
                 retry_after_date: bool = False, log=None, verbose: bool = False,
                 crm: CrmObjects | None = None):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the sandbox serves on loopback only")
        for name, p in (("error_rate", error_rate), ("drop_rate", drop_rate)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if rate_limit < 0 or latency_ms < 0 or cut_after < 0 or rate_window <= 0:
            raise ValueError("rate_limit, latency_ms and cut_after must not be negative")
        if daily_limit < 1 or migrating < 0:
            raise ValueError("daily_limit must be at least 1, migrating not negative")
        if not 0 <= trickle_ms <= 60_000:
            raise ValueError("trickle_ms must be between 0 and 60000")
        self.seed = seed
        self._host, self._port = host, port
        self.hubspot_token = (os.environ.get("HUBSPOT_ACCESS_TOKEN") or None
                              if hubspot_token is FROM_ENV else (hubspot_token or None))
        self.aloware_token = (os.environ.get("ALOWARE_API_TOKEN") or None
                              if aloware_token is FROM_ENV else (aloware_token or None))
        self.missing_scope = missing_scope
        self.rate_limit, self.rate_window = int(rate_limit), float(rate_window)
        self.error_rate, self.drop_rate = float(error_rate), float(drop_rate)
        self.latency = float(latency_ms) / 1000.0
        self.trickle = float(trickle_ms) / 1000.0
        self.cut_after = int(cut_after)
        self.daily_limit, self.migrating = int(daily_limit), int(migrating)
        self.aloware_wrap, self.retry_after_date = aloware_wrap, bool(retry_after_date)
        self.broken_json = set(broken_json)
        self._log_fn, self._verbose = log, verbose
        self.crm = crm if crm is not None else CrmObjects()   # calls and SMS (crm.py)

        self.users = users.reset_index(drop=True)
        self.owners = list(owners)
        self._salt = hashlib.sha256(f"usermap-sandbox-{seed}".encode()).hexdigest()[:10]
        self._prepare()

        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.stats: Counter = Counter()
        self._windows = {"hubspot": deque(), "aloware": deque()}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # --- construction helpers ----------------------------------------------------------------
    @classmethod
    def from_snapshot(cls, directory, **kw) -> "SandboxServer":
        """Serve a snapshot folder (aloware_users.csv, hubspot_owners.json) as it is."""
        from ..sources.owners.frame import owners_frame
        from ..sources.snapshot import read_users_csv
        d = Path(directory)
        if not d.is_dir():
            raise InputError("snapshot folder not found; give a folder `usermap fetch --out DIR` "
                             "wrote, or leave out --snapshot to serve a generated world",
                             file=str(d))
        users = read_users_csv(d / USERS_FILE)
        path = d / OWNERS_FILE
        from ..files import read_regular_bytes
        try:
            owners = json.loads(read_regular_bytes(path).decode("utf-8"))
        except FileNotFoundError:
            raise InputError("file not found", file=str(path)) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"not valid JSON: {e}", file=str(path)) from None
        owners_frame(owners, source=str(path))   # validates
        return cls(users, owners, **kw)

    def _prepare(self) -> None:
        enc = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        self._listing = {False: [], True: []}
        self._by_id: dict[str, dict] = {}
        for o in self.owners:
            archived = bool(o.get("archived", False))
            if archived and type(o.get("userId")) in (int, str):   # (a test's bad value stays)
                # HubSpot's owners guide: an archived owner's userId is null (its user is gone;
                # userIdIncludingInactive keeps the number). Served so, whatever the world says.
                o = dict(o, userId=None)
            self._listing[archived].append((o, enc(o).encode("utf-8")))
            self._by_id[str(o.get("id"))] = o
        u = self.users
        served = u[u[U_STATUS].astype(str) != "deleted"] if len(u) else u
        items = []
        rng = random.Random(f"presence-{self.seed}")
        for uid, first, last, email in zip(served[U_ID], served[U_FIRST], served[U_LAST],
                                           served[U_EMAIL]):
            code, label = _PRESENCE[rng.randrange(len(_PRESENCE))]
            sid = str(uid)
            items.append({"id": int(sid) if sid.isdigit() else sid,
                          "name": f"{first or ''} {last or ''}".strip(),
                          "email": email if isinstance(email, str) else "",
                          "agent_status": code, "human_readable_agent_status": label})
        self._aloware_body = {
            False: json.dumps(items, ensure_ascii=False).encode("utf-8"),
            True: json.dumps({"data": items}, ensure_ascii=False).encode("utf-8"),
        }
        self.counts = {"owners_active_listing": len(self._listing[False]),
                       "owners_archived_listing": len(self._listing[True]),
                       "aloware_api_users": len(items),
                       "aloware_deleted_users": int(len(u) - len(items))}

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        host = "[::1]" if self._host == "::1" else "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> int:
        return self.stats["requests"]

    def start(self, max_seconds: float | None = None) -> "SandboxServer":
        if self._httpd is not None:
            return self
        httpd = _HTTPServer(("127.0.0.1" if self._host == "localhost" else self._host,
                             self._port), _Handler, self)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="usermap-sandbox", daemon=True)
        self._thread.start()
        if max_seconds is not None:
            self._timer = threading.Timer(max_seconds, self.stop)
            self._timer.daemon = True
            self._timer.start()
        return self

    def stop(self) -> None:
        if self._httpd is None or self._stopped.is_set():
            self._stopped.set()
            return
        self._stopped.set()
        if self._timer is not None and threading.current_thread() is not self._timer:
            self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stops (max_seconds or stop()); True if it stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- files for clients ---------------------------------------------------------------------
    def config_toml(self, users_csv: str | None = None) -> str:
        url = self.base_url
        lines = [f"# usermap.toml for the usermap sandbox at {url}",
                 "# tokens come from HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN in the environment",
                 "[hubspot]", f'host = "{url}"', "", "[aloware]", f'base_url = "{url}"']
        if users_csv:
            lines.append(f"users_csv = {json.dumps(str(users_csv))}")
        else:
            lines.append('users_csv = ""   # --config-out also writes the admin export')
        return "\n".join(lines) + "\n"

    def write_export(self, path) -> Path:
        """The admin export of the served users (id, status, kind, role, names, e-mail),
        deleted users included: they are missing from the API listing, present here."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        df = self.users.copy()
        for c in EXPORT_COLUMNS:
            if c not in df.columns:
                df[c] = ""
        df.loc[:, list(EXPORT_COLUMNS)].to_csv(path, index=False, lineterminator="\n")
        return path

    # --- request handling ---------------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        s = redact(text)
        for t in (self.hubspot_token, self.aloware_token):
            if t:
                s = s.replace(t, MASK)
        return s

    def _log(self, text: str, every: bool = False) -> None:
        if self._log_fn is None or (every and not self._verbose):
            return
        self._log_fn(self._scrub(text))

    def _send(self, h, status: int, payload, *, headers: dict | None = None,
              content_type: str = "application/json;charset=utf-8", cut: bool = False) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h._headers_buffer.append(b"\r\n")     # end_headers() without its separate write:
        head = b"".join(h._headers_buffer)        # head and body leave in one send
        h._headers_buffer = []
        if cut:   # half the body, then the connection goes: the client must notice
            h.wfile.write(head + body[:max(1, len(body) // 2)])
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        with self._lock:   # counted before the client can see the answer
            self.stats[f"status_{status}"] += 1
        if self.trickle:
            self._trickle(h, head + body)
            return
        h.wfile.write(head + body)

    def _trickle(self, h, data: bytes) -> None:
        """``data`` one byte every ``trickle`` seconds; bounded in time, ends with the server."""
        with self._lock:
            self.stats["trickles"] += 1
        give_up = time.monotonic() + TRICKLE_MAX_SECONDS
        h.close_connection = True
        for i in range(len(data)):
            if self._stopped.is_set() or time.monotonic() > give_up:
                break
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
            with self._lock:
                self.stats["trickled_bytes"] += 1
            if self._stopped.wait(self.trickle):
                break
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self, h) -> None:
        url = urlsplit(h.path)
        path, q = url.path, parse_qs(url.query, keep_blank_values=True)
        with self._lock:
            self.stats["requests"] += 1
            r_error, r_drop, r_kind = self._rng.random(), self._rng.random(), self._rng.random()
            corr = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        if self.latency:
            time.sleep(self.latency)
        api = self._api_of(path)
        if api is None:
            return self._not_found(h, corr)
        route = crm_route(path)
        if (h.command == "POST") != (route is not None):
            return h.refuse_method("POST" if route else "GET")
        with self._lock:
            self.stats[api] += 1
        now = h.arrived or time.monotonic()       # the rate windows count arrivals
        if not self._authorized(api, h, q):
            self._refuse_token(h, api, corr)
            return
        if api == "hubspot" and self._refused_hubspot(h, corr, crm_scope(route) if route
                                                      else OWNERS_SCOPE):
            return
        search = route is not None and route[1] == "search"   # its own rate; no rate headers
        wait = self.crm.search_wait(now) if search else self._rate_check(api, now)
        if wait is not None:
            self._refuse_rate(h, api, wait, corr, policy="SECONDLY" if search else "")
            return
        rate_headers = self._rate_headers("search" if search else api, corr)
        if r_error < self.error_rate:
            self._injected_error(h, api, (500, 502, 503, 504)[int(r_kind * 4)], corr,
                                 rate_headers)
            return
        drop = r_drop < self.drop_rate
        if api == "aloware":
            self._serve_users(h, drop)
        elif route is not None:
            self._serve_crm(h, route, q, corr, drop, rate_headers)
        else:
            base = OWNERS_PATH if path.startswith("/crm/v3/") else OWNERS_DATED
            rest = path[len(base.rstrip("/")):].strip("/")
            if rest:
                self._serve_owner(h, rest, q, corr, drop, rate_headers)
            else:
                self._serve_owners(h, q, corr, drop, rate_headers, base)

    @staticmethod
    def _api_of(path: str) -> str | None:
        """"hubspot", "aloware", or None for a path neither API has."""
        if any(path.rstrip("/") == b or path.startswith(b + "/")
               for b in (OWNERS_PATH.rstrip("/"), OWNERS_DATED)) or crm_route(path):
            return "hubspot"
        if path.rstrip("/") == USERS_PATH:
            return "aloware"
        return None

    def _serve_users(self, h, drop: bool) -> None:
        body = self._maybe_broken("aloware", self._aloware_body[self.aloware_wrap])
        self._send(h, 200, body, cut=self._dropping("aloware", drop))

    def _cursor(self, archived: bool, offset: int) -> str:
        raw = f"{self._salt}:{int(archived)}:{offset}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _offset(self, cursor: str, archived: bool) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            salt, arch, off = raw.split(":")
            if salt != self._salt or arch != str(int(archived)) or int(off) < 0:
                return None
            return int(off)
        except (ValueError, UnicodeDecodeError):
            return None

    def _serve_crm(self, h, route, q, corr: str, drop: bool, rate_headers: dict) -> None:
        status, payload = self.crm.answer(route, h.body, q, self._by_id)
        if status >= 400:
            payload = dict(payload, correlationId=corr)
            with self._lock:
                self.stats[str(status)] += 1
            self._log(f"{status} hubspot {route[0]}/{route[1]}: {payload['message'][:200]}")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(h, status, self._maybe_broken("hubspot", body), headers=rate_headers,
                   cut=self._dropping("hubspot", drop))

    def _serve_owners(self, h, q, corr: str, drop: bool, rate_headers: dict,
                      base: str = OWNERS_PATH) -> None:
        def bad(message):
            with self._lock:
                self.stats["400"] += 1
            self._log(f"400 hubspot: {message}")
            self._send(h, 400, self._hs_error(message, "VALIDATION_ERROR", corr),
                       headers=rate_headers)

        raw_limit = (q.get("limit") or [str(DEFAULT_LIMIT)])[-1]
        try:
            limit = int(raw_limit)
        except ValueError:
            return bad(f"Unable to parse limit: '{raw_limit}' is not a number")
        if not 1 <= limit <= MAX_LIMIT:
            return bad(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        raw_arch = (q.get("archived") or ["false"])[-1].strip().lower()
        if raw_arch not in ("true", "false"):
            return bad(f"Unable to parse archived: '{raw_arch}' is not a boolean")
        archived = raw_arch == "true"
        offset = 0
        if q.get("after") and q["after"][-1] != "":
            offset = self._offset(q["after"][-1], archived)
            if offset is None:
                return bad("Invalid input JSON: the 'after' paging cursor is not valid")
        listing = self._listing[archived]
        if q.get("email"):
            want = q["email"][-1].strip().lower()
            listing = [(o, b) for o, b in listing if str(o.get("email") or "").lower() == want]
        page = listing[offset:offset + limit]
        body = b'{"results":[' + b",".join(b for _, b in page) + b"]"
        nxt = offset + limit
        if nxt < len(listing):
            cursor = self._cursor(archived, nxt)
            link = (f"{self.base_url}{base}?after={quote(cursor)}&limit={limit}"
                    f"&archived={str(archived).lower()}")
            body += (',"paging":{"next":{"after":' + json.dumps(cursor) + ',"link":'
                     + json.dumps(link) + "}}").encode()
        body += b"}"
        cut = bool(self.cut_after and offset >= self.cut_after * limit)
        if cut:
            with self._lock:
                self.stats["cuts"] += 1
            self._log(f"cut hubspot: owners listing cut after page {self.cut_after}")
        cut = cut or self._dropping("hubspot", drop)
        self._send(h, 200, self._maybe_broken("hubspot", body), headers=rate_headers, cut=cut)

    def _serve_owner(self, h, owner_id: str, q, corr: str, drop: bool, rate_headers) -> None:
        owner_id = owner_id.strip("/")
        archived = (q.get("archived") or ["false"])[-1].strip().lower() == "true"
        prop = (q.get("idProperty") or ["id"])[-1]
        found = None
        if prop == "userId":
            found = next((o for o in self.owners if str(o.get("userId")) == owner_id
                          and bool(o.get("archived", False)) == archived), None)
        elif prop == "id":
            o = self._by_id.get(owner_id)
            found = o if o is not None and bool(o.get("archived", False)) == archived else None
        else:
            return self._send(h, 400, self._hs_error(f"Unknown idProperty '{prop}'", "VALIDATION_"
                                                     "ERROR", corr), headers=rate_headers)
        if found is None:
            return self._send(h, 404, self._hs_error("Resource not found", "OBJECT_NOT_FOUND",
                                                     corr), headers=rate_headers)
        self._send(h, 200, json.dumps(found, ensure_ascii=False).encode("utf-8"),
                   headers=rate_headers, cut=self._dropping("hubspot", drop))

