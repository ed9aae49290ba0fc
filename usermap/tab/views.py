"""What the User Mapping tab shows, as text and HTML (docs/design.md §9): the overview cards, one row
of each list, the plan grouped by step, a person's whole story, the legend; and the search.

Every value from Aloware, HubSpot or the store goes through ``esc`` (``html.escape``) before it
is put in markup: a name like ``<img src=x onerror=alert(1)>`` shows as that text. Links are
only ``http(s)`` URLs, escaped. No widgets here (``app.py`` holds them), so this is quick to test.
"""

from __future__ import annotations

import html
import json

import numpy as np
import pandas as pd

from .. import labels
from ..engine.models import CONFLICT_ICON, EMAIL_CONFLICT_CODES

PAGE_SIZE = 50

STYLE = """<style>
.um-cards{display:flex;flex-wrap:wrap;gap:8px;margin:4px 0}
.um-card{border:1px solid #c8ccd2;border-radius:6px;padding:6px 12px;min-width:120px;background:#fafbfc}
.um-card .um-n{font-size:22px;font-weight:600}
.um-card.um-bad .um-n{color:#b42318}
.um-row{display:grid;gap:6px;align-items:center;width:100%;font-size:13px;line-height:1.3;
 overflow-wrap:anywhere}
.um-head{font-weight:600;border-bottom:1px solid #c8ccd2}
.um-err{color:#b42318}.um-ok{color:#067647}
.um-msg{padding:4px 8px;border-radius:4px;background:#f2f4f7;white-space:pre-wrap}
.um-msg.um-warn{background:#fef0c7}.um-msg.um-bad{background:#fee4e2}.um-msg.um-good{background:#dcfae6}
.um-story table,.um-plan table{border-collapse:collapse;font-size:13px}
.um-story td,.um-story th,.um-plan td,.um-plan th{border:1px solid #e4e7ec;padding:2px 6px;text-align:left;vertical-align:top}
.um-muted{color:#667085}.um-info{padding:0 10px}
</style>"""


def esc(v) -> str:
    """Any value as escaped text ("" for None and NaN)."""
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return html.escape(str(v), quote=True)


def link(url, text) -> str:
    u = "" if url is None or (isinstance(url, float) and url != url) else str(url)
    if not u.lower().startswith(("https://", "http://")):
        return esc(text)
    return f'<a href="{esc(u)}" target="_blank" rel="noopener noreferrer">{esc(text)}</a>'


def message(text: str, kind: str = "") -> str:
    """A status message (plain text, escaped); kind: "", "warn", "bad", "good"."""
    if not text:
        return ""
    return f'<div class="um-msg {("um-" + kind) if kind else ""}" role="status">{esc(text)}</div>'


# --- overview -----------------------------------------------------------------------------------
CARDS = (("mapped", "Mapped"), ("synced", "Synced"), ("errors", "Errors"),
         ("email_conflicts", f"E-mail conflicts {CONFLICT_ICON}"),
         ("unmapped_aloware", "Unmapped Aloware users"),
         ("unmapped_hubspot", "Unmapped HubSpot owners"))
_BAD = {"errors", "email_conflicts"}


def cards(summary: dict) -> str:
    out = []
    for key, label in CARDS:
        n = int(summary.get(key, 0))
        bad = " um-bad" if key in _BAD and n else ""
        out.append(f'<div class="um-card{bad}" data-key="{key}" data-value="{n}">'
                   f'<div class="um-n">{n:,}</div><div>{esc(label)}</div></div>')
    return f'<div class="um-cards">{"".join(out)}</div>'


# --- search ---------------------------------------------------------------------------------
def haystack(df: pd.DataFrame, name_cols=(), other_cols=()) -> np.ndarray:
    """One lower-case string per row: the names joined by a space (so "ann lee" finds Ann Lee),
    then each other column after a separator no query can contain."""
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


# --- rows ---------------------------------------------------------------------------------
def grid(cells, widths, head: bool = False) -> str:
    """One row of cells (already escaped HTML) on a CSS grid of ``widths``."""
    cls = "um-row um-head" if head else "um-row"
    role = "columnheader" if head else "cell"
    inner = "".join(f'<div role="{role}">{c}</div>' for c in cells)
    return (f'<div class="{cls}" role="row" style="grid-template-columns:{" ".join(widths)}">'
            f"{inner}</div>")


MAPPED_COLS = (("First name", "1fr"), ("Last name", "1fr"), ("Aloware id", "0.8fr"),
               ("HubSpot id", "0.8fr"), ("E-mail", "1.6fr"), ("Status", "0.7fr"),
               ("Issue", "1.5fr"))
ALOWARE_COLS = (("First name", "1fr"), ("Last name", "1fr"), ("Aloware id", "0.8fr"),
                ("E-mail", "1.5fr"), ("Reason", "1.4fr"), ("Suggestions", "2fr"))
HUBSPOT_COLS = (("First name", "1fr"), ("Last name", "1fr"), ("HubSpot id", "0.8fr"),
                ("E-mail", "1.6fr"), ("Reason", "1.6fr"))
ERROR_COLS = (("Issue", "1.4fr"), ("Name", "1.2fr"), ("Aloware id", "0.8fr"),
              ("HubSpot id", "0.8fr"), ("Details", "2.4fr"))


def header(cols) -> str:
    return grid([esc(label) for label, _ in cols], [w for _, w in cols], head=True)


def status_html(status: str, issue: str) -> str:
    icon = f" {CONFLICT_ICON}" if issue in EMAIL_CONFLICT_CODES else ""
    cls = "um-ok" if status == "synced" else "um-err"
    return f'<span class="{cls}">{esc(status)}{icon}</span>'


def mapped_row(r: dict) -> str:
    return grid([esc(r.get("first_name")), esc(r.get("last_name")),
                 esc(r.get("aloware_user_id")), esc(r.get("hubspot_owner_id")),
                 esc(r.get("email")), status_html(r.get("status", ""), r.get("issue", "")),
                 esc(labels.issue_label(r.get("issue") or ""))],
                [w for _, w in MAPPED_COLS])


def suggestions_html(sugg) -> str:
    if not isinstance(sugg, list) or not sugg:
        return '<span class="um-muted">none</span>'
    return "<br>".join(f"{i}. {esc(s.get('name'))} &lt;{esc(s.get('email'))}&gt; "
                       f"<span class=\"um-muted\">({esc(s.get('hubspot_owner_id'))}, "
                       f"{float(s.get('score', 0)):.2f})</span>"
                       for i, s in enumerate(sugg, 1))


def aloware_row(r: dict) -> str:
    aid = r.get("aloware_user_id")
    idcell = link(r.get("profile_url"), aid)
    return grid([esc(r.get("first_name")), esc(r.get("last_name")), idcell, esc(r.get("email")),
                 esc(labels.aloware_reason_label(r.get("reason", ""))),
                 suggestions_html(r.get("suggestions"))], [w for _, w in ALOWARE_COLS])


def hubspot_row(r: dict) -> str:
    return grid([esc(r.get("first_name")), esc(r.get("last_name")),
                 esc(r.get("hubspot_owner_id")), esc(r.get("email")),
                 esc(labels.hubspot_reason_label(r.get("reason", "")))],
                [w for _, w in HUBSPOT_COLS])


def error_row(r: dict) -> str:
    return grid([esc(labels.issue_label(r.get("code", ""))), esc(r.get("name")),
                 esc(r.get("aloware_user_id")), esc(r.get("hubspot_owner_id")),
                 esc(r.get("detail"))], [w for _, w in ERROR_COLS])


# --- the plan ------------------------------------------------------------------------------
def plan_html(plan, names: dict, *, title: str, limit: int = PAGE_SIZE) -> str:
    """The plan grouped by step (match, resolve, clean up; a pin is "Manual pin") with counts,
    and at most ``limit`` rows per step. ``names``: Aloware id -> name."""
    n = plan.counts()
    parts = [f"<h3>{esc(title)}</h3>",
             f"<p>{len(plan):,} changes: {n['add']:,} to link, {n['update']:,} to update, "
             f"{n['remove']:,} to remove (store revision {plan.store_revision}). Nothing "
             f"changes until you apply it.</p>"]
    if not len(plan):
        parts.append("<p>No changes: the store is in step with the directories.</p>")
    by_step: dict[str, list] = {}
    for c in plan.changes:
        by_step.setdefault(c.step, []).append(c)
    order = list(labels.STEP_ORDER) + sorted(set(by_step) - set(labels.STEP_ORDER))
    for step in order:
        rows = by_step.get(step)
        if not rows:
            continue
        label = labels.STEP_LABELS.get(step, step)
        parts.append(f'<h4 data-step="{esc(step)}">{esc(label)}: {len(rows):,}</h4>')
        body = []
        for c in rows[:limit]:
            before = (c.before or {}).get("hubspot_owner_id", "")
            after = (c.after or {}).get("hubspot_owner_id", "")
            owner = (f"{esc(before)} → {esc(after)}" if before and after and before != after
                     else esc(after or before or c.hubspot_owner_id))
            body.append(f"<tr><td>{esc(labels.ACTION_LABELS.get(c.action, c.action))}</td>"
                        f"<td>{esc(c.aloware_user_id)}</td><td>{esc(names.get(c.aloware_user_id, ''))}</td>"
                        f"<td>{owner}</td><td>{esc(labels.reason_label(c.reason))}</td></tr>")
        more = (f'<p class="um-muted">… and {len(rows) - limit:,} more</p>'
                if len(rows) > limit else "")
        parts.append("<table><tr><th>Action</th><th>Aloware id</th><th>Name</th>"
                     "<th>HubSpot owner</th><th>Why</th></tr>" + "".join(body) + "</table>" + more)
    return f'<div class="um-plan">{"".join(parts)}</div>'


# --- a person's story ------------------------------------------------------------------------
def _record_table(title: str, rec: dict | None) -> str:
    if not rec:
        return f"<h4>{esc(title)}</h4><p class=\"um-muted\">none</p>"
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rec.items()
                   if not str(k).startswith("_"))
    return f"<h4>{esc(title)}</h4><table>{rows}</table>"


def story_html(aloware_id: str, user: dict | None, owner: dict | None, story: dict) -> str:
    """Everything about one person: both records, the link, its journal."""
    rows = []
    for j in story.get("journal", []):
        b = json.loads(j["before"]) if isinstance(j.get("before"), str) else {}
        a = json.loads(j["after"]) if isinstance(j.get("after"), str) else {}
        rows.append(f"<tr><td>{esc(j.get('at'))}</td><td>{esc(j.get('run_id'))}</td>"
                    f"<td>{esc(j.get('action'))}</td><td>{esc(b.get('hubspot_owner_id', ''))}"
                    f" → {esc(a.get('hubspot_owner_id', ''))}</td>"
                    f"<td>{esc(labels.reason_label(str(j.get('reason', ''))))}</td></tr>")
    journal = ("<table><tr><th>When</th><th>Run</th><th>Action</th><th>Owner</th><th>Why</th></tr>"
               + "".join(rows) + "</table>") if rows else '<p class="um-muted">no changes recorded</p>'
    return (f'<div class="um-story"><h3>Aloware user {esc(aloware_id)}</h3>'
            + _record_table("Aloware user", user) + _record_table("HubSpot owner", owner)
            + _record_table("The link (store)", story.get("link"))
            + f"<h4>Journal</h4>{journal}</div>")


def legend_html() -> str:
    rows = "".join(f"<tr><td>{esc(s)}</td><td><code>{esc(c)}</code></td><td>{esc(lbl)}</td></tr>"
                   for s, c, lbl in labels.legend())
    advice = "".join(f"<tr><td><code>{esc(c)}</code></td><td>{esc(a)}</td></tr>"
                     for c, a in labels.ISSUE_ADVICE.items())
    return (f'<div class="um-story"><p>{CONFLICT_ICON} marks an e-mail conflict.</p>'
            f"<table><tr><th>Where</th><th>Code</th><th>Label</th></tr>{rows}</table>"
            f"<h4>What to do about each issue</h4><table>{advice}</table></div>")
