"""The ``usermap`` command (docs/design.md §6): a stable contract that scheduled jobs depend on.

This is the one place where errors become exit codes; what each code means is the one table
``errors.EXIT_CODES`` (0 done, 1 unexpected, 2 bad usage/config/input, 3 refused for safety,
4 a source failed, 130 interrupted). Each subcommand parses its arguments, calls the one wiring
of the steps (``usermap.workflow``) and prints what it returned; no step is repeated here.

Must not be imported by any other usermap module.
"""

from __future__ import annotations

import argparse
import sys

from .activities.commands import add_parser as add_activities
from .commands import HANDLERS
from .clipaths import check_paths
from .config import check_engine, engine_from_env
from .errors import UsermapError, exit_code_for

__all__ = ["main", "build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage already; keep its message on stderr."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The help column fits ``activities`` (argparse measures a name one indent short)."""
    def __init__(self, prog):
        super().__init__(prog)
        self._action_max_length = 14


class _Version(argparse.Action):
    """``--version``: the package metadata is looked up only when asked (importlib.metadata
    and the search for the distribution cost every other command 15-20 ms)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from . import version
        sys.stdout.write(f"usermap {version()}\n")  # where argparse's own version action writes
        parser.exit()


_DESCRIPTION = """\
Keep Aloware users and HubSpot owners mapped: audit the links between them, plan and apply
the fixes, and keep a history you can undo.

The tokens come from the environment only: HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN."""

_EPILOG = """\
Example (a first try on a made-up world, no accounts needed):
  usermap sandbox --config-out usermap.toml &
  export HUBSPOT_ACCESS_TOKEN=sandbox ALOWARE_API_TOKEN=sandbox   # the sandbox takes any token
  usermap fetch --out snap --config usermap.toml
  usermap init --store usermap.db
  usermap audit snap --store usermap.db --out audit

Run `usermap COMMAND --help` for a command's options and an example.
Exit codes: 0 done, 2 bad usage/config/input, 3 refused for safety, 4 a source failed,
1 anything unexpected. Configuration keys: docs/configuration.md."""


def _command(sub, name: str, help: str, example: str, description: str = ""):
    """A subcommand's parser: ``help`` is its line in `usermap --help`; ``example`` (one or more
    command lines) is shown under "Example:" by `usermap NAME --help`."""
    lines = "\n".join(f"  {line}" for line in example.strip().splitlines())
    description = description or help[:1].upper() + help[1:] + "."
    return sub.add_parser(name, help=help, description=description,
                          epilog=f"Example:\n{lines}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="usermap", description=_DESCRIPTION, epilog=_EPILOG,
                formatter_class=_Formatter)
    p.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           title="commands")
    _add_sandbox(sub)
    _add_steps(sub)
    _add_links(sub)
    _add_runs(sub)
    add_activities(sub, _command)
    return p


def _add_sandbox(sub) -> None:
    s = _command(sub, "sandbox", "serve both fake APIs on 127.0.0.1 (try usermap without accounts)",
                 "usermap sandbox --users 50 --config-out usermap.toml --max-seconds 600",
                 "Serve HubSpot's Owners API and Aloware's Users API on 127.0.0.1 from a "
                 "generated world\n(or a snapshot folder), with faults on demand, until "
                 "--max-seconds. --config-out writes a\nusermap.toml pointing at it.")
    s.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    s.add_argument("--users", type=int, default=200, help="size of the generated world")
    s.add_argument("--seed", type=int, default=0,
                   help="random seed of the generated world (same seed, same world)")
    s.add_argument("--owners", type=int, default=None, help="owners (default: about --users)")
    s.add_argument("--archived", type=int, default=None,
                   help="extra archived owners to add (benchmarks)")
    s.add_argument("--snapshot", default=None, metavar="DIR",
                   help="serve this snapshot folder instead of a generated world")
    s.add_argument("--rate-limit", type=int, default=0, metavar="N",
                   help="N requests per window (--rate-limit-window), then 429 (0: no limit)")
    s.add_argument("--rate-limit-window", type=float, default=10.0, metavar="S",
                   help="the rate-limit window in seconds (HubSpot's is 10)")
    s.add_argument("--daily-limit", type=int, default=None, metavar="N",
                   help="HubSpot requests a day; then 429 policy DAILY (default 250000)")
    s.add_argument("--error-rate", type=float, default=0.0, metavar="P",
                   help="share of 5xx answers (0 to 1)")
    s.add_argument("--drop-rate", type=float, default=0.0, metavar="P",
                   help="share of cut connections (0 to 1)")
    s.add_argument("--latency", type=int, default=0, metavar="MS",
                   help="ms added to every answer")
    s.add_argument("--trickle", type=int, default=0, metavar="MS",
                   help="send every answer one byte at a time, MS apart (a too-slow server)")
    s.add_argument("--cut-after", type=int, default=0, metavar="K",
                   help="owners listings stop at page K (0: never)")
    s.add_argument("--activities", type=int, default=0, metavar="N", help="serve N calls, SMS")
    s.add_argument("--search-rate", type=float, default=5.0, metavar="R", help="CRM searches/s (5)")
    s.add_argument("--max-seconds", type=float, default=3600.0, metavar="S",
                   help="stop after S seconds (default 3600)")
    s.add_argument("--config-out", default=None, metavar="usermap.toml",
                   help="also write the usermap.toml here (and aloware_export.csv beside it)")
    s.add_argument("--verbose", action="store_true", help="log every request (tokens redacted)")


def _add_steps(sub) -> None:
    """fetch, audit, plan, apply: the steps of a sync, one command each."""
    s = _command(sub, "fetch", "pull both directories into a snapshot folder",
                 "usermap fetch --out snapshots/today --config usermap.toml",
                 "Pull HubSpot's owners and Aloware's users into a snapshot folder; nothing is "
                 "written unless\nboth listings are complete. The tokens come from "
                 "HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN\n(the environment only); the hosts, "
                 "retries and timeouts from --config.")
    s.add_argument("--out", required=True, metavar="SNAPSHOT_DIR",
                   help="the snapshot folder to write (new, or a snapshot usermap wrote)")
    s.add_argument("--config", default=None, metavar="usermap.toml", help=_CONFIG_HELP)

    s = _command(sub, "audit", "audit a snapshot against the store's links",
                 "usermap audit snapshots/today --store usermap.db --out audit",
                 "Audit a snapshot against the store; write summary.json, mapped.csv, "
                 "unmapped_aloware.csv,\nunmapped_hubspot.csv and errors.csv into --out and "
                 "print the overview.")
    s.add_argument("snapshot", metavar="SNAPSHOT_DIR",
                   help="a snapshot folder (written by `usermap fetch`)")
    _store_args(s)
    s.add_argument("--out", required=True, metavar="DIR",
                   help="the folder to write the audit's five files into")

    s = _command(sub, "plan", "compute the sync plan (a file to review, then apply)",
                 "usermap plan snapshots/today --store usermap.db --out plan.json",
                 "Write the sync plan of a snapshot and the store. A plan that removes more "
                 "links than the\nremoval guard allows is refused (exit 3, nothing written) "
                 "unless --force.")
    s.add_argument("snapshot", metavar="SNAPSHOT_DIR",
                   help="a snapshot folder (written by `usermap fetch`)")
    _store_args(s)
    s.add_argument("--out", required=True, metavar="PLAN.json", help="the plan file to write")
    s.add_argument("--only", default=None, metavar="ISSUE_ID",
                   help="only the fix of this issue (ids are in the audit's errors.csv)")
    s.add_argument("--force", action="store_true",
                   help="go past the removal guard (after reviewing the removals)")

    s = _command(sub, "apply", "apply a plan (dry run unless --yes)",
                 "usermap apply plan.json --store usermap.db\n"
                 "usermap apply plan.json --store usermap.db --yes",
                 "Check a plan (checksum, store id, staleness, removal guard) and print it; "
                 "change the store\nonly with --yes.")
    s.add_argument("plan", metavar="PLAN.json", help="a plan file (written by `usermap plan` "
                   "or `usermap undo`)")
    _store_args(s)
    s.add_argument("--yes", action="store_true",
                   help="really change the store (without it: a dry run)")
    s.add_argument("--force", action="store_true",
                   help="go past the removal guard (after reviewing the plan)")

    s = _command(sub, "init", "create an empty store",
                 "usermap init --store usermap.db",
                 "Create an empty store. A usermap store at the path already is left as it "
                 "is (exit 0).")
    _store_args(s)


_CONFIG_HELP = "the config file (default: ./usermap.toml when there is one; docs/configuration.md)"


def _store_args(s, *, create: bool = False) -> None:
    """--store (default: ``[store] path`` of --config, or of ./usermap.toml) and --config."""
    s.add_argument("--store", default=None, metavar="DB",
                   help="the store file (default: [store] path of the config, else usermap.db)")
    s.add_argument("--config", default=None, metavar="usermap.toml", help=_CONFIG_HELP)
    if create:
        s.add_argument("--create", action="store_true",
                       help="create the store if it does not exist")


def _add_links(sub) -> None:
    """mappings import/export, map, unmap: the store's links by hand."""
    s = _command(sub, "mappings", "import or export the links as a mappings CSV",
                 "usermap mappings export --store usermap.db links.csv\n"
                 "usermap mappings import links.csv --store usermap.db")
    msub = s.add_subparsers(dest="mappings_command", required=True, metavar="import|export",
                            title="subcommands")
    m = _command(msub, "import", "make the store's links those of a mappings CSV",
                 "usermap mappings import links.csv --store usermap.db --create",
                 "Make the store's links those of the CSV (adds, updates, removes; one "
                 "journaled run).\nHeader: aloware_user_id,hubspot_owner_id,aloware_email,"
                 "hubspot_email,method,mapped_at.")
    m.add_argument("csv", metavar="CSV", help="the mappings CSV to import")
    _store_args(m, create=True)
    m.add_argument("--force", action="store_true",
                   help="go past the removal guard (after checking the CSV)")
    m = _command(msub, "export", "write the store's links as a mappings CSV",
                 "usermap mappings export --store usermap.db links.csv")
    _store_args(m)
    m.add_argument("csv", metavar="CSV", help="the mappings CSV to write")

    s = _command(sub, "map", "pin a manual link between a user and an owner",
                 "usermap map 10001 10000036 --store usermap.db --snapshot snapshots/today",
                 "Pin a manual link (replacing the user's current link). With --snapshot "
                 "(or --config) both\nids are checked and their e-mails recorded.")
    s.add_argument("aloware_id", metavar="ALOWARE_ID", help="the Aloware user's id")
    s.add_argument("owner_id", metavar="OWNER_ID", help="the HubSpot owner's id")
    _store_args(s, create=True)
    s.add_argument("--snapshot", default=None, metavar="DIR",
                   help="check both ids against this snapshot and record their e-mails "
                        "(default: the newest run's snapshot under [runs] dir of --config)")

    s = _command(sub, "unmap", "remove a user's link",
                 "usermap unmap 10001 --store usermap.db")
    s.add_argument("aloware_id", metavar="ALOWARE_ID", help="the Aloware user whose link goes")
    _store_args(s)


def _add_runs(sub) -> None:
    """run, report, runs, undo: scheduled runs, reports and the history of applied runs."""
    s = _command(sub, "run", "a scheduled run into runs/<run_id>/ (dry run unless --apply)",
                 "usermap run --config usermap.toml\n"
                 "usermap run --config usermap.toml --apply",
                 "A scheduled run (papermill) into runs/<run_id>/ under [runs] dir: fetch, "
                 "audit, plan, report\nand notify; a dry run unless --apply.")
    s.add_argument("--config", default=None, metavar="usermap.toml", help=_CONFIG_HELP)
    s.add_argument("--apply", action="store_true",
                   help="apply the plan (without it: a dry run)")
    s.add_argument("--force", action="store_true",
                   help="go past the removal guard (after reviewing a dry run)")

    s = _command(sub, "report", "write the HTML report for a snapshot, without a run",
                 "usermap report snapshots/today --store usermap.db --out report.html")
    s.add_argument("snapshot", metavar="SNAPSHOT_DIR",
                   help="a snapshot folder (written by `usermap fetch`)")
    _store_args(s)
    s.add_argument("--out", required=True, metavar="report.html",
                   help="the HTML file to write")
    s.add_argument("--activities", default=None, metavar="CSV",
                   help="an aloware_user_id,type,timestamp CSV of activities to count as "
                        "affected (default: [report] activities_csv)")

    s = _command(sub, "tab", "serve the User Mapping tab (Voila) on 127.0.0.1 behind a token",
                 "usermap tab --config usermap.toml --port 8866",
                 "Serve the User Mapping tab (notebooks/mapping.ipynb) with Voila on 127.0.0.1 "
                 "only, behind a\nrandom token in the URL it prints, until Ctrl-C or SIGTERM.")
    s.add_argument("--config", default=None, metavar="usermap.toml", help=_CONFIG_HELP)
    s.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    s.add_argument("--snapshot", default="", metavar="SNAPSHOT_DIR",
                   help="a snapshot folder that Refresh re-reads (default: fetch from the APIs)")

    s = _command(sub, "runs", "list the store's runs: id, kind, time, changes",
                 "usermap runs --store usermap.db")
    _store_args(s)

    s = _command(sub, "undo", "write the inverse plan of an applied run",
                 "usermap undo 20260101T120000Z-1a2b --store usermap.db --out undo.json",
                 "Write the inverse plan of an applied run (ids: `usermap runs`); review it, "
                 "then apply it\nwith `usermap apply`.")
    s.add_argument("run_id", metavar="RUN_ID", help="the run to undo (see `usermap runs`)")
    _store_args(s)
    s.add_argument("--out", required=True, metavar="PLAN.json", help="the plan file to write")


def main(argv: list[str] | None = None, *, prefetch=None, engine: str | None = None) -> int:
    """Run one ``usermap`` command; returns its exit code (errors.EXIT_CODES).

    ``prefetch``: a child already parsing the snapshot's owners file (the console script,
    ``usermap/launch.py``, starts it); it is handed to the load and always closed. ``engine``:
    the readers and kernels ("auto", "exact", "fast"); None reads ``USERMAP_ENGINE``.
    Called in this process (tests, notebooks), it leaves the GC and pandas' options as it found
    them and never ends the process: the process tricks are the console script's alone."""
    try:
        args = build_parser().parse_args(argv)
        args.prefetch = prefetch
        args.engine = engine_from_env() if engine is None else check_engine(engine)
        handler = HANDLERS[args.command]
        check_paths(args)  # stores and outputs: before anything is read or written
        with _pandas_options(args.command not in ("fetch", "run")):   # (neither imports it)
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
    finally:
        if prefetch is not None:   # (a command that never read the snapshot: killed, reaped)
            prefetch.close()


class _pandas_options:
    """The command works on plain Python strings: pandas 3's inferred Arrow strings cost more
    than they save for ids and e-mails that are compared, counted and written back out. Set for
    the command, and put back as they were after it (an in-process caller keeps its own)."""

    def __init__(self, wanted: bool) -> None:
        self.wanted, self.context = wanted, None

    def __enter__(self):
        if self.wanted:
            import pandas as pd
            try:
                self.context = pd.option_context("future.infer_string", False)
                self.context.__enter__()
            except (KeyError, ValueError, pd.errors.OptionError):   # an older or newer
                self.context = None                                  # pandas: keep it
        return self

    def __exit__(self, *exc) -> None:
        if self.context is not None:
            self.context.__exit__(*exc)
