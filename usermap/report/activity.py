"""The activity impact of a report: the activities (calls, SMS) whose Aloware user has no synced link, by
cause and by user. PURE, same rules as build.py: numpy/pandas, ``..models`` and the report's
model and cells only; no file I/O, no clock, no environment (tests/report/test_report.py checks the
imports).
"""

from __future__ import annotations

import pandas as pd

from ..engine.models import L_USER
from .cells import _USER, _masked, _strs
from .model import ActivityImpact
from .table import Column, Table

__all__ = ["ACTIVITY_COLUMNS", "ACTIVITY_TYPES"]

ACTIVITY_COLUMNS = ("aloware_user_id", "type", "timestamp")
ACTIVITY_TYPES = ("call", "sms")


# --- activity impact --------------------------------------------------------------------------
_CAUSE_NO_LINK, _CAUSE_LINK, _CAUSE_UNKNOWN = "no link", "link with an issue", "unknown user"


def _activity(acts: pd.DataFrame, mapped: pd.DataFrame, ua: pd.DataFrame, names: "_NameBook",
              mask) -> ActivityImpact:
    missing = [c for c in ("aloware_user_id", "type") if c not in acts.columns]
    if missing:
        raise ValueError(f"activities need the columns {', '.join(ACTIVITY_COLUMNS)}")
    uid = pd.Series(_strs(acts["aloware_user_id"]), dtype=object).str.strip()
    typ = pd.Series(_strs(acts["type"]), dtype=object).str.strip().str.lower()
    ts = (pd.to_datetime(acts["timestamp"], utc=True, errors="coerce", format="ISO8601")
          if "timestamp" in acts.columns and len(acts) else pd.Series([], dtype="datetime64[ns, UTC]"))
    kind, code = _causes(uid, mapped, ua)
    bad = kind.notna()
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
    valid = ts.dropna() if len(ts) else ts
    start = _fmt_ts(valid.min()) if len(valid) else ""
    end = _fmt_ts(valid.max()) if len(valid) else ""
    return ActivityImpact(total=int(len(uid)), by_type=tuple(by_type.items()),
                          unassigned=int(bad.sum()), unassigned_by_type=tuple(by_type_bad.items()),
                          period_start=start, period_end=end, by_cause=by_cause,
                          users=_activity_users(frame, names, mask))


def _causes(uid: pd.Series, mapped: pd.DataFrame, ua: pd.DataFrame
            ) -> tuple[pd.Series, pd.Series]:
    """For each activity's user: the kind of cause (None for a user with a synced link) and its
    code (the unmapped reason, the link's issue, or unknown_user)."""
    cause_kind: dict[str, str] = {}
    cause_code: dict[str, str] = {}
    for u, r in zip(_strs(ua[L_USER]), _strs(ua["reason"])):
        cause_kind[u], cause_code[u] = _CAUSE_NO_LINK, r
    synced = set()
    for u, code in zip(_strs(mapped[L_USER]), _strs(mapped["issue"])):
        if code:
            cause_kind[u], cause_code[u] = _CAUSE_LINK, code
        else:
            synced.add(u)
            cause_kind.pop(u, None)
    kind = uid.map(lambda u: None if u in synced else cause_kind.get(u, _CAUSE_UNKNOWN))
    code = uid.map(lambda u: cause_code.get(u, "unknown_user"))
    return kind, code


def _activity_users(frame: pd.DataFrame, names: "_NameBook", mask) -> Table:
    """The users whose activities go unassigned, most activities first."""
    per_user = (frame.groupby(["user", "kind", "code"], sort=True)[["call", "sms"]].sum()
                .assign(total=lambda d: d["call"] + d["sms"]).reset_index()
                .sort_values(["total", "user"], ascending=[False, True]))
    users = per_user["user"].tolist()
    emails = names.emails(users)
    cols = (Column("name", "Name", search=True), _USER,
            Column("email", "E-mail", "email", search=True), Column("kind", "Why"),
            Column("code", "Issue or reason", "code", labels="any"), Column("call", "Calls", "num"),
            Column("sms", "SMS", "num"), Column("total", "Activities", "num"))
    return Table("activity_users", "Users whose activities go unassigned", cols, (
        tuple(names.names(users)), tuple(users), tuple(_masked(emails, mask)),
        tuple(per_user["kind"].tolist()), tuple(per_user["code"].tolist()),
        tuple(str(int(v)) for v in per_user["call"]), tuple(str(int(v)) for v in per_user["sms"]),
        tuple(str(int(v)) for v in per_user["total"])), facet="code",
        empty="Every activity belongs to a user with a synced link.")


def _fmt_ts(t) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")
