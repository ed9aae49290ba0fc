"""What the User Mapping tab sends to its page (docs/design.md §9), as plain JSON-able values: the
overview cards, one page of each list, a plan's preview, a person's story; and the search.

Values stay values here: the page (``widget.js``) puts every one of them in the DOM as text
(``textContent``), never as markup, so nothing here escapes HTML. Links are only ``http(s)``
URLs. No widgets and no I/O, so this is quick to test.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import numpy as np
import pandas as pd

from .. import labels
from ..engine.models import CONFLICT_ICON, EMAIL_CONFLICT_CODES
from .words import when_words

PAGE_SIZE = 50
LISTS = ("mapped", "aloware", "hubspot", "errors")
CARDS = (("mapped", "Mapped"), ("synced", "Synced"), ("errors", "Errors"),
         ("email_conflicts", f"E-mail conflicts {CONFLICT_ICON}"),
         ("unmapped_aloware", "Unmapped Aloware users"),
         ("unmapped_hubspot", "Unmapped HubSpot owners"))
_BAD = {"errors", "email_conflicts"}
# the columns each list's search looks in: names (joined, so "ann lee" finds Ann Lee), then ids
SEARCH_COLS = {
    "mapped": (("first_name", "last_name"), ("email", "hubspot_email", "aloware_user_id",
                                             "hubspot_owner_id")),
    "aloware": (("first_name", "last_name"), ("email", "aloware_user_id")),
    "hubspot": (("first_name", "last_name"), ("email", "hubspot_owner_id")),
    "errors": (("name",), ("email", "hubspot_email", "aloware_user_id", "hubspot_owner_id",
                           "issue_id")),
}
# e-mail conflicts that a sync leaves in place, for a person to decide: Keep link or Unlink
_DECIDE = {("aloware_email_changed", "email"), ("aloware_email_changed", "manual"),
           ("hubspot_email_changed", "manual")}


def text(v) -> str:
    """Any value as text ("" for None and NaN)."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


def http_url(u) -> str:
    """``u`` when it is an http(s) URL, else ""."""
    s = text(u)
    return s if s.lower().startswith(("https://", "http://")) else ""


def cards(summary: dict) -> list[dict]:
    return [{"key": k, "label": label, "value": int(summary.get(k, 0) or 0),
             "bad": k in _BAD and bool(summary.get(k))} for k, label in CARDS]


def owner_urls(owners: pd.DataFrame, portal_id: str) -> dict:
    """HubSpot owner id -> the portal's user page, for owners with a user id (empty without a
    ``portal_id``)."""
    if not portal_id or not len(owners) or "user_id" not in owners.columns:
        return {}
    uid = owners["user_id"].where(owners["user_id"].notna(), owners.get(
        "user_id_including_inactive"))
    base = f"https://app.hubspot.com/settings/{quote(portal_id)}/users/user/"
    return {str(o): base + quote(str(int(u)) if isinstance(u, float) else str(u))
            for o, u in zip(owners["id"], uid) if u is not None and u == u and str(u) != ""}


# --- search -----------------------------------------------------------------------------------
def haystack(df: pd.DataFrame, name_cols=(), other_cols=()) -> np.ndarray:
    """One lower-case string per row: the names joined by a space, then each other column after
    a separator no query can contain."""
    if not len(df):
        return np.array([], dtype=object)

    def col(c):
        return df[c].fillna("").astype(str) if c in df.columns else pd.Series("", index=df.index)
    parts = None
    if name_cols:
        parts = col(name_cols[0])
        for c in name_cols[1:]:
            parts = parts + " " + col(c)
    for c in other_cols:
        parts = col(c) if parts is None else parts + "\x1f" + col(c)
    return parts.str.lower().to_numpy(dtype=object)


def search(hay: np.ndarray, query: str) -> np.ndarray | None:
    """Row positions matching ``query`` (case-insensitive substring), None for no query."""
    q = (query or "").strip().lower()
    if not q:
        return None
    if not len(hay):
        return np.array([], dtype=np.int64)
    mask = pd.Series(hay, dtype=object).str.contains(q, regex=False).to_numpy(bool)
    return np.flatnonzero(mask)


# --- one row of each list --------------------------------------------------------------------
def mapped_row(r: dict, urls: dict) -> dict:
    issue = text(r.get("issue"))
    return {"aid": text(r.get("aloware_user_id")), "oid": text(r.get("hubspot_owner_id")),
            "first": text(r.get("first_name")), "last": text(r.get("last_name")),
            "email": text(r.get("email")), "hubspot_email": text(r.get("hubspot_email")),
            "status": "Synced" if r.get("status") == "synced" else "Error",
            "issue": labels.ISSUE_LABELS.get(issue, issue),
            "conflict": issue in EMAIL_CONFLICT_CODES,
            "owner_url": urls.get(text(r.get("hubspot_owner_id")), "")}


def aloware_row(r: dict, urls: dict) -> dict:
    sugg = r.get("suggestions")
    sugg = sugg if isinstance(sugg, list) else []
    return {"aid": text(r.get("aloware_user_id")), "first": text(r.get("first_name")),
            "last": text(r.get("last_name")), "email": text(r.get("email")),
            "reason": labels.aloware_reason_label(text(r.get("reason"))),
            "profile_url": http_url(r.get("profile_url")),
            "suggestions": [{"oid": text(s.get("hubspot_owner_id")), "name": text(s.get("name")),
                             "email": text(s.get("email")),
                             "score": round(float(s.get("score") or 0), 2),
                             "owner_url": urls.get(text(s.get("hubspot_owner_id")), "")}
                            for s in sugg[:3]]}


def hubspot_row(r: dict, urls: dict) -> dict:
    oid = text(r.get("hubspot_owner_id"))
    return {"oid": oid, "first": text(r.get("first_name")), "last": text(r.get("last_name")),
            "email": text(r.get("email")),
            "reason": labels.hubspot_reason_label(text(r.get("reason"))),
            "owner_url": urls.get(oid, "")}


def error_row(r: dict, urls: dict) -> dict:
    code, method = text(r.get("code")), text(r.get("method"))
    return {"issue_id": text(r.get("issue_id")), "issue": labels.ISSUE_LABELS.get(code, code),
            "name": text(r.get("name")), "aid": text(r.get("aloware_user_id")),
            "oid": text(r.get("hubspot_owner_id")), "email": text(r.get("email")),
            "hubspot_email": text(r.get("hubspot_email")), "detail": text(r.get("detail")),
            "conflict": code in EMAIL_CONFLICT_CODES, "decide": (code, method) in _DECIDE,
            "owner_url": urls.get(text(r.get("hubspot_owner_id")), "")}


ROW = {"mapped": mapped_row, "aloware": aloware_row, "hubspot": hubspot_row, "errors": error_row}


def decide_note(code: str) -> str:
    """What Fix Issue says for an e-mail conflict a sync leaves in place."""
    return (f"A sync leaves this link as it is ({labels.ISSUE_LABELS.get(code, code)}): a "
            f"person decides. "
            f"Keep link pins it with both e-mails as they are now; Unlink removes it. Both are "
            f"on the issue's row, and nothing changes until Apply.")


# --- a plan ----------------------------------------------------------------------------------
def _email(c) -> str:
    """The e-mail a change is about: the matched one for a link; both sides when a pin links
    two different e-mails; before -> after when an update changes it."""
    a, b = c.after or {}, c.before or {}
    ae, he = text(a.get("aloware_email")), text(a.get("hubspot_email"))
    if ae and he and ae.lower() != he.lower():
        return f"Aloware {ae} · HubSpot {he}"
    now = he or ae
    was = text(b.get("hubspot_email") or b.get("aloware_email"))
    if now and was and now != was:
        return f"{was} → {now}"
    return now or was


# an undo's steps say what they put back, not the sync's rules
_UNDO_STEPS = {"match": "Link again", "resolve": "Put back as it was", "cleanup": "Remove"}


def plan_preview(plan, names: dict, *, title: str, limit: int = PAGE_SIZE) -> dict:
    """The plan grouped by step (match, resolve, clean up; a pin is "Manual"), with counts and
    at most ``limit`` rows a step. ``names``: Aloware id -> name."""
    n = plan.counts()
    undo = bool(plan.meta.get("undo_of"))
    by_step: dict[str, list] = {}
    for c in plan.changes:
        by_step.setdefault(c.step, []).append(c)
    order = list(labels.STEP_ORDER) + sorted(set(by_step) - set(labels.STEP_ORDER))
    steps = []
    for step in order:
        rows = by_step.get(step)
        if not rows:
            continue
        out = []
        for c in rows[:limit]:
            before = text((c.before or {}).get("hubspot_owner_id"))
            after = text((c.after or {}).get("hubspot_owner_id"))
            owner = (f"{before} → {after}" if before and after and before != after
                     else after or before or text(c.hubspot_owner_id))
            out.append({"action": labels.ACTION_LABELS.get(c.action, c.action),
                        "aid": text(c.aloware_user_id), "name": names.get(c.aloware_user_id, ""),
                        "owner": owner, "email": _email(c),
                        "why": labels.reason_label(text(c.reason))})
        label = (_UNDO_STEPS.get(step) if undo else None) or labels.STEP_LABELS.get(step, step)
        steps.append({"step": step, "label": label,
                      "count": len(rows), "rows": out, "more": max(len(rows) - limit, 0)})
    return {"title": title, "total": len(plan), "add": n["add"], "update": n["update"],
            "remove": n["remove"], "steps": steps}


# --- a person --------------------------------------------------------------------------------
# the field names of the records and the link, in words (others are shown as they are)
FIELD_WORDS = {"id": "Id", "first_name": "First name", "last_name": "Last name",
               "email": "E-mail", "status": "Status", "kind": "Kind", "role": "Role",
               "user_id": "HubSpot user id", "user_id_including_inactive":
               "HubSpot user id (also inactive)", "type": "Type", "archived": "Archived",
               "aloware_user_id": "Aloware id", "hubspot_owner_id": "HubSpot owner id",
               "aloware_email": "Aloware e-mail (recorded)",
               "hubspot_email": "HubSpot e-mail (recorded)", "method": "How it was made",
               "mapped_at": "Linked at", "updated_at": "Updated at"}
_TIMES = ("mapped_at", "updated_at")
_METHODS = {"email": "same e-mail", "manual": "manual (pinned)"}


def _pairs(rec: dict | None) -> list[list[str]]:
    out = []
    for k, v in (rec or {}).items():
        if str(k).startswith("_"):
            continue
        v = text(v)
        if k in _TIMES and v:
            v = when_words(v, year=True)
        elif k == "method":
            v = _METHODS.get(v, v)
        elif k == "archived":
            v = {"True": "yes", "False": "no"}.get(v, v)
        out.append([FIELD_WORDS.get(str(k), str(k)), v])
    return out


def story(aloware_id: str, user: dict | None, owner: dict | None, person: dict) -> dict:
    """Everything about one person: both records, the link, its journal (newest first)."""
    journal = []
    for j in reversed(person.get("journal", [])):
        b = json.loads(j["before"]) if isinstance(j.get("before"), str) and j["before"] else {}
        a = json.loads(j["after"]) if isinstance(j.get("after"), str) and j["after"] else {}
        journal.append({"at": when_words(text(j.get("at")), year=True),
                        "run": text(j.get("run_id")),
                        "action": labels.ACTION_LABELS.get(text(j.get("action")),
                                                           text(j.get("action"))),
                        "owner": f"{text(b.get('hubspot_owner_id'))} → "
                                 f"{text(a.get('hubspot_owner_id'))}",
                        "why": labels.reason_label(text(j.get("reason")))})
    name = " ".join(x for x in (text((user or {}).get("first_name")),
                                text((user or {}).get("last_name"))) if x)
    return {"aid": aloware_id, "title": name or f"Aloware user {aloware_id}",
            "sections": [{"title": "Aloware user", "rows": _pairs(user)},
                         {"title": "HubSpot owner", "rows": _pairs(owner)},
                         {"title": "The link", "rows": _pairs(person.get("link"))}],
            "journal": journal}
