"""Redaction of secrets from anything that may be printed, logged or written.

The Aloware token travels in a URL (``?api_token=…``), so every log line, exception message and
progress bar passes through ``redact``. Secret values are read from the environment at call time;
which variables hold secrets is ``config.SECRET_ENV_VARS`` (the one list). Imports only the
standard library and that constant; must not import sources, store, report or runner.
"""

from __future__ import annotations

import os
import re

from .config import SECRET_ENV_VARS

__all__ = ["redact", "MASK"]

MASK = "***"
_QUERY = re.compile(r"((?:api_token|access_token|token|hapikey)=)[^&\s'\"]+", re.I)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I)


def redact(text: object) -> str:
    """``text`` with token query parameters, Bearer credentials and secret values masked."""
    s = _BEARER.sub(r"\1" + MASK, _QUERY.sub(r"\1" + MASK, str(text)))
    for var in SECRET_ENV_VARS:
        value = os.environ.get(var, "")
        if len(value) >= 4:  # a 1–3 character "secret" would mask ordinary text
            s = s.replace(value, MASK)
    return s
