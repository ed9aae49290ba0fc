"""Shared by tests/sandbox/test_crm_*.py (issue 21): a small world, calls and SMS logged on its
owners the way the integration logs them, and raw HTTP against the sandbox."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import SANDBOX_TOKENS
from usermap.sandbox.crm import CrmObjects
from usermap.sandbox.crmquery import iso_ms
from usermap.sandbox.scenarios import generate

HS = SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"]
T0 = 1_790_000_000_000          # 2026-09-21T14:13:20Z
MINUTE = 60_000
APP = "aloware-app-1"


def small_world():
    return generate(40, seed=7)


def owners_by_state(world) -> dict[str, list[str]]:
    """Owner ids: active PERSON owners, deactivated ones (userId null) and archived ones."""
    out: dict[str, list[str]] = {"active": [], "deactivated": [], "archived": []}
    for o in world.owners:
        if o.get("archived"):
            out["archived"].append(str(o["id"]))
        elif o.get("userId") is None:
            out["deactivated"].append(str(o["id"]))
        elif o.get("type", "PERSON") == "PERSON":
            out["active"].append(str(o["id"]))
    return out


def log(crm: CrmObjects, n_calls: int, n_sms: int, owners: list[str], *, start: int = T0,
        step: int = MINUTE, first_id: int = 1) -> CrmObjects:
    """``n_calls`` calls then ``n_sms`` SMS, one every ``step`` ms from ``start``, on ``owners``
    in turn, each logged by the integration (history: one INTEGRATION entry)."""
    for i in range(n_calls + n_sms):
        ts, owner = start + i * step, owners[i % len(owners)]
        hist = [{"value": owner, "timestamp": ts, "sourceType": "INTEGRATION", "sourceId": APP}]
        if i < n_calls:
            crm.add("calls", first_id + i, {
                "hs_timestamp": ts, "hubspot_owner_id": owner,
                "hs_call_external_id": f"ext-{first_id + i}", "hs_call_duration": str(1000 * i),
                "hs_call_from_number": "+15550000001", "hs_call_to_number": "+15550000002",
                "hs_call_source": "INTEGRATIONS_PLATFORM", "hs_call_app_id": APP}, hist)
        else:
            crm.add("communications", first_id + i, {
                "hs_timestamp": ts, "hubspot_owner_id": owner,
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "INTEGRATION"}, hist)
    return crm


def iso(ms: int) -> str:
    return iso_ms(ms)


def post(srv, path: str, body, token: str | None = HS, method: str = "POST"):
    """(status, headers, parsed JSON) of a request with a JSON body."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(srv.base_url + path, data=data if method == "POST" else None,
                                 method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None


def get(url: str, token: str | None = HS):
    """(status, headers, parsed JSON) of a GET."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, dict(e.headers), json.loads(raw) if raw else None


def search_all(srv, kind: str, body: dict, prefix: str = "/crm/v3/objects/") -> tuple[list, int]:
    """Every result of one query, page after page; and the number of requests it took."""
    results, after, n = [], None, 0
    for _ in range(1000):
        page_body = dict(body, **({"after": after} if after else {}))
        status, _, page = post(srv, f"{prefix}{kind}/search", page_body)
        n += 1
        assert status == 200, page
        results += page["results"]
        after = page.get("paging", {}).get("next", {}).get("after")
        if not after:
            return results, n
    raise AssertionError("endless paging")
