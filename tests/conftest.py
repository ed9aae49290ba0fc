"""Shared pytest setup. Sections are owned by different parts of the suite; append, don't rewrite."""

import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/tiny.py and friends
# Test modules share fixtures and worlds across rooms (``from test_report import world_report``):
# every room's folder is importable by module name, as when the tests stood in one folder.
for _room in sorted(p for p in Path(__file__).resolve().parent.iterdir()
                    if p.is_dir() and any(p.glob("test_*.py"))):
    sys.path.insert(1, str(_room))

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# What the console script keeps out (jsonschema's IRI grammar: seconds of CPU at its import,
# which test modules that import jupyter_server or nbformat's validator would pay in each worker)
from usermap.launch import SKIPPED_IMPORTS  # noqa: E402

for _name in SKIPPED_IMPORTS:
    sys.modules.setdefault(_name, None)

# A suite started in the background (`make test &`, nohup, a scheduler) inherits SIGINT ignored,
# and so would every command it starts: tests of Ctrl-C (a sandbox, a run, the read-ahead child)
# need the terminal's default, which a handler here gives every child (exec resets it).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def root():
    return ROOT


# === sources and sandbox (issue 3): used by tests/sources/test_sources*.py and tests/commands/test_sandbox*.py ===
# Distinctive fake tokens: tests search every written file and all output for them.
SANDBOX_TOKENS = {"HUBSPOT_ACCESS_TOKEN": "pat-na1-5e1f0c2d-SECRETHUB-77aa",
                  "ALOWARE_API_TOKEN": "alw-SECRETALO-3b9d41c8e2f7"}


@pytest.fixture
def fast_policy():
    """Retry bounds small enough for tests: every failing loop ends in well under a second."""
    from usermap.sources.api.retry import RetryPolicy
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


# === network guard (issue 6, tests/contracts/test_security.py): nothing beyond this machine ===
# Every test runs with socket connections limited to loopback (127.0.0.0/8, ::1, "localhost")
# and AF_UNIX paths. Anything else raises before a packet is sent, and names other than
# "localhost" are not even resolved (no DNS query leaves the machine). Covers this process only:
# the `usermap` subprocesses that tests start talk to 127.0.0.1 by construction.
import ipaddress as _ipaddress
import socket as _socket

_GUARD_MESSAGE = "network guard: tests may only connect to loopback or AF_UNIX, not"


def _is_local_host(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host is None or not isinstance(host, str):
        return host is None                       # getaddrinfo(None, port): the local wildcard
    name = host.strip().rstrip(".").lower()
    if name in ("localhost", "localhost.localdomain", "ip6-localhost", ""):
        return True
    try:
        ip = _ipaddress.ip_address(name.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False                               # any other name: refused, never resolved
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _check_address(family, address) -> None:
    if family == getattr(_socket, "AF_UNIX", object()):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_local_host(host):
        raise ConnectionRefusedError(f"{_GUARD_MESSAGE} {address!r}")


@pytest.fixture(scope="session", autouse=True)
def network_guard():
    """Refuse socket connections (and name lookups) beyond loopback for the whole session."""
    real_connect, real_connect_ex = _socket.socket.connect, _socket.socket.connect_ex
    real_create_connection, real_getaddrinfo = _socket.create_connection, _socket.getaddrinfo

    def connect(self, address):
        _check_address(self.family, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check_address(self.family, address)
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        _check_address(_socket.AF_INET, address)
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local_host(host):
            raise _socket.gaierror(_socket.EAI_NONAME, f"{_GUARD_MESSAGE} {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(_socket.socket, "connect", connect)
    mp.setattr(_socket.socket, "connect_ex", connect_ex)
    mp.setattr(_socket, "create_connection", create_connection)
    mp.setattr(_socket, "getaddrinfo", getaddrinfo)
    try:
        yield _GUARD_MESSAGE
    finally:
        mp.undo()
# === end of network guard ===


# === reproducible property tests and no temp leftovers (issue 10) ===
# Hypothesis: one fixed profile everywhere (CI and local). derandomize: the examples follow from
# the test alone, so a run is repeatable; database=None: no shared example database replays a
# once-seen failure into every later run (or hides that it was ever seen). A failing example is
# printed with its reproduction blob. `HYPOTHESIS_PROFILE=explore` draws fresh random examples
# (still without a database) for a local hunt. Per-test @settings (max_examples...) still apply.
import shutil as _shutil
import tempfile as _tempfile
import warnings as _warnings

from hypothesis import settings as _hsettings

_hsettings.register_profile("usermap", derandomize=True, database=None, deadline=None,
                            print_blob=True)
_hsettings.register_profile("explore", parent=_hsettings.get_profile("usermap"),
                            derandomize=False)
_hsettings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "usermap"))


class TempLeftovers(UserWarning):
    """Something the suite wrote to the system temporary folder outside pytest's tmp_path."""


_TEMP = {}   # the session's private temporary folder and what it replaced


def pytest_sessionstart(session):
    """Before collection (a test module may write at import time): pytest's own basetemp is
    resolved in the real temporary folder, then TMPDIR (inherited by every subprocess: the CLI,
    papermill, kernels) and ``tempfile.tempdir`` point to a private folder inside it."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None:
        base = factory.getbasetemp()                   # stays where pytest puts it
        # pytest-xdist gives each worker a folder of the run's basetemp: that is shared
        _TEMP["shared"] = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    system = Path(_tempfile.gettempdir())
    _TEMP.update(system=system, before=set(os.listdir(system)),
                 env=os.environ.get("TMPDIR"), tempdir=_tempfile.tempdir)
    _TEMP["private"] = private = Path(_tempfile.mkdtemp(prefix="usermap-tests-"))
    os.environ["TMPDIR"] = str(private)
    _tempfile.tempdir = str(private)


def shared_cache(name: str, build):
    """``build()``, built once per test run and shared by the xdist workers: the first to ask
    builds it and pickles it in the run's basetemp; the others wait for it and load it (a
    100k-link report takes seconds to build, a fraction of one to load)."""
    import fcntl
    import pickle
    folder = _TEMP.get("shared")
    if folder is None:
        return build()
    path = Path(folder) / f"shared-{name}.pickle"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        obj = build()
        part = path.with_suffix(".part")
        part.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        part.replace(path)
        return obj


def pytest_sessionfinish(session):
    if not _TEMP:
        return
    if _TEMP["env"] is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = _TEMP["env"]
    _tempfile.tempdir = _TEMP["tempdir"]
    _shutil.rmtree(_TEMP["private"], ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def no_temp_leftovers():
    """Nothing the suite writes is left behind in the system temporary folder.

    For the session the temporary folder is a private one (pytest_sessionstart above); whatever
    is still in it when the tests end was left behind by a test or the code under test: the
    session fails (an error at the teardown of the last test) naming each entry, and the folder
    is removed. Other programs on the machine writing to /tmp at the same time cannot cause a
    false alarm. Entries that appeared in the real system folder itself (code that ignores
    TMPDIR) are only warned about, and only in CI: on a shared machine other programs make them
    all the time.
    """
    yield _TEMP.get("private")
    if not _TEMP:
        return
    private, system = _TEMP["private"], _TEMP["system"]
    left = sorted(os.listdir(private))
    new = sorted(n for n in set(os.listdir(system)) - _TEMP["before"] - {private.name}
                 if not n.startswith("usermap-tests-"))   # (another xdist worker's folder)
    if new and IN_CI:
        _warnings.warn(TempLeftovers(
            f"new entries in {system} during the tests (maybe another program's): {new}"))
    if left:
        _shutil.rmtree(private, ignore_errors=True)
        private.mkdir()
        pytest.fail(f"the tests left {len(left)} entries in the temporary folder (written "
                    f"outside tmp_path and not removed): {left}", pytrace=False)


# === end of reproducible property tests and no temp leftovers ===


# === engines (issue 18): the contract suites under both readers, as pandas' all_parsers ===
# A contract module opts in with ``pytestmark = pytest.mark.usefixtures("engine")``: each of its
# tests runs once per engine, with USERMAP_ENGINE set in this process's environment (the
# `usermap` subprocesses inherit it; an in-process cli.main reads it when not told). Readers and
# the audit called directly take ``engine=current_engine()`` (or ``arrow=``) from the test.
ENGINES = ("exact", "fast")


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """Each engine in turn ("exact": json, pandas, scalar keys; "fast": msgspec, Arrow)."""
    monkeypatch.setenv("USERMAP_ENGINE", request.param)
    return request.param


def current_engine() -> str:
    """The engine the running test was given ("auto" outside the ``engine`` fixture)."""
    return os.environ.get("USERMAP_ENGINE", "") or "auto"
# === end of engines ===


# === the order of the files (make test: xdist, --dist loadfile) ===
# xdist hands each worker a whole file at a time, in collection order when it is told not to
# put the files with most tests first (`--no-loadscope-reorder`, in `make test`: by count, the
# few long end-to-end files went last and made the tail of the run). The files that take
# longest go first, so that no worker starts one of them when the others are nearly done (the
# longest-first rule of scheduling). A file not listed keeps its place after these.
LONGEST_FIRST = (   # by their wall time in `benchmarks/suite_cpu.py` (2026-12-07)
    "test_faults.py", "test_examples_run.py", "test_tab_page.py", "test_act_sandbox.py",
    "test_crash.py", "test_runner.py", "test_report_browser.py", "test_migrate_race.py",
    "test_report.py", "test_hang.py", "test_launch.py", "test_owner_reading.py",
    "test_tab_widget.py", "test_lost.py", "test_properties.py", "test_wheel.py", "test_ahead.py",
    "test_act_tab_repair_page.py", "test_tab_lab.py", "test_fuzz.py", "test_smtp_deadline.py",
    "test_notebooks.py", "test_rules.py", "test_storefast.py", "test_report_phone.py",
    "test_layering.py", "test_cli.py", "test_act_report.py", "test_notify.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: order kept
# === end of the order of the files ===
