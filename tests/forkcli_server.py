"""The fork server of ``forkcli.py`` (run as a script; one per test worker).

It imports what a `usermap` command imports, then reads one request a line on its standard
input (JSON: argv, env, cwd, and the files for stdin, stdout and stderr), forks a child that
becomes that command, writes the child's pid, waits for it and writes its exit code (-N for a
signal) and the CPU seconds it used. It ends when its standard input closes. One command at a time."""

import json
import os
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


def child(request: dict) -> None:
    """Become ``usermap ARGV`` (never returns)."""
    code = 1
    try:
        os.umask(request["umask"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path, flags in ((0, request["stdin"], os.O_RDONLY),
                                (1, request["stdout"], os.O_WRONLY | os.O_TRUNC),
                                (2, request["stderr"], os.O_WRONLY | os.O_TRUNC)):
            f = os.open(path, flags | (os.O_CREAT if fd else 0), 0o600)
            os.dup2(f, fd)
            os.close(f)
        import tempfile
        tempfile.tempdir = None                     # the request's TMPDIR
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


if __name__ == "__main__":
    main()
