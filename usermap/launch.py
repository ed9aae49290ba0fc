"""The ``usermap`` console script (pyproject: ``usermap = "usermap.launch:run"``): the one place
that plays tricks with the process. Nothing else does these:

- the read-ahead child: for ``plan`` and ``audit`` a forked child parses the snapshot's owners
  file while this process imports pandas and reads the rest (``sources/owners/prefetch.py``);
  it is forked before ``cli`` and the command's modules are imported, and its handle is passed to
  ``cli.main(argv, prefetch=...)``, which hands it to the load;
- the GC: a short command builds millions of small containers and frees them at exit, so the
  cyclic GC is off, and what the imports made (pandas, pyarrow) is frozen once they are loaded;
- pandas' options (``future.infer_string`` off) for the whole process;
- optional imports nobody needs: jsonschema's IRI format checker (``rfc3987_syntax``) builds a
  parser grammar when it is imported, seconds of CPU; nbformat (papermill's, in `usermap run`)
  and jupyter_server (Voilà's, in `usermap tab`) import jsonschema, which skips that format when
  the module is absent. No schema usermap, its notebooks or the tab's server meet uses it;
- signals: SIGTERM ends this process at once (its default), and the kernel then kills the
  child (it asked for ``PR_SET_PDEATHSIG``); SIGINT is a KeyboardInterrupt that ``cli.main``
  reports (exit 130) after the child was killed and reaped (``close`` in ``run``, in the load);
- the quick exit: after ``plan``, ``audit``, ``apply`` and ``mappings`` (a big heap, no thread
  left) the process ends without tearing the heap down object by object, once the output
  streams are flushed and the atexit handlers have run. Output that could not be written
  (a closed pipe, a full device) is a failure, never exit 0.

``cli.main`` itself leaves the process as it found it, so tests and notebooks can call it.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

from .engine.models import OWNERS_FILE

from .config import engine_from_env
from .errors import UsermapError

__all__ = ["run", "snapshot_argument", "READ_AHEAD", "QUICK_EXIT", "SKIPPED_IMPORTS"]

# Commands whose snapshot's owners file a forked child parses while they start.
READ_AHEAD = frozenset({"plan", "audit"})

# Commands that hold a big heap (millions of strings) when they are done and start no thread.
QUICK_EXIT = frozenset({"plan", "audit", "apply", "mappings"})

# Optional modules that are never imported in this process (see the module's docstring).
SKIPPED_IMPORTS = ("rfc3987_syntax",)

# Long-running commands keep the cyclic GC on.
_LONG = frozenset({"sandbox", "run", "tab"})


def run() -> None:  # the console script; tests start it as `python -m usermap.launch`
    """The `usermap` command: ``cli.main()`` with the process tricks around it, then exit."""
    argv = sys.argv[1:]
    command = argv[0] if argv else ""
    for name in SKIPPED_IMPORTS:
        sys.modules.setdefault(name, None)   # `import name` now raises ImportError
    try:
        engine = engine_from_env()
    except UsermapError:
        engine = None   # (cli.main says what is wrong with it, and exits 2)
    prefetch = None
    short = bool(command) and command not in _LONG
    if short:
        gc.disable()
    try:
        if command in READ_AHEAD and engine not in (None, "exact"):
            prefetch = _start_prefetch(argv)   # (first: the child is a copy of this process)
        from . import cli
        if _uses_pandas(command, argv):
            _tune_pandas()
        if short:
            gc.freeze()
        code = cli.main(argv, prefetch=prefetch, engine=engine)
    finally:
        if prefetch is not None:
            prefetch.close()
    code = _flushed(code)
    if command in QUICK_EXIT:
        import atexit
        atexit._run_exitfuncs()
        os._exit(code)
    sys.exit(code)


def _uses_pandas(command: str, argv: list[str]) -> bool:
    """Whether the command will import pandas anyway (the fetch never does, nor does `run`,
    whose notebooks run in kernels of their own; `--version` and `--help` answer before
    anything is imported)."""
    return (bool(command) and not command.startswith("-") and command not in ("fetch", "run")
            and not {"-h", "--help"} & set(argv))


def _start_prefetch(argv: list[str]):
    """A child parsing the owners file of the snapshot ``argv`` names, or None. Started before
    anything heavy is imported (the child is a copy of this process), so the snapshot is found
    by ``snapshot_argument``, not by the command's parser; the owners reader uses the child only
    for the very file it reads (``read_owners`` compares them)."""
    from .sources.owners import prefetch
    snapshot = snapshot_argument(argv)
    return prefetch.start(Path(snapshot) / OWNERS_FILE) if snapshot else None


# Options of `plan` and `audit` that take a value (tests/commands/test_launch.py holds this to
# the command's parser).
_VALUED = frozenset({"--store", "--out", "--only", "--config"})


def snapshot_argument(argv: list[str]) -> str | None:
    """The first positional argument after the command (the snapshot of `plan` and `audit`)."""
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("-") and a != "-":
            i += 2 if a in _VALUED else 1
            continue
        return a
    return None


def _tune_pandas() -> None:
    """Plain Python strings for the whole process (see ``cli._pandas_options``)."""
    import pandas as pd
    try:
        pd.set_option("future.infer_string", False)
    except (KeyError, ValueError, pd.errors.OptionError):  # an older or newer pandas: keep it
        pass


def _flushed(code: int) -> int:
    """``code``, or 1 when stdout or stderr cannot be written (said on stderr when it can be):
    a command whose output is lost has not done what it was asked."""
    failed = None
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError) as e:
            failed = failed or (stream, e)
    if failed is None:
        return code
    stream, e = failed
    name = "standard output" if stream is sys.stdout else "standard error"
    try:
        os.write(2, f"usermap: error: cannot write to {name}: "
                    f"{getattr(e, 'strerror', None) or type(e).__name__}\n".encode())
    except OSError:
        pass
    _quiet(stream)
    return code or 1


def _quiet(stream) -> None:
    """Point a stream that failed at /dev/null, so the interpreter's own flush at exit neither
    fails again nor prints a traceback."""
    try:
        fd = stream.fileno()
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    run()
