"""Benchmark: how many requests a minimal client needs to scan 100k activities in the sandbox's
HubSpot CRM side, against the minimum HubSpot's page sizes allow, and how long HubSpot's
documented limits would make it take (issue 21).

The sandbox logs ``--calls`` calls and ``--sms`` SMS over 90 days (random times, a quarter of them
on a stale owner). The minimal client, per object type:
  search   hs_timestamp ascending, 200 a page; at the 10,000-results cap it starts the next
           query after the last time it saw (GT), so no page is spent twice (exact when no two
           activities share that millisecond; the benchmark checks that every one was found);
  read     the found ids, 50 a request, with propertiesWithHistory of hubspot_owner_id;
  update   the stale ones to another owner, 100 a request.
Requests are counted by the server (``CrmObjects.stats``) and compared with the minimum:
ceil(n/200) searches, ceil(n/50) reads, ceil(k/100) updates. The time is measured unpaced (the
sandbox's own cost, search rate off) and computed for HubSpot's limits: searches at 5 a second
(exempt from the ten-second window), reads and updates at 190 per 10 s; the two run side by
side or one after the other. Peak memory of the process is printed too.

Usage: python benchmarks/bench_crm.py [--calls 70000] [--sms 30000] [--seed 1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from usermap.sandbox.crm import (BATCH_MAX, HISTORY_BATCH_MAX, SEARCH_MAX_LIMIT,  # noqa: E402
                                 SEARCH_MAX_RESULTS, CrmObjects)
from usermap.sandbox.scenarios import generate  # noqa: E402
from usermap.sandbox.server import SandboxServer  # noqa: E402

DAY = 86_400_000
T0 = 1_790_000_000_000
SEARCH_PER_S, TEN_SECONDLY = 5, 190
TOKEN = "bench"


def build(world, n_calls: int, n_sms: int, seed: int) -> tuple[CrmObjects, str, str]:
    rng = random.Random(seed)
    owners = [str(o["id"]) for o in world.owners if not o.get("archived")
              and o.get("userId") is not None and o.get("type") == "PERSON"]
    stale, good = owners[0], owners[1]
    crm = CrmObjects(search_rate=0)
    for i in range(n_calls + n_sms):
        ts = T0 + rng.randrange(90 * DAY)
        owner = stale if rng.random() < 0.25 else owners[rng.randrange(2, len(owners))]
        hist = [{"value": owner, "timestamp": ts, "sourceType": "INTEGRATION", "sourceId": "a"}]
        if i < n_calls:
            crm.add("calls", 10_000_000 + i, {"hs_timestamp": ts, "hubspot_owner_id": owner,
                                              "hs_call_duration": str(rng.randrange(900_000)),
                                              "hs_call_external_id": f"x{i}"}, hist)
        else:
            crm.add("communications", 10_000_000 + i, {
                "hs_timestamp": ts, "hubspot_owner_id": owner,
                "hs_communication_channel_type": "SMS"}, hist)
    return crm, stale, good


class Client:
    """One keep-alive connection; JSON in, JSON out."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: dict) -> dict:
        self.conn.request("POST", path, body=json.dumps(body).encode(),
                          headers={"Authorization": f"Bearer {TOKEN}",
                                   "Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = json.loads(r.read())
        if r.status not in (200, 207):
            raise RuntimeError(f"{path}: {r.status} {data}")
        return data


def scan(client: Client, kind: str) -> dict[str, dict]:
    """Every record of ``kind`` (id -> properties), by time, under the 10k cap: at the cap the
    next query starts after the last time seen (GT). Exact when no two activities share that
    millisecond (random times over 90 days: the caller checks every one was found)."""
    found: dict[str, dict] = {}
    since, after = None, 0
    while True:
        flt = ([{"filters": [{"propertyName": "hs_timestamp", "operator": "GT",
                              "value": since}]}] if since is not None else [])
        page = client.post(f"/crm/objects/2026-03/{kind}/search", {
            "filterGroups": flt, "sorts": ["hs_timestamp"], "limit": SEARCH_MAX_LIMIT,
            "after": str(after), "properties": ["hs_timestamp", "hubspot_owner_id"]})
        for r in page["results"]:
            found[r["id"]] = r["properties"]
        nxt = page.get("paging", {}).get("next", {}).get("after")
        if nxt is None:
            return found
        if int(nxt) + SEARCH_MAX_LIMIT <= SEARCH_MAX_RESULTS:
            after = int(nxt)
        else:
            since, after = page["results"][-1]["properties"]["hs_timestamp"], 0


def read_histories(client: Client, kind: str, ids: list[str]) -> dict[str, list]:
    out = {}
    for i in range(0, len(ids), HISTORY_BATCH_MAX):
        batch = client.post(f"/crm/objects/2026-03/{kind}/batch/read", {
            "inputs": [{"id": x} for x in ids[i:i + HISTORY_BATCH_MAX]], "properties": [],
            "propertiesWithHistory": ["hubspot_owner_id"]})
        for r in batch["results"]:
            out[r["id"]] = r["propertiesWithHistory"]["hubspot_owner_id"]
    return out


def update(client: Client, kind: str, ids: list[str], owner: str) -> None:
    for i in range(0, len(ids), BATCH_MAX):
        client.post(f"/crm/objects/2026-03/{kind}/batch/update", {
            "inputs": [{"id": x, "properties": {"hubspot_owner_id": owner}}
                       for x in ids[i:i + BATCH_MAX]]})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=70_000)
    ap.add_argument("--sms", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    world = generate(200, seed=a.seed)
    t = time.perf_counter()
    crm, stale, good = build(world, a.calls, a.sms, a.seed)
    t_build = time.perf_counter() - t
    srv = SandboxServer(world.users, world.owners, crm=crm, hubspot_token=TOKEN,
                        aloware_token=None, rate_limit=0).start(max_seconds=3600)
    try:
        client, counts, fixed = Client(srv.port), {}, {}
        t = time.perf_counter()
        for kind, n in (("calls", a.calls), ("communications", a.sms)):
            found = scan(client, kind)
            assert len(found) == n, (kind, len(found), n)
            hist = read_histories(client, kind, sorted(found))
            todo = sorted(i for i, h in hist.items() if h and h[0]["value"] == stale)
            update(client, kind, todo, good)
            fixed[kind] = len(todo)
        t_run = time.perf_counter() - t
        for op in ("search", "batch/read", "batch/update"):
            counts[op] = crm.stats[op]
    finally:
        srv.stop()
    n_all, k_all = a.calls + a.sms, sum(fixed.values())
    minimum = {"search": sum(math.ceil(n / SEARCH_MAX_LIMIT) for n in (a.calls, a.sms)),
               "batch/read": sum(math.ceil(n / HISTORY_BATCH_MAX) for n in (a.calls, a.sms)),
               "batch/update": sum(math.ceil(k / BATCH_MAX) for k in fixed.values())}
    s_time = counts["search"] / SEARCH_PER_S
    b_time = (counts["batch/read"] + counts["batch/update"]) / (TEN_SECONDLY / 10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n_all:,} activities ({a.calls:,} calls, {a.sms:,} SMS), {k_all:,} on a stale owner "
          f"re-pointed; sandbox built in {t_build:.1f} s")
    print(f"{'requests':14} {'client':>8} {'minimum':>8}")
    for op in counts:
        print(f"{op:14} {counts[op]:8,} {minimum[op]:8,}")
    print(f"{'all':14} {sum(counts.values()):8,} {sum(minimum.values()):8,}")
    print(f"unpaced wall time against the sandbox: {t_run:.1f} s")
    print(f"HubSpot's documented limits allow at best: searches {s_time:.0f} s at "
          f"{SEARCH_PER_S}/s beside reads and updates {b_time:.0f} s at {TEN_SECONDLY}/10 s: "
          f"{max(s_time, b_time):.0f} s side by side, {s_time + b_time:.0f} s one after the other")
    print(f"peak memory (max RSS, server and client in one process): {peak:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
