"""The sandbox's CRM side against HubSpot's published contract (issue 21): every kind of answer
(search pages, batch read and update, their 207s, the 400s, the 429s) validated with
``jsonschema`` against ``tests/schemas/hubspot_crm_objects_2026_03.json``, written from HubSpot's
OpenAPI specs of Calls and Communications; the objects the spec closes may carry no field of
the sandbox's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmkit import T0, log, owners_by_state, post, small_world
from usermap.sandbox.crm import CrmObjects

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schemas" /
                     "hubspot_crm_objects_2026_03.json").read_text(encoding="utf-8"))
PATHS = ("/crm/v3/objects/", "/crm/objects/2026-03/")


def validator(name: str):
    schema = dict(SCHEMA, **{"$ref": f"#/$defs/{name}"})
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_the_schema_refuses_what_hubspot_would_not_send():
    v = validator("SimplePublicObject")
    good = {"id": "1", "archived": False, "createdAt": "2026-09-21T14:13:20.000Z",
            "updatedAt": "2026-09-21T14:13:20.000Z",
            "properties": {"hs_object_id": "1", "hs_createdate": "x", "hs_lastmodifieddate": "x",
                           "hubspot_owner_id": None}}
    v.validate(good)
    for bad in ({"id": 1}, {"archived": "no"}, {"extra": 1}, {"properties": {"a": "b"}},
                {"propertiesWithHistory": {"hubspot_owner_id": [{"value": "1"}]}}):
        with pytest.raises(jsonschema.ValidationError):
            v.validate(dict(good, **bad))


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.mark.parametrize("prefix", PATHS)
def test_every_answer_is_hubspots_shape(world, sandbox, prefix):
    state = owners_by_state(world)
    crm = log(CrmObjects(search_rate=3, search_window=600), 250, 20, state["active"][:2])
    srv = sandbox(world, crm=crm, rate_limit=4, rate_window=600)
    seen = []

    def check(name, path, body, want):
        status, _, payload = post(srv, prefix + path, body)
        assert status == want, (path, body, payload)
        validator(name).validate(payload)
        seen.append(name)
        return payload

    page = check("CollectionResponseWithTotalSimplePublicObject", "calls/search",
                 {"limit": 200, "sorts": ["hs_timestamp"], "properties": [
                     "hs_timestamp", "hubspot_owner_id", "hs_call_duration", "no_such"]}, 200)
    assert page["paging"]["next"]["after"] == "200"
    check("CollectionResponseWithTotalSimplePublicObject", "communications/search",
          {"filterGroups": [{"filters": [{"propertyName": "hs_timestamp", "operator": "GTE",
                                          "value": str(T0)}]}]}, 200)
    check("Error", "calls/search", {"limit": 500}, 400)
    rate = check("RateLimitError", "calls/search", {}, 429)             # the 4th in a second
    assert rate["policyName"] == "SECONDLY"
    check("BatchResponseSimplePublicObject", "calls/batch/read", {
        "inputs": [{"id": "1"}, {"id": "2"}], "properties": ["hs_call_external_id"],
        "propertiesWithHistory": ["hubspot_owner_id", "hs_timestamp"]}, 200)
    check("BatchResponseSimplePublicObjectWithErrors", "communications/batch/read", {
        "inputs": [{"id": "251"}, {"id": "9999"}], "properties": [],
        "propertiesWithHistory": ["hubspot_owner_id"]}, 207)
    check("BatchResponseSimplePublicObjectWithErrors", "calls/batch/update", {"inputs": [
        {"id": "3", "properties": {"hubspot_owner_id": state["active"][3]}},
        {"id": "9999", "properties": {"hubspot_owner_id": state["active"][3]}}]}, 207)
    check("Error", "calls/batch/update", {"inputs": [
        {"id": "3", "properties": {"hubspot_owner_id": "31337"}}]}, 400)
    rate = check("RateLimitError", "calls/batch/read", {"inputs": [{"id": "1"}],
                                                        "properties": []}, 429)
    assert rate["policyName"] == "TEN_SECONDLY_ROLLING"
    assert len(seen) == 9
