"""The tab's first view as static HTML (usermap/tab/firstview.py; docs/design.md §9, issue 20):
what the widget's display bundle carries for the page ``usermap tab`` serves, and what that
page's template does with it. The page itself is tests/browser/test_tab_first_view.py."""

from __future__ import annotations

import re
from types import SimpleNamespace

from test_report import XSS
from test_tab_widget import make_env

HOSTILE = XSS[0]


def _tab(**kw):
    base = dict(cards=[{"key": "mapped", "label": "Mapped", "value": 12345, "bad": False},
                       {"key": "errors", "label": "Errors", "value": 7, "bad": True}],
                refreshed="6 Dec 2026 18:52 UTC", status={"text": "Refreshed.", "kind": "good"},
                lists={"mapped": {"count": 12345}, "errors": {"count": 7}},
                activities=[{"who": 1}], placeholder="Search by name, e-mail or id")
    return SimpleNamespace(**{**base, **kw})


def test_the_first_view_is_the_widgets_top_as_a_picture():
    from usermap.tab.firstview import first_view
    html = first_view(_tab())
    assert html.startswith('<div class="um-first" aria-hidden="true">')
    cards = re.findall(r'data-key="(\w+)" data-value="(\d+)"><div class="umf-n">([\d,]+)<', html)
    assert cards == [("mapped", "12345", "12,345"), ("errors", "7", "7")]
    assert 'class="umf-card umf-bad"' in html and "Last refreshed at 6 Dec 2026 18:52 UTC" in html
    assert '<div class="umf-status umf-good">Refreshed.</div>' in html
    for title in ("Mapped users (12,345)", "Unmapped Aloware users (0)", "Errors (7)",
                  "Activities (1)"):
        assert title in html
    # a picture: nothing the live widget is found by (its classes, buttons, search box)
    assert "data-action" not in html and "<input" not in html and "placeholder" not in html
    assert "<button" not in html and not re.search(r'class="[^"]*\bum-(?!first)', html)
    assert html.count('class="umf-btn"') == 3 and html.count('class="umf-tab"') == 5


def test_the_pictures_css_is_the_widgets_for_its_class_names():
    from usermap.tab.firstview import css
    text = css()
    assert ".umf-card {" in text and ".umf.umf-has-preview" in text
    assert not re.search(r"\.um\b", text) and ":has(" not in text


def test_the_first_view_escapes_what_it_shows():
    from usermap.tab.firstview import first_view
    html = first_view(_tab(status={"text": HOSTILE, "kind": '"><b>'}, refreshed=HOSTILE,
                           cards=[{"key": "<k>", "label": HOSTILE, "value": 1}]))
    assert HOSTILE not in html and "<b>" not in html and "<k>" not in html
    assert html.count("<script") == 0 and "&lt;" in html


def test_the_widget_bundle_carries_the_first_view_of_its_data(tmp_path):
    from usermap.tab.app import MappingTab
    from usermap.tab.firstview import MIME
    snap, _db, cfg = make_env(tmp_path, n=60, seed=5)
    tab = MappingTab(str(cfg), snapshot=str(snap), workdir=tmp_path / "work")
    try:
        data, _meta = tab._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in data   # JupyterLab draws this
        html = data[MIME]
        for c in tab.cards:
            assert f'data-key="{c["key"]}" data-value="{c["value"]}"' in html
        assert f"Mapped users ({tab.lists['mapped']['count']:,})" in html
        assert tab.refreshed and tab.refreshed in html
    finally:
        tab.close()


def test_the_served_page_shows_the_first_view_before_anything_loads(tmp_path, monkeypatch):
    """The template of ``usermap tab``: no stylesheet and no script file in the head (they
    would hold the first paint back), the widget's CSS inline there, the first view written
    from the output's own type and lifted to the top of the page, and Voilà's head (its style
    bundle, JupyterLab's CSS) before Voilà's script at the end of the body."""
    from usermap.config import Config
    from usermap.tab.firstview import MIME
    from usermap.tabserver import TEMPLATE, prepare
    monkeypatch.chdir(tmp_path)
    private = tmp_path / "private"
    private.mkdir()
    prepare(private, Config.load(None), port=8866)
    text = (private / "jupyter" / "voila" / "templates" / TEMPLATE / "index.html.j2").read_text()
    head, _, body = text.partition("{% endblock notebook_css %}")
    assert "include_css" not in head and "include_js" not in head and ".umf-card {" in head
    assert f'output.data["{MIME}"]' in body and "document.body.prepend(f)" in body
    assert body.index('include_js("static/voila-style.js")') < body.index(
        'include_css("static/index.css")') < body.index("voila_setup_labextensions(")
