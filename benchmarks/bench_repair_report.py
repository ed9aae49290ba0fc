"""Benchmark: the report and e-mail of an activities repair run (issue 21: "recorded like a
sync, with its report and notification") for a large run, so that recording it stays small
beside the run's own HubSpot time.

A plan of ``--n`` changes over ``--people`` Aloware users, every ninth skipped as changed since
the plan, goes through ``report.repairrun.build_repair_run`` (the counts per person from the
run's journal rows), the page (``to_html``: the report's stylesheet, the first
render.REPAIR_PAGE_PEOPLE people) and the e-mail (``notify.build_message``: text and HTML parts,
CSS inlined). Printed: the seconds of each step the first time (what a run pays: templates
compiled then) and the best of ``--repeat``, and the sizes.

Usage: python benchmarks/bench_repair_report.py [--n 100000] [--people 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from usermap.config import Config
    from usermap.notify import build_message
    from usermap.report.repairrun import build_repair_run
    obj = {"call": "calls", "sms": "communications"}
    changes = [{"object": "call" if i % 3 else "sms", "activity_id": str(i),
                "aloware_user_id": str(i % a.people), "from": "1", "to": "2"}
               for i in range(a.n)]
    plan = {"kind": "repair", "undo_of": "", "changes": changes}
    rows = {(obj[c["object"]], c["activity_id"]):
            {"state": "done" if i % 9 else "skipped", "reason": "skipped: changed since the plan"}
            for i, c in enumerate(changes)}
    people = {(obj[c["object"]], c["activity_id"]): c["aloware_user_id"] for c in changes}
    best = {"build": 1e9, "page": 1e9, "email": 1e9}
    first = {}
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        r = build_repair_run(run_id="R", generated_at="2026-12-06T00:00:00Z", plan=plan,
                             rows=rows, people_of=people, names={}, resumed=False,
                             config_arg="usermap.toml", plan_file="plan.json")
        t1 = time.perf_counter()
        page = r.to_html()
        t2 = time.perf_counter()
        mail = build_message(r, Config()).as_bytes()
        t3 = time.perf_counter()
        for k, v in (("build", t1 - t0), ("page", t2 - t1), ("email", t3 - t2)):
            best[k] = min(best[k], v)
            first.setdefault(k, v)
    print(f"{a.n:,} changes, {a.people:,} people (first / best of {a.repeat}): build "
          f"{first['build']:.3f} / {best['build']:.3f} s, page {first['page']:.3f} / "
          f"{best['page']:.3f} s ({len(page) / 1e3:.0f} kB), e-mail {first['email']:.3f} / "
          f"{best['email']:.3f} s ({len(mail) / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
