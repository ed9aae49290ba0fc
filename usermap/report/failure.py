"""The report of a run that did not complete (docs/design.md §8): the frozen ``FailureReport``
(a ``Notification``) and ``build_failure_report``, which builds it from the plain values the runner
passes. Split out of model.py and build.py; both re-export these names.

PURE and cheap: imports only the standard library (the runner holds a ``FailureReport``); the
rendering methods call render.py, imported when called. Must not import: jinja2 or markupsafe (at
import time), pandas, sqlite3, socket, os, pathlib, the runner, the store, the sources, compose.py;
no file I/O, no clock, no environment (tests/report/test_report.py checks the imports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..visible import visible

__all__ = ["FailureReport", "build_failure_report", "ERROR_MESSAGE_MAX"]


# --- the report of a failed run --------------------------------------------------------------
_SUMMARY_ROWS = (("mapped", "mapped"), ("synced", "synced"), ("errors", "with issues"),
                 ("unmapped_aloware", "unmapped Aloware users"),
                 ("unmapped_hubspot", "unmapped HubSpot owners"))


@dataclass(frozen=True)
class FailureReport:
    """The report of a run that did not complete (built by ``build_failure_report``): the page
    (failure.html.j2) and the e-mail (failure.html.j2, failure.txt.j2). A ``Notification``.
    Every text in it is redacted before it gets here."""

    run_id: str
    generated_at: str
    status: str                 # "failed" or "refused"
    exit_code: int
    error_class: str
    error_message: str
    where: str                  # "the sync notebook (the cell numbered [7])", "the runner"
    store: str                  # a sentence: did the store change during the run
    apply: bool = False
    advice: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    summary: dict | None = None                   # the audit's numbers, when the audit ran
    audit_report: str = ""                        # the audit's report file, kept beside
    run_dir: str = ""
    files: tuple[tuple[str, str], ...] = ()       # (name, what it is) in the run folder
    meaning: str = "error"                        # the exit code's meaning, "a source failed"

    def __post_init__(self):
        # Every line of the failure page and e-mail stays one line, whatever a message quotes
        # (an API name, a path): a line break inside a value shows as \n.
        for name in ("run_id", "generated_at", "status", "error_class", "error_message",
                     "where", "store", "audit_report", "run_dir", "meaning"):
            object.__setattr__(self, name, visible(getattr(self, name)))
        for name in ("advice", "notes"):
            object.__setattr__(self, name, tuple(visible(x) for x in getattr(self, name)))
        object.__setattr__(self, "files", tuple((visible(n), visible(w)) for n, w in self.files))

    @property
    def ok(self) -> bool:
        return False

    @property
    def css_class(self) -> str:
        return "warn" if self.status == "refused" else "bad"

    @property
    def summary_rows(self) -> list[tuple[str, int]]:
        s = self.summary or {}
        return [(label, int(s[k])) for k, label in _SUMMARY_ROWS
                if isinstance(s.get(k), (int, float))]

    def subject(self) -> str:
        first = " ".join(self.error_message.split())
        text = visible(f"usermap [{self.status.upper()}]: run {self.run_id}, exit "
                       f"{self.exit_code} ({self.meaning}): {self.error_class}: {first}")
        return text if len(text) <= 200 else text[:199] + "…"

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "generated_at": self.generated_at, "status": self.status,
                "exit_code": self.exit_code, "meaning": self.meaning,
                "error_class": self.error_class, "error_message": self.error_message,
                "where": self.where, "store": self.store, "apply": self.apply,
                "advice": list(self.advice), "notes": list(self.notes), "summary": self.summary,
                "audit_report": self.audit_report, "run_dir": self.run_dir,
                "files": [list(f) for f in self.files], "subject": self.subject()}

    # --- rendering: thin calls into render.py ----------------------------------------------
    def to_html(self) -> str:
        from . import render
        return render.failure_html(self)

    def to_text(self) -> str:
        return self.email_text()

    def email_html(self, location: Mapping[str, str] | None = None) -> str:
        from . import render
        return render.failure_email(self, location, html=True)

    def email_text(self, location: Mapping[str, str] | None = None) -> str:
        from . import render
        return render.failure_email(self, location, html=False)


# --- the failure report -----------------------------------------------------------------------
_ADVICE = {
    4: ("A source failed, so this run used no data from it: no partial listing reached the "
        "planner and nothing was applied.",
        "Check that HubSpot and Aloware answer at the addresses in usermap.toml and that "
        "HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN are valid (the error names the source).",
        "Rate limits, server errors and cut connections are retried within the bounds of "
        "[fetch] in usermap.toml (attempts, total_seconds, max_wait, timeouts); the next "
        "scheduled run tries again."),
    3: ("Refused for safety: nothing was applied.",
        "Review plan.json in the run folder (when there is one). If its changes are intended, "
        "run `usermap run --apply --force`, or apply the plan with `usermap apply PLAN --store "
        "DB --yes --force`; a store that moved on is planned again by the next run."),
    2: ("Fix the file, row or column the error names, then run again.",),
    143: ("The run was stopped by SIGTERM (a scheduler's stop or timeout, or a shutdown): the "
          "kernel was shut down and the lock released. A sync that had not committed changed "
          "nothing: the store is applied in one transaction.",
          "Nothing to do if the stop was intended; otherwise check what sent it (systemd "
          "TimeoutStopSec, cron's timeout). The next scheduled run starts afresh."),
    130: ("The run was interrupted (SIGINT, Ctrl-C): the kernel was shut down and the lock "
          "released. A sync that had not committed changed nothing.",
          "Run it again when ready."),
    1: ("An unexpected error: the notebook (as far as it ran), run.log and kernel.log in the "
        "run folder show where it stopped. Please report it with them.",),
}


ERROR_MESSAGE_MAX = 2000   # characters of the error message the failure report quotes


def _bounded_message(text: str) -> str:
    """The error message cut to ERROR_MESSAGE_MAX characters. It comes here redacted already
    (``redact.bounded`` in the runner; this package reads no environment), so cutting it cannot
    leave a piece of a secret."""
    text = str(text or "")
    return text if len(text) <= ERROR_MESSAGE_MAX else text[:ERROR_MESSAGE_MAX - 1] + "…"


def build_failure_report(*, run_id: str, generated_at: str, status: str, exit_code: int,
                         meaning: str, error_class: str, error_message: str,
                         failed_notebook: str = "", failed_cell: int | None = None,
                         store_before: Mapping | None = None, store_after: Mapping | None = None,
                         fetch: Mapping | None = None, apply: bool = False,
                         summary: dict | None = None, audit_report: str = "",
                         run_dir: str = "", files: Iterable[tuple[str, str]] = ()
                         ) -> FailureReport:
    """The report of a run that did not complete, from plain values (the runner passes its
    RunResult's): ``status`` "failed" or "refused"; ``meaning`` what the exit code means;
    ``error_message`` already redacted; ``store_before``/``store_after`` ``{"revision",
    "links"}`` or None when the store could not be read; ``fetch`` the fetch's record (its
    ``retries`` and ``retries_by_cause``); ``files`` (name, what it is) of the run folder's files
    worth opening. Pure."""
    where = (f"the {failed_notebook} notebook"
             + (f" (the cell numbered [{failed_cell}])" if failed_cell else "")
             if failed_notebook else "the runner")
    b, a = store_before, store_after
    if b and a and b == a:
        store = (f"The store was not changed: revision {a['revision']}, "
                 f"{a['links']:,} links, as before the run.")
    elif b and a:
        store = (f"The store changed during the run: revision {b['revision']} -> "
                 f"{a['revision']}, {b['links']:,} -> {a['links']:,} links.")
    else:
        store = "The store could not be read before and after the run."
    notes = []
    if fetch and fetch.get("retries"):
        causes = ", ".join(f"{k}: {v}" for k, v in
                           sorted((fetch.get("retries_by_cause") or {}).items()))
        notes.append(f"The fetch completed after {fetch['retries']} retries ({causes}).")
    return FailureReport(run_id=run_id, generated_at=generated_at, status=status,
                         exit_code=exit_code, error_class=error_class or "Error",
                         error_message=_bounded_message(error_message) or "(no message)",
                         where=where,
                         store=store, apply=bool(apply),
                         advice=_ADVICE.get(exit_code, _ADVICE[1]), notes=tuple(notes),
                         summary=summary, audit_report=audit_report, run_dir=str(run_dir),
                         files=tuple(files), meaning=meaning)
