"""The sandbox's CRM side (issue 21) driven by HubSpot's own Python client (hubspot-api-client):
search, batch read with property history and batch update of calls and communications work,
and deserialise, exactly as they would against HubSpot; refusals come back as its ApiException
with HubSpot's error JSON."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.objects.calls import (BatchInputSimplePublicObjectBatchInput,
                                       BatchReadInputSimplePublicObjectId, Filter, FilterGroup,
                                       PublicObjectSearchRequest, SimplePublicObjectBatchInput,
                                       SimplePublicObjectId)
from hubspot.crm.objects.communications import (
    BatchInputSimplePublicObjectBatchInput as CommBatchInput,
    BatchReadInputSimplePublicObjectId as CommReadInput, Filter as CommFilter,
    FilterGroup as CommFilterGroup, PublicObjectSearchRequest as CommSearch,
    SimplePublicObjectBatchInput as CommUpdate, SimplePublicObjectId as CommId)
from hubspot.crm.objects.communications.exceptions import ApiException

from crmkit import APP, HS, MINUTE, T0, log, owners_by_state, small_world
from usermap.sandbox.crm import CrmObjects


@pytest.fixture(scope="module")
def world():
    return small_world()


@pytest.fixture
def served(world, sandbox):
    """A sandbox with 450 calls and 60 SMS on three active owners; the client and the owners."""
    state = owners_by_state(world)
    crm = log(CrmObjects(search_rate=0), 450, 60, state["active"][:3])
    srv = sandbox(world, crm=crm)
    client = HubSpot(access_token=HS, host=srv.base_url, retry=False)
    return srv, crm, client, state


def test_client_pages_through_a_time_window_of_calls(served):
    srv, crm, client, _ = served
    lo, hi = T0 + 10 * MINUTE, T0 + 420 * MINUTE          # calls 11..420: 410 of them
    req = dict(filter_groups=[FilterGroup(filters=[
        Filter(property_name="hs_timestamp", operator="GTE", value=str(lo)),
        Filter(property_name="hs_timestamp", operator="LT", value=str(hi))])],
        sorts=["hs_timestamp"], properties=["hs_timestamp", "hubspot_owner_id"], limit=200)
    seen, after = [], None
    for _ in range(10):
        page = client.crm.objects.calls.search_api.do_search(
            public_object_search_request=PublicObjectSearchRequest(**req, after=after))
        assert page.total == 410
        seen += page.results
        after = page.paging.next.after if page.paging and page.paging.next else None
        if after is None:
            break
    assert [r.id for r in seen] == [str(i) for i in range(11, 421)]
    assert seen[0].properties["hubspot_owner_id"] == crm.get("calls", 11)["properties"][
        "hubspot_owner_id"]
    assert seen[0].properties["hs_timestamp"] == "2026-09-21T14:23:20.000Z"
    assert crm.stats["calls/search"] == 3                  # 410 results: 200 + 200 + 10


def test_client_finds_sms_by_channel_and_owner(served):
    srv, crm, client, state = served
    crm.add("communications", 9001, {"hs_timestamp": T0, "hubspot_owner_id": state["active"][0],
                                     "hs_communication_channel_type": "WHATS_APP"})
    owner = state["active"][1]
    page = client.crm.objects.communications.search_api.do_search(
        public_object_search_request=CommSearch(filter_groups=[CommFilterGroup(filters=[
            CommFilter(property_name="hs_communication_channel_type", operator="EQ",
                       value="SMS"),
            CommFilter(property_name="hubspot_owner_id", operator="IN", values=[owner])])],
            sorts=["-hs_timestamp"], limit=100,
            properties=["hubspot_owner_id", "hs_communication_channel_type"]))
    want = sorted((i for i in range(451, 511) if (i - 1) % 3 == 1), reverse=True)
    assert [int(r.id) for r in page.results] == want and page.total == 20
    assert all(r.properties["hs_communication_channel_type"] == "SMS" for r in page.results)


def test_client_reads_owner_history_and_reports_missing_ids(served):
    srv, crm, client, _ = served
    ids = [str(i) for i in range(1, 50)] + ["999999"]      # 50 inputs, one not there
    out = client.crm.objects.calls.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids], properties=["hs_call_external_id"],
        properties_with_history=["hubspot_owner_id"]))
    assert out.status == "COMPLETE" and out.num_errors == 1            # the 207 model
    assert out.errors[0].category == "OBJECT_NOT_FOUND"
    assert out.errors[0].context == {"ids": ["999999"]}
    by_id = {r.id: r for r in out.results}
    assert sorted(by_id, key=int) == ids[:-1]
    h = by_id["7"].properties_with_history["hubspot_owner_id"]
    assert [(e.value, e.source_type, e.source_id) for e in h] == [
        (crm.get("calls", 7)["properties"]["hubspot_owner_id"], "INTEGRATION", APP)]
    assert h[0].timestamp.isoformat() == "2026-09-21T14:19:20+00:00"
    assert by_id["7"].properties["hs_call_external_id"] == "ext-7"


def test_client_update_moves_the_owner_and_appends_history(served):
    srv, crm, client, state = served
    new = state["active"][5]
    before = crm.get("calls", 3)
    out = client.crm.objects.calls.batch_api.update(BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=str(i), properties={"hubspot_owner_id": new})
                for i in range(1, 101)]))
    assert out.status == "COMPLETE" and len(out.results) == 100
    after = crm.get("calls", 3)
    assert after["properties"]["hubspot_owner_id"] == new
    assert [e["value"] for e in after["history"]] == [new, before["properties"][
        "hubspot_owner_id"]]
    assert after["history"][0]["sourceType"] == "API"
    assert after["updatedAt"] > before["updatedAt"]
    read = client.crm.objects.calls.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id="3")], properties=[],
        properties_with_history=["hubspot_owner_id"]))
    assert [e.source_type for e in read.results[0].properties_with_history[
        "hubspot_owner_id"]] == ["API", "INTEGRATION"]


def test_client_update_of_communications_and_its_refusal(served):
    srv, crm, client, state = served
    good, gone = state["active"][4], state["deactivated"][0]
    out = client.crm.objects.communications.batch_api.update(CommBatchInput(inputs=[
        CommUpdate(id="451", properties={"hubspot_owner_id": good}),
        CommUpdate(id="452", properties={"hubspot_owner_id": ""})]))         # unassign
    assert {r.id for r in out.results} == {"451", "452"}
    assert crm.get("communications", 452)["properties"]["hubspot_owner_id"] is None
    assert crm.get("communications", 452)["history"][0]["value"] == ""
    before = crm.get("communications", 453)
    with pytest.raises(ApiException) as e:
        client.crm.objects.communications.batch_api.update(CommBatchInput(inputs=[
            CommUpdate(id="453", properties={"hubspot_owner_id": good}),
            CommUpdate(id="454", properties={"hubspot_owner_id": gone})]))
    body = json.loads(e.value.body)
    assert e.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "INVALID_OWNER_ID" in body["message"] and gone in body["message"]
    assert crm.get("communications", 453) == before          # the whole batch was refused
    read = client.crm.objects.communications.batch_api.read(CommReadInput(
        inputs=[CommId(id="451")], properties=["hubspot_owner_id"],
        properties_with_history=[]))
    assert read.results[0].properties["hubspot_owner_id"] == good
