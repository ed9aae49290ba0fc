"""``usermap sandbox --activities N`` (issue 21): the command logs N calls and SMS and serves them
beside the owners; it takes them from ``usermap.sandbox.activities_world`` when that module is
installed and from crm.py's stand-in otherwise; bad values are exit 2."""

from __future__ import annotations

import importlib.util
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import runkit
from crmkit import post
from usermap import cli
from usermap.sandbox import command
from usermap.sandbox.scenarios import generate

ROOT = Path(__file__).resolve().parents[2]


def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


class _Base:
    """The started command's URL, as a server object for crmkit.post."""

    def __init__(self, url: str):
        self.base_url = url


def test_sandbox_serves_the_activities_it_logs():
    sb = subprocess.Popen(
        [sys.executable, "-m", "usermap.launch", "sandbox", "--users", "60", "--seed", "4",
         "--activities", "300", "--search-rate", "0", "--max-seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(sb.stdout, q), daemon=True).start()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("  CRM:") for line in lines):
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, sb.stderr.read()
            lines.append(line)
        text = "".join(lines)
        assert "+ 300 activities" in text
        calls, sms = map(int, re.search(r"(\d+) calls, (\d+) communications", text).groups())
        assert calls + sms == 300
        srv = _Base(re.search(r"http://127\.0\.0\.1:\d+", lines[0]).group(0))
        for kind, n in (("calls", calls), ("communications", sms)):
            for prefix in ("/crm/v3/objects/", "/crm/objects/2026-03/"):
                status, _, page = post(srv, f"{prefix}{kind}/search", {"limit": 1})
                assert status == 200 and page["total"] == n
    finally:
        runkit.stop(sb, signal.SIGINT, timeout=15)
    assert sb.returncode == 0, sb.stderr.read()


def test_activities_come_from_the_world_module_when_it_exists():
    world = generate(30, seed=2)
    crm, how, _ = command.log_activities(world, 40, seed=2)
    assert crm.count() == 40
    if importlib.util.find_spec(command.ACTIVITIES_WORLD) is None:
        assert how.startswith("stand-in")
        linked = dict(zip(world.links["aloware_user_id"], world.links["hubspot_owner_id"]))
        owners = {crm.get(k, i)["properties"].get("hubspot_owner_id")
                  for k in ("calls", "communications") for i in crm.ids(k)}
        assert owners - {None} <= set(linked.values())
    else:
        assert "timeline" in how


def test_bad_activities_options_exit_2(capsys, tmp_path):
    assert cli.main(["sandbox", "--activities", "-1"]) == 2
    assert "--activities" in capsys.readouterr().err
    assert cli.main(["sandbox", "--activities", "5", "--snapshot", str(tmp_path)]) == 2
    assert "--activities" in capsys.readouterr().err
    assert cli.main(["sandbox", "--search-rate", "-2"]) == 2
    assert "--search-rate" in capsys.readouterr().err
