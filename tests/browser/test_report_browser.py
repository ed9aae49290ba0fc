"""The HTML report in a real browser (Playwright driving Debian's /usr/bin/chromium): search and
pagination work, XSS payloads show as text and run nothing, no request leaves the file, and a
100k-link report loads and searches fast.

Without Chromium these tests are skipped with a message, unless CI=true, where they fail.
`playwright install` is never needed: the system Chromium is used.
"""

from __future__ import annotations

import json
import math
import os
import time
import unicodedata
from pathlib import Path

import pytest

from test_report import XSS, big_report, world_report

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("USERMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
TABLE_IDS = ("changes", "new_issues", "resolved_issues", "activity_users", "errors", "mapped",
             "unmapped_aloware", "unmapped_hubspot")


def _unavailable(reason: str):
    msg = (f"browser tests need Chromium at {CHROMIUM} and the playwright package ({reason}); "
           "install Debian's chromium (apt-get install chromium)")
    if IN_CI:
        pytest.fail(msg + "; CI=true, so this is a failure, not a skip")
    pytest.skip(msg)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable("Chromium is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watch:
    """What a page did: requests, dialogs, script errors, console errors."""

    def __init__(self):
        self.requests, self.blocked, self.dialogs, self.errors, self.console = [], [], [], [], []


@pytest.fixture(scope="module")
def tab(browser):
    """One context and page for a module's tests, each test navigating it to its own file: a
    new context per test started a new renderer process, about 0.9 s of Chromium's CPU each.
    Requests outside file: and data: are blocked and, like dialogs and script errors, noted in
    ``tab.watch`` (a new Watch for each test: ``at_width``)."""
    context = browser.new_context()
    pg = context.new_page()
    pg.watch = Watch()

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            pg.watch.blocked.append(url)
            r.abort()
    context.route("**/*", route)
    context.on("request", lambda req: pg.watch.requests.append(req.url))
    pg.on("dialog", lambda d: (pg.watch.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.watch.errors.append(str(e)))
    pg.on("console", lambda m: pg.watch.console.append(m.text)
          if m.type in ("error", "warning") else None)
    yield pg
    context.close()


def at_width(tab, width: int = 1280, height: int = 720):
    """The module's page, blank, at ``width`` x ``height``, with a new Watch."""
    tab.goto("about:blank")
    tab.set_viewport_size({"width": width, "height": height})
    tab.set_default_timeout(10_000)
    tab.watch = Watch()
    return tab


@pytest.fixture
def page(tab):
    return at_width(tab)


def wait_until(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JS expression from here: Playwright's wait_for_function evaluates strings inside
    the page, which the report's Content-Security-Policy (rightly) refuses."""
    end = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > end:
            raise TimeoutError(f"{expression} still false after {timeout} s")
        time.sleep(0.005)


def open_report(page, path: Path, timeout: float = 30.0) -> float:
    """Open a report file; seconds until its script has drawn every table."""
    t = time.perf_counter()
    page.goto(path.as_uri(), wait_until="load", timeout=timeout * 1000)
    wait_until(page, "document.documentElement.dataset.ready === '1'", timeout)
    return time.perf_counter() - t


def search(page, table: str, query: str) -> float:
    """Type a query (as one input event); milliseconds until the rows are drawn and laid out."""
    return page.evaluate("""([id, q]) => {
        const t0 = performance.now();
        const box = document.getElementById(id + '-search');
        box.value = q;
        box.dispatchEvent(new Event('input', {bubbles: true}));
        document.body.offsetHeight;            // force layout: the answer is on screen
        return performance.now() - t0;
    }""", [table, query])


def body_rows(page, table: str) -> list[list[str]]:
    return page.evaluate("""id => Array.from(document.querySelectorAll('#' + id + '-body tr'))
        .map(tr => Array.from(tr.cells).map(td => td.textContent))""", table)


def status(page, table: str) -> str:
    return page.inner_text(f"#{table}-status")


def write(tmp_path: Path, report, name="report.html") -> Path:
    p = tmp_path / name
    p.write_text(report.to_html(), encoding="utf-8")
    return p


# --- XSS ---------------------------------------------------------------------------------------
def test_payloads_show_as_text_in_every_table_and_run_nothing(page, tmp_path):
    path = write(tmp_path, world_report())
    open_report(page, path)
    for t in TABLE_IDS:
        page.select_option(f"#{t}-size", "500")
    text = {t: page.inner_text(f"#{t}-body") for t in TABLE_IDS}
    expect = {"mapped": [XSS[0], XSS[1]], "errors": [XSS[0]], "changes": [XSS[0]],
              "new_issues": [XSS[0]], "unmapped_aloware": [XSS[2], XSS[3], XSS[5]],
              "unmapped_hubspot": [XSS[4]], "activity_users": [XSS[2]]}
    for t, payloads in expect.items():
        for p in payloads:
            assert p in text[t], (t, p)
    assert XSS[6] in page.inner_text("header")          # a note, rendered by Jinja
    # search for a payload: the matching row shows it, still as text
    search(page, "mapped", "onerror")
    assert any(XSS[0] in c for row in body_rows(page, "mapped") for c in row)
    # nothing was created from the data, nothing ran
    counts = page.evaluate("""() => ({
        bad: document.querySelectorAll('img, iframe, object, embed, b, body script[src]').length,
        scripts: document.scripts.length,
        svgs: document.querySelectorAll('svg').length,
        chartSvgs: document.querySelectorAll('figure.chart > svg').length,
        handlers: Array.from(document.querySelectorAll('*')).filter(
            e => Array.from(e.attributes).some(a => a.name.startsWith('on'))).length })""")
    assert counts == {"bad": 0, "scripts": 2, "svgs": 2, "chartSvgs": 2, "handlers": 0}
    page.hover("#mapped-body tr")                         # an onmouseover payload would fire
    page.wait_for_timeout(50)
    assert page.watch.dialogs == [] and page.watch.errors == []


# --- search and pagination ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    from usermap.engine import plan as planmod
    from usermap.engine import reconcile
    from usermap.report.build import build_report
    from usermap.sandbox.scenarios import generate
    from usermap.sources.owners.frame import owners_frame
    w = generate(400, seed=5, linked_share=1.0)
    lk = w.links.copy()
    lk["updated_at"] = ""
    a = reconcile.audit(w.users, owners_frame(w.owners), lk,
                        profile_url="https://app.aloware.com/users/{id}")
    r = build_report(a, plan=planmod.make_plan(a, store_revision=0, fingerprint="m"),
                     applied=True, run_id="r", generated_at="2026-01-01T00:00:00Z")
    return r, write(tmp_path_factory.mktemp("medium"), r)


def test_pagination(page, medium):
    r, path = medium
    n = len(r.mapped)
    assert n > 150
    open_report(page, path)
    pages = math.ceil(n / 50)
    assert status(page, "mapped") == f"Rows 1–50 of {n}"
    assert page.inner_text("#mapped-page") == f"Page 1 of {pages}"
    assert page.is_disabled("#mapped-prev") and page.is_disabled("#mapped-first")
    first = body_rows(page, "mapped")
    assert len(first) == 50 and first[0][2] == r.mapped.col("aloware_user_id")[0]
    page.click("#mapped-next")
    assert status(page, "mapped") == f"Rows 51–100 of {n}"
    assert body_rows(page, "mapped")[0][2] == r.mapped.col("aloware_user_id")[50]
    page.click("#mapped-last")
    assert page.inner_text("#mapped-page") == f"Page {pages} of {pages}"
    assert len(body_rows(page, "mapped")) == n - 50 * (pages - 1)
    assert page.is_disabled("#mapped-next") and page.is_disabled("#mapped-last")
    page.click("#mapped-first")
    assert page.inner_text("#mapped-page") == f"Page 1 of {pages}"
    page.select_option("#mapped-size", "100")
    assert len(body_rows(page, "mapped")) == 100
    assert page.inner_text("#mapped-page") == f"Page 1 of {math.ceil(n / 100)}"


def test_search_by_name_email_and_id(page, medium):
    r, path = medium
    open_report(page, path)
    n = len(r.mapped)
    rows = list(r.mapped.rows())
    row = next(x for x in rows if x["issue"] == "" and x["first_name"].isascii())
    # by e-mail, in any case
    search(page, "mapped", row["email"].upper())
    got = body_rows(page, "mapped")
    assert got and all(row["email"].lower() in " ".join(g).lower() for g in got)
    # by Aloware id and by HubSpot id
    for key in ("aloware_user_id", "hubspot_owner_id"):
        search(page, "mapped", row[key])
        assert row[key] in [g[2 if key == "aloware_user_id" else 3] for g in body_rows(page,
                                                                                       "mapped")]
    # by first and last name together (every word must match)
    search(page, "mapped", f"{row['first_name']} {row['last_name']}")
    want = sum(1 for x in rows if row["first_name"].lower() in " ".join(x.values()).lower()
               and row["last_name"].lower() in " ".join(x.values()).lower())
    assert status(page, "mapped").startswith(f"Rows 1–{min(want, 50)} of {want} (filtered")
    # accents fold: "bjorn" finds "Björn"
    accented = next((x for x in rows if not x["first_name"].isascii()), None)
    if accented:
        plain = "".join(c for c in unicodedata.normalize("NFD", accented["first_name"])
                        if not unicodedata.combining(c)).lower()
        search(page, "mapped", plain)
        assert any(accented["first_name"] in g[0] for g in body_rows(page, "mapped"))
    # no match, then clearing the box shows everything again
    search(page, "mapped", "no-such-person-zzz")
    assert status(page, "mapped") == f"0 of {n} rows match"
    assert body_rows(page, "mapped") == [["No rows match."]]
    search(page, "mapped", "")
    assert status(page, "mapped") == f"Rows 1–50 of {n}"
    # pagination within a search result
    search(page, "mapped", "acme")
    m = int(status(page, "mapped").split(" of ")[1].split(" ")[0].replace(",", ""))
    assert m > 50
    page.click("#mapped-next")
    assert status(page, "mapped").startswith(f"Rows 51–{min(100, m)} of {m:,}")
    # the real typing path (keyboard events) works too
    page.fill("#unmapped_hubspot-search", "")
    owner = r.unmapped_hubspot.col("hubspot_owner_id")[0]
    page.type("#unmapped_hubspot-search", owner)
    assert owner in [g[2] for g in body_rows(page, "unmapped_hubspot")]


def test_search_index_is_built_while_idle_and_agrees(page, medium):
    r, path = medium
    open_report(page, path)
    wait_until(page, "Object.values(window.usermapReport.tables).every(t => t.hay)", 10)
    row = next(x for x in r.unmapped_aloware.rows() if x["email"])
    search(page, "unmapped_aloware", row["email"])
    assert row["aloware_user_id"] in [g[2] for g in body_rows(page, "unmapped_aloware")]


def test_facet_filter(page, medium):
    r, path = medium
    open_report(page, path)
    codes = [c for c in r.mapped.col("issue") if c]
    code = max(set(codes), key=codes.count)
    page.select_option("#mapped-facet", code)
    got = body_rows(page, "mapped")
    assert len(got) == min(50, codes.count(code))
    assert all(g[8].endswith(code) for g in got)      # the plain label, then the code
    assert status(page, "mapped").endswith(f"of {codes.count(code)} (filtered from "
                                           f"{len(r.mapped)})")
    page.select_option("#mapped-facet", "")
    assert status(page, "mapped") == f"Rows 1–50 of {len(r.mapped)}"


def test_profile_links_and_suggestions(page, tmp_path):
    open_report(page, write(tmp_path, world_report()))
    page.select_option("#unmapped_aloware-size", "500")
    links = page.evaluate("""() => Array.from(document.querySelectorAll(
        '#unmapped_aloware-body a')).map(a => [a.textContent, a.getAttribute('href'), a.rel])""")
    assert ["7", "https://app.aloware.com/users/7", "noopener noreferrer"] in links
    assert all(h.startswith("https://app.aloware.com/users/") for _, h, _ in links)
    assert "gus@acme.com" in page.inner_text("#unmapped_aloware-body")   # a suggestion


# --- offline -----------------------------------------------------------------------------------
def test_no_request_leaves_the_file(page, tmp_path):
    path = write(tmp_path, world_report())
    open_report(page, path)
    search(page, "mapped", "ann")
    page.select_option("#errors-size", "25")
    page.click("#trend-share")
    page.select_option("#unmapped_aloware-facet", "no_matching_owner")
    page.hover("#trend-share circle")
    page.wait_for_timeout(200)
    assert page.watch.blocked == []
    assert page.watch.requests == [path.as_uri()]
    # the CSP allowed our script (the page was drawn) and nothing was refused or failed
    assert page.watch.errors == [] and page.watch.console == []


def test_the_watch_would_see_a_request(page, tmp_path):
    """The check above is not blind: a page that does load something is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<img src="http://example.invalid/x.png"><script>fetch("https://example.'
                   'invalid/y").catch(() => 0)</script>')
    page.goto(bad.as_uri())
    page.wait_for_timeout(300)
    assert {"http://example.invalid/x.png", "https://example.invalid/y"} <= set(
        page.watch.blocked)


# --- a large account -----------------------------------------------------------------------------
def test_a_large_account_pages_and_searches_every_row(page, tmp_path):
    """10k links: the status counts every row, a search reaches any of them (an owner id deep
    in the list), one that matches nothing says so, and the last page is reached. How fast the
    page loads and searches at 100k and 1M is benchmarks/bench_report.py's to measure."""
    r = big_report(10_000)
    n = len(r.mapped)
    assert n >= 10_000
    open_report(page, write(tmp_path, r))
    assert status(page, "mapped") == f"Rows 1–50 of {n:,}"
    deep = r.mapped.col("hubspot_owner_id")[n - 7]
    search(page, "mapped", deep)
    assert any(deep in " ".join(row) for row in body_rows(page, "mapped"))
    search(page, "mapped", "zzzz")
    assert status(page, "mapped") == f"0 of {n:,} rows match"
    search(page, "mapped", "")
    assert status(page, "mapped") == f"Rows 1–50 of {n:,}"
    page.click("#mapped-last")
    assert page.inner_text("#mapped-page").startswith("Page ")
    assert status(page, "mapped").endswith(f"of {n:,}") and f"{n:,} of" in status(page, "mapped")
    assert page.watch.errors == [] and page.watch.dialogs == []


# --- for people (issue 13): the state after a run, one search, phones, labels -------------------
def _applied_run(tmp_path, n=150, seed=3):
    """A whole applied run through the one wiring (load, audit recorded, plan, apply, finish),
    as the sync notebook does it: its run folder, snapshot and store."""
    from usermap import workflow
    from usermap.config import Config
    from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    snap, db, run_dir = tmp_path / "snapshot", tmp_path / "store.db", tmp_path / "run"
    write_world(generate(n, seed=seed), snap)
    with Store.open(db, create=True) as s:
        s.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now="2026-03-01T00:00:00Z")
    run_dir.mkdir()
    run_id = "20260301T120000Z-abcd"
    data = workflow.load(snap, db)
    result = workflow.audit(data)
    workflow.write_audit(result, run_dir, snapshot=snap, store_path=db, run_id=run_id,
                         now="2026-03-01T12:00:00Z")
    plan = workflow.make_plan(data, result, now="2026-03-01T12:00:01Z", guard=False)
    done = workflow.apply(db, plan, now="2026-03-01T12:00:02Z", force=True, run_id=run_id)
    assert done.applied
    workflow.finish(Config(), result, plan, done, snapshot=snap, store_path=db,
                    run_dir=run_dir, run_id=run_id, now="2026-03-01T12:00:03Z", record=True)
    return snap, db, run_dir, result.summary()


def _number(page, sel: str) -> int:
    return int(page.inner_text(sel).replace(",", ""))


def test_after_an_applied_run_the_numbers_are_those_of_the_store_after_it(page, tmp_path):
    from usermap import workflow
    from usermap.store.store import Store
    snap, db, run_dir, before = _applied_run(tmp_path)
    after = workflow.audit(workflow.load(snap, db)).summary()     # an audit of the store now
    assert after != before and after["errors"] < before["errors"]
    open_report(page, run_dir / "report.html")
    for key in ("mapped", "synced", "errors", "email_conflicts", "unmapped_aloware",
                "unmapped_hubspot"):
        sel = key.replace("_", "-")
        assert _number(page, f"#n-{sel}") == after[key], key
        was = page.inner_text(f"#was-{sel}")                        # before -> after
        assert was.startswith(f"before this run: {before[key]:,} → {after[key]:,}"), (key, was)
    assert page.inner_text("#run-kind") == "SYNC APPLIED"
    assert "The sync was applied" in page.inner_text("#first-line")
    # this run's changes and the errors it fixed are listed
    sync = json.loads((run_dir / "sync.json").read_text())
    assert sync["after"] == after and sync["before"] == before
    assert _number(page, "#n-fixed") > 0 and _number(page, "#n-linked") > 0
    # no match_pending is left, and no error the run fixed is shown with a command
    assert "match_pending" not in " ".join(
        " ".join(r) for r in body_rows(page, "unmapped_aloware"))
    # the history holds one entry for the run: the state after, the state before inside it
    with Store.open(db) as store:
        (h,) = store.audits()
    assert h["summary"]["synced"] == after["synced"]
    assert h["summary"]["before"]["summary"] == before
    assert page.watch.errors == []


def test_one_search_box_finds_a_person_in_every_section(page, tmp_path):
    r = world_report()
    path = write(tmp_path, r)
    open_report(page, path)
    ids = [t.id for t in r.tables if len(t)]
    assert "needs_person" in ids and "errors" in ids and "unmapped_hubspot" in ids
    for t in r.tables:
        if not len(t):
            continue
        key = next(k for k in ("aloware_user_id", "hubspot_owner_id")
                   if k in [c.key for c in t.columns] and any(t.col(k)))
        value = next(v for v in t.col(key) if v)
        page.fill("#find", value)
        got = status(page, t.id)
        assert got.startswith("Rows 1–") and "(filtered" in got, (t.id, value, got)
        found = page.inner_text("#find-status")
        assert "found in:" in found, (t.id, found)
    # one person's whole story: both records, the link, its issue and advice, this run's change
    page.fill("#find", "Ivy")
    story = page.inner_text("#story")
    assert "Ivy Chen" in story and "Aloware id 9" in story and "HubSpot owner id 109" in story
    assert "Aloware e-mail changed" in story and "Decide" in story
    assert "usermap map 9 109" in story                     # a complete choice, no placeholder
    page.fill("#find", "")
    assert page.inner_text("#story") == "" and status(page, "mapped").startswith("Rows 1–")
    page.fill("#find", "no-such-person-zzz")
    assert "Nobody matches" in page.inner_text("#find-status")
    assert page.watch.errors == [] and page.watch.dialogs == []


@pytest.fixture(scope="module")
def applied_run_dir(tmp_path_factory) -> Path:
    """The run folder of one applied run, which the layout tests below only read."""
    return _applied_run(tmp_path_factory.mktemp("applied"))[2]


def _scroll_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, innerWidth]")


@pytest.mark.parametrize("width", [390, 600, 1280])
def test_no_sideways_scrolling_of_the_report(tab, applied_run_dir, width):
    pg = at_width(tab, width, 800)
    open_report(pg, applied_run_dir / "report.html")
    for t in ("errors", "needs_person", "mapped", "unmapped_aloware", "changes"):
        pg.select_option(f"#{t}-size", "100")
    pg.fill("#find", "a")                              # the story panel and filtered lists
    sw, iw = _scroll_width(pg)
    assert sw <= iw, (width, sw, iw)
    if width == 390:                                   # rows are cards, not 36 px columns
        w = pg.evaluate("""() => Math.min(...Array.from(
            document.querySelectorAll('#errors-body td .v')).map(e => e.clientWidth))""")
        assert w >= 150, w


@pytest.mark.parametrize("width", [390, 600])
def test_no_sideways_scrolling_of_the_email(tab, applied_run_dir, tmp_path, width):
    import email
    from email import policy
    msg = email.message_from_bytes((applied_run_dir / "notification.eml").read_bytes(),
                                   policy=policy.default)
    html = tmp_path / "email.html"
    html.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    pg = at_width(tab, width, 800)
    pg.goto(html.as_uri())
    sw, iw = _scroll_width(pg)
    assert sw <= iw, (width, sw, iw)
    pg.screenshot(path=str(tmp_path / f"email-{width}.png"), full_page=True)


def test_every_code_shown_has_a_plain_label_and_the_legend_lists_them(page, tmp_path):
    from usermap.labels import ALOWARE_REASON_LABELS, HUBSPOT_REASON_LABELS, ISSUE_LABELS
    from usermap.engine.models import ALOWARE_REASONS, HUBSPOT_REASONS, ISSUE_CODES
    path = write(tmp_path, world_report())
    open_report(page, path)
    cells = page.evaluate("""() => Array.from(document.querySelectorAll('td.k-code'))
        .filter(td => td.querySelector('code'))
        .map(td => [td.querySelector('code').textContent,
                    (td.querySelector('.label') || {}).textContent || ''])""")
    assert len(cells) > 10
    words = {**ISSUE_LABELS, **ALOWARE_REASON_LABELS, **HUBSPOT_REASON_LABELS}
    for code, text in cells:
        assert text, code                                   # a label beside every code
        if code in words and code not in ("missing_email", "invalid_email",
                                           "duplicate_email_hubspot",
                                           "duplicate_email_aloware", "match_pending"):
            assert text == words[code], (code, text)
    # the counts tables (the overview, this run, since, activity) show plain labels only: the
    # codes are in the legend and the CSVs
    counts = page.evaluate("""() => Array.from(document.querySelectorAll('table.counts td'))
        .filter(td => !td.classList.contains('num')).map(td => td.textContent)""")
    assert counts and all(c.strip() for c in counts)
    assert page.evaluate("document.querySelectorAll('table.counts code').length") == 0
    shown = page.inner_text("#overview")
    for code in set(ISSUE_CODES) | set(ALOWARE_REASONS) | set(HUBSPOT_REASONS):
        assert code not in shown, code
    legend = page.evaluate("""() => Array.from(document.querySelectorAll('#legend dd'))
        .map(d => d.dataset.code)""")
    assert set(legend) == set(ISSUE_CODES) | set(ALOWARE_REASONS) | set(HUBSPOT_REASONS)
