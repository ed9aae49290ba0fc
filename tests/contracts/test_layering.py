"""The house rules of docs/design.md §1, checked on the source and at import time.

- The pure core (``usermap/engine/``) imports only the standard library, the dataframe libraries,
  itself and the exception tree (``usermap.errors``, a leaf): no adapter, no SQLite, no Jinja, no
  network, no environment, no clock.
- No import circles anywhere in the package, counting imports inside functions, between modules
  or between rooms.
- A name has one address: no module-level ``__getattr__`` façades, no names in ``__all__`` that a
  module only imported, and no import of another room's ``_private`` names.
- No module over 500 lines; the store imports nothing from the sources.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

import usermap

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import house  # noqa: E402 - the one circle finder, shared with the drawing of the house

PKG = Path(usermap.__file__).resolve().parent
ENGINE_ALLOWED = ("usermap.engine", "usermap.errors")
THIRD_PARTY_OK = ("numpy", "pandas", "pyarrow")
FORBIDDEN_TOP = ("sqlite3", "jinja2", "socket", "http", "urllib3", "requests", "hubspot",
                 "httpx", "smtplib", "ssl", "papermill", "nbformat", "ipywidgets", "anywidget",
                 "msgspec", "os", "subprocess", "shutil", "tempfile", "pathlib", "signal")
CLOCK_CALLS = {("time", "time"), ("time", "monotonic"), ("time", "perf_counter"),
               ("time", "localtime"), ("time", "gmtime"), ("time", "strftime"),
               ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
               ("date", "today"), ("Timestamp", "now"), ("Timestamp", "today"),
               ("os", "getenv"), ("os", "environ"), ("os", "getenvb"), ("os", "environb")}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()
ENGINE = sorted(m for m in MODULES if m.startswith("usermap.engine"))


def _imports(tree: ast.AST, module: str, is_pkg: bool = False) -> list[tuple[int, str, list[str]]]:
    """(line, absolute dotted module, imported names) of every import in the tree, at any depth;
    ``from pkg import sub`` also yields ``pkg.sub`` when that is a module."""
    package = module if is_pkg else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            names = [a.name for a in node.names]
            out.append((node.lineno, name, names))
            out += [(node.lineno, f"{name}.{n}", []) for n in names if f"{name}.{n}" in MODULES]
    return out


def _tree(module: str) -> ast.AST:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))


def _is_pkg(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _graph() -> dict[str, set[str]]:
    g = {}
    for m in MODULES:
        targets = set()
        for _, name, _names in _imports(_tree(m), m, _is_pkg(m)):
            if name in MODULES and name != m:
                targets.add(name)
        g[m] = targets
    return g


def _cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (benchmarks/house.py's Tarjan)."""
    return [c for c in house.sccs(g) if len(c) > 1]


def _engine_forbidden(name: str) -> bool:
    top = name.split(".")[0]
    if top == "usermap":
        return not any(name == a or name.startswith(a + ".") for a in ENGINE_ALLOWED)
    return top in FORBIDDEN_TOP


@pytest.mark.parametrize("module", ENGINE)
def test_engine_source_imports_no_adapter(module):
    bad = [(line, name) for line, name, _ in _imports(_tree(module), module, _is_pkg(module))
           if _engine_forbidden(name)]
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", ENGINE)
def test_engine_reads_no_environment_or_clock(module):
    found = []
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in CLOCK_CALLS:
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            if (node.value.attr, node.attr) in CLOCK_CALLS:   # datetime.datetime.now
                found.append((node.lineno, f"{node.value.attr}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "time"):
            found.append((node.lineno, f"from {node.module} import …"))
    assert not found, f"{module} reads the environment or the clock: {found}"


def test_no_import_circles_counting_imports_inside_functions():
    assert _cycles(_graph()) == []


def test_no_circles_between_rooms():
    """Rooms (a package folder, or a module at the root: benchmarks/house.py's ``room``) import
    one another one way only: the report and activities once did both, through the reason
    words, which live in ``usermap.labels`` now."""
    rooms: dict[str, set[str]] = {}
    for m, targets in _graph().items():
        rooms.setdefault(house.room(m, MODULES), set()).update(house.room(t, MODULES)
                                                               for t in targets)
    g = {r: ts - {r} for r, ts in rooms.items()}
    assert _cycles(g) == []


def test_the_circle_finder_sees_function_local_imports():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from .files import write_atomic\n    import sqlite3\n")
    names = [n for _, n, _ in _imports(tree, "usermap.engine.plan")]
    assert "usermap.engine.files" in names and "sqlite3" in names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_name_has_one_address(module):
    tree = _tree(module)
    facade = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    assert not facade, f"{module} has a module-level __getattr__ façade"
    imported, defined, exported = set(), set(), []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defined.add(n.id)
                        if n.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                            exported = [e.value for e in node.value.elts
                                        if isinstance(e, ast.Constant)]
    reexported = [n for n in exported if n in imported and n not in defined]
    assert not reexported, f"{module} re-exports {reexported} (import them from their own module)"


def _room(module: str) -> str:
    """A package folder below usermap/ is a room; a module at the package root is one alone."""
    package = module if _is_pkg(module) else module.rsplit(".", 1)[0]
    return module if package == "usermap" else package


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_of_another_rooms_private_names(module):
    room = _room(module)
    bad = []
    for line, name, names in _imports(_tree(module), module, _is_pkg(module)):
        if not name.startswith("usermap") or name not in MODULES:
            continue
        target_room = _room(name)
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private and target_room != room:
            bad.append((line, name, private))
    assert not bad, f"{module} imports private names of another room: {bad}"


def test_store_imports_nothing_from_sources():
    bad = [(m, line, name) for m in MODULES if m.startswith("usermap.store")
           for line, name, _ in _imports(_tree(m), m, _is_pkg(m))
           if name == "usermap.sources" or name.startswith("usermap.sources.")]
    assert not bad, f"the store imports the sources: {bad}"


# The dataframe libraries are allowed, whatever they load themselves (pandas loads urllib, for
# one): they are imported first, and only what the usermap module adds on top is looked at. One
# process imports them, then forks a child per module, so every module is imported into a
# process that has imported nothing of usermap.
_PROBE = """
import importlib, json, os, sys
import numpy, pandas, pyarrow
before = set(sys.modules)
for name in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        importlib.import_module(name)
        os.write(w, json.dumps(sorted(set(sys.modules) - before)).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = f.read()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, name
    print(json.dumps([name, json.loads(got)]))
"""


@functools.lru_cache(maxsize=1)
def _probed() -> dict[str, list[str]]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *ENGINE, "usermap.store.store"],
                         capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(line) for line in out.stdout.splitlines())


def _loaded_by(module: str) -> list[str]:
    """The modules that importing ``module`` loads, beyond numpy, pandas and pyarrow."""
    return _probed()[module]


@pytest.mark.parametrize("module", ENGINE)
def test_engine_import_loads_no_adapter(module):
    loaded = _loaded_by(module)
    bad = sorted(n for n in loaded if n.startswith("usermap.") and _engine_forbidden(n)
                 or n.split(".")[0] in ("sqlite3", "jinja2", "hubspot", "smtplib", "papermill"))
    assert not bad, f"importing {module} loads {bad}"


def test_store_import_loads_no_source():
    loaded = _loaded_by("usermap.store.store")
    assert not [n for n in loaded if n.startswith("usermap.sources")]
