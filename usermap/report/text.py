"""Small text helpers shared by the report's model and its rendering: safe link URLs, counted
nouns, one-line text. Standard library only (and ``usermap.visible``, standard library only)."""

from __future__ import annotations

import re

from ..visible import visible

__all__ = ["SAFE_URL", "plural", "one_line"]

SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$", re.I)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def one_line(s: str) -> str:
    """One line for a header or a subject: runs of white space as one space, any other hidden
    character escaped (``usermap.visible``)."""
    return visible(" ".join(str(s).split()))
