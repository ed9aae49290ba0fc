"""HubSpot owners through the official ``hubspot-api-client`` (docs/design.md §2, issue 3).

``fetch_owners(host, token)`` lists ``GET /crm/v3/owners/?limit=500&archived=false`` and then
``archived=true``, following ``paging.next.after`` as an opaque cursor, and returns every owner
object exactly as the API sent it (camelCase), active and archived together.

- Pages are read raw (``_preload_content=False`` + ``json.loads``): the client's model objects cost
  about 25 times the transfer on 100k owners.
- ``[fetch] total_seconds`` is a hard deadline: every request's read timeout is at most what is
  left of it, and the client's connections are cut when it passes (``deadline.Watchdog``), so a
  server trickling its answer ends the fetch at the deadline (exit 4).
- The client's urllib3 retries are switched off (``retry=False``): our ``Retrier`` decides, waits
  and counts. 429 waits as told; 5xx and cut connections back off; both bounded.
- 401 → ``AuthError`` (a bad or expired token); 403 → ``AuthError`` naming the missing
  ``crm.objects.owners.read`` scope. Anything that stops a listing half-way raises; the caller
  never sees a partial list.

Adapter: network only; the token is passed in (read from the environment by the caller) and never
appears in a message.
"""

from __future__ import annotations

import gc
import http.client
import json
import re
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter
from typing import Callable

from ..owners.dupkeys import repeated_key
from ...errors import AuthError, BadAnswerError, IncompleteListingError, SourceError
from ...engine.models import OWNER_TYPES
from ...redact import bounded, redact
from ...errors import RateLimitError, Retryable
from .retry import (
    MIGRATION, RATE_LIMIT, SERVER, Retrier, connection_failure, hubspot_rate_limit,
    retry_after_seconds,
)

__all__ = ["fetch_owners", "list_owners", "make_owners_api", "parse_page", "gc_paused",
           "OWNERS_SCOPE", "KEYS_PAGE", "PAGE_LIMIT"]

OWNERS_SCOPE = "crm.objects.owners.read"
KEYS_PAGE = "Settings > Integrations > Service keys"   # where HubSpot makes service keys
PAGE_LIMIT = 500          # the largest page the Owners API serves
MAX_PAGES = 20_000        # 10M owners: a listing longer than this is a server bug (cursor loop)


def make_owners_api(host: str, token: str, watchdog=None):
    """The official client's OwnersApi for ``host``, with urllib3's own retries disabled; with
    ``watchdog`` (``deadline.Watchdog``) its connections are cut when the fetch's deadline passes."""
    from hubspot import HubSpot
    client = HubSpot(access_token=token, host=host.rstrip("/"), retry=False)
    api = client.crm.owners.owners_api
    if watchdog is not None:
        from .deadline import install
        install(getattr(getattr(api.api_client, "rest_client", None), "pool_manager", None),
                watchdog)
    return api


def _error_details(body) -> str:
    """HubSpot's error JSON → "message (CATEGORY, correlationId …)"; raw text otherwise."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return bounded(body, 200)
    if not isinstance(data, dict):
        return bounded(body, 200)
    msg = str(data.get("message") or "").strip()
    extra = [str(data[k]) for k in ("category",) if data.get(k)]
    if data.get("correlationId"):
        extra.append(f"correlationId {data['correlationId']}")
    return bounded(msg + (f" ({', '.join(extra)})" if extra else ""), 200)


def _connection_errors() -> tuple:
    import urllib3
    return (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


def _json_body(body) -> dict | None:
    try:
        data = json.loads(body) if body else None
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _host_of(host: str) -> str:
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(host)
        return redact(parts.netloc.rsplit("@", 1)[-1] or host)
    except ValueError:
        return redact(host)


def _api_host(api) -> str:
    try:
        return _host_of(api.api_client.configuration.host)
    except AttributeError:
        return ""


def _classify(e, what: str, host: str = "") -> Exception:
    """An ApiException from the client → Retryable or a final SourceError."""
    status = getattr(e, "status", None) or 0
    details = _error_details(getattr(e, "body", None))
    if status == 401:
        return AuthError(f"{what}: HubSpot refused the access token (HTTP 401): a bad or expired "
                         f"token; check HUBSPOT_ACCESS_TOKEN, a service key (made in "
                         f"{KEYS_PAGE}). {details}".strip())
    if status == 403:
        return AuthError(f"{what}: HubSpot denied access (HTTP 403): the service key lacks the "
                         f"{OWNERS_SCOPE} scope; give it that scope in {KEYS_PAGE} (an OAuth "
                         f"app: reinstall it with the scope) and use the new token. "
                         f"{details}".strip())
    if status == 429:
        headers = dict(getattr(e, "headers", None) or {})
        policy, wait = hubspot_rate_limit(headers, _json_body(getattr(e, "body", None)))
        if policy == "DAILY":
            h = {k.lower(): v for k, v in headers.items()}
            limit = h.get("x-hubspot-ratelimit-daily")
            return RateLimitError(
                f"{what}: HubSpot's daily API limit of this portal is spent (HTTP 429, policy "
                f"DAILY{f', {limit} requests a day' if limit else ''}); it resets at midnight "
                f"(the account's time zone). Try again after that, or ask HubSpot for a higher "
                f"limit. {details}".strip())
        return Retryable(RATE_LIMIT, f"HTTP 429 {policy} {details}".strip(), wait=wait)
    if status == 477:   # "migration in progress": wait as Retry-After says
        said = {str(k).lower(): v for k, v in dict(getattr(e, "headers", None) or {}).items()}
        wait = retry_after_seconds({"Retry-After": said.get("retry-after", "")})
        return Retryable(MIGRATION, f"HTTP 477 (the HubSpot account is being migrated) "
                                    f"{details}".strip(), wait=wait)
    if 500 <= status <= 599:
        return Retryable(SERVER, f"HTTP {status} {details}".strip())
    if status == 0:   # the client's own wrapping of a TLS failure (rest.py: SSLError)
        reason = str(getattr(e, "reason", e))
        if "SSL" in reason or "TLS" in reason:
            return SourceError(redact(f"{what}: TLS error at {host}: the secure connection "
                                      f"could not be set up ({reason[:160]}); is it an https:// "
                                      f"URL for a plain HTTP server, or a certificate problem?"))
        return SourceError(f"{what}: {redact(reason)}")
    return SourceError(f"{what}: HubSpot answered HTTP {status}: {details}")


def _get_page(api, *, archived: bool, after: str | None, limit: int, timeout, what: str,
              host: str = "") -> dict:
    from hubspot.crm.owners.exceptions import ApiException
    kwargs = {"limit": limit, "archived": archived, "_preload_content": False,
              "_request_timeout": timeout}
    if after is not None:
        kwargs["after"] = after
    try:
        resp = api.get_page(**kwargs)
        body = resp.data          # reads the whole body; a cut connection raises here
        resp.release_conn()
    except ApiException as e:
        raise _classify(e, what, host or _api_host(api)) from None
    except AttributeError as e:
        # hubspot-api-client (12.0) wraps a TLS failure in ApiException(status=0) and then
        # fails on its own ``e.body.decode`` (body None): the ApiException is the context
        if isinstance(e.__context__, ApiException):
            raise _classify(e.__context__, what, host or _api_host(api)) from None
        raise
    except _connection_errors() as e:
        err = connection_failure(e, host or _api_host(api), "[hubspot] host")
        raise (err if isinstance(err, Retryable) else SourceError(f"{what}: {err}")) from None
    try:
        page, raw = parse_page(body)
    except ValueError as e:
        start = bounded(body, 80)
        html = " (an HTML page, not the API)" if start.lstrip()[:1] == "<" else ""
        raise BadAnswerError(redact(f"{what}: HubSpot returned a page that is not valid JSON"
                                    f"{html} ({e}; {len(body)} bytes starting {start!r})")
                             ) from None
    if not isinstance(page, dict):
        raise BadAnswerError(f"{what}: HubSpot returned an unexpected page: expected an object "
                             f"with a 'results' array, found {type(page).__name__}")
    if not isinstance(page.get("results"), list):
        raise BadAnswerError(f"{what}: HubSpot returned an unexpected page: field 'results': "
                             f"expected an array, found {type(page.get('results')).__name__}")
    paging = page.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    if (paging is not None and not isinstance(paging, dict)) or (
            nxt is not None and not isinstance(nxt, dict)) or (
            isinstance(nxt, dict) and not isinstance(nxt.get("after"), (str, type(None)))):
        raise BadAnswerError(f"{what}: HubSpot returned an unexpected page: field "
                             f"'paging.next.after': expected an object holding a string cursor")
    repeated = repeated_key(body, page)   # (json kept the last value of a repeated key)
    if repeated is not None:
        element, key = repeated
        where = f"element {element}" if element else "the page"
        raise BadAnswerError(f"{what}: {where}, field {key!r}: the key {key!r} appears twice "
                             f"in one object (JSON would keep only the last); the listing was "
                             f"discarded")
    return page, raw


_RESULTS_HEAD = re.compile(r'\s*\{\s*"results"\s*:\s*')
_DECODER = json.JSONDecoder()


def parse_page(body: bytes | str) -> tuple[dict, str | None]:
    """A page's JSON → (page, the raw text of its ``results`` array, or None).

    When the page starts with ``{"results":`` (as HubSpot's do), the array is decoded in place and
    its exact text kept, so the snapshot can store the owners byte for byte as sent without
    encoding 100k objects again; the rest of the page (``paging``) is decoded on its own.
    Raises ValueError (or UnicodeDecodeError) when the page is not JSON.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    m = _RESULTS_HEAD.match(text)
    if m:
        results, end = _DECODER.raw_decode(text, m.end())
        if isinstance(results, list):
            page = json.loads('{"results":0' + text[end:])
            page["results"] = results
            return page, text[m.end():end]
    return json.loads(text), None


def list_owners(api, retrier: Retrier, *, archived: bool, limit: int = PAGE_LIMIT,
                on_page: Callable[[int], None] | None = None, raw: list | None = None
                ) -> tuple[list[dict], int]:
    """Every owner of one listing (archived or not) and the number of pages; all or an error.

    ``raw``, when given, receives each page's ``results`` array text (None where not available).
    """
    label = "archived" if archived else "active"
    owners: list[dict] = []
    after: str | None = None
    seen: set[str] = set()
    pages = 0
    while True:
        pages += 1
        what = f"HubSpot owners ({label}), page {pages}"
        page, page_raw = retrier.call(
            lambda: _get_page(api, archived=archived, after=after, limit=limit,
                              timeout=retrier.timeout(), what=what),
            what, started_listing=pages > 1)
        results = page["results"]
        check_owner_objects(results, f"{what} (GET {OWNERS_PATH}?archived={str(archived).lower()})")
        owners.extend(results)
        if raw is not None:
            raw.append(page_raw)
        if on_page:
            on_page(len(results))
        nxt = ((page.get("paging") or {}).get("next") or {}).get("after")
        if nxt in (None, ""):
            return owners, pages
        nxt = str(nxt)
        if nxt in seen or pages >= MAX_PAGES:
            raise IncompleteListingError(f"{what}: the paging cursor repeats; the listing is "
                                         f"incomplete and was discarded")
        seen.add(nxt)
        after = nxt


OWNERS_PATH = "/crm/v3/owners/"


_NONE = type(None)


def check_owner_objects(results: list, what: str) -> None:
    """The owners of one page, validated as a snapshot's owners are (the rules of
    ``owners.frame.owners_frame``, checked here on the parsed lists so the fetch never needs pandas:
    objects with a non-empty string or integer id, ``archived`` a boolean, ``email`` and names
    strings, ``type`` PERSON or QUEUE, ``userId`` a number or null, ids unique): anything else is
    a BadAnswerError naming the endpoint, the element and the field, so a snapshot is never
    written that could not be read back."""
    found = owner_objects_problem(results)
    if found is not None:
        row, field, detail = found
        where = f"element {row}" if row is not None else "the page"
        field = f", field {field!r}" if field is not None else ""
        raise BadAnswerError(f"{what}: {where}{field}: {detail}")


def owner_objects_problem(results) -> tuple | None:
    """(element number, field, detail) of the first problem in a list of owner objects, or None.
    Column by column, in the order ``owners.frame.owners_frame`` checks them (same messages)."""
    if not isinstance(results, list):
        return None, None, f"expected an array of owner objects, found {type(results).__name__}"
    if not set(map(type, results)) <= {dict}:
        i = next(k for k, o in enumerate(results) if not isinstance(o, dict))
        return i + 1, None, f"expected an owner object, found {type(results[i]).__name__}"

    def column(field):
        try:
            return list(map(itemgetter(field), results))
        except KeyError:
            return list(map(dict.get, results, repeat(field)))

    def first_bad(values, ok, types):
        if set(map(type, values)) <= set(types):
            return -1
        return next((i for i, v in enumerate(values) if not ok(v)), -1)

    ids = column("id")
    i = first_bad(ids, lambda v: isinstance(v, (str, int)) and not isinstance(v, bool),
                  (str, int))
    if i < 0:
        keys = [v.strip() if isinstance(v, str) else str(v) for v in ids]
        i = keys.index("") if "" in keys else -1
    if i >= 0:
        return i + 1, "id", "missing or empty owner id"
    for field in ("email", "firstName", "lastName"):
        vals = column(field)
        i = first_bad(vals, lambda v: v is None or isinstance(v, str), (str, _NONE))
        if i >= 0:
            return i + 1, field, f"expected a string, found {type(vals[i]).__name__}"
    types = column("type")
    ok_type = (set(map(type, types)) <= {str, _NONE} and set(types) <= {None, *OWNER_TYPES})
    i = -1 if ok_type else next((k for k, v in enumerate(types) if not (
        v is None or (isinstance(v, str) and v.upper() in OWNER_TYPES))), -1)
    if i >= 0:
        return i + 1, "type", f"unknown owner type {types[i]!r}; expected PERSON or QUEUE"
    arch = column("archived")
    i = first_bad(arch, lambda v: v is None or isinstance(v, bool), (bool, _NONE))
    if i >= 0:
        return i + 1, "archived", f"expected true or false, found {arch[i]!r}"
    for field in ("userId", "userIdIncludingInactive"):
        vals = column(field)
        i = first_bad(vals, lambda v: v is None or (isinstance(v, (int, str))
                                                    and not isinstance(v, bool)),
                      (int, str, _NONE))
        if i >= 0:
            return i + 1, field, f"expected a number or null, found {vals[i]!r}"
    if len(set(keys)) != len(keys):
        seen: set = set()
        i = next(k for k, v in enumerate(keys) if v in seen or seen.add(v))
        return i + 1, "id", f"owner id {keys[i]!r} appears twice"
    return None


@contextmanager
def gc_paused():
    """The cyclic garbage collector off for a while: decoding 100k owners (acyclic dicts) with it
    on spends more time in collections than in ``json.loads`` itself."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def fetch_owners(host: str, token: str, retrier: Retrier | None = None, *,
                 limit: int = PAGE_LIMIT, progress: Callable[[str], object] | None = None,
                 raw: list | None = None) -> tuple[list[dict], dict]:
    """Both listings (active, then archived): (owners, info with page and owner counts).

    ``progress(label)`` may return an object with ``update(n)`` and ``close()`` (a tqdm bar).
    ``raw``, when given, receives the raw text of every page's ``results`` array (see
    ``parse_page``), in order.
    """
    own = retrier is None
    retrier = retrier or Retrier()
    try:
        return _fetch_both(host, token, retrier, limit, progress, raw)
    finally:
        if own:
            retrier.close()


def _fetch_both(host, token, retrier: Retrier, limit: int, progress, raw) -> tuple[list[dict], dict]:
    api = make_owners_api(host, token, retrier.watchdog)
    owners: list[dict] = []
    info = {"pages": {}, "owners": {}}
    with gc_paused():
        for archived in (False, True):
            label = "archived" if archived else "active"
            bar = progress(f"HubSpot owners ({label})") if progress else None
            try:
                got, pages = list_owners(api, retrier, archived=archived, limit=limit,
                                         on_page=bar.update if bar is not None else None, raw=raw)
            finally:
                if bar is not None:
                    bar.close()
            owners.extend(got)
            info["pages"][label] = pages
            info["owners"][label] = len(got)
    return owners, info
