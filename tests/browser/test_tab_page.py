"""The User Mapping tab as a web page (docs/design.md §9, issue 20): the sandbox and `usermap tab`
on free ports of 127.0.0.1, the page driven by Playwright + Chromium (/usr/bin/chromium) through
the accessible names of the contract, at 1280 px and at 390 px (a phone), with a screenshot of
every state in SHOTS. Every change is checked against the store and what the CLI does.

The tests of this module run in order on one server: the token and the terminal, the first view,
the lists (tables, pills, links, search, pages), Details, the previews and Apply (Fix Issue, Keep
link, Unlink, Link, Sync Users, Undo last sync), View report, the phone, a failed Refresh, the
culling of closed pages' kernels and SIGTERM. Without Chromium they are skipped with a message,
unless CI=true, where they fail.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SANDBOX_TOKENS
import runkit
from runkit import USERMAP, cli, make_env, store_state
from test_report import XSS
from test_report_browser import CHROMIUM, browser  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser

SEARCH = "Search by name, e-mail or id"
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
SHOTS = Path(os.environ.get("USERMAP_TAB_SHOTS", "/work/notes/shots-tab"))
PORTAL = "4242"
URL = re.compile(r"https?://\S+")


def kernels(pid: int) -> dict[int, str]:
    """pid -> command line of the ipykernel processes whose parent is ``pid``."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and "ipykernel" in cmd:
            out[int(d.name)] = cmd
    return out


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _hostile(users):
    users = users.copy()
    for i, x in enumerate(XSS):
        users.loc[users.index[i], "first_name"] = x
    return users


def printed_url(proc, out: Path, seconds: float = 60) -> str:
    """The URL (with its token) that `usermap tab` printed to ``out``, or "" if it ended or
    printed none within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", out.read_text())
        if m:
            return m.group(0)
        time.sleep(0.05)
    return ""


class Server:
    def __init__(self, root: Path):
        self.root = root
        self.srv, self.config, self.world, self.store = make_env(
            root, n_users=300, seed=3, served_users=_hostile)
        # the portal's number, in the [hubspot] table make_env wrote
        text = (root / "usermap.toml").read_text()
        assert "[hubspot]\n" in text
        text = text.replace("[hubspot]\n", f'[hubspot]\nportal_id = "{PORTAL}"\n', 1)
        (root / "usermap.toml").write_text(text)
        from usermap.tabserver import free_port
        self.port = free_port()
        self.out, self.err = root / "tab.out", root / "tab.err"
        env = {**os.environ, **SANDBOX_TOKENS}
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen([USERMAP, "tab", "--config", str(root / "usermap.toml"),
                                          "--port", str(self.port)], stdout=o, stderr=e,
                                         cwd=root, env=env)
        self.url = printed_url(self.proc, self.out)

    def pool_ready(self, timeout=90) -> set[int]:
        """Wait for the pre-heated kernel; returns the kernels' pids."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ks = kernels(self.proc.pid)
            if ks:
                return set(ks)
            time.sleep(0.2)
        raise AssertionError("no pre-heated kernel")

    def stop(self) -> None:
        runkit.stop(self.proc)
        self.srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("tab"))
    try:
        assert s.url, f"usermap tab printed no URL: {s.out.read_text()} {s.err.read_text()}"
        yield s
    finally:
        s.stop()


def watched(browser, width: int, height: int):  # noqa: F811
    context = browser.new_context(viewport={"width": width, "height": height})
    w = {"requests": [], "blocked": [], "dialogs": [], "errors": []}

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            w["blocked"].append(r.request.url)
            r.abort()
    # blob: and data: are the page's own (anywidget imports its module from a blob: URL, which
    # an intercepted route cannot continue); everything else is checked
    context.route(lambda url: not url.startswith(("blob:", "data:")), route)
    context.on("request", lambda req: w["requests"].append(req.url))
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.on("websocket", lambda ws: w["requests"].append(ws.url))
    pg.on("dialog", lambda d: (w["dialogs"].append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: w["errors"].append(str(e)))
    pg.watch = w
    return pg


@pytest.fixture(scope="module")
def page(browser, server):  # noqa: F811
    server.pool_ready()
    time.sleep(3)                   # the pool's kernel has run the notebook
    pg = watched(browser, 1280, 900)
    t0 = time.perf_counter()
    pg.goto(server.url, timeout=60_000)
    try:
        pg.locator(".um-card").first.wait_for(timeout=60_000)
    except Exception:
        raise AssertionError(f"no overview: {pg.locator('body').inner_text()[:500]!r} "
                             f"{pg.watch['errors']} {pg.watch['blocked']}") from None
    pg.first_view = time.perf_counter() - t0
    yield pg
    pg.context.close()


def shot(pg, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))


def button(pg, name):
    return pg.get_by_role("button", name=name, exact=True)


def status(pg) -> str:
    return " ".join(pg.get_by_role("status").all_inner_texts())


def wait_text(pg, loc_fn, text: str, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = loc_fn()
        if text in s:
            return s
        time.sleep(0.05)
    raise AssertionError(f"never said {text!r}: {loc_fn()!r}")


def wait_info(pg, pattern: str, timeout=40) -> str:
    """Wait until the pager says ``pattern`` (a regular expression, matched whole)."""
    info = pg.locator(".um-info")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = info.inner_text()
        if re.fullmatch(pattern, s):
            return s
        time.sleep(0.05)
    raise AssertionError(f"pager never said {pattern!r}: {info.inner_text()!r}")


def wait_status(pg, text: str, timeout=40):
    return wait_text(pg, lambda: status(pg), text, timeout)


_SETTLED = """() => {
  if (window.__umSettled === undefined) {
    window.__umSettled = 0;
    const box = document.querySelector('.um');
    new MutationObserver(() => {
      if (box.getAttribute('aria-busy') === 'false') window.__umSettled++;
    }).observe(box, {attributes: true, attributeFilter: ['aria-busy']});
  }
  return window.__umSettled;
}"""


def act(pg, loc, timeout=40) -> None:
    """Click a button that sets the widget working, and wait until it is done (its buttons
    enabled again): a click in between lands on a disabled button and is lost, as it would be
    for a person."""
    n = pg.evaluate(_SETTLED)
    loc.click()
    pg.wait_for_function(f"() => window.__umSettled > {n}", timeout=timeout * 1000)


def open_tab(pg, title: str) -> None:
    tab = pg.get_by_role("tab", name=re.compile("^" + re.escape(title) + r" \("))
    tab.click()
    tid = tab.get_attribute("id")
    pg.wait_for_function(f"() => document.querySelector('.um-tabpanel')"
                         f".getAttribute('aria-labelledby') === '{tid}'")


def rows(pg, text: str = ""):
    loc = pg.locator(".um-tabpanel tbody tr")
    return loc.filter(has_text=text) if text else loc


def in_view(pg, loc) -> bool:
    """The element's box lies inside the viewport."""
    b = loc.bounding_box()
    vp = pg.viewport_size
    return (b is not None and b["x"] >= -1 and b["y"] >= -1
            and b["x"] + b["width"] <= vp["width"] + 1 and b["y"] + b["height"] <= vp["height"] + 1)


def nothing_wider_than_the_screen(pg) -> list[str]:
    return pg.evaluate("""() => Array.from(document.querySelectorAll('.um *')).filter(e => {
        const r = e.getBoundingClientRect();
        const head = e.closest('thead');      // visually hidden at 390 px, kept for readers
        return r.width > 0 && r.height > 0 && (r.right > innerWidth + 1 || r.left < -1)
          && !e.closest('.um-sr') && !(head && head.getBoundingClientRect().height <= 1);
      }).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40))""")


def preview_in_view(pg, name: str = "Apply") -> None:
    b = button(pg, name)
    try:
        b.wait_for()
    except Exception:
        raise AssertionError(f"no {name} button; the page says {status(pg)!r}; busy: "
                             f"{pg.locator('.um').get_attribute('aria-busy')!r}") from None
    assert in_view(pg, b), f"{name} is off screen"
    assert in_view(pg, pg.locator(".um-bar"))


# --- the token and the terminal ----------------------------------------------------------------
def test_one_url_no_warnings_and_no_page_without_the_token(server):
    pool = server.pool_ready()
    out, err = server.out.read_text(), server.err.read_text()
    assert len(URL.findall(out + err)) == 1, out + err
    assert "WARNING" not in err.upper() and "warn" not in (out + err).lower(), err
    for path in ("/", "/voila/render/mapping.ipynb", "/api/kernels", "/?token=wrong",
                 "/usermap/report/20261206T185200Z-abcd"):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        assert r.status in (302, 403, 404), (path, r.status)
        if r.status == 302:
            assert "/login" in r.getheader("Location", "")
        assert "um-card" not in body and "Sync Users" not in body
        c.close()
    assert set(kernels(server.proc.pid)) == pool          # no kernel for a refused request


# --- the first view ----------------------------------------------------------------------------
def test_first_view_is_the_audit_with_one_title_and_no_developer_words(page, server):
    root = server.root
    p, _ = cli(["fetch", "--out", str(root / "snap"), "--config", str(root / "usermap.toml")],
               env_extra=SANDBOX_TOKENS)
    assert p.returncode == 0, p.stderr
    p, _ = cli(["audit", str(root / "snap"), "--store", str(server.store), "--out",
                str(root / "audit"), "--config", str(root / "usermap.toml")])
    assert p.returncode == 0, p.stderr
    summary = json.loads((root / "audit" / "summary.json").read_text())
    shown = page.locator(".um-card").evaluate_all(
        "els => els.map(e => [e.dataset.key, Number(e.dataset.value), e.innerText])")
    assert [k for k, _, _ in shown] == ["mapped", "synced", "errors", "email_conflicts",
                                        "unmapped_aloware", "unmapped_hubspot"]
    assert {k: v for k, v, _ in shown} == {k: summary[k] for k, _, _ in shown}
    text = page.locator("body").inner_text()
    assert text.count("User Mapping") == 1 and page.locator("h1").count() == 1
    assert page.title() == "User Mapping"
    for word in ("Voilà", "Voila", "kernel", "notebook", "usermap ", "--store", "/tmp/"):
        assert word not in text, word
    assert re.search(r"Last refreshed at \d{1,2} \w{3} \d{4} \d\d:\d\d UTC", text)
    for name in ("Refresh", "Sync Users", "Undo last sync", "Next", "Previous", "Details"):
        b = button(page, name).first
        assert b.is_visible() and b.inner_text().strip() == name, name
    assert page.get_by_placeholder(SEARCH, exact=True).is_visible()
    print(f"first view {page.first_view:.2f} s after the page was asked for")
    shot(page, "01-first-view-1280")


def test_tabs_have_full_titles_and_counts(page):
    tabs = page.get_by_role("tab")
    titles = tabs.all_inner_texts()
    assert [re.sub(r" \([\d,]+\)$", "", t) for t in titles] == [
        "Mapped users", "Unmapped Aloware users", "Unmapped HubSpot owners", "Errors",
        "Activities"]
    assert all(re.search(r"\(\d[\d,]*\)$", t) for t in titles)
    cut = tabs.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth + 1).length")
    assert cut == 0


def test_lists_are_tables_with_aligned_headers_pills_and_conflict_flags(page):
    table = page.locator(".um-tabpanel table")
    heads = table.locator("th[scope=col]")
    assert heads.count() == 8
    first = table.locator("tbody tr").first.locator("td")
    lefts = [(heads.nth(i).bounding_box()["x"], first.nth(i).bounding_box()["x"])
             for i in range(heads.count())]
    assert all(abs(a - b) <= 1 for a, b in lefts), lefts
    pills = page.locator(".um-pill").all_inner_texts()
    assert set(pills) == {"Synced", "Error"}
    flagged = rows(page).filter(has=page.locator(".um-conflict"))
    assert flagged.count() and "Error" in flagged.first.inner_text()
    owner = rows(page).first.get_by_role("link").first
    assert owner.get_attribute("href").startswith(
        f"https://app.hubspot.com/settings/{PORTAL}/users/user/")


def test_search_and_pages_of_fifty(page, server):
    info = page.locator(".um-info")
    assert info.inner_text().startswith("Rows 1–50 of ")
    assert rows(page).count() == 50
    button(page, "Next").click()
    wait_info(page, r"Rows 51–100 of \d+")
    button(page, "Previous").click()
    wait_info(page, r"Rows 1–50 of \d+")
    import pandas as pd
    mapped = pd.read_csv(server.root / "audit" / "mapped.csv", dtype=str, keep_default_na=False)
    row = mapped[mapped["status"] == "synced"].iloc[3]
    box = page.get_by_placeholder(SEARCH)
    box.fill(row["aloware_user_id"])
    wait_info(page, "Rows 1–1 of 1")
    assert row["aloware_user_id"] in rows(page).first.inner_text()
    open_tab(page, "Errors")            # the same search filters every list
    assert page.get_by_role("tab", name=re.compile("^Mapped users")).inner_text() == \
        "Mapped users (1)"
    box.fill("")
    open_tab(page, "Mapped users")
    wait_info(page, r"Rows 1–50 of 150")


def test_hostile_names_stay_text(page):
    box = page.get_by_placeholder(SEARCH)
    box.fill("onerror")
    page.get_by_text(XSS[0], exact=False).first.wait_for()
    open_tab(page, "Unmapped Aloware users")
    open_tab(page, "Errors")
    assert page.locator("img[src='x']").count() == 0 and page.locator("svg[onload]").count() == 0
    box.fill("")
    open_tab(page, "Mapped users")
    wait_info(page, r"Rows 1–50 of \d+")           # the search is cleared in the kernel too
    assert not page.watch["dialogs"] and not page.watch["errors"]


def test_unmapped_lists_link_to_the_profile_and_the_portal(page):
    open_tab(page, "Unmapped Aloware users")
    wait_info(page, r"Rows 1–50 of \d+")
    aid = rows(page).first.locator("td").nth(2).inner_text().strip()
    row = rows(page).filter(has=page.get_by_text(aid, exact=True)).first
    link = row.get_by_role("link").first
    assert link.get_attribute("href") == f"https://app.aloware.com/users/{aid}"
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")
    assert row.locator("td").first.inner_text().strip() == link.inner_text().strip()
    shot(page, "03-unmapped-aloware-1280")
    open_tab(page, "Unmapped HubSpot owners")
    wait_info(page, r"Rows 1–50 of \d+")
    hrefs = page.locator(".um-tabpanel tbody a").evaluate_all("els => els.map(e => e.href)")
    assert hrefs and all(h.startswith(f"https://app.hubspot.com/settings/{PORTAL}/users/user/")
                         for h in hrefs)
    shot(page, "04-unmapped-hubspot-1280")
    open_tab(page, "Activities")
    page.get_by_text("No activity data yet").wait_for()
    assert button(page, "Repair").is_visible()
    shot(page, "06-activities-1280")


def test_details_open_in_a_side_panel_in_view(page):
    open_tab(page, "Mapped users")
    page.locator(".um-scroll").first.scroll_into_view_if_needed()
    row = rows(page).nth(30)
    row.scroll_into_view_if_needed()
    aid = row.locator("td").nth(2).inner_text().strip()
    row.get_by_role("button", name="Details").click()
    panel = page.get_by_role("dialog", name="Details")
    panel.get_by_role("heading", name="Journal").wait_for()
    assert in_view(page, panel)
    text = panel.inner_text()
    for part in ("Aloware user", "HubSpot owner", "The link", aid):
        assert part in text, part
    shot(page, "05-details-1280")
    panel.get_by_role("button", name="Close").click()
    panel.wait_for(state="hidden")


# --- previews and Apply ------------------------------------------------------------------------
def test_fix_issue_preview_stays_in_view_and_apply_offers_the_report(page, server):
    before = store_state(server.store)
    open_tab(page, "Errors")
    shot(page, "07-errors-1280")
    row = rows(page, "Aloware user deleted").first
    row.scroll_into_view_if_needed()
    aid = row.locator("td").nth(2).inner_text().strip()
    row.get_by_role("button", name="Fix Issue").click()
    preview_in_view(page)
    assert store_state(server.store)["revision"] == before["revision"]   # not before Apply
    shot(page, "08-preview-fix-issue-1280")
    act(page, button(page, "Apply"))
    wait_status(page, "Applied 1 change: 1 removed.")
    after = store_state(server.store)
    assert set(before["links"]["aloware_user_id"]) - set(after["links"]["aloware_user_id"]) \
        == {aid}
    outcome = page.locator(".um-outcome")
    assert "E-mail not sent: no SMTP server configured." in outcome.inner_text()
    report = page.get_by_role("link", name="View report")
    href = report.get_attribute("href")
    assert href == f"/usermap/report/{after['runs'][-1]}"
    r = page.request.get(f"http://127.0.0.1:{server.port}{href}")
    assert r.status == 200 and "<html" in r.text().lower()
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    c.request("GET", href)
    assert c.getresponse().status in (302, 403)                # not without the token
    text = page.locator("body").inner_text()
    assert "/runs/" not in text and str(server.root) not in text and "usermap " not in text
    shot(page, "09-after-apply-1280")


def test_keep_link_and_unlink_for_a_conflict_a_sync_leaves(page, server):
    open_tab(page, "Errors")
    keep_rows = rows(page).filter(has=button(page, "Keep link"))
    assert keep_rows.count() >= 2
    first, second = keep_rows.nth(0), keep_rows.nth(1)
    aid1 = first.locator("td").nth(2).inner_text().strip()
    aid2 = second.locator("td").nth(2).inner_text().strip()
    first.get_by_role("button", name="Fix Issue").click()
    page.locator(".um-preview").get_by_text("Keep link pins it").wait_for()
    assert not button(page, "Apply").is_visible()
    act(page, button(page, "Cancel"))
    first.get_by_role("button", name="Keep link").click()
    preview_in_view(page)
    shot(page, "10-preview-keep-link-1280")
    act(page, button(page, "Apply"))
    wait_status(page, "Applied 1 change: 1 updated.")
    from usermap.store.store import Store
    with Store.open(server.store, create=False) as st:
        assert st.link(aid1)["method"] == "manual"
    row2 = rows(page).filter(has_text=aid2).filter(has=button(page, "Unlink")).first
    row2.get_by_role("button", name="Unlink").click()
    preview_in_view(page)
    shot(page, "11-preview-unlink-1280")
    act(page, button(page, "Apply"))
    wait_status(page, "Applied 1 change: 1 removed.")
    with Store.open(server.store, create=False) as st:
        assert st.link(aid2) is None


def test_link_pins_a_suggestion_after_a_confirmation(page, server):
    open_tab(page, "Unmapped Aloware users")
    for _ in range(6):
        with_link = rows(page).filter(has=button(page, "Link"))
        if with_link.count():
            break
        button(page, "Next").click()
        time.sleep(0.4)
    row = with_link.first
    aid = row.locator("td").nth(2).inner_text().strip()
    owner = re.search(r"\(owner (\d+), score", row.inner_text()).group(1)
    before = store_state(server.store)
    row.get_by_role("button", name="Link").first.click()
    page.get_by_text("as a manual link?").wait_for()
    preview_in_view(page)
    shot(page, "12-preview-link-1280")
    assert store_state(server.store)["revision"] == before["revision"]
    act(page, button(page, "Apply"))
    wait_status(page, "Applied 1 change")
    from usermap.store.store import Store
    with Store.open(server.store, create=False) as st:
        link = st.link(aid)
    assert link["hubspot_owner_id"] == owner and link["method"] == "manual"


def test_sync_users_is_usermap_plan_and_apply_is_usermap_apply(page, server, tmp_path):
    root = server.root
    db2 = tmp_path / "cli.db"
    db2.write_bytes(server.store.read_bytes())
    p, _ = cli(["plan", str(root / "snap"), "--store", str(db2), "--out",
                str(tmp_path / "plan.json")])
    assert p.returncode == 0, p.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    before = store_state(server.store)
    button(page, "Sync Users").click()
    button(page, "Cancel").wait_for()
    act(page, button(page, "Cancel"))
    wait_status(page, "Cancelled: nothing was changed")
    assert store_state(server.store)["revision"] == before["revision"]
    button(page, "Sync Users").click()
    preview_in_view(page)
    steps = dict(re.findall(r"^(Match|Resolve|Clean up): ([\d,]+)$",
                            "\n".join(page.locator(".um-preview h3").all_inner_texts()), re.M))
    want = {}
    for c in plan["changes"]:
        want[c["step"]] = want.get(c["step"], 0) + 1
    names = {"match": "Match", "resolve": "Resolve", "cleanup": "Clean up"}
    assert {k: int(v.replace(",", "")) for k, v in steps.items()} == {
        names[k]: v for k, v in want.items()}
    match = page.locator(".um-preview table").first.locator("tbody tr").first
    assert "@" in match.locator("td").nth(4).inner_text()           # the matched e-mail
    shot(page, "13-preview-sync-1280")
    page.locator(".um-preview-body").evaluate("e => e.scrollTop = e.scrollHeight")
    assert in_view(page, button(page, "Apply"))                     # still there at the end
    act(page, button(page, "Apply"))
    wait_status(page, "Applied")
    p, _ = cli(["apply", str(tmp_path / "plan.json"), "--store", str(db2), "--yes"])
    assert p.returncode == 0, p.stderr
    mine, theirs = store_state(server.store), store_state(db2)
    cols = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    assert sorted(map(tuple, mine["links"][cols].to_numpy().tolist())) == \
        sorted(map(tuple, theirs["links"][cols].to_numpy().tolist()))
    server.plan_counts = {k: sum(1 for c in plan["changes"] if c["action"] == k)
                          for k in ("add", "update", "remove")}
    server.before_sync = before


def test_undo_last_sync_names_it_and_needs_no_force(page, server):
    button(page, "Undo last sync").click()
    preview_in_view(page)
    title = page.locator(".um-preview h2").inner_text()
    n = server.plan_counts
    words = ", ".join(f"{v} {w}" for v, w in ((n["add"], "linked"), (n["update"], "updated"),
                                              (n["remove"], "removed")) if v)
    assert re.fullmatch(r"Undo the sync of \d{1,2} \w{3} \d\d:\d\d: " + re.escape(words),
                        title), title
    assert not button(page, "Force").is_visible()
    shot(page, "14-preview-undo-1280")
    act(page, button(page, "Apply"))
    wait_status(page, "Applied")
    after = store_state(server.store)
    cols = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    assert sorted(map(tuple, after["links"][cols].to_numpy().tolist())) == sorted(
        map(tuple, server.before_sync["links"][cols].to_numpy().tolist()))


# --- the phone ------------------------------------------------------------------------------------
def test_at_390_px_cards_and_rows_stack_and_every_action_is_reachable(browser, server):  # noqa: F811
    pg = watched(browser, 390, 844)
    try:
        pg.goto(server.url, timeout=60_000)
        pg.locator(".um-card").first.wait_for(timeout=60_000)
        shot(pg, "20-phone-first-view-390")
        assert nothing_wider_than_the_screen(pg) == []
        widths = pg.evaluate("() => [document.documentElement.scrollWidth, "
                             "document.body.scrollWidth, innerWidth]")
        assert max(widths[:2]) <= widths[2], widths                 # no sideways page scroll
        cards = pg.locator(".um-card")
        xs = {round(cards.nth(i).bounding_box()["x"]) for i in range(cards.count())}
        assert len(xs) <= 2                                          # two a row at most
        row = pg.locator(".um-tabpanel tbody tr").first
        cells = row.locator("td")
        ys = [cells.nth(i).bounding_box()["y"] for i in range(cells.count())]
        assert ys == sorted(ys) and len(set(ys)) == len(ys)          # the row's cells stack
        assert pg.locator("thead").first.bounding_box()["height"] <= 1
        # e-mails and ids on one line, never broken letter by letter
        broken = pg.evaluate("""() => Array.from(document.querySelectorAll('td.um-email, td.um-id'))
            .filter(td => { const w = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
              for (let n = w.nextNode(); n; n = w.nextNode()) {
                const r = document.createRange(); r.selectNodeContents(n);
                const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));
                if (tops.size > 1 && n.textContent.length < 34) return true;
              } return false; })
            .map(td => td.textContent)""")
        assert broken == []
        for name in ("Refresh", "Sync Users", "Undo last sync", "Next", "Previous"):
            b = button(pg, name).first
            b.scroll_into_view_if_needed()
            assert in_view(pg, b), name
        pg.get_by_placeholder(SEARCH).scroll_into_view_if_needed()
        assert in_view(pg, pg.get_by_placeholder(SEARCH))
        shot(pg, "21-phone-mapped-390")
        row.get_by_role("button", name="Details").click()
        panel = pg.get_by_role("dialog", name="Details")
        panel.get_by_role("heading", name="Journal").wait_for()
        assert in_view(pg, panel)
        shot(pg, "22-phone-details-390")
        panel.get_by_role("button", name="Close").click()
        open_tab(pg, "Errors")
        assert nothing_wider_than_the_screen(pg) == []
        r = pg.locator(".um-tabpanel tbody tr").filter(has=button(pg, "Fix Issue")).first
        for name in ("Fix Issue", "Details"):
            b = r.get_by_role("button", name=name)
            b.scroll_into_view_if_needed()
            assert in_view(pg, b), name
        shot(pg, "23-phone-errors-390")
        r.get_by_role("button", name="Fix Issue").click()
        button(pg, "Cancel").wait_for()
        assert in_view(pg, button(pg, "Cancel"))
        shot(pg, "24-phone-preview-390")
        act(pg, button(pg, "Cancel"))
        button(pg, "Sync Users").click()
        preview_in_view(pg)
        assert nothing_wider_than_the_screen(pg) == []
        shot(pg, "25-phone-sync-preview-390")
        act(pg, button(pg, "Cancel"))
        assert not pg.watch["blocked"] and not pg.watch["errors"]
    finally:
        pg.context.close()


# --- failure, hygiene, the end --------------------------------------------------------------------
def test_a_failed_refresh_says_why_and_keeps_the_data(page, server):
    cards = page.locator(".um-card").evaluate_all("els => els.map(e => e.dataset.value)")
    server.srv.stop()
    button(page, "Refresh").click()
    said = wait_status(page, "Refresh failed")
    assert "Nothing was changed" in said and "127.0.0.1" in said, said
    assert "Error:" not in said and "Traceback" not in said, said
    assert page.locator(".um-card").evaluate_all("els => els.map(e => e.dataset.value)") == cards
    assert rows(page).count() > 0
    shot(page, "30-refresh-failed-1280")


def test_no_request_left_127_0_0_1(page):
    assert page.watch["requests"]
    assert not page.watch["blocked"], page.watch["blocked"]
    assert all(u.startswith(LOCAL) for u in page.watch["requests"])
    assert not page.watch["dialogs"] and not page.watch["errors"]


def test_kernels_of_closed_pages_are_culled_within_a_minute(page, server):
    from usermap.tabserver import CULL_EVERY, CULL_SECONDS
    assert CULL_SECONDS + CULL_EVERY <= 60
    # this page's kernel, by the id Voila wrote into the page (kernels of pages closed by
    # earlier tests may still be waiting for their minute, and the pool may be refilling)
    kid = page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
    mine = [pid for pid, cmd in kernels(server.proc.pid).items() if f"kernel-{kid}" in cmd]
    assert len(mine) == 1, (kid, kernels(server.proc.pid))
    page.close()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 75 and alive(mine[0]):
        time.sleep(1)
    print(f"culled after {time.monotonic() - t0:.0f} s")
    assert not alive(mine[0]) and time.monotonic() - t0 <= 62
    # the pool's kernel, which never had a page, stays
    assert kernels(server.proc.pid)


def test_sigterm_ends_cleanly_with_no_kernel_left(server):
    ks = kernels(server.proc.pid)
    assert ks
    # the kernels' connection files live in the server's own runtime folder
    sockets = Path(next(iter(ks.values())).split(" -f ")[1].split()[0]).parent.parent
    assert sockets.exists()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 143
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(k) for k in ks):
        time.sleep(0.1)
    assert not any(alive(k) for k in ks)
    assert not sockets.exists()
