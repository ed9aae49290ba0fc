"""HubSpot's 401 and 403 in the words of today's HubSpot (issue 21): legacy private apps can no
longer be created, so the messages of the owners fetch and of the activities client say
"service key", where to make one, and the scopes the command needs (docs/configuration.md:
read for impact and plan, write for repair and undo). Against the sandbox's real 401 and 403."""

from __future__ import annotations

import pytest

import act_kit
from conftest import SANDBOX_TOKENS

from usermap.activities.crm import CrmClient
from usermap.errors import AuthError
from usermap.sources.api import hubspot
from usermap.sources.api.retry import Retrier, RetryPolicy

pytestmark = pytest.mark.issue(21)

TOKEN = SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"]
KEYS = "Settings > Integrations > Service keys"


@pytest.fixture(scope="module")
def scoped(tmp_path_factory):
    e = act_kit.make(tmp_path_factory.mktemp("scope") / "w", n=50, missing_scope=True)
    yield e
    e.srv.stop()


def _retrier():
    return Retrier(RetryPolicy(attempts=1, total_seconds=10, backoff=0.001))


def _client(e, token=TOKEN):
    return CrmClient(e.srv.base_url, token, rate_share=1.0, retrier=_retrier())


def _words(fn) -> str:
    with pytest.raises(AuthError) as got:
        fn()
    text = str(got.value)
    assert "private app" not in text and TOKEN not in text
    return text


def test_the_owners_fetch_says_service_key_and_its_scope(scoped):
    text = _words(lambda: hubspot.fetch_owners(scoped.srv.base_url, TOKEN, _retrier()))
    assert "HTTP 403" in text and "service key lacks the crm.objects.owners.read scope" in text
    assert KEYS in text
    text = _words(lambda: hubspot.fetch_owners(scoped.srv.base_url, "wrong-token", _retrier()))
    assert "HTTP 401" in text and "a service key (made in " + KEYS in text


def test_the_activities_client_names_read_scopes_and_the_write_scope(scoped):
    c = _client(scoped)
    try:
        text = _words(lambda: c.current_owners("calls", ["1"]))
        assert "HTTP 403" in text and "service key lacks a scope" in text and KEYS in text
        assert "crm.objects.owners.read, crm.objects.contacts.read" in text
        assert "a repair or undo also needs crm.objects.contacts.write" in text
        text = _words(lambda: c.update_owners("calls", {"1": "2"}))
        assert "writes owners and needs crm.objects.contacts.write" in text
    finally:
        c.close()
    c = _client(scoped, "wrong-token")
    try:
        text = _words(lambda: c.current_owners("calls", ["1"]))
        assert "HTTP 401" in text and "a service key (made in " + KEYS in text
    finally:
        c.close()
