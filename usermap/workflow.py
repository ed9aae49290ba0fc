"""The one wiring of usermap's steps (docs/design.md §1, issue 9):

    load (snapshot + store) -> audit -> plan (``only`` too) -> apply -> record -> report -> notify

``cli.py``, ``notebook.py``, ``runner.py`` (through the notebooks) and the tab call these
functions; none of them repeats a step. The tab's recorded runs (``pin_plan``, ``apply_recorded``,
...) are in recording.py, re-exported here on first use. Every function takes paths, a ``Config`` and ``now``
(``clock.utc_now()`` at the edge), and returns data: the engine's ``Audit`` and ``Plan``, the
report's ``Report``, or the small dataclasses below (``Loaded``, ``Applied``). A GUI can call
them as they are.

Safety is decided by the plan itself (``Plan.check``: stale store, removal guard); this module
calls it in exactly two places, the plan step (``make_plan(guard=True)``) and the apply step
(``apply``, through ``apply.apply_plan``).

Must not print, read stdin, call ``sys.exit`` or map errors to exit codes: errors are raised
(``usermap.errors``) and ``cli.py`` turns them into exit codes. Must not import cli, notebook,
runner or tab. Adapters (store, sources, report, notify) are imported inside the functions that
use them, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import labels, planfile
from .clock import utc_now
from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .config import Config
    from .engine.models import Plan
    from .output import FixCommands
    from .engine.reconcile import Audit

__all__ = [
    "Loaded", "load", "fetch", "fetch_note", "audit", "write_audit", "make_plan",
    "Applied", "apply", "commands", "build_report", "write_report", "report_for_snapshot",
    "audit_after", "finish", "undo", "activity_impact", "read_impact", "IMPACT_DIR",
    "map_link", "unmap_link", "init_store", "clean_id", "newest_snapshot",
    "PLACEHOLDER_IDS", "HISTORY_LIMIT", "REPORT_FILE", "SYNC_FILE",
]

HISTORY_LIMIT = 60           # recorded audits a report compares with and plots (newest kept)
REPORT_FILE, SYNC_FILE = "report.html", "sync.json"
IMPACT_DIR = "activities"   # a run folder's impact.csv and summary.json (design §10)


# --- load -------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What an audit is made of: both directories of a snapshot and the store's links."""

    users: "pd.DataFrame"
    owners: "pd.DataFrame"
    links: "pd.DataFrame"
    revision: int
    snapshot: Path
    digest: object = field(default="", repr=False)   # the fingerprint, or a Future of it
    fetch_info: dict | None = None
    store_id: str = ""
    engine: str = "auto"   # the readers' and the audit's kernels ("auto", "exact", "fast")

    @property
    def fingerprint(self) -> str:
        """sha256 of the snapshot's two files (what a plan records it was made from): hashed
        in the background since ``load``, waited for on first use."""
        if not isinstance(self.digest, str):
            self.digest = self.digest.result()
        if not self.digest:
            self.digest = _fingerprint(self.snapshot)
        return self.digest

    def __repr__(self) -> str:
        return (f"{len(self.users):,} Aloware users and {len(self.owners):,} HubSpot owners; "
                f"{len(self.links):,} links in the store (revision {self.revision})")


def load(snapshot, store_path, *, create: bool = False, fetch_info: dict | None = None,
         engine: str = "auto", prefetch=None) -> Loaded:
    """The users and owners of the snapshot folder, its fingerprint, and the store's links and
    revision.

    ``engine`` ("auto", "exact", "fast") picks the readers and, through ``Loaded.engine``, the
    audit's Arrow kernels. ``prefetch``: a child process already parsing this snapshot's owners
    file (``sources/owners/prefetch.py``, started by the console script); it is handed to the
    owners reader, and closed (killed and reaped if still running) whatever happens.

    The users CSV is read in a second thread while this one parses the owners JSON (Arrow's
    CSV tokenizer lets go of the GIL). While a prefetch child works the store is read through a
    read-only connection (``Store.peek``: nothing written, so bad input still leaves the store
    as it was). The fingerprint is hashed in a background thread from the end of the load on,
    while the audit runs; ``Loaded.fingerprint`` waits for it. Otherwise the store is only
    opened (created, when ``create``; else a missing store is an InputError naming
    ``usermap init``) once the snapshot has been read without error, so bad input leaves no new
    store file behind.
    """
    from concurrent.futures import ThreadPoolExecutor

    from .sources.owners.read import read_owners
    from .engine.models import OWNERS_FILE, USERS_FILE
    from .sources.snapshot import check_snapshot_folder, fingerprint, read_users_csv
    from .store.store import Store
    early = None
    try:
        d = check_snapshot_folder(snapshot)
        with ThreadPoolExecutor(max_workers=1) as pool:
            users = pool.submit(read_users_csv, d / USERS_FILE, engine=engine)
            if prefetch is not None and not create:   # while the child works: a read-only look
                early = Store.peek(store_path)         # (writes nothing; None: open it below)
            owners = read_owners(d / OWNERS_FILE, engine=engine, prefetch=prefetch)
            users = users.result()
    finally:
        if prefetch is not None:
            prefetch.close()
    if early is not None:
        links, revision, store_id = early
    else:
        with Store.open(store_path, create=create) as store:
            links, revision, store_id = store.links(), store.revision, store.store_id
    # the fingerprint (sha256 of both files) only a plan needs: hashed in the background
    # (hashlib lets go of the GIL) while the audit runs on the other core
    return Loaded(users, owners, links, revision, d, _hash_in_background(fingerprint, d),
                  fetch_info, store_id, engine)


def _hash_in_background(fingerprint, d):
    """A Future of ``fingerprint(d)``, computed by a daemon thread (never waited for at exit:
    a command that needs no plan does not wait for it)."""
    import threading
    from concurrent.futures import Future
    done: Future = Future()

    def work() -> None:
        try:
            done.set_result(fingerprint(d))
        except BaseException as e:   # (handed to whoever asks for it)
            done.set_exception(e)
    threading.Thread(target=work, name="usermap-fingerprint", daemon=True).start()
    return done


def fetch(config: "Config", out, *, progress: bool | None = None) -> dict:
    """Fetch both directories from the APIs of ``config`` into the snapshot folder ``out``;
    returns what fetch.json says (counts, requests, retries, seconds)."""
    from .sources.api.fetch import fetch_snapshot
    return fetch_snapshot(config, Path(out), progress=progress)


def fetch_note(snapshot) -> str:
    """What the fetch of a snapshot took, in words (``labels.fetch_note`` of its fetch.json);
    "" for a snapshot that was not fetched."""
    try:
        info = json.loads((Path(snapshot) / "fetch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return labels.fetch_note(info)


# --- audit ------------------------------------------------------------------------------------
def audit(data: Loaded, *, profile_url: str | None = None, suggestions: bool = True) -> "Audit":
    """The audit (docs/design.md §4) of loaded data."""
    from .engine import reconcile
    return reconcile.audit(data.users, data.owners, data.links, suggestions=suggestions,
                           profile_url=profile_url, arrow=data.engine != "exact")


def commands(snapshot, store_path) -> "FixCommands":
    """The fix and decide commands of a snapshot and a store (``output.fix_commands``)."""
    from .output import fix_commands
    return fix_commands(snapshot, store_path)


def write_audit(result: "Audit", out, *, snapshot=None, store_path=None, run_id: str = "",
                now: str = "") -> dict:
    """summary.json and the CSVs in ``out``; with ``run_id``, the audit is also recorded in the
    store's history (for the next report's comparison and trend). Returns the summary."""
    from .output import write_audit as _write
    summary = _write(result, Path(out), snapshot=snapshot, store=store_path)
    if run_id:
        from .store.store import Store
        ids = [i for i in result.mapped["issue_id"].tolist() if i]
        with Store.open(store_path) as store:
            store.record_audit(run_id, now or utc_now(), summary, ids)
    return summary


# --- plan -------------------------------------------------------------------------------------
def make_plan(data: Loaded, result: "Audit", *, now: str, only: str | None = None,
              force: bool = False, guard: bool = True, out=None) -> "Plan":
    """The sync plan (docs/design.md §5) of an audit, restricted to issue ``only`` when given.

    With ``guard`` the plan is checked first (``Plan.check``: RemovalGuardError unless
    ``force``) and a refused plan is not written; without it the plan is written as it is (the
    sync notebook keeps a refused plan for review; its apply step refuses it). ``out``: where
    to write plan.json, if anywhere.
    """
    from .engine import plan as planmod
    p = planmod.make_plan(result, store_revision=data.revision,
                          fingerprint=data.fingerprint,
                          only=only, force=force, created_at=now, store_id=data.store_id)
    if guard:
        p.check(force=force)
    if out is not None:
        planfile.write_plan(p, out)
    return p


def _fingerprint(snapshot) -> str:
    from .sources.snapshot import fingerprint
    return fingerprint(snapshot)


# --- apply ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Applied:
    """What the apply step did. ``revision`` is always read from the store (never computed)."""

    applied: bool
    changes: int
    store_run_id: str | None
    revision: int
    dry_run: bool

    @classmethod
    def unapplied(cls, plan: "Plan", *, dry_run: bool) -> "Applied":
        """Nothing applied and the store not looked at: the sync notebook without ``apply``
        (``dry_run``), or a plan refused before the store was touched."""
        return cls(False, len(plan), None, plan.store_revision, dry_run)

    def to_dict(self) -> dict:
        return asdict(self)


def apply(store_path, plan: "Plan", *, now: str, yes: bool = True, force: bool = False,
          run_id: str | None = None) -> Applied:
    """Check the plan against the store (made on this store, stale, removal guard) and, with
    ``yes``, apply it in one transaction. Raises SafetyError (nothing changed) when the plan
    refuses itself.

    ``yes=False`` is a dry run: checked, nothing written. A plan without changes is checked and
    writes nothing either: no run is recorded and the revision stays (``applied`` is false,
    ``revision`` is the store's)."""
    from .store.apply import apply_plan
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        rid = apply_plan(store, plan, now=now, force=force, run_id=run_id, dry_run=not yes)
        return Applied(applied=rid is not None, changes=len(plan), store_run_id=rid,
                       revision=store.revision, dry_run=not yes)


def init_store(store_path) -> dict:
    """``usermap init``: an empty store at ``store_path``. Returns ``created`` (False when a
    usermap store is there already; it is left as it is), its ``store_id`` and ``revision``.
    Anything else at the path is an InputError and stays untouched."""
    from .store.store import Store
    store, created = Store.init(store_path)
    with store:
        return {"created": created, "store_id": store.store_id, "revision": store.revision,
                "links": store.count()}


def undo(store_path, run_id: str, *, now: str, out=None, config: str = "") -> "Plan":
    """The inverse plan of an applied run (written to ``out`` when given); apply it like any
    plan. Refused when the store moved on in ways that conflict. An activities run (design
    §10) is an InputError naming ``usermap activities undo`` with ``config`` (the --config to
    print; "" when none was given) and ``out``."""
    from .engine import plan as planmod
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        from .activities.undo import refuse_link_undo
        refuse_link_undo(store, run_id, store_path=store_path, config=config, out=out)
        p = planmod.undo_plan(store.journal(run_id), store.links(),
                              store_revision=store.revision, run_id=run_id, created_at=now,
                              store_id=store.store_id)
    if out is not None:
        planfile.write_plan(p, out)
    return p


#: Words that stand for an id in the commands usermap suggests (fix and decide commands,
#: --help): never an id, so a suggested command pasted unedited links nothing.
PLACEHOLDER_IDS = frozenset({"ALOWARE_ID", "OWNER_ID", "ALOWARE_USER_ID", "HUBSPOT_OWNER_ID",
                             "HUBSPOT_ID", "USER_ID", "ID", "RUN_ID", "ISSUE_ID"})


def clean_id(value, what: str) -> str:
    """An id typed by a person, as the file readers take ids: surrounding whitespace stripped.
    Empty, a placeholder word (``OWNER_ID``...) or a template left unfilled (``{...}``,
    ``<...>``) is an InputError naming ``what``."""
    text = str(value if value is not None else "").strip()
    if not text:
        raise InputError("is empty", column=what)
    bare = text.strip("<>{}[]").strip()
    if bare.upper() in PLACEHOLDER_IDS or any(ch in text for ch in "{}<>"):
        raise InputError(f"{text!r} is a placeholder from a suggested command, not an id: put "
                         f"the real id in its place", column=what)
    if not text.isprintable():
        raise InputError(f"{text!r} holds control characters", column=what)
    return text


def newest_snapshot(runs_dir) -> Path | None:
    """The snapshot of the newest run under ``runs_dir`` that fetched one
    (``<runs_dir>/<run id>/snapshot`` holding both directories), or None."""
    d = Path(runs_dir)
    if not d.is_dir():
        return None
    from .engine.models import OWNERS_FILE, USERS_FILE
    for run in sorted((p for p in d.iterdir() if p.name[:1].isdigit()), reverse=True):
        snap = run / "snapshot"
        if (snap / USERS_FILE).is_file() and (snap / OWNERS_FILE).is_file():
            return snap
    return None


def map_link(store_path, aloware_id: str, owner_id: str, *, now: str, snapshot=None,
             create: bool = False) -> str:
    """Pin a manual link; returns the store's run id. Both ids are cleaned (``clean_id``).
    With ``snapshot`` both must be in it (an InputError names the id and the snapshot) and
    their e-mails are recorded; without one nothing is checked. The store is created only
    with ``create``."""
    from .store.store import Store
    aloware_id = clean_id(aloware_id, "ALOWARE_ID")
    owner_id = clean_id(owner_id, "OWNER_ID")
    emails = ("", "")
    if snapshot:
        from .engine.reconcile import check_manual_link
        from .sources.snapshot import read_snapshot
        users, owners = read_snapshot(snapshot)
        try:
            emails = check_manual_link(users, owners, aloware_id, owner_id)
        except InputError as e:
            raise InputError(f"{e}; nothing was changed", file=str(snapshot)) from None
    with Store.open(store_path, create=create) as store:
        return store.map(aloware_id, owner_id, aloware_email=emails[0],
                         hubspot_email=emails[1], now=now)


def unmap_link(store_path, aloware_id: str, *, now: str) -> str:
    """Remove a user's link; returns the store's run id."""
    from .store.store import Store
    aloware_id = clean_id(aloware_id, "ALOWARE_ID")
    with Store.open(store_path, create=False) as store:
        return store.unmap(aloware_id, now=now)


# --- report and notify -------------------------------------------------------------------------
def build_report(config: "Config", result: "Audit", *, snapshot, store_path, now: str,
                 plan: "Plan | None" = None, applied: bool = False, run_id: str = "",
                 status: str = "ok", notes=(), activities=None, before: "Audit | None" = None,
                 repair: dict | None = None,
                 mode: str = ""):
    """The report (``usermap.report.Report``) of an audit: the store's recorded history, the
    activities CSV (``activities``, else the config's), the fix commands of this snapshot and
    store, and the note of the snapshot's fetch before ``notes``. ``before``: after an applied
    run, the audit before its changes (``result`` is then the audit after them)."""
    from .report.build import build_report
    from .report.compose import read_activities
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        history = store.audits(limit=HISTORY_LIMIT)
    path = activities or (config.resolve(config.report.activities_csv)
                          if config.report.activities_csv else None)
    acts = read_activities(path) if path else None
    fetched = fetch_note(snapshot)
    cmds = commands(snapshot, store_path)
    report = build_report(
        result, plan=plan, applied=applied, run_id=run_id, generated_at=now, status=status,
        history=history, activities=acts, mask_emails=config.report.mask_emails,
        fix_command=cmds.fix, decide_command=cmds.decide, before=before,
        notes=((fetched,) if fetched else ()) + tuple(notes), repair=repair)
    if mode:
        from dataclasses import replace
        report = replace(report, mode=mode)
    return report


def audit_after(config: "Config", result: "Audit", *, snapshot, store_path, run_id: str = "",
                now: str = "", record: bool = False) -> "Audit":
    """The audit of the store *after* an applied run, against the same snapshot (docs/design.md
    §8: the report shows the state after the changes). With ``record`` (and a ``run_id``) the
    run's entry in the store's audit history becomes the state after, with the state before
    kept inside it (``summary["before"]``: its summary and issue ids): one entry per run, so
    the trend counts each run once and "since the previous run" compares with the state the
    previous run left."""
    data = load(snapshot, store_path, create=False)
    after = audit(data, profile_url=config.aloware.profile_url)
    if record and run_id:
        from .store.store import Store
        before = {"summary": result.summary(),
                  "issues": sorted(i for i in result.mapped["issue_id"].tolist() if i)}
        with Store.open(store_path) as store:
            store.record_audit(run_id, now or utc_now(), {**after.summary(), "before": before,
                                                          "state": "after"},
                               [i for i in after.mapped["issue_id"].tolist() if i])
    return after


def write_report(report, path) -> Path:
    """Write the report's HTML page atomically."""
    from .report.compose import write_report as _write
    return _write(report, Path(path))


def report_for_snapshot(config: "Config", snapshot, store_path, out, *, now: str,
                        activities=None) -> Path:
    """``usermap report``: audit a snapshot against the store, with the plan a sync would make
    and the history of recorded audits, and write the HTML report. Changes nothing."""
    data = load(snapshot, store_path, create=False)
    result = audit(data, profile_url=config.aloware.profile_url)
    plan = make_plan(data, result, now=now, guard=False)
    report = build_report(config, result, snapshot=snapshot, store_path=store_path, now=now,
                          plan=plan, activities=activities,
                          notes=[f"Snapshot {snapshot}; store {store_path} at revision "
                                 f"{data.revision}. A report only: nothing was changed."])
    return write_report(report, out)


def activity_impact(config: "Config", store_path, run_dir) -> dict | None:
    """Design §10's impact, read-only, when ``[activities] enabled``: the calls and texts that
    landed on the wrong owner, in ``run_dir/activities`` (impact.csv, summary.json). Returns
    the summary, or None when activities are not enabled."""
    if not config.activities.enabled:
        return None
    from .activities.impact import write_impact
    from .activities.repair import scan_store
    from .store.store import Store
    with Store.open(store_path, create=False) as store:
        imp, tl = scan_store(config, store)
    return write_impact(imp, tl, Path(run_dir) / IMPACT_DIR)


def read_impact(run_dir) -> dict | None:
    """The impact summary a run wrote (``activity_impact``), or None."""
    try:
        return json.loads((Path(run_dir) / IMPACT_DIR / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def finish(config: "Config", result: "Audit", plan: "Plan", outcome, *, snapshot, store_path,
           run_dir, run_id: str, now: str, status: str = "ok", notes=(),
           record: bool = False) -> dict:
    """The sync's last steps: the report (with the plan, applied or not) in
    ``run_dir/report.html``, the notification (notification.eml, sent by SMTP when configured)
    and ``run_dir/sync.json`` (what happened, read by the runner). ``outcome``: an ``Applied``
    (or its dict). After an applied plan the store is audited again against the same snapshot
    (``audit_after``; ``record``: that state replaces the run's entry in the audit history)
    and the report shows the state after the changes, with before -> after. Returns the paths,
    whether the e-mail was sent, and the subject."""
    from .notify import notify
    o = outcome.to_dict() if isinstance(outcome, Applied) else dict(outcome)
    notes = list(notes)
    applied = bool(o.get("applied"))
    if o.get("dry_run"):
        mode = "dry_run" if len(plan) else "in_step"
        notes.append("Dry run: nothing was changed. `usermap run --apply` applies the plan.")
    elif applied:
        mode = "applied"
        notes.append(f"Applied as run {o['store_run_id']}; the store is now at revision "
                     f"{o['revision']}. The numbers are those of the store after the changes.")
    else:
        mode = "refused" if status == "refused" else "in_step" if not len(plan) else ""
    if plan.exceeds_guard and status == "ok":
        notes.append(f"The plan removes {plan.removals} links, more than the removal guard "
                     f"allows ({plan.removal_limit}); applying it needs --force.")
    run_dir = Path(run_dir)
    before = None
    if applied:
        before, result = result, audit_after(config, result, snapshot=snapshot,
                                             store_path=store_path, run_id=run_id, now=now,
                                             record=record)
    rep = build_report(config, result, snapshot=snapshot, store_path=store_path, now=now,
                       plan=plan, applied=applied, run_id=run_id, status=status,
                       notes=notes, before=before, mode=mode, repair=read_impact(run_dir))
    path = write_report(rep, run_dir / REPORT_FILE)
    sent = notify(rep, config, run_dir, report_path=path)
    out = {"report": str(path), "notification": sent.get("eml"), "sent": sent.get("sent"),
           "send_error": sent.get("error"), "subject": rep.subject()}
    extra = {"after": result.summary(), "before": before.summary()} if before is not None else {}
    (run_dir / SYNC_FILE).write_text(json.dumps({**o, **out, "status": status, **extra},
                                                indent=2, default=str) + "\n", encoding="utf-8")
    return out
