"""Layout of the report's trend charts (docs/design.md §8): PURE, trend points -> ``Chart``
(coordinates, ticks and labels as numbers and strings); the template draws the inline SVG.

Must not import: jinja2, markupsafe, sqlite3, socket, os, pathlib; no I/O, no clock (the same
rules as build.py, which uses it).
"""

from __future__ import annotations

import math
from typing import Callable

from .model import Chart, ChartDot, TrendPoint

__all__ = ["line_chart"]


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def line_chart(cid: str, title: str, points: tuple[TrendPoint, ...],
               value: Callable[[TrendPoint], float | None], *, percent: bool) -> Chart:
    """A line of ``value`` over ``points`` (None: no dot); y from 0 to a round maximum, or
    0-100 for a ``percent``."""
    W, H = 360, 160
    left, top, right, bottom = 44.0, 12.0, W - 12.0, H - 28.0
    vals = [value(p) for p in points]
    known = [v for v in vals if v is not None]
    y_max = 100.0 if percent else _nice_max(max(known) if known else 0.0)
    n = len(points)

    def x(i: int) -> float:
        return round(left + (right - left) * (i / (n - 1) if n > 1 else 0.5), 1)

    def y(v: float) -> float:
        return round(bottom - (bottom - top) * (v / y_max if y_max else 0), 1)

    def fmt(v: float) -> str:
        return f"{v:.1f}%" if percent else f"{v:,.0f}"
    dots, line = [], []
    for i, (p, v) in enumerate(zip(points, vals)):
        if v is None:
            continue
        who = " ".join(t for t in (p.run_id, p.at) if t) or "this run"
        dots.append(ChartDot(x(i), y(v), f"{who}: {fmt(v)}"))
        line.append(f"{x(i)},{y(v)}")
    steps = (0.0, y_max / 2, y_max) if percent or (y_max / 2).is_integer() else (0.0, y_max)
    ticks = tuple((y(t), fmt(t)) for t in steps)
    labels: tuple = ()
    if n:
        labels = ((x(0), _short_at(points[0]), "start" if n > 1 else "middle"),)
        if n > 1:
            labels += ((x(n - 1), _short_at(points[-1]), "end"),)
    return Chart(cid, title, W, H, " ".join(line), tuple(dots), ticks, labels,
                 (left, top, right, bottom))


def _short_at(p: TrendPoint) -> str:
    return (p.at[:10] if p.at else p.run_id[:15]) or ("this run" if p.current else "")
