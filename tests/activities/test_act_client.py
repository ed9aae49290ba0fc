"""The activities CRM client against the sandbox's CRM side (issue 21): search split past the
10,000 cap in ceil(N/200) requests, v3 fallback, batch sizes; and the [activities] config keys."""

from __future__ import annotations

import pytest

from conftest import SANDBOX_TOKENS

from usermap.activities.crm import CrmClient
from usermap.config import Config
from usermap.errors import ConfigError
from usermap.sandbox.crm import CrmObjects
from usermap.sandbox.server import SandboxServer
from usermap.sources.api.retry import Retrier, RetryPolicy

T0 = 1_790_000_000_000


@pytest.fixture(scope="module")
def server():
    crm = CrmObjects(search_rate=0)
    for i in range(12_345):   # some share a timestamp: windows must not lose or repeat them
        crm.add("calls", 10_000 + i, {"hs_timestamp": T0 + (i // 3) * 1000,
                                      "hubspot_owner_id": None})
    srv = SandboxServer(__import__("pandas").DataFrame(
        {c: [] for c in ("id", "first_name", "last_name", "email", "status", "kind")}), [],
        crm=crm, hubspot_token=SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"],
        aloware_token=SANDBOX_TOKENS["ALOWARE_API_TOKEN"]).start(max_seconds=300)
    yield srv
    srv.stop()


def _client(srv, **kw):
    return CrmClient(srv.base_url, SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"], rate_share=20.0,
                     retrier=Retrier(RetryPolicy(attempts=3, total_seconds=120)), **kw)


@pytest.mark.parametrize("version", ["2026-03", "v3"])
def test_search_past_the_cap_in_the_fewest_requests(server, version):
    c = _client(server, api_version=version)
    try:
        ids = [r["id"] for r in c.search("calls", properties=["hs_timestamp"])]
    finally:
        c.close()
    assert len(ids) == len(set(ids)) == 12_345
    # 62 pages of 200; a window restarts at the last timestamp read, so a page may repeat the
    # two or three calls sharing it: at most one request more per window
    assert 62 <= c.stats["search"] <= 63 and c.stats["fallback"] == 0


def test_unknown_version_falls_back_to_v3(server):
    c = _client(server, api_version="2099-01")
    try:
        got = c.current_owners("calls", ["10000", "10001"])
    finally:
        c.close()
    assert got == {"10000": "", "10001": ""} and c.stats["fallback"] == 1
    assert c.version == "v3"


def test_reads_go_50_a_request(server):
    c = _client(server)
    try:
        got = c.read_history("calls", [str(10_000 + i) for i in range(120)])
    finally:
        c.close()
    assert len(got) == 120 and c.stats["read"] == 3


@pytest.mark.parametrize("key,value", [("rate_share", 0), ("rate_share", 1.5),
                                       ("guard_share", -1), ("ten_second_limit", 0),
                                       ("app_id", 5)])
def test_activities_config_is_checked(key, value):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"activities": {key: value}})
    assert e.value.column == f"activities.{key}" and e.value.exit_code == 2


def test_activities_config_defaults():
    cfg = Config.from_dict({"activities": {"app_id": "123"}, "hubspot": {"api_version": "v3"}})
    assert cfg.activities.app_id == "123" and not cfg.activities.enabled
    assert cfg.activities.rate_share == 0.5 and cfg.hubspot.api_version == "v3"
