"""The cells of the report's tables (split out of build.py, which re-exports ``mask_email``): a
column as a list of str, e-mails masked, and the name and id columns several tables share.
PURE, same rules as build.py: pandas, ``..models`` and ``.model`` only; no file I/O, no clock, no
environment (tests/report/test_report.py checks the imports).
"""

from __future__ import annotations

import pandas as pd

from ..engine.models import L_OWNER, L_USER
from .table import Column

__all__ = ["mask_email"]


def mask_email(value: str) -> str:
    """``john@example.com`` → ``j***@example.com``; empty stays empty."""
    if not value:
        return ""
    local, at, domain = str(value).strip().rpartition("@")
    if not at:
        return value[:1] + "***"
    return f"{local[:1]}***@{domain}"


def _strs(s) -> list[str]:
    """A column as a list of str, missing values as ""."""
    if not len(s):
        return []
    values = s.to_numpy(dtype=object, na_value="").tolist()
    if s.dtype != object and pd.api.types.is_string_dtype(s.dtype):
        return values                       # a string dtype holds only str (and NA, now "")
    return [v if type(v) is str else str(v) for v in values]


def _masked(values: list[str], mask) -> list[str]:
    return [mask(v) for v in values] if mask else values


_FIRST = Column("first_name", "First name", search=True)
_LAST = Column("last_name", "Last name", search=True)
_USER = Column(L_USER, "Aloware id", "id", search=True)
_OWNER = Column(L_OWNER, "HubSpot id", "id", search=True)
