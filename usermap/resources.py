"""Where usermap's own files are: the notebooks a run executes and the report templates.

Both live at the top of the checkout (``notebooks/``, ``reports/templates/``), where people look
for them; the wheel ships the same files inside the package as ``usermap/_notebooks`` and
``usermap/_templates`` (setup.py maps those two data packages onto the top-level folders, so git
holds one copy). Each function returns a real folder, the first of:

1. the folder named by the environment variable (``USERMAP_NOTEBOOKS``, ``USERMAP_TEMPLATES``);
   when it is set it is the answer: a folder without the files is an InputError (exit 2), never a
   silent fall-back to other files;
2. the checkout's folder, when usermap runs from a checkout or an editable install (the package's
   parent folder holds ``pyproject.toml`` and the folder);
3. the folder inside the installed package (a wheel install is on disk, so
   ``importlib.resources`` gives a real path; a zipped install is not supported and says so).

Only the standard library is imported here: the report, the runner, the notebooks and the CLI
all call it.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from .errors import InputError

__all__ = ["notebooks_dir", "templates_dir", "NOTEBOOKS_ENV", "TEMPLATES_ENV"]

NOTEBOOKS_ENV = "USERMAP_NOTEBOOKS"   # another folder holding audit.ipynb and sync.ipynb
TEMPLATES_ENV = "USERMAP_TEMPLATES"   # another folder holding report.html.j2 and the others
NOTEBOOKS = ("audit.ipynb", "sync.ipynb")
TEMPLATES = ("report.html.j2",)

_CHECKOUT = Path(__file__).resolve().parent.parent   # the checkout, if usermap runs from one


def notebooks_dir() -> Path:
    """The folder holding audit.ipynb and sync.ipynb (see the module docstring for the order)."""
    return _find(NOTEBOOKS_ENV, "notebooks", "_notebooks", NOTEBOOKS)


def templates_dir() -> Path:
    """The folder holding the Jinja templates of the report and the e-mail."""
    return _find(TEMPLATES_ENV, "reports/templates", "_templates", TEMPLATES)


def _missing(folder: Path, required: tuple[str, ...]) -> str | None:
    for name in required:
        if not (folder / name).is_file():
            return str(folder / name)
    return None


def _packaged(name: str) -> Path | None:
    """usermap/<name> inside the installed package, if it is a folder on disk."""
    try:
        path = Path(str(files(__package__) / name))
    except (TypeError, ValueError, OSError):
        return None
    return path if path.is_dir() else None


def _find(env: str, checkout_rel: str, package_rel: str, required: tuple[str, ...]) -> Path:
    override = os.environ.get(env, "")
    if override:
        folder = Path(override)
        missing = _missing(folder, required)
        if missing:
            raise InputError(f"${env} names a folder without {Path(missing).name}", file=missing)
        return folder
    candidates = []
    if (_CHECKOUT / "pyproject.toml").is_file():
        candidates.append(_CHECKOUT / checkout_rel)
    packaged = _packaged(package_rel)
    if packaged is not None:
        candidates.append(packaged)
    for folder in candidates:
        if _missing(folder, required) is None:
            return folder
    looked = ", ".join(map(str, candidates)) or f"the package {__package__}.{package_rel}"
    raise InputError(f"{' and '.join(required)} not found (looked in {looked}); set {env} to "
                     f"the folder that holds them", file=str(candidates[0] / required[0])
                     if candidates else None)
