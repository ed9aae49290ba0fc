"""Small text helpers shared by the report's model and its rendering: safe link URLs, counted
nouns, one-line text. Standard library only."""

from __future__ import annotations

import re

__all__ = ["SAFE_URL", "plural", "one_line"]

SAFE_URL = re.compile(r"^https?://[^\s\"'<>]+$", re.I)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def one_line(s: str) -> str:
    return " ".join(str(s).split())
