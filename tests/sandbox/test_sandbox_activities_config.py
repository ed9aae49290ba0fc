"""`usermap sandbox --activities N --config-out FILE` (issue 21): beside the config it writes the
world's store and evidence export, the config names the store and Aloware's app id, and the
`usermap activities impact` command it prints works as printed (run by a shell from the same
folder), finding the world's misattributed activities."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import runkit
from runkit import USERMAP

pytestmark = pytest.mark.issue(21)

ROOT = Path(__file__).resolve().parents[2]


def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_the_printed_impact_command_works_as_printed(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
    env["PATH"] = f"{Path(USERMAP).parent}{os.pathsep}{env.get('PATH', '')}"
    sb = subprocess.Popen(
        [sys.executable, "-m", "usermap.launch", "sandbox", "--users", "120", "--seed", "5",
         "--activities", "400", "--max-seconds", "120", "--config-out", "demo/usermap.toml"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(sb.stdout, q), daemon=True).start()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any("usermap activities impact" in line for line in lines):
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "".join(lines) + sb.stderr.read()
            lines.append(line)
        demo = tmp_path / "demo"
        for name in ("usermap.toml", "aloware_export.csv", "activities.db", "evidence.jsonl"):
            assert (demo / name).is_file(), name
        toml = (demo / "usermap.toml").read_text()
        assert '[store]\npath = "activities.db"' in toml and "[activities]\napp_id = " in toml
        printed = lines[-1].strip()
        assert printed == ("HUBSPOT_ACCESS_TOKEN=sandbox ALOWARE_API_TOKEN=sandbox usermap "
                           "activities impact --config demo/usermap.toml --evidence "
                           "demo/evidence.jsonl --out impact/")
        p = subprocess.run(["bash", "-c", printed], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        summary = json.loads((tmp_path / "impact" / "summary.json").read_text())
        truth = json.loads((demo / "truth.json").read_text())
        assert summary["misattributed"] == len(truth["misattributed"]) > 0
        assert summary["by_grade"]["A"] > 0            # the evidence export was read
    finally:
        runkit.stop(sb, signal.SIGINT, timeout=15)
