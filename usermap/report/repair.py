"""The calls and texts that landed on the wrong owner (docs/design.md §10), as the report and
the e-mail show them: one sentence per person and the counts per reason, from the impact
summary (``summary.json`` of ``usermap activities impact``). The words are written here once;
the notebooks and the tab show the same sentences.

PURE: standard library and the reasons' words of ``activities.rules`` (one place for them);
the names come from the caller (the audit's users).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..labels import ACTIVITY_REASON_LABELS
from ..visible import visible
from .text import plural

__all__ = ["RepairImpact", "build_repair", "person_sentence"]

@dataclass(frozen=True)
class RepairImpact:
    """What the impact scan found: totals, per reason, and one line per person (most first)."""

    since: str                                  # "3 Nov 2026", or "" (the whole history)
    scanned: int
    misattributed: int
    repairable: int
    unknown: int
    by_reason: tuple[tuple[str, str, int], ...]  # (code, words, count), most first
    people: tuple[tuple[str, str, str], ...]     # (aloware id, name, sentence), most first
    unattributed: int                            # activities no user can be named for

    def to_json(self) -> dict:
        return {"since": self.since, "activities": self.scanned,
                "misattributed": self.misattributed, "repairable": self.repairable,
                "unknown": self.unknown, "unattributed": self.unattributed,
                "by_reason": {c: n for c, _, n in self.by_reason},
                "people": len(self.people)}


def _day(iso: str) -> str:
    try:
        d = datetime.fromisoformat(str(iso).replace("Z", "+00:00"))
    except ValueError:
        return ""
    return f"{d.day} {d:%b %Y}"


def person_sentence(name: str, p: dict, since: str = "") -> str:
    """"Liam Walsh: 47 calls and 12 texts since 3 Nov 2026 landed on the wrong owner; 41 can
    be repaired (proven), 18 cannot be proven (an Aloware export or a person must say).\""""
    calls, texts = int(p.get("calls", 0)), int(p.get("sms", 0))
    what = " and ".join(x for x in (plural(calls, "call") if calls else "",
                                    plural(texts, "text") if texts else "") if x) or "nothing"
    fixable, unknown = int(p.get("repairable", 0)), int(p.get("unknown", 0))
    out = f"{name}: {what}{f' since {since}' if since else ''} landed on the wrong owner"
    parts = []
    if fixable:
        parts.append(f"{fixable:,} can be repaired (proven)")
    if unknown:
        parts.append(f"{unknown:,} cannot be proven (an Aloware export or a person must say)")
    return out + ("; " + ", ".join(parts) if parts else "") + "."


def build_repair(summary: dict, names: dict[str, str]) -> RepairImpact:
    """The report's view of an impact summary; ``names``: Aloware id -> "First Last"."""
    since = _day(summary.get("since") or "")
    people = []
    for p in summary.get("by_person") or ():
        uid = str(p.get("aloware_user_id", ""))
        name = visible(names.get(uid) or str(p.get("name") or "") or f"Aloware user {uid}")
        total = int(p.get("calls", 0)) + int(p.get("sms", 0))
        people.append((total, uid, name, person_sentence(name, p, since)))
    people.sort(key=lambda t: (-t[0], t[1]))
    reasons = sorted(((str(c), ACTIVITY_REASON_LABELS.get(str(c), str(c)), int(n))
                      for c, n in (summary.get("by_reason") or {}).items()),
                     key=lambda t: (-t[2], t[0]))
    grades = summary.get("by_grade") or {}
    return RepairImpact(since=since, scanned=int(summary.get("activities", 0)),
                        misattributed=int(summary.get("misattributed", 0)),
                        repairable=int(summary.get("repairable", 0)),
                        unknown=int(grades.get("unknown", 0)), by_reason=tuple(reasons),
                        people=tuple((u, n, s) for _, u, n, s in people),
                        unattributed=int(summary.get("unattributed", 0)))
