"""Benchmark: `usermap plan` against the pipeline a user would otherwise write.

For worlds of 10k, 200k and 1M users and owners (half of them linked) it times, as whole
processes and in one run:
  - `usermap plan SNAPSHOT --store DB --out plan.json`
  - a pandas + datacompy pipeline: read the same users CSV and owners JSON with pandas,
    normalise the e-mail key, and `datacompy.PandasCompare` users against owners on that key.
It also measures peak memory (max RSS) of `usermap plan`, and `usermap mappings import` of the
world's links (1M users → ~500k links; plus a 1M-link file made for the 10 s target).

Targets (issue 2): plan/pipeline ratio ≤ 1.0 at 200k and 1M; peak memory at 1M < 2 GB;
`mappings import` of 1M links < 10 s.

Usage: python benchmarks/bench_engine.py [--sizes 10000,200000,1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

PIPELINE = r'''
import json, sys
import pandas as pd
import datacompy
snap = sys.argv[1]
users = pd.read_csv(f"{snap}/aloware_users.csv", dtype=str, keep_default_na=False)
with open(f"{snap}/hubspot_owners.json", encoding="utf-8") as f:
    owners = pd.DataFrame(json.load(f))
users["key"] = users["email"].str.strip().str.casefold()
owners["key"] = owners["email"].fillna("").str.strip().str.casefold()
users = users[users["key"] != ""].drop_duplicates("key")
owners = owners[owners["key"] != ""].drop_duplicates("key")
cmp = datacompy.PandasCompare(users[["key", "id", "first_name", "last_name"]],
                              owners[["key", "id", "firstName", "lastName"]].rename(
                                  columns={"firstName": "first_name", "lastName": "last_name"}),
                              join_columns="key", df1_name="aloware", df2_name="hubspot")
print(len(cmp.df1_unq_rows), len(cmp.df2_unq_rows), len(cmp.intersect_rows))
'''


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run under a tiny wrapper that reports the child's own max RSS."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t=time.perf_counter(); r=subprocess.run(sys.argv[1:], capture_output=True, "
               "text=True)\n"
               "w=time.perf_counter()-t\n"
               "sys.stdout.write(r.stdout); sys.stderr.write(r.stderr)\n"
               "print(f'@@ {w:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}')\n"
               "sys.exit(r.returncode)\n")
    p = subprocess.run([PY, "-c", wrapper, *cmd], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    line = [x for x in p.stdout.splitlines() if x.startswith("@@ ")][-1]
    _, wall, rss_kb = line.split()
    return float(wall), int(rss_kb) / 1024, p.stdout


def usermap(*args) -> list[str]:
    return [PY, "-m", "usermap.cli", *map(str, args)]


def bench_size(n: int, work: Path) -> dict:
    from usermap.sandbox.scenarios import generate, write_world
    d = work / f"w{n}"
    t0 = time.perf_counter()
    write_world(generate(n, seed=42, linked_share=0.5), d)
    gen = time.perf_counter() - t0
    db = d / "store.db"
    imp_wall, imp_rss, out = run_measured(usermap("mappings", "import", "--create", d / "mappings.csv",
                                                  "--store", db, "--force"))
    links = sum(1 for _ in open(d / "mappings.csv")) - 1
    plan_wall, plan_rss, out = run_measured(usermap("plan", d, "--store", db, "--out",
                                                    d / "plan.json", "--force"))
    changes = out.splitlines()[0]
    pipe_wall, pipe_rss, _ = run_measured([PY, "-c", PIPELINE, str(d)])
    return {"n": n, "gen_s": gen, "links": links, "import_s": imp_wall, "plan_s": plan_wall,
            "plan_mb": plan_rss, "pipeline_s": pipe_wall, "pipeline_mb": pipe_rss,
            "ratio": plan_wall / pipe_wall, "changes": changes,
            "snapshot_mb": sum(f.stat().st_size for f in d.iterdir() if f.is_file()) / 2**20}


def bench_import_1m(work: Path) -> dict:
    """`mappings import` of exactly 1,000,000 links into an empty store."""
    import csv
    path = work / "links_1m.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email",
                    "method", "mapped_at"])
        for i in range(1_000_000):
            e = f"user{i}@example.com"
            w.writerow([str(100000 + i), str(9000000 + i), e, e, "email",
                        "2026-01-01T00:00:00Z"])
    wall, rss, out = run_measured(usermap("mappings", "import", "--create", path, "--store",
                                          work / "import_1m.db"))
    return {"links": 1_000_000, "import_s": wall, "import_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,200000,1000000")
    ap.add_argument("--keep", default=None, help="work folder to keep (default: a temp folder)")
    ap.add_argument("--skip-import-1m", action="store_true")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="usermap-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = []
        for n in [int(x) for x in args.sizes.split(",")]:
            r = bench_size(n, work)
            rows.append(r)
            print(f"n={n:>8}  snapshot {r['snapshot_mb']:7.1f} MB  links {r['links']:>7}  "
                  f"import {r['import_s']:6.2f} s  plan {r['plan_s']:6.2f} s "
                  f"({r['plan_mb']:6.0f} MB)  pandas+datacompy {r['pipeline_s']:6.2f} s "
                  f"({r['pipeline_mb']:6.0f} MB)  ratio {r['ratio']:.2f}", flush=True)
            print(f"           {r['changes']}", flush=True)
        if not args.skip_import_1m:
            r = bench_import_1m(work)
            print(f"mappings import of {r['links']:,} links: {r['import_s']:.2f} s "
                  f"({r['import_mb']:.0f} MB)  target < 10 s", flush=True)
        print("targets: ratio <= 1.0 at 200k and 1M; plan peak memory at 1M < 2048 MB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
