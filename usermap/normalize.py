"""E-mail normalisation and validation (DESIGN.md §2).

The e-mail key: strip surrounding whitespace, Unicode NFC, casefold. No dot or plus folding.
A value without exactly one ``@`` and a non-empty local part and domain is invalid and never
matches. Pure: standard library and pandas only.
"""

from __future__ import annotations

import unicodedata

import pandas as pd

__all__ = ["email_key", "is_valid_key", "email_keys", "valid_keys"]


def email_key(value: object) -> str:
    """The comparison key of one e-mail (empty string for a missing value)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return unicodedata.normalize("NFC", str(value).strip()).casefold()


def is_valid_key(key: str) -> bool:
    """True when the key has exactly one '@' with something on each side."""
    if key.count("@") != 1:
        return False
    local, _, domain = key.partition("@")
    return bool(local) and bool(domain)


def email_keys(values: pd.Series) -> pd.Series:
    """Vectorised ``email_key`` over a Series of strings (missing values become "")."""
    s = values.fillna("").astype(str).str.strip()
    # NFC is a no-op for ASCII; only normalise the (rare) non-ASCII values.
    non_ascii = ~s.map(str.isascii, na_action="ignore").astype(bool)
    if non_ascii.any():
        s = s.copy()
        s[non_ascii] = s[non_ascii].str.normalize("NFC")
    return s.str.casefold()


def valid_keys(keys: pd.Series) -> pd.Series:
    """Vectorised ``is_valid_key``: a boolean Series."""
    at = keys.str.find("@")
    return (keys.str.count("@") == 1) & (at > 0) & (at < keys.str.len() - 1)
