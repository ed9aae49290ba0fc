"""`usermap` commands for the tests, each a real process of its own, forked from a warm one.

A `usermap` process spends most of a small command importing pandas, pyarrow and usermap. The
suite runs hundreds of them, so each test worker keeps one **fork server**: a process that has
imported all that once (``forkcli_server.py``). ``run(argv, ...)`` asks it for a child, which
takes the given working folder, environment, standard input, output and error files, and runs
``usermap.launch.run()`` exactly as the console script does: its own pid, exit code (a signal
gives -N, as with ``subprocess``), files and SQLite connections. What it cannot show is the
start-up itself (what the console script imports, signals to a running command, two commands
started together): tests of those run the real console script (``runkit.USERMAP``). The
variables Python reads at its own start-up (PYTHON*, LC_*, LANG) are the server's: a call with
other values of them gets a server started with those values.

``USERMAP_TEST_FORK=0`` turns the server off: every call is then a plain ``subprocess.run``.
"""

from __future__ import annotations

import atexit
import json
import locale
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SERVER = Path(__file__).with_name("forkcli_server.py")
USERMAP = str(Path(sys.executable).parent / "usermap")

# Variables read by Python's own start-up, which a forked child cannot take on.
_START_UP = ("PYTHON", "LC_", "LANG")

_lock = threading.Lock()        # one command at a time per server
LOCK_WAIT = 600                  # seconds a call waits for the command before it to end
_servers: dict[tuple, subprocess.Popen] = {}   # by the start-up variables they were started with
cpu_seconds = 0.0                # the CPU time of the commands run so far (benchmarks/suite_cpu.py)


def enabled() -> bool:
    return os.environ.get("USERMAP_TEST_FORK", "1") != "0"


def _server_for(env: dict) -> subprocess.Popen:
    """The fork server whose start-up variables are ``env``'s (started when there is none)."""
    key = tuple(sorted(_start_up(env).items()))
    server = _servers.get(key)
    if server is None or server.poll() is not None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_START_UP)
                and k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
        server = _servers[key] = subprocess.Popen(
            [sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            bufsize=0, stderr=subprocess.DEVNULL, env={**base, **dict(key)}, cwd="/")
        atexit.register(_stop, server)
    return server


def _stop(proc) -> None:
    try:
        proc.stdin.close()
        proc.wait(10)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        proc.kill()


def _start_up(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith(_START_UP)}


def run(argv, *, env: dict | None = None, cwd=None, timeout: float = 180,
        input: str | bytes | None = None, text: bool = True,
        umask: int | None = None) -> subprocess.CompletedProcess:
    """``usermap ARGV`` as ``subprocess.run([USERMAP, *argv], capture_output=True, ...)`` would
    run it: ``env`` is the whole environment (default: this process's), ``cwd`` the folder,
    ``umask`` the process's umask (default: this process's)."""
    argv = _strings(argv)
    env = dict(os.environ if env is None else env)
    if not enabled():
        return subprocess.run([USERMAP, *argv], capture_output=True, text=text, env=env,
                              cwd=cwd, timeout=timeout, input=input,
                              preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    return _Started(argv, None, env, cwd, input, umask).wait(timeout, text)


def start(argv, *, env: dict | None = None, cwd=None) -> "_Started | _Plain":
    """``usermap ARGV`` started (``run`` without the wait): ``.pid``, ``.poll()`` and
    ``.wait(timeout)``, which gives the CompletedProcess. Until then the worker's server runs
    nothing else."""
    return _begin(_strings(argv), None, env, cwd)


def python(code: str, *args, env: dict | None = None, cwd=None, timeout: float = 180,
           text: bool = True) -> subprocess.CompletedProcess:
    """``python -c CODE ARGS`` in a process forked from the warm server (pandas, pyarrow and
    usermap imported, no thread running), as ``subprocess.run(..., capture_output=True)``."""
    return start_python(code, *args, env=env, cwd=cwd).wait(timeout, text)


def start_python(code: str, *args, env: dict | None = None, cwd=None) -> "_Started | _Plain":
    """``python -c CODE ARGS`` started, as ``start`` starts a command."""
    return _begin(_strings(args), code, env, cwd)


def _strings(args) -> list[str]:
    """Arguments as the command gets them: bytes decoded as the file system does, paths and
    numbers as text."""
    return [os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args]


def _begin(argv: list[str], code: str | None, env, cwd) -> "_Started | _Plain":
    env = dict(os.environ if env is None else env)
    if not enabled():
        cmd = [USERMAP, *argv] if code is None else [sys.executable, "-c", code, *argv]
        return _Plain(subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE))
    return _Started(argv, code, env, cwd, None, None)


class _Plain:
    """``start`` or ``start_python`` with the fork server turned off: a plain process."""

    def __init__(self, proc: subprocess.Popen):
        self.pid, self._proc = proc.pid, proc

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float = 180, text: bool = True) -> subprocess.CompletedProcess:
        out, err = self._proc.communicate(timeout=timeout)
        if text:
            out, err = out.decode(), err.decode()
        return subprocess.CompletedProcess(self._proc.args, self._proc.returncode, out, err)


class _Started:
    """A request sent to the worker's fork server; its child is running."""

    def __init__(self, argv, code, env, cwd, input, umask):
        if not _lock.acquire(timeout=LOCK_WAIT):
            raise RuntimeError("the fork server is still running a command that was started "
                               "and never waited for")
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="forkcli-")
            out, err, inp = (os.path.join(self._tmp.name, n) for n in ("out", "err", "in"))
            with open(inp, "wb") as f:
                if input is not None:
                    f.write(input.encode() if isinstance(input, str) else input)
            request = {"argv": argv, "env": env, "cwd": os.fspath(cwd or os.getcwd()),
                       "stdin": inp, "stdout": out, "stderr": err,
                       "umask": _umask() if umask is None else umask}
            if code is not None:
                request["code"] = code
            self._args = [USERMAP, *argv] if code is None else [sys.executable, "-c", code,
                                                                 *argv]
            self._argv, self._files, self._ended = argv, (out, err), None
            self._server = _server_for(env)
            self._server.stdin.write((json.dumps(request) + "\n").encode())
            self._server.stdin.flush()
            self.pid = int(_line(self._server, 30, argv))
        except BaseException:
            _lock.release()
            raise

    def poll(self) -> int | None:
        """None while the child runs; then its exit code (as ``Popen.poll``)."""
        if self._ended is None and select.select([self._server.stdout], [], [], 0)[0]:
            self._ended = _line(self._server, 30, self._argv)
        return None if self._ended is None else int(self._ended.split()[0])

    def wait(self, timeout: float = 180, text: bool = True) -> subprocess.CompletedProcess:
        global cpu_seconds
        try:
            try:
                code, cpu = (self._ended or _line(self._server, timeout, self._argv)).split()
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                _line(self._server, 30, self._argv)
                raise
            cpu_seconds += float(cpu)
            data = [Path(p).read_bytes() for p in self._files]
            self._tmp.cleanup()
        finally:
            _lock.release()
        if text:
            enc = locale.getpreferredencoding(False)
            data = [d.decode(enc).replace("\r\n", "\n").replace("\r", "\n") for d in data]
        return subprocess.CompletedProcess(self._args, int(code), data[0], data[1])


def _umask() -> int:
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


def _line(server, timeout: float, argv) -> str:
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    if not ready:
        raise subprocess.TimeoutExpired([USERMAP, *argv], timeout)
    line = server.stdout.readline()
    if not line:
        raise RuntimeError(f"the fork server ended (exit {server.wait()})")
    return line.decode().strip()


# --- the same for a shell: a `usermap` on PATH that asks a fork server ----------------------------
SHIM = '''#!{python} -IS
# `usermap` for tests that run shell lines: the command is forked from a warm server
# (tests/forkcli.py, ShellServer), with this process's stdin, stdout and stderr.
import json, os, signal, socket, sys
argv = sys.argv[1:]
if argv[:1] in (["sandbox"], ["tab"]):      # servers, stopped by signals: the console script
    os.execv({usermap!r}, [{usermap!r}, *argv])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({socket!r})
mask = os.umask(0o22)
os.umask(mask)
request = {{"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "umask": mask}}
socket.send_fds(s, [json.dumps(request).encode() + b"\\n"], [0, 1, 2])
answer = b""
while not answer.endswith(b"\\n"):
    more = s.recv(64)
    if not more:
        sys.exit("usermap (test shim): the fork server hung up")
    answer += more
code = int(answer)
if code < 0:                                 # ended by a signal: end the same way
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
'''


class ShellServer:
    """A folder holding a `usermap` for shell lines (put it first on PATH), served by a fork
    server of its own on a Unix socket, so that each `usermap` line of a shell script is a
    forked process as ``run`` gives, with the shell's own pipes and redirections. `usermap
    sandbox` and `usermap tab`, which run until a signal stops them, exec the console script.
    With the fork server turned off (``USERMAP_TEST_FORK=0``) the folder is the console
    script's own. Use it as a context manager: leaving it stops the server."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="forkshell-")
        self.bin = str(Path(USERMAP).parent)
        self._proc = None
        if not enabled():
            return
        sock = os.path.join(self._tmp.name, "s")
        base = {k: v for k, v in os.environ.items()
                if k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
        self._proc = subprocess.Popen([sys.executable, str(SERVER), "--socket", sock],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=base, cwd="/")
        shim = Path(self._tmp.name, "bin", "usermap")
        shim.parent.mkdir()
        shim.write_text(SHIM.format(python=sys.executable, usermap=USERMAP, socket=sock))
        shim.chmod(0o755)
        deadline = time.monotonic() + 60
        while not os.path.exists(sock):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the shell's fork server did not start")
            time.sleep(0.02)
        self.bin = str(shim.parent)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._tmp.cleanup()
