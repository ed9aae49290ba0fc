"""The User Mapping tab as a web page (docs/design.md §9): the sandbox and `usermap tab` on free
ports of 127.0.0.1, the page driven by Playwright + Chromium (/usr/bin/chromium) through the
accessible names of the contract, and every change checked against what the CLI does.

The tests of this module run in order on one server and one page (one kernel): the token, the
first view (= `usermap audit`'s summary.json), search and pages, hostile names, Fix Issue, Link,
Sync Users (= `usermap plan`, Apply = `usermap apply`), Cancel, Undo last sync with Force, no
request beyond 127.0.0.1, and SIGTERM. Without Chromium they are skipped with a message,
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
from runkit import USERMAP, cli, make_env, store_state
from test_report import XSS
from test_report_browser import CHROMIUM, browser  # noqa: F401 (the shared Chromium fixture)

pytestmark = pytest.mark.browser

SEARCH = "Search by name, e-mail or id"
LOCAL = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append((int(d.name), (d / "cmdline").read_bytes().replace(b"\0", b" ")
                            .decode(errors="replace")))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/status").read_text().count("zombie")


def _hostile(users):
    """Hostile names in the users Aloware serves (text everywhere, never markup)."""
    users = users.copy()
    for i, x in enumerate(XSS):
        users.loc[users.index[i], "first_name"] = x
    return users


class Server:
    def __init__(self, root: Path):
        self.root = root
        self.srv, self.config, self.world, self.store = make_env(
            root, n_users=300, seed=3, served_users=_hostile)
        from usermap.tabserver import free_port
        self.port = free_port()
        self.out, self.err = root / "tab.out", root / "tab.err"
        env = {**os.environ, **SANDBOX_TOKENS}
        self.t0 = time.perf_counter()
        with open(self.out, "w") as o, open(self.err, "w") as e:
            self.proc = subprocess.Popen([USERMAP, "tab", "--config", str(root / "usermap.toml"),
                                          "--port", str(self.port)], stdout=o, stderr=e,
                                         cwd=root, env=env)
        deadline = time.monotonic() + 60
        self.url = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", self.out.read_text())
            if m:
                self.url = m.group(0)
                break
            time.sleep(0.05)
        self.started = time.perf_counter() - self.t0
        m = re.search(r"Storing connection files in (\S+?)/voila_", self.err.read_text())
        self.private = Path(m.group(1)) if m else None
        self.kernels: set[int] = set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.srv.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("tab"))
    try:
        assert s.url, f"usermap tab printed no URL: {s.out.read_text()} {s.err.read_text()}"
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def page(browser, server):
    context = browser.new_context()
    w = {"requests": [], "blocked": [], "dialogs": [], "errors": []}

    def route(r):
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            w["blocked"].append(r.request.url)
            r.abort()
    context.route("**/*", route)
    context.on("request", lambda req: w["requests"].append(req.url))
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.on("websocket", lambda ws: w["requests"].append(ws.url))
    pg.on("dialog", lambda d: (w["dialogs"].append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: w["errors"].append(str(e)))
    pg.watch = w
    t0 = time.perf_counter()
    pg.goto(server.url, timeout=60_000)
    pg.locator(".um-card").first.wait_for(timeout=60_000)
    pg.first_view = time.perf_counter() - t0
    server.kernels = {pid for pid, cmd in _children(server.proc.pid) if "ipykernel" in cmd}
    yield pg
    context.close()


def button(pg, name):
    return pg.get_by_role("button", name=name, exact=True)


def status(pg) -> str:
    return " ".join(pg.get_by_role("status").all_inner_texts())


def wait_status(pg, text: str, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(pg)
        if text in s:
            return s
        time.sleep(0.05)
    raise AssertionError(f"status never said {text!r}: {status(pg)!r}")


def open_tab(pg, title: str) -> None:
    pg.get_by_role("tab", name=re.compile("^" + re.escape(title))).click()


def rows_with(pg, button_name: str, text: str = ""):
    loc = pg.locator(".widget-hbox").filter(has=button(pg, button_name))
    return loc.filter(has_text=text) if text else loc


# --- 1. the token ------------------------------------------------------------------------------
def test_a_request_without_the_token_gets_no_page_and_no_kernel(server):
    assert server.started < 30
    for path in ("/", "/voila/render/mapping.ipynb", "/api/kernels", "/?token=wrong"):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        assert r.status in (302, 403, 404), (path, r.status)
        if r.status == 302:
            assert "/login" in r.getheader("Location", "")
        assert "um-card" not in body and "Sync Users" not in body
        c.close()
    assert not [c for c in _children(server.proc.pid) if "ipykernel" in c[1]]


# --- 2. the first view -------------------------------------------------------------------------
def test_first_view_equals_usermap_audit(page, server):
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
    assert {k: v for k, v, _ in shown} == {k: summary[k] for k, _, _ in shown}
    assert [k for k, _, _ in shown] == ["mapped", "synced", "errors", "email_conflicts",
                                        "unmapped_aloware", "unmapped_hubspot"]
    assert f"{summary['mapped']:,}" in shown[0][2]
    print(f"first view {page.first_view:.2f} s; server up in {server.started:.2f} s")
    assert page.first_view < 30 and len(server.kernels) == 1
    for name in ("Refresh", "Sync Users", "Undo last sync", "Next", "Previous"):
        assert button(page, name).first.is_visible(), name
        assert button(page, name).first.inner_text().strip() == name


def test_search_and_pages_of_fifty(page, server):
    info = page.locator(".um-info").first
    assert info.inner_text().startswith("Rows 1–50 of ")
    assert page.locator(".um-row:not(.um-head)").filter(has=page.locator("[role=cell]")) \
        .locator("visible=true").count() <= 51
    button(page, "Next").click()
    page.wait_for_function("() => document.querySelector('.um-info').innerText"
                           ".startsWith('Rows 51–')")
    button(page, "Previous").click()
    page.wait_for_function("() => document.querySelector('.um-info').innerText"
                           ".startsWith('Rows 1–')")
    import pandas as pd
    mapped = pd.read_csv(server.root / "audit" / "mapped.csv", dtype=str, keep_default_na=False)
    row = mapped[mapped["status"] == "synced"].iloc[3]
    box = page.get_by_placeholder(SEARCH)
    box.fill(row["email"])
    page.wait_for_function("() => /^Rows 1–\\d+ of \\d+$/.test(document.querySelector("
                           "'.um-info').innerText) && document.querySelector('.um-info')"
                           ".innerText.endsWith(' of 1')")
    assert row["aloware_user_id"] in page.locator(".um-row").nth(1).inner_text()
    box.fill("")
    page.wait_for_function("() => document.querySelector('.um-info').innerText"
                           ".startsWith('Rows 1–50')")


def test_hostile_names_stay_text(page):
    box = page.get_by_placeholder(SEARCH)
    box.fill("onerror")
    page.get_by_text(XSS[0], exact=False).locator("visible=true").first.wait_for()
    open_tab(page, "Unmapped Aloware users")
    open_tab(page, "Errors")
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("svg[onload]").count() == 0
    box.fill("")
    open_tab(page, "Mapped users")
    assert not page.watch["dialogs"] and not page.watch["errors"]


# --- 3. changes --------------------------------------------------------------------------------
def test_fix_issue_changes_only_that_link(page, server):
    before = store_state(server.store)
    open_tab(page, "Errors")
    row = rows_with(page, "Fix Issue", "Aloware user deleted").first
    aid = row.locator("[role=cell]").nth(2).inner_text().strip()
    row.get_by_role("button", name="Fix Issue").click()
    button(page, "Apply").wait_for()
    assert store_state(server.store)["revision"] == before["revision"]   # not before Apply
    button(page, "Apply").click()
    wait_status(page, "Applied 1 changes")
    after = store_state(server.store)
    assert after["revision"] == before["revision"] + 1
    assert set(before["links"]["aloware_user_id"]) - set(after["links"]["aloware_user_id"]) \
        == {aid}
    assert len(after["links"]) == len(before["links"]) - 1
    run = server.root / "runs" / after["runs"][-1]
    assert (run / "report.html").is_file() and (run / "notification.eml").is_file()


def test_link_pins_a_suggestion_after_a_confirmation(page, server):
    open_tab(page, "Unmapped Aloware users")
    page.get_by_placeholder(SEARCH).fill("")
    for _ in range(6):
        rows = rows_with(page, "Link")
        if rows.count():
            break
        button(page, "Next").click()
        time.sleep(0.3)
    row = rows.first
    aid = row.locator("[role=cell]").nth(2).inner_text().strip()
    owner = re.search(r"\((\d+), [01]\.\d\d\)", row.inner_text()).group(1)
    before = store_state(server.store)
    row.get_by_role("button", name="Link").first.click()
    page.get_by_text("as a manual link?").wait_for()
    assert store_state(server.store)["revision"] == before["revision"]
    button(page, "Apply").click()
    wait_status(page, "Applied 1 changes")
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
    # Cancel leaves everything as it was
    before = store_state(server.store)
    button(page, "Sync Users").click()
    button(page, "Cancel").wait_for()
    button(page, "Cancel").click()
    wait_status(page, "Cancelled: nothing was changed")
    assert store_state(server.store)["revision"] == before["revision"]
    button(page, "Sync Users").click()
    button(page, "Apply").wait_for()
    steps = dict(re.findall(r"^(Match|Resolve|Clean up): ([\d,]+)$",
                            "\n".join(page.locator(".um-plan h4").all_inner_texts()), re.M))
    want = {}
    for c in plan["changes"]:
        want[c["step"]] = want.get(c["step"], 0) + 1
    names = {"match": "Match", "resolve": "Resolve", "cleanup": "Clean up"}
    assert {k: int(v.replace(",", "")) for k, v in steps.items()} == {
        names[k]: v for k, v in want.items()}
    button(page, "Apply").click()
    wait_status(page, "Applied")
    p, _ = cli(["apply", str(tmp_path / "plan.json"), "--store", str(db2), "--yes"])
    assert p.returncode == 0, p.stderr
    mine, theirs = store_state(server.store), store_state(db2)
    cols = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    assert sorted(map(tuple, mine["links"][cols].to_numpy().tolist())) == \
        sorted(map(tuple, theirs["links"][cols].to_numpy().tolist()))
    assert mine["revision"] == theirs["revision"] and mine["journal"] == theirs["journal"]
    run = root / "runs" / mine["runs"][-1]
    sync = json.loads((run / "sync.json").read_text())
    assert sync["applied"] and sync["store_run_id"] == run.name
    for name in ("report.html", "notification.eml", "plan.json", "summary.json", "run.json"):
        assert (run / name).is_file(), name
    server.before_sync = before


def test_undo_last_sync_needs_force_and_restores(page, server):
    button(page, "Undo last sync").click()
    button(page, "Force").wait_for()
    assert not button(page, "Apply").is_visible()
    assert "removal guard" in page.get_by_role("status").first.inner_text() + \
        page.locator(".um-msg").all_inner_texts().__str__()
    button(page, "Force").click()
    wait_status(page, "Applied")
    after = store_state(server.store)
    cols = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method"]
    assert sorted(map(tuple, after["links"][cols].to_numpy().tolist())) == sorted(
        map(tuple, server.before_sync["links"][cols].to_numpy().tolist()))


def test_no_request_left_127_0_0_1(page):
    assert page.watch["requests"]
    assert not page.watch["blocked"], page.watch["blocked"]
    assert all(u.startswith(LOCAL) for u in page.watch["requests"])
    assert not page.watch["dialogs"] and not page.watch["errors"]


# --- 4. the end --------------------------------------------------------------------------------
def test_sigterm_ends_cleanly_with_no_kernel_left(page, server):
    assert server.kernels and all(_alive(k) for k in server.kernels)
    page.context.close()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 143
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(k) for k in server.kernels):
        time.sleep(0.1)
    assert not any(_alive(k) for k in server.kernels)
    assert server.private is not None and not server.private.exists()
    assert "Kernel shutdown" in server.err.read_text()
