"""E-mail normalisation and validation (docs/design.md §2).

The e-mail key: strip surrounding whitespace, Unicode NFC, lower case with ``str.lower``. Not
``casefold``: full case folding turns ``straße`` into ``strasse`` and ``ſales`` into ``sales``,
distinct mailboxes that must never be linked automatically. No dot or plus folding. A value
without exactly one ``@`` and a non-empty local part and domain, or holding a control character
(Unicode category Cc: NUL, CR, LF, tab... inside the stripped value), is invalid and never
matches. Pure: standard library and pandas only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import partial

import numpy as np
import pandas as pd

__all__ = ["email_key", "is_valid_key", "email_keys", "valid_keys"]

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

    When every value is a string (the usual case) the three steps run as ``map`` over C
    methods; NFC returns an already-normalised string (every ASCII one) at once. A key equal to
    the e-mail as written reuses that string (memory, not speed: about the same time as a
    comprehension). Otherwise a comprehension handles the missing values.
    """
    arr = values.to_numpy(dtype=object)
    if set(map(type, arr)) <= {str}:
        out = np.array(list(map(str.lower, map(_nfc, map(str.strip, arr)))), dtype=object)
        # where the key is the e-mail as written (most are), keep that one string: lower()
        # always makes a new one, and a million copies are 70 MB
        if len(out):
            out = np.where(out == arr, arr, out)
    else:
        nfc = unicodedata.normalize
        out = ["" if not isinstance(v, str) else
               (v.strip().lower() if v.isascii() else nfc("NFC", v.strip()).lower())
               for v in arr]
    return pd.Series(out, index=values.index, dtype=object)


_nfc = partial(unicodedata.normalize, "NFC")


def valid_keys(keys: pd.Series) -> pd.Series:
    """Vectorised ``is_valid_key``: a boolean Series. Control characters are looked for once
    over all keys joined (``isprintable``, C speed: true for almost every listing); only when
    there is one are the keys searched one by one."""
    values = keys.to_numpy(dtype=object)
    ok = [k.count("@") == 1 and k[0] != "@" and k[-1] != "@" for k in values]
    joined = "".join(values)
    if not joined.isprintable() and _CONTROL.search(joined):
        search = _CONTROL.search
        ok = [v and not search(k) for v, k in zip(ok, values)]
    return pd.Series(ok, index=keys.index, dtype=bool)
