"""Shared pytest setup. Sections are owned by different parts of the suite; append, don't rewrite."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/tiny.py and friends

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def root():
    return ROOT


# === sources and sandbox (issue 3): used by tests/test_sources*.py and tests/test_sandbox*.py ===
# Distinctive fake tokens: tests search every written file and all output for them.
SANDBOX_TOKENS = {"HUBSPOT_ACCESS_TOKEN": "pat-na1-5e1f0c2d-SECRETHUB-77aa",
                  "ALOWARE_API_TOKEN": "alw-SECRETALO-3b9d41c8e2f7"}


@pytest.fixture
def fast_policy():
    """Retry bounds small enough for tests: every failing loop ends in well under a second."""
    from usermap.sources.retry import RetryPolicy
    return RetryPolicy(attempts=5, total_seconds=20.0, backoff=0.005, backoff_max=0.02,
                       max_wait=3.0, connect_timeout=2.0, read_timeout=10.0)


@pytest.fixture
def sandbox_tokens(monkeypatch):
    """The fake tokens set in this process's environment (where fetch reads them)."""
    for k, v in SANDBOX_TOKENS.items():
        monkeypatch.setenv(k, v)
    return dict(SANDBOX_TOKENS)


@pytest.fixture
def sandbox():
    """A factory of started in-process SandboxServers (stopped at teardown).

    ``sandbox(world, **kw)`` or ``sandbox(users=..., owners=..., **kw)``. Unless given, the server
    demands the SANDBOX_TOKENS (so auth is exercised) and never looks at the environment.
    """
    from usermap.sandbox.server import SandboxServer
    started = []

    def make(world=None, *, users=None, owners=None, **kw):
        if world is not None:
            users, owners = world.users, world.owners
        kw.setdefault("hubspot_token", SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"])
        kw.setdefault("aloware_token", SANDBOX_TOKENS["ALOWARE_API_TOKEN"])
        srv = SandboxServer(users, owners, **kw).start(max_seconds=120)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
# === end of sources and sandbox ===
