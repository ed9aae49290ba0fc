"""The console script (usermap/launch.py) and cli.main (issue 18 "concurrency handed in", issue 19
items 2 and 4): output that cannot be written is never exit 0; the read-ahead child never
outlives its command; cli.main in this process leaves the GC and pandas' options as it found them
and never ends the process; one engine switch, USERMAP_ENGINE, checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from usermap.sandbox.scenarios import generate, write_world

pytestmark = [pytest.mark.issue(18), pytest.mark.issue(19)]

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def usermap(*args, env=None, **kw) -> subprocess.CompletedProcess:
    """`usermap ARGS` through the console script's code, as a process."""
    kw.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "usermap.launch", *map(str, args)],
                          env={**ENV, **(env or {})}, timeout=180, **kw)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A snapshot (300 users), a store holding its links, and a plan that adds links."""
    root = tmp_path_factory.mktemp("site")
    write_world(generate(300, seed=7, linked_share=0.5), root / "snap")
    assert usermap("mappings", "import", root / "snap" / "mappings.csv", "--store",
                   root / "u.db", "--create").returncode == 0
    p = usermap("plan", root / "snap", "--store", root / "u.db", "--out", root / "plan.json")
    assert p.returncode == 0, p.stderr
    return root


COMMANDS = {
    "audit": lambda r, t: ["audit", r / "snap", "--store", r / "u.db", "--out", t / "audit"],
    "plan": lambda r, t: ["plan", r / "snap", "--store", r / "u.db", "--out", t / "p.json"],
    "apply": lambda r, t: ["apply", r / "plan.json", "--store", t / "u.db"],
    "apply --yes": lambda r, t: ["apply", r / "plan.json", "--store", t / "u.db", "--yes"],
    "mappings export": lambda r, t: ["mappings", "export", t / "m.csv", "--store", r / "u.db"],
}


def _copy_store(site, tmp_path):
    (tmp_path / "u.db").write_bytes((site / "u.db").read_bytes())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_output_to_a_full_device_is_not_exit_0(site, tmp_path, name):
    _copy_store(site, tmp_path)
    with open("/dev/full", "w") as full:
        p = usermap(*COMMANDS[name](site, tmp_path), stdout=full, stderr=subprocess.PIPE,
                    capture_output=False)
    assert p.returncode != 0
    assert b"No space left on device" in p.stderr and b"Traceback" not in p.stderr


@pytest.mark.parametrize("name", list(COMMANDS))
def test_output_to_a_closed_pipe_is_not_exit_0(site, tmp_path, name):
    _copy_store(site, tmp_path)
    read, write = os.pipe()
    os.close(read)   # the reader left before the command wrote a line
    try:
        p = usermap(*COMMANDS[name](site, tmp_path), stdout=write, stderr=subprocess.PIPE,
                    capture_output=False)
    finally:
        os.close(write)
    assert p.returncode != 0, p.stderr
    assert b"Traceback" not in p.stderr


def test_output_that_is_written_is_exit_0(site, tmp_path):
    _copy_store(site, tmp_path)
    p = usermap(*COMMANDS["apply --yes"](site, tmp_path))
    assert p.returncode == 0 and b"applied as run" in p.stdout, p.stderr


def test_an_unknown_engine_exits_2_naming_the_variable(site, tmp_path):
    p = usermap(*COMMANDS["plan"](site, tmp_path), env={"USERMAP_ENGINE": "turbo"})
    assert p.returncode == 2
    assert b"USERMAP_ENGINE" in p.stderr and b"turbo" in p.stderr
    assert not (tmp_path / "p.json").exists()


def test_cli_main_in_process_leaves_the_process_as_it_found_it(site, tmp_path):
    """GC on and unfrozen, pandas' infer_string as set, no os._exit: the probe prints after."""
    _copy_store(site, tmp_path)
    code = textwrap.dedent("""
        import gc, json, sys
        import pandas as pd
        from usermap import cli
        site, tmp = sys.argv[1], sys.argv[2]
        pd.set_option("future.infer_string", True)
        before = [gc.isenabled(), gc.get_freeze_count(), pd.get_option("future.infer_string")]
        codes = [cli.main(["plan", f"{site}/snap", "--store", f"{tmp}/u.db", "--out",
                           f"{tmp}/p.json"]),
                 cli.main(["audit", f"{site}/snap", "--store", f"{tmp}/u.db", "--out",
                           f"{tmp}/audit"]),
                 cli.main(["apply", f"{tmp}/p.json", "--store", f"{tmp}/u.db", "--yes"]),
                 cli.main(["mappings", "export", f"{tmp}/m.csv", "--store", f"{tmp}/u.db"])]
        after = [gc.isenabled(), gc.get_freeze_count(), pd.get_option("future.infer_string")]
        print(json.dumps({"codes": codes, "before": before, "after": after}))
        """)
    p = subprocess.run([sys.executable, "-c", code, str(site), str(tmp_path)], env=ENV,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["codes"] == [0, 0, 0, 0]
    assert out["before"] == out["after"] == [True, 0, True]


# --- the read-ahead child dies with its command (issue 19 item 2) ---------------------------
_OWNER = ('{"id":"%d","email":"u%d@example.com","firstName":"F%d","lastName":"L%d",'
          '"userId":%d,"userIdIncludingInactive":%d,"type":"PERSON","archived":false,'
          '"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2020-01-01T00:00:00Z","teams":[]}')


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A snapshot whose owners file keeps the child busy for a while (200k owners)."""
    root = tmp_path_factory.mktemp("big")
    write_world(generate(50, seed=3), root / "snap")
    n = 200_000
    text = "[" + ",".join([_OWNER % (i, i, i % 100, i % 50, i, i) for i in range(n)]) + "]"
    (root / "snap" / "hubspot_owners.json").write_text(text, encoding="utf-8")
    assert usermap("init", "--store", root / "u.db").returncode == 0
    return root


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie does nothing; whoever adopted it reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_child_is_gone_within_half_a_second_of_a_signal(big, tmp_path, sig):
    proc = subprocess.Popen([sys.executable, "-m", "usermap.launch", "plan", str(big / "snap"),
                             "--store", str(big / "u.db"), "--out", str(tmp_path / "p.json")],
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        child = []
        while not child and proc.poll() is None and time.monotonic() < deadline:
            child = _children(proc.pid)
            time.sleep(0.002)
        assert child, "the command started no read-ahead child"
        proc.send_signal(sig)
        sent = time.monotonic()
        while _running(child[0]) and time.monotonic() - sent < 5:
            time.sleep(0.005)
        gone = time.monotonic() - sent
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"{signal.Signals(sig).name}: child gone {gone * 1000:.0f} ms after the signal")
    assert gone < 0.5
    assert proc.returncode != 0


@pytest.mark.parametrize("argv", [
    ["plan", "SNAP", "--store", "s.db", "--out", "p.json"],
    ["plan", "--store", "s.db", "SNAP", "--out", "p.json", "--force"],
    ["plan", "--store=s.db", "--only", "x:1", "SNAP", "--out", "p.json"],
    ["audit", "--config", "c.toml", "--store", "s.db", "--out", "o", "SNAP"],
    ["audit", "--store", "s.db", "--out", "o", "--", "SNAP"],
])
def test_the_launcher_finds_the_snapshot_the_parser_finds(argv):
    """The child is started before the parser is imported: its reading of the words must agree
    with the parser's (and read_owners uses the child only for the file it reads anyway)."""
    from usermap import cli
    from usermap.launch import snapshot_argument
    assert snapshot_argument(argv) == cli.build_parser().parse_args(argv).snapshot == "SNAP"


def test_the_console_script_keeps_jsonschemas_iri_grammar_out():
    """papermill (`usermap run`) and Voilà (`usermap tab`) import jsonschema, whose optional IRI
    checker builds a grammar at import: the console script never loads it, and jsonschema
    still imports and validates without it."""
    code = textwrap.dedent("""
        import sys
        from usermap import launch
        sys.argv = ["usermap", "--version"]
        try:
            launch.run()
        except SystemExit:
            pass
        import jsonschema, nbformat, papermill
        jsonschema.validate({"a": 1}, {"type": "object"})
        print("rfc3987_syntax loaded:", sys.modules.get("rfc3987_syntax") is not None)
        """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert "rfc3987_syntax loaded: False" in p.stdout
