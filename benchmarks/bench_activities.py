"""Benchmark: `usermap activities impact` and a repair of 100k activities against the sandbox
(issue 21: requests equal the minimum for HubSpot's page sizes, time within 1.2x of what the
documented limits allow, memory bounded).

A world of ``--n`` calls and SMS (usermap.sandbox.activities_world) is served by the sandbox
in this process, with HubSpot's documented limits: search 5 requests a second, the rest 190 per
10 s. The `usermap` commands run as subprocesses with ``[activities] rate_share``
(``--share``, default 1.0) and are timed whole (start-up included). Printed:

- impact: search and batch-read requests against the minimum, ceil(calls/200) +
  ceil(sms/200) searches and ceil(read/50) batch reads per object (``read``: the activities
  whose owner history is needed, summary.json's ``history_read``); time against the least time
  the limits allow for those requests at the share (search and the rest have separate limits:
  the longer of the two); peak memory (max RSS) of the process;
- plan + apply --yes of the proven activities: batch updates against ceil(n/100) per object,
  the re-reads before each batch (ceil(batch/50)), the time against the limits.

Also printed: when the CRM requests reached the sandbox (first, last, rate, longest gaps), timed
from the command's start, so the time over the floor can be placed (start-up, stalls, tail).

Usage: python benchmarks/bench_activities.py [--n 100000] [--share 1.0] [--seed 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEARCH_PER_S, TEN_S = 5.0, 190


def run(args, env, cwd):
    """(CompletedProcess, seconds, max RSS MB of the `usermap` process, its start time). The
    RSS is GNU time's (``/usr/bin/time -f %M``): the children's rusage would count the forked
    image of this process, which holds the whole world."""
    usermap = str(Path(sys.executable).parent / "usermap")
    gnu_time = Path("/usr/bin/time")
    pre = [str(gnu_time), "-f", "maxrss=%M"] if gnu_time.exists() else []
    t0 = time.perf_counter()
    p = subprocess.run([*pre, usermap, *args], capture_output=True, text=True, env=env, cwd=cwd)
    sec = time.perf_counter() - t0
    if p.returncode:
        sys.exit(f"usermap {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    found = re.findall(r"maxrss=(\d+)", p.stderr)
    rss = int(found[-1]) / 1024 if found else float("nan")
    return p, sec, rss, t0


class Arrivals:
    """When each CRM request reached the sandbox (by operation): where the time went."""

    def __init__(self, crm):
        self.times: dict[str, list] = {}
        answer = crm.answer

        def timed(route, raw, query, owners):
            self.times.setdefault(f"{route[0]}/{route[1]}", []).append(time.perf_counter())
            return answer(route, raw, query, owners)
        crm.answer = timed

    def clear(self) -> None:
        self.times.clear()

    def report(self, t0: float) -> str:
        out = []
        for op, ts in sorted(self.times.items()):
            ts = sorted(ts)
            gaps = sorted((b - a for a, b in zip(ts, ts[1:])), reverse=True)[:3]
            if len(ts) < 2:
                out.append(f"{op} 1 at {ts[0] - t0:.1f} s")
                continue
            out.append(f"{op} {len(ts)} from {ts[0] - t0:.1f} s to {ts[-1] - t0:.1f} s "
                       f"({(len(ts) - 1) / (ts[-1] - ts[0]):.2f}/s; longest gaps "
                       f"{', '.join(f'{g:.2f}' for g in gaps)} s)")
        searches = [t for op, ts in self.times.items() if op.endswith("/search") for t in ts]
        if searches:
            end = max(searches)
            after = sum(t > end for op, ts in self.times.items() for t in ts)
            out.append(f"after the last search: {after} requests")
        return "; ".join(out)


def allowed(search: int, other: int, share: float) -> float:
    """The least time the documented limits allow for these requests: search and the rest
    have separate limits, so they may overlap (impact reads histories while it searches)."""
    return max(search / (SEARCH_PER_S * share), other / (TEN_S / 10 * share))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--share", type=float, default=1.0)
    ap.add_argument("--work", default="")
    ap.add_argument("--seed", type=int, default=3,
                    help="the world's seed: its users and owners, and (seed - 2) its activities")
    a = ap.parse_args()
    from usermap.sandbox import activities_world as aw
    from usermap.sandbox.scenarios import generate
    from usermap.sandbox.server import SandboxServer
    work = Path(a.work or tempfile.mkdtemp(prefix="bench-act-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world = generate(max(300, a.n // 20), seed=a.seed)
    _, start, _, _ = run(["--version"], os.environ, work)
    act = aw.build(world, a.n, a.seed - 2)
    crm = aw.crm_objects(act, search_rate=SEARCH_PER_S)
    arrivals = Arrivals(crm)
    for f in ("store.db",):
        (work / f).unlink(missing_ok=True)
    aw.write_store(act, work / "store.db")
    aw.write_evidence(act, work / "evidence.jsonl")
    print(f"world: {a.n} activities, {len(act.stories)} users, {len(act.truth)} misattributed "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    token = "bench-token-1234567890"
    env = {**os.environ, "HUBSPOT_ACCESS_TOKEN": token}
    with SandboxServer(world.users, world.owners, crm=crm, rate_limit=TEN_S,
                       hubspot_token=token, aloware_token=token).start(max_seconds=3600) as srv:
        (work / "usermap.toml").write_text(
            f'[hubspot]\nhost = "{srv.base_url}"\n\n[store]\npath = "store.db"\n\n'
            f'[activities]\napp_id = "{aw.APP_ID}"\nrate_share = {a.share}\n'
            f'guard_share = 1.0\n', encoding="utf-8")
        cfg = str(work / "usermap.toml")
        _, sec, rss, t_run = run(["activities", "impact", "--config", cfg, "--evidence",
                                  "evidence.jsonl", "--out", "impact"], env, work)
        s = json.loads((work / "impact" / "summary.json").read_text())
        st = dict(crm.stats)
        by = s["activities_by_object"]
        min_search = sum(math.ceil(by[k] / 200) for k in by)
        min_read = sum(math.ceil(v / 50) for v in s["history_read"].values())
        lim = allowed(min_search, min_read, a.share)
        print(f"impact: {s['activities']} scanned, {s['misattributed']} misattributed "
              f"(A {s['by_grade']['A']}, B {s['by_grade']['B']}, unknown "
              f"{s['by_grade']['unknown']})")
        print(f"  requests: search {st.get('search', 0)} (minimum {min_search}), batch read "
              f"{st.get('batch/read', 0)} (minimum {min_read}), 429s: search "
              f"{st.get('search_429', 0)}, the rest "
              f"{srv.stats.get('429', 0) - st.get('search_429', 0)}")
        print(f"  time {sec:.1f} s; the limits allow {lim:.1f} s at share {a.share:g}: "
              f"{sec / lim:.2f}x; peak memory {rss:.0f} MB (`usermap --version` "
              f"{start:.2f} s)")
        print(f"  arrivals: {arrivals.report(t_run)}")
        repair(cfg, env, work, crm, arrivals, a.share)

def repair(cfg: str, env, work: Path, crm, arrivals, share: float) -> None:
    """plan + apply --yes of the proven activities: batch updates and re-reads against the
    minimum, the time against the limits."""
    run(["activities", "plan", "--config", cfg, "--evidence", "evidence.jsonl",
         "--out", "plan.json"], env, work)
    plan = json.loads((work / "plan.json").read_text())
    before = dict(crm.stats)
    arrivals.clear()
    _, sec, _, t_run = run(["activities", "apply", "plan.json", "--config", cfg, "--yes"],
                           env, work)
    upd = crm.stats.get("batch/update", 0) - before.get("batch/update", 0)
    rd = crm.stats.get("batch/read", 0) - before.get("batch/read", 0)
    n_obj = {k: sum(c["object"] == k for c in plan["changes"]) for k in ("call", "sms")}
    min_upd = sum(math.ceil(v / 100) for v in n_obj.values())
    min_rd = sum(math.ceil(min(100, v - i) / 50) for v in n_obj.values()
                 for i in range(0, v, 100))
    lim = allowed(0, min_upd + min_rd, share)
    print(f"repair: {len(plan['changes'])} proven activities; batch update {upd} "
          f"(minimum {min_upd}), re-reads {rd} (minimum {min_rd}); time {sec:.1f} s, the "
          f"limits allow {lim:.1f} s ({sec / lim:.2f}x)")
    print(f"  arrivals: {arrivals.report(t_run)}")


if __name__ == "__main__":
    main()
