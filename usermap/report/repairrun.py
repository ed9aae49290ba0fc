"""The report of an activities repair run, or of its undo (docs/design.md §10: "recorded like a
sync, with its report and notification"): the frozen ``RepairRunReport`` (a ``Notification``,
like ``Report`` and ``FailureReport``) and ``build_repair_run``, which makes it from the run's
journal rows and the plan it applied.

What it says: per person, how many calls and texts got their owner set, how many were left
alone because their owner changed since the plan, and how many failed (HubSpot refused the
owner, or the run stopped before it could say); the state HubSpot and the journal are in after
the run; and what to do next (undo it, or apply the same plan again to complete it).

PURE: the standard library, ``visible`` and the journal's words of ``activities.rules``; the
rendering methods call render.py, imported when called. No I/O, no clock, no environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..labels import REFUSED_OWNER
from ..visible import visible
from .text import one_line

__all__ = ["RepairRunReport", "build_repair_run"]


@dataclass(frozen=True)
class RepairRunReport:
    """An activities run's page (repair_run.html.j2) and e-mail (the same template without
    the page's head, and repair_run.txt.j2). Every text in it is one line (``visible``)."""

    run_id: str
    generated_at: str
    status: str                  # "ok", "warning" (some failed) or "failed" (it stopped)
    kind: str                    # "repair" or "undo"
    undo_of: str                 # the repair run an undo takes back ("" for a repair)
    resumed: bool
    planned: int                 # activities in the plan
    done: int                    # owner set by this run
    skipped: int                 # left alone: changed since the plan
    failed: int                  # not written: HubSpot refused, or the run stopped first
    people: tuple[tuple[str, str, int, int, int], ...]   # (name, aloware id, set, skipped, failed)
    skip_reasons: tuple[tuple[str, int], ...]             # (words, count), most first
    state: tuple[str, ...]       # the state after the run, in sentences
    next_steps: tuple[str, ...]  # what to do next, commands included
    error: str = ""              # why the run stopped (redacted by the caller)
    notes: tuple[str, ...] = ()
    mask_emails: bool = False

    def __post_init__(self):
        for name in ("run_id", "generated_at", "status", "kind", "undo_of", "error"):
            object.__setattr__(self, name, visible(getattr(self, name)))
        for name in ("state", "next_steps", "notes"):
            object.__setattr__(self, name, tuple(visible(x) for x in getattr(self, name)))
        object.__setattr__(self, "people", tuple((visible(n), visible(u), s, k, f)
                                                 for n, u, s, k, f in self.people))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def what(self) -> str:
        """"activities repair" or "undo of activities repair RUN"."""
        return (f"undo of activities repair {self.undo_of}" if self.kind == "undo"
                else "activities repair")

    def subject(self) -> str:
        return one_line(f"usermap [{self.status.upper()}]: {self.what}, run {self.run_id}: "
                        f"{self.done:,} set, {self.skipped:,} skipped (changed since the "
                        f"plan), {self.failed:,} failed")[:200]

    def first_line(self) -> str:
        verb = "taken back" if self.kind == "undo" else "set to their intended owner"
        head = f"{self.done:,} of {self.planned:,} calls and texts in the plan"
        out = f"{head} {verb}; {self.skipped:,} left alone (changed since the plan)"
        out += f"; {self.failed:,} failed" if self.failed else ""
        return out + ("; the run stopped before it finished." if self.status == "failed"
                      else ".")

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "generated_at": self.generated_at, "status": self.status,
                "kind": self.kind, "undo_of": self.undo_of, "resumed": self.resumed,
                "planned": self.planned, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "people": len(self.people), "error": self.error,
                "subject": self.subject()}

    # --- rendering: thin calls into render.py ----------------------------------------------
    def to_html(self) -> str:
        from . import render
        return render.repair_run_html(self)

    def email_html(self, location: Mapping[str, str] | None = None) -> str:
        from . import render
        return render.repair_run_email(self, location, html=True)

    def email_text(self, location: Mapping[str, str] | None = None) -> str:
        from . import render
        return render.repair_run_email(self, location, html=False)


def _is_refused(row: dict) -> bool:
    return row.get("reason") == REFUSED_OWNER


def _tally(changes, rows: Mapping, people_of: Mapping, names: Mapping):
    """Per person (set, skipped, failed) and the skip reasons, from the plan's changes and the
    run's journal rows ({(object, id): row}); a change without a row was not reached."""
    per: dict[str, list[int]] = {}
    reasons: dict[str, int] = {}
    totals = [0, 0, 0]
    obj_of = {"call": "calls", "sms": "communications"}
    for c in changes:
        key = (obj_of.get(c["object"], c["object"]), c["activity_id"])
        row = rows.get(key) or {}
        state = row.get("state")
        i = (0 if state == "done" else 1 if state == "skipped" and not _is_refused(row)
             else 2)
        if i == 1:
            why = str(row.get("reason") or "").removeprefix("skipped: ")
            reasons[why] = reasons.get(why, 0) + 1
        totals[i] += 1
        per.setdefault(str(people_of.get(key, "")), [0, 0, 0])[i] += 1
    people = sorted(((visible(names.get(u) or (f"Aloware user {u}" if u else
                                               "no Aloware user named")), u, *n)
                     for u, n in per.items()), key=lambda p: (-sum(p[2:]), p[1]))
    return totals, tuple(people), tuple(sorted(reasons.items(), key=lambda t: (-t[1], t[0])))


def build_repair_run(*, run_id: str, generated_at: str, plan: dict, rows: Mapping,
                     people_of: Mapping, names: Mapping, resumed: bool, config_arg: str,
                     plan_file: str, error: str = "", mask_emails: bool = False
                     ) -> RepairRunReport:
    """The report of an activities run from plain values: ``plan`` the plan it applied,
    ``rows`` its journal ({(object, activity id): row with state and reason}), ``people_of``
    {(object, activity id): aloware user id}, ``names`` {aloware user id: name}, ``error``
    (redacted) when it stopped; ``config_arg`` and ``plan_file`` as the next commands name
    them (``--config`` value, the plan kept in the run folder)."""
    changes = plan.get("changes") or []
    (done, skipped, failed), people, reasons = _tally(changes, rows, people_of, names)
    undo = plan.get("kind") == "undo"
    stopped = bool(error)
    unsure = sum(1 for r in rows.values() if r.get("state") == "intent")
    status = "failed" if stopped else ("warning" if failed else "ok")
    state = [f"HubSpot now holds the owner this run wrote for {done:,} "
             f"{'call or text' if done == 1 else 'calls and texts'}"
             + ("" if undo else "; the journal keeps each one's old owner, so it can be undone")
             + "."]
    if skipped:
        state.append(f"{skipped:,} kept the owner they had: it changed since the plan (a person, "
                     f"a workflow or another run), and usermap never overwrites such a change.")
    if stopped:
        state.append(f"The run stopped before it finished: {unsure:,} may or may not have "
                     f"reached HubSpot (the journal says so; the next apply checks each), and "
                     f"{max(failed - unsure, 0):,} were not sent yet.")
    elif failed:
        state.append(f"{failed:,} were not written: HubSpot refused their owner (not a valid "
                     f"owner any more).")
    steps = _next_steps(run_id, undo=undo, stopped=stopped, done=done, skipped=skipped,
                        config_arg=config_arg, plan_file=plan_file)
    return RepairRunReport(run_id=run_id, generated_at=generated_at, status=status,
                           kind="undo" if undo else "repair",
                           undo_of=str(plan.get("undo_of") or ""), resumed=resumed,
                           planned=len(changes), done=done, skipped=skipped, failed=failed,
                           people=people, skip_reasons=reasons, state=tuple(state),
                           next_steps=steps, error=error, mask_emails=mask_emails,
                           notes=(("This run completed an earlier attempt of the same plan "
                                   "(resumed).",) if resumed else ()))


def _next_steps(run_id: str, *, undo: bool, stopped: bool, done: int, skipped: int,
                config_arg: str, plan_file: str) -> tuple[str, ...]:
    c = f"--config {config_arg}"
    steps = []
    if stopped:
        steps.append(f"Apply the same plan again to complete this run (it resumes it and "
                     f"skips what is done): `usermap activities apply {plan_file} {c} --yes`.")
    if done and not undo:
        steps.append(f"To undo this repair: `usermap activities undo {run_id} {c} --out "
                     f"undo.json`, review undo.json, then `usermap activities apply undo.json "
                     f"{c} --yes`. It writes the old owner back only where the owner is still "
                     f"the one this run wrote.")
    if done and undo:
        steps.append(f"To set these owners again, make a new repair plan: `usermap activities "
                     f"plan {c} --out repair.json`, then apply it.")
    if skipped:
        steps.append(f"To see where the skipped ones stand now, scan again: `usermap "
                     f"activities impact {c} --out impact/`.")
    if not steps:
        steps.append("Nothing to do.")
    return tuple(steps)
