"""``usermap fetch``: both directories into one snapshot folder, complete or not at all.

``fetch_snapshot(config, out)`` reads the admin export (if configured; a bad file is exit 2 before
any request), lists the Aloware users and both HubSpot owners listings, and only when all of them
are complete writes the snapshot (``aloware_users.csv``, ``hubspot_owners.json``) plus
``fetch.json`` (when, from where, counts, requests, retries) through a temporary folder that is
renamed when complete. A failure anywhere leaves no snapshot folder behind (and an older folder of
the same name untouched).

Progress bars (tqdm) appear on a terminal or in a notebook and nowhere else; their text carries no
URL and passes through ``redact``. Tokens come from the environment (``config.secret``) and are
never written: fetch.json records the host and base URL only, stripped of any user info or query.

Adapter: wires the sources and the snapshot writer.
"""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ...errors import SourceError
from ...redact import redact
from . import aloware, hubspot
from .retry import Retrier, RetryPolicy

__all__ = ["fetch_snapshot", "interactive", "public_url", "policy_for"]

from ...engine.models import OWNERS_FILE, USERS_FILE  # noqa: E402 - (snapshot.py has the same names)


def policy_for(config) -> RetryPolicy:
    """The retry bounds and timeouts of ``config``'s ``[fetch]`` section (defaults without)."""
    from dataclasses import asdict
    f = getattr(config, "fetch", None)
    return RetryPolicy(**asdict(f)) if f is not None else RetryPolicy()


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (what fetch.json may record)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return redact(urlunsplit((parts.scheme, netloc, parts.path, "", "")))
    except ValueError:
        return redact(url.split("?", 1)[0])


def interactive() -> bool:
    """A terminal on stderr, or a Jupyter kernel (where tqdm draws a widget)."""
    try:   # a kernel has IPython loaded already: never import it (40 ms) just to ask
        ipython = sys.modules.get("IPython")
        shell = ipython.get_ipython() if ipython is not None else None
        if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell":
            return True
    except Exception:  # IPython absent or broken: not a notebook
        pass
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _progress_factory(enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    def make(label: str):
        return tqdm(desc=redact(label), unit=" owners" if "owners" in label else " users",
                    leave=False, dynamic_ncols=True)
    return make


def fetch_snapshot(config, out, *, policy: RetryPolicy | None = None,
                   progress: bool | None = None, page_limit: int = hubspot.PAGE_LIMIT) -> dict:
    """Fetch both directories into the snapshot folder ``out``; return what fetch.json says.

    ``progress``: None = bars when interactive; True/False to force. ``policy`` bounds retries
    (default: the config's ``[fetch]`` section, see ``policy_for``); its ``total_seconds`` is a
    hard deadline for the whole fetch, slow reads included (``deadline.Watchdog``).
    Raises SourceError (exit 4) when a source fails, InputError (exit 2) for a bad export or a
    missing token; in both cases nothing is written.
    """
    from ...config import secret

    out = Path(out)
    hs_token = secret("HUBSPOT_ACCESS_TOKEN", required=True)
    al_token = secret("ALOWARE_API_TOKEN", required=True)
    export = None
    export_path = ""
    if config.aloware.users_csv:
        export_path = str(config.resolve(config.aloware.users_csv))
        export = aloware.read_export_rows(export_path)[1]

    started = time.monotonic()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    retrier = Retrier(policy or policy_for(config))
    try:
        return _fetch(config, out, retrier, export, page_limit, started, when,
                      _progress_factory(interactive() if progress is None else progress),
                      hs_token, al_token)
    finally:
        retrier.close()     # the deadline's watchdog (sources/deadline.py)


def _fetch(config, out: Path, retrier: Retrier, export, page_limit: int, started: float,
           when: str, make_bar, hs_token: str, al_token: str) -> dict:

    bar = make_bar("Aloware users") if make_bar else None
    try:
        users, al_info = aloware.fetch_user_rows(config.aloware.base_url, al_token, retrier,
                                                 export=export)
        if bar is not None:
            bar.update(al_info["api_users"])
    finally:
        if bar is not None:
            bar.close()
    al_requests, al_retries = retrier.requests, retrier.retries

    raw: list = []
    owners, hs_info = hubspot.fetch_owners(config.hubspot.host, hs_token, retrier,
                                           limit=page_limit, progress=make_bar, raw=raw)
    _check_owner_ids(owners)
    if retrier.remaining() <= 0 or retrier.watchdog.fired:
        raise SourceError(f"the time budget of {retrier.policy.total_seconds:g} s for the fetch "
                          f"ran out; nothing was written")
    fetched = time.monotonic()

    info = {
        "fetched_at": when,
        "hubspot": {"host": public_url(config.hubspot.host), **hs_info,
                    "requests": retrier.requests - al_requests,
                    "retries": retrier.retries - al_retries},
        "aloware": {"base_url": public_url(config.aloware.base_url),
                    "users_csv": config.aloware.users_csv,
                    **al_info, "requests": al_requests, "retries": al_retries},
        "counts": {"aloware_users": len(users), "hubspot_owners": len(owners)},
        "requests": retrier.requests,
        "retries": retrier.retries,
        "retries_by_cause": dict(retrier.causes),
        "seconds_waited": round(retrier.waited, 3),
        "waits": list(retrier.waits),          # each: request, cause, detail, seconds, attempt
        "seconds": round(fetched - started, 3),
    }
    with hubspot.gc_paused():
        owners_json = _owners_json(owners, raw)
        _refuse_lone_surrogates(users, owners, owners_json)
        _write(out, users, owners_json, info)
    return info


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_lone_surrogates(users: list[dict], owners: list[dict], owners_json: str) -> None:
    """A lone UTF-16 surrogate in any text from either API ("\\ud800" alone in the JSON decodes
    to a string no file can hold as UTF-8) is a SourceError (exit 4) naming the record and the
    field, before anything is written: the snapshot would be refused by every later command
    (or not written at all). One C-speed look for the common case of none."""
    from itertools import chain
    text = "\0".join(v for v in chain.from_iterable(map(dict.values, users)) if type(v) is str)
    if not text.isascii() and _SURROGATE.search(text):   # (isascii: no scan, str knows)
        _name_the_record(users, "Aloware user")
    if (not owners_json.isascii() and _SURROGATE.search(owners_json)) or (
            _SURROGATE_ESCAPE.search(owners_json)
                                          and any(_has_surrogate(o) for o in owners)):
        _name_the_record(owners, "HubSpot owner")


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(map(_has_surrogate, items))


def _name_the_record(records: list[dict], what: str) -> None:
    for i, r in enumerate(records, start=1):
        for field, v in r.items():
            if _has_surrogate(v):
                rid = r.get("id")
                who = f"{what} {redact(repr(str(rid)))}" if rid not in (None, "") else \
                    f"{what} number {i}"
                raise SourceError(f"{who}, field {field!r}: not valid text (a lone UTF-16 "
                                  f"surrogate, \\ud800-\\udfff, that is half of a character); "
                                  f"nothing was written")


def _check_owner_ids(owners: list[dict]) -> None:
    """Every owner has an id, and no id is listed twice (across both listings)."""
    ids = [str(o.get("id")) for o in owners]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise SourceError(f"HubSpot listed owner {dup!r} twice (in both listings, or on two "
                          f"pages); the listing is inconsistent and was discarded")


def _owners_json(owners: list[dict], raw: list) -> str:
    """hubspot_owners.json's text: the pages' own ``results`` text joined into one array when
    every page kept it (the owners exactly as sent, no second encoding), else ``json.dumps``."""
    import json
    if raw and all(r is not None for r in raw):
        inner = [r.strip()[1:-1].strip() for r in raw]
        return "[" + ",".join(i for i in inner if i) + "]"
    return json.dumps(owners, ensure_ascii=False, separators=(",", ":"))


def _write(out: Path, users, owners_json: str, info: dict) -> None:
    """The snapshot of docs/design.md §6 plus fetch.json, atomically (temp folder, then rename).

    Same files as ``snapshot.write_snapshot``, but the owners arrive as JSON text already
    (``json.dump`` there streams through the pure-Python encoder: about 1 s per 100k owners,
    more than the whole transfer), and the users are rows written by the ``csv`` module (the
    same text as pandas' ``to_csv``: minimal quoting, LF), so the fetch never imports pandas.
    """
    import csv
    import json

    from ...files import write_atomic
    from ...engine.models import U_ROLE, USER_CSV_COLUMNS

    def write(tmp: Path) -> None:
        cols = list(USER_CSV_COLUMNS) + [U_ROLE]
        with open(tmp / USERS_FILE, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(cols)
            w.writerows([r.get(c, "") for c in cols] for r in users)
        (tmp / OWNERS_FILE).write_text(owners_json, encoding="utf-8")
        (tmp / "fetch.json").write_text(json.dumps(info, indent=2, default=str) + "\n",
                                        encoding="utf-8")
    write_atomic(out, write)
