"""Impact (DESIGN §10): which calls and SMS landed on the wrong owner, and how well each is proven.

``scan`` searches the account's calls and SMS (since a date), matches the admin's export,
reads the owner's property history only of the activities that may be wrong (those not on the
owner of a link that was valid when they were logged, and those the export names) on reader
threads while the search goes on (the calls' and the SMS' searches run side by side, each from
both ends, sharing search's pace), and grades each with ``rules.assess``. ``write_impact``
writes ``impact.csv`` and ``summary.json`` (the file contract of §10).

Adapter: the CRM client (network) and files; the rules are pure.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import queue
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceError
from ..files import write_atomic
from ..output import FORMULA_STARTS
from . import rules
from .crm import CALL_PROPS, OBJECT_TYPES, READ_BATCH, SMS_PROPS

__all__ = ["scan", "Impact", "write_impact", "IMPACT_COLUMNS"]

IMPACT_COLUMNS = ("object", "activity_id", "logged_at", "aloware_user_id", "current_owner_id",
                  "intended_owner_id", "grade", "reason")
_SMS_FILTER = {"propertyName": "hs_communication_channel_type", "operator": "EQ", "value": "SMS"}


@dataclass
class Impact:
    rows: list            # rules.Row, in object then time order
    scanned: int          # activities searched
    by_object: dict       # scanned per object
    history_read: dict    # per object, activities whose history was read


def _activity(kind: str, r: dict) -> rules.Activity:
    p = r.get("properties") or {}
    try:
        t = rules.to_ms(p.get("hs_timestamp") or "")
    except ValueError:
        t = 0
    dur = p.get("hs_call_duration")
    try:
        dur = int(float(dur)) if dur not in (None, "") else None
    except ValueError:
        dur = None
    return rules.Activity(kind, str(r.get("id")), t, str(p.get("hubspot_owner_id") or ""), (),
                          str(p.get("hs_call_external_id") or ""),
                          str(p.get("hs_call_from_number") or ""),
                          str(p.get("hs_call_to_number") or ""), dur)


def _suspect(a: rules.Activity, tl: rules.Timeline) -> bool:
    """Whether ``a`` may be on the wrong owner: it is not on the owner of a link valid then."""
    if not a.owner:
        return True
    link = tl.link_of_owner(a.owner, a.t)
    return link is None or not tl.valid(link, a.t)


class _Reader:
    """Reads owner histories on threads of their own while the search goes on (search and the
    other requests have separate limits): full batches of 50 as suspects come in, the rest at
    ``finish``, so the batch reads are still ceil(N/50) per object. ``THREADS`` readers share
    the client's pace, so a slow answer does not leave the other limit idle. The first error
    stops them and is raised by ``finish``."""

    THREADS = 4

    def __init__(self, client):
        self._client, self._jobs = client, queue.Queue()
        self._pending: dict[str, list] = {k: [] for k in OBJECT_TYPES}
        self.asked: dict[str, set] = {k: set() for k in OBJECT_TYPES}
        self.got: dict[str, dict] = {k: {} for k in OBJECT_TYPES}
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"usermap-history-{i}",
                                          daemon=True) for i in range(self.THREADS)]
        for t in self._threads:
            t.start()

    def add(self, kind: str, aid: str) -> None:
        with self._lock:    # the searches' threads all add
            if aid in self.asked[kind] or self._error is not None:
                return
            self.asked[kind].add(aid)
            self._pending[kind].append(aid)
            if len(self._pending[kind]) == READ_BATCH:
                self._jobs.put((kind, self._pending[kind]))
                self._pending[kind] = []

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if self._error is None:
                kind, ids = job
                try:
                    got = self._client.read_history(OBJECT_TYPES[kind], ids,
                                                    ["hubspot_owner_id"])
                except BaseException as e:   # handed to the caller by finish()
                    self._error = e
                    continue
                self.got[kind].update(got)   # one call: no other thread sees it half done

    def finish(self, *, abandon: bool = False) -> None:
        with self._lock:
            for kind, ids in self._pending.items():
                if ids and not abandon:
                    self._jobs.put((kind, ids))
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:      # each read ends by the client's deadline
            t.join(timeout=max(1.0, self._client.retrier.remaining() + 30.0))
            if t.is_alive() and self._error is None and not abandon:
                self._error = SourceError("HubSpot batch read: no answer within the time "
                                          "budget")
        if self._error is not None and not abandon:
            raise self._error


class _Exported:
    """The export's calls, to tell as a call comes whether some event may name it (a superset
    of what ``rules.match_evidence`` finds with every call known: same id, or both numbers, a
    start within its tolerance and a duration within its)."""

    def __init__(self, events):
        calls = [e for e in events if e.get("type") == "call"]
        self.ids = {str(e.get("communication_id")) for e in calls}
        self.pairs: dict[tuple, list] = {}
        for e in calls:
            key = (rules.phone(e.get("from")), rules.phone(e.get("to")))
            self.pairs.setdefault(key, []).append((e["started_at"], e["duration"] * 1000))
        for lst in self.pairs.values():
            lst.sort()

    def may_name(self, a: rules.Activity) -> bool:
        if a.external_id and a.external_id in self.ids:
            return True
        if not (a.from_number and a.to_number) or a.duration_ms is None:
            return False
        lst = self.pairs.get((rules.phone(a.from_number), rules.phone(a.to_number)))
        if not lst:
            return False
        i = bisect.bisect_left(lst, (a.t - rules.START_TOLERANCE_MS,))
        while i < len(lst) and lst[i][0] <= a.t + rules.START_TOLERANCE_MS:
            if abs(lst[i][1] - a.duration_ms) <= rules.DURATION_TOLERANCE_MS:
                return True
            i += 1
        return False


def scan(client, tl: rules.Timeline, *, since_ms: int = 0, until_ms: int | None = None,
         events: list | None = None, app_id: str = "") -> Impact:
    """The impact rows of every call and SMS logged in [since, until), and never before the
    store's history begins (its first journal entry): before it, the store knows no link, and
    every activity would look misattributed."""
    if tl.start is None:
        return Impact([], 0, {"call": 0, "sms": 0}, {"call": 0, "sms": 0})
    since_ms = max(since_ms, tl.start)
    found: dict[str, list] = {k: [] for k in OBJECT_TYPES}
    reader = _Reader(client)
    failed: list = []
    # a call the export may name (by its id, or by both numbers, start and duration) has its
    # history read as it comes, not after the search; match_evidence, at the end, still decides
    # which are named
    exported = _Exported(events or ())

    def search(kind: str) -> None:
        try:
            filters = () if kind == "call" else (_SMS_FILTER,)
            for r in client.search(OBJECT_TYPES[kind], since_ms=since_ms, until_ms=until_ms,
                                   properties=CALL_PROPS if kind == "call" else SMS_PROPS,
                                   filters=filters):
                if failed:      # the other search failed: stop at this page
                    return
                a = _activity(kind, r)
                found[kind].append(a)
                if _suspect(a, tl) or kind == "call" and exported.may_name(a):
                    reader.add(kind, a.id)
        except BaseException as e:   # raised below, in the caller's thread
            failed.append(e)

    # the SMS' search on a thread of its own: each object is read from both ends (search.py),
    # so four requests can be in flight, sharing search's pace
    sms = threading.Thread(target=search, args=("sms",), name="usermap-sms-search",
                           daemon=True)
    sms.start()
    search("call")
    sms.join(timeout=max(1.0, client.retrier.remaining() + 30.0))
    if sms.is_alive() and not failed:
        failed.append(SourceError("HubSpot communications search: no answer within the time "
                                  "budget"))
    for kind in OBJECT_TYPES:     # both ends' pages come as they come: back to time order
        found[kind].sort(key=lambda a: (a.t, a.id))
    named = rules.match_evidence(events or [], found["call"]) if not failed else {}
    for aid in named:
        reader.add("call", aid)
    reader.finish(abandon=bool(failed))
    if failed:
        raise failed[0]
    return Impact(_rows(found, reader, named, tl, app_id), sum(len(v) for v in found.values()),
                  {k: len(v) for k, v in found.items()},
                  {k: len(v) for k, v in reader.asked.items()})


def _rows(found: dict, reader: _Reader, named: dict, tl, app_id: str) -> list:
    """The graded rows of the suspects and of the calls the export names, object then time."""
    rows = []
    for kind in OBJECT_TYPES:
        for a in found[kind]:
            user = named.get(a.id) if kind == "call" else None
            if a.id in reader.asked[kind] and (user is not None or _suspect(a, tl)):
                row = _assess(a, reader.got[kind], tl, user, app_id)
                if row is not None:
                    rows.append(row)
    return rows


def _assess(a, got: dict, tl, user, app_id):
    props, h = got.get(a.id, ({}, ()))
    owner = str(props.get("hubspot_owner_id") or "") if props else a.owner
    full = rules.Activity(a.object, a.id, a.t, owner, tuple(h), a.external_id,
                          a.from_number, a.to_number, a.duration_ms)
    return rules.assess(full, tl, evidence_user=user, app_id=app_id)


def summary(imp: Impact, tl: rules.Timeline, *, since: str = "") -> dict:
    grades = Counter(r.grade for r in imp.rows)
    by_person: dict[str, dict] = {}
    by_issue: Counter = Counter()
    for r in imp.rows:
        if not r.aloware_user_id:
            by_issue["unknown_user"] += 1
            continue
        issue = tl.issue(r.aloware_user_id, r.logged_at)
        by_issue[issue] += 1
        p = by_person.setdefault(r.aloware_user_id, {
            "aloware_user_id": r.aloware_user_id, "name": tl.email(r.aloware_user_id),
            "calls": 0, "sms": 0, "A": 0, "B": 0, "unknown": 0, "repairable": 0,
            "by_issue": {}, "first": r.logged_at})
        p["calls" if r.object == "call" else "sms"] += 1
        p["by_issue"][issue] = p["by_issue"].get(issue, 0) + 1
        p["first"] = min(p["first"], r.logged_at)
        p[r.grade] += 1
        p["repairable"] += r.grade in (rules.GRADE_A, rules.GRADE_B)
    return {"since": since, "history_starts": rules.iso(tl.start) if tl.start else "",
            "activities": imp.scanned, "activities_by_object": imp.by_object,
            "misattributed": len(imp.rows),
            "by_grade": {g: grades.get(g, 0) for g in (rules.GRADE_A, rules.GRADE_B,
                                                       rules.UNKNOWN)},
            "repairable": grades.get(rules.GRADE_A, 0) + grades.get(rules.GRADE_B, 0),
            "by_reason": dict(sorted(Counter(r.reason for r in imp.rows).items())),
            "by_issue": dict(sorted(by_issue.items())),
            "unattributed": sum(1 for r in imp.rows if not r.aloware_user_id),
            "by_person": [{**p, "first": rules.iso(p["first"])} for p in
                          sorted(by_person.values(), key=lambda p: p["aloware_user_id"])],
            "history_read": imp.history_read}


def _cell(v: str) -> str:
    """Ids come from HubSpot and the store: one a spreadsheet would run as a formula starts
    with ' instead (as the audit's CSVs)."""
    return "'" + v if v.startswith(FORMULA_STARTS) else v


def impact_csv(rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(IMPACT_COLUMNS)
    for r in rows:
        w.writerow((r.object, _cell(r.activity_id), rules.iso(r.logged_at),
                    _cell(r.aloware_user_id), _cell(r.current_owner_id),
                    _cell(r.intended_owner_id), r.grade, r.reason))
    return buf.getvalue()


def write_impact(imp: Impact, tl: rules.Timeline, out, *, since: str = "") -> dict:
    """impact.csv and summary.json in the folder ``out`` (written whole, by rename)."""
    out = Path(out)
    summ = summary(imp, tl, since=since)
    text = impact_csv(imp.rows)

    def write(tmp: Path) -> None:
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "impact.csv").write_text(text, encoding="utf-8")
        (tmp / "summary.json").write_text(json.dumps(summ, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")

    write_atomic(out, write)
    return summ
