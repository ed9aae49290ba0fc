"""What the notebooks call (docs/design.md §1, §7; issue 4). The notebooks stay thin: a ``parameters``
cell, then calls into this module and ``display``; every decision and every file written lives here.

A notebook starts with::

    s = nb.start("audit", config=config, snapshot=snapshot, store=store, run_dir=run_dir,
                 run_id=run_id)

which checks the parameters (names, types; and that papermill injected no unknown name, see
``check_parameters``), loads the config and resolves every path. Then:

- ``load(s)``: the snapshot to audit. ``snapshot="demo"`` (the default) generates an offline demo
  world (``sandbox.scenarios``) into the run folder with a demo store holding its links, so the
  notebook runs anywhere, with no account and no network; a folder path audits that snapshot;
  ``""`` fetches both directories from the APIs named in the config into ``run_dir/snapshot``
  (tokens from the environment, through ``sources.fetch``; never a parameter).
- ``audit``, ``write_audit``: the views of §4 and summary.json + CSVs in the run folder; a run
  (``run_id`` set) also records its audit in the store, for the next report's comparison.
- ``show_*``, ``overview_*``, ``plan_by_step``: the displays, from ``usermap.display`` (searchable,
  paginated tables; every value from Aloware or HubSpot is escaped before it reaches HTML).
- ``make_plan``, ``apply``, ``finish``: the sync notebook's plan.json, the guarded apply, the
  report and the notification.

Every step (load, audit, plan, apply, record, report, notify) is ``usermap.workflow``'s; this
module resolves a notebook's parameters into a ``Session``, calls the workflow with it and prints
what happened. Must not repeat a step, build a command string or check a plan's safety itself;
must not be imported by workflow, cli or runner. Heavy or optional modules (itables, IPython,
papermill) are imported inside the functions that need them.
"""

from __future__ import annotations

import ast
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import display, workflow
from .clock import utc_now
from .config import Config
from .errors import InputError, RemovalGuardError
from .workflow import Loaded

__all__ = ["PARAMETERS", "DEMO", "DEMO_USERS", "DEMO_SEED", "Session", "check_parameters",
           "injected_parameter_names", "start", "load", "audit", "write_audit", "errors_by_code",
           "show_errors", "write_report", "activities", "make_plan", "apply", "finish"]

# The parameters of each notebook, with their types. The notebooks' `parameters` cells declare
# exactly these (tests/commands/test_notebooks.py checks that they agree); the runner passes no others.
_COMMON = {"config": str, "snapshot": str, "store": str, "run_dir": str, "run_id": str}
PARAMETERS = {
    "audit": dict(_COMMON),
    "sync": {**_COMMON, "apply": bool, "force": bool},
}
DEMO = "demo"            # the snapshot value that means "an offline generated world"
DEMO_USERS = 200         # big enough for every showcase case (scenarios.SHOWCASE_MIN_USERS)
DEMO_SEED = 7
DEMO_STORE = "demo.db"
SNAPSHOT_DIR = "snapshot"
REPORT_FILE, PLAN_FILE, SUMMARY_FILE = workflow.REPORT_FILE, "plan.json", "summary.json"
_INJECTED_COMMENT = "# Parameters"   # first line of the cell papermill injects


# --- parameters -------------------------------------------------------------------------------
def injected_parameter_names() -> set[str] | None:
    """The names assigned by papermill's injected-parameters cell(s) in this kernel, read from
    the kernel's input history; None outside IPython.

    papermill writes the injected cell as ``# Parameters`` followed by one assignment per
    parameter, and only *warns* about a name the notebook does not declare. The kernel cannot see
    the notebook file, but it keeps the source of every cell it ran, so the check reads it there.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return None
    shell = get_ipython()
    if shell is None:
        return None
    names: set[str] = set()
    for source in getattr(shell.history_manager, "input_hist_raw", []) or []:
        if not isinstance(source, str) or not source.lstrip().startswith(_INJECTED_COMMENT):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)
    return names


def check_parameters(notebook: str, values: dict, injected: set[str] | None = None) -> dict:
    """Validated parameters of ``notebook`` ("audit" or "sync"): names and types.

    An unknown name (a typo such as ``-p aply True``) fails the run with InputError (exit 2):
    papermill itself only logs a warning and the notebook would run with the default. Names come
    from ``values`` (what the notebook passes on) and from the injected cell (``injected``, read
    from the kernel's history when not given).
    """
    if notebook not in PARAMETERS:
        raise InputError(f"unknown notebook {notebook!r}; known: {', '.join(PARAMETERS)}")
    known = PARAMETERS[notebook]
    names = ", ".join(known)
    if injected is None:
        injected = injected_parameter_names() or set()
    for name in sorted((set(values) | set(injected)) - set(known)):
        raise InputError(f"unknown parameter {name!r} for {notebook}.ipynb; its parameters are: "
                         f"{names}", file=f"{notebook}.ipynb", column=name)
    missing = set(known) - set(values)
    if missing:
        raise InputError(f"{notebook}.ipynb does not pass on {', '.join(sorted(missing))}",
                         file=f"{notebook}.ipynb")
    out = {}
    for name, kind in known.items():
        v = values[name]
        if kind is bool:
            if not isinstance(v, bool):
                raise InputError(f"expected True or False, got {v!r}", file=f"{notebook}.ipynb",
                                 column=name)
        elif v is None:
            v = ""
        elif isinstance(v, os.PathLike):
            v = os.fspath(v)
        elif not isinstance(v, str):
            raise InputError(f"expected a string, got {type(v).__name__} {v!r}",
                             file=f"{notebook}.ipynb", column=name)
        out[name] = v
    return out


# --- the session --------------------------------------------------------------------------
@dataclass
class Session:
    """The resolved parameters of one notebook execution."""

    notebook: str
    config: Config
    config_path: str          # "" for the built-in defaults
    source: str               # "demo", "snapshot" or "fetch"
    snapshot: Path            # the folder audited (written by load() for demo and fetch)
    store_path: Path
    run_dir: Path
    run_id: str
    recorded: bool            # a run of `usermap run`: record the audit, no progress bars
    apply: bool = False
    force: bool = False
    started_at: str = field(default_factory=utc_now)

    def __repr__(self) -> str:
        what = {"demo": f"an offline demo world ({DEMO_USERS} users, seed {DEMO_SEED})",
                "snapshot": f"the snapshot {self.snapshot}",
                "fetch": f"the APIs of {self.config_path or 'the default config'} "
                         f"(fetched into {self.snapshot})"}[self.source]
        lines = [f"{self.notebook}.ipynb, run {self.run_id}",
                 f"  audits:     {what}",
                 f"  store:      {self.store_path}",
                 f"  run folder: {self.run_dir}"]
        if self.notebook == "sync":
            lines.append(f"  apply:      {self.apply}" + ("  (force)" if self.force else ""))
        return "\n".join(lines)


def start(notebook: str, **params) -> Session:
    """Check the parameters, load the config and resolve every path (creating the run folder)."""
    p = check_parameters(notebook, params)
    cfg = Config.load(p["config"] or None)
    recorded = bool(p["run_id"])
    run_id = p["run_id"] or _new_run_id()
    if p["run_dir"]:
        run_dir = Path(p["run_dir"]).expanduser().absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
    else:
        run_dir = Path(tempfile.mkdtemp(prefix=f"usermap-{notebook}-{run_id}-"))
    snap = p["snapshot"]
    if snap == DEMO:
        source, snapshot = "demo", run_dir / SNAPSHOT_DIR
    elif snap:
        source, snapshot = "snapshot", Path(snap).expanduser().absolute()
        if not snapshot.is_dir():
            raise InputError("snapshot folder not found", file=str(snapshot), column="snapshot")
    else:
        source, snapshot = "fetch", run_dir / SNAPSHOT_DIR
    if p["store"]:
        store = Path(p["store"]).expanduser().absolute()
    elif source == "demo":
        store = run_dir / DEMO_STORE
    else:
        store = cfg.resolve(cfg.store.path).absolute()
    return Session(notebook=notebook, config=cfg, config_path=p["config"], source=source,
                   snapshot=snapshot, store_path=store, run_dir=run_dir, run_id=run_id,
                   recorded=recorded, apply=p.get("apply", False), force=p.get("force", False))


def _new_run_id() -> str:
    from .clock import new_run_id
    return new_run_id()


# --- loading ------------------------------------------------------------------------------
def load(s: Session) -> Loaded:
    """The users, owners and links to audit (see the module docstring for the three sources)."""
    info = None
    if s.source == "demo":
        _demo(s)
    elif s.source == "fetch":
        info = workflow.fetch(s.config, s.snapshot, progress=False if s.recorded else None)
        print(f"fetched {info['counts']['aloware_users']:,} Aloware users and "
              f"{info['counts']['hubspot_owners']:,} HubSpot owners "
              f"({info['requests']} requests, {info['retries']} retries, {info['seconds']} s)")
    return workflow.load(s.snapshot, s.store_path, fetch_info=info)


def _demo(s: Session) -> None:
    """The demo world's snapshot and a store holding its links (each made once per run folder,
    so a demo sync that applied its plan is seen by the next audit of the same folder)."""
    from .sandbox.scenarios import FILE_MAPPINGS, generate, write_world
    from .files import write_atomic
    from .sources.snapshot import read_mappings_csv
    from .store.store import Store
    if not (s.snapshot / "hubspot_owners.json").is_file():
        world = generate(DEMO_USERS, seed=DEMO_SEED)
        write_atomic(s.snapshot, lambda tmp: write_world(world, tmp))
    if not s.store_path.exists():
        links = read_mappings_csv(s.snapshot / FILE_MAPPINGS)
        with Store.open(s.store_path, create=True) as store:   # the demo's own store
            store.import_links(links, now=s.started_at)


# --- the audit ------------------------------------------------------------------------------
def audit(s: Session, data: Loaded):
    """The audit (docs/design.md §4) of the loaded data, with suggestions and profile links."""
    return workflow.audit(data, profile_url=s.config.aloware.profile_url)


def write_audit(s: Session, result) -> dict:
    """summary.json, mapped.csv, unmapped_aloware.csv, unmapped_hubspot.csv and errors.csv in
    the run folder; a recorded run also keeps the audit in the store's history."""
    return workflow.write_audit(result, s.run_dir, snapshot=str(s.snapshot),
                                store_path=str(s.store_path),
                                run_id=s.run_id if s.recorded else "", now=s.started_at)


def _commands(s: Session):
    return workflow.commands(s.snapshot, s.store_path)


def errors_by_code(s: Session, result):
    """§4.6: the errors per code, what each means and how a sync treats it."""
    return display.errors_by_code(result, _commands(s))


def show_errors(s: Session, result) -> None:
    """Every error with its detail and its fix command (the plan restricted to it)."""
    display.show_errors(result, _commands(s))


# --- the report -------------------------------------------------------------------------------
def write_report(s: Session, result, *, plan=None, applied=False, status="ok", notes=()) -> Path:
    """The HTML report of this audit in the run folder (``report.html``)."""
    rep = workflow.build_report(s.config, result, snapshot=s.snapshot, store_path=s.store_path,
                                now=utc_now(), plan=plan, applied=applied, run_id=s.run_id,
                                status=status, notes=notes, repair=workflow.read_impact(s.run_dir))
    return workflow.write_report(rep, s.run_dir / REPORT_FILE)


def activities(s: Session, result) -> dict | None:
    """Design §10: the calls and texts that landed on the wrong owner, when ``[activities]
    enabled`` (read-only: impact.csv and summary.json in the run folder), one sentence per
    person as the report says it. None when activities are not enabled."""
    summary = workflow.activity_impact(s.config, s.store_path, s.run_dir)
    if summary is None:
        print("Activities: not enabled ([activities] enabled = true in usermap.toml scans them).")
        return None
    from .report.repair import build_repair
    from .engine.models import U_FIRST, U_ID, U_LAST
    u = result.users
    names = dict(zip(u[U_ID].astype(str),
                     (u[U_FIRST].fillna("") + " " + u[U_LAST].fillna("")).str.strip()))
    rep = build_repair(summary, names)
    print(f"{rep.misattributed:,} of {rep.scanned:,} calls and texts landed on the wrong owner: "
          f"{rep.repairable:,} can be repaired (proven), {rep.unknown:,} cannot be proven.")
    for _, _, sentence in rep.people[:50]:
        print("  " + sentence)
    return summary


# --- the sync -------------------------------------------------------------------------------
def make_plan(s: Session, data: Loaded, result):
    """The sync plan (docs/design.md §5), written to ``plan.json`` in the run folder before any
    apply (unchecked: a plan the guard refuses is kept for review; ``apply`` refuses it)."""
    return workflow.make_plan(data, result, force=s.force, now=utc_now(), guard=False,
                              out=s.run_dir / PLAN_FILE)


def apply(s: Session, result, plan) -> dict:
    """Apply the plan when the notebook's ``apply`` is true.

    The plan refuses itself when it removes too many links unless ``force`` (exit 3): the
    refused plan stays in plan.json, and the report and the notification say so before the
    error stops the notebook. Returns what happened: applied, run id, store revision."""
    if not s.apply:
        print("dry run: nothing was changed (apply=True applies the plan)")
        return workflow.Applied.unapplied(plan, dry_run=True).to_dict()
    try:
        done = workflow.apply(s.store_path, plan, now=utc_now(), force=s.force,
                              run_id=s.run_id)
    except RemovalGuardError as e:
        finish(s, result, plan, workflow.Applied.unapplied(plan, dry_run=False).to_dict(),
               status="refused", notes=[f"Refused for safety: {e}"])
        raise
    if not done.applied:
        print("nothing to apply: the store is in step with the directories")
        return done.to_dict()
    n = plan.counts()
    print(f"applied {len(plan):,} changes ({n['add']} added, {n['update']} updated, "
          f"{n['remove']} removed) as run {done.store_run_id}; store revision is now "
          f"{done.revision}")
    return done.to_dict()


def finish(s: Session, result, plan, outcome: dict, *, status: str = "ok", notes=()) -> dict:
    """The final report (with the plan, applied or not) and the notification (notification.eml,
    sent by SMTP when configured). Returns the paths and whether the e-mail was sent."""
    out = workflow.finish(s.config, result, plan, outcome, snapshot=s.snapshot,
                          store_path=s.store_path, run_dir=s.run_dir, run_id=s.run_id,
                          now=utc_now(), status=status, notes=notes, record=s.recorded)
    print(f"report:       {out['report']}")
    print(f"notification: {out['notification']}"
          + (" (sent)" if out["sent"] else f" (not sent: {out['send_error']})"
             if out["send_error"] else " (not sent: no [smtp] host)"))
    return out


# --- the User Mapping tab (docs/design.md §9) -------------------------------------------------------
def tab(config: str = "", *, snapshot: str = "", store: str = "", workdir=None):
    """The User Mapping tab, shown by a notebook cell that ends with this call: overview cards,
    the lists, Sync Users / Fix Issue / Link / Undo last sync and their Apply. ``snapshot``: a
    folder that Refresh re-reads (empty: fetch from the APIs of ``config``)."""
    from .tab.app import MappingTab
    return MappingTab(config or None, snapshot=snapshot, store=store, workdir=workdir)
