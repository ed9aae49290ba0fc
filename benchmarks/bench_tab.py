"""How fast is the User Mapping tab? (docs/design.md §9; targets: first view < 5 s for 10k users,
search < 300 ms, 100k links responsive.)

1. ``usermap tab`` on a 10k-user sandbox (fetch on first view), as a subprocess: the time until
   it prints its URL (server up), then the first view: Chromium opens the URL until the
   overview cards are shown (without Chromium: the HTTP GET of the page, which Voilà answers
   once the notebook has run). The kernel start is timed separately (a bare ipykernel with the
   same interpreter, start to ready), as is the tab's own work in the kernel (fetch + audit).
2. The tab object in this process on 10k users and on 100k links (snapshot, no fetch): load,
   search (one keystroke filters every list), Next page, Sync Users.

    .venv/bin/python benchmarks/bench_tab.py [--users 10000] [--big 100000]
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


def served(work: Path, n: int) -> dict:
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
    res = {}
    try:
        url = ""
        while time.perf_counter() - t0 < 120 and not url:
            m = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", out.read_text())
            url = m.group(0) if m else ""
            time.sleep(0.02)
        res["server up"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=["--no-sandbox", "--disable-gpu"])
                res["chromium launch (not counted)"] = time.perf_counter() - t1
                t1 = time.perf_counter()
                pg = b.new_page()
                pg.goto(url, timeout=120_000)
                pg.locator(".um-card").first.wait_for(timeout=120_000)
                res["first view (page open -> cards)"] = time.perf_counter() - t1
                t2 = time.perf_counter()
                pg.get_by_placeholder("Search by name, e-mail or id").fill("10042")
                pg.wait_for_function("() => !document.querySelector('.um-info').innerText"
                                     ".includes(' of 10,')", timeout=30_000)
                res["search in the browser (keystrokes -> rows)"] = time.perf_counter() - t2
                b.close()
        else:
            import urllib.request
            urllib.request.urlopen(url, timeout=120).read()
            res["first view (HTTP page, notebook run)"] = time.perf_counter() - t1
        res["usermap tab start -> overview cards"] = (res["server up"] + res.get(
            "first view (page open -> cards)", res.get("first view (HTTP page, notebook run)",
                                                        0)))
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
    try:
        t0 = time.perf_counter()
        tab = MappingTab(str(work / "usermap.toml"), snapshot="" if fetch else str(snap),
                         workdir=work / "tabwork")
        res["load (fetch + audit + first page)" if fetch else "load (snapshot + audit + first page)"] = \
            time.perf_counter() - t0
        times = []
        for q in ("a", "an", "ann", "10042", "@acme", ""):
            tab.search.value = q
            times.append(tab.timings["search"])
        res["search, worst of 6 (every list)"] = max(times)
        t0 = time.perf_counter()
        tab.mapped.next.click()
        res["Next page"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tab.sync_button.click()
        res["Sync Users (plan shown)"] = time.perf_counter() - t0
        res["links"] = tab.summary["mapped"]
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tab-") as tmp:
        tmp = Path(tmp)
        print(f"kernel start (bare ipykernel, start -> ready): {kernel_start(tmp):.2f} s")
        print(f"\n== usermap tab, {args.users:,} users, fetch from the sandbox")
        for k, v in served(tmp / "served", args.users).items():
            print(f"  {k:<48} {v:7.2f} s")
        print(f"\n== the tab object, {args.users:,} users, fetch from the sandbox")
        for k, v in in_process(tmp / "small", args.users, fetch=True).items():
            print(f"  {k:<48} {v:7.3f}" + ("" if k == "links" else " s"))
        print(f"\n== the tab object, {args.big * 2:,} users (snapshot)")
        for k, v in in_process(tmp / "big", args.big * 2, fetch=False).items():
            print(f"  {k:<48} {v:7.3f}" + ("" if k == "links" else " s"))


if __name__ == "__main__":
    main()
