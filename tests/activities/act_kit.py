"""Helpers of the activities end-to-end tests: a sandbox serving a world's calls and SMS (logged
by ``usermap.sandbox.activities_world``), the world's store, evidence export and ground truth,
and a config pointing at it all."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from conftest import SANDBOX_TOKENS

from usermap.sandbox import activities_world as aw
from usermap.sandbox.scenarios import generate
from usermap.sandbox.server import SandboxServer


@dataclass
class Env:
    root: Path
    srv: SandboxServer
    world: object          # the ActivityWorld
    config: Path
    store: Path
    evidence: Path
    truth: dict

    @property
    def crm(self):
        return self.srv.crm

    def owner(self, row) -> str:
        """The current owner of an impact/truth row's activity in the sandbox."""
        obj = "calls" if row["object"] == "call" else "communications"
        return self.crm.get(obj, row["activity_id"])["properties"].get("hubspot_owner_id") or ""


def make(root: Path, *, n=1500, users=300, seed=1, api_version="2026-03",
         default_owner=False, extra="", inactive_owners="accept", fetch="attempts = 4\nbackoff = 0.05", **server) -> Env:
    world = generate(users, seed=3)
    a = aw.build(world, n, seed, default_owner=default_owner)
    srv = SandboxServer(world.users, world.owners, crm=aw.crm_objects(a, inactive_owners=inactive_owners),
                        hubspot_token=SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"],
                        aloware_token=SANDBOX_TOKENS["ALOWARE_API_TOKEN"],
                        **server).start(max_seconds=600)
    root.mkdir(parents=True, exist_ok=True)
    store = aw.write_store(a, root / "store.db")
    ev = aw.write_evidence(a, root / "evidence.jsonl")
    truth_path = aw.write_truth(a, root / "truth.json")
    cfg = root / "usermap.toml"
    cfg.write_text(f'[hubspot]\nhost = "{srv.base_url}"\napi_version = "{api_version}"\n\n'
                   f'[store]\npath = "store.db"\n\n[activities]\napp_id = "{aw.APP_ID}"\n'
                   f'rate_share = 1.0\n{extra}\n[fetch]\n{fetch}\n',
                   encoding="utf-8")
    return Env(root, srv, a, cfg, store, ev, json.loads(truth_path.read_text()))


def make_for_tab(root: Path, *, n: int) -> Env:
    """``make`` for the tab: [activities] enabled, the sandbox's Aloware side as the users'
    source, and a runs folder (the tokens are the caller's to set)."""
    e = make(root, n=n, extra="enabled = true\n")
    e.config.write_text(e.config.read_text(encoding="utf-8")
                        + f'\n[aloware]\nbase_url = "{e.srv.base_url}"\n\n[runs]\ndir = "runs"\n',
                        encoding="utf-8")
    return e


def read_impact(folder: Path) -> tuple[dict, dict]:
    """({activity_id: row}, summary) of an impact folder."""
    with open(folder / "impact.csv", newline="", encoding="utf-8") as f:
        rows = {r["activity_id"]: r for r in csv.DictReader(f)}
    return rows, json.loads((folder / "summary.json").read_text(encoding="utf-8"))


def env_vars() -> dict:
    return dict(SANDBOX_TOKENS)
