"""The project's own files: environment.yml agrees with pyproject.toml; the README stays true."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
