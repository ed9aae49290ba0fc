"""Draw the house: the import graph between rooms of the usermap package, and its figures.

A room is a package folder (``engine/``, ``store/``, ``sources/api/`` …) or a module at the
package root. Edges are imports between rooms, counting imports inside functions. Printed:
modules, rooms, floors (the longest chain of rooms, after folding circles), circles (groups of
modules that import each other, at module level). ``--dot FILE`` writes a Graphviz file.

    python benchmarks/house.py [--root DIR] [--dot house.dot]
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for p in sorted((root / "usermap").rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    g = {}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                cands = subs if subs and len(subs) == len(node.names) else [base] + subs
            elif isinstance(node, ast.Import):
                cands = [a.name for a in node.names]
            else:
                continue
            targets |= {c for c in cands if c in mods and c != m}
        g[m] = targets
    return g


def sccs(g: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, comps, n = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10_000)

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return comps


def room(m: str, mods: dict[str, Path]) -> str:
    p = mods[m]
    pkg = m if p.name == "__init__.py" else m.rsplit(".", 1)[0]
    return m.split(".", 1)[1] if pkg == "usermap" and m != "usermap" else (
        pkg.split(".", 1)[1] if "." in pkg else "usermap")


def floors(g: dict[str, set[str]]) -> int:
    comps = sccs(g)
    where = {v: i for i, c in enumerate(comps) for v in c}
    dag = {i: {where[w] for v in c for w in g[v]} - {i} for i, c in enumerate(comps)}
    memo: dict[int, int] = {}

    def depth(i):
        if i not in memo:
            memo[i] = 1 + max((depth(j) for j in dag[i]), default=0)
        return memo[i]
    return max((depth(i) for i in dag), default=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--dot", default=None)
    a = ap.parse_args()
    mods = modules(Path(a.root))
    g = graph(mods)
    circles = [c for c in sccs(g) if len(c) > 1]
    rooms = {m: room(m, mods) for m in mods if m != "usermap"}
    rg: dict[str, set[str]] = {r: set() for r in set(rooms.values())}
    for m, ts in g.items():
        if m in rooms:
            rg[rooms[m]] |= {rooms[t] for t in ts if t in rooms and rooms[t] != rooms[m]}
    at_root = sum(1 for r in rg if "." not in r and r in {m.split(".")[1] for m in mods
                                                           if m.count(".") == 1 and
                                                           mods[m].name != "__init__.py"})
    print(f"modules {len(mods)}  rooms {len(rg)} ({at_root} modules at the package root)  "
          f"floors {floors(rg)} (of modules: {floors(g)})  module circles {len(circles)}")
    for c in circles:
        print("  circle: " + " <-> ".join(x.replace("usermap.", "") for x in c))
    if a.dot:
        lines = ["digraph house {", "  rankdir=BT; node [shape=box, fontsize=10];"]
        for r, ts in sorted(rg.items()):
            for t in sorted(ts):
                lines.append(f'  "{r}" -> "{t}";')
        lines.append("}")
        Path(a.dot).write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
