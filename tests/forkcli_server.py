"""The fork server of ``forkcli.py`` (run as a script; one per test worker).

It imports what a `usermap` command imports, then reads one request a line on its standard
input (JSON: argv, env, cwd, and the files for stdin, stdout and stderr), forks a child that
becomes that command (or, when the request has ``code``, runs it as ``python -c CODE ARGV``),
writes the child's pid, waits for it and writes its exit code (-N for a signal) and the CPU
seconds it used. It ends when its standard input closes. One command at a time.

``forkcli_server.py --socket PATH`` serves a shell instead: it listens on the Unix socket PATH,
where the `usermap` shim of ``forkcli.ShellServer`` sends a request (JSON: argv, env, cwd,
umask) with its own standard input, output and error as file descriptors. The child takes those
descriptors, so a pipe or a redirection in the shell line works as with the console script; the
server answers with the exit code. It ends on SIGTERM."""

import json
import os
import signal
import socket
import sys

from usermap import launch

for _name in launch.SKIPPED_IMPORTS:       # as the console script does, before the imports
    sys.modules.setdefault(_name, None)

import pandas  # noqa: E402,F401  (what every command but `fetch` and `run` imports)
import pyarrow  # noqa: E402,F401
import usermap.cli  # noqa: E402,F401
import usermap.commands  # noqa: E402,F401
import usermap.workflow  # noqa: E402,F401
import usermap.store.store  # noqa: E402,F401
import usermap.engine.reconcile  # noqa: E402,F401
import papermill  # noqa: E402,F401  (`usermap run`)


def _open_files(request: dict) -> list[int]:
    """The request's files for stdin, stdout and stderr, opened as the command's."""
    return [os.open(path, flags | (os.O_CREAT if flags != os.O_RDONLY else 0), 0o600)
            for path, flags in ((request["stdin"], os.O_RDONLY),
                                (request["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (request["stderr"], os.O_WRONLY | os.O_TRUNC))]


def child(request: dict, fds: list[int] | None = None) -> None:
    """Become ``usermap ARGV`` with ``fds`` (or the request's files) as stdin, stdout and
    stderr (never returns)."""
    code = 1
    try:
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, f in enumerate(_open_files(request) if fds is None else fds):
            os.dup2(f, fd)
            if f > 2:
                os.close(f)
        import tempfile
        tempfile.tempdir = None                     # the request's TMPDIR
        if "code" in request:                       # `python -c CODE ARGV`
            sys.argv = ["-c", *request["argv"]]
            exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = ["usermap", *request["argv"]]
            launch.run()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    except BaseException:                          # as Python's own top level would
        import traceback
        traceback.print_exc()
    finally:
        _exit_as_python_does()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _exit_as_python_does() -> None:
    """What the interpreter does at exit before the process ends: wait for the threads that
    are not daemons, then run the atexit handlers."""
    import atexit
    import threading
    try:
        threading._shutdown()
    except Exception:
        pass
    atexit._run_exitfuncs()


def main() -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    for line in inp:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.close(inp.fileno())
            os.close(out.fileno())
            child(request)
        out.write(b"%d\n" % pid)
        out.flush()
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime      # the child's and its reaped children's
        out.write(b"%d %.3f\n" % (os.waitstatus_to_exitcode(status), cpu))
        out.flush()


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """One shim's request and its three descriptors."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 16)
        if not more:
            raise EOFError("the shim hung up")
        data += more
    return json.loads(data), list(fds)


def serve_socket(path: str) -> None:
    """Serve the `usermap` shim on the Unix socket ``path``, one command at a time."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                request, fds = _receive(conn)
            except (OSError, EOFError, ValueError):
                continue
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                listener.close()
                conn.close()
                child(request, fds)
            for f in fds:
                os.close(f)
            _, status, _ = os.wait4(pid, 0)
            try:
                conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
            except OSError:
                pass


if __name__ == "__main__":
    if sys.argv[1:2] == ["--socket"]:
        serve_socket(sys.argv[2])
    else:
        main()
