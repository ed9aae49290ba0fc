"""What each ``usermap`` command does once its arguments are parsed (``cli.py`` parses them and
turns errors into exit codes): call the one wiring of the steps (``usermap.workflow``) and print
what it returned, in words, with the next command where there is one. No step is repeated here.
"""

from __future__ import annotations

from pathlib import Path

from . import workflow
from .activities.commands import run as run_activities
from .clipaths import load_config
from .clock import utc_now

__all__ = ["HANDLERS"]



def cmd_sandbox(args) -> int:
    from .sandbox.command import run_sandbox
    return run_sandbox(args)


def cmd_fetch(args) -> int:
    info = workflow.fetch(load_config(args.config), Path(args.out))
    print(f"fetched {info['counts']['aloware_users']} Aloware users and "
          f"{info['counts']['hubspot_owners']} HubSpot owners into {args.out} "
          f"({info['requests']} requests, {info['retries']} retries)")
    return 0


def cmd_audit(args) -> int:
    cfg = load_config(args.config)
    data = workflow.load(args.snapshot, args.store, engine=args.engine, prefetch=args.prefetch)
    result = workflow.audit(data, profile_url=cfg.aloware.profile_url)
    workflow.write_audit(result, Path(args.out), snapshot=args.snapshot, store_path=args.store)
    print(result.summary_text())
    print(f"wrote {args.out}/summary.json, mapped.csv, unmapped_aloware.csv, "
          f"unmapped_hubspot.csv, errors.csv")
    return 0


def cmd_plan(args) -> int:
    from .engine.plan import describe
    data = workflow.load(args.snapshot, args.store, engine=args.engine, prefetch=args.prefetch)
    result = workflow.audit(data, suggestions=False)
    p = workflow.make_plan(data, result, only=args.only, force=args.force, now=utc_now(),
                           out=args.out)
    print(describe(p))
    print(f"wrote {args.out}")
    return 0


def cmd_apply(args) -> int:
    """Without --yes a dry run: the plan, whether it would need --force, and the command that
    applies it; exit 0 (a stale or foreign plan is still refused: it could not be applied)."""
    from .engine.plan import describe
    from .nextstep import apply_command, needs_force
    from .planfile import read_plan
    p = read_plan(args.plan)
    print(describe(p))
    done = workflow.apply(args.store, p, yes=args.yes, force=args.force or not args.yes,
                          now=utc_now())
    if not len(p):
        print(f"nothing to apply; store revision is {done.revision}")
        return 0
    if done.dry_run:
        guard = "" if args.force else needs_force(p)
        print(guard + "\n" * bool(guard) + "dry run: nothing was changed; to apply it: "
              + apply_command(args.plan, args.store, force=bool(guard) or args.force))
        return 0
    print(f"applied as run {done.store_run_id}; store revision is now {done.revision}")
    return 0


def cmd_mappings(args) -> int:
    from .sources.snapshot import read_mappings_csv
    from .store.store import Store
    if args.mappings_command == "import":
        links = read_mappings_csv(args.csv, engine=args.engine)
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


def cmd_map(args) -> int:
    snapshot = args.snapshot
    if snapshot is None and args.config is not None:
        cfg = load_config(args.config)
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


def cmd_init(args) -> int:
    info = workflow.init_store(args.store)
    if info["created"]:
        print(f"created an empty store {args.store} (store id {info['store_id']})")
    else:
        print(f"{args.store} is a usermap store already (store id {info['store_id']}, revision "
              f"{info['revision']}, {info['links']} links); nothing was changed")
    return 0


def cmd_unmap(args) -> int:
    run_id = workflow.unmap_link(args.store, args.aloware_id, now=utc_now())
    print(f"removed the link of Aloware user {args.aloware_id} as run {run_id}")
    return 0


def cmd_run(args) -> int:
    from .runner import run
    result = run(load_config(args.config), apply=args.apply, force=args.force)
    print(result.describe())
    return result.exit_code


def cmd_report(args) -> int:
    path = workflow.report_for_snapshot(load_config(args.config), args.snapshot, args.store,
                                        args.out, now=utc_now(), activities=args.activities)
    print(f"wrote {path}")
    return 0


def cmd_tab(args) -> int:
    from .tabserver import serve
    return serve(load_config(args.config), port=args.port, snapshot=args.snapshot)


def cmd_runs(args) -> int:
    from .store.store import Store
    with Store.open(args.store, create=False) as store:
        rows = store.runs()
    if not rows:
        print("no runs")
        return 0
    kind = max(8, *(len(str(r["kind"])) for r in rows))   # activities_undo is 15 wide
    print(f"{'run id':<26} {'kind':<{kind}} {'time':<21} {'changes':>8}  revision")
    for r in rows:
        print(f"{r['run_id']:<26} {r['kind']:<{kind}} {r['finished_at']:<21} "
              f"{r['changes']:>8}  {r['revision_before']}->{r['revision_after']}")
    return 0


def cmd_undo(args) -> int:
    from .engine.plan import describe
    from .nextstep import apply_command, needs_force
    from .clipaths import config_path
    p = workflow.undo(args.store, args.run_id, now=utc_now(), out=args.out,
                      config=config_path(args.config) or "")
    print(describe(p))
    guard = needs_force(p)
    print(guard + "\n" * bool(guard) + f"wrote {args.out}; review it, then: "
          + apply_command(args.out, args.store, force=bool(guard)))
    return 0


HANDLERS = {
    "sandbox": cmd_sandbox, "fetch": cmd_fetch, "audit": cmd_audit, "plan": cmd_plan,
    "apply": cmd_apply, "mappings": cmd_mappings, "map": cmd_map, "unmap": cmd_unmap,
    "run": cmd_run, "report": cmd_report, "runs": cmd_runs, "undo": cmd_undo,
    "init": cmd_init, "tab": cmd_tab, "activities": run_activities,
}
