"""``usermap activities impact|plan|apply|undo`` (DESIGN §6, §10): the parsers and the wiring.

cli.py adds the group with ``add_parser`` and calls ``run``; the store comes from ``[store]
path`` of --config (checked to exist by cli's path checks), HubSpot from ``[hubspot]``, the
token from HUBSPOT_ACCESS_TOKEN.

Adapter: wires config, store, CRM client and files; prints one summary line per command.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..clock import utc_now
from ..errors import InputError

__all__ = ["add_parser", "run"]

_EVIDENCE = "an Aloware export (JSON lines or CSV) that names the user of each call"


def add_parser(sub, command) -> None:
    """The ``activities`` group; ``command`` is cli's subcommand builder."""
    s = command(sub, "activities", "find and repair calls and SMS logged to the wrong owner",
                "usermap activities impact --config usermap.toml --out impact/\n"
                "usermap activities plan --config usermap.toml --out repair.json\n"
                "usermap activities apply repair.json --config usermap.toml --yes")
    a = s.add_subparsers(dest="activities_command", required=True,
                         metavar="impact|plan|apply|undo", title="subcommands")
    for name, help_, example in (
            ("impact", "list the activities that landed on the wrong owner (read-only)",
             "usermap activities impact --config usermap.toml --since 2026-11-01 --out impact/"),
            ("plan", "write a repair plan of the proven activities (grades A and B)",
             "usermap activities plan --config usermap.toml --out repair.json")):
        p = command(a, name, help_, example)
        _common(p)
        p.add_argument("--since", default="", metavar="DATE",
                       help="only activities logged from this date (ISO 8601, UTC)")
        p.add_argument("--evidence", default=None, metavar="FILE", help=_EVIDENCE)
        p.add_argument("--out", required=True, metavar="DIR" if name == "impact" else
                       "PLAN.json", help="the folder to write impact.csv and summary.json"
                       if name == "impact" else "the plan file to write")
    p = command(a, "apply", "apply an activities plan (a dry run unless --yes)",
                "usermap activities apply repair.json --config usermap.toml --yes")
    p.add_argument("plan", metavar="PLAN.json", help="the plan file")
    _common(p)
    p.add_argument("--yes", action="store_true", help="write to HubSpot (else a dry run)")
    p.add_argument("--force", action="store_true",
                   help="go past the guard on the share of activities changed")
    p = command(a, "undo", "write the plan that undoes an activities repair run",
                "usermap activities undo 20261124T120000Z-3f9a --config usermap.toml "
                "--out undo.json")
    p.add_argument("run_id", metavar="RUN_ID", help="the repair run (see `usermap runs`)")
    _common(p)
    p.add_argument("--out", required=True, metavar="PLAN.json", help="the plan file to write")


def _common(p) -> None:
    p.add_argument("--config", default=None, metavar="usermap.toml",
                   help="the configuration ([hubspot], [store], [activities])")
    p.set_defaults(store=None)


def run(args) -> int:
    from ..config import Config
    cfg = Config.load(args.config) if args.config or Path("usermap.toml").exists() \
        else Config()
    return {"impact": _impact, "plan": _plan, "apply": _apply, "undo": _undo}[
        args.activities_command](args, cfg)


def _since_ms(since: str) -> int:
    from .rules import to_ms
    if not since:
        return 0
    try:
        return to_ms(since if "T" in since else since + "T00:00:00Z")
    except ValueError:
        raise InputError(f"not an ISO 8601 date: {since[:40]!r}", column="--since") from None


def _scan(args, cfg, store):
    from .evidence import read_evidence
    from .repair import scan_store
    events = read_evidence(args.evidence) if args.evidence else None
    return scan_store(cfg, store, since_ms=_since_ms(args.since), events=events)


def _impact(args, cfg) -> int:
    from .. import files
    from ..store.store import Store
    from .impact import write_impact
    files.check_output_folder(args.out, protected={"store": args.store, "config": args.config},
                              holds=("impact.csv", "summary.json"), kind="activities impact")
    with Store.open(args.store) as store:
        imp, tl = _scan(args, cfg, store)
    s = write_impact(imp, tl, args.out, since=args.since)
    print(f"{s['activities']} activities scanned; {s['misattributed']} landed on the wrong "
          f"owner: {s['repairable']} can be repaired (A {s['by_grade']['A']}, B "
          f"{s['by_grade']['B']}), {s['by_grade']['unknown']} unknown; wrote {args.out}")
    return 0


def _plan(args, cfg) -> int:
    from .. import files
    from ..store.store import Store
    from .evidence import read_evidence
    from .plan import write_plan
    from .repair import plan_repair
    files.check_output_file(args.out, protected={"store": args.store, "config": args.config})
    events = read_evidence(args.evidence) if args.evidence else None
    with Store.open(args.store) as store:
        plan, imp = plan_repair(cfg, store, since=args.since, since_ms=_since_ms(args.since),
                                events=events)
    write_plan(plan, args.out)
    print(f"plan: {len(plan['changes'])} activities to repair (of {imp.scanned} scanned, "
          f"{len(imp.rows)} on the wrong owner); wrote {args.out}")
    return 0


def _apply(args, cfg) -> int:
    from ..store.store import Store
    from .apply import guard
    from .plan import read_plan
    from .repair import apply_repair
    with Store.open(args.store) as store:
        plan = read_plan(args.plan, store_id=store.store_id)
        guard(plan, cfg.activities.guard_share, args.force)
        n = len(plan["changes"])
        if not args.yes:
            print(f"dry run: would set the owner of {n} activities ({plan['kind']}); nothing "
                  f"was changed. Apply with --yes")
            return 0
        try:
            got = apply_repair(cfg, store, plan, config_arg=_config_arg(args))
        except Exception as e:
            told = getattr(e, "run_record", None)
            if told:    # the run stopped half-way: its report says what was done
                print(_where(told), file=sys.stderr)
            raise
    print(f"run {got['run_id']}{' (resumed)' if got['resumed'] else ''}: {got['done']} "
          f"activities set, {got['skipped']} skipped (changed since the plan), "
          f"{got['failed']} failed\n{_where(got)}")
    return 0


def _config_arg(args) -> str:
    """The --config the next commands should name: as given, else ./usermap.toml."""
    return args.config or "usermap.toml"


def _where(told: dict) -> str:
    """Where a run's report and notification are, as ``usermap run`` says it."""
    from ..files import shown
    from ..notify import delivery
    return shown(f"  report:       {told['report']}\n"
                 f"  notification: {told['notification']} ({delivery(told)})")


def _undo(args, cfg) -> int:
    from .. import files
    from ..store.store import Store
    from .plan import write_plan
    from .undo import undo_plan
    files.check_output_file(args.out, protected={"store": args.store, "config": args.config})
    with Store.open(args.store) as store:
        plan = undo_plan(store, args.run_id, created_at=utc_now())
    write_plan(plan, args.out)
    import shlex
    print(f"undo plan: {len(plan['changes'])} activities back to their old owner; wrote "
          f"{args.out}. Apply it with `usermap activities apply {shlex.quote(args.out)} "
          f"--config {shlex.quote(_config_arg(args))} --yes`")
    return 0

