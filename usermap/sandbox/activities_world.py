"""Activities logged the way Aloware's integration would, from a mapping timeline (DESIGN §10).

``build(world, n, seed)`` makes an ``ActivityWorld`` from a scenario's users and owners:

- a **timeline** of 60 days (2026-09-01 to 2026-10-31, one run a day at 06:00 UTC): every user
  follows one story: *steady* (linked all along), *stale, fixed* (its owner deactivated, or its
  e-mail given to someone else, seen by that day's audit, the link re-pointed days later),
  *stale, removed* (the link removed and never replaced), *late* (unmapped until it got linked)
  or *never* (never linked). ``write_store`` writes it as a real usermap store: the links through
  ``Store.write_changes(now=the run's time)`` and each day's audit through ``record_audit``;
- **activities**: ``n`` calls and SMS, each by one user at a random time, logged to the owner of
  the user's link then (a stale link's stale owner), unassigned when there was none or, with
  ``default_owner``, to one default owner. The integration's history entry carries source
  INTEGRATION and ``APP_ID`` (a few carry API: another tool logged them). Some owners are
  changed later by a person (CRM_UI) or a workflow (AUTOMATION_PLATFORM);
- an **evidence export** (JSON lines, DESIGN §10 fields) of every activity of half the users;
- a **ground truth** (``truth``): every activity that landed on the wrong owner, with its user,
  intended owner, the grade usermap must give it and the reason (with the export, and in
  ``without_export`` without it).

``log_activities(world, n, seed)`` returns the activities as ``usermap.sandbox.crm.CrmObjects``
(what ``usermap sandbox --activities N`` serves). Deterministic for (world, n, seed).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..engine.models import ADD, REMOVE, UPDATE, Change

__all__ = ["ActivityWorld", "build", "log_activities", "crm_objects", "write_store",
           "write_evidence", "write_truth", "write_files", "APP_ID", "START", "DAYS"]

APP_ID = "4141414"
START = datetime(2026, 9, 1, tzinfo=timezone.utc)
DAYS = 60
RUN_HOUR = 6
_STORIES = (("steady", 40), ("stale_fixed", 20), ("stale_removed", 10), ("late", 20),
            ("never", 10))


def _iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ms: int) -> str:
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def run_time(day: int) -> datetime:
    return START + timedelta(days=day, hours=RUN_HOUR)


@dataclass
class _Story:
    user: str
    email: str
    kind: str
    owners: list          # owner ids this user is ever linked to, in order
    day_in: int = 0       # first day linked (late) / 0
    day_err: int = -1     # day the audit first saw the link in error
    day_fix: int = -1     # day the link was re-pointed (stale_fixed) or removed (stale_removed)
    code: str = "hubspot_owner_deactivated"
    line: str = ""        # the user's phone line
    exported: bool = False

    def at(self, day_f: float) -> tuple[str, bool]:
        """(owner the integration used, was that link valid) at fractional day ``day_f``
        counted from the first run."""
        k = self.kind
        if k == "never" or (k == "late" and day_f < self.day_in):
            return "", False
        if k in ("stale_fixed", "stale_removed") and day_f >= self.day_err:
            if day_f < self.day_fix:
                return self.owners[0], False
            return (self.owners[1], True) if k == "stale_fixed" else ("", False)
        return self.owners[0], True

    def intended(self, day_f: float) -> str:
        owner, ok = self.at(day_f)
        if ok:
            return owner
        if self.kind == "late":
            return self.owners[0]
        if self.kind == "stale_fixed":
            return self.owners[1]
        return ""


@dataclass
class ActivityWorld:
    stories: list
    records: list = field(default_factory=list)    # (object_type, id, properties, history)
    evidence: list = field(default_factory=list)   # export events (dicts)
    truth: list = field(default_factory=list)      # misattributed activities (dicts)
    default_owner: str = ""
    n: int = 0


def _active(o: dict) -> bool:
    return (o.get("type") == "PERSON" and not o.get("archived")
            and o.get("userId") is not None)


def _stories(world, rng: random.Random, n_users: int) -> tuple[list, list]:
    """One story per user (eligible users, as many as the world's active owners can serve:
    every owner a repair writes must be an active owner HubSpot accepts); the stale owners are
    deactivated ones where the world has them. Returns the stories and the spare owners."""
    users = world.users
    ok = users[(users["status"] == "active") & (users["kind"] == "user")]
    active = [str(o["id"]) for o in world.owners if _active(o)]
    inactive = [str(o["id"]) for o in world.owners if not _active(o)]
    rng.shuffle(active)
    rng.shuffle(inactive)
    n_users = max(1, min(n_users, len(ok), (len(active) - 4) // 2))
    ids = ok["id"].astype(str).tolist()[:n_users]
    emails = ok["email"].astype(str).tolist()[:n_users]
    kinds = [k for k, w in _STORIES for _ in range(w)]
    stories = []
    for u, e in zip(ids, emails):
        kind = rng.choice(kinds)
        first = inactive.pop() if kind.startswith("stale") and inactive else active.pop()
        s = _Story(u, e, kind, [first, active.pop()])
        s.line = f"+1555{1000000 + len(stories):07d}"
        s.exported = rng.random() < 0.5
        if s.kind == "late":
            s.day_in = rng.randint(5, 40)
        elif s.kind.startswith("stale"):
            s.day_err = rng.randint(5, 30)
            s.day_fix = s.day_err + rng.randint(3, 20)
            s.code = rng.choice(("hubspot_owner_deactivated", "hubspot_email_changed"))
        stories.append(s)
    return stories, active + inactive


def build(world, n: int, seed: int = 0, *, default_owner: bool = False,
          n_users: int | None = None) -> ActivityWorld:
    """The timeline, ``n`` activities, the export and the truth of a scenario ``world``."""
    rng = random.Random(f"activities:{seed}:{n}")
    n_users = n_users or max(8, min(2000, n // 50))
    stories, spare = _stories(world, rng, n_users)
    aw = ActivityWorld(stories, default_owner=spare[0] if default_owner else "", n=n)
    span_ms = DAYS * 86_400_000 - RUN_HOUR * 3_600_000
    t0 = _ms(run_time(0))
    times = sorted(t0 + rng.randrange(span_ms) for _ in range(n))
    for i, t in enumerate(times):
        s = stories[rng.randrange(len(stories))]
        _log_one(aw, rng, s, i, t, (t - t0) / 86_400_000, spare)
    return aw


def _log_one(aw: ActivityWorld, rng: random.Random, s: _Story, i: int, t: int, day_f: float,
             spare: list) -> None:
    is_call = rng.random() < 0.7
    obj = "calls" if is_call else "communications"
    aid = str((30_000_000 if is_call else 50_000_000) + i)
    logged, valid = s.at(day_f)
    if not logged and aw.default_owner:
        logged = aw.default_owner
    intended = s.intended(day_f)
    source = "INTEGRATION" if rng.random() < 0.95 else "API"
    hist = [{"value": logged, "timestamp": _iso_ms(t + 60_000), "sourceType": source,
             "sourceId": APP_ID if source == "INTEGRATION" else "usermap-other-tool"}
            ] if logged else []
    current, edited = logged, False
    if logged and rng.random() < (0.15 if not valid else 0.05):
        current = rng.choice([o for o in spare[1:4] if o not in (logged, intended)])
        kind = rng.choice(("CRM_UI", "AUTOMATION_PLATFORM"))
        hist.insert(0, {"value": current, "timestamp": _iso_ms(t + 86_400_000),
                        "sourceType": kind, "sourceId": "userId:77" if kind == "CRM_UI"
                        else "workflow:12"})
        edited = True
    direction = rng.choice(("outbound", "inbound"))
    other = f"+1444{rng.randrange(10**7):07d}"
    frm, to = (s.line, other) if direction == "outbound" else (other, s.line)
    dur_s = rng.randint(10, 600)
    ext = f"alw-{i}" if is_call and rng.random() < 0.7 else ""
    props = {"hs_timestamp": _iso_ms(t), "hubspot_owner_id": current}
    if is_call:
        props.update(hs_call_external_id=ext, hs_call_from_number=frm, hs_call_to_number=to,
                     hs_call_duration=str(dur_s * 1000), hs_call_source="INTEGRATIONS_PLATFORM",
                     hs_call_app_id=APP_ID)
    else:
        props.update(hs_communication_channel_type="SMS",
                     hs_communication_logged_from="INTEGRATION")
    aw.records.append((obj, aid, props, hist))
    if s.exported:
        aw.evidence.append({"communication_id": ext or f"alw-x{i}", "user_id": s.user,
                            "type": "call" if is_call else "sms", "direction": direction,
                            "from": frm, "to": to,
                            "started_at": _iso_ms(t + rng.randint(-2000, 2000))[:19] + "Z",
                            "duration": dur_s if is_call else 0})
    if intended and (logged == intended or current == intended):
        return
    row = _truth(s, obj, aid, t, logged, current, intended, valid, edited, source,
                 proven_by_export=s.exported and is_call)
    bare = _truth(s, obj, aid, t, logged, current, intended, valid, edited, source,
                  proven_by_export=False)
    row["without_export"] = {k: bare[k] for k in ("aloware_user_id", "intended_owner_id",
                                                  "grade", "reason")}
    aw.truth.append(row)


def _truth(s, obj, aid, t, logged, current, intended, valid, edited, source,
           proven_by_export) -> dict:
    """What usermap must say of a misattributed activity (the grading rules, from the world's
    own facts rather than from the store)."""
    stale = bool(logged) and logged in s.owners and not valid
    user = s.user if (stale or proven_by_export) else ""
    if not user:
        grade, reason = "unknown", ("owner_not_linked" if logged else "unassigned")
    elif not intended:
        grade, reason = "unknown", "no_valid_link_since"
    elif edited:
        grade, reason = "unknown", "owner_changed_since"
    elif proven_by_export:
        grade, reason = "A", "export_names_user"
    elif source != "INTEGRATION":
        grade, reason = "unknown", "not_set_by_integration"
    else:
        grade, reason = "B", "stale_link"
    return {"object": "call" if obj == "calls" else "sms", "activity_id": aid,
            "logged_at": _iso_ms(t), "aloware_user_id": user, "current_owner_id": current,
            "intended_owner_id": intended if user else "", "grade": grade, "reason": reason,
            "true_user": s.user, "true_intended": intended}


def log_activities(world, n: int, seed: int = 0, *, default_owner: bool = False):
    """The activities of ``build(world, n, seed)`` as CrmObjects, for the sandbox to serve."""
    return crm_objects(build(world, n, seed, default_owner=default_owner))


def crm_objects(aw: ActivityWorld, **kw):
    """An ActivityWorld's activities as CrmObjects (``kw`` to CrmObjects). Deactivated owners
    are accepted on update: an undo writes a stale owner back (whether HubSpot accepts that is
    a known gap, docs/design.md)."""
    from .crm import CrmObjects
    crm = CrmObjects(**{"inactive_owners": "accept", **kw})
    for obj, aid, props, hist in aw.records:
        crm.add(obj, aid, props, hist)
    return crm


def _day_changes(aw: ActivityWorld, day: int) -> list:
    out = []
    for s in aw.stories:
        link = {"hubspot_owner_id": s.owners[0], "aloware_email": s.email,
                "hubspot_email": s.email, "method": "email"}
        if (s.kind in ("steady", "stale_fixed", "stale_removed") and day == 0) or \
                (s.kind == "late" and day == s.day_in):
            out.append(Change(ADD, s.user, s.owners[0], None, link, "match", "match"))
        elif s.kind == "stale_fixed" and day == s.day_fix:
            out.append(Change(UPDATE, s.user, s.owners[1], link,
                              {**link, "hubspot_owner_id": s.owners[1]}, s.code, "resolve"))
        elif s.kind == "stale_removed" and day == s.day_fix:
            out.append(Change(REMOVE, s.user, s.owners[0], link, None, s.code, "cleanup"))
    return out


def write_store(aw: ActivityWorld, path) -> Path:
    """The timeline as a new usermap store at ``path``: each day's changes journalled at that
    day's run time, then that day's audit (the state after) recorded at the same time."""
    from ..store.store import Store
    path = Path(path)
    with Store.open(path, create=True) as store:
        for day in range(DAYS):
            when = _iso(run_time(day))
            run_id = run_time(day).strftime("%Y%m%dT%H%M%SZ") + f"-{day:04x}"
            changes = _day_changes(aw, day)
            if changes:
                store.write_changes(changes, kind="sync", now=when, run_id=run_id)
            issues = [f"{s.code}:{s.user}" for s in aw.stories
                      if s.kind.startswith("stale") and s.day_err <= day < s.day_fix]
            store.record_audit(run_id, when, {"errors": len(issues)}, issues)
    return path


def write_evidence(aw: ActivityWorld, path) -> Path:
    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for e in aw.evidence:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    return path


def write_truth(aw: ActivityWorld, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"activities": aw.n, "app_id": APP_ID,
                                "misattributed": aw.truth}, indent=1), encoding="utf-8")
    return path


def write_files(aw: ActivityWorld, folder) -> dict:
    """The world's store (``activities.db``), evidence export (``evidence.jsonl``) and ground
    truth (``truth.json``) in ``folder``: what ``usermap activities`` needs beside a sandbox
    serving ``crm_objects(aw)`` (``build`` is deterministic, so the sandbox and this agree)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {"store": write_store(aw, folder / "activities.db"),
            "evidence": write_evidence(aw, folder / "evidence.jsonl"),
            "truth": write_truth(aw, folder / "truth.json")}
