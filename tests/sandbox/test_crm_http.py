"""The sandbox's CRM side (issue 21) over raw HTTP: the date-versioned paths (objects and owners),
HubSpot's limits and their errors (200 a page, the 10,000-results cap, 50 inputs with history,
100 a batch), the search's own rate (429 SECONDLY, no rate headers) beside the ten-second one,
the daily quota shared with the owners API, validation of updates, the filters, and faults."""

from __future__ import annotations

import http.client
import json

import pytest

from crmkit import HS, MINUTE, T0, get, iso, log, owners_by_state, post, search_all, small_world
from usermap.sandbox.crm import CrmObjects

V3, DATED = "/crm/v3/objects/", "/crm/objects/2026-03/"
HISTORY_50 = ("The maximum number of inputs supported in a batch request for property histories "
              "is 50. Please reduce the number of items and try again")


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture(scope="module")
def state(world):
    return owners_by_state(world)


def served(sandbox, world, state, n_calls=30, n_sms=10, **kw):
    crm = log(CrmObjects(search_rate=kw.pop("search_rate", 0), search_window=600), n_calls,
              n_sms, state["active"][:3])
    return sandbox(world, crm=crm, **kw), crm


# --- both path styles --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["calls", "communications"])
def test_dated_paths_answer_as_v3(world, state, sandbox, kind):
    srv, crm = served(sandbox, world, state)
    q = {"filterGroups": [{"filters": [{"propertyName": "hubspot_owner_id", "operator": "EQ",
                                        "value": state["active"][1]}]}],
         "sorts": ["hs_timestamp"], "properties": ["hubspot_owner_id"], "limit": 5}
    a, k1 = search_all(srv, kind, q, V3)
    b, k2 = search_all(srv, kind, q, DATED)
    assert a == b and a and all(r["properties"]["hubspot_owner_id"] == state["active"][1]
                                for r in a)
    ids = [{"id": r["id"]} for r in a]
    s1, _, r1 = post(srv, f"{V3}{kind}/batch/read", {"inputs": ids, "properties": [],
                                                     "propertiesWithHistory": ["hubspot_owner_id"]})
    s2, _, r2 = post(srv, f"{DATED}{kind}/batch/read", {"inputs": ids, "properties": [],
                                                        "propertiesWithHistory": []})
    assert (s1, s2) == (200, 200) and [r["id"] for r in r1["results"]] == [
        r["id"] for r in r2["results"]]
    status, _, out = post(srv, f"{DATED}{kind}/batch/update", {"inputs": [
        {"id": ids[0]["id"], "properties": {"hubspot_owner_id": state["active"][7]}}]})
    assert status == 200 and crm.get(kind, ids[0]["id"])["properties"][
        "hubspot_owner_id"] == state["active"][7]
    assert crm.stats[f"{kind}/search"] == k1 + k2 == 2 * -(-len(a) // 5)


def test_owners_answer_on_the_dated_path(world, sandbox):
    srv = sandbox(world)
    v3 = get(f"{srv.base_url}/crm/v3/owners/?limit=7&archived=false")
    dated = get(f"{srv.base_url}/crm/owners/2026-03?limit=7&archived=false")
    assert v3[0] == dated[0] == 200 and v3[2]["results"] == dated[2]["results"]
    assert dated[2]["paging"]["next"]["link"].startswith(f"{srv.base_url}/crm/owners/2026-03?")
    page2 = get(dated[2]["paging"]["next"]["link"])
    assert page2[0] == 200 and page2[2]["results"][0] != dated[2]["results"][0]
    one = world.owners[0]["id"]
    assert get(f"{srv.base_url}/crm/owners/2026-03/{one}")[2]["id"] == one


# --- search limits ----------------------------------------------------------------------------
def test_search_page_size_and_the_10k_cap(world, state, sandbox):
    srv, crm = served(sandbox, world, state, n_calls=10_050, n_sms=0)
    status, _, page = post(srv, V3 + "calls/search", {"limit": 200, "after": "9800",
                                                      "sorts": ["hs_timestamp"]})
    assert status == 200 and page["total"] == 10_050 and len(page["results"]) == 200
    assert page["results"][0]["id"] == "9801" and page["paging"]["next"]["after"] == "10000"
    for after, limit in (("10000", 10), ("9900", 200), ("9999", 2)):   # no page ends past it
        status, _, err = post(srv, V3 + "calls/search", {"limit": limit, "after": after})
        assert status == 400 and err["category"] == "VALIDATION_ERROR", (after, limit)
        assert "10000" in err["message"] and err["correlationId"]
    status, _, page = post(srv, V3 + "calls/search", {"limit": 100, "after": "9900"})
    assert status == 200 and len(page["results"]) == 100
    status, _, err = post(srv, V3 + "calls/search", {"limit": 201})
    assert status == 400 and err["category"] == "VALIDATION_ERROR" and "200" in err["message"]
    status, _, page = post(srv, V3 + "calls/search", {})
    assert status == 200 and len(page["results"]) == 10          # HubSpot's default page
    # a window under the cap reads whole: 10,050 calls in two queries, 51 pages in all
    half = T0 + 5000 * MINUTE
    n = 0
    for flt in ({"operator": "LT", "value": str(half)}, {"operator": "GTE", "value": iso(half)}):
        rows, k = search_all(srv, "calls", {"limit": 200, "sorts": ["hs_timestamp"],
                                            "filterGroups": [{"filters": [
                                                dict(flt, propertyName="hs_timestamp")]}]})
        n += len({r["id"] for r in rows})
        assert k == -(-len(rows) // 200)
    assert n == 10_050


def test_search_filter_shapes_are_checked(world, state, sandbox):
    srv, _ = served(sandbox, world, state)
    f = {"propertyName": "hs_timestamp", "operator": "GT", "value": "0"}
    bad = [{"filterGroups": [{"filters": [f]}] * 6},                      # 6 groups
           {"filterGroups": [{"filters": [f] * 7}]},                       # 7 in a group
           {"filterGroups": [{"filters": [f] * 6}] * 4},                   # 24 in all
           {"sorts": ["hs_timestamp", "hubspot_owner_id"]},                # two sorts
           {"filterGroups": [{"filters": [dict(f, operator="LIKE")]}]},
           {"filterGroups": [{"filters": [dict(f, propertyName="no_such_prop")]}]},
           {"after": "abc"}, {"query": "x" * 3001}, b"{not json"]
    for body in bad:
        status, _, err = post(srv, V3 + "calls/search", body)
        assert status == 400 and err["category"] == "VALIDATION_ERROR", body


def test_search_filters_select_as_hubspot_does(world, state, sandbox):
    crm = CrmObjects(search_rate=0)
    a, b = state["active"][:2]
    rows = [(1, T0, a, "SMS"), (2, T0 + MINUTE, b, "SMS"), (3, T0 + 2 * MINUTE, None, "SMS"),
            (4, T0 + 3 * MINUTE, a, "WHATS_APP"), (5, T0 + 4 * MINUTE, b, None)]
    for rid, ts, owner, channel in rows:
        crm.add("communications", rid, {"hs_timestamp": ts, "hubspot_owner_id": owner,
                                        "hs_communication_channel_type": channel})
    srv = sandbox(world, crm=crm)

    def ids(*filters, groups=None, sorts=("hs_timestamp",)):
        body = {"filterGroups": groups or [{"filters": list(filters)}], "sorts": list(sorts),
                "limit": 100}
        status, _, page = post(srv, V3 + "communications/search", body)
        assert status == 200, page
        return [int(r["id"]) for r in page["results"]]

    def f(prop, op, value=None, **kw):
        return dict({"propertyName": prop, "operator": op},
                    **({"value": value} if value is not None else {}), **kw)
    ts, own, ch = "hs_timestamp", "hubspot_owner_id", "hs_communication_channel_type"
    assert ids(f(ts, "EQ", str(T0 + MINUTE))) == [2]
    assert ids(f(ts, "GT", str(T0 + MINUTE))) == [3, 4, 5]
    assert ids(f(ts, "GTE", iso(T0 + MINUTE))) == [2, 3, 4, 5]               # ISO works too
    assert ids(f(ts, "LT", str(T0 + MINUTE))) == [1]
    assert ids(f(ts, "LTE", str(T0 + MINUTE))) == [1, 2]
    assert ids(f(ts, "BETWEEN", str(T0 + MINUTE), highValue=str(T0 + 3 * MINUTE))) == [2, 3, 4]
    assert ids(f(own, "EQ", a)) == [1, 4]
    assert ids(f(own, "NEQ", a)) == [2, 3, 5]                                # unset included
    assert ids(f(own, "IN", values=[a, b])) == [1, 2, 4, 5]
    assert ids(f(own, "NOT_IN", values=[a])) == [2, 3, 5]
    assert ids(f(own, "NOT_HAS_PROPERTY")) == [3]
    assert ids(f(own, "HAS_PROPERTY"), f(ch, "EQ", "sms")) == [1, 2]          # case-insensitive
    assert ids(groups=[{"filters": [f(own, "EQ", a)]}, {"filters": [f(ch, "NOT_HAS_PROPERTY")]}]
               ) == [1, 4, 5]                                                 # OR of groups
    assert ids(f(ts, "GTE", str(T0)), sorts=["-hs_timestamp"]) == [5, 4, 3, 2, 1]
    assert ids(f(ts, "GTE", str(T0)), sorts=[{"propertyName": "hs_timestamp",
                                              "direction": "DESCENDING"}]) == [5, 4, 3, 2, 1]


# --- batch limits and answers ---------------------------------------------------------------------
def test_batch_read_limits_and_missing_ids(world, state, sandbox):
    srv, crm = served(sandbox, world, state, n_calls=120, n_sms=0)
    many = [{"id": str(i)} for i in range(1, 52)]
    status, _, err = post(srv, V3 + "calls/batch/read", {
        "inputs": many, "properties": [], "propertiesWithHistory": ["hubspot_owner_id"]})
    assert status == 400 and err["message"] == HISTORY_50
    assert err["category"] == "VALIDATION_ERROR"
    status, _, ok = post(srv, V3 + "calls/batch/read", {"inputs": many, "properties": [],
                                                        "propertiesWithHistory": []})
    assert status == 200 and len(ok["results"]) == 51 and ok["status"] == "COMPLETE"
    status, _, err = post(srv, V3 + "calls/batch/read", {
        "inputs": [{"id": str(i)} for i in range(1, 102)], "properties": [],
        "propertiesWithHistory": []})
    assert status == 400 and "100" in err["message"]
    status, _, part = post(srv, V3 + "calls/batch/read", {
        "inputs": [{"id": "5"}, {"id": "77777"}], "properties": ["hs_call_duration"],
        "propertiesWithHistory": ["hubspot_owner_id"]})
    assert status == 207 and part["numErrors"] == 1
    assert part["errors"][0]["context"] == {"ids": ["77777"]}
    assert part["errors"][0]["message"].startswith("Could not get some CALL objects")
    r = part["results"][0]
    assert set(r) >= {"id", "properties", "propertiesWithHistory", "createdAt", "updatedAt",
                      "archived"} and r["archived"] is False
    assert r["properties"]["hs_call_duration"] == "4000" and r["properties"]["hs_object_id"] == "5"
    assert r["propertiesWithHistory"]["hubspot_owner_id"][0]["sourceType"] == "INTEGRATION"
    status, _, arch = post(srv, V3 + "calls/batch/read?archived=true", {
        "inputs": [{"id": "5"}], "properties": [], "propertiesWithHistory": []})
    assert status == 207 and arch["results"] == []                       # none archived


def test_batch_update_validation_refuses_the_whole_batch(world, state, sandbox):
    srv, crm = served(sandbox, world, state, n_calls=120, n_sms=0)
    good = state["active"][9]
    before = {i: crm.get("calls", i) for i in (1, 2)}
    cases = [
        ([{"id": str(i), "properties": {"hubspot_owner_id": good}} for i in range(1, 102)],
         "100"),
        ([{"id": "1", "properties": {"hubspot_owner_id": good}}] * 2, "Duplicate IDs"),
        ([{"id": "1", "properties": {"hubspot_owner_id": good}},
          {"id": "2", "properties": {"no_such_prop": "x"}}], "PROPERTY_DOESNT_EXIST"),
        ([{"id": "1", "properties": {"hs_object_id": "9"}}], "READ_ONLY_VALUE"),
        ([{"id": "1", "properties": {"hubspot_owner_id": "424242"}}], "INVALID_OWNER_ID"),
        ([{"id": "1", "properties": {"hubspot_owner_id": state["archived"][0]}}],
         "INVALID_OWNER_ID"),
        ([{"id": "1", "properties": {"hubspot_owner_id": state["deactivated"][0]}}],
         "INVALID_OWNER_ID"),
    ]
    for inputs, word in cases:
        status, _, err = post(srv, V3 + "calls/batch/update", {"inputs": inputs})
        assert status == 400 and err["category"] == "VALIDATION_ERROR", (word, err)
        assert word in err["message"], (word, err["message"])
    assert {i: crm.get("calls", i) for i in (1, 2)} == before and crm.stats["writes"] == 0
    crm.inactive_owners = "accept"                      # an account that lets them through
    status, _, _ = post(srv, V3 + "calls/batch/update", {"inputs": [
        {"id": "1", "properties": {"hubspot_owner_id": state["deactivated"][0]}}]})
    assert status == 200


def test_batch_update_history_source_and_missing_ids(world, state, sandbox):
    srv, crm = served(sandbox, world, state)
    new = state["active"][8]
    crm.write_source = ("INTEGRATION", "usermap-app", "usermap")
    status, _, out = post(srv, V3 + "calls/batch/update", {"inputs": [
        {"id": "4", "properties": {"hubspot_owner_id": new}},
        {"id": "88888", "properties": {"hubspot_owner_id": new}}]})
    assert status == 207 and out["errors"][0]["context"] == {"ids": ["88888"]}
    assert [r["id"] for r in out["results"]] == ["4"]
    h = crm.get("calls", 4)["history"]
    assert h[0] == {"value": new, "timestamp": h[0]["timestamp"], "sourceType": "INTEGRATION",
                    "sourceId": "usermap-app", "sourceLabel": "usermap"} and len(h) == 2
    again = crm.get("calls", 4)
    status, _, _ = post(srv, V3 + "calls/batch/update", {"inputs": [
        {"id": "4", "properties": {"hubspot_owner_id": new}}]})
    assert status == 200 and crm.get("calls", 4) == again           # same value: no change


# --- rates, quota, faults, methods, auth --------------------------------------------------------
def test_search_has_its_own_rate_and_no_rate_headers(world, state, sandbox):
    srv, crm = served(sandbox, world, state, search_rate=5, rate_limit=3, rate_window=600)
    answers = [post(srv, V3 + "calls/search", {"limit": 1}) for _ in range(6)]
    assert [a[0] for a in answers[:5]] == [200] * 5          # more than rate_limit=3: exempt
    status, headers, body = answers[5]
    assert status == 429 and body["policyName"] == "SECONDLY"
    assert body["errorType"] == "RATE_LIMIT" and "Retry-After" not in headers
    assert not [k for a in answers for k in a[1] if k.lower().startswith("x-hubspot-ratelimit")]
    assert crm.stats["search_429"] == 1
    reads = [post(srv, V3 + "calls/batch/read", {"inputs": [{"id": "1"}], "properties": [],
                                                 "propertiesWithHistory": []})
             for _ in range(4)]
    assert [r[0] for r in reads] == [200, 200, 200, 429]
    assert "X-HubSpot-RateLimit-Max" in reads[0][1]
    assert reads[3][2]["policyName"] == "TEN_SECONDLY_ROLLING"


def test_the_search_window_is_a_rolling_second_by_default():
    crm = CrmObjects()                                  # HubSpot's: 5 a second
    assert [crm.search_wait(t) for t in (0.0, 0.1, 0.2, 0.3, 0.4)] == [None] * 5
    assert abs(crm.search_wait(0.5) - 0.5) < 1e-9       # full until the first one is 1 s old
    assert crm.search_wait(1.05) is None and crm.stats["search_429"] == 1
    assert CrmObjects(search_rate=0).search_wait(0.0) is None


def test_daily_quota_is_shared_with_the_owners_api(world, state, sandbox):
    srv, _ = served(sandbox, world, state, daily_limit=3)
    assert get(f"{srv.base_url}/crm/v3/owners/?limit=5")[0] == 200
    assert post(srv, V3 + "calls/search", {"limit": 1})[0] == 200
    assert post(srv, DATED + "calls/batch/read", {"inputs": [{"id": "1"}], "properties": [],
                                                  "propertiesWithHistory": []})[0] == 200
    status, _, body = post(srv, V3 + "calls/search", {"limit": 1})
    assert status == 429 and body["policyName"] == "DAILY"
    assert get(f"{srv.base_url}/crm/v3/owners/?limit=5")[0] == 429


def test_faults_reach_the_crm_endpoints(world, state, sandbox):
    srv, _ = served(sandbox, world, state, error_rate=1.0)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.request("POST", V3 + "calls/search", body=b"{}",
                 headers={"Authorization": f"Bearer {HS}", "Content-Type": "application/json"})
    assert conn.getresponse().status in (500, 502, 503, 504)
    conn.close()
    srv2, crm2 = served(sandbox, world, state, drop_rate=1.0)
    new = state["active"][6]
    with pytest.raises((http.client.HTTPException, ConnectionError, json.JSONDecodeError,
                        ValueError)):
        post(srv2, V3 + "calls/batch/update", {"inputs": [
            {"id": "2", "properties": {"hubspot_owner_id": new}}]})
    assert crm2.get("calls", 2)["properties"]["hubspot_owner_id"] == new   # applied, answer cut
    assert srv2.stats["drops"] == 1


def test_methods_auth_and_scopes(world, state, sandbox):
    srv, _ = served(sandbox, world, state)
    status, headers, _ = post(srv, V3 + "calls/search", b"", method="GET")
    assert status == 405 and headers["Allow"] == "POST"
    status, headers, _ = post(srv, "/crm/v3/owners/", {"x": 1})
    assert status == 405 and headers["Allow"] == "GET"
    assert post(srv, V3 + "meetings/search", {})[0] == 404
    for headers, want in (({"Transfer-Encoding": "chunked"}, 411),
                          ({"Content-Length": str(64 * 1024 * 1024)}, 413)):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.putrequest("POST", V3 + "calls/search")
        for k, v in dict(headers, Authorization=f"Bearer {HS}").items():
            conn.putheader(k, v)
        conn.endheaders()
        assert conn.getresponse().status == want
        conn.close()
    assert post(srv, V3 + "calls/search", {}, token=None)[0] == 401
    scoped = sandbox(world, missing_scope=True)
    for path, scope in (("calls/search", "crm.objects.contacts.read"),
                        ("communications/batch/update", "crm.objects.contacts.write")):
        status, _, body = post(scoped, V3 + path, {"inputs": []})
        assert status == 403 and body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [scope]
