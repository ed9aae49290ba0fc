"""The dependency direction of docs/design.md §1, checked two ways.

The pure core (models, normalize, reconcile, plan) imports only the standard library, the
dataframe libraries and each other: no adapter, no SQLite, no Jinja, no network, no environment,
no clock. Checked by reading every import statement of the source (function-local ones too) and
by importing each core module in a fresh interpreter and looking at ``sys.modules``. The store
imports nothing from ``usermap.sources``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import usermap

PKG = Path(usermap.__file__).resolve().parent
CORE = ("models", "normalize", "reconcile", "plan", "changes")
ADAPTERS = ("store", "sources", "sandbox", "report", "notify", "runner", "notebook", "cli",
            "clipaths", "files", "workflow", "recording", "apply", "tab", "output", "config")
FORBIDDEN_TOP = ("sqlite3", "jinja2", "socket", "http", "urllib", "urllib3", "requests",
                 "hubspot", "httpx", "smtplib", "ssl", "papermill", "nbformat", "ipywidgets")
CLOCK_CALLS = {("time", "time"), ("time", "monotonic"), ("time", "perf_counter"),
               ("time", "localtime"), ("time", "gmtime"), ("time", "strftime"),
               ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
               ("date", "today"), ("Timestamp", "now"), ("Timestamp", "today"),
               ("os", "getenv"), ("os", "environ"), ("os", "getenvb"), ("os", "environb")}


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in the tree, at any depth."""
    package = f"usermap.{module}".rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            out += [(node.lineno, f"{name}.{a.name}") for a in node.names
                    if name in ("usermap",) or name.startswith("usermap.")]
    return out


def _forbidden(name: str) -> str | None:
    top = name.split(".")[0]
    if top in FORBIDDEN_TOP:
        return top
    if top == "usermap":
        parts = name.split(".")
        if len(parts) > 1 and parts[1] in ADAPTERS:
            return "usermap." + parts[1]
    return None


COMPAT_ALLOWED: set = set()   # (module, import) pairs allowed despite the rule: none


@pytest.mark.parametrize("module", CORE)
def test_core_source_imports_no_adapter(module):
    path = PKG / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [(line, name) for line, name in _imports(tree, module)
           if _forbidden(name) and (module, name) not in COMPAT_ALLOWED]
    assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("module", CORE)
def test_core_source_reads_no_environment_or_clock(module):
    path = PKG / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in CLOCK_CALLS:
                found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            if (node.value.attr, node.attr) in CLOCK_CALLS:   # datetime.datetime.now
                found.append((node.lineno, f"{node.value.attr}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "time"):
            names = {a.name for a in node.names}
            hit = names & {"environ", "getenv", "environb", "getenvb", "time", "monotonic",
                           "perf_counter", "localtime", "gmtime", "strftime"}
            if hit:
                found.append((node.lineno, f"from {node.module} import {sorted(hit)}"))
    assert not found, f"{path.name} reads the environment or the clock: {found}"


def test_store_imports_nothing_from_sources():
    path = PKG / "store.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [(line, name) for line, name in _imports(tree, "store")
           if name == "usermap.sources" or name.startswith("usermap.sources.")]
    assert not bad, f"store.py imports {bad}"


# The dataframe libraries are allowed, whatever they load themselves (pandas loads urllib, for
# one): they are imported first, and only what the usermap module adds on top is looked at.
_PROBE = """
import json, sys
import numpy, pandas
before = set(sys.modules)
import importlib
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _loaded_by(module: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("module", CORE)
def test_core_import_loads_no_adapter(module):
    loaded = _loaded_by(f"usermap.{module}")
    bad = sorted(name for name in loaded if _forbidden(name))
    assert not bad, f"importing usermap.{module} loads {bad}"


def test_store_import_loads_no_source():
    loaded = _loaded_by("usermap.store")
    assert not [n for n in loaded if n.startswith("usermap.sources")]


def test_import_graph_helper_sees_function_local_imports():
    tree = ast.parse("def f():\n    from .files import write_plan\n    import sqlite3\n")
    names = [n for _, n in _imports(tree, "plan")]
    assert "usermap.files" in names and "sqlite3" in names
    assert _forbidden("usermap.files") and _forbidden("sqlite3")
    assert _forbidden("usermap.errors") is None and _forbidden("pandas") is None
