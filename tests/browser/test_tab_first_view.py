"""The first view of `usermap tab`'s page (docs/design.md §9, issue 20: the overview within 1.5 s
of opening the page): the page shows the overview cards as static HTML before Voilà's front end
has loaded, and the live widget takes its place without a jump and without a moment with both
or neither. `usermap tab --snapshot` on a free port of 127.0.0.1, driven by Playwright +
Chromium at 1280 and 390 px, screenshots in SHOTS. The timings are benchmarks/bench_tab.py's.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import runkit
from runkit import USERMAP
from test_tab_page import printed_url
from test_tab_widget import make_env
from test_report_browser import browser  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("USERMAP_TAB_SHOTS", "/work/notes/shots-tab"))
VOILA_JS = "**/voila/static/voila.js"
LIVE = "button[data-action=refresh]"
# what the first view draws, compared box by box (x, y, width, height) and word by word with
# the live widget's (the picture's classes say umf for um)
PARTS = (".um-title", ".um-lede", ".um-card", ".um-toolbar", ".um-toolbar .um-btn", ".um-refreshed",
         ".um-status", ".um-search", ".um-tab")
PICTURE = tuple(".um-first " + p.replace(".um-", ".umf-") for p in PARTS)
_BOXES = """(sels) => sels.map(s => [...document.querySelectorAll(s)].map(e => {
  const r = e.getBoundingClientRect();
  return [r.x, r.y, r.width, r.height, e.tagName === "INPUT" ? e.placeholder : e.innerText,
          e.dataset.value || ""]; }).filter(b => b[2] > 0))"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from usermap.tabserver import free_port
    root = tmp_path_factory.mktemp("firstview")
    make_env(root, n=120, seed=11)
    out = root / "tab.out"
    with open(out, "w") as o:
        proc = subprocess.Popen([USERMAP, "tab", "--config", str(root / "usermap.toml"),
                                 "--snapshot", str(root / "snap"), "--port", str(free_port())],
                                stdout=o, stderr=subprocess.STDOUT, cwd=root)
    try:
        url = printed_url(proc, out)
        assert url, f"usermap tab printed no URL: {out.read_text()}"
        yield url
    finally:
        runkit.stop(proc)


_ORDER = """
window.__seen = {};
new MutationObserver(() => {
  const s = window.__seen, now = performance.now();
  const card = document.querySelector(".umf-card"), live = document.querySelector("%s");
  if (card && card.getClientRects().length && !s.cards) s.cards = now;
  if (live && live.getClientRects().length && !s.live) {    // what the next frame paints
    s.live = now;
    requestAnimationFrame(() => { s.both = document.querySelectorAll(".um-first").length; });
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
""" % LIVE


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        all(abs(x - y) < 0.5 for x, y in zip(p[:4], q[:4])) and p[4:] == q[4:]
        for p, q in zip(a, b))


def test_the_overview_shows_before_the_front_end_and_the_widget_takes_its_place(browser,  # noqa: F811
                                                                               server):
    """Voilà's script held back: the page already shows the title, the cards with their
    numbers, the toolbar, the search box and the tab titles; nothing on it can be pressed or
    found by its accessible name. Let go: the live widget draws itself exactly where the
    picture was, at 1280 and at 390 px, with the same words and numbers; the picture is gone
    before the frame that first shows the widget, and the buttons answer."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        ctx.add_init_script(_ORDER)
        pg = ctx.new_page()
        held = []
        pg.route(VOILA_JS, lambda route: held.append(route))   # answered below
        pg.goto(server, wait_until="commit", timeout=120_000)
        pg.locator(".um-first .umf-card").first.wait_for(timeout=120_000)
        assert pg.locator(".umf-card").count() == 6
        # nothing that finds the live widget finds the picture
        assert pg.locator(".um-card, .um-tab, .um-status, button").count() == 0
        assert pg.get_by_role("button", name="Refresh").count() == 0
        assert pg.get_by_placeholder("Search by name, e-mail or id").count() == 0
        picture = {}
        for w, h in ((1280, 900), (390, 844)):
            pg.set_viewport_size({"width": w, "height": h})
            picture[w] = pg.evaluate(_BOXES, list(PICTURE))
            pg.screenshot(path=str(SHOTS / f"first-view-static-{w}.png"))
        deadline = time.monotonic() + 60
        while not held and time.monotonic() < deadline:
            pg.wait_for_timeout(100)
        assert held, "the page never asked for Voilà's script"
        held[0].continue_()
        pg.locator(LIVE).wait_for(timeout=120_000)
        pg.wait_for_function("window.__seen.both !== undefined")
        seen = pg.evaluate("window.__seen")
        assert seen["cards"] < seen["live"] and seen["both"] == 0, seen
        assert pg.locator(".um-first").count() == 0
        assert pg.get_by_role("button", name="Refresh").count() == 1
        for w, h in ((390, 844), (1280, 900)):
            pg.set_viewport_size({"width": w, "height": h})
            pg.wait_for_timeout(200)
            live = pg.evaluate(_BOXES, list(PARTS))
            pg.screenshot(path=str(SHOTS / f"first-view-live-{w}.png"))
            for part, a, b in zip(PARTS, picture[w], live):
                assert _same(a, b), f"{part} at {w} px: picture {a} but live {b}"
            assert [c[5] for c in picture[w][2]] == [c[5] for c in live[2]]
        pg.get_by_role("button", name="Sync Users").click()
        pg.get_by_role("button", name="Cancel").click()
        pg.get_by_text("Cancelled: nothing was changed.").wait_for()
    finally:
        ctx.close()


