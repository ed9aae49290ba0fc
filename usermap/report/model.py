"""The report's data model (docs/design.md §8): frozen dataclasses that hold everything the HTML page
and the e-mail show, and the ``Notification`` contract that ``notify`` takes.

``Report`` (a run's audit, plan, history and activity impact) and ``FailureReport`` (a run that
did not complete; in failure.py) are trees of frozen dataclasses built by ``build.py``. Long lists
are ``Table`` objects (table.py) stored column by column (one tuple per column): that is what the
page's script wants (``Table.page_json``). ``to_json`` gives the numbers for summary files and notebooks.

The rendering methods (``to_html``, ``email_text``, ``email_html``) are thin calls into
``render.py``, imported when called, so importing this module does not import Jinja.

Imports only the standard library at import time (pandas when a long column is encoded for
the page), so the runner can hold a ``FailureReport`` cheaply. Must not import: jinja2 or
markupsafe (at import time), sqlite3, socket, the runner, the store, the sources; it does no
file I/O and reads no clock or environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Protocol, runtime_checkable

from ..visible import visible
from .repair import RepairImpact
from .table import Column, Table, _encode_column
from .text import one_line, plural


__all__ = [
    "Notification", "Report", "Overview", "Changes", "SincePrevious", "Chart",
    "ChartDot", "TrendPoint", "ActivityImpact",
]

# --- the contract notify takes ---------------------------------------------------------------
@runtime_checkable
class Notification(Protocol):
    """What ``usermap.notify`` needs of a report to build, keep and send its e-mail. ``Report``
    and ``FailureReport`` both satisfy it.

    ``location`` says where the full report is: a dict with the keys ``attached`` (the attached
    file's name), ``url`` and ``path``, each "" when it does not apply (missing keys are "").
    """

    @property
    def run_id(self) -> str: ...            # the X-Usermap-Run header ("" outside a run)

    @property
    def generated_at(self) -> str: ...      # "YYYY-MM-DDTHH:MM:SSZ": the Date header

    @property
    def status(self) -> str: ...            # "ok", "failed", "refused", ...: X-Usermap-Status

    def subject(self) -> str: ...           # one line, the e-mail's Subject

    def email_text(self, location: Mapping[str, str] | None = None) -> str: ...

    def email_html(self, location: Mapping[str, str] | None = None) -> str: ...  # has <style>


# --- the sections of a report ----------------------------------------------------------------
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

    def email_rows(self, limit: int | None = None) -> list[dict]:
        """The changes an e-mail caused (their e-mail before → after), the first ``limit``."""
        keep = [i for i, v in enumerate(self.table.col("email_change")) if v]
        keys = [c.key for c in self.table.columns]
        return [{k: col[i] for k, col in zip(keys, self.table.data)}
                for i in (keep if limit is None else keep[:limit])]

    @property
    def email_count(self) -> int:
        return sum(1 for v in self.table.col("email_change") if v)

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

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "at": self.at, "mapped": self.mapped,
                "synced": self.synced, "errors": self.errors, "mapped_share": self.share,
                "current": self.current}


@dataclass(frozen=True)
class ChartDot:
    x: float
    y: float
    label: str        # the tooltip: run and value


@dataclass(frozen=True)
class Chart:
    """An inline SVG line chart, laid out by build.py (numbers only); the template draws it."""

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


# --- the report of a run ---------------------------------------------------------------------
@dataclass(frozen=True)
class Report:
    """Everything the HTML report and the e-mail show, built by ``build_report``. A
    ``Notification``."""

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
    repair: RepairImpact | None = None   # §10: calls and texts on the wrong owner
    before: Overview | None = None       # an applied run: the state before its changes
    fixed: Table | None = None           # an applied run: the errors its changes fixed
    needs_person: Table | None = None    # what the sync never fixes and a person must act on
    for_information: Table | None = None  # cases to know about, nobody must act (not counted)
    mode: str = ""                       # applied, dry_run, refused, in_step, report ("" derived)

    def __post_init__(self):
        # Text that reaches headers and the e-mail's first lines stays on one line, however
        # the report was made (``dataclasses.replace`` included).
        for name in ("run_id", "generated_at", "status"):
            object.__setattr__(self, name, visible(getattr(self, name)))
        object.__setattr__(self, "notes", tuple(visible(n) for n in self.notes))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def kind(self) -> str:
        """What this run was, for the words of the page and the e-mail: ``applied``,
        ``dry_run`` (a plan, not applied), ``refused``, ``in_step`` (nothing to apply) or
        ``report`` (an audit without a sync)."""
        if self.mode:
            return self.mode
        if self.status == "refused":
            return "refused"
        if self.changes is not None and self.changes.applied:
            return "applied"
        if self.changes is not None:
            return "dry_run" if self.changes.total else "in_step"
        return "report"

    @property
    def needs_count(self) -> int:
        return len(self.needs_person) if self.needs_person is not None else 0

    @property
    def fyi_count(self) -> int:
        return len(self.for_information) if self.for_information is not None else 0

    def fyi_kinds(self) -> list[tuple[str, str, int, str]]:
        """(side, code, how many, what to do) of each kind of case for information, most first:
        the e-mail says each kind's advice once, then lists the people."""
        t = self.for_information
        if t is None or not len(t):
            return []
        count: dict[str, int] = {}
        advice: dict[str, str] = {}
        for what, todo in zip(t.col("what"), t.col("advice")):
            count[what] = count.get(what, 0) + 1
            advice.setdefault(what, todo)
        return [(*w.split(":", 1), n, advice[w])
                for w, n in sorted(count.items(), key=lambda x: -x[1])]

    def headline(self) -> list[tuple[str, str, int, int | None]]:
        """(key, label, now, before) of each headline number; before is None without an
        applied run."""
        o, b = self.overview, self.before
        rows = [("synced", "correctly linked", "synced"), ("mapped", "links", "mapped"),
                ("errors", "links with an error", "errors"),
                ("email_conflicts", "e-mail conflicts", "email_conflicts"),
                ("unmapped_aloware", "Aloware users without a link", "unmapped_aloware"),
                ("unmapped_hubspot", "HubSpot owners without a link", "unmapped_hubspot")]
        return [(k, label, getattr(o, a), getattr(b, a) if b is not None else None)
                for k, label, a in rows]

    def first_line(self) -> str:
        """The e-mail's first line: what happened, in plain words."""
        o, c = self.overview, self.changes
        people = f"{o.synced:,} of {o.mapped:,} links are correct"
        if o.unmapped_aloware:
            people += f"; {o.unmapped_aloware:,} Aloware users have no link"
        need = (f"{plural(self.needs_count, 'case')} {'needs' if self.needs_count == 1 else 'need'}"
                " a person" if self.needs_count else "nothing needs a person")
        k = self.kind
        if k == "applied":
            b = self.before
            fixed = len(self.fixed) if self.fixed is not None else 0
            return (f"The sync was applied: {c.adds:,} linked, {c.updates:,} updated, "
                    f"{c.removes:,} removed, {plural(fixed, 'error')} fixed. Now "
                    f"{o.synced:,} people are correctly linked"
                    + (f" (before: {b.synced:,})" if b is not None else "")
                    + f"; {need}.")
        if k == "dry_run":
            return (f"Dry run, nothing was changed: {people}. A sync would link {c.adds:,}, "
                    f"update {c.updates:,} and remove {c.removes:,}; {need}.")
        if k == "refused":
            return (f"Refused for safety, nothing was changed: {people}; {need}.")
        if k == "in_step":
            return f"Nothing to change: the store is in step with both directories. {people}; {need}."
        return f"{people}; {need}."

    def legend_codes(self) -> list[tuple[str, str, str, str]]:
        """(section, code, label, what to do) for every code this report shows."""
        from ..labels import (ALOWARE_REASON_ADVICE, ALOWARE_REASON_LABELS,
                              HUBSPOT_REASON_ADVICE, HUBSPOT_REASON_LABELS, ISSUE_ADVICE,
                              ISSUE_LABELS)
        from ..engine.models import ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES
        return ([("Link with an error", c, ISSUE_LABELS[c], ISSUE_ADVICE[c]) for c in ISSUE_CODES]
                + [("Aloware user without a link", r, ALOWARE_REASON_LABELS[r],
                    ALOWARE_REASON_ADVICE[r]) for r in ALOWARE_REASONS]
                + [("HubSpot owner without a link", r, HUBSPOT_REASON_LABELS[r],
                    HUBSPOT_REASON_ADVICE[r]) for r in HUBSPOT_REASONS])

    @property
    def tables(self) -> tuple[Table, ...]:
        """Every table the page draws, in page order."""
        out = []
        if self.needs_person is not None:
            out.append(self.needs_person)
        if self.for_information is not None:
            out.append(self.for_information)
        if self.changes is not None:
            out.append(self.changes.table)
        if self.fixed is not None:
            out.append(self.fixed)
        if self.since is not None:
            out += [self.since.new, self.since.resolved]
        if self.activity is not None:
            out.append(self.activity.users)
        out += [self.errors, self.mapped, self.unmapped_aloware, self.unmapped_hubspot]
        return tuple(out)

    def subject(self) -> str:
        """One line in plain words: what happened, how many people are correctly linked, how
        many cases need a person, e.g. ``usermap: sync applied, 365 of 369 correctly linked,
        4 need a person``."""
        o, c, k = self.overview, self.changes, self.kind
        what = {"applied": "sync applied", "dry_run": "dry run, nothing changed",
                "refused": "nothing changed", "in_step": "nothing to change",
                "report": ""}[k]
        if c is not None and k in ("applied", "dry_run", "refused"):
            words = (("linked", "updated", "removed") if k == "applied" else
                     ("to link", "to update", "to remove"))
            done = [f"{n:,} {w}" for n, w in zip((c.adds, c.updates, c.removes), words) if n]
            what += f" ({', '.join(done)})" if done else ""
        parts = ([what] if what else []) + [f"{o.synced:,} of {o.mapped:,} links correct"]
        if o.errors:
            parts.append(plural(o.errors, "error"))
        parts.append(f"{self.needs_count:,} {'needs' if self.needs_count == 1 else 'need'} a person")
        if self.since is not None and len(self.since.new):
            parts.append(plural(len(self.since.new), "new issue"))
        head = "usermap" if self.ok else f"usermap [{one_line(self.status).upper()[:40]}]"
        return one_line(f"{head}: {', '.join(parts)}")

    def to_json(self, rows: bool = False) -> dict:
        """The report's numbers (for summary files and notebooks); ``rows=True`` adds every
        table's rows."""
        out = {
            "run_id": self.run_id, "generated_at": self.generated_at, "status": self.status,
            "notes": list(self.notes), "mask_emails": self.mask_emails, "subject": self.subject(),
            "kind": self.kind, "first_line": self.first_line(),
            "overview": self.overview.to_json(),
            "before": self.before.to_json() if self.before else None,
            "fixed": list(self.fixed.col("issue_id")) if self.fixed is not None else None,
            "needs_person": self.needs_count,
            "for_information": self.fyi_count,
            "changes": self.changes.to_json() if self.changes else None,
            "since_previous": self.since.to_json() if self.since else None,
            "trend": [p.to_json() for p in self.trend],
            "activity": self.activity.to_json() if self.activity else None,
            "repair": self.repair.to_json() if self.repair else None,
        }
        if rows:
            out["tables"] = {t.id: t.to_json() for t in self.tables}
        return out

    # --- what the e-mail can carry when the full report is too big ------------------------
    def compact(self) -> "Report":
        """The report without the long lists a recipient does not act on: the mapped list
        keeps only links with an error, the unmapped Aloware users only the eligible ones."""
        from dataclasses import replace
        note = ("A compact copy for the e-mail: the list of mapped users holds only the links "
                "with an error, and the Aloware users without a link only those who could be "
                "linked. Every number is complete; the full report is kept with the run.")
        return replace(self, mapped=self.mapped.keep("status", lambda v: v != "synced"),
                       unmapped_aloware=self.unmapped_aloware.keep(
                           "reason", lambda v: v != "not_eligible"),
                       notes=self.notes + (note,))

    def worklist_csv(self, limit: int | None = None) -> bytes:
        """The Needs a person list as CSV (UTF-8 with BOM, for spreadsheets; cells that a
        spreadsheet would run as a formula are quoted with a leading apostrophe)."""
        import csv
        import io
        from ..labels import ALOWARE_REASON_LABELS, HUBSPOT_REASON_LABELS, ISSUE_LABELS
        words = {"issue": ISSUE_LABELS, "aloware": ALOWARE_REASON_LABELS,
                 "hubspot": HUBSPOT_REASON_LABELS}
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(["what", "code", "name", "aloware_user_id", "hubspot_owner_id", "email",
                    "what_to_do", "command", "aloware_profile"])
        t = self.needs_person
        for r in (t.rows(limit) if t is not None else ()):
            side, _, code = r["what"].partition(":")
            w.writerow([_cell(x) for x in (
                words.get(side, {}).get(code, code), code, r["name"], r["aloware_user_id"],
                r["hubspot_owner_id"], r["email"], r["advice"], r["fix"], r["profile_url"])])
        return ("\ufeff" + out.getvalue()).encode("utf-8")

    def attachments(self, full_size: int | None = None) -> Iterator[tuple[str, str, str, bytes, str]]:
        """What the e-mail attaches when the full report does not fit, best first: (file name,
        maintype, subtype, bytes, what it is in words). The compact report, then the worklist
        as CSV (all of it, then its first rows)."""
        if full_size is None or full_size <= 600_000:
            yield ("report-compact.html", "text", "html",
                   self.compact().to_html().encode("utf-8"),
                   "a compact copy of the report (opens offline in a browser)")
        n = self.needs_count
        if n:
            yield ("needs_person.csv", "text", "csv", self.worklist_csv(),
                   f"the {plural(n, 'case')} that need a person, as CSV")
            for k in (2000, 1000, 500, 300, 200, 150, 100, 50, 20):
                if k < n:
                    yield ("needs_person.csv", "text", "csv", self.worklist_csv(k),
                           f"the first {k:,} of the {n:,} cases that need a person, as CSV")

    # --- rendering: thin calls into render.py ----------------------------------------------
    def to_html(self) -> str:
        """The self-contained HTML report."""
        from . import render
        return render.report_html(self)

    def to_text(self) -> str:
        """The plain-text summary (the e-mail's text part without the report's location)."""
        return self.email_text()

    def email_text(self, location: Mapping[str, str] | None = None) -> str:
        from . import render
        return render.report_email(self, location, html=False)

    def email_html(self, location: Mapping[str, str] | None = None) -> str:
        """The e-mail's HTML part, with a <style> block (notify inlines it with css-inline)."""
        from . import render
        return render.report_email(self, location, html=True)


# --- small text helpers (the subject lines here; Jinja filters in render.py) -----------------
def _cell(v) -> str:
    """A CSV cell a spreadsheet shows as text (a leading =, +, -, @, tab or CR quoted), on one
    line (``usermap.visible``)."""
    s = "" if v is None else str(v)
    s = "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s
    return visible(s)

