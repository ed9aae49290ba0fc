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
    """Vectorised ``email_key`` over a Series (missing values become "").

    A comprehension over the raw objects beats pandas' string methods here (each of those is a
    Python loop too); NFC is only applied to the rare non-ASCII values.
    """
    nfc = unicodedata.normalize
    out = [
        "" if not isinstance(v, str) else
        (v.strip().casefold() if v.isascii() else nfc("NFC", v.strip()).casefold())
        for v in values.to_numpy(dtype=object)
    ]
    return pd.Series(out, index=values.index, dtype=object)


def valid_keys(keys: pd.Series) -> pd.Series:
    """Vectorised ``is_valid_key``: a boolean Series."""
    ok = [k.count("@") == 1 and k[0] != "@" and k[-1] != "@" for k in keys.to_numpy(dtype=object)]
    return pd.Series(ok, index=keys.index, dtype=bool)
