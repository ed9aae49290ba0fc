"""How fast is ``usermap fetch`` next to the barest client that could read the same pages?

Serves 100,000 active + 5,000 archived HubSpot owners and 2,000 Aloware users from
``usermap sandbox --snapshot`` (its own process), then in the same run, alternately:

- ``usermap fetch`` as a subprocess (interpreter start, imports, the official hubspot-api-client
  with raw pages, validation, writing the snapshot: everything a scheduler pays), and
- a bare client in a subprocess too: ``urllib.request`` + ``json.loads`` over the same pages
  (``limit=500``, both listings, following ``paging.next.after``, plus the Aloware users).

Prints both times, their ratio (target ≤ 1.2) and the requests ``usermap fetch`` made against
``ceil(active/500) + ceil(archived/500) + 1`` (+ retries).

    .venv/bin/python benchmarks/bench_fetch.py [--active 100000] [--archived 5000]
        [--users 2000] [--repeat 3] [--latency MS]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKENS = {"HUBSPOT_ACCESS_TOKEN": "bench-hub-token", "ALOWARE_API_TOKEN": "bench-alo-token"}

BARE_CLIENT = r'''
import json, sys, time, urllib.request
base, hub, alo = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
requests = 0
def get(url, headers={}):
    global requests
    requests += 1
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
        return json.loads(r.read())
users = get(f"{base}/api/v1/webhook/users?api_token={alo}")
owners = []
for archived in ("false", "true"):
    after = None
    while True:
        url = f"{base}/crm/v3/owners/?limit=500&archived={archived}"
        if after:
            url += "&after=" + after
        page = get(url, {"Authorization": "Bearer " + hub})
        owners += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            break
print(json.dumps({"owners": len(owners), "users": len(users), "requests": requests,
                  "inner_seconds": time.perf_counter() - t}))
'''


def build_snapshot(folder: Path, active: int, archived: int, users: int, seed: int) -> None:
    from usermap.sandbox.scenarios import generate
    from usermap.sandbox.scenarios import extra_archived_owners
    from usermap.sources.snapshot import write_snapshot
    world = generate(users, seed=seed, n_owners=active)
    owners = [dict(o, archived=False) for o in world.owners]   # exactly `active` active owners
    owners += extra_archived_owners(owners, archived, seed=seed)
    write_snapshot(folder, world.users, owners)


def start_sandbox(snapshot: Path, cfg: Path, latency: int, log: Path):
    env = dict(os.environ, **TOKENS)
    proc = subprocess.Popen(
        [sys.executable, "-m", "usermap.launch", "sandbox", "--snapshot", str(snapshot),
         "--max-seconds", "1800", "--latency", str(latency), "--config-out", str(cfg)],
        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True, env=env, cwd=ROOT)
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the sandbox ended early:\n" + "".join(lines) + log.read_text())
        lines.append(line)
        if "usermap fetch" in line:
            break
    base = re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0)
    return proc, base, "".join(lines)


def run_fetch(cfg: Path, out: Path) -> tuple[float, dict]:
    env = dict(os.environ, **TOKENS)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "usermap.launch", "fetch", "--config", str(cfg),
                        "--out", str(out)], capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"usermap fetch failed ({r.returncode}): {r.stderr}")
    for token in TOKENS.values():
        assert token not in r.stdout + r.stderr, "a token leaked into the output"
    return elapsed, json.loads((out / "fetch.json").read_text())


def run_bare(base: str) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", BARE_CLIENT, base, TOKENS["HUBSPOT_ACCESS_TOKEN"],
                        TOKENS["ALOWARE_API_TOKEN"]], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(r.stdout)


def startup_figures(tmp: Path, repeat: int) -> None:
    """Start-up: ``usermap fetch --help``, a 10-owner fetch and the bare client on it, next to a
    bare ``python -c pass`` (alternated, medians)."""
    build_snapshot(tmp / "small", 10, 0, 10, 1)
    proc, base, _ = start_sandbox(tmp / "small", tmp / "small_cfg" / "usermap.toml", 0,
                                  tmp / "small.log")
    times: dict[str, list[float]] = {"python -c pass": [], "usermap fetch --help": [],
                                     "usermap fetch (10 owners)": [], "bare client (10 owners)": []}
    try:
        for i in range(max(5, repeat)):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            times["python -c pass"].append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "usermap.launch", "fetch", "--help"], check=True,
                           capture_output=True, cwd=ROOT)
            times["usermap fetch --help"].append(time.perf_counter() - t)
            times["usermap fetch (10 owners)"].append(
                run_fetch(tmp / "small_cfg" / "usermap.toml", tmp / f"small{i}")[0])
            times["bare client (10 owners)"].append(run_bare(base)[0])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for k, v in times.items():
        print(f"start-up: {k:<28} {statistics.median(v) * 1000:6.0f} ms (median of {len(v)})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--active", type=int, default=100_000)
    ap.add_argument("--archived", type=int, default=5_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--latency", type=int, default=0, help="ms the sandbox adds per answer")
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_fetch.") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        build_snapshot(tmp / "served", a.active, a.archived, a.users, a.seed)
        print(f"world: {a.active} active + {a.archived} archived owners, {a.users} users "
              f"(built in {time.perf_counter() - t:.1f} s)")
        proc, base, banner = start_sandbox(tmp / "served", tmp / "cfg" / "usermap.toml",
                                           a.latency, tmp / "sandbox.log")
        try:
            fetch_times, bare_times, infos, bares = [], [], [], []
            for i in range(a.repeat):   # alternate, so drift hits both alike
                s, info = run_fetch(tmp / "cfg" / "usermap.toml", tmp / f"snap{i}")
                fetch_times.append(s)
                infos.append(info)
                s, bare = run_bare(base)
                bare_times.append(s)
                bares.append(bare)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        startup_figures(tmp, a.repeat)

    info, bare = infos[-1], bares[-1]
    assert info["counts"]["hubspot_owners"] == bare["owners"] == a.active + a.archived
    assert info["counts"]["aloware_users"] == a.users
    expected = math.ceil(a.active / 500) + math.ceil(a.archived / 500) + 1
    f, b = statistics.median(fetch_times), statistics.median(bare_times)
    inner_f = statistics.median(x["seconds"] for x in infos)
    inner_b = statistics.median(x["inner_seconds"] for x in bares)
    print(f"sandbox latency: {a.latency} ms per answer; {a.repeat} runs each, medians")
    print(f"usermap fetch (subprocess, end to end): {f:6.2f} s   runs: "
          + ", ".join(f"{x:.2f}" for x in fetch_times))
    print(f"bare urllib + json.loads (subprocess):  {b:6.2f} s   runs: "
          + ", ".join(f"{x:.2f}" for x in bare_times))
    print(f"ratio end to end: {f / b:.2f}  (target <= 1.2)")
    print(f"  transfer only: usermap {inner_f:.2f} s (fetch.json 'seconds') vs bare "
          f"{inner_b:.2f} s -> ratio {inner_f / inner_b:.2f}")
    print(f"requests: usermap {info['requests']} (retries {info['retries']}), bare "
          f"{bare['requests']}, expected ceil({a.active}/500)+ceil({a.archived}/500)+1 = "
          f"{expected} + retries -> {'OK' if info['requests'] == expected + info['retries'] else 'MISMATCH'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
