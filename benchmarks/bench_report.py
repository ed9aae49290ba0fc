"""Benchmark: the HTML report and the e-mail at 10k, 100k and 1M links.

For each size it builds a seeded world with about that many links (``generate(1.2 n,
linked_share=1)``; the engine's audit and plan are not counted), then measures:
  - build:   ``build_report`` (the data model, from the audit and the plan)
  - render:  ``Report.to_html()`` (Jinja + the embedded JSON)
  - size:    the HTML file
  - load:    Chromium (Debian's /usr/bin/chromium, headless, via Playwright) from navigation to the
             page's script having drawn every table
  - index:   seconds after load until the page has built its search index (in idle slices)
  - search:  in-page time from one input event to the rows being drawn and laid out, for five
             queries (first search: "smith"); wall time as well. A search that comes before
             the index is ready finishes the index first (that cost is the "index" column)
  - find:    the one search box at the top (every section filtered, a person's story): in-page
             time for a name and for an id, from the input event to everything drawn
  - e-mail:  ``notify.build_message`` time and size, and what it attaches (the full report, the
             compact report or the Needs a person CSV: the first that fits)

Targets (issue 5, at 100k links): file < 20 MB, load < 3 s, search < 0.5 s; e-mail < 100 KB at
every size.

Usage: python benchmarks/bench_report.py [--sizes 10000,100000,1000000] [--keep DIR]
                                         [--browser-timeout 300]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
QUERIES = ("smith", "smith j", "acme.io", "zzzz")

SEARCH_JS = """([id, q]) => {
    const t0 = performance.now();
    const box = document.getElementById(id + '-search');
    box.value = q;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    document.body.offsetHeight;
    return performance.now() - t0;
}"""

FIND_JS = """q => {
    const t0 = performance.now();
    const box = document.getElementById('find');
    box.value = q;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    document.body.offsetHeight;
    return performance.now() - t0;
}"""


def build(n_links: int, seed: int):
    from usermap.engine import plan as planmod
    from usermap.engine import reconcile
    from usermap.sandbox.scenarios import generate
    from usermap.sources.owners.frame import owners_frame
    w = generate(int(n_links * 1.2), seed=seed, linked_share=1.0)
    lk = w.links.copy()
    lk["updated_at"] = ""
    a = reconcile.audit(w.users, owners_frame(w.owners), lk,
                        profile_url="https://app.aloware.com/users/{id}")
    p = planmod.make_plan(a, store_revision=1, fingerprint="bench")
    a.mapped, a.unmapped_aloware, a.unmapped_hubspot  # computed here, not in "build"
    return a, p


def wait_until(page, expression: str, timeout_s: float) -> None:
    """Poll from Python: page.wait_for_function would evaluate a string inside the page, which
    the report's Content-Security-Policy refuses."""
    end = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > end:
            raise TimeoutError(expression)
        time.sleep(0.002)


def browser_times(path: Path, timeout_s: float, id_query: str) -> dict:
    from playwright.sync_api import sync_playwright
    out = {}
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        ctx = b.new_context()
        external = []
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                  else (external.append(r.request.url), r.abort()))
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(path.as_uri(), wait_until="load", timeout=timeout_s * 1000)
        wait_until(page, "document.documentElement.dataset.ready === '1'", timeout_s)
        out["load"] = time.perf_counter() - t
        searches = []
        t = time.perf_counter()
        wait_until(page, "Object.values(window.usermapReport.tables).every(t => t.hay)",
                   timeout_s)
        out["index"] = time.perf_counter() - t
        for q in QUERIES + (id_query,):
            t = time.perf_counter()
            inner = page.evaluate(SEARCH_JS, ["mapped", q])
            searches.append((q, inner, (time.perf_counter() - t) * 1000,
                             page.inner_text("#mapped-status")))
        out["searches"] = searches
        finds = []
        for q in ("smith", id_query):
            t = time.perf_counter()
            inner = page.evaluate(FIND_JS, q)
            finds.append((q, inner, (time.perf_counter() - t) * 1000,
                          page.inner_text("#find-status")[:60]))
        out["searches"] += finds
        out["external"] = external
        b.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", default=None, help="keep the HTML files in this folder")
    ap.add_argument("--browser-timeout", type=float, default=300.0)
    args = ap.parse_args()
    from usermap.config import Config
    from usermap.notify import MAX_MESSAGE_BYTES, build_message
    from usermap.report.build import build_report
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_report_"))
    work.mkdir(parents=True, exist_ok=True)
    have_browser = Path(CHROMIUM).exists()
    rows = []
    try:
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            t = time.perf_counter()
            a, p = build(n, args.seed)
            prep = time.perf_counter() - t
            t = time.perf_counter()
            r = build_report(a, plan=p, applied=True, run_id="bench", generated_at=
                             "2026-01-01T00:00:00Z")
            t_build = time.perf_counter() - t
            t = time.perf_counter()
            html = r.to_html()
            t_render = time.perf_counter() - t
            path = work / f"report_{n}.html"
            path.write_text(html, encoding="utf-8")
            size = path.stat().st_size
            del html
            t = time.perf_counter()
            msg = build_message(r, Config(), report_path=path)
            t_mail = time.perf_counter() - t
            mail = len(msg.as_bytes())
            attached = next((a.get_filename() for a in msg.iter_attachments()), "-")
            links = len(r.mapped)
            id_query = r.mapped.col("hubspot_owner_id")[links // 2]
            del a, p, r, msg
            gc.collect()
            bt = browser_times(path, args.browser_timeout, id_query) if have_browser else {}
            rows.append((n, links, prep, t_build, t_render, size, t_mail, mail, bt))
            s = bt.get("searches", [])
            print(f"[{n:,}] links {links:,}; world+audit {prep:.1f} s; build {t_build:.2f} s; "
                  f"render {t_render:.2f} s; {size / 1e6:.1f} MB; e-mail {mail / 1e3:.1f} KB "
                  f"in {t_mail:.2f} s (attached: {attached}); load {bt.get('load', float('nan')):.2f} s; index "
                  f"{bt.get('index', float('nan')):.2f} s; searches "
                  + ", ".join(f"{q!r} {i:.0f}/{w:.0f} ms ({st})" for q, i, w, st in s)
                  + (f"; EXTERNAL REQUESTS {bt['external']}" if bt.get("external") else ""),
                  flush=True)
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'links':>10} {'build s':>8} {'render s':>9} {'file MB':>8} {'load s':>7} "
          f"{'index s':>8} {'1st search ms':>14} {'max search ms':>14} {'e-mail KB':>10}")
    ok = True
    for n, links, prep, tb, tr, size, tm, mail, bt in rows:
        s = bt.get("searches", [])
        first = s[0][1] if s else float("nan")
        worst = max((max(i, w) for _, i, w, _ in s), default=float("nan"))
        load = bt.get("load", float("nan"))
        print(f"{links:>10,} {tb:>8.2f} {tr:>9.2f} {size / 1e6:>8.1f} {load:>7.2f} "
              f"{bt.get('index', float('nan')):>8.2f} {first:>14.0f} {worst:>14.0f} "
              f"{mail / 1e3:>10.1f}")
        ok &= mail < MAX_MESSAGE_BYTES
        if 90_000 <= links <= 150_000:
            ok &= size < 20_000_000 and (not bt or (load < 3.0 and worst < 500))
    if not have_browser:
        print(f"(no Chromium at {CHROMIUM}: load and search not measured)")
    print("targets (100k links: < 20 MB, load < 3 s, search < 0.5 s; e-mail < 100 KB):",
          "met" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
