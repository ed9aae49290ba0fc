"""Aloware users: the public Users API plus the optional admin export (docs/design.md §2, issue 3).

``GET {base_url}/api/v1/webhook/users?api_token=…`` returns a JSON array (sometimes wrapped as
``{"data": [...]}``) of ``{id, name, email, agent_status, human_readable_agent_status}``, unpaginated.
``agent_status`` is presence, not account status: status and kind come from the admin export CSV
(``aloware.users_csv``: columns ``id``, ``status``, ``kind``, more allowed), joined on ``id``.

The join (``merge_export``):
- without an export, every API user is an active full user (status ``active``, kind ``user``);
- an API user found in the export takes its status and kind (and ``role`` when the export has one),
  whatever they are (the export is the only source of account status);
  an API user missing from the export (created after it was taken) is an active full user;
- a user in the export but **not in the API counts as deleted** (status ``deleted``), with the
  names and e-mail the export has (``first_name``/``last_name``/``name``/``email`` when present).
- names: the API's ``name`` is split at the first space into first and last name; when the export
  has ``first_name``/``last_name`` that join to the same name, the export's split is kept (so
  "Front Desk" stays one first name).

The token travels in the URL, so every message is built from a redacted URL and passes through
``redact``. Same retry policy as HubSpot (``retry.Retrier``); urllib3 does not retry on its own.

Adapter: network and the export file.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import AuthError, BadAnswerError, InputError, SourceError
from ...engine.models import (
    U_EMAIL, U_FIRST, U_ID, U_KIND, U_LAST, U_ROLE, U_STATUS, USER_KINDS, USER_STATUSES,
)
from ...redact import bounded, redact
from ...errors import Retryable
from .retry import RATE_LIMIT, SERVER, Retrier, connection_failure, retry_after_seconds

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["fetch_users", "fetch_user_rows", "read_export_rows", "merge_export_rows", "get_api_users", "api_users_frame", "read_export", "merge_export",
           "split_name", "USERS_PATH", "EXPORT_REQUIRED"]

USERS_PATH = "/api/v1/webhook/users"


class _RedactingFilter(logging.Filter):
    """urllib3 logs request lines (``GET /api/v1/webhook/users?api_token=… 200``) at DEBUG: a
    notebook that turns logging up must not see the token, so those records are redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_URLLIB3_LOG = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactingFilter) for f in _URLLIB3_LOG.filters):
    _URLLIB3_LOG.addFilter(_RedactingFilter())
EXPORT_REQUIRED = (U_ID, U_STATUS, U_KIND)
#: the export's columns usermap reads: no tab, CR or LF inside their values (other columns may
#: hold multi-line text)
EXPORT_STRICT = EXPORT_REQUIRED + (U_FIRST, U_LAST, "name", U_EMAIL, U_ROLE)
FRAME_COLUMNS = (U_ID, U_FIRST, U_LAST, U_EMAIL, U_STATUS, U_KIND, U_ROLE)


def _safe_url(base_url: str) -> str:
    """The endpoint for messages: no query string, so the token cannot ride along."""
    return redact(f"{base_url.rstrip('/')}{USERS_PATH}")


def split_name(name) -> tuple[str, str]:
    """"Ana Lima" → ("Ana", "Lima"); "Mary Ann Smith" → ("Mary", "Ann Smith"); "Cher" → ("Cher", "")."""
    parts = str(name or "").strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1] if len(parts) > 1 else "")


# --- the API -----------------------------------------------------------------------------------
def _pool(policy, watchdog=None):
    """A urllib3 pool without retries of its own; its connections are cut by ``watchdog``
    (``deadline.Watchdog``) when the fetch's deadline passes."""
    import urllib3

    from .deadline import install
    return install(urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(
        connect=policy.connect_timeout, read=policy.read_timeout), maxsize=2), watchdog)


def _attempt(pool, base_url: str, token: str, what: str, timeout=None) -> bytes:
    import urllib3
    url = f"{base_url.rstrip('/')}{USERS_PATH}"
    extra = {} if timeout is None else {
        "timeout": urllib3.Timeout(connect=timeout[0], read=timeout[1])}
    try:
        resp = pool.request("GET", url, fields={"api_token": token},
                            headers={"Accept": "application/json"}, preload_content=False,
                            **extra)
        body = resp.data           # a cut connection raises here
        resp.release_conn()
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as e:
        from urllib.parse import urlsplit
        try:
            where = urlsplit(url).netloc.rsplit("@", 1)[-1]
        except ValueError:
            where = ""
        err = connection_failure(e, where, "[aloware] base_url")
        raise (err if isinstance(err, Retryable) else SourceError(f"{what}: {err}")) from None
    status = resp.status
    if 200 <= status <= 299:
        return body
    snippet = bounded(body, 200).strip()
    if status in (401, 403):
        raise AuthError(f"{what}: Aloware refused the API token (HTTP {status}): a bad or revoked "
                        f"token; check ALOWARE_API_TOKEN. {snippet}".strip())
    if status == 429:
        raise Retryable(RATE_LIMIT, f"HTTP 429 {snippet}".strip(),
                        wait=retry_after_seconds(dict(resp.headers)))
    if 500 <= status <= 599:
        raise Retryable(SERVER, f"HTTP {status} {snippet}".strip())
    if status == 404:
        raise SourceError(f"{what}: no Users API there (HTTP 404); check aloware.base_url")
    raise SourceError(f"{what}: Aloware answered HTTP {status}: {snippet}")


def get_api_users(base_url: str, token: str, retrier: Retrier | None = None) -> list[dict]:
    """The Users API's list of user objects (unwrapped from ``{"data": ...}``), validated."""
    own = retrier is None
    retrier = retrier or Retrier()
    what = f"Aloware users (GET {_safe_url(base_url)})"
    pool = _pool(retrier.policy, retrier.watchdog)
    try:
        body = retrier.call(lambda: _attempt(pool, base_url, token, what, retrier.timeout()),
                            what)
    finally:
        pool.clear()
        if own:
            retrier.close()
    try:
        data = json.loads(body)
    except ValueError as e:
        start = bounded(body, 80)
        html = " (an HTML page, not the API)" if start.lstrip()[:1] == "<" else ""
        raise BadAnswerError(redact(f"{what}: the answer is not valid JSON{html} ({e}; "
                                    f"{len(body)} bytes starting {start!r})")) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise BadAnswerError(f"{what}: expected a JSON array of users (or {{\"data\": [...]}}), "
                             f"found {type(data).__name__}")
    check_user_objects(data, what)
    return data


_TEXT_FIELDS = ("email", "name", "first_name", "last_name")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_user_objects(data: list, what: str) -> None:
    """Every element a user object with a usable id (a non-empty string or integer; not a bool,
    list or object), ``email`` and names strings or null, no control character in any of them
    (the snapshot's CSV could not carry it faithfully: docs/decisions.md "Input files"), ids
    unique. Anything else is a BadAnswerError naming the endpoint, the element and the field."""
    def bad(i: int, field: str | None, detail: str):
        where = f"element {i + 1}" + (f", field {field!r}" if field else "")
        raise BadAnswerError(f"{what}: {where}: {detail}")

    seen: set[str] = set()
    for i, u in enumerate(data):
        if not isinstance(u, dict):
            bad(i, None, f"expected a user object, found {type(u).__name__}")
        uid = u.get("id")
        if uid is None or isinstance(uid, bool) or not isinstance(uid, (str, int)):
            bad(i, "id", f"expected a string or integer id, found {type(uid).__name__}")
        key = str(uid).strip()
        if key == "":
            bad(i, "id", "empty id")
        if _CONTROL.search(key):
            bad(i, "id", "a control character in the id")
        if key in seen:
            bad(i, "id", f"user id {key!r} appears twice")
        seen.add(key)
        for field in _TEXT_FIELDS:
            v = u.get(field)
            if v is not None and not isinstance(v, str):
                bad(i, field, f"expected a string or null, found {type(v).__name__}")
            if v and _CONTROL.search(v):
                ch = _CONTROL.search(v).group()
                bad(i, field, f"control character U+{ord(ch):04X} in the value (user {key!r})")


def api_users_frame(items: list[dict]) -> pd.DataFrame:
    """API user objects → users frame (every user active, kind user, until the export says)."""
    import pandas as pd
    ids, firsts, lasts, emails = [], [], [], []
    for u in items:
        ids.append(str(u["id"]).strip())
        if "first_name" in u or "last_name" in u:
            first, last = str(u.get("first_name") or ""), str(u.get("last_name") or "")
        else:
            first, last = split_name(u.get("name"))
        firsts.append(first)
        lasts.append(last)
        e = u.get("email")
        emails.append("" if e is None else str(e))
    n = len(ids)
    return pd.DataFrame({U_ID: ids, U_FIRST: firsts, U_LAST: lasts, U_EMAIL: emails,
                         U_STATUS: ["active"] * n, U_KIND: ["user"] * n, U_ROLE: [""] * n},
                        dtype=object)


# --- the admin export ------------------------------------------------------------------------
def read_export(path) -> pd.DataFrame:
    """The admin export CSV (id, status, kind; more allowed), validated: InputError (exit 2)
    names the file, the row and the column. The frame of ``read_export_rows``."""
    import pandas as pd
    header, rows = read_export_rows(path)
    return pd.DataFrame(rows, columns=header, dtype=object).reset_index(drop=True)


def merge_export(api: pd.DataFrame, export: pd.DataFrame | None) -> pd.DataFrame:
    """The users frame: API users with status/kind from the export, plus export-only users as
    deleted (see the module docstring for the rules)."""
    import pandas as pd
    if export is None:
        return api.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True)
    exp = export.set_index(U_ID, drop=False)
    out = api.copy()
    known = out[U_ID].isin(exp.index)
    ids = out.loc[known, U_ID]
    out.loc[known, U_STATUS] = exp.loc[ids, U_STATUS].to_numpy()
    out.loc[known, U_KIND] = exp.loc[ids, U_KIND].to_numpy()
    if U_ROLE in exp.columns:
        out.loc[known, U_ROLE] = exp.loc[ids, U_ROLE].to_numpy()
    if U_FIRST in exp.columns and U_LAST in exp.columns:
        ef = exp.loc[ids, U_FIRST].to_numpy()
        el = exp.loc[ids, U_LAST].to_numpy()
        api_name = (out.loc[known, U_FIRST] + " " + out.loc[known, U_LAST]).str.split().str.join(" ")
        exp_name = (pd.Series(ef, dtype=object) + " " + pd.Series(el, dtype=object)
                    ).str.split().str.join(" ").to_numpy()
        same = (api_name.to_numpy() == exp_name)
        idx = out.index[known][same]
        out.loc[idx, U_FIRST] = ef[same]
        out.loc[idx, U_LAST] = el[same]
    # users in the export but not in the API: deleted
    gone = exp[~exp[U_ID].isin(set(out[U_ID]))]
    if len(gone):
        if U_FIRST in gone.columns or U_LAST in gone.columns:
            first = gone.get(U_FIRST, pd.Series("", index=gone.index))
            last = gone.get(U_LAST, pd.Series("", index=gone.index))
        elif "name" in gone.columns:
            pairs = gone["name"].map(split_name)
            first, last = pairs.str[0], pairs.str[1]
        else:
            first = last = pd.Series("", index=gone.index)
        extra = pd.DataFrame({
            U_ID: gone[U_ID].to_numpy(), U_FIRST: first.to_numpy(), U_LAST: last.to_numpy(),
            U_EMAIL: gone[U_EMAIL].to_numpy() if U_EMAIL in gone.columns else "",
            U_STATUS: "deleted", U_KIND: gone[U_KIND].to_numpy(),
            U_ROLE: gone[U_ROLE].to_numpy() if U_ROLE in gone.columns else "",
        }, dtype=object)
        out = pd.concat([out, extra], ignore_index=True)
    return out.loc[:, list(FRAME_COLUMNS)].reset_index(drop=True)


def fetch_users(base_url: str, token: str, retrier: Retrier | None = None, *,
                export: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """(users frame, info): the API listing joined with the export (already read)."""
    items = get_api_users(base_url, token, retrier)
    users = merge_export(api_users_frame(items), export)
    info = {"api_users": len(items), "export_users": 0 if export is None else len(export),
            "deleted_from_export": len(users) - len(items)}
    return users, info


# --- the same without pandas: what `usermap fetch` uses (issue 11: nothing in the fetch path
# imports pandas; its import alone costs more than reading 100k owners) ----------------------
_RAW_CTRL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_FIELD_CTRL = re.compile("[\t\r\n]")


def _describe(ch: str) -> str:
    return f"control character U+{ord(ch):04X} ({ch!r})"


def read_export_rows(path) -> tuple[list[str], list[dict]]:
    """The admin export CSV as (header, rows of stripped-header dicts), validated with the rules
    of ``csvread.read_csv_validated`` + ``read_export`` (UTF-8, no control characters; tab, CR
    and LF only inside extra columns; the required columns; no duplicate column; every row with
    the header's number of fields; ids non-empty and unique; status and kind known), with the
    standard library only. ``InputError`` (exit 2) names the file, the row (its first line in
    the file) and the column. ``id`` is stripped, ``status`` and ``kind`` stripped and lower."""
    from ...files import read_regular_bytes
    path = Path(path)
    p = str(path)
    try:
        data = read_regular_bytes(path)
    except FileNotFoundError:
        raise InputError("file not found", file=p) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", file=p) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 (byte {data[e.start]:#04x} at offset {e.start})", file=p,
                         row=data.count(b"\n", 0, e.start) + 1) from None
    del data
    text = text[1:] if text.startswith("\ufeff") else text
    if not text.strip():
        raise InputError("empty file (expected a header row)", file=p, row=1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[dict] = []
    lines: list[int] = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            for k, v in enumerate(record):
                m = _RAW_CTRL.search(v)
                if m:
                    col = (f"header field {k + 1}" if header is None else
                           header[k] if k < len(header) else f"field {k + 1}")
                    raise InputError(f"{_describe(m.group())} inside a field; control "
                                     f"characters are not allowed", file=p,
                                     row=line + v[:m.start()].count("\n"), column=col)
            if not any(f.strip() for f in record) and len(record) <= 1:
                continue   # a blank line
            if header is None:
                header = [h.strip() for h in record]
                missing = [c for c in EXPORT_REQUIRED if c not in header]
                if missing:
                    raise InputError(f"missing column(s) {', '.join(missing)}; header is "
                                     f"{','.join(header)}", file=p, row=1, column=missing[0])
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes:
                    raise InputError("column appears twice in the header", file=p, row=1,
                                     column=dupes[0])
                strict = [k for k, h in enumerate(header) if h in EXPORT_STRICT]
                continue
            n = len(header)
            if len(record) > n:
                raise InputError(f"expected {n} fields, found {len(record)}", file=p, row=line)
            if len(record) < n:
                raise InputError(f"expected {n} fields, found {len(record)}: the row is short",
                                 file=p, row=line, column=header[len(record)])
            for k in strict:
                m = _FIELD_CTRL.search(record[k])
                if m:
                    raise InputError(f"{_describe(m.group())} inside the value; not allowed "
                                     f"in this column", file=p, row=line, column=header[k])
            rows.append(dict(zip(header, record)))
            lines.append(line)
    except csv.Error as e:
        if "end of data" in str(e) or "EOF" in str(e):
            raise InputError("a quoted field is never closed", file=p, row=start) from None
        raise InputError(f"cannot parse CSV: {e}", file=p, row=reader.line_num) from None
    seen: dict[str, int] = {}
    for r, line in zip(rows, lines):
        r[U_ID] = uid = r[U_ID].strip()
        r[U_STATUS] = r[U_STATUS].strip().lower()
        r[U_KIND] = r[U_KIND].strip().lower()
        if uid == "":
            raise InputError("empty value", file=p, row=line, column=U_ID)
        if uid in seen:
            raise InputError(f"user id {uid!r} appears twice (first on row {seen[uid]})",
                             file=p, row=line, column=U_ID)
        seen[uid] = line
    for col, allowed in ((U_STATUS, USER_STATUSES), (U_KIND, USER_KINDS)):
        for r, line in zip(rows, lines):
            if r[col] not in allowed:
                raise InputError(f"unknown value {r[col]!r}; expected one of "
                                 f"{', '.join(allowed)}", file=p, row=line, column=col)
    return header, rows


def _api_rows(items: list[dict]) -> list[dict]:
    """API user objects → user rows (dicts of FRAME_COLUMNS), as ``api_users_frame``."""
    out = []
    for u in items:
        if "first_name" in u or "last_name" in u:
            first, last = str(u.get("first_name") or ""), str(u.get("last_name") or "")
        else:
            first, last = split_name(u.get("name"))
        e = u.get("email")
        out.append({U_ID: str(u["id"]).strip(), U_FIRST: first, U_LAST: last,
                    U_EMAIL: "" if e is None else str(e), U_STATUS: "active", U_KIND: "user",
                    U_ROLE: ""})
    return out


def merge_export_rows(api: list[dict], export: list[dict] | None) -> list[dict]:
    """``merge_export`` on rows: API users with status/kind (and role) from the export, the
    export's first/last name when it joins to the same name, export-only users as deleted."""
    if export is None:
        return api
    exp = {r[U_ID]: r for r in export}
    for row in api:
        e = exp.get(row[U_ID])
        if e is None:
            continue
        row[U_STATUS], row[U_KIND] = e[U_STATUS], e[U_KIND]
        if U_ROLE in e:
            row[U_ROLE] = e[U_ROLE]
        if U_FIRST in e and U_LAST in e:
            if (" ".join(f"{row[U_FIRST]} {row[U_LAST]}".split())
                    == " ".join(f"{e[U_FIRST]} {e[U_LAST]}".split())):
                row[U_FIRST], row[U_LAST] = e[U_FIRST], e[U_LAST]
    listed = {r[U_ID] for r in api}
    out = list(api)
    for e in export:
        if e[U_ID] in listed:
            continue
        if U_FIRST in e or U_LAST in e:
            first, last = e.get(U_FIRST, ""), e.get(U_LAST, "")
        elif "name" in e:
            first, last = split_name(e["name"])
        else:
            first = last = ""
        out.append({U_ID: e[U_ID], U_FIRST: first, U_LAST: last, U_EMAIL: e.get(U_EMAIL, ""),
                    U_STATUS: "deleted", U_KIND: e[U_KIND], U_ROLE: e.get(U_ROLE, "")})
    return out


def fetch_user_rows(base_url: str, token: str, retrier: Retrier | None = None, *,
                    export: list[dict] | None = None) -> tuple[list[dict], dict]:
    """(user rows, info): ``fetch_users`` without pandas (``export`` from ``read_export_rows``)."""
    items = get_api_users(base_url, token, retrier)
    users = merge_export_rows(_api_rows(items), export)
    info = {"api_users": len(items), "export_users": 0 if export is None else len(export),
            "deleted_from_export": len(users) - len(items)}
    return users, info
