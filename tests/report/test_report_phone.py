"""The report and the e-mail in Chromium at 390 px (a phone) and 1280 px (issue 20): no sideways
scrolling of the page, no e-mail or id broken inside a word, no empty column, the overview in
plain words, information apart from what needs a person.

Playwright drives Debian's /usr/bin/chromium (as tests/browser/test_report_browser.py does); without it
these tests skip with a message, unless CI=true, where they fail.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from test_report import world_report
from test_report_browser import at_width, browser, open_report, tab  # noqa: F401 - the shared fixtures
from tiny import L, O, U, frames
from usermap.engine import plan as planmod
from usermap.engine import reconcile
from usermap.engine.models import ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES
from usermap.report.build import build_report

pytestmark = pytest.mark.browser

LONG = "christopher.montgomery-smithson@subsidiary-holdings.example.com"   # 63 characters


def long_values_report():
    """The fixed world plus people with long e-mails and a long id, in every list."""
    users = [U(1, "ann@acme.com", first="Ann", last="Lee"),
             U(2, LONG, first="Christopher", last="Montgomery-Smithson"),      # no owner
             U(3, "maximilian.alexander.von.humboldt@acme.com", first="Max", last="Humboldt"),
             U("4" * 40, "long.id.person@acme.com", first="Long", last="Id"),
             U(5, "new.address.after.the.move@acme.com", first="Moved", last="Person")]
    owners = [O(101, "ann@acme.com"), O(103, "maximilian.alexander.von.humboldt@acme.com"),
              O(104, "long.id.person@acme.com"),
              O(105, "previous.address.before.the.move@acme.com"),
              O(106, "somebody.without.an.aloware.account@acme.com")]
    links = [L(1, 101, "ann@acme.com", "ann@acme.com"),
             L(5, 105, "previous.address.before.the.move@acme.com",
               "previous.address.before.the.move@acme.com")]
    u, o, lk = frames(users, owners, links)
    a = reconcile.audit(u, o, lk, profile_url="https://app.aloware.com/users/{id}")
    p = planmod.make_plan(a, store_revision=0, fingerprint="long")
    return build_report(a, plan=p, applied=False, run_id="20260301T120000Z-long",
                        generated_at="2026-03-01T12:00:00Z")


def _page(tab, width):  # noqa: F811
    return at_width(tab, width, 900)


# What the page shows of every e-mail: per e-mail, the lines each of its unbreakable pieces
# takes (the pieces are the text between the <wbr> break points), and how many lines in all.
EMAIL_LINES = """() => Array.from(document.querySelectorAll('table.list .email'))
  .filter(e => e.offsetParent !== null)
  .map(e => {
    const pieces = Array.from(e.childNodes).filter(n => n.nodeType === 3).map(n => {
      const r = document.createRange(); r.selectNodeContents(n);
      return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size;
    });
    const r = document.createRange(); r.selectNodeContents(e);
    const lines = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size;
    return {text: e.textContent, pieces: pieces, lines: lines,
            fits: e.parentElement.clientWidth >= e.scrollWidth};
  })"""

STYLES = """sel => Array.from(document.querySelectorAll(sel)).map(e => {
    const s = getComputedStyle(e); return [s.wordBreak, s.overflowWrap]; })"""


@pytest.mark.parametrize("width", [390, 1280])
def test_no_email_or_id_breaks_inside_a_word_and_the_page_never_scrolls_sideways(
        tab, tmp_path, width):  # noqa: F811
    for name, report in (("world", world_report()), ("long", long_values_report())):
        path = tmp_path / f"{name}.html"
        path.write_text(report.to_html(), encoding="utf-8")
        pg = _page(tab, width)
        open_report(pg, path)
        for sel in pg.evaluate("Array.from(document.querySelectorAll('select.size'))"
                               ".map(s => '#' + s.id)"):
            pg.select_option(sel, "100")
        sw, iw = pg.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert sw <= iw, (name, width, sw, iw)
        shown = pg.evaluate(EMAIL_LINES)
        assert len(shown) > 10, shown
        for e in shown:
            # never inside a piece (a word); an e-mail that fits its box is on one line
            assert all(n == 1 for n in e["pieces"]), (name, width, e)
            if len(e["text"]) <= 40:
                assert e["lines"] == 1, (name, width, e)
        if name == "long":
            assert any(e["text"] == LONG for e in shown)
        # nothing may break a word anywhere: no break-all, no overflow-wrap:anywhere
        for wb, ow in pg.evaluate(STYLES, "body, body *"):
            assert wb not in ("break-all", "break-word") and ow != "anywhere", (wb, ow)
        # ids stay whole: each on one line
        ids = pg.evaluate("""() => Array.from(document.querySelectorAll(
            'table.list td.k-id, table.list td.k-link')).filter(td => td.offsetParent)
            .map(td => { const tops = new Set(), w = document.createTreeWalker(td, 4);
                for (let n = w.nextNode(); n; n = w.nextNode()) {
                    const r = document.createRange(); r.selectNodeContents(n);
                    Array.from(r.getClientRects()).forEach(x => tops.add(Math.round(x.top)));
                }
                return [td.textContent, tops.size]; })""")
        assert ids and all(n <= 1 for _, n in ids if len(_) <= 24), ids
        assert pg.evaluate("document.querySelectorAll('td.blank').length") == 0 or \
            pg.evaluate("""() => Array.from(document.querySelectorAll('td.blank'))
                .every(td => td.textContent === '' && (innerWidth > 760 ||
                       getComputedStyle(td).display === 'none'))""")


def test_empty_columns_are_hidden_and_cards_leave_out_empty_cells(tab, tmp_path):  # noqa: F811
    r = world_report()
    path = tmp_path / "r.html"
    path.write_text(r.to_html(), encoding="utf-8")
    assert all(v == "" for v in r.changes.table.col("hubspot_email"))
    heads = {t.id: [c.label for c in t.visible] for t in r.tables}
    assert "HubSpot e-mail (if different)" not in heads["changes"]
    assert "E-mail before → after" in heads["changes"]
    pg = _page(tab, 1280)
    open_report(pg, path)
    th = pg.evaluate("Array.from(document.querySelectorAll('#tbl-changes th'))"
                     ".map(t => t.textContent)")
    assert th == heads["changes"]
    cells = pg.evaluate("document.querySelector('#changes-body tr').cells.length")
    assert cells == len(th)
    pg = _page(tab, 390)
    open_report(pg, path)
    # a card shows no label without a value (e.g. "HubSpot id after" of a removal)
    shown = pg.evaluate("""() => Array.from(document.querySelectorAll('table.list td'))
        .filter(td => td.offsetParent !== null && !td.classList.contains('empty'))
        .map(td => td.textContent.trim())""")
    assert shown and all(shown), [s for s in shown if not s][:3]
    sw, iw = pg.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert sw <= iw


@pytest.mark.parametrize("width", [390, 1280])
def test_overview_in_plain_words_and_information_apart(tab, tmp_path, width):  # noqa: F811
    r = world_report()
    path = tmp_path / "r.html"
    path.write_text(r.to_html(), encoding="utf-8")
    pg = _page(tab, width)
    open_report(pg, path)
    overview = pg.inner_text("#overview")
    for code in set(ISSUE_CODES) | set(ALOWARE_REASONS) | set(HUBSPOT_REASONS):
        assert code not in overview, code
    assert pg.inner_text("#n-needs") == "4" and pg.inner_text("#n-fyi") == "2"
    fyi = pg.inner_text("#for_information-body")
    assert fyi.count("No Aloware user has this e-mail") == 2
    assert "No Aloware user has this e-mail" not in pg.inner_text("#needs_person-body")
    legend = pg.inner_text("#legend")                 # the codes stay in the legend
    assert "missing_email" in legend and "invalid_email" in legend


@pytest.mark.parametrize("width", [390, 1280])
def test_the_email_html_wraps_between_values(tab, tmp_path, width):  # noqa: F811
    from usermap.config import Config
    from usermap.notify import build_message
    msg = email.message_from_bytes(build_message(long_values_report(), Config()).as_bytes(),
                                   policy=policy.default)
    path = tmp_path / "email.html"
    path.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    pg = _page(tab, width)
    pg.goto(Path(path).as_uri())
    sw, iw = pg.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert sw <= iw, (width, sw, iw)
    for wb, ow in pg.evaluate(STYLES, "body, body *"):
        assert wb not in ("break-all", "break-word") and ow != "anywhere", (wb, ow)
    # every e-mail shown fits on one line: it is never cut inside a word
    text = pg.evaluate("""() => {
        const out = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        const re = /[\\w.+-]+@[\\w.-]+\\.\\w+/g;
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          let m; while ((m = re.exec(n.data))) {
            const r = document.createRange(); r.setStart(n, m.index);
            r.setEnd(n, m.index + m[0].length);
            out.push([m[0], new Set(Array.from(r.getClientRects())
                                      .map(x => Math.round(x.top))).size]);
          }
        }
        return out; }""")
    assert text and all(n == 1 for e, n in text if len(e) <= 40), text
