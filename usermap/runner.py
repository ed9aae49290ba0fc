"""``usermap run``: the notebooks executed by papermill into one folder per run (docs/design.md §7).

A run::

    runs/<run_id>/                 run_id = UTC time + a short suffix (clock.new_run_id)
      snapshot/                    what the audit notebook fetched (aloware_users.csv, ...)
      audit.ipynb, sync.ipynb      the executed notebooks (kept half-executed when one fails)
      summary.json, mapped.csv, unmapped_aloware.csv, unmapped_hubspot.csv, errors.csv
      plan.json, report.html, notification.eml, sync.json
      run.log                      the runner's log and the notebooks' printed output (redacted)
      kernel.log                   the kernels' own messages (start-up warnings; redacted)
      run.json                     status (ok, failed, refused, killed), exit code, error, timings

- **One run at a time** (``usermap.lock``): ``runs/.lock`` is held with ``flock`` for the whole run, so a second
  ``usermap run`` fails at once with LockedError (exit 3). The kernel drops a killed process's
  lock, so a lock left behind by a killed run is taken over (the file still names the old run,
  which the log records). Without ``fcntl`` (Windows) the lock is an exclusive-create file
  whose pid is checked instead.
- **Kernel** (``usermap.execute``): the ``usermap`` kernelspec (``make install``) when it runs this very interpreter;
  otherwise a kernel started with this interpreter directly (``sys.executable -m
  ipykernel_launcher``), so a run never picks up another environment's Python. Both notebooks
  execute in the one kernel of the run (``RunKernel``), its names cleared between them.
- **Signals**: SIGTERM or SIGINT stops a run cleanly: the kernel is shut down, run.json says
  ``killed`` (exit code 143 / 130), the failure report and notification are written, the lock
  is released and ``usermap run`` exits 143 / 130.
- **Failures**: a notebook that raises keeps its partially executed copy; the run's exit code is
  the code of the exception's class in usermap.errors (4 a source, 3 safety, 2 input, 1 other),
  read from papermill's ``ename``. The sync notebook does not run after a failed audit.
  Stakeholders hear about a failure as about any run: unless the sync notebook already reported
  it (a refusal by the removal guard: its own report and notification, status "refused"), the
  runner writes a **failure report** (``FailureReport``: report.html from
  ``reports/templates/failure.html.j2``, and notification.eml through ``notify``, sent when SMTP
  is configured) that states FAILED or REFUSED, the error class and its (redacted) message, where
  it stopped, whether the store changed (its revision and link count before and after the run)
  and what to do. A report.html the audit notebook wrote before the failure is kept as
  ``audit-report.html``. run.json records ``status`` (ok, failed, refused), ``exit_code``,
  ``error_class``, ``error_message``, the store before and after, and the fetch's requests and
  retries by cause (from snapshot/fetch.json) when there was a fetch.
- **Secrets** are never parameters: the kernel inherits the environment, and the notebooks read
  the tokens there through usermap (``config.secret``). Parameters are paths, the run id and
  two booleans; the runner refuses any name the notebook does not declare.
- **Retention** (``usermap.lock.prune``): only the newest ``runs.keep`` run folders are kept.
- **Before any kernel** the run's paths must be UTF-8 and both API tokens set (exit 2 at once,
  with a failure report that gives the message's advice).

Strings a run together (lock, folder, notebooks, failure report, retention); the steps inside
the notebooks are ``usermap.workflow``'s. Adapter: files, processes. Must not import cli or
notebook; ``cli._cmd_run`` prints ``describe()`` and exits with ``exit_code``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .clock import utc_now as _now
from .errors import (InputError, NotebookFailedError, RunKilled, SafetyError, exit_code_for,
                     exit_meaning)
from .execute import (CELL_TIMEOUT, RunKernel, execute_notebook, kernel_options,
                      notebooks_dir, shutdown_kernels)
from .files import check_utf8, shown
from .lock import LOCK_NAME, RunLock, prune
from .notify import delivery
from .redact import bounded, redact
from .runlog import close_log, open_log
from .report.failure import FailureReport

__all__ = ["run", "RunResult"]

LOG_NAME, RUN_JSON, KERNEL_LOG = "run.log", "run.json", "kernel.log"
REPORT_NAME, AUDIT_REPORT_NAME = "report.html", "audit-report.html"

log = logging.getLogger("usermap.runner")


# --- the run ----------------------------------------------------------------------------------
@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    exit_code: int = 0
    error: str = ""                 # "ErrorClass: message", redacted
    error_class: str = ""
    error_message: str = ""
    failed_notebook: str = ""
    failed_cell: int | None = None
    apply: bool = False
    summary: dict | None = None
    plan: dict | None = None
    sync: dict | None = None
    timings: list = field(default_factory=list)
    seconds: float = 0.0
    pruned: list = field(default_factory=list)
    took_over: dict | None = None
    store_before: dict | None = None     # {"revision", "links"} when the run started
    store_after: dict | None = None
    fetch: dict | None = None            # requests and retries of the fetch (snapshot/fetch.json)
    notification: dict | None = None     # the failure report: report, notification, sent, error
    killed_by: str = ""                  # "SIGTERM" or "SIGINT" when a signal stopped the run
    running: str = ""                    # the notebook being executed (for a stopped run)
    advice: str = ""                     # what to do, first in the failure report's advice

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def status(self) -> str:
        """"ok", "refused" (exit 3), "killed" (SIGTERM/SIGINT: exit 143/130) or "failed"."""
        return ("ok" if self.ok else "killed" if self.killed_by else
                "refused" if self.exit_code == SafetyError.exit_code else "failed")

    @property
    def store_changed(self) -> bool | None:
        if not self.store_before or not self.store_after:
            return None
        return self.store_before != self.store_after

    def _fail(self, error_class: str, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        self.error_class, self.error_message = error_class, bounded(message)
        self.error = f"{error_class}: {self.error_message}"

    @property
    def report(self) -> Path:
        return self.run_dir / "report.html"

    def describe(self) -> str:
        head = (f"run {self.run_id}: ok" if self.ok else
                f"run {self.run_id}: {self.status.upper()} in "
                f"{self.failed_notebook or 'the runner'} "
                f"(exit {self.exit_code}: {exit_meaning(self.exit_code)})")
        lines = [head, f"  folder:       {self.run_dir}"]
        if self.error:
            first = self.error.strip().splitlines()[0] if self.error.strip() else ""
            lines.append(f"  error:        {first[:300]}")
        if not self.ok and self.failed_notebook:
            lines.append(f"  notebook:     {self.run_dir / (self.failed_notebook + '.ipynb')} "
                         "(as far as it ran)")
        if self.report.is_file():
            lines.append(f"  report:       {self.report}")
        s = self.summary
        after = (self.sync or {}).get("after")
        if isinstance(after, dict) and after:      # an applied run: the store after it
            b = s or {}

            def was(k):
                return f" (before: {b[k]:,})" if isinstance(b.get(k), int) and b[k] != after[k] \
                    else ""
            lines.append(f"  after:        the store after this run's changes")
            lines.append(f"  mapped:       {after['mapped']:,}{was('mapped')}; "
                         f"{after['synced']:,} synced{was('synced')}, {after['errors']:,} "
                         f"with issues{was('errors')}")
            lines.append(f"  unmapped:     {after['unmapped_aloware']:,} Aloware users"
                         f"{was('unmapped_aloware')}, {after['unmapped_hubspot']:,} HubSpot "
                         f"owners{was('unmapped_hubspot')}")
        elif s:
            lines.append(f"  mapped:       {s['mapped']:,} ({s['synced']:,} synced, "
                         f"{s['errors']:,} with issues)")
            lines.append(f"  unmapped:     {s['unmapped_aloware']:,} Aloware users, "
                         f"{s['unmapped_hubspot']:,} HubSpot owners")
        p = self.plan
        if p is not None:
            done = ((self.sync or {}).get("applied"))
            verb = "applied" if done else ("refused" if (self.sync or {}).get("status") ==
                                           "refused" else "planned, not applied")
            lines.append(f"  plan:         {p.get('add', 0):,} to add, {p.get('update', 0):,} "
                         f"to update, {p.get('remove', 0):,} to remove ({verb})")
        told = self.notification or self.sync
        if told and told.get("notification"):
            lines.append(f"  notification: {told['notification']} ({delivery(told)})")
        if not self.ok and self.store_changed is False:
            lines.append(f"  store:        unchanged (revision {self.store_after['revision']}, "
                         f"{self.store_after['links']:,} links)")
        lines.append(f"  log:          {self.run_dir / LOG_NAME}")
        lines.append(f"  took:         {self.seconds:.1f} s")
        return shown("\n".join(lines))         # a path that is not UTF-8 as \xNN

    def to_json(self) -> dict:
        told = self.notification or ({k: self.sync.get(k) for k in (
            "report", "notification", "sent", "send_error", "status")} if self.sync else None)
        return {"run_id": self.run_id, "status": self.status,
                "notification": delivery(self.notification or self.sync or {}),
                "exit_code": self.exit_code, "error": self.error,
                "error_class": self.error_class, "error_message": self.error_message,
                "failed_notebook": self.failed_notebook, "failed_cell": self.failed_cell,
                "apply": self.apply, "store_before": self.store_before,
                "store_after": self.store_after, "store_changed": self.store_changed,
                "fetch": self.fetch, "report": told,
                "summary": self.summary, "plan": self.plan, "sync": self.sync,
                "timings": self.timings, "seconds": round(self.seconds, 3),
                "pruned": self.pruned, "took_over_lock_of": self.took_over,
                "killed_by": self.killed_by or None}


def _config_path(config) -> str:
    if not config.path:
        return ""
    p = Path(config.path)
    if not p.is_file():
        raise InputError("config file not found (the notebooks read it again)", file=str(p))
    return str(p.absolute())


class _StopSignals:
    """SIGTERM and SIGINT during ``run`` (cron, ``systemctl stop``, Ctrl-C). While ``armed`` (the
    notebooks are executing) the first signal raises ``RunKilled`` where the runner is, which
    stops papermill at once; otherwise it is only recorded (``signum``), and the run checks it.
    Installed only in the main thread (the only one Python delivers signals to); the previous
    handlers come back with ``restore``."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum: int | None = None
        self.armed = False
        self._old: dict = {}

    def install(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def _handler(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        if self.armed:
            self.armed = False
            raise RunKilled(signum)

    def restore(self) -> None:
        self.armed = False
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}


def run(config, *, apply: bool = False, force: bool = False, cell_timeout: float = CELL_TIMEOUT,
        notebooks: Path | None = None) -> RunResult:
    """One scheduled run: lock, run folder, audit.ipynb then sync.ipynb, retention.

    Raises LockedError (exit 3) when another run holds the lock, InputError (exit 2) for a
    config or notebook that cannot be used; every failure inside a notebook is returned as a
    RunResult with the failure's exit code instead, after the run folder is complete.
    SIGTERM or SIGINT during the run stops it cleanly (design §7): the kernel is shut down, the
    run is recorded as "killed" with exit code 143 / 130, the failure report and notification
    are written, the lock is released, and the RunResult carries that exit code.
    """
    from .clock import new_run_id
    t0 = time.perf_counter()
    nb_dir = Path(notebooks) if notebooks else notebooks_dir()
    config_path = _config_path(config)
    runs_dir = config.resolve(config.runs.dir).absolute()
    store = config.resolve(config.store.path).absolute()
    stop = _StopSignals().install()
    try:
        lock = RunLock(runs_dir / LOCK_NAME).acquire()
        try:
            run_id = new_run_id()
            run_dir = runs_dir / run_id
            while run_dir.exists():   # pragma: no cover - same second, same random suffix
                run_id = new_run_id()
                run_dir = runs_dir / run_id
            run_dir.mkdir(parents=True)
            lock.update(run_id)
            handler = open_log(run_dir / LOG_NAME)
            result = RunResult(run_id=run_id, run_dir=run_dir, apply=apply,
                               took_over=lock.previous)
            result.store_before = _store_state(store)
            try:
                if stop.signum is None and _preflight(result, {
                        "the config": config_path, "the store": store, "the notebooks": nb_dir}):
                    stop.armed = True
                    _execute(result, nb_dir, config_path, store, run_dir, apply, force,
                             cell_timeout)
            except RunKilled:
                pass                       # recorded in stop.signum; handled below
            except Exception as e:   # outside the notebooks (a parameter refused, papermill missing)
                stop.armed = False
                if result.ok:
                    result._fail(type(e).__name__, str(e), exit_code_for(e))
                raise
            finally:
                stop.armed = False
                if stop.signum is not None:
                    _stopped(result, stop.signum)
                result.store_after = _store_state(store)
                if not result.ok:
                    _report_failure(result, config, run_dir)
                result.pruned = prune(runs_dir, config.runs.keep, protect={run_id})
                if result.pruned:
                    log.info("retention (keep %d): removed %s", config.runs.keep,
                             ", ".join(result.pruned))
                result.seconds = time.perf_counter() - t0
                log.info("run %s finished: exit %d in %.1f s", run_id, result.exit_code,
                         result.seconds)
                close_log(handler)
                (run_dir / RUN_JSON).write_text(json.dumps(result.to_json(), indent=2,
                                                           default=str) + "\n", encoding="utf-8")
        finally:
            lock.release()
    finally:
        stop.restore()
    return result


def _preflight(result: RunResult, paths: dict) -> bool:
    """Before any kernel: the run's paths are UTF-8 and both tokens set; else exit 2 at once."""
    from .config import require_tokens
    try:
        [check_utf8(path, what) for what, path in paths.items()]
        return require_tokens() is None
    except InputError as e:
        result._fail(type(e).__name__, str(e), e.exit_code)
        result.advice = str(e)          # the message's own advice, first in the failure report


def _stopped(result: RunResult, signum: int) -> None:
    """A signal stopped the run: shut the kernel down and record the run as killed."""
    k = RunKilled(signum)
    pids = shutdown_kernels()
    where = result.running or result.failed_notebook
    log.warning("run %s stopped by %s%s; kernel %s shut down", result.run_id, k.signame,
                f" while executing {where}.ipynb" if where else "",
                ", ".join(map(str, pids)) if pids else "already")
    if where and not result.failed_notebook:
        result.failed_notebook = where
    result.killed_by = k.signame
    result._fail("RunKilled", f"the run was stopped by {k.signame}"
                 + (f" while the {where} notebook was executing" if where else "")
                 + "; the kernel was shut down", k.exit_code)


def _execute(result: RunResult, nb_dir: Path, config_path: str, store: Path, run_dir: Path,
             apply: bool, force: bool, cell_timeout: float) -> None:
    run_id = result.run_id
    if result.took_over:
        log.warning("took over the lock left by run %s (pid %s, no longer running)",
                    result.took_over.get("run_id", "?"), result.took_over.get("pid", "?"))
    kernel, kernel_desc = kernel_options(run_dir / KERNEL_LOG)
    log.info("run %s: apply=%s force=%s config=%s store=%s", run_id, apply, force,
             config_path or "(defaults)", store)
    log.info("kernel: %s", kernel_desc)
    common = {"config": config_path, "store": str(store), "run_dir": str(run_dir),
              "run_id": run_id}
    steps = [("audit", {**common, "snapshot": ""}),
             ("sync", {**common, "snapshot": str(run_dir / "snapshot"), "apply": bool(apply),
                       "force": bool(force)})]
    try:
        with RunKernel(kernel) as one:
            for i, (name, params) in enumerate(steps):
                log.info("executing %s.ipynb", name)
                result.running = name
                if i:
                    one.clear()
                t = execute_notebook(nb_dir / f"{name}.ipynb", run_dir / f"{name}.ipynb",
                                     params, cwd=run_dir, kernel=one.options,
                                     cell_timeout=cell_timeout)
                result.running = ""
                result.timings.append(t)
                log.info("%s.ipynb done in %.2f s (cells %.2f s, papermill and kernel %.2f s)",
                         name, t["seconds"], t.get("cells_seconds", 0.0),
                         t.get("overhead_seconds", 0.0))
    except NotebookFailedError as e:
        result._fail(e.ename, e.evalue, e.exit_code)
        result.failed_notebook, result.failed_cell = e.notebook, e.cell
        result.timings.append({"notebook": e.notebook, "seconds": round(e.seconds, 3),
                               "failed": True})
        log.error("%s.ipynb failed (cell %s): %s -> exit %d", e.notebook, e.cell,
                  result.error, e.exit_code)
    finally:
        result.summary = _read_json(run_dir / "summary.json")
        plan = _read_json(run_dir / "plan.json")
        if plan is not None:
            s = plan.get("summary", {})
            result.plan = {k: s.get(k, 0) for k in ("add", "update", "remove")} | {
                "changes": len(plan.get("changes", [])),
                "store_revision": plan.get("store_revision")}
        result.sync = _read_json(run_dir / "sync.json")
        fetched = _read_json(run_dir / "snapshot" / "fetch.json")
        if isinstance(fetched, dict):
            result.fetch = {k: fetched.get(k) for k in ("fetched_at", "counts", "requests",
                                                        "retries", "retries_by_cause",
                                                        "seconds")}
        _redact_file(run_dir / KERNEL_LOG)


def _store_state(path: Path) -> dict | None:
    """The store's revision and link count (None when there is no store, or it cannot be
    read): recorded before and after a run, so a failed run can say the store did not change."""
    if not Path(path).is_file():
        return None
    try:
        from .store.migrate import state
        return state(path)
    except Exception as e:  # noqa: BLE001 - the notebooks will report a bad store themselves
        log.warning("could not read the store %s: %s", path, redact(e))
        return None


# --- the failure report -----------------------------------------------------------------------
_FILES = (("audit.ipynb", "the audit notebook, executed as far as it ran"),
          ("sync.ipynb", "the sync notebook, executed as far as it ran"),
          ("plan.json", "the plan (not applied)"),
          ("summary.json", "the audit's numbers"),
          (AUDIT_REPORT_NAME, "the audit's report, written before the failure"),
          ("snapshot", "the fetched directories"),
          (LOG_NAME, "the runner's log and the notebooks' output"),
          (KERNEL_LOG, "the kernels' own messages"),
          (RUN_JSON, "status, exit code, error, timings (machine-readable)"))

def _failure_report(result: RunResult, *, audit_report: str = "") -> FailureReport:
    """The failure report of ``result``: its plain values handed to the report package."""
    from .report.failure import build_failure_report
    files = tuple((n, w) for n, w in _FILES
                  if n in (LOG_NAME, RUN_JSON) or (result.run_dir / n).exists())
    rep = build_failure_report(
        run_id=result.run_id, generated_at=_now(), status=result.status,
        exit_code=result.exit_code, meaning=exit_meaning(result.exit_code),
        error_class=result.error_class,
        error_message=bounded(result.error_message or result.error or ""),
        failed_notebook=result.failed_notebook, failed_cell=result.failed_cell,
        store_before=result.store_before, store_after=result.store_after, fetch=result.fetch,
        apply=result.apply, summary=result.summary, audit_report=audit_report,
        run_dir=shown(result.run_dir), files=files)
    return replace(rep, advice=(bounded(result.advice),) * bool(result.advice) + rep.advice)


def _report_failure(result: RunResult, config, run_dir: Path) -> None:
    """The failure report and its notification, unless the sync notebook reported the failure
    itself (a refusal: its report and notification already say so). Never raises: a report
    that cannot be written is logged, and the run keeps its exit code."""
    sync = result.sync or {}
    if sync.get("status") not in (None, "ok") and sync.get("notification"):
        log.info("the sync notebook reported the %s itself: %s", sync.get("status"),
                 sync.get("report"))
        return
    try:
        page = run_dir / REPORT_NAME
        audit_report = ""
        if page.is_file():     # written by the audit notebook before the failure
            page.replace(run_dir / AUDIT_REPORT_NAME)
            audit_report = AUDIT_REPORT_NAME
        rep = _failure_report(result, audit_report=audit_report)
        from .notify import notify
        from .report.compose import write_report
        path = write_report(rep, page)
        sent = notify(rep, config, run_dir, report_path=path)
        result.notification = {"report": str(path), "notification": sent.get("eml"),
                               "sent": sent.get("sent"), "send_error": sent.get("error"),
                               "status": result.status, "subject": rep.subject()}
        log.info("failure report %s and notification %s (%s)", path, sent.get("eml"),
                 "sent" if sent.get("sent") else sent.get("error") or "not sent: no [smtp] host")
    except Exception as e:  # noqa: BLE001 - the run's own failure must not be hidden by this one
        log.error("could not write the failure report: %s: %s", type(e).__name__, redact(e))


def _redact_file(path: Path) -> None:
    """The kernel wrote this file itself, past our redaction: redact it afterwards."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if (clean := redact(text)) != text:
        path.write_text(clean, encoding="utf-8")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
