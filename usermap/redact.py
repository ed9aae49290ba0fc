"""Redaction of secrets from anything that may be printed, logged or written.

The Aloware token travels in a URL (``?api_token=…``), so every log line, exception message and
progress bar passes through ``redact``. Secret values are read from the environment at call time;
which variables hold secrets is ``SECRET_ENV_VARS`` here (the one list). Imports only the
standard library; must not import sources, store, report or runner.

What is masked: token query parameters, Bearer credentials, and every secret value in the forms
a server may echo it back in: as is, URL-encoded, and base64 (an SMTP ``AUTH PLAIN`` line is
``base64("\\0user\\0password")``; ``AUTH LOGIN`` sends each one base64'd). A base64 form is
masked wherever it sits in a longer base64 text: the characters that depend on the secret's bytes
alone are computed for the three possible alignments.

**Redact first, then cut.** A message cut first and redacted second leaks the part of a token on
the near side of the cut (no longer whole, so no longer recognised). ``bounded(text, limit)`` is
the one way to shorten a message: redact the whole text, then cut it to ``limit`` characters.
"""

from __future__ import annotations

import base64
import functools
import os
import re

SECRET_ENV_VARS = ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN", "SMTP_USER", "SMTP_PASSWORD")

__all__ = ["SECRET_ENV_VARS", "redact", "bounded", "quoted", "secret_forms", "MASK", "MESSAGE_LIMIT", "QUOTE_LIMIT"]

MASK = "***"
MESSAGE_LIMIT = 2000      # a message from a source (an error body, an SMTP reply) as quoted
QUOTE_LIMIT = 80          # a piece of a file's content quoted in an error message
_MIN_SECRET = 4           # a 1–3 character "secret" would mask ordinary text
_MIN_B64 = 8              # shortest base64 piece worth masking
# a token parameter's value; the placeholder "…" of a hint (`export HUBSPOT_ACCESS_TOKEN=…`)
# is no value and stays, so redaction never cuts the advice
_QUERY = re.compile(r"((?:api_token|access_token|token|hapikey)=)"
                    r"(?!(?:…|\.\.\.)(?:[`'\"\s),;]|$))[^&\s'\"]+", re.I)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I)
_BASIC = re.compile(r"(Basic\s+)[A-Za-z0-9+/]+=*", re.I)


def _b64_cores(data: bytes) -> set[str]:
    """The base64 characters fixed by ``data`` alone, for each of its 3 possible alignments in
    a longer base64 text (standard and URL-safe alphabets)."""
    out = set()
    n = len(data)
    for k in range(3):                      # bytes before data in its group of three
        enc = base64.b64encode(b"\0" * k + data + b"\0\0").decode("ascii")
        first = -(-8 * k // 6)              # first character made only of data's bits
        last = (8 * (k + n)) // 6           # one past the last such character
        core = enc[first:last]
        if len(core) >= _MIN_B64:
            out.add(core)
            out.add(core.replace("+", "-").replace("/", "_"))
    return out


@functools.lru_cache(maxsize=8)
def _forms(values: tuple[str, ...]) -> tuple[str, ...]:
    from urllib.parse import quote, quote_plus
    forms: set[str] = set()
    secrets = []
    for raw in values:
        for v in {raw, raw.strip()}:
            if len(v) >= _MIN_SECRET:
                secrets.append(v)
                forms.update((v, quote(v, safe=""), quote_plus(v)))
                forms.update(_b64_cores(v.encode("utf-8")))
    user, password = values[SECRET_ENV_VARS.index("SMTP_USER")].strip(), \
        values[SECRET_ENV_VARS.index("SMTP_PASSWORD")].strip()
    if user or password:                    # SASL PLAIN: authzid \0 authcid \0 password
        for combined in (f"\0{user}\0{password}", f"{user}\0{user}\0{password}"):
            forms.update(_b64_cores(combined.encode("utf-8")))
    return tuple(sorted(forms, key=len, reverse=True))   # longest first: no half-masked form


def secret_forms() -> tuple[str, ...]:
    """Every form of every secret set in the environment that ``redact`` masks."""
    return _forms(tuple(os.environ.get(v, "") for v in SECRET_ENV_VARS))


def redact(text: object) -> str:
    """``text`` with token query parameters, Bearer credentials and secret values masked."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    s = _BEARER.sub(r"\1" + MASK, _QUERY.sub(r"\1" + MASK, str(text)))
    s = _BASIC.sub(r"\1" + MASK, s)
    for form in secret_forms():
        if form in s:
            s = s.replace(form, MASK)
    return s


def bounded(text: object, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` redacted, then cut to at most ``limit`` characters (an ellipsis marks a cut).

    The one way to shorten a message that may hold a secret: redaction sees the whole text, so a
    token straddling the cut is masked before it is cut."""
    s = redact(text)
    if len(s) <= limit:
        return s
    return s[:max(limit - 1, 0)] + "…"


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A piece of a file's content as an error message quotes it: redacted, cut to ``limit``
    characters, then ``repr``'d (so a file that is not what it claims to be, a secret file
    linked in place of a CSV, is not printed whole)."""
    if isinstance(value, str):
        return repr(bounded(value, limit))
    return bounded(repr(value), limit)
