"""Whatever JSON a client sends to the sandbox's CRM endpoints (issue 21), the answer is HubSpot's:
a 200 or 207 body, or a 400 ``VALIDATION_ERROR`` with a message; never an exception in the
server's thread (which would cut the connection without an answer). A pure unit test of
``CrmObjects.answer`` with generated bodies."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmkit import T0, log
from usermap.sandbox.crm import CrmObjects

OWNERS = {"1": {"id": "1", "userId": 5, "archived": False}}
_crm = log(CrmObjects(search_rate=0, inactive_owners="accept"), 30, 10, ["1"])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13), st.floats(),
                    st.text(max_size=8), st.sampled_from(["hs_timestamp", "hubspot_owner_id",
                                                          "EQ", "IN", "BETWEEN", "1", str(T0)]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
filters = st.fixed_dictionaries({"propertyName": st.sampled_from(
    ["hs_timestamp", "hubspot_owner_id", "hs_communication_channel_type", "nope", 3]),
    "operator": st.sampled_from(["EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN", "IN",
                                 "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
                                 "CONTAINS_TOKEN", "X"])},
    optional={"value": values, "highValue": values, "values": values})
search = st.fixed_dictionaries({}, optional={
    "filterGroups": st.one_of(values, st.lists(st.fixed_dictionaries(
        {"filters": st.one_of(values, st.lists(filters, max_size=3))}), max_size=3)),
    "sorts": st.one_of(values, st.lists(st.one_of(st.sampled_from(["hs_timestamp",
                                                                    "-hs_timestamp"]),
                                                   values), max_size=2)),
    "limit": values, "after": values, "properties": values, "query": values})
inputs = st.lists(st.fixed_dictionaries({"id": st.one_of(st.sampled_from(["1", "2", "31"]),
                                                          values)},
                                        optional={"properties": values,
                                                  "idProperty": values}), max_size=4)
batch = st.fixed_dictionaries({}, optional={"inputs": st.one_of(values, inputs),
                                            "properties": values,
                                            "propertiesWithHistory": values,
                                            "idProperty": values})
routes = st.sampled_from([("calls", "search"), ("communications", "search"),
                          ("calls", "batch/read"), ("communications", "batch/update"),
                          ("calls", "batch/update")])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=routes, body=st.one_of(search, batch, values))
def test_any_body_gets_hubspots_answer(route, body):
    try:
        raw = json.dumps(body, allow_nan=True).encode()
    except (TypeError, ValueError):
        return
    status, payload = _crm.answer(route, raw, {}, OWNERS)
    assert status in (200, 207, 400), (status, payload)
    json.dumps(payload)                                   # serialisable as sent
    if status == 400:
        assert payload["category"] == "VALIDATION_ERROR" and payload["message"]
    elif route[1] == "search":
        assert isinstance(payload["total"], int) and isinstance(payload["results"], list)
    else:
        assert payload["status"] == "COMPLETE"


def test_bodies_that_are_not_json_or_not_objects():
    for raw in (b"", b"[]", b"nul", b"\xff\xfe", b'"x"', b"{\"limit\": 1e999}"):
        status, payload = _crm.answer(("calls", "search"), raw, {}, OWNERS)
        assert status in (200, 400) and (status == 200) == (raw == b""), (raw, payload)
