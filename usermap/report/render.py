"""Rendering of the report model (docs/design.md §8): the ONE Jinja environment, used for
``Report`` (report.html.j2, email.html.j2, email.txt.j2), ``FailureReport`` (failure.html.j2,
failure.txt.j2) and ``RepairRunReport`` (repair_run.html.j2 with the report's stylesheet and no
script, repair_run_email.html.j2, repair_run.txt.j2), and ``templates_dir`` (which asks ``usermap.resources``:
$USERMAP_TEMPLATES, the checkout's reports/templates, or the installed package's copy).

The environment: ``autoescape=True`` (``select_autoescape()`` would not escape ``*.j2`` files)
and ``StrictUndefined``. The plain-text templates turn escaping off inside themselves with
``{% autoescape false %}``: text/plain has no markup to escape.

The page embeds every table as compact JSON through ``|tojson`` inside
``<script type="application/json">``; its script draws one page of rows at a time with
``textContent`` and never puts data into ``innerHTML``. The page is offline: CSS, script and
SVG charts are inline, and a Content-Security-Policy meta tag (``default-src 'none'``; the one
script allowed by its sha256) keeps even a future mistake from loading anything or running
injected handlers.

Reads the template files (through Jinja's loader) and ``$USERMAP_TEMPLATES``; writes nothing.
Must not import: sqlite3, socket, the store, the sources, the runner.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..engine.models import CONFLICT_ICON, EMAIL_CONFLICT_CODES
from ..visible import visible
from .text import SAFE_URL, plural

__all__ = ["jinja_env", "templates_dir", "report_html", "report_email", "failure_html",
           "failure_email", "repair_run_html", "repair_run_email", "EMAIL_TOP", "EMAIL_CLIP",
           "REPAIR_PAGE_PEOPLE"]

EMAIL_TOP = 10                        # rows of each list in the e-mail and the text
EMAIL_CLIP = 120                      # characters of any one value in the e-mail and the text
REPAIR_PAGE_PEOPLE = 500              # people an activities run's page lists (its journal: all)

# A tiny inline icon (data: URL), so the browser never asks for /favicon.ico.
_FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
            "%3Crect width='16' height='16' rx='3' fill='%232b5797'/%3E%3C/svg%3E")


# --- templates --------------------------------------------------------------------------------
def templates_dir() -> Path:
    """reports/templates: $USERMAP_TEMPLATES, the checkout's, or the installed package's."""
    from .. import resources
    return resources.templates_dir()


@lru_cache(maxsize=4)
def _env_for(folder: str):
    import jinja2
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    # Compact JSON for the embedded rows; |tojson still escapes <, >, & and ' as \u00XX.
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False, "separators": (",", ":"),
                                         "sort_keys": False}
    env.filters["num"] = lambda v: f"{int(v):,}"
    env.filters["pct"] = lambda v, d=1: "–" if v is None else f"{100 * v:.{d}f}%"
    env.filters["clip"] = _clip
    env.filters["safe_url"] = lambda u: u if isinstance(u, str) and SAFE_URL.match(u) else ""
    env.globals["plural"] = plural
    env.globals["label"] = code_label
    return env


def jinja_env():
    """The one Jinja environment (autoescape on, StrictUndefined) over reports/templates."""
    return _env_for(str(templates_dir()))


def _render(name: str, **context) -> str:
    return jinja_env().get_template(name).render(**context)


def _where(location: Mapping[str, str] | None) -> dict:
    """The report's location for the e-mail templates: attached, url, path ("" when absent)."""
    return ({"attached": "", "attached_what": "", "url": "", "path": "", "file": ""}
            | dict(location or {}))


# --- the report -------------------------------------------------------------------------------
def report_html(r: "Report") -> str:
    """The self-contained HTML report."""
    script, digest = _page_script()
    data = {"tables": {t.id: t.page_json() for t in r.tables},
            "conflict_codes": list(EMAIL_CONFLICT_CODES), "conflict_icon": CONFLICT_ICON,
            "labels": label_maps()}
    return _render("report.html.j2", r=r, data=data, script=script, script_hash=digest,
                   css=_page_css(), icon=CONFLICT_ICON, conflict_codes=EMAIL_CONFLICT_CODES,
                   status_class=_status_class, favicon=_FAVICON)


def report_email(r: "Report", location: Mapping[str, str] | None, *, html: bool) -> str:
    """The e-mail's HTML part (with a <style> block: notify inlines it) or its text part."""
    return _render("email.html.j2" if html else "email.txt.j2", r=r, location=_where(location),
                   top=EMAIL_TOP, icon=CONFLICT_ICON, conflict_codes=EMAIL_CONFLICT_CODES,
                   status_class=_status_class)


@lru_cache(maxsize=1)
def label_maps() -> dict:
    """The plain labels (usermap.labels) the page's script shows beside each code, by the
    ``labels`` name of a column."""
    from .. import labels as L
    from ..engine.models import ISSUE_CODES
    need = {f"issue:{c}": L.ISSUE_LABELS[c] for c in L.NEEDS_PERSON_ISSUES}
    need |= {f"aloware:{r}": L.ALOWARE_REASON_LABELS[r] for r in L.NEEDS_PERSON_ALOWARE}
    need |= {f"hubspot:{r}": L.HUBSPOT_REASON_LABELS[r]
             for r in (*L.NEEDS_PERSON_HUBSPOT, *L.FOR_INFORMATION_HUBSPOT)}
    reason = {c: L.reason_label(c) for c in (*ISSUE_CODES, "email_match", "manual_pin")}
    return {"issue": dict(L.ISSUE_LABELS), "aloware": dict(L.ALOWARE_REASON_LABELS),
            "hubspot": dict(L.HUBSPOT_REASON_LABELS), "need": need,
            "done": dict(L.DONE_LABELS), "todo": dict(L.TODO_LABELS), "reason": reason,
            "any": {**L.ALOWARE_REASON_LABELS, **L.ISSUE_LABELS,
                    "unknown_user": "Not in the Aloware users listing"}}


def code_label(code: str, kind: str = "any") -> str:
    """The plain label of a code (for the templates); the code itself when none is known."""
    return label_maps().get(kind, {}).get(code) or label_maps()["any"].get(code) or code


# --- the failure report -----------------------------------------------------------------------
def failure_html(f: "FailureReport") -> str:
    """The failure report's page."""
    return _render("failure.html.j2", r=f, page=True, location={})


def failure_email(f: "FailureReport", location: Mapping[str, str] | None, *, html: bool) -> str:
    if html:
        return _render("failure.html.j2", r=f, page=False, location=_where(location))
    return _render("failure.txt.j2", r=f, location=_where(location))


# --- static parts and filters -----------------------------------------------------------------
def _static(name: str) -> str:
    env = jinja_env()
    return env.loader.get_source(env, name)[0]


def _page_script() -> tuple[Any, str]:
    """The page's script (a static file, not a template) and its CSP hash."""
    from markupsafe import Markup
    js = _static("report.js")
    if "</script" in js.lower() or "<!--" in js:
        raise ValueError("report.js must not contain '</script' or '<!--'")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    return Markup(js), f"sha256-{digest}"


def _page_css():
    from markupsafe import Markup
    css = _static("report.css")
    if "</style" in css.lower():
        raise ValueError("report.css must not contain '</style'")
    return Markup(css)


def _clip(value: Any, n: int = EMAIL_CLIP) -> str:
    """A value for the e-mail and the text: on one line (``usermap.visible``), at most ``n``
    characters."""
    s = visible(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def _status_class(status: str) -> str:
    s = str(status).lower()
    if s == "ok":
        return "ok"
    if s in ("warning", "partial", "refused", "dry_run", "no_changes"):
        return "warn"
    return "bad"


# --- the report of an activities repair run ---------------------------------------------------
def repair_run_html(r: "RepairRunReport") -> str:
    """An activities repair run's page: the report's stylesheet, no script."""
    return _render("repair_run.html.j2", r=r, css=_page_css(), status_class=_status_class,
                   favicon=_FAVICON, most=REPAIR_PAGE_PEOPLE)


def repair_run_email(r: "RepairRunReport", location: Mapping[str, str] | None, *,
                     html: bool) -> str:
    """Its e-mail's HTML part (the e-mails' stylesheet, notify inlines it) or its text."""
    return _render("repair_run_email.html.j2" if html else "repair_run.txt.j2", r=r,
                   location=_where(location), top=EMAIL_TOP, status_class=_status_class)
