"""Differential: the exact engine (json, pandas, scalar e-mail keys) and the fast one (msgspec,
Arrow) give identical plan files, audits and imported links on generated worlds of several
shapes (issue 18). Small worlds: under USERMAP_ENGINE=fast the size thresholds of "auto" do not
apply, so every fast path is taken here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usermap import cli
from usermap.sandbox.scenarios import generate, messy, write_world

pytestmark = pytest.mark.issue(18)

# (linked share, messy, write_world options): the shapes of benchmarks/bench_engine.py
SHAPES = {
    "plain": (0.5, False, {}),
    "messy": (0.5, True, {}),
    "quoted": (0.5, True, {"quoted": True, "blank_lines": 0.02, "indent": 2}),
    "drift": (0.3, True, {"sparse": True}),
}


def _world(root: Path, shape: str, n: int, seed: int) -> Path:
    share, is_messy, opts = SHAPES[shape]
    w = generate(n, seed=seed, linked_share=share)
    if is_messy:
        w = messy(w, seed=seed)
    write_world(w, root / "snap", **opts)
    return root / "snap"


def _plan_body(path: Path) -> dict:
    """The plan file without its creation time (and the checksum that covers it)."""
    plan = json.loads(path.read_text(encoding="utf-8"))
    for key in ("created_at", "checksum", "sha256", "store_id"):   # (two stores)
        plan.pop(key, None)
    return plan


def _run(engine: str, *args) -> None:
    assert cli.main([str(a) for a in args], engine=engine) == 0, (engine, args)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("n, seed", [(40, 1), (400, 2)])
def test_exact_and_fast_write_the_same_plan_audit_and_links(tmp_path, shape, n, seed):
    snap = _world(tmp_path, shape, n, seed)
    got = {}
    for engine in ("exact", "fast"):
        t = tmp_path / engine
        t.mkdir()
        _run(engine, "mappings", "import", snap / "mappings.csv", "--store", t / "u.db",
             "--create")
        _run(engine, "mappings", "export", t / "links.csv", "--store", t / "u.db")
        _run(engine, "plan", snap, "--store", t / "u.db", "--out", t / "plan.json", "--force")
        _run(engine, "audit", snap, "--store", t / "u.db", "--out", t / "audit")
        audit = {p.name: p.read_bytes().replace(str(t).encode(), b"<store folder>")
                 for p in sorted((t / "audit").iterdir()) if p.is_file()}
        summary = json.loads(audit.pop("summary.json"))
        for key in ("generated_at", "created_at", "run_id", "store"):
            summary.pop(key, None)
        links = (t / "links.csv").read_text(encoding="utf-8").splitlines()
        got[engine] = {"plan": _plan_body(t / "plan.json"), "summary": summary,
                       "audit files": audit, "links": links}
    exact, fast = got["exact"], got["fast"]
    assert fast["plan"] == exact["plan"]
    assert fast["summary"] == exact["summary"]
    assert fast["audit files"] == exact["audit files"]
    # the stores were written at different times: compare what was imported, not when
    strip = [",".join(line.split(",")[:5]) for line in exact["links"]]
    assert [",".join(line.split(",")[:5]) for line in fast["links"]] == strip
