"""Helpers shared by the end-to-end tests of `usermap run` (tests/commands/test_runner.py,
tests/sources/test_faults.py): a sandbox serving a generated world, a config pointing at it and a store
holding the world's links; the `usermap` command as a subprocess; the state of a store."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import forkcli
from conftest import SANDBOX_TOKENS

USERMAP = str(Path(sys.executable).parent / "usermap")
LINKS_NOW = "2025-01-01T00:00:00Z"   # the import time of the world's links: same in every store


def make_env(root: Path, *, n_users=300, seed=3, keep=30, world=None, served_users=None,
             served_owners=None, extra_toml: str = "", sandbox_seed: int | None = None,
             **server_kw):
    """A sandbox serving a generated world (or ``world``), a config pointing at it (plus
    ``extra_toml``), and a store holding the world's links. ``served_users`` and
    ``served_owners`` change what the sandbox serves (a function of the world's users frame /
    owners list); ``sandbox_seed`` seeds the sandbox's faults (``seed`` is the world's).
    Returns (server, config, world, store path)."""
    from usermap.config import Config
    from usermap.sandbox.scenarios import generate
    from usermap.sandbox.server import SandboxServer
    from usermap.sources.snapshot import read_mappings_csv
    from usermap.store.store import Store
    world = world if world is not None else generate(n_users, seed=seed)
    users = world.users if served_users is None else served_users(world.users)
    owners = world.owners if served_owners is None else served_owners(world.owners)
    if sandbox_seed is not None:
        server_kw["seed"] = sandbox_seed
    server_kw.setdefault("hubspot_token", SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"])
    server_kw.setdefault("aloware_token", SANDBOX_TOKENS["ALOWARE_API_TOKEN"])
    srv = SandboxServer(users, owners, **server_kw).start(max_seconds=600)
    root.mkdir(parents=True, exist_ok=True)
    srv.write_export(root / "aloware_export.csv")
    (root / "usermap.toml").write_text(
        srv.config_toml(users_csv="aloware_export.csv")
        + f'\n[store]\npath = "store.db"\n\n[runs]\ndir = "runs"\nkeep = {keep}\n'
        + (f"\n{extra_toml}\n" if extra_toml else ""),
        encoding="utf-8")
    world.links.to_csv(root / "mappings.csv", index=False)
    with Store.open(root / "store.db", create=True) as store:
        store.import_links(read_mappings_csv(root / "mappings.csv"), now=LINKS_NOW)
    return srv, Config.load(root / "usermap.toml"), world, root / "store.db"


def cli(args, env_extra=None, cwd=None, timeout=180):
    """`usermap ARGS` as a process of its own (as a scheduler runs it), forked from the
    worker's warm fork server (forkcli.py): (CompletedProcess, seconds)."""
    env = {**os.environ, **(env_extra or {})}
    t0 = time.perf_counter()
    p = forkcli.run(args, env=env, cwd=cwd, timeout=timeout)
    return p, time.perf_counter() - t0


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """End a long-running command (a sandbox, `usermap tab`, JupyterLab) with ``sig``; one
    still running after ``timeout`` seconds is killed. Its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


def store_state(path) -> dict:
    """Everything an apply changes: the links (every column), the revision, the journal's
    length and the applied runs."""
    from usermap.store.store import Store
    with Store.open(path, create=False) as st:
        return {"links": st.links(), "revision": st.revision, "journal": len(st.journal()),
                "runs": [r["run_id"] for r in st.runs()]}


def token_leaks(root: Path, *texts: str) -> list[str]:
    """Where a SANDBOX_TOKENS value appears: files under ``root`` and the given texts."""
    tokens = [v.encode() for v in SANDBOX_TOKENS.values()]
    found = []
    for path in Path(root).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [str(path) for t in tokens if t in data]
    for i, text in enumerate(texts):
        found += [f"output {i}" for t in tokens if t in (text or "").encode()]
    return found


def run_cli(*args) -> tuple[int, str, str]:
    """`usermap ARGS` through cli.main in this process: (exit code, stdout, stderr). main()
    pauses the GC and tunes a pandas option for its one-shot process; both are restored."""
    import pandas as pd
    from usermap import cli
    was = gc.isenabled()
    try:
        opt = pd.get_option("future.infer_string")
    except (KeyError, ValueError, pd.errors.OptionError):
        opt = None
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in args])
            except SystemExit as e:          # argparse
                code = e.code
    finally:
        gc.unfreeze()                        # main() froze what existed when it started
        if was:
            gc.enable()
        if opt is not None:
            pd.set_option("future.infer_string", opt)
    return code, out.getvalue(), err.getvalue()
