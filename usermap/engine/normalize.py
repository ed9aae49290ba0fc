"""E-mail normalisation and validation (docs/design.md §2).

The e-mail key: strip surrounding whitespace, Unicode NFC, lower case with ``str.lower``. Not
``casefold``: full case folding turns ``straße`` into ``strasse`` and ``ſales`` into ``sales``,
distinct mailboxes that must never be linked automatically. No dot or plus folding. A value
without exactly one ``@`` and a non-empty local part and domain, or holding a control character
(Unicode category Cc: NUL, CR, LF, tab... inside the stripped value), is invalid and never
matches. Pure: standard library, numpy, pandas and pyarrow (its compute kernels) only.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["email_key", "is_valid_key", "email_keys", "valid_keys", "keys_and_validity"]

# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def email_key(value: object) -> str:
    """The comparison key of one e-mail (empty string for a missing value)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return unicodedata.normalize("NFC", str(value).strip()).lower()


def is_valid_key(key: str) -> bool:
    """True when the key has exactly one '@' with something on each side and no control
    character."""
    if key.count("@") != 1 or _CONTROL.search(key):
        return False
    local, _, domain = key.partition("@")
    return bool(local) and bool(domain)


def email_keys(values: pd.Series) -> pd.Series:
    """Vectorised ``email_key`` over a Series (missing values become "").

    When every value is a string or missing (the usual case) the keys of the ASCII values are
    made by Arrow kernels (for ASCII text, ``str.strip`` removes exactly ``_ASCII_SPACE``, NFC
    changes nothing and ``str.lower`` maps A-Z only); the few non-ASCII values go through the
    scalar rule. A key equal to the e-mail as written reuses that string (memory: a million
    copies are 70 MB). Any other value type (a number in a notebook's frame) takes the scalar
    rule for every value.
    """
    return pd.Series(_keys(values.to_numpy(dtype=object))[0], index=values.index, dtype=object)


def keys_and_validity(values: pd.Series, *, arrow: bool = True
                      ) -> tuple[pd.Series, pd.Series, object]:
    """``email_keys`` and ``valid_keys`` of ``values`` in one pass, and the keys as an Arrow
    string array (None when the values were not all strings or missing, or without ``arrow``),
    for the caller's own Arrow work on them (``reconcile`` codes the keys with it).

    ``arrow``: False takes the scalar rule (``email_key``, ``is_valid_key``) for every value,
    the exact twin of the Arrow kernels (the caller's engine switch chooses)."""
    keys, arrow = _keys(values.to_numpy(dtype=object), arrow)
    valid = _valid(arrow) if arrow is not None else None
    if valid is None:
        valid = np.array([is_valid_key(k) for k in keys], dtype=bool)
    return (pd.Series(keys, index=values.index, dtype=object),
            pd.Series(valid, index=values.index, dtype=bool), arrow)


def _keys(arr: np.ndarray, arrow: bool = True) -> tuple[np.ndarray, object]:
    """(keys as an object array, the same keys as an Arrow array or None)."""
    strings = _arrow_strings(arr) if arrow else None
    if strings is None:
        return np.array([email_key(v) for v in arr] or [], dtype=object), None
    keys = pc.ascii_lower(pc.utf8_trim(strings.fill_null(""), characters=_ASCII_SPACE))
    # only keys that differ from the e-mail as written become new strings; the others are
    # that string (a million new copies would be 70 MB, and the time to make them)
    changed = pc.invert(pc.fill_null(pc.equal(keys, strings), False))
    out = arr.copy()
    if pc.any(changed).as_py():
        where = changed.to_numpy(zero_copy_only=False)
        out[where] = keys.filter(changed).to_numpy(zero_copy_only=False)
    ascii_ = pc.fill_null(pc.string_is_ascii(strings), True).to_numpy(zero_copy_only=False)
    if not ascii_.all():
        other = np.flatnonzero(~ascii_)
        fixed = [email_key(v) for v in arr[other]]
        out[other] = fixed
        keys = pc.replace_with_mask(keys, pa.array(~ascii_), pa.array(fixed, type=pa.string()))
    return out, keys


# What ``str.strip()`` removes from an ASCII string (Python's whitespace below U+0080).
_ASCII_SPACE = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
# Unicode category Cc in RE2's syntax (the Arrow kernels' regular expressions).
_CONTROL_RE2 = "[\\x00-\\x1f\\x7f-\\x{9f}]"


def _arrow_strings(arr: np.ndarray):
    """The values as an Arrow string array (None and NaN become null), or None when some value
    is neither a string nor missing."""
    try:
        return pa.array(arr, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def valid_keys(keys: pd.Series) -> pd.Series:
    """Vectorised ``is_valid_key``: a boolean Series, by Arrow kernels over the keys (exactly
    one "@", not first nor last, no control character); keys that are not all strings take the
    scalar rule."""
    values = keys.to_numpy(dtype=object)
    k = _arrow_strings(values)
    ok = _valid(k) if k is not None else None
    if ok is None:
        ok = [isinstance(v, str) and is_valid_key(v) for v in values]
    return pd.Series(ok, index=keys.index, dtype=bool)


def _valid(k) -> np.ndarray | None:
    """``is_valid_key`` of an Arrow array of keys (None when it holds a null)."""
    if k.null_count:
        return None
    ok = pc.and_(pc.equal(pc.count_substring(k, "@"), 1),
                 pc.invert(pc.or_(pc.starts_with(k, "@"), pc.ends_with(k, "@"))))
    if pc.any(pc.match_substring_regex(k, _CONTROL_RE2)).as_py():
        ok = pc.and_(ok, pc.invert(pc.match_substring_regex(k, _CONTROL_RE2)))
    return ok.to_numpy(zero_copy_only=False)
