"""The project's own files: environment.yml agrees with pyproject.toml; the README stays true."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r for r in py["dependencies"] + py["optional-dependencies"]["dev"]}
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+[^#]*)$", line)
        if m and not line.strip().startswith("- pip") and ":" not in m.group(1):
            req = m.group(1).strip()
            if _name(req) not in ("python", "pip", "-e"):
                conda[_name(req)] = req.replace(" ", "")
    assert set(conda) == set(wanted), (set(conda) ^ set(wanted))
    for name, req in wanted.items():  # same version bounds too
        assert conda[name] == req.replace(" ", ""), (name, conda[name], req)


def test_readme_shows_both_commands_early():
    lines = (ROOT / "README.md").read_text().splitlines()[:40]
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text


def test_ci_script_calls_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_hubspot_client_is_at_least_11():
    # before 11 the client ignores the configured host and drops retry=False
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "hubspot-api-client>=11" in [d.replace(" ", "") for d in deps]


def test_version_flag_prints_the_package_version(capsys):
    import importlib.metadata

    import usermap
    from usermap.cli import main
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    try:
        expected = importlib.metadata.version("usermap")
    except importlib.metadata.PackageNotFoundError:
        expected = usermap.__version__
    assert capsys.readouterr().out.strip() == f"usermap {expected}"
    assert usermap.version() == expected


def test_version_falls_back_to_dunder_version_without_metadata(monkeypatch):
    import importlib.metadata

    import usermap

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert usermap.version() == usermap.__version__


def test_resources_are_the_checkout_folders_in_a_checkout(monkeypatch):
    from usermap import resources
    monkeypatch.delenv("USERMAP_NOTEBOOKS", raising=False)
    monkeypatch.delenv("USERMAP_TEMPLATES", raising=False)
    assert resources.notebooks_dir() == ROOT / "notebooks"
    assert resources.templates_dir() == ROOT / "reports" / "templates"


def test_resources_environment_overrides_win_and_must_hold_the_files(monkeypatch, tmp_path):
    import shutil

    from usermap import resources
    from usermap.report import render as report
    from usermap.errors import InputError
    nbs, tpl = tmp_path / "nbs", tmp_path / "tpl"
    shutil.copytree(ROOT / "notebooks", nbs)
    shutil.copytree(ROOT / "reports" / "templates", tpl)
    monkeypatch.setenv("USERMAP_NOTEBOOKS", str(nbs))
    monkeypatch.setenv("USERMAP_TEMPLATES", str(tpl))
    assert resources.notebooks_dir() == nbs
    assert resources.templates_dir() == report.templates_dir() == tpl
    (nbs / "sync.ipynb").unlink()
    with pytest.raises(InputError) as e:
        resources.notebooks_dir()
    assert e.value.file == str(nbs / "sync.ipynb") and "USERMAP_NOTEBOOKS" in str(e.value)
    monkeypatch.setenv("USERMAP_TEMPLATES", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="USERMAP_TEMPLATES"):
        report.templates_dir()


def test_resources_fall_back_to_the_installed_package(monkeypatch, tmp_path):
    # no checkout beside the package: the data packages inside it are used (tests/contracts/test_wheel.py
    # checks the real thing with a built wheel; here the package folder is faked)
    from usermap import resources
    monkeypatch.delenv("USERMAP_NOTEBOOKS", raising=False)
    monkeypatch.setattr(resources, "_CHECKOUT", tmp_path / "not-a-checkout")
    pkg = tmp_path / "pkg"
    (pkg / "_notebooks").mkdir(parents=True)
    for name in ("audit.ipynb", "sync.ipynb"):
        (pkg / "_notebooks" / name).write_text("{}")
    monkeypatch.setattr(resources, "files", lambda package: pkg)
    assert resources.notebooks_dir() == pkg / "_notebooks"
