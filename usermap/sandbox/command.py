"""``usermap sandbox``: serve a generated world or a snapshot folder until ``--max-seconds`` or
Ctrl-C, and print the URL and the config that fetches from it (docs/design.md §7)."""

from __future__ import annotations

import importlib
import importlib.util
import shlex
import sys
from pathlib import Path

from ..errors import InputError
from .crm import CrmObjects, stub_log_activities
from .scenarios import extra_archived_owners
from .server import OWNERS_PATH, USERS_PATH, SandboxServer

__all__ = ["run_sandbox"]


def _check_args(args) -> None:
    def bad(msg, opt):
        raise InputError(msg, column=opt)
    if args.snapshot is None and args.users < 1:
        bad("must be at least 1", "--users")
    if args.owners is not None and args.owners < 0:
        bad("must not be negative", "--owners")
    if (getattr(args, "archived", None) or 0) < 0:
        bad("must not be negative", "--archived")
    for opt, v in (("--error-rate", args.error_rate), ("--drop-rate", args.drop_rate)):
        if not 0.0 <= v <= 1.0:
            bad(f"must be between 0 and 1, got {v}", opt)
    for opt, v in (("--rate-limit", args.rate_limit), ("--latency", args.latency),
                   ("--cut-after", args.cut_after), ("--trickle", getattr(args, "trickle", 0))):
        if v < 0:
            bad("must not be negative", opt)
    if getattr(args, "trickle", 0) > 60_000:
        bad("must be at most 60000 (ms between two bytes)", "--trickle")
    window = getattr(args, "rate_limit_window", 10.0)
    if not (window > 0 and window <= 86400):
        bad(f"must be more than 0 and at most 86400, got {window}", "--rate-limit-window")
    if getattr(args, "daily_limit", None) is not None and args.daily_limit < 1:
        bad("must be at least 1", "--daily-limit")
    if getattr(args, "activities", 0) < 0:
        bad("must not be negative", "--activities")
    if getattr(args, "activities", 0) and args.snapshot:
        bad("needs a generated world (it logs activities from the world's links); leave out "
            "--snapshot", "--activities")
    if not getattr(args, "search_rate", 5.0) >= 0:
        bad("must not be negative", "--search-rate")
    if not args.max_seconds > 0:
        bad("must be more than 0", "--max-seconds")
    if not 0 <= args.port < 65536:
        bad("must be between 0 and 65535", "--port")


def _err(line: str) -> None:
    print(f"sandbox: {line}", file=sys.stderr, flush=True)


ACTIVITIES_WORLD = "usermap.sandbox.activities_world"


def log_activities(world, n: int, seed: int) -> tuple[CrmObjects, str, object]:
    """The world's calls and SMS: ``activities_world`` (the mapping timeline, graded cases,
    evidence) where that module is installed, else crm.py's stand-in; which; and the activity
    world (None for the stand-in), whose store and evidence ``--config-out`` writes."""
    if importlib.util.find_spec(ACTIVITIES_WORLD) is not None:
        module = importlib.import_module(ACTIVITIES_WORLD)
        aw = module.build(world, n, seed)
        return module.crm_objects(aw), "the world's mapping timeline", aw
    return stub_log_activities(world, n, seed), "stand-in: current links, no timeline", None


def _server_for(args) -> tuple[SandboxServer, str]:
    """The (not yet started) server the arguments ask for, and a description of its data."""
    crm, args.activity_world = CrmObjects(), None
    if args.snapshot:
        proto = SandboxServer.from_snapshot
        source = f"snapshot {args.snapshot}"
        data = (args.snapshot,)
    else:
        from .scenarios import generate
        world = generate(args.users, seed=args.seed, n_owners=args.owners)
        proto = SandboxServer
        source = f"generated world (--users {args.users} --seed {args.seed})"
        data = (world.users, world.owners)
        if getattr(args, "activities", 0):
            crm, how, args.activity_world = log_activities(world, args.activities, args.seed)
            source += f" + {args.activities} activities ({how})"
    crm.search_rate = getattr(args, "search_rate", 5.0)
    kw = dict(crm=crm, seed=args.seed, port=args.port, rate_limit=args.rate_limit,
              error_rate=args.error_rate, drop_rate=args.drop_rate, latency_ms=args.latency,
              cut_after=args.cut_after, trickle_ms=getattr(args, "trickle", 0), log=_err,
              verbose=getattr(args, "verbose", False),
              rate_window=getattr(args, "rate_limit_window", 10.0))
    if getattr(args, "daily_limit", None) is not None:
        kw["daily_limit"] = args.daily_limit
    srv = proto(*data, **kw)
    if getattr(args, "archived", None):
        srv.owners += extra_archived_owners(srv.owners, args.archived, seed=args.seed)
        srv._prepare()
        source += f" + {args.archived} archived owners"
    return srv, source


def _print_banner(srv: SandboxServer, args, source: str) -> None:
    """What is served where, the faults, and the config to fetch from it (written to
    ``--config-out`` with an admin export beside it when asked)."""
    c = srv.counts
    url = srv.base_url
    print(f"usermap sandbox serving at {url}")
    print(f"  data:    {source}")
    print(f"  HubSpot: {url}{OWNERS_PATH}  {c['owners_active_listing']} active-listing + "
          f"{c['owners_archived_listing']} archived owners")
    print(f"  Aloware: {url}{USERS_PATH}  {c['aloware_api_users']} users "
          f"(+{c['aloware_deleted_users']} deleted: in the admin export only)")
    print(f"  CRM:     {url}/crm/v3/objects/{{calls,communications}}/{{search,batch/read,"
          f"batch/update}}  {srv.crm.count('calls')} calls, {srv.crm.count('communications')} "
          f"communications (also /crm/objects/2026-03/…)")
    need = [v for v, t in (("HUBSPOT_ACCESS_TOKEN", srv.hubspot_token),
                           ("ALOWARE_API_TOKEN", srv.aloware_token)) if t]
    print("  tokens:  " + (f"required: the values of {' and '.join(need)} in this "
                           f"environment" if need else "any value is accepted"))
    faults = [f"{k} {v}" for k, v in (("--rate-limit", args.rate_limit),
                                      ("--error-rate", args.error_rate),
                                      ("--drop-rate", args.drop_rate),
                                      ("--latency", args.latency),
                                      ("--cut-after", args.cut_after),
                                      ("--trickle", getattr(args, "trickle", 0)),
                                      ("--daily-limit", getattr(args, "daily_limit", None)))
              if v]
    if args.rate_limit:
        faults.append(f"--rate-limit-window {getattr(args, 'rate_limit_window', 10.0):g}")
    print(f"  faults:  {', '.join(faults) or 'none'} (seed {args.seed})")
    print(f"  stops after {args.max_seconds:g} s, or on Ctrl-C")
    toml, files = _write_config(srv, args)
    print()
    print(toml, end="")
    print()
    print("fetch from it with, e.g.:")
    env = "" if need else "HUBSPOT_ACCESS_TOKEN=sandbox ALOWARE_API_TOKEN=sandbox "
    cfg = shlex.quote(args.config_out or "usermap.toml")
    print(f"  {env}usermap fetch --config {cfg} --out snapshot/", flush=True)
    if "evidence" in files:
        print("find the calls and SMS on the wrong owner with:")
        print(f"  {env}usermap activities impact --config {cfg} --evidence "
              f"{shlex.quote(str(files['evidence']))} --out impact/", flush=True)
    elif args.activity_world is not None:
        print("(--config-out FILE also writes the store and the evidence export that "
              "`usermap activities` reads)", flush=True)


def _write_config(srv: SandboxServer, args) -> tuple[str, dict]:
    """The config that reads from the sandbox (and, with ``--config-out``, the files beside
    it: the admin export and, with ``--activities``, the world's store ``activities.db``, its
    evidence export ``evidence.jsonl`` and ground truth ``truth.json``): (its text, files)."""
    aw, files, users_csv = args.activity_world, {}, None
    if args.config_out:
        cfg_path = Path(args.config_out)
        files["export"] = srv.write_export(cfg_path.parent / "aloware_export.csv")
        users_csv = files["export"].name
        if aw is not None:
            from . import activities_world
            files.update(activities_world.write_files(aw, cfg_path.parent))
    toml = srv.config_toml(users_csv=users_csv)
    if "store" in files:
        from .activities_world import APP_ID
        toml += (f'\n[store]\npath = "{files["store"].name}"\n\n[activities]\n'
                 f'app_id = "{APP_ID}"\n')
    if args.config_out:
        Path(args.config_out).write_text(toml, encoding="utf-8")
        print(f"  wrote {', '.join(str(f) for f in (args.config_out, *files.values()))}")
    return toml, files


def run_sandbox(args) -> int:
    """``usermap sandbox``: serve until ``--max-seconds`` or Ctrl-C; print URL and config."""
    _check_args(args)
    srv, source = _server_for(args)
    try:
        srv.start(max_seconds=args.max_seconds)
    except OSError as e:
        raise InputError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror or e}",
                         column="--port") from None
    try:
        _print_banner(srv, args, source)
        srv.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        s = srv.stats
        _err(f"stopped after {s['requests']} requests (hubspot {s['hubspot']}, aloware "
             f"{s['aloware']}; 429 {s['429']}, 5xx {s['5xx']}, drops {s['drops']}, cuts "
             f"{s['cuts']}, 401 {s['401']}, 400 {s['400']}, daily 429 {s['429_daily']})")
    return 0
