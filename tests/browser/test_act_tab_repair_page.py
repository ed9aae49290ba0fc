"""The tab's Repair in a real browser (design §9, §10, issue 21): `usermap tab` on a free port of
127.0.0.1 against the sandbox's activities world, driven by Playwright + Chromium
(/usr/bin/chromium). One server and one page: at 390 px the Activities tab, Repair's preview and
its Apply and Cancel are reachable with no sideways scroll (then Cancel changes nothing); at
1280 px Repair previews the counts, Apply is confirmed and done, the outcome offers View report
and says the e-mail was not sent; the sandbox then holds exactly the proven activities on their
intended owners and every other activity as it was. Screenshots go to SHOTS.
Without Chromium the tests are skipped with a message, unless CI=true, where they fail."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import act_kit
from conftest import SANDBOX_TOKENS
import runkit
from runkit import USERMAP
from test_report_browser import browser  # noqa: F401 (the shared Chromium fixture)
from test_tab_page import (button, in_view, kernels, nothing_wider_than_the_screen, open_tab,
                           printed_url, watched, wait_status)

pytestmark = [pytest.mark.browser, pytest.mark.issue(21)]

SHOTS = Path(os.environ.get("USERMAP_ACT_SHOTS", "/work/notes/shots-act2"))
OBJECTS = ("calls", "communications")


def _owners(e) -> dict:
    """{(object, id): owner} of every activity the sandbox holds."""
    return {(k, i): e.crm.get(k, i)["properties"].get("hubspot_owner_id") or ""
            for k in OBJECTS for i in e.crm.ids(k)}


class TabServer:
    """`usermap tab` over an activities world whose newest run scanned the impact."""

    def __init__(self, root: Path):
        e = self.env = act_kit.make_for_tab(root / "w", n=1500)
        from usermap import workflow              # the newest run's impact, as `usermap run`
        from usermap.config import Config         # writes it with [activities] enabled
        with pytest.MonkeyPatch.context() as mp:
            for k, v in SANDBOX_TOKENS.items():
                mp.setenv(k, v)
            workflow.activity_impact(Config.load(str(e.config)), e.store,
                                     e.root / "runs" / "20261206T000000Z-0a0a")
        from usermap.tabserver import free_port
        self.port = free_port()
        self.out = e.root / "tab.out"
        with open(self.out, "w") as o, open(e.root / "tab.err", "w") as err:
            self.proc = subprocess.Popen([USERMAP, "tab", "--config", str(e.config), "--port",
                                          str(self.port)], stdout=o, stderr=err, cwd=e.root,
                                         env={**os.environ, **SANDBOX_TOKENS})
        self.url = printed_url(self.proc, self.out)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not kernels(self.proc.pid):
            time.sleep(0.2)

    def stop(self) -> None:
        runkit.stop(self.proc)
        self.env.srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = TabServer(tmp_path_factory.mktemp("act-tab"))
    try:
        assert s.url, f"usermap tab printed no URL: {s.out.read_text()}"
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def page(browser, server):  # noqa: F811
    pg = watched(browser, 390, 844)
    pg.goto(server.url, timeout=60_000)
    pg.locator(".um-card").first.wait_for(timeout=60_000)
    yield pg
    pg.context.close()


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def no_sideways_scroll(pg) -> None:
    assert pg.evaluate("document.documentElement.scrollWidth <= innerWidth + 1")
    assert nothing_wider_than_the_screen(pg) == []


def _repair_preview(pg, n: int) -> None:
    open_tab(pg, "Activities")
    button(pg, "Repair").click()
    pg.get_by_text(f"Repair {n:,} calls and texts").wait_for()
    b = button(pg, "Apply")
    b.wait_for()
    b.scroll_into_view_if_needed()
    assert in_view(pg, b) and in_view(pg, button(pg, "Cancel"))


def test_at_390_px_repair_and_its_apply_are_reachable_and_cancel_changes_nothing(page, server):
    e = server.env
    proven = [t for t in e.truth["misattributed"] if t["without_export"]["grade"] == "B"]
    before = _owners(e)
    open_tab(page, "Activities")
    people = {t["without_export"]["aloware_user_id"] for t in e.truth["misattributed"]
              if t["without_export"]["aloware_user_id"]}           # (the scan had no export)
    assert page.locator(".um-tabpanel tbody tr").count() == len(people)
    no_sideways_scroll(page)
    shot(page, "tab-activities-390")
    _repair_preview(page, len(proven))
    no_sideways_scroll(page)
    shot(page, "tab-repair-preview-390")
    button(page, "Cancel").click()
    wait_status(page, "Cancelled: nothing was changed")
    assert _owners(e) == before and e.crm.stats.get("batch/update", 0) == 0


def test_at_1280_px_repair_previews_the_counts_and_apply_sets_exactly_the_proven(page, server):
    e = server.env
    proven = {t["activity_id"]: t for t in e.truth["misattributed"]
              if t["without_export"]["grade"] == "B"}
    before = _owners(e)
    page.set_viewport_size({"width": 1280, "height": 900})
    _repair_preview(page, len(proven))
    heads = page.locator(".um-preview h3").all_inner_texts()
    assert any(re.search(rf"{len(proven)}$", h) for h in heads), heads
    assert _owners(e) == before                          # nothing before Apply
    no_sideways_scroll(page)
    shot(page, "tab-repair-preview-1280")
    button(page, "Apply").click()
    wait_status(page, f"Repaired: {len(proven):,} calls and texts now belong to their owner")
    outcome = page.locator(".um-outcome").inner_text()
    assert "E-mail not sent: no SMTP server configured." in outcome
    after = _owners(e)
    changed = {k for k in after if after[k] != before[k]}
    obj = {"call": "calls", "sms": "communications"}
    assert changed == {(obj[t["object"]], k) for k, t in proven.items()}
    for k, t in proven.items():
        assert after[(obj[t["object"]], k)] == t["without_export"]["intended_owner_id"], k
    # View report: the run's report, served behind the tab's token
    link = page.get_by_role("link", name="View report")
    href = link.get_attribute("href")
    rid = href.rsplit("/", 1)[1]
    assert href == f"/usermap/report/{rid}" and (e.root / "runs" / rid / "report.html").is_file()
    r = page.request.get(f"http://127.0.0.1:{server.port}{href}")
    assert r.status == 200 and "<h1>Activities repair</h1>" in r.text()
    assert f'id="n-set">{len(proven)}<' in r.text()
    shot(page, "tab-repair-done-1280")
    # the list now counts what is left: nothing proven, so nobody "can be repaired"
    panel = page.locator(".um-tabpanel")
    assert panel.locator("tbody tr").count() > 0
    assert "can be repaired" not in panel.inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    link.scroll_into_view_if_needed()
    assert in_view(page, link)
    no_sideways_scroll(page)
    shot(page, "tab-repair-done-390")
    assert not page.watch["errors"] and not page.watch["dialogs"]
