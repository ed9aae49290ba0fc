"""Where `make test` spends its CPU: the suite under pytest-xdist with a plugin that records,
per test, the CPU time of the worker, of its reaped children (Chromium, kernels, servers) and
of the `usermap` commands its fork server ran (tests/forkcli.py), then prints the files by CPU.

    .venv/bin/python benchmarks/suite_cpu.py [--top 30] [--tests] [pytest arguments, e.g. -n 3 tests/]

``--tests`` prints the tests themselves by CPU as well.

Nothing is timed against a target here; the figures tell which files to look at first.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    forked = getattr(sys.modules.get("forkcli"), "cpu_seconds", 0.0)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime + forked


class Plugin:
    """Loaded in each worker (``-p suite_cpu``); writes its rows where SUITE_CPU_DIR says."""

    def __init__(self):
        self.rows = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        a, t, started = _cpu(), time.perf_counter(), time.time()
        yield
        b = _cpu()
        self.rows.append((item.nodeid, b[0] - a[0], b[1] - a[1], time.perf_counter() - t,
                          started, os.environ.get("PYTEST_XDIST_WORKER", "main")))


    def pytest_sessionfinish(self, session):
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        Path(os.environ["SUITE_CPU_DIR"], f"{name}.json").write_text(json.dumps(self.rows))


def pytest_configure(config):
    if os.environ.get("SUITE_CPU_DIR"):
        config.pluginmanager.register(Plugin(), "suite-cpu-rows")


def _timeline(rows, t0: float) -> None:
    """Each worker's files in the order it ran them: start and end, seconds from the start."""
    files = {}
    for nodeid, _, _, seconds, started, worker in rows:
        key = (worker, nodeid.split("::")[0])
        a, b = files.get(key, (started, started + seconds))
        files[key] = (min(a, started), max(b, started + seconds))
    print("\nthe workers' files (start-end, seconds from the start of the run):")
    for worker in sorted({w for w, _ in files}):
        spans = sorted((a - t0, b - t0, f) for (w, f), (a, b) in files.items() if w == worker)
        busy = sum(b - a for a, b, _ in spans)
        print(f"  {worker}: ends at {spans[-1][1]:.0f} s, busy {busy:.0f} s; longest: "
              + ", ".join(f"{Path(f).name} {a:.0f}-{b:.0f}" for a, b, f in
                          sorted(spans, key=lambda x: x[0] - x[1])[:4]))


def main(argv: list[str]) -> int:
    top, by_test = 30, False
    while argv[:1] in (["--top"], ["--tests"]):
        if argv[0] == "--tests":
            by_test, argv = True, argv[1:]
        else:
            top, argv = int(argv[1]), argv[2:]
    with tempfile.TemporaryDirectory() as out:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**env, "SUITE_CPU_DIR": out,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                           os.environ.get("PYTHONPATH")]))}
        t0, t0_epoch = time.perf_counter(), time.time()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "suite_cpu",
                                "-p", "no:cacheprovider", *(argv or ["-n", "4", "--dist",
                                                                     "loadfile",
                                                                     "--no-loadscope-reorder",
                                                                     "-p", "no:nbval"])],
                               cwd=ROOT, env=env)
        wall = time.perf_counter() - t0
        rows = [r for f in Path(out).glob("*.json") for r in json.loads(f.read_text())]
    files = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    _timeline(rows, t0_epoch)
    for nodeid, me, kids, seconds, _, _ in rows:
        f = files[nodeid.split("::")[0]]
        f[0] += me
        f[1] += kids
        f[2] += seconds
        f[3] += 1
    cpu = sum(f[0] + f[1] for f in files.values())
    print(f"\n{len(rows)} tests, {wall:.0f} s wall, {cpu:.0f} s CPU (load average now "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'CPU s':>7} {'own':>6} {'children':>8} {'wall s':>7} {'tests':>5}  file")
    for name, (me, kids, seconds, n) in sorted(files.items(),
                                               key=lambda kv: -(kv[1][0] + kv[1][1]))[:top]:
        print(f"{me + kids:7.1f} {me:6.1f} {kids:8.1f} {seconds:7.1f} {n:5d}  {name}")
    if by_test:
        print(f"\n{'CPU s':>7} {'own':>6} {'children':>8} {'wall s':>7}  test")
        for nodeid, me, kids, seconds, _, _ in sorted(rows, key=lambda r: -(r[1] + r[2]))[:top]:
            print(f"{me + kids:7.1f} {me:6.1f} {kids:8.1f} {seconds:7.1f}  {nodeid}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
