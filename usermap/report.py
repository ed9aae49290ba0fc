"""The report of a run (DESIGN.md §8, issue 5): a data model built purely from data, rendered
with Jinja into one self-contained HTML file and the plain-text and HTML bodies of the e-mail.

``build_report`` takes the audit, the plan (and whether it was applied), the history of earlier
audits from the store and, optionally, an activities frame; it does no I/O and reads no clock.
The result is a tree of frozen dataclasses. Long lists are ``Table`` objects stored column by
column (one tuple per column), because that is what the page's script wants: the HTML embeds every
table as compact JSON through Jinja's ``|tojson`` inside ``<script type="application/json">``,
and the script draws one page of rows at a time with ``textContent``; it never puts data into
``innerHTML``. Small tables (counts by code, the e-mail's top issues) are rendered by Jinja with
autoescaping on.

One Jinja environment serves every template: ``autoescape=True`` (``select_autoescape()`` would
not escape ``*.j2`` files) and ``StrictUndefined``. The plain-text template turns escaping off
inside itself with ``{% autoescape false %}``: text/plain has no markup to escape.

The page is offline: CSS, script and SVG charts are inline, and a Content-Security-Policy meta tag
(``default-src 'none'``; the one script allowed by its sha256) keeps even a future mistake from
loading anything or running injected handlers.

Decisions the spec leaves open:
- "Since the previous run" compares this audit's issue ids with those of the newest history entry
  whose run id differs from this run's (a runner may record this run's audit before reporting).
- The trend plots the history, oldest first, then this run; mapped share = synced / mapped.
- Activity impact counts activities whose Aloware user has no *synced* link: no link at all
  (by the unmapped reason), a link with an issue (by its code), or a user id in neither listing.
- ``mask_emails`` masks every e-mail in every view as ``j***@example.com`` (first character of the
  local part, then ``***``), including those inside error details and suggestions.

Adapter at the edges only: ``write_report_for_snapshot`` and ``read_activities`` read files;
everything else is pure.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import quote

import numpy as np
import pandas as pd

from .models import (
    U_ID, ACTIONS, ADD, ALOWARE_REASONS, CONFLICT_ICON, EMAIL_CONFLICT_CODES, HUBSPOT_REASONS,
    ISSUE_CODES, L_A_EMAIL, L_H_EMAIL, L_OWNER, L_USER, METHOD_MANUAL, REMOVE, UPDATE,
)

__all__ = [
    "Report", "Table", "Column", "Overview", "Changes", "SincePrevious", "Chart", "TrendPoint",
    "ActivityImpact", "build_report", "write_report", "write_report_for_snapshot",
    "read_activities", "mask_email", "jinja_env", "templates_dir", "ACTIVITY_COLUMNS",
    "DEFAULT_FIX_COMMAND", "DEFAULT_DECIDE_COMMAND",
]

DEFAULT_FIX_COMMAND = "usermap plan SNAPSHOT --store DB --out fix.json --only {issue_id}"
DEFAULT_DECIDE_COMMAND = ("decide: usermap map {aloware_user_id} OWNER_ID --store DB  or  "
                          "usermap unmap {aloware_user_id} --store DB")
ACTIVITY_COLUMNS = ("aloware_user_id", "type", "timestamp")
ACTIVITY_TYPES = ("call", "sms")
TEMPLATES_ENV = "USERMAP_TEMPLATES"   # overrides where the templates are found
EMAIL_TOP = 10                        # rows of each list in the e-mail and the text
EMAIL_CLIP = 120                      # characters of any one value in the e-mail and the text


# --- the data model --------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A column of a Table. ``kind`` tells the page how to draw a cell: text, id, email, status,
    code (an issue code or reason; e-mail conflicts get the icon), link (its URL is in the
    column named by ``link``), suggestions, command, num. ``search``: the search box looks here."""

    key: str
    label: str
    kind: str = "text"
    search: bool = False
    link: str | None = None
    hidden: bool = False


@dataclass(frozen=True)
class Table:
    """A list the page draws with search and pagination; stored column by column."""

    id: str
    title: str
    columns: tuple[Column, ...]
    data: tuple[tuple, ...]          # one tuple of cell values per column
    facet: str | None = None         # a column to filter on with a <select>
    empty: str = "Nothing to show."

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    def col(self, key: str) -> tuple:
        for c, values in zip(self.columns, self.data):
            if c.key == key:
                return values
        raise KeyError(key)

    def rows(self, limit: int | None = None) -> Iterator[dict]:
        """Rows as dicts (the first ``limit``), for the text and e-mail templates."""
        n = len(self) if limit is None else min(limit, len(self))
        keys = [c.key for c in self.columns]
        for i in range(n):
            yield {k: v[i] for k, v in zip(keys, self.data)}

    @property
    def visible(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.hidden)

    def page_json(self) -> dict:
        return {"columns": [{"key": c.key, "label": c.label, "kind": c.kind, "search": c.search,
                             "link": c.link, "hidden": c.hidden} for c in self.columns],
                "data": [_encode_column(c) for c in self.data], "facet": self.facet,
                "empty": self.empty}

    def to_json(self) -> dict:
        return {"columns": [c.key for c in self.columns],
                "rows": [list(r) for r in zip(*self.data)] if self.data else []}


def _encode_column(values: tuple):
    """A column for the page, compact: ``{"d": distinct, "i": codes}`` when few values repeat
    (statuses, codes, reasons, common names), ``{"p": prefix, "v": rests}`` when every value
    starts with the same long prefix (profile links), else the plain list. The script expands
    them once at load."""
    n = len(values)
    if n < 16 or not all(isinstance(v, str) for v in values[:64]):
        return values
    limit = max(16, n // 4)
    sample = values[:2048]
    if len(set(sample)) <= max(16, len(sample) // 4):       # worth counting them all
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        if len(uniques) <= limit:
            order = sorted(range(len(uniques)), key=uniques.__getitem__)
            rank = [0] * len(order)
            for r, i in enumerate(order):
                rank[i] = r
            return {"d": [uniques[i] for i in order],
                    "i": [rank[c] for c in codes.tolist()]}
    prefix = os.path.commonprefix([min(values), max(values)])
    if len(prefix) >= 8:
        k = len(prefix)
        return {"p": prefix, "v": [v[k:] for v in values]}
    return values


@dataclass(frozen=True)
class Overview:
    mapped: int
    synced: int
    errors: int
    email_conflicts: int
    unmapped_aloware: int
    unmapped_hubspot: int
    aloware_users: int
    hubspot_owners: int
    active_hubspot_owners: int
    errors_by_code: tuple[tuple[str, int], ...]
    unmapped_aloware_by_reason: tuple[tuple[str, int], ...]
    unmapped_hubspot_by_reason: tuple[tuple[str, int], ...]

    @property
    def mapped_share(self) -> float | None:
        """Synced / mapped (None without links)."""
        return self.synced / self.mapped if self.mapped else None

    def to_json(self) -> dict:
        return {"mapped": self.mapped, "synced": self.synced, "errors": self.errors,
                "email_conflicts": self.email_conflicts,
                "unmapped_aloware": self.unmapped_aloware,
                "unmapped_hubspot": self.unmapped_hubspot, "aloware_users": self.aloware_users,
                "hubspot_owners": self.hubspot_owners,
                "active_hubspot_owners": self.active_hubspot_owners,
                "mapped_share": self.mapped_share,
                "errors_by_code": dict(self.errors_by_code),
                "unmapped_aloware_by_reason": dict(self.unmapped_aloware_by_reason),
                "unmapped_hubspot_by_reason": dict(self.unmapped_hubspot_by_reason)}


@dataclass(frozen=True)
class Changes:
    """The plan of this run: applied, or what a sync would do."""

    applied: bool
    adds: int
    updates: int
    removes: int
    by_reason: tuple[tuple[str, int], ...]   # ("add:email_match", 12), ...
    table: Table

    @property
    def total(self) -> int:
        return self.adds + self.updates + self.removes

    def to_json(self) -> dict:
        return {"applied": self.applied, "add": self.adds, "update": self.updates,
                "remove": self.removes, "by_reason": dict(self.by_reason)}


@dataclass(frozen=True)
class SincePrevious:
    previous_run_id: str
    previous_at: str
    new: Table
    resolved: Table
    new_by_code: tuple[tuple[str, int], ...]
    resolved_by_code: tuple[tuple[str, int], ...]

    def to_json(self) -> dict:
        return {"previous_run_id": self.previous_run_id, "previous_at": self.previous_at,
                "new": list(self.new.col("issue_id")),
                "resolved": list(self.resolved.col("issue_id"))}


@dataclass(frozen=True)
class TrendPoint:
    run_id: str
    at: str
    mapped: int
    synced: int
    errors: int
    current: bool = False

    @property
    def share(self) -> float | None:
        return self.synced / self.mapped if self.mapped else None


@dataclass(frozen=True)
class ChartDot:
    x: float
    y: float
    label: str        # the tooltip: run and value


@dataclass(frozen=True)
class Chart:
    """An inline SVG line chart, laid out here (numbers only); the template draws it."""

    id: str
    title: str
    width: int
    height: int
    polyline: str
    dots: tuple[ChartDot, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_labels: tuple[tuple[float, str, str], ...]   # (x, text, text-anchor)
    plot: tuple[float, float, float, float]         # left, top, right, bottom


@dataclass(frozen=True)
class ActivityImpact:
    total: int
    by_type: tuple[tuple[str, int], ...]
    unassigned: int
    unassigned_by_type: tuple[tuple[str, int], ...]
    period_start: str
    period_end: str
    by_cause: tuple[tuple[str, str, int, int, int], ...]   # (kind, code, calls, sms, total)
    users: Table                                            # affected users, most first

    @property
    def share(self) -> float | None:
        return self.unassigned / self.total if self.total else None

    def to_json(self) -> dict:
        return {"total": self.total, "by_type": dict(self.by_type),
                "unassigned": self.unassigned, "unassigned_by_type": dict(self.unassigned_by_type),
                "period_start": self.period_start, "period_end": self.period_end,
                "by_cause": [{"kind": k, "code": c, "call": a, "sms": b, "total": t}
                             for k, c, a, b, t in self.by_cause],
                "affected_users": len(self.users)}


@dataclass(frozen=True)
class Report:
    """Everything the HTML report and the e-mail show, built by ``build_report``."""

    run_id: str
    generated_at: str
    status: str
    notes: tuple[str, ...]
    mask_emails: bool
    overview: Overview
    mapped: Table
    errors: Table
    unmapped_aloware: Table
    unmapped_hubspot: Table
    changes: Changes | None
    since: SincePrevious | None
    trend: tuple[TrendPoint, ...]
    charts: tuple[Chart, ...]
    activity: ActivityImpact | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table the page draws, in page order."""
        out = []
        if self.changes is not None:
            out.append(self.changes.table)
        if self.since is not None:
            out += [self.since.new, self.since.resolved]
        if self.activity is not None:
            out.append(self.activity.users)
        out += [self.errors, self.mapped, self.unmapped_aloware, self.unmapped_hubspot]
        return tuple(out)

    # --- rendering -------------------------------------------------------------------------
    def to_html(self) -> str:
        """The self-contained HTML report."""
        env = jinja_env()
        script, digest = _page_script()
        data = {"tables": {t.id: t.page_json() for t in self.tables},
                "conflict_codes": list(EMAIL_CONFLICT_CODES), "conflict_icon": CONFLICT_ICON}
        return env.get_template("report.html.j2").render(
            r=self, data=data, script=script, script_hash=digest, css=_page_css(),
            icon=CONFLICT_ICON, conflict_codes=EMAIL_CONFLICT_CODES, status_class=_status_class,
            favicon=_FAVICON)

    def to_text(self) -> str:
        """The plain-text summary (the e-mail's text part without the report's location)."""
        return self.email_text()

    def email_text(self, location: dict | None = None) -> str:
        return jinja_env().get_template("email.txt.j2").render(**self._email_context(location))

    def email_html(self, location: dict | None = None) -> str:
        """The e-mail's HTML part, with a <style> block (notify inlines it with css-inline)."""
        return jinja_env().get_template("email.html.j2").render(**self._email_context(location))

    def _email_context(self, location: dict | None) -> dict:
        where = {"attached": "", "url": "", "path": ""} | dict(location or {})
        return {"r": self, "location": where, "top": EMAIL_TOP, "icon": CONFLICT_ICON,
                "conflict_codes": EMAIL_CONFLICT_CODES, "status_class": _status_class}

    def subject(self) -> str:
        """One line with the key numbers, e.g. ``usermap: 3 new errors, 12 linked, 2 removed``."""
        parts = []
        if self.since is not None:
            parts.append(_plural(len(self.since.new), "new error"))
            if len(self.since.resolved):
                parts.append(f"{len(self.since.resolved):,} resolved")
        else:
            parts.append(_plural(self.overview.errors, "error"))
        c = self.changes
        if c is not None and c.applied:
            parts += [f"{c.adds:,} linked", f"{c.removes:,} removed"]
            if c.updates:
                parts.append(f"{c.updates:,} updated")
        elif c is not None and c.total:
            parts += [f"{c.adds:,} to link", f"{c.removes:,} to remove"]
            if c.updates:
                parts.append(f"{c.updates:,} to update")
        else:
            parts.append(f"{self.overview.synced:,} of {self.overview.mapped:,} links synced")
        head = "usermap" if self.ok else f"usermap [{_one_line(self.status).upper()[:40]}]"
        return _one_line(f"{head}: {', '.join(parts)}")

    def to_json(self, rows: bool = False) -> dict:
        """The report's numbers (for summary files and notebooks); ``rows=True`` adds every
        table's rows."""
        out = {
            "run_id": self.run_id, "generated_at": self.generated_at, "status": self.status,
            "notes": list(self.notes), "mask_emails": self.mask_emails, "subject": self.subject(),
            "overview": self.overview.to_json(),
            "changes": self.changes.to_json() if self.changes else None,
            "since_previous": self.since.to_json() if self.since else None,
            "trend": [{"run_id": p.run_id, "at": p.at, "mapped": p.mapped, "synced": p.synced,
                       "errors": p.errors, "mapped_share": p.share, "current": p.current}
                      for p in self.trend],
            "activity": self.activity.to_json() if self.activity else None,
        }
        if rows:
            out["tables"] = {t.id: t.to_json() for t in self.tables}
        return out


# --- building ---------------------------------------------------------------------------------
def build_report(audit, *, plan=None, applied: bool = False, run_id: str = "",
                 generated_at: str = "", status: str = "ok", history: Iterable[dict] = (),
                 activities: pd.DataFrame | None = None, mask_emails: bool = False,
                 fix_command: str = DEFAULT_FIX_COMMAND,
                 decide_command: str = DEFAULT_DECIDE_COMMAND,
                 notes: Iterable[str] = ()) -> Report:
    """The report of one audit (and the plan of its run). Pure: no I/O, no clock.

    ``fix_command`` and ``decide_command`` are templates with ``{issue_id}``,
    ``{aloware_user_id}``, ``{hubspot_owner_id}`` and ``{code}``: the first is an error's fix, the
    second what a person must decide where a sync leaves the link alone.
    """
    mask = mask_email if mask_emails else None
    summary = audit.summary()
    overview = _overview(summary)
    mapped_df = audit.mapped
    mapped = _mapped_table(mapped_df, mask)
    errors = _errors_table(audit.errors, mask, fix_command, decide_command)
    ua = _unmapped_aloware_table(audit.unmapped_aloware, mask, audit.profile_url)
    uh = _unmapped_hubspot_table(audit.unmapped_hubspot, mask)
    names = _NameBook(audit, mapped_df)
    changes = _changes(plan, applied, names, mask) if plan is not None else None
    history = [h for h in history if str(h.get("run_id", "")) != run_id or not run_id]
    current_ids = [i for i in mapped_df["issue_id"].tolist() if i]
    since = _since(history[-1], current_ids, names) if history else None
    trend = tuple(_trend_point(h) for h in history) + (TrendPoint(
        run_id or "this run", generated_at, overview.mapped, overview.synced, overview.errors,
        current=True),)
    charts = (
        _chart("trend-share", "Mapped share (synced / mapped)", trend,
               lambda p: None if p.share is None else 100.0 * p.share, percent=True),
        _chart("trend-errors", "Errors", trend, lambda p: float(p.errors), percent=False),
    )
    activity = (_activity(activities, mapped_df, audit.unmapped_aloware, names, mask)
                if activities is not None else None)
    return Report(run_id=run_id, generated_at=generated_at, status=str(status or "ok"),
                  notes=tuple(str(n) for n in notes), mask_emails=bool(mask_emails),
                  overview=overview, mapped=mapped, errors=errors, unmapped_aloware=ua,
                  unmapped_hubspot=uh, changes=changes, since=since, trend=trend, charts=charts,
                  activity=activity)


def mask_email(value: str) -> str:
    """``john@example.com`` → ``j***@example.com``; empty stays empty."""
    if not value:
        return ""
    local, at, domain = str(value).strip().rpartition("@")
    if not at:
        return value[:1] + "***"
    return f"{local[:1]}***@{domain}"


def _strs(s) -> list[str]:
    """A column as a list of str, missing values as ""."""
    if not len(s):
        return []
    values = s.to_numpy(dtype=object, na_value="").tolist()
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        return values                       # a string dtype holds only str (and NA, now "")
    return [v if type(v) is str else str(v) for v in values]


def _masked(values: list[str], mask) -> list[str]:
    return [mask(v) for v in values] if mask else values


def _counts(d: dict, order: Iterable[str]) -> tuple[tuple[str, int], ...]:
    order = list(order)
    known = [(k, int(d[k])) for k in order if d.get(k)]
    return tuple(known + sorted((k, int(v)) for k, v in d.items() if k not in order and v))


def _overview(s: dict) -> Overview:
    return Overview(
        mapped=s["mapped"], synced=s["synced"], errors=s["errors"],
        email_conflicts=s.get("email_conflicts", 0), unmapped_aloware=s["unmapped_aloware"],
        unmapped_hubspot=s["unmapped_hubspot"], aloware_users=s.get("aloware_users", 0),
        hubspot_owners=s.get("hubspot_owners", 0),
        active_hubspot_owners=s.get("active_hubspot_owners", 0),
        errors_by_code=_counts(s["errors_by_code"], ISSUE_CODES),
        unmapped_aloware_by_reason=_counts(s["unmapped_aloware_by_reason"], ALOWARE_REASONS),
        unmapped_hubspot_by_reason=_counts(s["unmapped_hubspot_by_reason"], HUBSPOT_REASONS))


_FIRST = Column("first_name", "First name", search=True)
_LAST = Column("last_name", "Last name", search=True)
_USER = Column(L_USER, "Aloware id", "id", search=True)
_OWNER = Column(L_OWNER, "HubSpot id", "id", search=True)


def _mapped_table(m: pd.DataFrame, mask) -> Table:
    email = _strs(m["email"])
    h_email = _strs(m["hubspot_email"])
    # The HubSpot e-mail is shown only where it differs (a conflict): half the page's bytes else.
    h_shown = [h if h.strip().casefold() != a.strip().casefold() else ""
               for a, h in zip(email, h_email)]
    cols = (_FIRST, _LAST, _USER, _OWNER, Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail (if different)", "email", search=True),
            Column("method", "Method"), Column("status", "Status", "status"),
            Column("issue", "Issue", "code"))
    data = (_strs(m["first_name"]), _strs(m["last_name"]), _strs(m[L_USER]), _strs(m[L_OWNER]),
            _masked(email, mask), _masked(h_shown, mask), _strs(m["method"]), _strs(m["status"]),
            _strs(m["issue"]))
    return Table("mapped", "Mapped users", cols, tuple(tuple(c) for c in data), facet="issue",
                 empty="No links in the store.")


def _template(template: str, **values: str) -> str:
    out = template
    for k, v in values.items():
        out = out.replace("{" + k + "}", v)
    return out


def fix_for(code: str, method: str, issue_id: str, user: str, owner: str,
            fix_command: str = DEFAULT_FIX_COMMAND,
            decide_command: str = DEFAULT_DECIDE_COMMAND) -> str:
    """An error's fix: the plan restricted to it, or what a person must decide."""
    needs_person = code == "aloware_email_changed" or (
        code == "hubspot_email_changed" and method == METHOD_MANUAL)
    return _template(decide_command if needs_person else fix_command, issue_id=issue_id,
                     aloware_user_id=user, hubspot_owner_id=owner, code=code)


def _errors_table(e: pd.DataFrame, mask, fix_command: str, decide_command: str) -> Table:
    ids, codes, users, owners = (_strs(e["issue_id"]), _strs(e["code"]),
                                 _strs(e[L_USER]), _strs(e[L_OWNER]))
    methods = _strs(e["method"])
    email, h_email, detail = _strs(e["email"]), _strs(e["hubspot_email"]), _strs(e["detail"])
    if mask:
        detail = [d.replace(f"Aloware {a}", f"Aloware {mask(a)}")
                  .replace(f"HubSpot {h}", f"HubSpot {mask(h)}") if (a or h) else d
                  for d, a, h in zip(detail, email, h_email)]
    fixes = [fix_for(c, m, i, u, o, fix_command, decide_command)
             for c, m, i, u, o in zip(codes, methods, ids, users, owners)]
    cols = (Column("code", "Issue", "code"), Column("name", "Name", search=True), _USER, _OWNER,
            Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail", "email", search=True),
            Column("detail", "Detail"), Column("fix", "Fix", "command"),
            Column("issue_id", "Issue id", "id", search=True, hidden=True))
    data = (codes, _strs(e["name"]), users, owners, _masked(email, mask),
            _masked(h_email, mask), detail, fixes, ids)
    return Table("errors", "Errors", cols, tuple(tuple(c) for c in data), facet="code",
                 empty="No errors: every link is synced.")


def _profile_urls(users: list[str], template: str | None, fallback: list[str]) -> list[str]:
    """Profile links with the id URL-encoded; only http(s) links are kept."""
    if template:
        urls = [template.replace("{id}", quote(u, safe="")) for u in users]
    else:
        urls = fallback
    return [u if _SAFE_URL.match(u) else "" for u in urls]


_SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$", re.I)


def _unmapped_aloware_table(ua: pd.DataFrame, mask, profile_template: str | None) -> Table:
    users = _strs(ua[L_USER])
    urls = _profile_urls(users, profile_template,
                         _strs(ua["profile_url"]) if "profile_url" in ua else [""] * len(users))
    sugg = [tuple((str(s.get("hubspot_owner_id", "")), str(s.get("name", "")),
                   mask(str(s.get("email", ""))) if mask else str(s.get("email", "")),
                   f"{float(s.get('score', 0)):.2f}") for s in (lst or ()))
            for lst in (ua["suggestions"].tolist() if "suggestions" in ua else [()] * len(users))]
    cols = (_FIRST, _LAST, Column(L_USER, "Aloware id", "link", search=True, link="profile_url"),
            Column("email", "E-mail", "email", search=True), Column("status", "Status"),
            Column("kind", "Kind"), Column("reason", "Reason", "code"),
            Column("suggestions", "Suggested owners", "suggestions"),
            Column("profile_url", "Profile", hidden=True))
    data = (_strs(ua["first_name"]), _strs(ua["last_name"]), users,
            _masked(_strs(ua["email"]), mask), _strs(ua["status"]), _strs(ua["kind"]),
            _strs(ua["reason"]), sugg, urls)
    return Table("unmapped_aloware", "Unmapped Aloware users", cols,
                 tuple(tuple(c) for c in data), facet="reason",
                 empty="Every Aloware user is mapped.")


def _unmapped_hubspot_table(uh: pd.DataFrame, mask) -> Table:
    cols = (_FIRST, _LAST, _OWNER, Column("email", "E-mail", "email", search=True),
            Column("type", "Type"), Column("reason", "Reason", "code"))
    data = (_strs(uh["first_name"]), _strs(uh["last_name"]), _strs(uh[L_OWNER]),
            _masked(_strs(uh["email"]), mask), _strs(uh["type"]), _strs(uh["reason"]))
    return Table("unmapped_hubspot", "Unmapped HubSpot owners", cols,
                 tuple(tuple(c) for c in data), facet="reason",
                 empty="Every active HubSpot owner is mapped.")


class _NameBook:
    """Names and e-mails of Aloware users by id, looked up on demand: from the users listing,
    else (a link to a user no longer listed) from the mapped view."""

    def __init__(self, audit, mapped: pd.DataFrame):
        self.users, self.mapped = audit.users, mapped
        self._u_index = self._m_index = None

    def _find(self, frame, index, ids: list[str]):
        if index is None:
            index = pd.Index(_strs(frame[U_ID if frame is self.users else L_USER]))
        return index, index.get_indexer(pd.Index(ids, dtype=object))

    def _column(self, frame, pos, key) -> list[str]:
        if not len(frame):
            return [""] * len(pos)
        taken = frame[key].to_numpy(dtype=object, na_value="")[np.where(pos >= 0, pos, 0)]
        return _strs(pd.Series(np.where(pos >= 0, taken, ""), dtype=object))

    def names(self, ids: Iterable[str]) -> list[str]:
        ids = list(ids)
        if not ids:
            return []
        self._u_index, pos = self._find(self.users, self._u_index, ids)
        first = self._column(self.users, pos, "first_name")
        last = self._column(self.users, pos, "last_name")
        out = [f"{a} {b}".strip() for a, b in zip(first, last)]
        missing = [k for k, p in enumerate(pos) if p < 0]
        if missing:
            self._m_index, mpos = self._find(self.mapped, self._m_index,
                                             [ids[k] for k in missing])
            mf = self._column(self.mapped, mpos, "first_name")
            ml = self._column(self.mapped, mpos, "last_name")
            for k, a, b in zip(missing, mf, ml):
                out[k] = f"{a} {b}".strip()
        return out

    def emails(self, ids: Iterable[str]) -> list[str]:
        ids = list(ids)
        if not ids:
            return []
        self._u_index, pos = self._find(self.users, self._u_index, ids)
        return self._column(self.users, pos, "email")


def _changes(plan, applied: bool, names: _NameBook, mask) -> Changes:
    ch = plan.changes
    actions = [c.action for c in ch]
    users = [str(c.aloware_user_id) for c in ch]
    befores = [str((c.before or {}).get(L_OWNER, "") or "") for c in ch]
    afters = [str((c.after or {}).get(L_OWNER, "") or "") for c in ch]
    a_email = [str(((c.after or c.before) or {}).get(L_A_EMAIL, "") or "") for c in ch]
    h_email = [str(((c.after or c.before) or {}).get(L_H_EMAIL, "") or "") for c in ch]
    by_reason: dict[str, int] = {}
    for c in ch:
        k = f"{c.action}:{c.reason}"
        by_reason[k] = by_reason.get(k, 0) + 1
    cols = (Column("action", "Action", "status"), Column("reason", "Reason", "code"),
            Column("name", "Name", search=True), _USER,
            Column("before_owner", "HubSpot id before", "id", search=True),
            Column("after_owner", "HubSpot id after", "id", search=True),
            Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail", "email", search=True))
    data = (actions, [c.reason for c in ch], names.names(users), users, befores, afters,
            _masked(a_email, mask), _masked(h_email, mask))
    n = {a: actions.count(a) for a in ACTIONS}
    return Changes(applied=bool(applied), adds=n[ADD], updates=n[UPDATE], removes=n[REMOVE],
                   by_reason=tuple(sorted(by_reason.items())),
                   table=Table("changes", "Changes applied in this run" if applied else
                               "Changes a sync would make (not applied)", cols,
                               tuple(tuple(c) for c in data), facet="action",
                               empty="No changes."))


def _issue_table(tid: str, title: str, ids: list[str], names: _NameBook, empty: str) -> Table:
    codes, users = [], []
    for i in ids:
        code, _, user = i.partition(":")
        codes.append(code)
        users.append(user)
    cols = (Column("code", "Issue", "code"), Column("name", "Name", search=True), _USER,
            Column("issue_id", "Issue id", "id", search=True))
    return Table(tid, title, cols, (tuple(codes), tuple(names.names(users)), tuple(users),
                                    tuple(ids)), facet="code", empty=empty)


def _by_code(ids: Iterable[str]) -> tuple[tuple[str, int], ...]:
    d: dict[str, int] = {}
    for i in ids:
        c = i.partition(":")[0]
        d[c] = d.get(c, 0) + 1
    return _counts(d, ISSUE_CODES)


def _since(previous: dict, current_ids: list[str], names: _NameBook) -> SincePrevious:
    before = set(map(str, previous.get("issues") or ()))
    now = set(current_ids)
    new = sorted(now - before, key=_issue_sort)
    resolved = sorted(before - now, key=_issue_sort)
    return SincePrevious(
        previous_run_id=str(previous.get("run_id", "")), previous_at=str(previous.get("at", "")),
        new=_issue_table("new_issues", "New issues since the previous run", new, names,
                         "No new issues."),
        resolved=_issue_table("resolved_issues", "Issues resolved since the previous run",
                              resolved, names, "No issue was resolved."),
        new_by_code=_by_code(new), resolved_by_code=_by_code(resolved))


def _issue_sort(i: str):
    code, _, user = i.partition(":")
    rank = ISSUE_CODES.index(code) if code in ISSUE_CODES else len(ISSUE_CODES)
    return (rank, code, len(user), user)


def _trend_point(h: dict) -> TrendPoint:
    s = h.get("summary") or {}
    return TrendPoint(str(h.get("run_id", "")), str(h.get("at", "")), int(s.get("mapped", 0)),
                      int(s.get("synced", 0)), int(s.get("errors", 0)))


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _chart(cid: str, title: str, points: tuple[TrendPoint, ...], value, *, percent: bool
           ) -> Chart:
    W, H = 360, 160
    left, top, right, bottom = 44.0, 12.0, W - 12.0, H - 28.0
    vals = [value(p) for p in points]
    known = [v for v in vals if v is not None]
    y_max = 100.0 if percent else _nice_max(max(known) if known else 0.0)
    n = len(points)

    def x(i: int) -> float:
        return round(left + (right - left) * (i / (n - 1) if n > 1 else 0.5), 1)

    def y(v: float) -> float:
        return round(bottom - (bottom - top) * (v / y_max if y_max else 0), 1)

    def fmt(v: float) -> str:
        return f"{v:.1f}%" if percent else f"{v:,.0f}"
    dots, line = [], []
    for i, (p, v) in enumerate(zip(points, vals)):
        if v is None:
            continue
        who = " ".join(t for t in (p.run_id, p.at) if t) or "this run"
        dots.append(ChartDot(x(i), y(v), f"{who}: {fmt(v)}"))
        line.append(f"{x(i)},{y(v)}")
    steps = (0.0, y_max / 2, y_max) if percent or (y_max / 2).is_integer() else (0.0, y_max)
    ticks = tuple((y(t), fmt(t)) for t in steps)
    labels: tuple = ()
    if n:
        labels = ((x(0), _short_at(points[0]), "start" if n > 1 else "middle"),)
        if n > 1:
            labels += ((x(n - 1), _short_at(points[-1]), "end"),)
    return Chart(cid, title, W, H, " ".join(line), tuple(dots), ticks, labels,
                 (left, top, right, bottom))


def _short_at(p: TrendPoint) -> str:
    return (p.at[:10] if p.at else p.run_id[:15]) or ("this run" if p.current else "")


# --- activity impact --------------------------------------------------------------------------
_CAUSE_NO_LINK, _CAUSE_LINK, _CAUSE_UNKNOWN = "no link", "link with an issue", "unknown user"


def _activity(acts: pd.DataFrame, mapped: pd.DataFrame, ua: pd.DataFrame, names: _NameBook,
              mask) -> ActivityImpact:
    missing = [c for c in ("aloware_user_id", "type") if c not in acts.columns]
    if missing:
        raise ValueError(f"activities need the columns {', '.join(ACTIVITY_COLUMNS)}")
    uid = pd.Series(_strs(acts["aloware_user_id"]), dtype=object).str.strip()
    typ = pd.Series(_strs(acts["type"]), dtype=object).str.strip().str.lower()
    ts = (pd.to_datetime(acts["timestamp"], utc=True, errors="coerce", format="ISO8601")
          if "timestamp" in acts.columns and len(acts) else pd.Series([], dtype="datetime64[ns, UTC]"))
    # The cause for each user without a synced link.
    cause_kind: dict[str, str] = {}
    cause_code: dict[str, str] = {}
    for u, r in zip(_strs(ua[L_USER]), _strs(ua["reason"])):
        cause_kind[u], cause_code[u] = _CAUSE_NO_LINK, r
    synced = set()
    for u, st, code in zip(_strs(mapped[L_USER]), _strs(mapped["status"]),
                           _strs(mapped["issue"])):
        if code:
            cause_kind[u], cause_code[u] = _CAUSE_LINK, code
        else:
            synced.add(u)
            cause_kind.pop(u, None)
    kind = uid.map(lambda u: None if u in synced else cause_kind.get(u, _CAUSE_UNKNOWN))
    bad = kind.notna()
    code = uid.map(lambda u: cause_code.get(u, "unknown_user"))
    by_type = {t: int((typ == t).sum()) for t in ACTIVITY_TYPES}
    by_type_bad = {t: int(((typ == t) & bad).sum()) for t in ACTIVITY_TYPES}
    frame = pd.DataFrame({"user": uid[bad], "kind": kind[bad], "code": code[bad],
                          "call": (typ[bad] == "call").astype(int),
                          "sms": (typ[bad] == "sms").astype(int)})
    causes = (frame.groupby(["kind", "code"], sort=True)[["call", "sms"]].sum()
              .assign(total=lambda d: d["call"] + d["sms"]).reset_index()
              .sort_values(["total", "kind", "code"], ascending=[False, True, True]))
    by_cause = tuple((k, c, int(a), int(b), int(t)) for k, c, a, b, t in zip(
        causes["kind"], causes["code"], causes["call"], causes["sms"], causes["total"]))
    per_user = (frame.groupby(["user", "kind", "code"], sort=True)[["call", "sms"]].sum()
                .assign(total=lambda d: d["call"] + d["sms"]).reset_index()
                .sort_values(["total", "user"], ascending=[False, True]))
    users = per_user["user"].tolist()
    emails = names.emails(users)
    cols = (Column("name", "Name", search=True), _USER,
            Column("email", "E-mail", "email", search=True), Column("kind", "Why"),
            Column("code", "Code", "code"), Column("call", "Calls", "num"),
            Column("sms", "SMS", "num"), Column("total", "Activities", "num"))
    table = Table("activity_users", "Users whose activities go unassigned", cols, (
        tuple(names.names(users)), tuple(users), tuple(_masked(emails, mask)),
        tuple(per_user["kind"].tolist()), tuple(per_user["code"].tolist()),
        tuple(str(int(v)) for v in per_user["call"]), tuple(str(int(v)) for v in per_user["sms"]),
        tuple(str(int(v)) for v in per_user["total"])), facet="code",
        empty="Every activity belongs to a user with a synced link.")
    valid = ts.dropna() if len(ts) else ts
    start = _fmt_ts(valid.min()) if len(valid) else ""
    end = _fmt_ts(valid.max()) if len(valid) else ""
    return ActivityImpact(total=int(len(uid)), by_type=tuple(by_type.items()),
                          unassigned=int(bad.sum()), unassigned_by_type=tuple(by_type_bad.items()),
                          period_start=start, period_end=end, by_cause=by_cause, users=table)


def _fmt_ts(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def read_activities(path) -> pd.DataFrame:
    """An activities CSV (``aloware_user_id,type,timestamp``; type call or sms; ISO 8601
    timestamps). Errors name the file, row and column (InputError, exit 2)."""
    from .errors import InputError
    from .sources.snapshot import read_csv_validated
    path = Path(path)
    df = read_csv_validated(path, ACTIVITY_COLUMNS)
    for c in ACTIVITY_COLUMNS:
        df[c] = pd.Series(_strs(df[c]), index=df.index, dtype=object).str.strip()
    df["type"] = df["type"].str.lower()
    empty = (df["aloware_user_id"] == "").to_numpy()
    if empty.any():
        i = int(empty.argmax())
        raise InputError("empty aloware_user_id", file=str(path), row=i + 2,
                         column="aloware_user_id")
    bad = ~df["type"].isin(ACTIVITY_TYPES).to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"type {df['type'].iloc[i]!r} is not one of {', '.join(ACTIVITY_TYPES)}",
                         file=str(path), row=i + 2, column="type")
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = ts.isna().to_numpy()
    if bad.any():
        i = int(bad.argmax())
        raise InputError(f"timestamp {df['timestamp'].iloc[i]!r} is not an ISO 8601 time",
                         file=str(path), row=i + 2, column="timestamp")
    return df.reset_index(drop=True)


# --- templates --------------------------------------------------------------------------------
def templates_dir() -> Path:
    """reports/templates: $USERMAP_TEMPLATES, the checkout's, or the installed package's."""
    from . import resources
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
    env.filters["safe_url"] = lambda u: u if isinstance(u, str) and _SAFE_URL.match(u) else ""
    env.globals["plural"] = _plural
    return env


def jinja_env():
    """The one Jinja environment (autoescape on, StrictUndefined) over reports/templates."""
    return _env_for(str(templates_dir()))


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
    s = "" if value is None else str(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


def _status_class(status: str) -> str:
    s = str(status).lower()
    if s == "ok":
        return "ok"
    if s in ("warning", "partial", "refused", "dry_run", "no_changes"):
        return "warn"
    return "bad"


# A tiny inline icon (data: URL), so the browser never asks for /favicon.ico.
_FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
            "%3Crect width='16' height='16' rx='3' fill='%232b5797'/%3E%3C/svg%3E")


# --- files ------------------------------------------------------------------------------------
def write_report(report: Report, path) -> Path:
    """Write the HTML report atomically."""
    from .sources.snapshot import write_atomic
    html = report.to_html()
    return write_atomic(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"))


def write_report_for_snapshot(config, snapshot, store_path, out, activities=None) -> Path:
    """`usermap report`: audit a snapshot against the store, with the plan a sync would make and
    the history of recorded audits, and write the HTML report. Changes nothing."""
    from datetime import datetime, timezone

    from . import plan as planmod
    from . import reconcile
    from .sources.snapshot import fingerprint, read_snapshot
    from .store import Store
    users, owners = read_snapshot(snapshot)
    with Store.open(store_path, create=False) as store:
        links, revision, history = store.links(), store.revision, store.audits()
    result = reconcile.audit(users, owners, links, suggestions=True,
                             profile_url=config.aloware.profile_url)
    plan = planmod.make_plan(result, store_revision=revision, fingerprint=fingerprint(snapshot))
    path = activities or (str(config.resolve(config.report.activities_csv))
                          if config.report.activities_csv else None)
    acts = read_activities(path) if path else None
    snap, db = shlex.quote(str(snapshot)), shlex.quote(str(store_path))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = build_report(
        result, plan=plan, applied=False, run_id="", generated_at=now, status="ok",
        history=history, activities=acts, mask_emails=config.report.mask_emails,
        fix_command=f"usermap plan {snap} --store {db} --out fix.json --only {{issue_id}}",
        decide_command=(f"decide: usermap map {{aloware_user_id}} OWNER_ID --store {db}  or  "
                        f"usermap unmap {{aloware_user_id}} --store {db}"),
        notes=[f"Snapshot {snapshot}; store {store_path} at revision {revision}. "
               "A report only: nothing was changed."])
    return write_report(report, out)
