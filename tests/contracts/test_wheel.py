"""A package that runs wherever it is installed (issue 9): the wheel carries the notebooks and the
report templates, and an installed copy, far from any checkout, reports and runs.

How the test gets a fresh environment fast and still honest:

* The wheel is built from a copy of the source (pyproject.toml, setup.py, README.md, usermap/,
  notebooks/, reports/) in a temporary folder, so the build writes nothing into the checkout.
  ``pip wheel --no-deps``: without build isolation when the running environment can build wheels
  itself (setuptools >= 70.1, or the ``wheel`` package), which needs no index at all; otherwise
  with isolation, where pip fetches setuptools through its configured index (the dev venv made by
  ``make install`` carries setuptools 65.5 without ``wheel``, which cannot build a wheel).
* The fresh environment is ``python -m venv --without-pip`` (a second or so). Installing usermap's
  dependencies into it would take minutes (jupyterlab, pandas, ...), so a ``.pth`` file in its
  site-packages appends the dev venv's site-packages to ``sys.path``, for the dependencies only.
  A path added by a ``.pth`` line is not a site dir: the ``.pth`` files inside it are not run, so
  the dev venv's editable-install hook (``__editable__...usermap...pth``) never loads and the
  checkout's usermap cannot be imported. The wheel is installed into the fresh venv by pip
  (``--no-deps --ignore-installed``, so pip never touches the dev venv), which writes the
  ``usermap`` script with the fresh interpreter in its shebang.
* Every command runs with cwd in a temporary folder, ``PYTHONPATH`` and the ``USERMAP_*``
  variables removed; the test checks that ``usermap.__file__``, its metadata, the notebooks and
  the templates all resolve inside the fresh venv, that the run's kernel is the fresh interpreter
  (run.log names it), and that the installed wheel's requirements are met by the versions the
  fresh environment sees (what ``pip install .`` would have had to satisfy).

Measured on the shared 2-core dev machine: 12 to 22 s in all (wheel build 3-7 s with pip's
isolated build, fresh venv and install 0.5-1.5 s, `usermap run` with its kernel 5-9 s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import pytest

import runkit
from conftest import SANDBOX_TOKENS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "usermap", "notebooks",
           "reports")


def _can_build_without_isolation() -> bool:
    import importlib.util
    if importlib.util.find_spec("wheel") is not None:
        return True
    try:
        import setuptools
        major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)
    except Exception:  # noqa: BLE001 - no setuptools, or an odd version: let pip isolate
        return False


def _build_wheel(work: Path) -> Path:
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=ignore)
        elif p.is_file():
            shutil.copy2(p, src / name)
    dist = work / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)]
    if _can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=work, timeout=300,
                       env=_clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    wheels = list(dist.glob("usermap-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _clean_env(venv_dir: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH")
           and not k.startswith("USERMAP_")}
    if venv_dir is not None:
        env["PATH"] = f"{venv_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_dir)
    return env


def _fresh_venv(work: Path, wheel: Path) -> Path:
    target = work / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(target)
    py = target / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = sysconfig.get_path("purelib")   # the dev venv's site-packages: dependencies only
    (Path(site) / "_usermap_test_deps.pth").write_text(deps + "\n")
    p = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
                        "--no-index", str(wheel)],
                       capture_output=True, text=True, cwd=work, env=_clean_env(target),
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    t0 = time.perf_counter()
    wheel = _build_wheel(work)
    t1 = time.perf_counter()
    target = _fresh_venv(work, wheel)
    t2 = time.perf_counter()
    print(f"\nwheel built in {t1 - t0:.1f} s, fresh venv with it in {t2 - t1:.1f} s")
    return {"work": work, "wheel": wheel, "venv": target}


def _run(venv_dir: Path, args, cwd: Path, timeout=300, extra=None):
    env = {**_clean_env(venv_dir), **(extra or {})}
    t0 = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    return p, time.perf_counter() - t0


def test_wheel_carries_the_notebooks_and_templates(installed):
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"usermap/_notebooks/{nb.name}" in names, nb.name
    for t in sorted((ROOT / "reports" / "templates").iterdir()):
        if t.is_file():
            assert f"usermap/_templates/{t.name}" in names, t.name
    for must in ("usermap/_notebooks/audit.ipynb", "usermap/_notebooks/sync.ipynb",
                 "usermap/_templates/report.html.j2", "usermap/_templates/email.html.j2",
                 "usermap/cli.py", "usermap/launch.py", "usermap/resources.py",
                 "usermap/sources/__init__.py",
                 "usermap/sandbox/__init__.py"):
        assert must in names, must
    # every code package under usermap/ is in the wheel (found, not listed)
    for init in (ROOT / "usermap").rglob("__init__.py"):
        rel = init.relative_to(ROOT).as_posix()
        if "__pycache__" not in rel:
            assert rel in names, rel
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(installed["wheel"]).read(meta).decode()
    assert "Requires-Dist: hubspot-api-client>=11" in text


def test_installed_wheel_resolves_everything_inside_the_fresh_venv(installed, tmp_path):
    v = installed["venv"]
    script = (
        "import json, usermap, usermap.resources as r, importlib.metadata as m\n"
        "from packaging.requirements import Requirement\n"
        "d = m.distribution('usermap')\n"
        "unmet = []\n"
        "for req in map(Requirement, d.requires or []):\n"
        "    if req.marker is not None and not req.marker.evaluate({'extra': ''}):\n"
        "        continue\n"
        "    try:\n"
        "        have = m.version(req.name)\n"
        "    except m.PackageNotFoundError:\n"
        "        have = None\n"
        "    if have is None or not req.specifier.contains(have, prereleases=True):\n"
        "        unmet.append(f'{req} (have {have})')\n"
        "print(json.dumps({'file': usermap.__file__, 'dist': str(d.locate_file('')),\n"
        "    'version': usermap.version(), 'notebooks': str(r.notebooks_dir()),\n"
        "    'templates': str(r.templates_dir()), 'unmet': unmet}))\n")
    p, _ = _run(v, [str(v / "bin" / "python"), "-c", script], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    for key in ("file", "dist", "notebooks", "templates"):
        assert Path(info[key]).resolve().is_relative_to(v.resolve()), (key, info[key])
        assert not Path(info[key]).resolve().is_relative_to(ROOT), (key, info[key])
    assert info["unmet"] == []
    import usermap
    assert info["version"] == usermap.__version__


def test_installed_wheel_reports_and_runs_outside_the_checkout(installed, tmp_path):
    v = installed["venv"]
    usermap_cmd = str(v / "bin" / "usermap")
    assert (v / "bin" / "usermap").read_text().startswith(f"#!{v / 'bin' / 'python'}")

    p, _ = _run(v, [usermap_cmd, "--version"], cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.strip() == f"usermap {__import__('usermap').__version__}"

    root = tmp_path / "site"
    t0 = time.perf_counter()
    srv, cfg, world, store = runkit.make_env(root, n_users=60, seed=5)
    try:
        p, secs = _run(v, [usermap_cmd, "run", "--config", str(root / "usermap.toml")],
                       cwd=root, extra=SANDBOX_TOKENS)
    finally:
        srv.stop()
    assert p.returncode == 0, p.stdout + p.stderr
    runs = [d for d in (root / "runs").iterdir() if d.is_dir()]
    assert len(runs) == 1, runs
    run = runs[0]
    for name in ("report.html", "audit.ipynb", "sync.ipynb", "summary.json", "plan.json",
                 "run.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["status"] == "ok"
    for name in ("audit.ipynb", "sync.ipynb"):
        nb = json.loads((run / name).read_text())
        assert not any(o.get("output_type") == "error" for c in nb["cells"]
                       for o in c.get("outputs", [])), name
    kernel_line = next(line for line in (run / "run.log").read_text().splitlines()
                       if "kernel:" in line)
    assert str(v / "bin") in kernel_line, kernel_line   # the fresh interpreter ran the notebooks

    p, _ = _run(v, [usermap_cmd, "report", str(run / "snapshot"), "--store", str(store),
                    "--out", "report.html"], cwd=root)
    assert p.returncode == 0, p.stdout + p.stderr
    html = (root / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "</html>" in html
    print(f"\nrun {secs:.1f} s; run test total {time.perf_counter() - t0:.1f} s")
