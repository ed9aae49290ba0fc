"""What the notebooks call (DESIGN.md §1, §7; issue 4). The notebooks stay thin: a ``parameters``
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
- ``show_*``: searchable, paginated tables (itables, offline mode). Every value from Aloware or
  HubSpot is escaped before it reaches HTML.
- ``make_plan``, ``apply``, ``finish``: the sync notebook's plan.json, the guarded apply, the
  report and the notification.

Adapter: files, the store, the sources, the report and notify. Imports of heavy or optional
modules (itables, IPython, papermill) happen inside the functions that need them.
"""

from __future__ import annotations

import ast
import html
import json
import os
import shlex
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from .config import Config
from .errors import InputError, RemovalGuardError
from .models import CONFLICT_ICON, EMAIL_CONFLICT_CODES, ISSUE_CODES

__all__ = [
    "PARAMETERS", "DEMO", "DEMO_USERS", "DEMO_SEED", "Session", "Loaded", "check_parameters",
    "injected_parameter_names", "start", "load", "audit", "write_audit", "overview_text",
    "overview_table", "init_display", "show", "show_mapped", "show_conflicts",
    "show_unmapped_aloware", "show_unmapped_hubspot", "errors_by_code", "show_errors",
    "write_report", "fetch_note", "make_plan", "describe_plan", "plan_by_step", "show_plan", "apply", "finish",
]

# The parameters of each notebook, with their types. The notebooks' `parameters` cells declare
# exactly these (tests/test_notebooks.py checks that they agree); the runner passes no others.
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
REPORT_FILE, PLAN_FILE, SUMMARY_FILE = "report.html", "plan.json", "summary.json"
DISPLAY_MAX_BYTES = "2MB"   # itables embeds at most this much of a table, then shows a sample
_INJECTED_COMMENT = "# Parameters"   # first line of the cell papermill injects


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    started_at: str = field(default_factory=_now)

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
    from .store import new_run_id
    return new_run_id()


# --- loading ------------------------------------------------------------------------------
@dataclass
class Loaded:
    users: pd.DataFrame
    owners: pd.DataFrame
    links: pd.DataFrame
    revision: int
    snapshot: Path
    fetch_info: dict | None = None

    def __repr__(self) -> str:
        return (f"{len(self.users):,} Aloware users and {len(self.owners):,} HubSpot owners; "
                f"{len(self.links):,} links in the store (revision {self.revision})")


def load(s: Session) -> Loaded:
    """The users, owners and links to audit (see the module docstring for the three sources)."""
    from .sources.snapshot import read_snapshot
    from .store import Store
    info = None
    if s.source == "demo":
        _demo(s)
    elif s.source == "fetch":
        from .sources.fetch import fetch_snapshot
        info = fetch_snapshot(s.config, s.snapshot, progress=False if s.recorded else None)
        print(f"fetched {info['counts']['aloware_users']:,} Aloware users and "
              f"{info['counts']['hubspot_owners']:,} HubSpot owners "
              f"({info['requests']} requests, {info['retries']} retries, {info['seconds']} s)")
    users, owners = read_snapshot(s.snapshot)
    with Store.open(s.store_path) as store:
        links, revision = store.links(), store.revision
    return Loaded(users, owners, links, revision, s.snapshot, info)


def _demo(s: Session) -> None:
    """The demo world's snapshot and a store holding its links (each made once per run folder,
    so a demo sync that applied its plan is seen by the next audit of the same folder)."""
    from .sandbox.scenarios import FILE_MAPPINGS, generate, write_world
    from .sources.snapshot import read_mappings_csv, write_atomic
    from .store import Store
    if not (s.snapshot / "hubspot_owners.json").is_file():
        world = generate(DEMO_USERS, seed=DEMO_SEED)
        write_atomic(s.snapshot, lambda tmp: write_world(world, tmp))
    if not s.store_path.exists():
        links = read_mappings_csv(s.snapshot / FILE_MAPPINGS)
        with Store.open(s.store_path) as store:
            store.import_links(links, now=s.started_at)


# --- the audit ------------------------------------------------------------------------------
def audit(s: Session, data: Loaded):
    """The audit (DESIGN.md §4) of the loaded data, with suggestions and profile links."""
    from . import reconcile
    return reconcile.audit(data.users, data.owners, data.links, suggestions=True,
                           profile_url=s.config.aloware.profile_url)


def write_audit(s: Session, result) -> dict:
    """summary.json, mapped.csv, unmapped_aloware.csv, unmapped_hubspot.csv and errors.csv in
    the run folder; a recorded run also keeps the audit in the store's history."""
    from .output import write_audit as _write
    summary = _write(result, s.run_dir, snapshot=str(s.snapshot), store=str(s.store_path))
    if s.recorded:
        from .store import Store
        ids = [i for i in result.mapped["issue_id"].tolist() if i]
        with Store.open(s.store_path) as store:
            store.record_audit(s.run_id, s.started_at, summary, ids)
    return summary


def overview_text(result) -> str:
    """The overview numbers (§4.1) as text: stable, so nbval can compare it."""
    s = result.summary()
    lines = [f"mapped:                  {s['mapped']:>7,}",
             f"  synced:                {s['synced']:>7,}",
             f"  with issues:           {s['errors']:>7,}"]
    for code, n in s["errors_by_code"].items():
        icon = f" {CONFLICT_ICON}" if code in EMAIL_CONFLICT_CODES else ""
        lines.append(f"    {code + icon:<30}{n:>5,}")
    lines.append(f"unmapped Aloware users:  {s['unmapped_aloware']:>7,}")
    for r, n in s["unmapped_aloware_by_reason"].items():
        lines.append(f"    {r:<30}{n:>5,}")
    lines.append(f"unmapped HubSpot owners: {s['unmapped_hubspot']:>7,}")
    for r, n in s["unmapped_hubspot_by_reason"].items():
        lines.append(f"    {r:<30}{n:>5,}")
    return "\n".join(lines)


def overview_table(result) -> pd.DataFrame:
    """The overview as a small frame (what, count, share of mapped)."""
    s = result.summary()
    rows = [("mapped", s["mapped"]), ("synced", s["synced"]), ("with issues", s["errors"]),
            (f"e-mail conflicts {CONFLICT_ICON}", s.get("email_conflicts", 0)),
            ("unmapped Aloware users", s["unmapped_aloware"]),
            ("unmapped HubSpot owners (active)", s["unmapped_hubspot"]),
            ("Aloware users", s.get("aloware_users", 0)),
            ("HubSpot owners", s.get("hubspot_owners", 0))]
    df = pd.DataFrame(rows, columns=["", "count"]).set_index("")
    if s["mapped"]:
        df["share of mapped"] = [f"{100 * n / s['mapped']:.1f} %" if i < 4 else ""
                                 for i, n in enumerate(df["count"])]
    return df


# --- display ----------------------------------------------------------------------------------
def init_display() -> None:
    """itables in offline mode (the DataTables bundle is embedded: no network needed)."""
    import itables
    itables.init_notebook_mode(all_interactive=False, connected=False)


def _esc(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return html.escape(str(v), quote=True)


def _link(url: str, text: str) -> str:
    u = str(url or "")
    if not u.lower().startswith(("https://", "http://")):
        return _esc(u)
    return (f'<a href="{_esc(u)}" target="_blank" rel="noopener noreferrer">'
            f"{_esc(text)}</a>")


def show(df: pd.DataFrame, caption: str | None = None, *, html_columns=(), **options) -> None:
    """A searchable, paginated table. Values are text; the columns in ``html_columns`` carry
    markup this module made (every other cell is escaped before it is marked up)."""
    from itables import show as _show
    kw = dict(caption=caption, maxBytes=DISPLAY_MAX_BYTES, pageLength=10,
              lengthMenu=[10, 25, 50, 100, 500], classes="display compact",
              showIndex=False)
    kw.update(options)
    if df.empty:
        from IPython.display import display
        display(f"({caption or 'table'}: none)")
        return
    if html_columns:
        df = df.copy()
        for c in df.columns:   # every text column, whatever its dtype (object, str, category)
            if c not in html_columns and not (pd.api.types.is_numeric_dtype(df[c])
                                              or pd.api.types.is_bool_dtype(df[c])):
                df[c] = df[c].map(_esc).astype(object)
        kw["allow_html"] = True
    _show(df, **kw)


def _issue_label(code: str) -> str:
    return f"{CONFLICT_ICON} {code}" if code in EMAIL_CONFLICT_CODES else code


def mapped_frame(result) -> pd.DataFrame:
    m = result.mapped
    return pd.DataFrame({
        "first name": m["first_name"], "last name": m["last_name"],
        "Aloware id": m["aloware_user_id"], "HubSpot id": m["hubspot_owner_id"],
        "e-mail": m["email"], "HubSpot e-mail": m["hubspot_email"], "method": m["method"],
        "status": m["status"], "issue": m["issue"].map(_issue_label),
    })


def show_mapped(result) -> None:
    """§4.2: every link with its integration status; search by name, e-mail or id."""
    show(mapped_frame(result), "Mapped users (integration status)")


def show_conflicts(result) -> None:
    """The e-mail conflicts (the last three issue codes), each with the icon."""
    df = mapped_frame(result)
    df = df[result.mapped["conflict"].to_numpy(bool)]
    show(df, f"E-mail conflicts {CONFLICT_ICON}")


def _suggestions_html(items) -> str:
    return "<br>".join(f"{_esc(x['name'])} &lt;{_esc(x['email'])}&gt; "
                       f"(HubSpot {_esc(x['hubspot_owner_id'])}, {x['score']:.2f})"
                       for x in (items or []))


def show_unmapped_aloware(result) -> None:
    """§4.4: unmapped Aloware users with their reason, profile link and suggested owners."""
    ua = result.unmapped_aloware
    df = pd.DataFrame({
        "first name": ua["first_name"], "last name": ua["last_name"],
        "Aloware id": ua["aloware_user_id"], "e-mail": ua["email"], "status": ua["status"],
        "kind": ua["kind"], "reason": ua["reason"],
        "profile": [_link(u, "profile") for u in ua["profile_url"]],
        "suggested owners": [_suggestions_html(x) for x in ua["suggestions"]],
    })
    show(df, "Unmapped Aloware users", html_columns=("profile", "suggested owners"))


def show_unmapped_hubspot(result) -> None:
    """§4.5: active HubSpot owners without a link, with their reason."""
    uh = result.unmapped_hubspot
    df = pd.DataFrame({"first name": uh["first_name"], "last name": uh["last_name"],
                       "HubSpot id": uh["hubspot_owner_id"], "e-mail": uh["email"],
                       "type": uh["type"], "reason": uh["reason"]})
    show(df, "Unmapped HubSpot owners")


def _detail(code: str) -> str:
    from . import reconcile
    return getattr(reconcile, "_DETAILS", {}).get(code, code)


def _fix(s: Session, issue_id: str, code: str, user: str, method: str) -> str:
    from .output import fix_command
    return fix_command(issue_id, code, user, method, shlex.quote(str(s.snapshot)),
                       shlex.quote(str(s.store_path)))


def errors_by_code(s: Session, result) -> pd.DataFrame:
    """§4.6: the errors per code, what each means and how a sync treats it."""
    e = result.errors
    counts = e["code"].value_counts()
    rows = []
    for code in ISSUE_CODES:
        n = int(counts.get(code, 0))
        if not n:
            continue
        first = e[e["code"] == code].iloc[0]
        rows.append({"code": _issue_label(code), "errors": n, "meaning": _detail(code),
                     "fix (e.g. the first one)": _fix(s, first["issue_id"], code,
                                                      first["aloware_user_id"],
                                                      first["method"])})
    return pd.DataFrame(rows, columns=["code", "errors", "meaning", "fix (e.g. the first one)"])


def show_errors(s: Session, result) -> None:
    """Every error with its detail and its fix command (the plan restricted to it)."""
    e = result.errors
    df = pd.DataFrame({
        "issue": e["code"].map(_issue_label), "name": e["name"],
        "Aloware id": e["aloware_user_id"], "HubSpot id": e["hubspot_owner_id"],
        "detail": e["detail"],
        "fix": [_fix(s, i, c, u, m) for i, c, u, m in
                zip(e["issue_id"], e["code"], e["aloware_user_id"], e["method"])],
    })
    show(df, "Errors and their fix")


# --- the report -------------------------------------------------------------------------------
def _report(s: Session, result, *, plan=None, applied=False, status="ok", notes=()):
    from . import report as rep
    from .store import Store
    with Store.open(s.store_path) as store:
        history = store.audits(limit=60)
    acts = None
    if s.config.report.activities_csv:
        acts = rep.read_activities(s.config.resolve(s.config.report.activities_csv))
    snap, db = shlex.quote(str(s.snapshot)), shlex.quote(str(s.store_path))
    fetched = fetch_note(s.snapshot)
    if fetched:
        notes = (fetched, *notes)
    return rep.build_report(
        result, plan=plan, applied=applied, run_id=s.run_id, generated_at=_now(),
        status=status, history=history, activities=acts, mask_emails=s.config.report.mask_emails,
        fix_command=f"usermap plan {snap} --store {db} --out fix.json --only {{issue_id}}",
        decide_command=(f"decide: usermap map {{aloware_user_id}} OWNER_ID --store {db}  or  "
                        f"usermap unmap {{aloware_user_id}} --store {db}"),
        notes=tuple(notes))


def fetch_note(snapshot) -> str:
    """What the fetch of a snapshot took (its fetch.json): requests, and the retries by cause,
    so a report says when a run got through 429s, server errors or cut connections; "" for a
    snapshot that was not fetched."""
    try:
        info = json.loads((Path(snapshot) / "fetch.json").read_text(encoding="utf-8"))
        counts = info["counts"]
        text = (f"Fetched {int(counts['aloware_users']):,} Aloware users and "
                f"{int(counts['hubspot_owners']):,} HubSpot owners in "
                f"{int(info['requests']):,} requests ({float(info['seconds']):g} s)")
        retries = int(info.get("retries") or 0)
        causes = {str(k): int(v) for k, v in (info.get("retries_by_cause") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ""
    if not retries:
        return text + ", without retries."
    why = ", ".join(f"{n} after {_CAUSES.get(k, k)}" for k, n in sorted(causes.items()))
    return text + f", with {retries} retries: {why}."


_CAUSES = {"rate_limit": "rate limiting (HTTP 429)", "server_error": "server errors (HTTP 5xx)",
           "connection": "cut, refused or timed-out connections"}


def write_report(s: Session, result, **kw) -> Path:
    """The HTML report of this audit in the run folder (``report.html``)."""
    from .report import write_report as _write
    rep = _report(s, result, **kw)
    return _write(rep, s.run_dir / REPORT_FILE)


# --- the sync -------------------------------------------------------------------------------
def make_plan(s: Session, data: Loaded, result):
    """The sync plan (DESIGN.md §5), written to ``plan.json`` in the run folder (before any
    apply, so a refused plan can be reviewed)."""
    from . import plan as planmod
    from .sources.snapshot import fingerprint
    p = planmod.make_plan(result, store_revision=data.revision,
                          fingerprint=fingerprint(data.snapshot), force=s.force,
                          created_at=_now())
    planmod.write_plan(p, s.run_dir / PLAN_FILE)
    return p


def describe_plan(plan) -> str:
    from .plan import describe
    return describe(plan)


_STEP_ORDER = {"match": 0, "resolve": 1, "cleanup": 2}


def plan_by_step(plan) -> pd.DataFrame:
    """Changes counted by step (match, resolve, clean up), reason and action."""
    from .plan import plan_frame
    f = plan_frame(plan)
    if f.empty:
        return pd.DataFrame(columns=["step", "reason", "action", "changes"])
    g = f.groupby(["step", "reason", "action"]).size().rename("changes").reset_index()
    g["_o"] = g["step"].map(_STEP_ORDER).fillna(9)
    g = g.sort_values(["_o", "changes"], ascending=[True, False]).drop(columns="_o")
    g["step"] = g["step"].replace({"cleanup": "clean up"})
    g["reason"] = g["reason"].map(_issue_label)
    return g.set_index(["step", "reason", "action"])


def show_plan(plan) -> None:
    from .plan import plan_frame
    f = plan_frame(plan)
    f["reason"] = f["reason"].map(_issue_label)
    show(f, "The plan: every change")


def apply(s: Session, result, plan) -> dict:
    """Apply the plan when the notebook's ``apply`` is true.

    The removal guard refuses a plan that removes too many links unless ``force`` (exit 3): the
    refused plan stays in plan.json, and the report and the notification say so before the
    error stops the notebook. Returns what happened: applied, run id, store revision."""
    from .plan import check_guard
    out = {"applied": False, "changes": len(plan), "store_run_id": None,
           "revision": plan.store_revision, "dry_run": not s.apply}
    if not s.apply:
        print("dry run: nothing was changed (apply=True applies the plan)")
        return out
    try:
        check_guard(plan, force=s.force)
    except RemovalGuardError as e:
        finish(s, result, plan, out, status="refused",
               notes=[f"Refused for safety: {e}"])
        raise
    if not len(plan):
        print("nothing to apply: the store is in step with the directories")
        return out
    from .apply import apply_plan
    from .store import Store
    with Store.open(s.store_path, create=False) as store:
        out["store_run_id"] = apply_plan(store, plan, now=_now(), force=s.force,
                                         run_id=s.run_id)
        out["revision"] = store.revision
    out["applied"] = True
    n = plan.counts()
    print(f"applied {len(plan):,} changes ({n['add']} added, {n['update']} updated, "
          f"{n['remove']} removed) as run {out['store_run_id']}; store revision is now "
          f"{out['revision']}")
    return out


def finish(s: Session, result, plan, outcome: dict, *, status: str = "ok", notes=()) -> dict:
    """The final report (with the plan, applied or not) and the notification (notification.eml,
    sent by SMTP when configured). Returns the paths and whether the e-mail was sent."""
    from .notify import notify
    notes = list(notes)
    if outcome.get("dry_run"):
        notes.append("Dry run: nothing was changed. `usermap run --apply` applies the plan.")
    elif outcome.get("applied"):
        notes.append(f"Applied as run {outcome['store_run_id']}; the store is now at revision "
                     f"{outcome['revision']}.")
    if plan.exceeds_guard and status == "ok":
        notes.append(f"The plan removes {plan.removals} links, more than the removal guard "
                     f"allows ({plan.removal_limit}); applying it needs --force.")
    rep = _report(s, result, plan=plan, applied=bool(outcome.get("applied")), status=status,
                  notes=notes)
    from .report import write_report as _write
    path = _write(rep, s.run_dir / REPORT_FILE)
    sent = notify(rep, s.config, s.run_dir, report_path=path)
    out = {"report": str(path), "notification": sent.get("eml"), "sent": sent.get("sent"),
           "send_error": sent.get("error"), "subject": rep.subject()}
    (s.run_dir / "sync.json").write_text(json.dumps({**outcome, **out, "status": status},
                                                    indent=2, default=str) + "\n",
                                         encoding="utf-8")
    print(f"report:       {path}")
    print(f"notification: {out['notification']}"
          + (" (sent)" if out["sent"] else f" (not sent: {out['send_error']})"
             if out["send_error"] else " (not sent: no [smtp] host)"))
    return out
