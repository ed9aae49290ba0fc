"""API text shown to people as data, never as structure (issue 19 item 11, docs/design.md §8).

A name or e-mail from Aloware or HubSpot (a HubSpot user edits their own name) may hold CR, LF,
other control characters, U+2028/U+2029 or a lone surrogate. Written as they are, they would
start a line of their own in the plain-text e-mail, a header or a CSV cell. ``visible`` shows
each such character as an escape (``\\n``, ``\\x1b``, ``\\u2028``) and a lone surrogate as
U+FFFD, so the value stays on its line and can still be read. Everything else is unchanged.

Pure: standard library only (the report, the audit's CSVs, the e-mail and the run's log use it).
"""

from __future__ import annotations

import re

__all__ = ["visible", "visible_all", "HIDDEN"]

# C0 and C1 controls (NEL is U+0085), DEL, the Unicode line and paragraph separators, and
# surrogates (a Python str holds them only when a source decoded bytes loosely).
HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    if 0xD800 <= n <= 0xDFFF:
        return "\ufffd"
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def visible(value, *, keep: str = "") -> str:
    """``value`` as text on one line: hidden characters escaped (see the module's doc), those
    in ``keep`` aside (a log keeps the line breaks of a notebook's printed output)."""
    s = "" if value is None else str(value)
    if not HIDDEN.search(s):
        return s
    if keep:
        return HIDDEN.sub(lambda m: m.group() if m.group() in keep else _escape(m), s)
    return HIDDEN.sub(_escape, s)


def visible_all(values: list) -> list:
    """``visible`` over a list of str; the list itself when nothing in it needs it (one scan
    of the joined text, so a clean column of a large account costs one regex pass)."""
    try:
        text = "".join(values)                    # all str: the usual case, at C speed
    except TypeError:
        text = "".join(v for v in values if isinstance(v, str))
    if not HIDDEN.search(text):
        return values
    return [visible(v) if isinstance(v, str) else v for v in values]
