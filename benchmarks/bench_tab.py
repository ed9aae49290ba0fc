"""How fast is the User Mapping tab? (docs/design.md §9, issue 20; targets: the overview within
1.5 s of opening the page for 10k users on a quiet machine, search < 300 ms, 100k links
responsive.)

1. ``usermap tab`` on a 10k-user sandbox, as a subprocess: the time until it prints its URL,
   until its pre-heated kernel has run the notebook (fetch, audit, widget), then page open ->
   overview cards in Chromium, three times, each on a freshly heated kernel, with a cold browser
   cache (a new context) and a warm one (the same context again). The load average is printed:
   on a busy machine the figures are not the quiet machine's. A bare kernel's start is timed
   too (what a page would wait for without the pool).
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


def _cpu_ticks(pid: int) -> int:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return -1


def _heated(server_pid: int, seen: set, timeout: float = 300) -> int:
    """Wait until a kernel not in ``seen`` (the pool's) exists and has gone quiet (the notebook
    has run: fetch, audit, widget); adds it to ``seen`` and returns its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()
                and _parent(int(d.name)) == server_pid
                and b"ipykernel" in (d / "cmdline").read_bytes()]
        fresh = [k for k in kids if k not in seen]
        for k in fresh:
            last, quiet = _cpu_ticks(k), 0
            while quiet < 10 and time.monotonic() < deadline:     # 1 s without CPU
                time.sleep(0.1)
                now = _cpu_ticks(k)
                quiet = quiet + 1 if now == last else 0
                last = now
            seen.add(k)
            return k
        time.sleep(0.1)
    raise TimeoutError("no pre-heated kernel")


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def served(work: Path, n: int, opens: int = 3) -> dict:
    """``usermap tab`` on an n-user sandbox: server up, then ``opens`` times: wait for the
    pool's kernel to be heated and quiet, open the page in a fresh browser context (cold
    cache) and time page open -> overview cards; once more in the same context (warm cache)."""
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
            cold, warm = [], []
            for i in range(opens):
                if i:
                    _heated(proc.pid, seen)    # the pool refills after a page takes a kernel
                ctx = b.new_context(viewport={"width": 1280, "height": 900})
                pg = ctx.new_page()
                t1 = time.perf_counter()
                pg.goto(url, timeout=120_000)
                pg.locator(".um-card").first.wait_for(timeout=120_000)
                cold.append(time.perf_counter() - t1)
                _heated(proc.pid, seen)
                pg2 = ctx.new_page()
                t1 = time.perf_counter()
                pg2.goto(url, timeout=120_000)
                pg2.locator(".um-card").first.wait_for(timeout=120_000)
                warm.append(time.perf_counter() - t1)
                if i == 0:
                    t2 = time.perf_counter()
                    pg2.get_by_placeholder("Search by name, e-mail or id").fill("10042")
                    pg2.wait_for_function("() => / of \\d{1,3}$/.test(document.querySelector("
                                          "'.um-info').innerText)", timeout=30_000)
                    res["search in the browser (keystrokes -> rows)"] = time.perf_counter() - t2
                ctx.close()
            b.close()
        res["page open -> cards, cold browser cache (best)"] = min(cold)
        res["page open -> cards, cold browser cache (median)"] = sorted(cold)[len(cold) // 2]
        res["page open -> cards, warm browser cache (best)"] = min(warm)
        res["page open -> cards, warm browser cache (median)"] = sorted(warm)[len(warm) // 2]
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tab-") as tmp:
        tmp = Path(tmp)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} CPUs)")
        print(f"kernel start (bare ipykernel, start -> ready): {kernel_start(tmp):.2f} s")
        print(f"\n== usermap tab, {args.users:,} users, fetch from the sandbox")
        if not Path(CHROMIUM).exists():
            sys.exit(f"bench_tab needs Chromium at {CHROMIUM}")
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
