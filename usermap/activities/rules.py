"""The pure rules of activities (docs/design.md "Activities"; DESIGN §10): whose an activity is,
and how well that is proven.

- ``Timeline``: the links of the store over time (from its journal) and the audits recorded at
  each run (which links were in error when). A link is *valid* at a time unless the latest audit
  recorded during the link, at or before that time, listed an owner-side error for its user
  (owner deactivated or gone, its e-mail changed to someone else's). Between the last clean
  audit and the first one that saw the error the link counts as valid: nothing is claimed
  before an audit saw it (docs/decisions.md "Activities: when a link went bad").
- ``intended``: the owner of the user's valid link at the time; where there was none, the owner
  of the user's next valid link; "" when the user has had none since.
- ``match_evidence``: export events matched to calls (external id, else both numbers, a start
  within 5 s and a duration within 2 s); only one-to-one matches count.
- ``assess``: one activity's row (grade A, B or unknown, with a reason), or None when it landed
  on the owner it belongs to (or has been put right since).

Pure: standard library only; no I/O, no clock (times are epoch milliseconds passed in).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["OWNER_ERROR_CODES", "Timeline", "Activity", "Row", "assess", "match_evidence",
           "to_ms", "iso", "integration_set", "GRADE_A", "GRADE_B", "UNKNOWN",
           "START_TOLERANCE_MS", "DURATION_TOLERANCE_MS", "phone"]

# Issue codes (DESIGN §4) that put a link in error for attribution: its owner is not the person.
OWNER_ERROR_CODES = ("hubspot_owner_not_found", "hubspot_owner_deactivated",
                     "hubspot_email_changed")
GRADE_A, GRADE_B, UNKNOWN = "A", "B", "unknown"
START_TOLERANCE_MS, DURATION_TOLERANCE_MS = 5_000, 2_000
# The reason codes set here (impact.csv's reason) have their words in labels.ACTIVITY_REASON_LABELS.


def to_ms(value: str) -> int:
    """Epoch milliseconds of an ISO 8601 time ("2026-09-01T10:00:00Z", fractions and offsets
    allowed) or of a string of epoch milliseconds; ValueError otherwise."""
    s = str(value).strip()
    if s.isdigit():
        return int(s)
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(round(d.timestamp() * 1000))


def iso(ms: int) -> str:
    """An ISO 8601 UTC time to the millisecond, as impact.csv writes it."""
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def phone(value) -> str:
    """A phone number reduced to its digits with one leading + (E.164 compares equal)."""
    s = str(value or "").strip()
    if s.isascii() and s[1:].isdecimal() and (s[0] == "+" or s[0].isdecimal()):
        return s if s[0] == "+" else "+" + s      # already digits: most numbers, at once
    digits = re.sub(r"\D", "", s)
    return ("+" + digits) if digits else ""


@dataclass
class _Link:
    user: str
    owner: str
    start: int
    end: int | None          # None: still linked
    email: str = ""

    def covers(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass
class Timeline:
    """The store's links over time and the audits' view of which were in error."""

    by_user: dict = field(default_factory=dict)     # user -> [_Link] by start
    by_owner: dict = field(default_factory=dict)    # owner -> [_Link] by start
    audit_times: list = field(default_factory=list)  # sorted epoch ms of recorded audits
    errors: dict = field(default_factory=dict)      # user -> {audit time in error: code}
    start: int | None = None                         # the store's first journal entry


    @classmethod
    def build(cls, journal: list[dict], audits: list[dict]) -> "Timeline":
        """From journal rows (action, aloware_user_id, hubspot_owner_id, after (dict or None),
        at) in journal order and audits (at, issues: ["code:user", ...])."""
        tl = cls()
        open_: dict[str, _Link] = {}
        for row in journal:
            user, t = str(row["aloware_user_id"]), to_ms(row["at"])
            tl.start = t if tl.start is None else min(tl.start, t)
            cur = open_.pop(user, None)
            if cur is not None:
                cur.end = t
            if row["action"] in ("add", "update"):
                after = row.get("after") or {}
                link = _Link(user, str(after.get("hubspot_owner_id") or row["hubspot_owner_id"]),
                             t, None, str(after.get("aloware_email") or ""))
                open_[user] = link
                tl.by_user.setdefault(user, []).append(link)
                tl.by_owner.setdefault(link.owner, []).append(link)
        for a in audits:
            t = to_ms(a["at"])
            tl.audit_times.append(t)
            for issue in a.get("issues") or ():
                code, _, user = str(issue).partition(":")
                if code in OWNER_ERROR_CODES:
                    tl.errors.setdefault(user, {})[t] = code
        tl.audit_times.sort()
        return tl

    def valid(self, link: _Link, t: int) -> bool:
        """Whether ``link`` (covering ``t``) was valid at ``t``: the latest audit during the link
        at or before ``t`` did not list it in error."""
        i = bisect.bisect_right(self.audit_times, t) - 1
        if i < 0 or self.audit_times[i] < link.start:
            return True
        return self.audit_times[i] not in self.errors.get(link.user, ())

    def link_of_owner(self, owner: str, t: int) -> _Link | None:
        for link in self.by_owner.get(owner, ()):
            if link.covers(t):
                return link
        return None

    def intended(self, user: str, t: int) -> str:
        """The owner of ``user``'s valid link at ``t``, else of its next valid link, else ""."""
        for link in self.by_user.get(user, ()):
            if link.end is not None and link.end <= t:
                continue
            start = max(link.start, t)
            if self.valid(link, start):
                return link.owner
            i = bisect.bisect_right(self.audit_times, start)
            while i < len(self.audit_times):
                a = self.audit_times[i]
                if link.end is not None and a >= link.end:
                    break
                if a not in self.errors.get(user, ()):
                    return link.owner
                i += 1
        return ""

    def issue(self, user: str, t: int) -> str:
        """Why ``user``'s activity at ``t`` went astray, for people: the issue code of its link
        then (owner-side), ``unmapped`` when it had none, else ``other`` (a shared line...)."""
        link = next((x for x in self.by_user.get(user, ()) if x.covers(t)), None)
        if link is None:
            return "unmapped"
        i = bisect.bisect_right(self.audit_times, t) - 1
        if i >= 0 and self.audit_times[i] >= link.start:
            code = self.errors.get(user, {}).get(self.audit_times[i])
            if code:
                return code
        return "other"

    def email(self, user: str) -> str:
        links = self.by_user.get(user) or ()
        return next((x.email for x in reversed(links) if x.email), "")


@dataclass(frozen=True)
class Activity:
    """A call or SMS as HubSpot holds it. ``history`` is hubspot_owner_id's history, newest first
    (dicts with value, timestamp, sourceType, sourceId); empty when not read."""

    object: str           # "call" or "sms"
    id: str
    t: int                # hs_timestamp, epoch ms
    owner: str            # current hubspot_owner_id ("" when unassigned)
    history: tuple = ()
    external_id: str = ""
    from_number: str = ""
    to_number: str = ""
    duration_ms: int | None = None


@dataclass(frozen=True)
class Row:
    object: str
    activity_id: str
    logged_at: int
    aloware_user_id: str
    current_owner_id: str
    intended_owner_id: str
    grade: str
    reason: str


def _logged(a: Activity) -> dict:
    """The history entry that set the owner when the activity was logged (the oldest one)."""
    return a.history[-1] if a.history else {"value": a.owner}


def integration_set(a: Activity, app_id: str) -> bool:
    first = _logged(a)
    return (first.get("sourceType") == "INTEGRATION"
            and (not app_id or str(first.get("sourceId", "")) == str(app_id)))


def _changed_since(a: Activity) -> bool:
    """A person or a workflow touched the owner after logging, or it is not the logged one."""
    if str(_logged(a).get("value") or "") != a.owner:
        return True
    return any(h.get("sourceType") not in ("INTEGRATION", "API") for h in a.history[:-1])


def assess(a: Activity, tl: Timeline, *, evidence_user: str | None = None,
           app_id: str = "") -> Row | None:
    """The impact row of one activity, or None when it is where it belongs."""
    logged = str(_logged(a).get("value") or "")
    user = evidence_user
    if user is None and logged:
        link = tl.link_of_owner(logged, a.t)
        if link is not None:
            if tl.valid(link, a.t):
                return None
            user = link.user

    def row(intended, grade, reason):
        return Row(a.object, a.id, a.t, user or "", a.owner, intended, grade, reason)

    if user is None:
        return row("", UNKNOWN, "owner_not_linked" if logged else "unassigned")
    intended = tl.intended(user, a.t)
    if intended and (intended == logged or intended == a.owner):
        return None
    if not intended:
        return row("", UNKNOWN, "no_valid_link_since")
    if _changed_since(a):
        return row(intended, UNKNOWN, "owner_changed_since")
    if evidence_user is not None:
        return row(intended, GRADE_A, "export_names_user")
    if not integration_set(a, app_id):
        return row(intended, UNKNOWN, "not_set_by_integration")
    return row(intended, GRADE_B, "stale_link")


def match_evidence(events: list[dict], calls: list[Activity]) -> dict[str, str]:
    """{call id: user id} for export events that match exactly one call, and calls matched by
    exactly one event. Events: communication_id, user_id, type, from, to, started_at (ms),
    duration (seconds). SMS events match nothing: HubSpot's communications carry neither an
    external id nor the numbers (docs/design.md, Known gaps)."""
    by_ext = {c.external_id: c for c in calls if c.external_id}
    by_pair: dict[tuple, list] = {}
    for c in calls:
        if c.from_number and c.to_number:
            by_pair.setdefault((phone(c.from_number), phone(c.to_number)), []).append(c)
    for key, lst in by_pair.items():
        lst.sort(key=lambda c: c.t)
        by_pair[key] = ([c.t for c in lst], lst)
    hits: dict[str, list[str]] = {}
    for e in events:
        if e["type"] != "call":
            continue
        c = by_ext.get(str(e["communication_id"]))
        if c is None:
            c = _by_numbers(e, by_pair)
        if c is not None:
            hits.setdefault(c.id, []).append(str(e["user_id"]))
    return {cid: users[0] for cid, users in hits.items() if len(users) == 1}


def _by_numbers(e: dict, by_pair: dict) -> Activity | None:
    times, lst = by_pair.get((phone(e["from"]), phone(e["to"])), ((), ()))
    if not lst:
        return None
    t, dur = e["started_at"], e["duration"] * 1000
    i = bisect.bisect_left(times, t - START_TOLERANCE_MS)
    found = []
    while i < len(lst) and lst[i].t <= t + START_TOLERANCE_MS:
        c = lst[i]
        if c.duration_ms is not None and abs(c.duration_ms - dur) <= DURATION_TOLERANCE_MS:
            found.append(c)
        i += 1
    return found[0] if len(found) == 1 else None
