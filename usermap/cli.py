"""The ``usermap`` command (DESIGN.md §6): a stable contract that scheduled jobs depend on.

This is the one place where errors become exit codes; what each code means is the one table
``errors.EXIT_CODES`` (0 done, 1 unexpected, 2 bad usage/config/input, 3 refused for safety,
4 a source failed, 130 interrupted). Each subcommand parses its arguments, calls the one wiring
of the steps (``usermap.workflow``) and prints what it returned; no step is repeated here.

Must not be imported by any other usermap module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import workflow
from .clock import utc_now
from .errors import InputError, UsermapError, exit_code_for

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage already; keep its message on stderr."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="usermap", description="Keep Aloware users and HubSpot owners mapped.")
    from . import version
    p.add_argument("--version", action="version", version=f"usermap {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sandbox(sub)
    _add_steps(sub)
    _add_links(sub)
    _add_runs(sub)
    return p


def _add_sandbox(sub) -> None:
    s = sub.add_parser("sandbox", help="serve both fake APIs on 127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    s.add_argument("--users", type=int, default=200, help="size of the generated world")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--owners", type=int, default=None, help="owners (default: about --users)")
    s.add_argument("--archived", type=int, default=None,
                   help="extra archived owners to add (benchmarks)")
    s.add_argument("--snapshot", default=None, help="serve this snapshot folder instead")
    s.add_argument("--rate-limit", type=int, default=0,
                   help="requests per window (--rate-limit-window), then 429")
    s.add_argument("--rate-limit-window", type=float, default=10.0, metavar="S",
                   help="the rate-limit window in seconds (HubSpot's is 10)")
    s.add_argument("--daily-limit", type=int, default=None, metavar="N",
                   help="HubSpot requests a day; then 429 policy DAILY (default 250000)")
    s.add_argument("--error-rate", type=float, default=0.0, help="share of 5xx answers")
    s.add_argument("--drop-rate", type=float, default=0.0, help="share of cut connections")
    s.add_argument("--latency", type=int, default=0, help="ms added to every answer")
    s.add_argument("--trickle", type=int, default=0, metavar="MS",
                   help="send every answer one byte at a time, MS apart (a too-slow server)")
    s.add_argument("--cut-after", type=int, default=0, help="owners listings stop at page K")
    s.add_argument("--max-seconds", type=float, default=3600.0, help="stop after S seconds")
    s.add_argument("--config-out", default=None,
                   help="also write the usermap.toml here (and aloware_export.csv beside it)")
    s.add_argument("--verbose", action="store_true", help="log every request (tokens redacted)")


def _add_steps(sub) -> None:
    """fetch, audit, plan, apply: the steps of a sync, one command each."""
    s = sub.add_parser("fetch", help="pull both directories into a snapshot")
    s.add_argument("--out", required=True, help="snapshot folder to write")
    s.add_argument("--config", default=None, help="usermap.toml")

    s = sub.add_parser("audit", help="audit a snapshot against the store")
    s.add_argument("snapshot")
    _store_args(s)
    s.add_argument("--out", required=True)

    s = sub.add_parser("plan", help="compute the sync plan")
    s.add_argument("snapshot")
    _store_args(s)
    s.add_argument("--out", required=True)
    s.add_argument("--only", default=None, metavar="ISSUE_ID")
    s.add_argument("--force", action="store_true")

    s = sub.add_parser("apply", help="apply a plan (dry run unless --yes)")
    s.add_argument("plan")
    _store_args(s)
    s.add_argument("--yes", action="store_true")
    s.add_argument("--force", action="store_true")

    s = sub.add_parser("init", help="create an empty store")
    _store_args(s)


def _store_args(s, *, create: bool = False) -> None:
    """--store (default: ``[store] path`` of --config, or of ./usermap.toml) and --config."""
    s.add_argument("--store", default=None,
                   help="the store file (default: [store] path of the config)")
    s.add_argument("--config", default=None, help="usermap.toml")
    if create:
        s.add_argument("--create", action="store_true",
                       help="create the store if it does not exist")


def _add_links(sub) -> None:
    """mappings import/export, map, unmap: the store's links by hand."""
    s = sub.add_parser("mappings", help="import or export the links")
    msub = s.add_subparsers(dest="mappings_command", required=True)
    m = msub.add_parser("import")
    m.add_argument("csv")
    _store_args(m, create=True)
    m.add_argument("--force", action="store_true")
    m = msub.add_parser("export")
    _store_args(m)
    m.add_argument("csv")

    s = sub.add_parser("map", help="pin a manual link")
    s.add_argument("aloware_id")
    s.add_argument("owner_id")
    _store_args(s, create=True)
    s.add_argument("--snapshot", default=None,
                   help="check both ids against this snapshot and record their e-mails "
                        "(default: the newest run's snapshot under [runs] dir of --config)")

    s = sub.add_parser("unmap", help="remove a link")
    s.add_argument("aloware_id")
    _store_args(s)


def _add_runs(sub) -> None:
    """run, report, runs, undo: scheduled runs, reports and the history of applied runs."""
    s = sub.add_parser("run", help="papermill run into runs/<run_id>/")
    s.add_argument("--config", default=None)
    s.add_argument("--apply", action="store_true")
    s.add_argument("--force", action="store_true")

    s = sub.add_parser("report", help="the HTML report for a snapshot")
    s.add_argument("snapshot")
    _store_args(s)
    s.add_argument("--out", required=True)
    s.add_argument("--activities", default=None, help="aloware_user_id,type,timestamp CSV")

    s = sub.add_parser("runs", help="the applied runs")
    _store_args(s)

    s = sub.add_parser("undo", help="the inverse plan of an applied run")
    s.add_argument("run_id")
    _store_args(s)
    s.add_argument("--out", required=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "fetch":   # the fetch never imports pandas (issue 11: start-up)
        _tune_pandas()
    # One short-lived process that builds millions of small containers and frees them at exit:
    # the cyclic GC would only rescan them. (Long-running `sandbox`/`run` keep it on.)
    if args.command not in ("sandbox", "run"):
        import gc
        gc.disable()
    try:
        handler = _HANDLERS[args.command]
        _check_paths(args)  # stores and outputs: before anything is read or written
        return handler(args) or 0
    except UsermapError as e:
        print(f"usermap: error: {e}", file=sys.stderr)
        return exit_code_for(e)
    except KeyboardInterrupt:
        print("usermap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `usermap … | head`: the reader left; say nothing more
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # anything unexpected: exit 1 with the type, not a secret-bearing repr
        from .redact import redact
        print(f"usermap: unexpected error: {type(e).__name__}: {redact(str(e))}", file=sys.stderr)
        return 1


def _tune_pandas() -> None:
    """The command works on plain Python strings: pandas 3's inferred Arrow strings cost more
    than they save for ids and e-mails that are compared, counted and written back out. Only the
    `usermap` process is tuned; the library leaves a notebook's pandas settings alone."""
    import pandas as pd
    try:
        pd.set_option("future.infer_string", False)
    except (KeyError, ValueError, pd.errors.OptionError):  # an older or newer pandas: keep it
        pass


# --- stores and outputs: checked once, before a command reads anything ------------------------
SNAPSHOT_FILES = frozenset({"aloware_users.csv", "hubspot_owners.json", "fetch.json"})
AUDIT_FILES = frozenset({"summary.json", "mapped.csv", "unmapped_aloware.csv",
                         "unmapped_hubspot.csv", "errors.csv"})


def _config_path(path):
    """The config file a command uses: --config, else ./usermap.toml when there is one."""
    if path is None and Path("usermap.toml").exists():
        return "usermap.toml"
    return path


def _config(path):
    from .config import Config
    return Config.load(_config_path(path))


def _is_plan(head: bytes) -> bool:
    return b'"format": "usermap-plan/' in head


def _is_report(head: bytes) -> bool:
    return head.lstrip().lower().startswith(b"<!doctype html") and b'content="usermap"' in head


def _is_mappings(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").startswith(b"aloware_user_id,hubspot_owner_id")


def _check_paths(args) -> None:
    """The one place where a command's paths are checked (DESIGN.md §6), before anything is
    read: the store must exist (``usermap init`` makes one; ``mappings import`` and ``map``
    with ``--create``), and no output may be the store or the config, a folder where a file
    goes (or the other way round), or an existing file or folder that is not a usermap output
    of the same kind. Fills in ``args.store`` from the config when --store is omitted.
    InputError (exit 2) otherwise."""
    from . import files
    cmd = args.command
    sub = getattr(args, "mappings_command", None)
    if cmd in ("sandbox",):
        return
    cfg_path = _config_path(getattr(args, "config", None))
    if hasattr(args, "store") and args.store is None:
        cfg = _config(cfg_path)
        args.store = str(cfg.resolve(cfg.store.path))
    store = getattr(args, "store", None)
    if cmd in ("fetch", "run"):
        cfg = _config(cfg_path)
        store = cfg.resolve(cfg.store.path)
    protected = {"store": store, "config": cfg_path}

    creates = cmd == "init" or bool(getattr(args, "create", False))
    if creates and Path(store).is_dir():
        raise InputError("is a folder, not a usermap store file", file=str(store))
    if cmd != "fetch" and store is not None and not creates:
        _require_store(store)
    if cmd == "fetch":
        files.check_output_folder(args.out, protected=protected, holds=SNAPSHOT_FILES,
                                  kind="snapshot")
    elif cmd == "audit":
        files.check_output_folder(args.out, protected=protected, holds=AUDIT_FILES,
                                  kind="audit")
    elif cmd in ("plan", "undo"):
        files.check_output_file(args.out, protected=protected, kind="usermap plan file",
                                looks_like=_is_plan)
    elif cmd == "report":
        files.check_output_file(args.out, protected=protected, kind="usermap report",
                                looks_like=_is_report)
    elif cmd == "mappings" and sub == "export":
        files.check_output_file(args.csv, protected=protected, kind="mappings CSV",
                                looks_like=_is_mappings)


def _require_store(path) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, not a usermap store file", file=str(p))
    if not p.exists():
        raise InputError(f"store not found; create an empty one with `usermap init --store "
                         f"{p}`", file=str(p))


# --- handlers -------------------------------------------------------------------------------


def _cmd_sandbox(args) -> int:
    from .sandbox.command import run_sandbox
    return run_sandbox(args)


def _cmd_fetch(args) -> int:
    info = workflow.fetch(_config(args.config), Path(args.out))
    print(f"fetched {info['counts']['aloware_users']} Aloware users and "
          f"{info['counts']['hubspot_owners']} HubSpot owners into {args.out} "
          f"({info['requests']} requests, {info['retries']} retries)")
    return 0


def _cmd_audit(args) -> int:
    cfg = _config(args.config)
    data = workflow.load(args.snapshot, args.store)
    result = workflow.audit(data, profile_url=cfg.aloware.profile_url)
    workflow.write_audit(result, Path(args.out), snapshot=args.snapshot, store_path=args.store)
    print(result.summary_text())
    print(f"wrote {args.out}/summary.json, mapped.csv, unmapped_aloware.csv, "
          f"unmapped_hubspot.csv, errors.csv")
    return 0


def _cmd_plan(args) -> int:
    from .plan import describe
    data = workflow.load(args.snapshot, args.store)
    result = workflow.audit(data, suggestions=False)
    p = workflow.make_plan(data, result, only=args.only, force=args.force, now=utc_now(),
                           out=args.out)
    print(describe(p))
    print(f"wrote {args.out}")
    return 0


def _cmd_apply(args) -> int:
    from .files import read_plan
    from .plan import describe
    p = read_plan(args.plan)
    done = workflow.apply(args.store, p, yes=args.yes, force=args.force, now=utc_now())
    print(describe(p))
    if not len(p):
        print(f"nothing to apply; store revision is {done.revision}")
        return 0
    if done.dry_run:
        print("dry run: nothing was changed; add --yes to apply")
        return 0
    print(f"applied as run {done.store_run_id}; store revision is now {done.revision}")
    return 0


def _cmd_mappings(args) -> int:
    from .sources.snapshot import read_mappings_csv
    from .store import Store
    if args.mappings_command == "import":
        links = read_mappings_csv(args.csv)
        with Store.open(args.store, create=args.create) as store:
            run_id, counts = store.import_links(links, now=utc_now(), force=args.force)
            revision = store.revision
        if run_id is None:
            print(f"nothing to import: the store already holds the {len(links)} links of "
                  f"{args.csv}; store revision is {revision}")
            return 0
        print(f"imported {len(links)} links from {args.csv} as run {run_id}: "
              f"{counts['add']} added, {counts['update']} updated, {counts['remove']} removed")
        return 0
    with Store.open(args.store, create=False) as store:
        n = store.export_links(args.csv)
    print(f"exported {n} links to {args.csv}")
    return 0


def _cmd_map(args) -> int:
    snapshot = args.snapshot
    if snapshot is None and args.config is not None:
        cfg = _config(args.config)
        snapshot = workflow.newest_snapshot(cfg.resolve(cfg.runs.dir))
    aloware_id = workflow.clean_id(args.aloware_id, "ALOWARE_ID")
    owner_id = workflow.clean_id(args.owner_id, "OWNER_ID")
    run_id = workflow.map_link(args.store, aloware_id, owner_id, now=utc_now(),
                               snapshot=snapshot, create=args.create)
    print(f"linked Aloware user {aloware_id} to HubSpot owner {owner_id} (manual) "
          f"as run {run_id}")
    if snapshot:
        print(f"both ids were checked against the snapshot {snapshot}")
    else:
        print("no snapshot (--snapshot DIR, or a run's under [runs] dir of --config): nothing "
              "was checked; the ids were taken as given")
    return 0


def _cmd_init(args) -> int:
    info = workflow.init_store(args.store)
    if info["created"]:
        print(f"created an empty store {args.store} (store id {info['store_id']})")
    else:
        print(f"{args.store} is a usermap store already (store id {info['store_id']}, revision "
              f"{info['revision']}, {info['links']} links); nothing was changed")
    return 0


def _cmd_unmap(args) -> int:
    run_id = workflow.unmap_link(args.store, args.aloware_id, now=utc_now())
    print(f"removed the link of Aloware user {args.aloware_id} as run {run_id}")
    return 0


def _cmd_run(args) -> int:
    from .runner import run
    result = run(_config(args.config), apply=args.apply, force=args.force)
    print(result.describe())
    return result.exit_code


def _cmd_report(args) -> int:
    path = workflow.report_for_snapshot(_config(args.config), args.snapshot, args.store,
                                        args.out, now=utc_now(), activities=args.activities)
    print(f"wrote {path}")
    return 0


def _cmd_runs(args) -> int:
    from .store import Store
    with Store.open(args.store, create=False) as store:
        rows = store.runs()
    if not rows:
        print("no runs")
        return 0
    print(f"{'run id':<26} {'kind':<8} {'time':<21} {'changes':>8}  revision")
    for r in rows:
        print(f"{r['run_id']:<26} {r['kind']:<8} {r['finished_at']:<21} {r['changes']:>8}  "
              f"{r['revision_before']}->{r['revision_after']}")
    return 0


def _cmd_undo(args) -> int:
    from .plan import describe
    p = workflow.undo(args.store, args.run_id, now=utc_now(), out=args.out)
    print(describe(p))
    print(f"wrote {args.out}; review it, then: usermap apply {args.out} --store {args.store} --yes")
    return 0


_HANDLERS = {
    "sandbox": _cmd_sandbox, "fetch": _cmd_fetch, "audit": _cmd_audit, "plan": _cmd_plan,
    "apply": _cmd_apply, "mappings": _cmd_mappings, "map": _cmd_map, "unmap": _cmd_unmap,
    "run": _cmd_run, "report": _cmd_report, "runs": _cmd_runs, "undo": _cmd_undo,
    "init": _cmd_init,
}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
