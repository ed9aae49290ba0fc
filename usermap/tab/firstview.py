"""The tab's first view as static HTML (docs/design.md §9, issue 20): what ``widget.js`` draws
first (title, line, overview cards, toolbar, status, search box, tab titles with counts), made
in Python from the same traitlets, so that the page ``usermap tab`` serves can show the overview
before Voilà's front end and the widget have booted.

The widget puts it in its display bundle under ``MIME`` (``FirstViewBundle``; a type of its
own: JupyterLab and Voilà's front end render the widget view, never this); ``usermap tab``'s
template writes it into the page, and the live widget removes it when it draws itself in the
same place. It is a picture, not a page: it is ``aria-hidden`` and takes no pointer events, its
"buttons" and search box are spans, and its class names are the widget's with ``umf`` for
``um`` (``css`` styles them with the widget's own rules), so that nothing that looks for the
live widget (``.um-card``, a button's name, the search box's placeholder) finds the picture.
Every value goes through ``html.escape``.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

__all__ = ["MIME", "TITLE", "LEDE", "TABS", "first_view", "css", "FirstViewBundle"]

MIME = "application/vnd.usermap.first-view+html"
_WIDGET_CSS = Path(__file__).with_name("widget.css")
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
    cls = "umf-card umf-bad" if c.get("bad") else "umf-card"
    return (f'<div class="{cls}" role="listitem" data-key="{escape(str(c["key"]))}" '
            f'data-value="{int(c.get("value") or 0)}"><div class="umf-n">{_n(c.get("value"))}'
            f'</div><div class="umf-label">{escape(str(c["label"]))}</div></div>')


def css() -> str:
    """The widget's CSS for the picture's class names, without its ``:has()`` rule (it concerns
    the panels around the live widget, and such a rule would be matched again at every change
    of the page while Voilà's front end builds it)."""
    text = re.sub(r"\.um\b", ".umf", _WIDGET_CSS.read_text(encoding="utf-8"))
    return "\n".join(line for line in text.splitlines() if ":has(" not in line)


def _button(name: str) -> str:
    return f'<span class="umf-btn">{name}</span>'


def first_view(tab) -> str:
    """The first view's HTML, from the traitlets of ``tab`` (a ``MappingTab``, or anything with
    its ``cards``, ``refreshed``, ``status``, ``lists``, ``activities`` and ``placeholder``)."""
    counts = {k: (v or {}).get("count", 0) for k, v in (tab.lists or {}).items()}
    counts["activities"] = len(tab.activities or [])
    s, refreshed = tab.status or {}, tab.refreshed
    status_html = (f'<div class="umf-status{" umf-" + escape(s["kind"]) if s.get("kind") else ""}">'
                   f'{escape(str(s["text"]))}</div>' if s.get("text") else "")
    when = f"Last refreshed at {refreshed}" if refreshed else "Not refreshed yet"
    tabs = "".join(
        f'<span class="umf-tab" aria-selected="{"true" if key == "mapped" else "false"}">'
        f'{escape(title)} ({_n(counts.get(key))})</span>' for key, title in TABS)
    return (
        '<div class="um-first" aria-hidden="true"><div class="umf">'
        f'<header class="umf-head"><h1 class="umf-title">{TITLE}</h1>'
        f'<p class="umf-lede">{escape(LEDE)}</p></header>'
        f'<div class="umf-cards">{"".join(_card(c) for c in tab.cards or [])}</div>'
        f'<div class="umf-toolbar">{_button("Refresh")}'
        f'<span class="umf-refreshed">{escape(when)}</span>'
        '<span class="umf-grow"></span>'
        f'{_button("Sync Users")}{_button("Undo last sync")}</div>'
        f'{status_html}<div class="umf-search um-first-search">{escape(tab.placeholder)}</div>'
        f'<div class="umf-tabs">{tabs}</div><p class="umf-empty">Loading the lists…</p>'
        '</div></div>')


class FirstViewBundle:
    """Mixed into the widget, before ``anywidget.AnyWidget``: its display bundle carries the
    first view under ``MIME`` beside the widget view."""

    def _repr_mimebundle_(self, **kwargs):
        got = super()._repr_mimebundle_(**kwargs)
        if not got:
            return got
        data, meta = got if isinstance(got, tuple) else (got, {})
        return {**data, MIME: first_view(self)}, meta
