"""Executing one notebook with papermill in a kernel of this environment (docs/design.md §7).

- **Kernel** (``kernel_options``): the ``usermap`` kernelspec (``make install``) when it runs this
  very interpreter; otherwise a kernel started with this interpreter directly (``sys.executable
  -m ipykernel_launcher``), so a run never picks up another environment's Python. The kernel's
  own output goes to a file (kernel.log), not the terminal.
- **Failures** (``execute_notebook``): a notebook that raises keeps its partially executed copy
  and raises ``NotebookFailedError`` carrying the exit code of the exception's class in usermap.errors
  (``errors.exit_code_for_name``, by papermill's ``ename``); a kernel that died or timed out is exit 1.
  Another writer holding the store (SQLite's "database is locked" raised by a read inside the
  notebook) is exit 3 (``LockedError``), never exit 1.
- **One kernel per run** (``RunKernel``): the notebooks of a run execute one after the other in
  the same kernel, its names cleared between them (IPython's ``reset``), so the interpreter,
  pandas and usermap start once per run, not once per notebook; the run shuts it down at the end.
- **The executed notebook on disk** (``_engine``): written when it starts, when it ends
  (however it ends: a failure, a timeout, a signal) and after a cell at most every
  ``SAVE_EVERY`` seconds. papermill alone writes it at every cell's start and end: the whole
  notebook, the tables it shows included, serialised again some 80 times a run.
- **Stopping** (``shutdown_kernels``): the kernels this process started are tracked, so a run
  stopped by SIGTERM or SIGINT shuts down the kernel papermill was talking to.

Adapter: processes (papermill, the kernel) and the executed notebook file. Must not import
store, report, notify, workflow or runner (the error classes are looked up by name).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
import weakref
from pathlib import Path

from .errors import InputError, NotebookFailedError, UsermapError, exit_code_for_name
from .redact import bounded

__all__ = ["notebooks_dir", "kernel_options", "execute_notebook", "NOTEBOOKS", "NOTEBOOKS_ENV",
           "KERNEL_NAME", "CELL_TIMEOUT", "START_TIMEOUT", "shutdown_kernels", "RunKernel"]

NOTEBOOKS = ("audit", "sync")
CELL_TIMEOUT = 3600          # seconds any one cell may take (a fetch of a very large account)
START_TIMEOUT = 120          # seconds the kernel may take to start
RESET_TIMEOUT = 60           # seconds clearing the kernel's names between notebooks may take
NOTEBOOKS_ENV = "USERMAP_NOTEBOOKS"   # another folder holding audit.ipynb and sync.ipynb
KERNEL_NAME = "usermap"
ENGINE = "usermap"           # papermill's nbclient engine, writing the notebook less often
SAVE_EVERY = 10.0            # seconds between writes of the executed notebook after its cells


def notebooks_dir() -> Path:
    """Where audit.ipynb and sync.ipynb are: $USERMAP_NOTEBOOKS, the checkout's notebooks/, or the
    copies shipped inside the installed package (``usermap.resources``)."""
    from . import resources
    return resources.notebooks_dir()


def _same_env(argv0: str) -> bool:
    if not argv0:
        return False
    exe = Path(sys.executable).absolute()
    p = Path(argv0)
    if not p.is_absolute():
        return False
    return p.absolute() == exe or Path(os.path.abspath(argv0)).parent == exe.parent


def _kernel_manager_class(env_spec: bool, output: Path | None):
    """The kernel manager papermill hands to nbclient: the kernel's own stdout and stderr (its
    start-up warnings) go to ``output`` instead of the terminal, and with ``env_spec`` the kernel
    is ipykernel under this very interpreter, whatever kernelspecs are installed."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class EnvKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name, *args, **kwargs):
            return KernelSpec(argv=[sys.executable, "-Xfrozen_modules=off", "-m",
                                    "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="usermap (this environment)", language="python",
                              metadata={}, resource_dir="")

    class RunKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.clients: list = []   # every client made for it, closed with it (RunKernel)

        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return EnvKernelSpecManager() if env_spec else KernelSpecManager(
                data_dir=self.data_dir)

        def client(self, **kw):
            kc = super().client(**kw)
            self.clients.append(kc)   # a client papermill leaves open on a kernel it does not own
            return kc

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            _LIVE.add(self)      # shut down by shutdown_kernels() if the run is stopped
            if output is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            with open(output, "ab") as f:   # the child keeps its own descriptor
                kw.setdefault("stdout", f)
                kw.setdefault("stderr", f)
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return RunKernelManager


_LIVE: "weakref.WeakSet" = weakref.WeakSet()   # kernel managers this process started


def _kernel_process(km):
    prov = getattr(km, "provisioner", None)
    return getattr(prov, "process", None) if prov is not None else None


def shutdown_kernels(grace: float = 5.0) -> list[int]:
    """Stop every kernel this process started that is still running (a run stopped by a signal:
    papermill had no chance to): SIGTERM to the kernel's process group (it runs in a session of
    its own), SIGKILL after ``grace`` seconds; its connection file is removed. Returns the pids
    that were still running. Never raises."""
    import signal
    stopped = []
    procs = []
    for km in list(_LIVE):
        proc = _kernel_process(km)
        if proc is None or proc.poll() is not None:
            continue
        procs.append((km, proc))
        stopped.append(proc.pid)
        for sig_send in (lambda: os.killpg(proc.pid, signal.SIGTERM),
                         lambda: proc.send_signal(signal.SIGTERM)):
            try:
                sig_send()
                break
            except (OSError, ValueError):
                continue
    deadline = time.monotonic() + grace
    for km, proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - still running: kill it
            for sig_send in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
                try:
                    sig_send()
                    break
                except (OSError, ValueError):
                    continue
            try:
                proc.wait(5)
            except Exception:  # noqa: BLE001
                pass
        try:
            km.cleanup_connection_file()
        except Exception:  # noqa: BLE001 - a file left in the runtime folder is harmless
            pass
        _LIVE.discard(km)
    return stopped


def kernel_options(output: Path | None = None) -> tuple[dict, str]:
    """papermill keyword arguments that pick the kernel, and a description for the log."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if _same_env(spec.argv[0] if spec.argv else ""):
            return ({"kernel_name": KERNEL_NAME,
                     "kernel_manager_class": _kernel_manager_class(False, output)},
                    f"kernelspec {KERNEL_NAME!r} ({spec.argv[0]})")
        why = f"kernelspec {KERNEL_NAME!r} runs {spec.argv[0] if spec.argv else '?'}"
    except NoSuchKernel:
        why = f"no kernelspec {KERNEL_NAME!r} (make install adds it)"
    except Exception as e:  # noqa: BLE001 - any trouble with kernelspecs: use the interpreter
        why = f"kernelspecs unreadable ({type(e).__name__})"
    return ({"kernel_name": "usermap-env",
             "kernel_manager_class": _kernel_manager_class(True, output)},
            f"{sys.executable} -m ipykernel_launcher ({why})")


class RunKernel:
    """The one kernel of a run (``with RunKernel(kernel) as k``): ``k.options`` are papermill's
    keyword arguments that execute a notebook in it (papermill starts it with the first
    notebook and leaves it running), ``k.clear()`` empties its names before the next notebook,
    and leaving the block shuts it down. A kernel that died, or could not clear its names, is
    replaced by a new one for the next notebook."""

    def __init__(self, kernel: dict):
        self._kernel = kernel
        self.km = None
        self.options: dict = {}
        self._fresh()

    def _fresh(self) -> None:
        self.close()
        self.km = self._kernel["kernel_manager_class"](kernel_name=self._kernel["kernel_name"])
        self.options = {**self._kernel, "km": self.km}

    def clear(self) -> None:
        """Empty the kernel's names (IPython's ``reset``) so the next notebook starts as in a
        new kernel, except that what it imports is already loaded."""
        km = self.km
        if km is None or not km.has_kernel:
            return
        from jupyter_core.utils import run_sync
        try:
            if not run_sync(km.is_alive)():
                raise RuntimeError("the kernel died")
            kc = km.client()
            kc.start_channels()
            run_sync(kc.wait_for_ready)(timeout=RESET_TIMEOUT)
            reply = run_sync(kc.execute_interactive)(
                "get_ipython().reset(new_session=False)", silent=True, store_history=False,
                timeout=RESET_TIMEOUT)
            if reply["content"].get("status") != "ok":
                raise RuntimeError("reset failed")
        except Exception:  # noqa: BLE001 - a kernel that cannot be cleared is not reused
            self._fresh()

    def close(self) -> None:
        """Close papermill's clients and shut the kernel down. Never raises."""
        km, self.km = self.km, None
        if km is None:
            return
        from jupyter_core.utils import run_sync
        for kc in km.clients:
            try:
                kc.stop_channels()
            except Exception:  # noqa: BLE001
                pass
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=False)
        except Exception:  # noqa: BLE001 - shutdown_kernels() is the last resort
            pass
        _LIVE.discard(km)

    def __enter__(self) -> "RunKernel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _declared_parameters(path: Path) -> set[str]:
    import papermill
    return set(papermill.inspect_notebook(str(path)))


@functools.cache
def _engine() -> str:
    """Register (once) papermill's nbclient engine with a notebook manager that writes the
    executed notebook at its start and end and, in between, only when ``SAVE_EVERY`` seconds
    have passed since it last did; its name for ``engine_name``."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    class Manager(NotebookExecutionManager):
        ends = True          # at the notebook's start and end, papermill's write always happens

        def save(self, **kwargs):
            if self.ends or (self.now() - self.last_save_time).total_seconds() >= SAVE_EVERY:
                super().save(**kwargs)

        def notebook_start(self, **kwargs):
            super().notebook_start(**kwargs)
            self.ends = False

        def notebook_complete(self, **kwargs):
            self.ends = True
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=True,
                             log_output=False, autosave_cell_every=30, **kwargs):
            # papermill's Engine.execute_notebook, with the manager above
            nb_man = Manager(nb, output_path=output_path, progress_bar=progress_bar,
                             log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output,
                                             **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(ENGINE, Engine)
    return ENGINE


def execute_notebook(source: Path, output: Path, parameters: dict, *, cwd: Path,
                     kernel: dict, cell_timeout: float = CELL_TIMEOUT) -> dict:
    """Run one notebook with papermill; returns timings. Raises NotebookFailedError (with the exit
    code of the failure) after papermill has saved the partially executed notebook."""
    import papermill   # when a run needs it (jsonschema's IRI grammar: launch.SKIPPED_IMPORTS)
    from papermill.exceptions import PapermillExecutionError
    unknown = set(parameters) - _declared_parameters(source)
    if unknown:
        raise InputError(f"parameters {', '.join(sorted(unknown))} are not declared by the "
                         f"notebook's parameters cell", file=str(source))
    name = source.stem
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, cwd=str(cwd), progress_bar=False,
            log_output=True, start_timeout=START_TIMEOUT, execution_timeout=cell_timeout,
            engine_name=_engine(), **kernel)
    except PapermillExecutionError as e:
        seconds = time.perf_counter() - t0
        ename, evalue = e.ename, bounded(e.evalue)
        if _store_busy(ename, evalue):
            ename, evalue = "LockedError", (f"another writer holds the store, so it cannot be "
                                            f"read or written now ({ename}: {evalue}); nothing "
                                            f"was changed by this run; try again later")
        raise NotebookFailedError(name, exit_code_for_name(ename), ename, evalue,
                             e.exec_count, seconds) from None
    except UsermapError:
        raise
    except Exception as e:  # kernel died, timed out, failed to start...
        seconds = time.perf_counter() - t0
        raise NotebookFailedError(name, 1, type(e).__name__, bounded(e), None,
                             seconds) from None
    wall = time.perf_counter() - t0
    return {"notebook": name, "seconds": round(wall, 3), **_cell_times(output, wall)}


def _store_busy(ename: str, evalue: str) -> bool:
    """SQLite's "database is locked" / "database is busy" (``sqlite3.OperationalError``): another
    writer holds the store. A safety refusal (exit 3), not an unexpected error (exit 1)."""
    text = str(evalue or "").lower()
    return ename == "OperationalError" and ("database is locked" in text
                                           or "database is busy" in text
                                           or "database table is locked" in text)


def _cell_times(path: Path, wall: float) -> dict:
    """Time spent in the cells, per papermill's metadata; the rest is papermill itself and the
    kernel (start, shutdown)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = sum(float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0)
                    for c in nb.get("cells", []))
    except (OSError, ValueError):
        return {}
    return {"cells_seconds": round(cells, 3), "overhead_seconds": round(wall - cells, 3)}
