"""Issue 19 item 15: the README's transcript and every `usermap --help` example match what the
commands print and run as written. Every example line of every `usermap [CMD] --help` is run
through /bin/sh in a temporary folder against the sandbox it starts itself (the sandbox example
runs as written, in the background); the README transcript is run and compared with its printed
output, store ids and run ids normalised.

Each `usermap` of a shell line is forked from a warm process with the shell's own standard
input, output and error (tests/forkcli.py, ShellServer), as the other tests' commands are; the
console script's own start-up is tested in tests/commands/test_launch.py.

One substitution, stated: an example's run id (`usermap undo 20260101T120000Z-1a2b ...`) stands
for a run of the store; the newest one that `usermap runs` lists is used."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import forkcli
import runkit
from usermap import cli

RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b")
STORE_ID = re.compile(r"\b[0-9a-f]{32}\b")


CONSOLE_BIN = str(Path(runkit.USERMAP).parent)  # the console script's folder (the venv's bin)
BIN = CONSOLE_BIN       # where the shell lines find `usermap` first (shell_bin sets it)


@pytest.fixture(scope="module", autouse=True)
def shell_bin():
    """The `usermap` the shell lines find first on PATH: forked from a warm process
    (tests/forkcli.py, ShellServer), as the other tests' commands are; `sandbox` and `tab`
    run the console script itself."""
    global BIN
    with forkcli.ShellServer() as shell:
        BIN = shell.bin
        yield
    BIN = CONSOLE_BIN


def _env(tokens: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
    env["PATH"] = os.pathsep.join([BIN, CONSOLE_BIN, os.environ.get("PATH", "")])
    if tokens:
        env.update(HUBSPOT_ACCESS_TOKEN="sandbox", ALOWARE_API_TOKEN="sandbox")
    return env


def help_examples(parser=None, path=()) -> dict[tuple, list[str]]:
    """{command path: the example lines of its --help epilog}, the top level included."""
    parser = parser or cli.build_parser()
    out = {}
    if parser.epilog:
        lines = parser.epilog.split("Example", 1)[-1].splitlines()[1:]
        out[path] = [ln.strip() for ln in lines if ln.startswith("  ") and ln.strip()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(help_examples(sub, path + (name,)))
    return out


def sh(line: str, cwd, *, timeout=300, tokens=True):
    return subprocess.run(line, shell=True, capture_output=True, text=True, cwd=cwd,
                          env=_env(tokens), timeout=timeout)


def _background(line: str, cwd, until, *, timeout=120, tokens=True):
    """Start ``line`` (a long-running example) and wait until ``until()`` is true."""
    proc = subprocess.Popen(line.rstrip("& "), shell=True, cwd=cwd, env=_env(tokens),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    t0 = time.monotonic()
    while not until():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() - t0 < timeout, f"{line}: not up within {timeout} s"
        time.sleep(0.2)
    return proc


def _stop(proc) -> int:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


# the order of a first session: each example can use what the ones before made
ORDER = [("fetch",), ("init",), ("audit",), ("plan",), ("apply",), ("runs",), ("undo",),
         ("mappings", "export"), ("mappings",), ("mappings", "import"), ("map",), ("unmap",),
         ("report",), ("run",), ("activities",), ("activities", "impact"),
         ("activities", "plan"), ("activities", "apply"), ("activities", "undo")]


def test_every_command_example_runs_as_written(tmp_path):
    examples = help_examples()
    assert set(examples) - {(), ("sandbox",), ("tab",)} == set(ORDER)   # every one is run
    (sandbox,) = examples[("sandbox",)]
    server = _background(sandbox, tmp_path, lambda: (tmp_path / "usermap.toml").is_file()
                         and (tmp_path / "aloware_export.csv").is_file())
    try:
        for path in ORDER:
            for line in examples[path]:
                if path in (("undo",), ("activities", "undo")):   # the newest run: a sync's,
                                                                  # then the repair's
                    newest = RUN_ID.findall(sh("usermap runs --store usermap.db",
                                               tmp_path).stdout)[-1]
                    line = RUN_ID.sub(newest, line)
                p = sh(line, tmp_path)
                assert p.returncode == 0, f"{line}\n{p.stdout}{p.stderr}"
        (tab,) = examples[("tab",)]
        if not _port_free(8866):                 # a shared machine: another tab may hold it
            tab = tab.replace("--port 8866", f"--port {_free_port()}")
        out = tmp_path / "tab.out"
        out.touch()
        proc = subprocess.Popen(f"{tab} > {shlex.quote(str(out))} 2>&1", shell=True,
                                cwd=tmp_path, env=_env(), start_new_session=True)
        try:
            t0 = time.monotonic()
            while "?token=" not in out.read_text(encoding="utf-8", errors="replace"):
                assert proc.poll() is None, out.read_text()
                assert time.monotonic() - t0 < 180
                time.sleep(0.3)
        finally:
            assert _stop(proc) in (0, 143, -signal.SIGTERM)  # the shell or usermap answers
    finally:
        assert _stop(server) in (0, 143, -signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_first_try_example_of_usermap_help_runs_as_written(tmp_path):
    lines = help_examples()[()]
    assert lines[0].endswith("&")
    server = _background(lines[0], tmp_path, lambda: (tmp_path / "usermap.toml").is_file(),
                         tokens=False)
    try:
        script = "\n".join(["set -e"] + lines[1:])
        p = sh(script, tmp_path, tokens=False)       # a newcomer's shell: no tokens yet
        assert p.returncode == 0, p.stdout + p.stderr
        assert (tmp_path / "audit" / "summary.json").is_file()
    finally:
        _stop(server)


def _transcript() -> tuple[str, list[tuple[str, str]]]:
    """The README's transcript: its setup command and (command, printed output) pairs."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    head, rest = text.split("What the engine says about a generated 200-user world", 1)
    setup = re.search(r"`(python -c \"[^`]+)`", rest).group(1)
    block = rest.split("```console", 1)[1].split("```", 1)[0]
    pairs, cmd, out = [], None, []
    for line in block.strip("\n").splitlines():
        if line.startswith("$ "):
            if cmd:
                pairs.append((cmd, "\n".join(out)))
            cmd, out = line[2:], []
        else:
            out.append(line)
    pairs.append((cmd, "\n".join(out)))
    return setup, pairs


def _normal(text: str) -> str:
    return STORE_ID.sub("<store id>", RUN_ID.sub("<run id>", text.strip()))


def test_the_readme_transcript_prints_what_it_shows(tmp_path):
    setup, pairs = _transcript()
    assert len(pairs) >= 6
    p = sh(setup.replace("python ", shlex.quote(sys.executable) + " ", 1), tmp_path)
    assert p.returncode == 0, p.stderr
    for cmd, shown in pairs:
        p = sh(cmd, tmp_path)
        assert p.returncode == 0, f"{cmd}\n{p.stderr}"
        assert _normal(p.stdout) == _normal(shown), cmd


def test_the_readme_sandbox_example_runs_as_written(tmp_path):
    """README "Trying it without real accounts": the sandbox line (in the background: it serves
    until stopped), then the fetch line as written."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = text.split("## Trying it without real accounts: the sandbox", 1)[1]
    lines = [ln.split("   #")[0].strip() for ln in block.split("```", 2)[1].splitlines()
             if ln.strip()]
    assert lines[0].startswith("usermap sandbox ") and "usermap fetch " in lines[1]
    server = _background(lines[0], tmp_path, lambda: (tmp_path / "sandbox" / "usermap.toml")
                         .is_file(), tokens=False)    # a sandbox with tokens requires those
    try:
        p = sh(lines[1], tmp_path, tokens=False)
        assert p.returncode == 0, p.stdout + p.stderr
        assert (tmp_path / "snapshot" / "hubspot_owners.json").is_file()
    finally:
        _stop(server)
