"""The paths of a command line, checked once, before a command reads anything (docs/design.md §6):
the store must exist, and no output may be the store or the config, a folder where a file goes (or
the other way round), an existing file or folder that is not a usermap output of the same kind,
or in a folder usermap cannot write to. Also which config file a command uses. Split out of
cli.py, which re-exports these names.

Raises ``InputError`` (exit 2); prints nothing. Must not import cli.py, the workflow, the store,
the sources or the report (the config and ``usermap.files`` are imported when used).
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

__all__ = ["check_paths", "load_config", "config_path", "require_store", "check_writable",
           "is_plan", "is_report", "is_mappings", "SNAPSHOT_FILES", "AUDIT_FILES"]


# --- stores and outputs: checked once, before a command reads anything ------------------------
SNAPSHOT_FILES = frozenset({"aloware_users.csv", "hubspot_owners.json", "fetch.json"})
AUDIT_FILES = frozenset({"summary.json", "mapped.csv", "unmapped_aloware.csv",
                         "unmapped_hubspot.csv", "errors.csv"})


def config_path(path):
    """The config file a command uses: --config, else ./usermap.toml when there is one."""
    if path is None and Path("usermap.toml").exists():
        return "usermap.toml"
    return path


def load_config(path):
    from .config import Config
    return Config.load(config_path(path))


def is_plan(head: bytes) -> bool:
    return b'"format": "usermap-plan/' in head


def is_report(head: bytes) -> bool:
    return head.lstrip().lower().startswith(b"<!doctype html") and b'content="usermap"' in head


def is_mappings(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").startswith(b"aloware_user_id,hubspot_owner_id")


def check_paths(args) -> None:
    """The one place where a command's paths are checked (docs/design.md §6), before anything is
    read: the store must exist (``usermap init`` makes one; ``mappings import`` and ``map``
    with ``--create``), and no output may be the store or the config, a folder where a file
    goes (or the other way round), or an existing file or folder that is not a usermap output
    of the same kind. Fills in ``args.store`` from the config when --store is omitted.
    InputError (exit 2) otherwise."""
    from . import files
    cmd = args.command
    sub = getattr(args, "mappings_command", None)
    _check_utf8_args(args)
    if cmd in ("sandbox",):
        return
    cfg_path = config_path(getattr(args, "config", None))
    if hasattr(args, "store") and args.store is None:
        cfg = load_config(cfg_path)
        args.store = str(cfg.resolve(cfg.store.path))
    store = getattr(args, "store", None)
    if cmd in ("fetch", "run"):
        cfg = load_config(cfg_path)
        store = cfg.resolve(cfg.store.path)
    protected = {"store": store, "config": cfg_path}

    creates = cmd == "init" or bool(getattr(args, "create", False))
    if creates and Path(store).is_dir():
        raise InputError("is a folder, not a usermap store file", file=str(store))
    if cmd != "fetch" and store is not None and not creates:
        require_store(store, can_create=cmd == "map" or sub == "import")
    if cmd == "fetch":
        files.check_output_folder(args.out, protected=protected, holds=SNAPSHOT_FILES,
                                  kind="snapshot")
        check_writable(args.out)
    elif cmd == "audit":
        files.check_output_folder(args.out, protected=protected, holds=AUDIT_FILES,
                                  kind="audit")
        check_writable(args.out)
    elif cmd in ("plan", "undo"):
        files.check_output_file(args.out, protected=protected, kind="usermap plan file",
                                looks_like=is_plan)
        check_writable(args.out)
    elif cmd == "report":
        files.check_output_file(args.out, protected=protected, kind="usermap report",
                                looks_like=is_report)
        check_writable(args.out)
    elif cmd == "mappings" and sub == "export":
        files.check_output_file(args.csv, protected=protected, kind="mappings CSV",
                                looks_like=is_mappings)
        check_writable(args.csv)


_POSITIONAL = ("plan", "csv", "run_id", "aloware_id", "owner_id")


def _check_utf8_args(args) -> None:
    """Every argument is UTF-8 (exit 2 naming it otherwise), before anything is read. The one
    exception is `run`'s config: the runner checks its paths itself, in a run folder, so that
    the run's failure report says it."""
    from .files import check_utf8
    for dest, value in vars(args).items():
        if args.command == "run" and dest == "config":
            continue
        positional = dest in _POSITIONAL or (dest == "snapshot" and args.command in (
            "audit", "plan", "report"))
        name = dest.upper() if positional else "--" + dest.replace("_", "-")
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, (str, Path)):
                check_utf8(v, f"the argument {name}")


def require_store(path, *, can_create: bool = False) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError("is a folder, not a usermap store file; give the store file's path "
                         "with --store", file=str(p))
    if not p.exists():
        also = " (or add --create to make it here)" if can_create else ""
        raise InputError(f"store not found; create an empty one with `usermap init --store "
                         f"{p}`{also}, or give an existing store with --store", file=str(p))


def check_writable(out) -> None:
    """An output goes where usermap can write: the nearest existing folder above ``out`` takes
    a new file (tried for real, then removed: permissions, read-only or pseudo file systems
    such as /proc), else exit 2 before anything is read or fetched."""
    import os
    import tempfile
    folder = Path(os.path.abspath(out)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".usermap-probe.", dir=folder)
    except OSError as e:
        raise InputError(f"cannot write in {folder} ({e.strerror or type(e).__name__}); choose "
                         f"an output path in a folder you can write to", file=str(out)) from None
    os.close(fd)
    os.unlink(probe)
