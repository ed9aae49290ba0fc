"""The tab's first view as static HTML (docs/design.md §9, issue 20): what ``widget.js`` draws
first (title, line, overview cards, toolbar, status, search box, tab titles with counts), made
in Python from the same traitlets, so that the page ``usermap tab`` serves can show the overview
before Voilà's front end and the widget have booted.

The widget puts it in its display bundle under ``MIME`` (a type of its own: JupyterLab and
Voilà's front end render the widget view, never this); ``usermap tab``'s template writes it into
the page, and the live widget removes it when it draws itself in the same place. It is a
picture, not a page: it is ``aria-hidden``, takes no pointer events, its buttons carry no action and
leave the tab order, and its search box is no input. Every value goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

__all__ = ["MIME", "TITLE", "LEDE", "TABS", "WIDGET_CSS", "first_view"]

MIME = "application/vnd.usermap.first-view+html"
WIDGET_CSS = Path(__file__).with_name("widget.css")     # the widget's CSS: it styles this too
TITLE = "User Mapping"
# the same words as widget.js (tests/browser/test_tab_first_view.py compares the two pages)
LEDE = ("Each Aloware user is linked to a HubSpot owner so that the calls and texts Aloware "
        "logs land on the right person in HubSpot. Review the links, fix what is wrong and sync "
        "them here; nothing changes until you press Apply.")
TABS = (("mapped", "Mapped users"), ("aloware", "Unmapped Aloware users"),
        ("hubspot", "Unmapped HubSpot owners"), ("errors", "Errors"),
        ("activities", "Activities"))


def _n(v) -> str:
    return f"{int(v or 0):,}"


def _card(c: dict) -> str:
    cls = "um-card um-bad" if c.get("bad") else "um-card"
    return (f'<div class="{cls}" role="listitem" data-key="{escape(str(c["key"]))}" '
            f'data-value="{int(c.get("value") or 0)}"><div class="um-n">{_n(c.get("value"))}'
            f'</div><div class="um-label">{escape(str(c["label"]))}</div></div>')


def _button(name: str) -> str:
    return f'<button type="button" tabindex="-1" class="um-btn">{name}</button>'


def first_view(tab) -> str:
    """The first view's HTML, from the traitlets of ``tab`` (a ``MappingTab``, or anything with
    its ``cards``, ``refreshed``, ``status``, ``lists``, ``activities`` and ``placeholder``)."""
    counts = {k: (v or {}).get("count", 0) for k, v in (tab.lists or {}).items()}
    counts["activities"] = len(tab.activities or [])
    s, refreshed = tab.status or {}, tab.refreshed
    status_html = (f'<div class="um-status{" um-" + escape(s["kind"]) if s.get("kind") else ""}">'
                   f'{escape(str(s["text"]))}</div>' if s.get("text") else "")
    when = f"Last refreshed at {refreshed}" if refreshed else "Not refreshed yet"
    tabs = "".join(
        f'<button type="button" tabindex="-1" class="um-tab" aria-selected='
        f'"{"true" if key == "mapped" else "false"}">{escape(title)} ({_n(counts.get(key))})'
        '</button>' for key, title in TABS)
    return (
        '<div class="um-first" aria-hidden="true"><div class="um">'
        f'<header class="um-head"><h1 class="um-title">{TITLE}</h1>'
        f'<p class="um-lede">{escape(LEDE)}</p></header>'
        f'<div class="um-cards">{"".join(_card(c) for c in tab.cards or [])}</div>'
        f'<div class="um-toolbar">{_button("Refresh")}'
        f'<span class="um-refreshed">{escape(when)}</span>'
        '<span class="um-grow"></span>'
        f'{_button("Sync Users")}{_button("Undo last sync")}</div>'
        f'{status_html}<div class="um-search um-first-search">{escape(tab.placeholder)}</div>'
        f'<div class="um-tabs">{tabs}</div><p class="um-empty">Loading the lists…</p>'
        '</div></div>')
