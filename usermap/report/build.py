"""Building the report model (docs/design.md §8): PURE functions from data to the frozen dataclasses
of model.py.

``build_report`` takes the audit, the plan (and whether it was applied), the history of earlier
audits (dicts as the store records them) and, optionally, an activities DataFrame, and returns a
``Report``. ``build_failure_report`` (in failure.py) takes the plain values of a
run that did not complete and returns a ``FailureReport``. Everything they need is passed in:
``generated_at`` (no clock), the commands to print, whether to mask e-mails (no configuration, no
environment).

Decisions the spec leaves open:
- "Since the previous run" compares this audit's issue ids with those of the newest history entry
  whose run id differs from this run's (a runner may record this run's audit before reporting).
- The trend plots the history, oldest first, then this run; mapped share = synced / mapped.
- Activity impact counts activities whose Aloware user has no *synced* link: no link at all
  (by the unmapped reason), a link with an issue (by its code), or a user id in neither listing.
- ``mask_emails`` masks every e-mail in every view as ``j***@example.com`` (first character of the
  local part, then ``***``), including those inside error details and suggestions.

Must not import: jinja2, markupsafe, sqlite3, socket, os, pathlib, the store, the sources, the
runner, render.py or compose.py; no file I/O, no clock, no environment (tests/report/test_report.py
checks the imports). chart.py lays out the trend charts, failure.py builds the failure report,
activity.py the activity impact and cells.py the shared cells, under the same rules.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from ..engine.models import (
    U_ID, ACTIONS, ADD, ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES, L_A_EMAIL, L_H_EMAIL,
    L_OWNER, L_USER, METHOD_MANUAL, O_EMAIL, O_ID, REMOVE, UPDATE, fill_command,
    profile_link,
)
from .activity import ACTIVITY_COLUMNS, ACTIVITY_TYPES, _activity
from .cells import _FIRST, _LAST, _OWNER, _USER, _masked, _strs, mask_email
from .chart import line_chart
from .repair import build_repair
from ..labels import (ALOWARE_REASON_ADVICE, FOR_INFORMATION_HUBSPOT, HUBSPOT_REASON_ADVICE,
                      KEEP_WITHOUT_OWNER, advice_for, NEEDS_PERSON_ALOWARE, NEEDS_PERSON_HUBSPOT,
                      NEEDS_PERSON_ISSUES)
from .text import SAFE_URL
from .model import Changes, Overview, Report, SincePrevious, TrendPoint
from .table import Column, Table

__all__ = ["build_report", "fix_for", "DEFAULT_FIX_COMMAND", "DEFAULT_DECIDE_COMMAND"]

DEFAULT_FIX_COMMAND = "usermap plan SNAPSHOT --store DB --out fix.json --only {issue_id}"
# What a person decides where the sync leaves a link alone: both choices complete (the link's own
# ids, quoted), never a placeholder that `usermap map` would refuse.
DEFAULT_DECIDE_COMMAND = ("keep the link: usermap map {aloware_user_id} {hubspot_owner_id} "
                          "--store DB  |  unlink: usermap unmap {aloware_user_id} --store DB")


# --- building ---------------------------------------------------------------------------------
def build_report(audit, *, plan=None, applied: bool = False, run_id: str = "",
                 generated_at: str = "", status: str = "ok", history: Iterable[dict] = (),
                 activities: pd.DataFrame | None = None, mask_emails: bool = False,
                 fix_command: str = DEFAULT_FIX_COMMAND,
                 decide_command: str = DEFAULT_DECIDE_COMMAND,
                 notes: Iterable[str] = (), before=None, repair: dict | None = None) -> Report:
    """The report of one audit (and the plan of its run). Pure: no I/O, no clock.

    ``fix_command`` and ``decide_command`` are templates with ``{issue_id}``,
    ``{aloware_user_id}``, ``{hubspot_owner_id}`` and ``{code}``: the first is an error's fix, the
    second what a person must decide where a sync leaves the link alone.

    ``before``: after an applied run, the audit of the store *before* the changes (``audit``
    is then the audit of the store after them, against the same snapshot): the report shows
    the state after, this run's changes, the issues they fixed, and before -> after for every
    headline number. ``repair``: the impact summary of §10 (calls and texts on the wrong
    owner), shown per person.
    """
    mask = mask_email if mask_emails else None
    summary = audit.summary()
    overview = _overview(summary)
    mapped_df = audit.mapped
    mapped = _mapped_table(mapped_df, mask)
    errors = _errors_table(audit.errors, mask, fix_command, decide_command, audit.profile_url)
    ua = _unmapped_aloware_table(audit.unmapped_aloware, mask, audit.profile_url)
    uh = _unmapped_hubspot_table(audit.unmapped_hubspot, mask)
    names = _NameBook(audit, mapped_df)
    if before is not None:
        names_before = _NameBook(before, before.mapped)
    else:
        names_before = names
    changes = _changes(plan, applied, names_before, mask) if plan is not None else None
    before_overview = fixed = None
    if before is not None:
        before_overview = _overview(before.summary())
        was = [i for i in before.mapped["issue_id"].tolist() if i]
        still = set(i for i in mapped_df["issue_id"].tolist() if i)
        fixed = _issue_table("fixed_issues", "Errors this run fixed",
                             sorted((i for i in was if i not in still), key=_issue_sort),
                             names_before, "This run fixed no error.")
    history = [h for h in history if str(h.get("run_id", "")) != run_id or not run_id]
    current_ids = [i for i in mapped_df["issue_id"].tolist() if i]
    since = _since(history[-1], current_ids, names) if history else None
    trend = tuple(_trend_point(h) for h in history) + (TrendPoint(
        run_id or "this run", generated_at, overview.mapped, overview.synced, overview.errors,
        current=True),)
    charts = (
        line_chart("trend-share", "Mapped share (synced / mapped)", trend,
               lambda p: None if p.share is None else 100.0 * p.share, percent=True),
        line_chart("trend-errors", "Errors", trend, lambda p: float(p.errors), percent=False),
    )
    activity = (_activity(activities, mapped_df, audit.unmapped_aloware, names, mask)
                if activities is not None else None)
    needs, fyi = _needs_person(errors, ua, uh, activity)
    return Report(run_id=run_id, generated_at=generated_at, status=str(status or "ok"),
                  notes=tuple(str(n) for n in notes), mask_emails=bool(mask_emails),
                  overview=overview, mapped=mapped, errors=errors, unmapped_aloware=ua,
                  unmapped_hubspot=uh, changes=changes, since=since, trend=trend, charts=charts,
                  activity=activity, repair=_repair(repair, names) if repair else None,
                  before=before_overview, fixed=fixed, needs_person=needs,
                  for_information=fyi)


def _repair(summary: dict, names: "_NameBook"):
    ids = [str(p.get("aloware_user_id", "")) for p in summary.get("by_person") or ()]
    return build_repair(summary, dict(zip(ids, names.names(ids))))


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




def _mapped_table(m: pd.DataFrame, mask) -> Table:
    email = _strs(m["email"])
    h_email = _strs(m["hubspot_email"])
    # The HubSpot e-mail is shown only where it differs (a conflict): half the page's bytes else.
    h_shown = [h if h.strip().lower() != a.strip().lower() else ""
               for a, h in zip(email, h_email)]
    cols = (_FIRST, _LAST, _USER, _OWNER, Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail (if different)", "email", search=True),
            Column("method", "Method"), Column("status", "Status", "status"),
            Column("issue", "Issue", "code", labels="issue"))
    data = (_strs(m["first_name"]), _strs(m["last_name"]), _strs(m[L_USER]), _strs(m[L_OWNER]),
            _masked(email, mask), _masked(h_shown, mask), _strs(m["method"]), _strs(m["status"]),
            _strs(m["issue"]))
    return Table("mapped", "Mapped users", cols, tuple(tuple(c) for c in data), facet="issue",
                 empty="No links in the store.")


def fix_for(code: str, method: str, issue_id: str, user: str, owner: str,
            fix_command: str = DEFAULT_FIX_COMMAND,
            decide_command: str = DEFAULT_DECIDE_COMMAND) -> str:
    """An error's fix: the plan restricted to it, or what a person must decide; every id
    shell-quoted (``models.fill_command``)."""
    if needs_decision(code, method) and not str(owner or "").strip() \
            and "  |  " in decide_command:
        # no owner to name: the unlink choice (the template's last), keeping said in words
        unlink = decide_command.rpartition("  |  ")[2]
        return (fill_command(unlink, issue_id=issue_id, aloware_user_id=user, code=code)
                + "  |  " + KEEP_WITHOUT_OWNER)
    return fill_command(decide_command if needs_decision(code, method) else fix_command,
                        issue_id=issue_id, aloware_user_id=user, hubspot_owner_id=owner,
                        code=code)


def needs_decision(code: str, method: str) -> bool:
    """An issue the sync leaves to a person: an Aloware e-mail change, or an HubSpot e-mail
    change on a pinned (manual) link."""
    return code == "aloware_email_changed" or (
        code == "hubspot_email_changed" and method == METHOD_MANUAL)


def _errors_table(e: pd.DataFrame, mask, fix_command: str, decide_command: str,
                  profile_template: str | None = None) -> Table:
    ids, codes, users, owners = (_strs(e["issue_id"]), _strs(e["code"]),
                                 _strs(e[L_USER]), _strs(e[L_OWNER]))
    methods = _strs(e["method"])
    email, h_email, detail = _strs(e["email"]), _strs(e["hubspot_email"]), _strs(e["detail"])
    if mask:
        detail = [d.replace(f"Aloware {a}", f"Aloware {mask(a)}")
                  .replace(f"HubSpot {h}", f"HubSpot {mask(h)}") if (a or h) else d
                  for d, a, h in zip(detail, email, h_email)]
    # A command only where a person must act: the sync fixes the others by itself (their
    # plan-only command stays in errors.csv).
    fixes = [fix_for(c, m, i, u, o, fix_command, decide_command) if needs_decision(c, m) else ""
             for c, m, i, u, o in zip(codes, methods, ids, users, owners)]
    advice = [advice_for(c, m) for c, m in zip(codes, methods)]
    urls = _profile_urls(users, profile_template, [""] * len(users))
    cols = (Column("code", "Issue", "code", labels="issue"), Column("name", "Name", search=True),
            Column(L_USER, "Aloware id", "link", search=True, link="profile_url"), _OWNER,
            Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail", "email", search=True, hidden=True),
            Column("detail", "Detail"), Column("advice", "What to do", "advice"),
            Column("fix", "Command", "command"),
            Column("issue_id", "Issue id", "id", search=True, hidden=True),
            Column("method", "Method", hidden=True),
            Column("profile_url", "Profile", hidden=True))
    # The HubSpot e-mail is searched, not drawn: the detail names both e-mails of a conflict.
    data = (codes, _strs(e["name"]), users, owners, _masked(email, mask),
            _masked(h_email, mask), detail, advice, fixes, ids, methods, urls)
    return Table("errors", "Errors", cols, tuple(tuple(c) for c in data), facet="code",
                 empty="No errors: every link is synced.")


_NEED_RANK = {("issue", c): k for k, c in enumerate(NEEDS_PERSON_ISSUES)}
_NEED_RANK |= {("aloware", r): 10 + k for k, r in enumerate(NEEDS_PERSON_ALOWARE)}
_NEED_RANK |= {("hubspot", r): 20 + k for k, r in enumerate(NEEDS_PERSON_HUBSPOT)}
_NEED_RANK |= {("hubspot", r): 30 + k for k, r in enumerate(FOR_INFORMATION_HUBSPOT)}


def _decision_rows(errors: Table) -> list[tuple]:
    """(side, code, name, user, owner, e-mail, advice, command, profile) of every error the
    sync leaves to a person's decision."""
    return [("issue", r["code"], r["name"], r[L_USER], r[L_OWNER], r["email"], r["advice"],
             r["fix"], r["profile_url"])
            for r in errors.rows() if needs_decision(r["code"], r["method"])]


def _user_rows(ua: Table, reasons) -> list[tuple]:
    """The same for the Aloware users without a link whose reason is one of ``reasons``."""
    return [("aloware", r["reason"], f"{r['first_name']} {r['last_name']}".strip(), r[L_USER],
             "", r["email"], ALOWARE_REASON_ADVICE[r["reason"]], "", r["profile_url"])
            for r in ua.rows() if r["reason"] in reasons]


def _owner_rows(uh: Table, reasons) -> list[tuple]:
    """The same for the HubSpot owners without a link whose reason is one of ``reasons``."""
    return [("hubspot", r["reason"], f"{r['first_name']} {r['last_name']}".strip(), "",
             r[L_OWNER], r["email"], HUBSPOT_REASON_ADVICE[r["reason"]], "", "")
            for r in uh.rows() if r["reason"] in reasons]


def _needs_person(errors: Table, ua: Table, uh: Table, activity) -> tuple[Table, Table]:
    """"Needs a person" (what the sync will never fix on its own and someone must act on:
    e-mail conflicts left for a decision, duplicates, users without an owner, owners with a bad
    e-mail) and "For information" (owners whose advice is "Nothing, unless ...": counted apart,
    never as needing a person). Most activities first when activities are known, then by kind
    of problem, then by name."""
    acts: dict[str, int] = {}
    if activity is not None:
        for u, t in zip(activity.users.col(L_USER), activity.users.col("total")):
            acts[u] = acts.get(u, 0) + int(t)
    needs = (_decision_rows(errors) + _user_rows(ua, NEEDS_PERSON_ALOWARE)
             + _owner_rows(uh, NEEDS_PERSON_HUBSPOT))
    needs = _people_table("needs_person", "Needs a person", needs, acts, activity,
                          "Nothing needs a person: the sync handles everything.")
    fyi = _people_table("for_information", "For information",
                        _owner_rows(uh, FOR_INFORMATION_HUBSPOT), acts, None,
                        "Nothing to note.")
    return needs, fyi


def _people_table(tid: str, title: str, rows: list[tuple], acts: dict, activity, empty: str
                  ) -> Table:
    rows.sort(key=lambda x: (-acts.get(x[3], 0) if x[3] else 0,
                             _NEED_RANK.get((x[0], x[1]), 99), x[2].lower(), x[3], x[4]))
    where = {"issue": "Link", "aloware": "Aloware user", "hubspot": "HubSpot owner"}
    cols = [Column("what", "What", "code", labels="need"),
            Column("name", "Name", search=True),
            Column(L_USER, "Aloware id", "link", search=True, link="profile_url"), _OWNER,
            Column("email", "E-mail", "email", search=True),
            Column("advice", "What to do", "advice"), Column("fix", "Command", "command"),
            Column("side", "Record"),
            Column("profile_url", "Profile", hidden=True)]
    data = [[f"{k}:{c}" for k, c, *_ in rows]] + [[x[i] for x in rows] for i in range(2, 8)]
    data.append([where[x[0]] for x in rows])
    data.append([x[8] for x in rows])
    if activity is not None:
        cols.insert(6, Column("activities", "Activities", "num"))
        data.insert(6, [str(acts.get(x[3], 0)) if x[3] else "" for x in rows])
    return Table(tid, title, tuple(cols), tuple(tuple(c) for c in data), facet="what",
                 empty=empty)


def _profile_urls(users: list[str], template: str | None, fallback: list[str]) -> list[str]:
    """Profile links with the id URL-encoded (``models.profile_link``); only http(s) links are
    kept."""
    if template:
        urls = [profile_link(template, u) for u in users]
    else:
        urls = fallback
    return [u if SAFE_URL.match(u) else "" for u in urls]


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
            Column("kind", "Kind"), Column("reason", "Reason", "code", labels="aloware"),
            Column("advice", "What to do", "advice"),
            Column("suggestions", "Suggested owners", "suggestions"),
            Column("profile_url", "Profile", hidden=True))
    reasons = _strs(ua["reason"])
    data = (_strs(ua["first_name"]), _strs(ua["last_name"]), users,
            _masked(_strs(ua["email"]), mask), _strs(ua["status"]), _strs(ua["kind"]),
            reasons, [ALOWARE_REASON_ADVICE.get(r, "") for r in reasons], sugg, urls)
    return Table("unmapped_aloware", "Unmapped Aloware users", cols,
                 tuple(tuple(c) for c in data), facet="reason",
                 empty="Every Aloware user is mapped.")


def _unmapped_hubspot_table(uh: pd.DataFrame, mask) -> Table:
    cols = (_FIRST, _LAST, _OWNER, Column("email", "E-mail", "email", search=True),
            Column("type", "Type"), Column("reason", "Reason", "code", labels="hubspot"),
            Column("advice", "What to do", "advice"))
    reasons = _strs(uh["reason"])
    data = (_strs(uh["first_name"]), _strs(uh["last_name"]), _strs(uh[L_OWNER]),
            _masked(_strs(uh["email"]), mask), _strs(uh["type"]), reasons,
            [HUBSPOT_REASON_ADVICE.get(r, "") for r in reasons])
    return Table("unmapped_hubspot", "Unmapped HubSpot owners", cols,
                 tuple(tuple(c) for c in data), facet="reason",
                 empty="Every active HubSpot owner is mapped.")


class _NameBook:
    """Names and e-mails of Aloware users by id, looked up on demand: from the users listing,
    else (a link to a user no longer listed) from the mapped view."""

    def __init__(self, audit, mapped: pd.DataFrame):
        self.users, self.mapped, self.owners = audit.users, mapped, audit.owners
        self._u_index = self._m_index = self._o_index = None

    def _find(self, frame, index, ids: list[str]):
        if index is None:
            key = U_ID if frame is self.users else O_ID if frame is self.owners else L_USER
            index = pd.Index(_strs(frame[key]))
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

    def owner_emails(self, ids: Iterable[str]) -> list[str]:
        """The owners' e-mails as the snapshot has them now ("" for an owner not listed)."""
        ids = list(ids)
        if not ids:
            return []
        self._o_index, pos = self._find(self.owners, self._o_index, ids)
        return self._column(self.owners, pos, O_EMAIL)


def _changes(plan, applied: bool, names: _NameBook, mask) -> Changes:
    ch = plan.changes
    actions = [c.action for c in ch]
    users = [str(c.aloware_user_id) for c in ch]
    befores = [str((c.before or {}).get(L_OWNER, "") or "") for c in ch]
    afters = [str((c.after or {}).get(L_OWNER, "") or "") for c in ch]
    a_email = [str(((c.after or c.before) or {}).get(L_A_EMAIL, "") or "") for c in ch]
    h_email = [str(((c.after or c.before) or {}).get(L_H_EMAIL, "") or "") for c in ch]
    # The HubSpot e-mail is shown where it differs from the Aloware one (a pinned alias).
    h_shown = [h if h.strip().lower() != a.strip().lower() else ""
               for a, h in zip(a_email, h_email)]
    by_reason: dict[str, int] = {}
    for c in ch:
        k = f"{c.action}:{c.reason}"
        by_reason[k] = by_reason.get(k, 0) + 1
    cols = (Column("action", "Action", "status", labels="done" if applied else "todo"),
            Column("reason", "Reason", "code", labels="reason"),
            Column("name", "Name", search=True), _USER,
            Column("before_owner", "HubSpot id before", "id", search=True),
            Column("after_owner", "HubSpot id after", "id", search=True),
            Column("email", "E-mail", "email", search=True),
            Column("hubspot_email", "HubSpot e-mail (if different)", "email", search=True,
                   hidden=True),
            Column("email_change", "E-mail before → after", "email", search=True))
    data = (actions, [c.reason for c in ch], names.names(users), users, befores, afters,
            _masked(a_email, mask), _masked(h_shown, mask), _email_changes(ch, names, mask))
    n = {a: actions.count(a) for a in ACTIONS}
    return Changes(applied=bool(applied), adds=n[ADD], updates=n[UPDATE], removes=n[REMOVE],
                   by_reason=tuple(sorted(by_reason.items())),
                   table=Table("changes", "Changes applied in this run" if applied else
                               "Changes a sync would make (not applied)", cols,
                               tuple(tuple(c) for c in data), facet="action",
                               empty="No changes."))


def _email_changes(ch, names: _NameBook, mask) -> list[str]:
    """"before → after" of the e-mail that caused each change, "" for other changes.

    A change keeps the link as it was recorded (``before``), so a link removed because the
    HubSpot e-mail changed holds the old e-mail on both sides: the new one is the owner's e-mail
    in the snapshot (the Aloware user's, for an Aloware change; the updated link's, for
    ``emails_changed``)."""
    out = [""] * len(ch)
    hub = [k for k, c in enumerate(ch) if c.reason == "hubspot_email_changed"]
    alo = [k for k, c in enumerate(ch) if c.reason == "aloware_email_changed"]
    both = [k for k, c in enumerate(ch) if c.reason == "emails_changed"]
    now_h = names.owner_emails(str(ch[k].hubspot_owner_id) for k in hub)
    now_a = names.emails(str(ch[k].aloware_user_id) for k in alo + both)
    m = mask or (lambda v: v)

    def arrow(before, after) -> str:
        return f"{m(before) if before else '(none recorded)'} → {m(after) if after else '(none)'}"

    for k, new in zip(hub, now_h):
        out[k] = arrow(str((ch[k].before or {}).get(L_H_EMAIL, "") or ""), new)
    for k, new in zip(alo + both, now_a):
        c = ch[k]
        after = (c.after or {}).get(L_A_EMAIL, "") if c.after else new
        out[k] = arrow(str((c.before or {}).get(L_A_EMAIL, "") or ""), str(after or new or ""))
    return out


def _issue_table(tid: str, title: str, ids: list[str], names: _NameBook, empty: str) -> Table:
    codes, users = [], []
    for i in ids:
        code, _, user = i.partition(":")
        codes.append(code)
        users.append(user)
    cols = (Column("code", "Issue", "code", labels="issue"), Column("name", "Name", search=True),
            _USER, Column("issue_id", "Issue id", "id", search=True))
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
