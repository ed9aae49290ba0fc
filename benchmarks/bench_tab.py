"""How fast is the User Mapping tab? (docs/design.md §9, issue 20; targets: the overview within
1.5 s of opening the page for 10k users on a quiet machine, search < 300 ms, 100k links
responsive.)

1. ``usermap tab`` on a 10k-user sandbox, as a subprocess: the time until it prints its URL,
   until its pre-heated kernel has run the notebook (fetch, audit, widget), then in Chromium,
   from the start of navigation: the overview cards visible (the page's first view), and the
   live widget drawn (its Refresh button, which answers), each ``--opens`` times on a freshly
   heated kernel, with a cold browser cache (a new context) and a warm one (the same context
   again), with where the time went (HTML received, first paint, scripts loaded, kernel
   websocket open). The load average is printed with each figure: on a busy machine the
   figures are not the quiet machine's. A bare kernel's start is timed too (what a page would
   wait for without the pool).
2. The tab object in this process on 10k users and on 100k links (snapshot, no fetch): load,
   search (one keystroke filters every list), Next page, Sync Users.

    .venv/bin/python benchmarks/bench_tab.py [--users 10000] [--big 100000] [--opens 3]
                                             [--served-only]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKENS = {"HUBSPOT_ACCESS_TOKEN": "bench-hub-token", "ALOWARE_API_TOKEN": "bench-alo-token"}
USERMAP = str(Path(sys.executable).parent / "usermap")
CHROMIUM = os.environ.get("USERMAP_CHROMIUM", "/usr/bin/chromium")


def _world(work: Path, n: int, *, serve: bool):
    from usermap.sandbox.scenarios import FILE_MAPPINGS, generate, write_world
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    world = generate(n, seed=7)
    work.mkdir(parents=True, exist_ok=True)
    snap = work / "snap"
    write_world(world, snap)
    with Store.open(work / "store.db", create=True) as st:
        st.import_links(read_mappings_csv(snap / FILE_MAPPINGS), now="2026-01-01T00:00:00Z")
    srv = None
    toml = '[store]\npath = "store.db"\n\n[runs]\ndir = "runs"\n'
    if serve:
        from usermap.sandbox.server import SandboxServer
        srv = SandboxServer(world.users, world.owners, hubspot_token=TOKENS[
            "HUBSPOT_ACCESS_TOKEN"], aloware_token=TOKENS["ALOWARE_API_TOKEN"]).start(
            max_seconds=900)
        toml = srv.config_toml() + "\n" + toml
    (work / "usermap.toml").write_text(toml, encoding="utf-8")
    return srv, snap


def kernel_start(work: Path) -> float:
    """A bare ipykernel of this interpreter (what ``usermap tab``'s private kernelspec runs):
    start to ready."""
    import json

    from jupyter_client.manager import start_new_kernel
    kdir = work / "jupyter" / "kernels" / "bench"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "bench", "language": "python"}))
    os.environ["JUPYTER_PATH"] = str(work / "jupyter")
    try:
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="bench", startup_timeout=120)
        took = time.perf_counter() - t0
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    finally:
        os.environ.pop("JUPYTER_PATH", None)
    return took


def _cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return -1


def _quiet(pids: list[int], deadline: float) -> None:
    """Wait until these processes have used no CPU for 1 s."""
    last, quiet = [_cpu_ticks(p) for p in pids], 0
    while quiet < 10 and time.monotonic() < deadline:
        time.sleep(0.1)
        now = [_cpu_ticks(p) for p in pids]
        quiet = quiet + 1 if now == last else 0
        last = now


def _heated(server_pid: int, seen: set, timeout: float = 300) -> int:
    """Wait until a kernel not in ``seen`` (the pool's) exists and it and the server have gone
    quiet (the notebook has run: fetch, audit, widget; the server has rendered the page); adds
    it to ``seen`` and returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
                and _parent(int(d.name)) == server_pid
                and b"ipykernel" in (d / "cmdline").read_bytes()]
        fresh = [k for k in kids if k not in seen]
        for k in fresh:
            _quiet([k, server_pid], deadline)
            seen.add(k)
            return k
        time.sleep(0.1)
    raise TimeoutError("no pre-heated kernel")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


# the overview cards: the first view's picture of them (umf-card) or the live widget's
CARDS, LIVE = ".umf-card, .um-card", "button[data-action=refresh]"
# noted by the page itself (performance.now(), ms from the start of navigation): when its
# kernel websocket opened, when the first card and the live widget's Refresh became visible
_PROBE = """
(() => { const W = window.WebSocket, t = window.__t = {};
  window.WebSocket = function (...a) { const ws = new W(...a);
    ws.addEventListener("open", () => { t.ws = t.ws || performance.now(); });
    return ws; };
  window.WebSocket.prototype = W.prototype; Object.assign(window.WebSocket, W);
  const seen = (sel) => { const e = document.querySelector(sel);
                          return e && e.getClientRects().length > 0; };
  new MutationObserver(() => {
    if (!t.cards && seen("CARDS")) t.cards = performance.now();
    if (!t.live && seen("LIVE")) t.live = performance.now();
  }).observe(document, {subtree: true, childList: true, attributes: true});
})();
""".replace("CARDS", CARDS).replace("LIVE", LIVE)
_VISIBLE = """(sel) => { const e = document.querySelector(sel);
                        return !!e && e.getClientRects().length > 0; }"""
_TIMELINE = """() => { const n = performance.getEntriesByType("navigation")[0];
  const p = performance.getEntriesByType("paint").find(e => e.name === "first-contentful-paint");
  const r = performance.getEntriesByType("resource");
  return {html: n.responseEnd, paint: p ? p.startTime : null, load: n.loadEventEnd || null,
          ws: window.__t.ws || null, cards_in_page: window.__t.cards || null,
          live_in_page: window.__t.live || null, requests: r.length,
          bytes: r.reduce((t, e) => t + e.transferSize, 0)}; }"""


def open_page(ctx, url: str) -> dict:
    """Open the page in ``ctx``; seconds from navigation to the overview cards visible and to
    the live widget drawn, where the time went, and the load average then."""
    pg = ctx.new_page()
    t0 = time.perf_counter()
    pg.goto(url, timeout=120_000, wait_until="commit")
    # looked for at every frame (a locator's wait polls up to 0.5 s apart)
    pg.wait_for_function(_VISIBLE, arg=CARDS, polling="raf", timeout=120_000)
    cards = time.perf_counter() - t0
    pg.wait_for_function(_VISIBLE, arg=LIVE, polling="raf", timeout=120_000)
    live = time.perf_counter() - t0
    pg.wait_for_load_state("load", timeout=120_000)
    tl = pg.evaluate(_TIMELINE)
    return {"cards": cards, "live": live, "loadavg": os.getloadavg()[0], "page": pg, **{
        k: (v / 1000 if isinstance(v, (int, float)) and k not in ("requests", "bytes") else v)
        for k, v in tl.items()}}


def _say(kind: str, o: dict) -> str:
    ms = lambda k: "-" if o[k] is None else f"{o[k]:.2f}"  # noqa: E731
    return (f"  {kind:<5} cards {o['cards']:5.2f} s, live widget {o['live']:5.2f} s  (in the "
            f"page: HTML {ms('html')}, first paint {ms('paint')}, cards {ms('cards_in_page')}, "
            f"scripts loaded {ms('load')}, kernel websocket {ms('ws')}, live widget "
            f"{ms('live_in_page')}; {o['requests']} requests, {o['bytes'] / 1e6:.1f} MB; load "
            f"average {o['loadavg']:.1f})")


def served(work: Path, n: int, opens: int = 3) -> dict:
    """``usermap tab`` on an n-user sandbox: server up, then ``opens`` times: wait for the
    pool's kernel to be heated and quiet, open the page in a fresh browser context (cold cache)
    and time it; once more in the same context (warm cache)."""
    srv, _ = _world(work, n, serve=True)
    from usermap.tabserver import free_port
    port = free_port()
    env = {**os.environ, **TOKENS, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    out = work / "tab.out"
    t0 = time.perf_counter()
    with open(out, "w") as o:
        proc = subprocess.Popen([USERMAP, "tab", "--config", str(work / "usermap.toml"),
                                 "--port", str(port)], stdout=o, stderr=subprocess.DEVNULL,
                                cwd=work, env=env)
    res: dict = {}
    try:
        url = ""
        while time.perf_counter() - t0 < 120 and not url:
            m = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", out.read_text())
            url = m.group(0) if m else ""
            time.sleep(0.02)
        res["server up (URL printed)"] = time.perf_counter() - t0
        seen: set[int] = set()
        _heated(proc.pid, seen)
        res["pool kernel heated (fetch + audit + widget)"] = time.perf_counter() - t0
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                  args=["--no-sandbox", "--disable-gpu"])
            runs: dict[str, list] = {"cold": [], "warm": []}
            for i in range(opens):
                if i:
                    _heated(proc.pid, seen)    # the pool refills after a page takes a kernel
                ctx = b.new_context(viewport={"width": 1280, "height": 900})
                ctx.add_init_script(_PROBE)
                runs["cold"].append(open_page(ctx, url))
                print(_say("cold", runs["cold"][-1]), flush=True)
                _heated(proc.pid, seen)
                runs["warm"].append(open_page(ctx, url))
                print(_say("warm", runs["warm"][-1]), flush=True)
                if i == 0:
                    pg2 = runs["warm"][-1]["page"]
                    t2 = time.perf_counter()
                    pg2.get_by_placeholder("Search by name, e-mail or id").fill("10042")
                    pg2.wait_for_function("() => / of \\d{1,3}$/.test(document.querySelector("
                                          "'.um-info').innerText)", timeout=30_000)
                    res["search in the browser (keystrokes -> rows)"] = time.perf_counter() - t2
                ctx.close()
            b.close()
        loads = [o["loadavg"] for r in runs.values() for o in r]
        for kind, r in runs.items():
            for what, name in (("cards", "overview cards"), ("live", "live widget"),
                               ("cards_in_page", "cards (page's clock)"),
                               ("live_in_page", "live widget (page's clock)")):
                xs = sorted(o[what] or 0.0 for o in r)
                res[f"page open -> {name}, {kind} cache (best)"] = xs[0]
                res[f"page open -> {name}, {kind} cache (median)"] = xs[len(xs) // 2]
        res["load average during the opens (min)"] = min(loads)
        res["load average during the opens (max)"] = max(loads)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        srv.stop()
    return res


def in_process(work: Path, n: int, *, fetch: bool) -> dict:
    from usermap.tab.app import MappingTab
    srv, snap = _world(work, n, serve=fetch)
    os.environ.update(TOKENS)
    res = {}

    def act(action: str, **kw) -> float:
        t0 = time.perf_counter()
        tab._on_msg(tab, {"action": action, **kw}, None)
        return time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        tab = MappingTab(str(work / "usermap.toml"), snapshot="" if fetch else str(snap),
                         workdir=work / "tabwork")
        res["load (fetch + audit + first page)" if fetch else "load (snapshot + audit + first page)"] = \
            time.perf_counter() - t0
        times = []
        for q in ("a", "an", "ann", "10042", "@acme", ""):
            tab.query = q
            times.append(tab.timings["search"])
        res["search, worst of 6 (every list)"] = max(times)
        res["Next page"] = act("page", list="mapped", step=1)
        res["Sync Users (plan shown)"] = act("sync")
        res["links"] = tab.lists["mapped"]["total"]
        tab.close()
    finally:
        if srv:
            srv.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000,
                    help="links wanted in the big world (it has about twice as many users)")
    ap.add_argument("--opens", type=int, default=3, help="page opens (each cold, then warm)")
    ap.add_argument("--served-only", action="store_true",
                    help="only `usermap tab` in the browser (not the tab object's timings)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tab-") as tmp:
        tmp = Path(tmp)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} CPUs)")
        print(f"kernel start (bare ipykernel, start -> ready): {kernel_start(tmp):.2f} s")
        print(f"\n== usermap tab, {args.users:,} users, fetch from the sandbox")
        if not Path(CHROMIUM).exists():
            sys.exit(f"bench_tab needs Chromium at {CHROMIUM}")
        for k, v in served(tmp / "served", args.users, args.opens).items():
            print(f"  {k:<48} {v:7.2f}" + ("" if k.startswith("load") else " s"))
        if args.served_only:
            return
        print(f"\n== the tab object, {args.users:,} users, fetch from the sandbox")
        for k, v in in_process(tmp / "small", args.users, fetch=True).items():
            print(f"  {k:<48} {v:7.3f}" + ("" if k == "links" else " s"))
        print(f"\n== the tab object, {args.big * 2:,} users (snapshot)")
        for k, v in in_process(tmp / "big", args.big * 2, fetch=False).items():
            print(f"  {k:<48} {v:7.3f}" + ("" if k == "links" else " s"))


if __name__ == "__main__":
    main()
