"""Issue 19 item 3: ``Retry-After`` as an HTTP-date (RFC 9110 §10.2.3: IMF-fixdate, and the
obsolete RFC 850 and asctime forms a recipient must accept) is honoured like the seconds form,
bounded by the policy's max wait, for both APIs; against the sandbox serving its Retry-After
headers as dates (``retry_after_date``)."""

from __future__ import annotations

import email.utils
import math
import time

import pytest

from conftest import SANDBOX_TOKENS
from usermap.errors import RateLimitError
from usermap.sandbox.scenarios import generate
from usermap.sources.api import aloware, hubspot
from usermap.sources.api.retry import Retrier, RetryPolicy, retry_after_seconds

NOW = 1_800_000_000.0       # 2027-01-15T08:00:00Z


def _forms(t: float) -> list[str]:
    """The three HTTP-date forms of ``t`` (RFC 9110 §5.6.7)."""
    g = time.gmtime(t)
    return [email.utils.formatdate(t, usegmt=True),
            time.strftime("%A, %d-%b-%y %H:%M:%S GMT", g),
            time.strftime("%a %b ", g) + f"{g.tm_mday:>2}" + time.strftime(" %H:%M:%S %Y", g)]


@pytest.mark.parametrize("form", range(3))
def test_every_http_date_form_gives_the_seconds_to_wait(form):
    value = _forms(NOW + 7)[form]
    assert retry_after_seconds({"Retry-After": value}, now=NOW) == pytest.approx(7.0)
    assert retry_after_seconds({"retry-after": f"  {value} "}, now=NOW) == pytest.approx(7.0)
    assert retry_after_seconds({"Retry-After": _forms(NOW - 30)[form]}, now=NOW) == 1.0


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e999", "Infinity", "0x10", "soon",
                                   "Sun, 99 Foo 2026 25:61:00 GMT", "3 s", ""])
def test_a_retry_after_that_is_neither_form_says_nothing(value):
    """Not a delay-seconds and not a date: the header says nothing (the caller then waits its
    own backoff); never an endless wait and never "the daily limit is used up"."""
    got = retry_after_seconds({"Retry-After": value}, now=NOW)
    assert got is None


def _retrier(slept, **kw):
    policy = RetryPolicy(**{"attempts": 5, "total_seconds": 30, "backoff": 0.001,
                            "max_wait": 5, **kw})
    return Retrier(policy, sleep=lambda s: (slept.append(s), time.sleep(s)))


@pytest.fixture(scope="module")
def world():
    return generate(60, seed=5)


def test_a_date_in_the_running_second_still_waits_a_second():
    """Servers cut the date to the whole second: "now" or a second just past (clocks apart)
    still means "later"; the seconds form "0" means at once."""
    assert retry_after_seconds({"Retry-After": _forms(NOW)[0]}, now=NOW + 0.6) == 1.0
    assert retry_after_seconds({"Retry-After": _forms(NOW - 1)[0]}, now=NOW) == 1.0
    assert retry_after_seconds({"Retry-After": "0"}, now=NOW) == 0.0


def test_aloware_429_with_a_date_waits_until_then(world, sandbox):
    slept = []
    srv = sandbox(world, rate_limit=1, rate_window=0.3, retry_after_date=True)
    r = _retrier(slept)
    for _ in range(3):
        assert aloware.get_api_users(srv.base_url, SANDBOX_TOKENS["ALOWARE_API_TOKEN"], r)
    assert srv.stats["429"] >= 2
    assert slept and all(1.0 <= s <= 2.0 for s in slept), slept
    assert dict(r.causes) == {"rate_limit": len(slept)}


@pytest.mark.parametrize("fault", [{"rate_limit": 1, "rate_window": 0.3}, {"migrating": 2}])
def test_hubspot_429_and_477_with_a_date_wait_until_then(world, sandbox, fault):
    slept = []
    srv = sandbox(world, retry_after_date=True, **fault)
    r = _retrier(slept)
    for _ in range(2):
        owners, _ = hubspot.fetch_owners(srv.base_url, SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"],
                                         r)
        assert len(owners) == len(world.owners)
    assert srv.stats["429"] + srv.stats["477"] >= 2
    assert slept and all(1.0 <= s <= 2.0 for s in slept), slept
    assert set(r.causes) == {"migration" if "migrating" in fault else "rate_limit"}


def test_a_date_further_than_max_wait_is_refused_like_the_seconds_form(world, sandbox):
    slept = []
    srv = sandbox(world, rate_limit=1, rate_window=60.0, retry_after_date=True)
    r = _retrier(slept, max_wait=3)
    aloware.get_api_users(srv.base_url, SANDBOX_TOKENS["ALOWARE_API_TOKEN"], r)
    with pytest.raises(RateLimitError) as e:
        aloware.get_api_users(srv.base_url, SANDBOX_TOKENS["ALOWARE_API_TOKEN"], r)
    assert "more than the 3 s we wait at once" in str(e.value) and not slept
    assert not math.isinf(r.waited)
