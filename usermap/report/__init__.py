"""The report of a run (docs/design.md §8, issue 5): one self-contained HTML page, and the plain-text
and HTML bodies of the e-mail. Model, build and render are separate steps:

- ``model.py``: the frozen dataclasses (``Report``, ``Table``, ``FailureReport``, ...) and
  ``Notification``, the contract ``usermap.notify`` takes;
- ``build.py``: PURE, data -> model (``build_report``, ``build_failure_report``);
- ``render.py``: the one Jinja environment and the templates lookup (``jinja_env``,
  ``templates_dir``);
- ``compose.py``: the only I/O: the activities CSV, atomic writes (``usermap.workflow``
  reads the store's history and wires the steps).

Every public name of the former ``usermap/report.py`` is importable from here. The names are
re-exported lazily (module ``__getattr__``), so ``import usermap.report.build`` or
``import usermap.report.model`` alone does not import Jinja (nor the store or the sources).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "model": ("Notification", "Report", "Table", "Column", "Overview", "Changes",
              "SincePrevious", "Chart", "ChartDot", "TrendPoint", "ActivityImpact",
              "FailureReport"),
    "build": ("build_report", "build_failure_report", "mask_email", "fix_for",
              "ACTIVITY_COLUMNS", "ACTIVITY_TYPES", "DEFAULT_FIX_COMMAND",
              "DEFAULT_DECIDE_COMMAND"),
    "render": ("jinja_env", "templates_dir", "TEMPLATES_ENV", "EMAIL_TOP", "EMAIL_CLIP"),
    "compose": ("write_report", "read_activities"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [   # the same names as _EXPORTS, spelled out for linters and readers
    "Notification", "Report", "Table", "Column", "Overview", "Changes", "SincePrevious", "Chart",
    "ChartDot", "TrendPoint", "ActivityImpact", "FailureReport",
    "build_report", "build_failure_report", "mask_email", "fix_for", "ACTIVITY_COLUMNS",
    "ACTIVITY_TYPES", "DEFAULT_FIX_COMMAND", "DEFAULT_DECIDE_COMMAND",
    "jinja_env", "templates_dir", "TEMPLATES_ENV", "EMAIL_TOP", "EMAIL_CLIP",
    "write_report", "read_activities",
]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value          # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:   # for type checkers and editors; at run time the names load on first use
    from .build import (ACTIVITY_COLUMNS, ACTIVITY_TYPES, DEFAULT_DECIDE_COMMAND,
                        DEFAULT_FIX_COMMAND, build_failure_report, build_report, fix_for,
                        mask_email)
    from .compose import read_activities, write_report
    from .model import (ActivityImpact, Changes, Chart, ChartDot, Column, FailureReport,
                        Notification, Overview, Report, SincePrevious, Table, TrendPoint)
    from .render import EMAIL_CLIP, EMAIL_TOP, TEMPLATES_ENV, jinja_env, templates_dir
