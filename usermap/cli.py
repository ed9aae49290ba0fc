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
from .errors import UsermapError, exit_code_for

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
    s.add_argument("--rate-limit", type=int, default=0, help="requests per 10 s, then 429")
    s.add_argument("--error-rate", type=float, default=0.0, help="share of 5xx answers")
    s.add_argument("--drop-rate", type=float, default=0.0, help="share of cut connections")
    s.add_argument("--latency", type=int, default=0, help="ms added to every answer")
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
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--config", default=None)

    s = sub.add_parser("plan", help="compute the sync plan")
    s.add_argument("snapshot")
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--only", default=None, metavar="ISSUE_ID")
    s.add_argument("--force", action="store_true")

    s = sub.add_parser("apply", help="apply a plan (dry run unless --yes)")
    s.add_argument("plan")
    s.add_argument("--store", required=True)
    s.add_argument("--yes", action="store_true")
    s.add_argument("--force", action="store_true")


def _add_links(sub) -> None:
    """mappings import/export, map, unmap: the store's links by hand."""
    s = sub.add_parser("mappings", help="import or export the links")
    msub = s.add_subparsers(dest="mappings_command", required=True)
    m = msub.add_parser("import")
    m.add_argument("csv")
    m.add_argument("--store", required=True)
    m.add_argument("--force", action="store_true")
    m = msub.add_parser("export")
    m.add_argument("--store", required=True)
    m.add_argument("csv")

    s = sub.add_parser("map", help="pin a manual link")
    s.add_argument("aloware_id")
    s.add_argument("owner_id")
    s.add_argument("--store", required=True)
    s.add_argument("--snapshot", default=None,
                   help="check both ids against this snapshot and record their e-mails")

    s = sub.add_parser("unmap", help="remove a link")
    s.add_argument("aloware_id")
    s.add_argument("--store", required=True)


def _add_runs(sub) -> None:
    """run, report, runs, undo: scheduled runs, reports and the history of applied runs."""
    s = sub.add_parser("run", help="papermill run into runs/<run_id>/")
    s.add_argument("--config", default=None)
    s.add_argument("--apply", action="store_true")
    s.add_argument("--force", action="store_true")

    s = sub.add_parser("report", help="the HTML report for a snapshot")
    s.add_argument("snapshot")
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--config", default=None)
    s.add_argument("--activities", default=None, help="aloware_user_id,type,timestamp CSV")

    s = sub.add_parser("tab", help="serve the User Mapping tab with Voila on 127.0.0.1")
    s.add_argument("--config", default=None)
    s.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    s.add_argument("--snapshot", default="", help="a snapshot folder Refresh re-reads "
                   "(default: fetch from the APIs)")

    s = sub.add_parser("runs", help="the applied runs")
    s.add_argument("--store", required=True)

    s = sub.add_parser("undo", help="the inverse plan of an applied run")
    s.add_argument("run_id")
    s.add_argument("--store", required=True)
    s.add_argument("--out", required=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _tune_pandas()
    # One short-lived process that builds millions of small containers and frees them at exit:
    # the cyclic GC would only rescan them. (Long-running `sandbox`/`run` keep it on.)
    if args.command not in ("sandbox", "run", "tab"):
        import gc
        gc.disable()
    try:
        handler = _HANDLERS[args.command]
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


# --- handlers -------------------------------------------------------------------------------
def _config(path):
    from .config import Config
    if path is None and Path("usermap.toml").exists():
        path = "usermap.toml"
    return Config.load(path)


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
        with Store.open(args.store) as store:
            run_id, counts = store.import_links(links, now=utc_now(), force=args.force)
        print(f"imported {len(links)} links from {args.csv} as run {run_id}: "
              f"{counts['add']} added, {counts['update']} updated, {counts['remove']} removed")
        return 0
    with Store.open(args.store, create=False) as store:
        n = store.export_links(args.csv)
    print(f"exported {n} links to {args.csv}")
    return 0


def _cmd_map(args) -> int:
    run_id = workflow.map_link(args.store, args.aloware_id, args.owner_id, now=utc_now(),
                               snapshot=args.snapshot)
    print(f"linked Aloware user {args.aloware_id} to HubSpot owner {args.owner_id} (manual) "
          f"as run {run_id}")
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


def _cmd_tab(args) -> int:
    from .tabserver import serve
    return serve(_config(args.config), port=args.port, snapshot=args.snapshot)


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
    "tab": _cmd_tab,
}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
