"""The live sources (HubSpot owners through the real hubspot-api-client, Aloware users) and
``usermap fetch``, against the sandbox on 127.0.0.1 (issue 3).

Every retry loop here runs under ``fast_policy`` (milliseconds of backoff, few attempts), so a
test that fails ends quickly instead of hanging.
"""

from __future__ import annotations

import json
import math
import re
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import forkcli

from conftest import SANDBOX_TOKENS
from usermap.config import Config
from usermap.errors import (AuthError, ConfigError, IncompleteListingError, InputError,
                            RateLimitError, SourceError, exit_code_for)
from usermap.sandbox.scenarios import generate
from usermap.sources.api import aloware, hubspot
from usermap.sources.api.fetch import fetch_snapshot, public_url
from usermap.sources.api.retry import (
    CONNECTION, SERVER, Retrier, Retryable, RetryPolicy, retry_after_seconds,
)
from usermap.sources.snapshot import read_snapshot

pytestmark = pytest.mark.issue(3)  # the issue that asked for these tests

ROOT = Path(__file__).resolve().parents[2]
USER_COLS = ["id", "first_name", "last_name", "email", "status", "kind", "role"]


@pytest.fixture(scope="module")
def world():
    # 1,200 owners: the active listing takes 3 pages of 500, the archived one 1
    return generate(300, seed=11, n_owners=1200)


def write_config(srv, folder: Path, *, export: bool = True) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    users_csv = None
    if export:
        srv.write_export(folder / "aloware_export.csv")
        users_csv = "aloware_export.csv"
    path = folder / "usermap.toml"
    path.write_text(srv.config_toml(users_csv=users_csv), encoding="utf-8")
    return Config.load(path)


def sorted_users(df: pd.DataFrame) -> pd.DataFrame:
    return (df.loc[:, USER_COLS].astype(str).sort_values("id").reset_index(drop=True))


def by_id(owners):
    return sorted(owners, key=lambda o: o["id"])


def as_served(owners):
    """The owners as the sandbox serves them: archived ones with ``userId`` null (HubSpot)."""
    return [dict(o, userId=None) if o.get("archived") else o for o in owners]


def expected_requests(world, page=500) -> int:
    active = sum(1 for o in world.owners if not o["archived"])
    archived = len(world.owners) - active
    return max(1, math.ceil(active / page)) + max(1, math.ceil(archived / page)) + 1


def all_text_under(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in folder.rglob("*") if p.is_file())


# --- completeness -------------------------------------------------------------------------------
def test_fetch_reproduces_the_world(world, sandbox, sandbox_tokens, fast_policy, tmp_path):
    srv = sandbox(world, seed=1)
    cfg = write_config(srv, tmp_path / "cfg")
    out = tmp_path / "snap"
    info = fetch_snapshot(cfg, out, policy=fast_policy)

    users, _ = read_snapshot(out)
    pd.testing.assert_frame_equal(sorted_users(users), sorted_users(world.users))
    owners = json.loads((out / "hubspot_owners.json").read_text(encoding="utf-8"))
    assert by_id(owners) == by_id(as_served(world.owners))          # active + archived, exactly as served
    assert {o["archived"] for o in owners} == {False, True}
    assert (users["status"] == "deleted").sum() == (world.users["status"] == "deleted").sum() > 0

    assert info["counts"] == {"aloware_users": 300, "hubspot_owners": 1200}
    assert info["retries"] == 0
    assert info["requests"] == expected_requests(world) == srv.stats["requests"] == 5
    assert info["hubspot"]["pages"] == {"active": 3, "archived": 1}
    saved = json.loads((out / "fetch.json").read_text(encoding="utf-8"))
    assert saved["hubspot"]["host"] == srv.base_url
    assert saved["aloware"]["base_url"] == srv.base_url
    assert saved["requests"] == 5 and saved["fetched_at"].endswith("Z")
    assert sorted(p.name for p in out.iterdir()) == ["aloware_users.csv", "fetch.json",
                                                     "hubspot_owners.json"]


def test_paging_follows_opaque_cursors_with_small_pages(world, sandbox, sandbox_tokens,
                                                        fast_policy):
    srv = sandbox(world)
    owners, info = hubspot.fetch_owners(srv.base_url, sandbox_tokens["HUBSPOT_ACCESS_TOKEN"],
                                        Retrier(fast_policy), limit=97)
    assert by_id(owners) == by_id(as_served(world.owners))
    active = sum(1 for o in world.owners if not o["archived"])
    assert info["pages"] == {"active": math.ceil(active / 97),
                             "archived": math.ceil((1200 - active) / 97)}


def test_without_export_every_api_user_is_an_active_full_user(world, sandbox, sandbox_tokens,
                                                              fast_policy, tmp_path):
    srv = sandbox(world)
    info = fetch_snapshot(write_config(srv, tmp_path / "cfg", export=False), tmp_path / "snap",
                          policy=fast_policy)
    users, _ = read_snapshot(tmp_path / "snap")
    served = world.users[world.users["status"] != "deleted"]
    assert len(users) == len(served) == info["counts"]["aloware_users"]
    assert set(users["status"]) == {"active"} and set(users["kind"]) == {"user"}
    assert set(users["id"]) == set(served["id"])


def test_export_join_rules():
    api = aloware.api_users_frame([
        {"id": 1, "name": "Ana Lima", "email": "ana@acme.com"},
        {"id": 2, "name": "Front Desk", "email": None},
        {"id": 3, "name": "Mary Ann Smith", "email": "mary@acme.com"},
        {"id": 4, "name": "New Hire", "email": "new@acme.com"},   # not in the export yet
    ])
    export = pd.DataFrame({
        "id": ["1", "2", "3", "9"], "status": ["paused", "active", "suspended", "active"],
        "kind": ["user", "extension", "user", "user"], "role": ["admin", "", "agent", "agent"],
        "first_name": ["Ana", "Front Desk", "Mary", "Gone"],
        "last_name": ["Lima", "", "Ann Smith", "Away"],
        "email": ["old@acme.com", "", "mary@acme.com", "gone@acme.com"],
    })
    users = aloware.merge_export(api, export).set_index("id")
    assert list(users.index) == ["1", "2", "3", "4", "9"]
    assert users.loc["1", ["status", "kind", "role"]].tolist() == ["paused", "user", "admin"]
    assert users.loc["1", "email"] == "ana@acme.com"                 # the API is fresher
    assert users.loc["2", ["first_name", "last_name"]].tolist() == ["Front Desk", ""]
    assert users.loc["2", "kind"] == "extension" and users.loc["2", "email"] == ""
    assert users.loc["4", ["status", "kind"]].tolist() == ["active", "user"]
    # in the export but not in the API: deleted, with what the export knows
    assert users.loc["9"].tolist() == ["Gone", "Away", "gone@acme.com", "deleted", "user",
                                       "agent"]


@pytest.mark.parametrize("name, first, last", [
    ("Ana Lima", "Ana", "Lima"), ("  Mary Ann   Smith ", "Mary", "Ann   Smith"),
    ("Cher", "Cher", ""), ("", "", ""), (None, "", ""),
])
def test_split_name(name, first, last):
    assert aloware.split_name(name) == (first, last)


def test_wrapped_aloware_answer(world, sandbox, sandbox_tokens, fast_policy):
    srv = sandbox(world, aloware_wrap=True)
    items = aloware.get_api_users(srv.base_url, sandbox_tokens["ALOWARE_API_TOKEN"],
                                  Retrier(fast_policy))
    assert len(items) == srv.counts["aloware_api_users"]


# --- the admin export is input: exit 2, file/row/column, and no request made ------------------
@pytest.mark.parametrize("text, row, column", [
    ("id,kind\n1,user\n", 1, "status"),
    ("id,status,kind\n1,active,user\n2,retired,user\n", 3, "status"),
    ("id,status,kind\n1,active,user\n1,paused,user\n", 3, "id"),
    ("id,status,kind\n1,active,robot\n", 2, "kind"),
    ("id,status,kind\n,active,user\n", 2, "id"),
])
def test_bad_export_is_exit_2_before_any_request(world, sandbox, sandbox_tokens, fast_policy,
                                                 tmp_path, text, row, column):
    srv = sandbox(world)
    cfg = write_config(srv, tmp_path / "cfg")
    (tmp_path / "cfg" / "aloware_export.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        fetch_snapshot(cfg, tmp_path / "snap", policy=fast_policy)
    assert exit_code_for(e.value) == 2
    assert (e.value.row, e.value.column) == (row, column)
    assert "aloware_export.csv" in str(e.value)
    assert srv.stats["requests"] == 0
    assert not (tmp_path / "snap").exists()


def test_missing_token_is_exit_2(world, sandbox, monkeypatch, fast_policy, tmp_path):
    srv = sandbox(world)
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("ALOWARE_API_TOKEN", SANDBOX_TOKENS["ALOWARE_API_TOKEN"])
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN"):
        fetch_snapshot(write_config(srv, tmp_path / "cfg"), tmp_path / "snap", policy=fast_policy)
    assert srv.stats["requests"] == 0


# --- faults: recovered ------------------------------------------------------------------------
@pytest.mark.parametrize("fault, counter, cause", [
    ({"error_rate": 0.35, "seed": 4}, "5xx", "server_error"),
    ({"drop_rate": 0.3, "seed": 2}, "drops", "connection"),
    ({"rate_limit": 3, "rate_window": 0.4}, "429", "rate_limit"),
])
def test_faults_are_retried_and_counted(world, sandbox, sandbox_tokens, fast_policy, tmp_path,
                                        fault, counter, cause):
    srv = sandbox(world, **fault)
    out = tmp_path / "snap"
    info = fetch_snapshot(write_config(srv, tmp_path / "cfg"), out, policy=fast_policy)
    users, _ = read_snapshot(out)
    pd.testing.assert_frame_equal(sorted_users(users), sorted_users(world.users))
    owners = json.loads((out / "hubspot_owners.json").read_text(encoding="utf-8"))
    assert by_id(owners) == by_id(as_served(world.owners))
    # every injected fault cost exactly one retry: urllib3 retried nothing behind our back
    assert srv.stats[counter] >= 1
    assert info["retries"] == srv.stats[counter] == info["retries_by_cause"][cause]
    assert info["requests"] == expected_requests(world) + info["retries"] == srv.stats["requests"]


def test_429_waits_for_the_window_hubspot_says(world, sandbox, sandbox_tokens, tmp_path):
    slept = []
    srv = sandbox(world, rate_limit=2, rate_window=0.3)
    r = Retrier(RetryPolicy(attempts=5, total_seconds=20, backoff=0.001), sleep=lambda s: (
        slept.append(s), __import__("time").sleep(s)))
    hubspot.fetch_owners(srv.base_url, sandbox_tokens["HUBSPOT_ACCESS_TOKEN"], r)
    # no Retry-After on HubSpot's 429: policyName TEN_SECONDLY_ROLLING waits the window of
    # X-HubSpot-RateLimit-Interval-Milliseconds (300), never less
    assert slept and all(s == 0.3 for s in slept)
    assert r.waits and {w["cause"] for w in r.waits} == {"rate_limit"}
    assert all("TEN_SECONDLY_ROLLING" in w["detail"] for w in r.waits)


# --- faults: exit 4 and no snapshot -----------------------------------------------------------
def _fails(cfg, out, policy, error):
    out.parent.mkdir(parents=True, exist_ok=True)
    before = set(out.parent.iterdir())
    with pytest.raises(error) as e:
        fetch_snapshot(cfg, out, policy=policy)
    assert exit_code_for(e.value) == 4
    assert not out.exists()
    assert set(out.parent.iterdir()) == before          # no temporary folder left behind
    for token in SANDBOX_TOKENS.values():
        assert token not in str(e.value)
    return e.value


def test_listing_cut_short_is_exit_4_and_writes_nothing(world, sandbox, sandbox_tokens,
                                                       fast_policy, tmp_path):
    srv = sandbox(world, cut_after=1)
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 IncompleteListingError)
    assert "page 2" in str(err) and "incomplete" in str(err)
    assert srv.stats["cuts"] == fast_policy.attempts


def test_an_older_snapshot_survives_a_failed_fetch(world, sandbox, sandbox_tokens, fast_policy,
                                                   tmp_path):
    good = sandbox(world)
    out = tmp_path / "snap"
    fetch_snapshot(write_config(good, tmp_path / "a"), out, policy=fast_policy)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = sandbox(world, cut_after=2)
    with pytest.raises(IncompleteListingError):
        fetch_snapshot(write_config(bad, tmp_path / "b"), out, policy=fast_policy)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("fault, error, words", [
    ({"error_rate": 1.0}, SourceError, "gave up after 5 attempts"),
    ({"drop_rate": 1.0}, SourceError, "cut before the answer was complete"),
    ({"rate_limit": 1, "rate_window": 60}, RateLimitError, "asked to wait"),
])
def test_persistent_faults_are_exit_4(world, sandbox, sandbox_tokens, fast_policy, tmp_path,
                                      fault, error, words):
    srv = sandbox(world, **fault)
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 error)
    assert words in str(err)


def test_rate_limit_outlasting_the_attempts_is_rate_limit_error(world, sandbox, sandbox_tokens,
                                                               tmp_path):
    srv = sandbox(world, rate_limit=1, rate_window=0.2)
    policy = RetryPolicy(attempts=2, total_seconds=10, backoff=0.001)
    r = Retrier(policy, sleep=lambda s: None)           # never waits: every retry is a 429 again
    with pytest.raises(RateLimitError) as e:
        hubspot.fetch_owners(srv.base_url, SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"], r)
    assert "gave up after 2 attempts" in str(e.value) and exit_code_for(e.value) == 4


def test_bad_hubspot_token_is_401_bad_token(world, sandbox, sandbox_tokens, fast_policy, tmp_path):
    srv = sandbox(world, hubspot_token="the-right-one-9f8e7d")
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 AuthError)
    assert "HTTP 401" in str(err) and "bad or expired token" in str(err)
    assert "scope" not in str(err)
    assert srv.stats["hubspot"] == 1                     # auth errors are not retried


def test_missing_scope_is_403_naming_the_scope(world, sandbox, sandbox_tokens, fast_policy,
                                               tmp_path):
    srv = sandbox(world, missing_scope=True)
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 AuthError)
    assert "HTTP 403" in str(err) and "crm.objects.owners.read" in str(err)
    assert "bad or expired" not in str(err)


def test_bad_aloware_token(world, sandbox, sandbox_tokens, fast_policy, tmp_path):
    srv = sandbox(world, aloware_token="another-aloware-token")
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 AuthError)
    assert "ALOWARE_API_TOKEN" in str(err) and "HTTP 401" in str(err)
    assert "api_token=" not in str(err)


@pytest.mark.parametrize("api, words", [
    ("aloware", "Aloware users (GET http://127.0.0.1:"),
    ("hubspot", "HubSpot owners (active), page 1: HubSpot returned a page that is not valid JSON"),
])
def test_bad_json_is_reported_clearly(world, sandbox, sandbox_tokens, fast_policy, tmp_path,
                                      api, words):
    srv = sandbox(world, broken_json={api})
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 SourceError)
    assert words in str(err) and "not valid JSON" in str(err)
    assert "Down for maintenance" in str(err)               # shows what came instead


def test_unreachable_host_is_exit_4(sandbox_tokens, fast_policy, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                                # nothing listens there now
    cfg = Config.from_dict({"hubspot": {"host": f"http://127.0.0.1:{port}"},
                            "aloware": {"base_url": f"http://127.0.0.1:{port}"}})
    err = _fails(cfg, tmp_path / "out" / "snap", fast_policy, SourceError)
    assert "connection refused" in str(err) and f"127.0.0.1:{port}" in str(err)


# --- tokens never leak; progress is silent when not interactive -----------------------------
def test_tokens_never_written_and_no_progress_when_not_interactive(world, sandbox, sandbox_tokens,
                                                                    fast_policy, tmp_path, capfd):
    srv = sandbox(world, error_rate=0.2, drop_rate=0.1, seed=9, log=lambda line: print(line),
                  verbose=True)
    fetch_snapshot(write_config(srv, tmp_path / "cfg"), tmp_path / "snap", policy=fast_policy)
    captured = capfd.readouterr()
    assert captured.err == ""                                  # no bars on a non-terminal
    assert "GET /api/v1/webhook/users?api_token=***" in captured.out     # the sandbox's log
    text = all_text_under(tmp_path) + captured.out
    for token in sandbox_tokens.values():
        assert token not in text


def test_public_url_drops_credentials():
    assert public_url("https://user:pw@api.hubapi.com:8443/x?hapikey=abc#f") == \
        "https://api.hubapi.com:8443/x"


def test_the_client_does_not_retry_on_its_own():
    api = hubspot.make_owners_api("http://127.0.0.1:9", "t")
    assert api.api_client.configuration.retries is False
    assert api.api_client.configuration.host == "http://127.0.0.1:9"


# --- the retry policy ---------------------------------------------------------------------------
@pytest.mark.parametrize("headers, wait", [
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "0.5"}, 0.5),
    ({"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
     10.0),
    ({"X-HubSpot-RateLimit-Secondly-Remaining": "0"}, 1.0),
    ({"X-HubSpot-RateLimit-Daily-Remaining": "0"}, math.inf),
    ({"X-HubSpot-RateLimit-Remaining": "12"}, None),
    ({}, None),
])
def test_retry_after_seconds(headers, wait):
    assert retry_after_seconds(headers) == wait


def test_retry_after_http_date():
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"},
                               now=1445412480.0) == 10.0


def test_backoff_doubles_and_is_bounded():
    clock = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        clock[0] += s

    r = Retrier(RetryPolicy(attempts=6, total_seconds=100, backoff=1, backoff_max=5),
                sleep=sleep, clock=lambda: clock[0])

    def attempt():
        raise Retryable(SERVER, "HTTP 503")

    with pytest.raises(SourceError, match="gave up after 6 attempts"):
        r.call(attempt, "x")
    assert slept == [1, 2, 4, 5, 5]
    assert (r.requests, r.retries) == (6, 5)


def test_total_time_budget_ends_the_loop():
    clock = [0.0]
    r = Retrier(RetryPolicy(attempts=100, total_seconds=10, backoff=3, backoff_max=3),
                sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    with pytest.raises(IncompleteListingError, match="budget of 10 s ran out"):
        r.call(lambda: (_ for _ in ()).throw(Retryable(CONNECTION, "cut")), "page 3",
               started_listing=True)
    assert r.requests == 4 and clock[0] == 9


# --- the command, as a scheduler runs it -----------------------------------------------------
def _usermap(*args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in SANDBOX_TOKENS}
    env.update(env_extra or {})
    return forkcli.run(args, env=env, cwd=cwd or ROOT, timeout=60)


def test_usermap_fetch_command_output_and_exit_codes(world, sandbox, tmp_path):
    srv = sandbox(world)
    write_config(srv, tmp_path / "cfg")
    cfg = str(tmp_path / "cfg" / "usermap.toml")
    ok = _usermap("fetch", "--config", cfg, "--out", str(tmp_path / "snap"),
                  env_extra=SANDBOX_TOKENS)
    assert ok.returncode == 0, ok.stderr
    assert "fetched 300 Aloware users and 1200 HubSpot owners" in ok.stdout
    assert "(5 requests, 0 retries)" in ok.stdout

    wrong = dict(SANDBOX_TOKENS, HUBSPOT_ACCESS_TOKEN="pat-na1-WRONGTOKEN-0000")
    bad = _usermap("fetch", "--config", cfg, "--out", str(tmp_path / "snap2"), env_extra=wrong)
    assert bad.returncode == 4 and "HTTP 401" in bad.stderr
    assert not (tmp_path / "snap2").exists()

    missing = _usermap("fetch", "--config", cfg, "--out", str(tmp_path / "snap3"))
    assert missing.returncode == 2 and "HUBSPOT_ACCESS_TOKEN" in missing.stderr

    everything = ok.stdout + ok.stderr + bad.stdout + bad.stderr + all_text_under(tmp_path)
    for token in list(SANDBOX_TOKENS.values()) + ["pat-na1-WRONGTOKEN-0000"]:
        assert token not in everything


# --- raw pages ----------------------------------------------------------------------------------
def test_parse_page_keeps_the_results_text_and_falls_back_on_other_key_orders():
    body = b'{"results":[{"id":"1","email":"\xc3\xa9@x.com"}, {"id":"2"}],"paging":{"next":{"after":"Zz"}}}'
    page, raw = hubspot.parse_page(body)
    assert page["results"] == [{"id": "1", "email": "\u00e9@x.com"}, {"id": "2"}]
    assert page["paging"]["next"]["after"] == "Zz"
    assert raw == '[{"id":"1","email":"\u00e9@x.com"}, {"id":"2"}]'
    page, raw = hubspot.parse_page(b'{"paging":{},"results":[]}')
    assert page == {"paging": {}, "results": []} and raw is None
    with pytest.raises(ValueError):
        hubspot.parse_page(b'{"results":[{"id":"1"}],"paging":')


def test_snapshot_owners_file_is_valid_when_pages_are_empty_or_mixed():
    from usermap.sources.api.fetch import _owners_json
    assert json.loads(_owners_json([], ["[]", "[ ]"])) == []
    owners = [{"id": "1"}, {"id": "2"}]
    assert json.loads(_owners_json(owners, ['[{"id":"1"}]', "[]", '[ {"id":"2"} ]'])) == owners
    assert json.loads(_owners_json(owners, ['[{"id":"1"}]', None])) == owners


def test_debug_logging_and_progress_bars_never_show_tokens(world, sandbox, sandbox_tokens,
                                                           fast_policy, tmp_path, caplog, capfd):
    import logging
    srv = sandbox(world)
    # (the hubspot client sets the "urllib3" logger to WARNING when built: ask this one directly)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG,
                                                         logger="urllib3.connectionpool"):
        fetch_snapshot(write_config(srv, tmp_path / "cfg"), tmp_path / "snap", policy=fast_policy,
                       progress=True)
    err = capfd.readouterr().err
    assert "HubSpot owners (active)" in err and "Aloware users" in err     # the tqdm bars
    assert "api_token=***" in caplog.text                                  # urllib3's own line
    for token in sandbox_tokens.values():
        assert token not in caplog.text and token not in err


# --- issue 11: the fetch path is pandas-free and writes what the pandas path wrote ------------
_NO_PANDAS = r'''
import sys
from usermap.cli import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in ("pandas", "numpy", "IPython", "pyarrow") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(rc)
'''


def test_usermap_fetch_never_imports_pandas(world, sandbox, tmp_path):
    srv = sandbox(world)
    write_config(srv, tmp_path / "cfg")       # with the admin export: its reader too
    env = dict(os.environ, **SANDBOX_TOKENS)
    r = subprocess.run([sys.executable, "-c", _NO_PANDAS, "fetch", "--config",
                        str(tmp_path / "cfg" / "usermap.toml"), "--out", str(tmp_path / "snap")],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "HEAVY=\n" in r.stderr, r.stderr
    # -X importtime agrees (the hook above cannot miss an import made and dropped)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "usermap.launch", "fetch",
                        "--config", str(tmp_path / "cfg" / "usermap.toml"), "--out",
                        str(tmp_path / "snap2")], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    import re
    imported = set(re.findall(r"^import time:[^|]*\|[^|]*\|\s*(\S+)$", r.stderr, re.M))
    assert "hubspot.crm.owners" in imported and not {m for m in imported
                                                     if m.split(".")[0] == "pandas"}


def test_fetch_writes_the_same_users_csv_as_pandas(world, sandbox, sandbox_tokens, fast_policy,
                                                  tmp_path):
    from usermap.sources.api import fetch as fetch_mod
    from usermap.sources import snapshot
    assert (fetch_mod.USERS_FILE, fetch_mod.OWNERS_FILE) == (snapshot.USERS_FILE,
                                                            snapshot.OWNERS_FILE)
    srv = sandbox(world)
    cfg = write_config(srv, tmp_path / "cfg")
    fetch_snapshot(cfg, tmp_path / "snap", policy=fast_policy)
    items = aloware.get_api_users(srv.base_url, sandbox_tokens["ALOWARE_API_TOKEN"],
                                  Retrier(fast_policy))
    export = aloware.read_export(tmp_path / "cfg" / "aloware_export.csv")
    frame = aloware.merge_export(aloware.api_users_frame(items), export)
    want = frame.to_csv(index=False, lineterminator="\n")
    assert (tmp_path / "snap" / "aloware_users.csv").read_text(encoding="utf-8") == want


@pytest.mark.parametrize("text, row, column, words", [
    ("id,status,kind\n1,active,user\n1,paused,user\n", 3, "id", "appears twice (first on row 2)"),
    ("id,status,kind\n1,active,robot\n", 2, "kind", "unknown value 'robot'"),
    ("id,status\n1,active\n", 1, "kind", "missing column"),
    ("id,status,kind,kind\n1,active,user,user\n", 1, "kind", "twice in the header"),
    ("id,status,kind\n\n1,active\n", 3, "kind", "the row is short"),
    ("id,status,kind\n1,active,user,x\n", 2, None, "expected 3 fields, found 4"),
    ('id,status,kind,notes\n1,active,user,"a\nb"\n 2 ,active,user\n', 4, "notes", "short"),
    ('id,status,kind\n"1,active,user\n', 2, None, "never closed"),
    ("id,status,kind\n ,active,user\n", 2, "id", "empty value"),
    ("", 1, None, "empty file"),
])
def test_export_rows_reader_names_row_and_column(tmp_path, text, row, column, words):
    p = tmp_path / "export.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        aloware.read_export_rows(p)
    assert (e.value.row, e.value.column) == (row, column) and words in str(e.value), str(e.value)


def test_export_rows_reader_keeps_multiline_extra_columns(tmp_path):
    p = tmp_path / "export.csv"
    p.write_text('\ufeffid,status,kind,notes\n 7 , Active ,USER,"two\nlines"\n', encoding="utf-8")
    header, rows = aloware.read_export_rows(p)
    assert header == ["id", "status", "kind", "notes"]
    assert rows == [{"id": "7", "status": "active", "kind": "user", "notes": "two\nlines"}]


# --- issue 11: rate limits as HubSpot documents them ------------------------------------------
@pytest.mark.parametrize("headers, body, policy, wait", [
    ({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Remaining": "0"},
     {"policyName": "TEN_SECONDLY_ROLLING"}, "TEN_SECONDLY_ROLLING", 10.0),
    ({}, {"policyName": "TEN_SECONDLY_ROLLING"}, "TEN_SECONDLY_ROLLING", 10.0),   # else 10 s
    ({"X-HubSpot-RateLimit-Interval-Milliseconds": "2500"}, {}, "TEN_SECONDLY_ROLLING", 2.5),
    ({}, {"policyName": "SECONDLY"}, "SECONDLY", 1.0),
    ({"Retry-After": "30"}, {"policyName": "SECONDLY"}, "SECONDLY", 30.0),     # never less
    ({"X-HubSpot-RateLimit-Daily-Remaining": "0"}, {"policyName": "DAILY"}, "DAILY", math.inf),
    ({"X-HubSpot-RateLimit-Daily-Remaining": "0"}, None, "DAILY", math.inf),
])
def test_hubspot_rate_limit_policy(headers, body, policy, wait):
    from usermap.sources.api.retry import hubspot_rate_limit
    assert hubspot_rate_limit(headers, body) == (policy, wait)


def test_daily_limit_stops_at_once_and_says_when_it_resets(world, sandbox, sandbox_tokens,
                                                           fast_policy, tmp_path):
    srv = sandbox(world, daily_limit=2)                  # the third HubSpot request: DAILY
    t = __import__("time").monotonic()
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 RateLimitError)
    assert __import__("time").monotonic() - t < 5
    assert exit_code_for(err) == 4
    assert "daily API limit of this portal is spent" in str(err)
    assert "at midnight (the account's time zone)" in str(err)
    assert srv.stats["429_daily"] == 1 and srv.stats["hubspot"] == 3   # not retried


def test_migration_477_waits_its_retry_after(world, sandbox, sandbox_tokens, tmp_path):
    slept = []
    srv = sandbox(world, migrating=2)
    r = Retrier(RetryPolicy(attempts=5, total_seconds=20, backoff=0.001), sleep=lambda s: (
        slept.append(s), __import__("time").sleep(s)))
    owners, _ = hubspot.fetch_owners(srv.base_url, sandbox_tokens["HUBSPOT_ACCESS_TOKEN"], r)
    assert len(owners) == len(world.owners) and srv.stats["477"] == 2
    assert slept == [1.0, 1.0] and dict(r.causes) == {"migration": 2}


def test_waits_go_into_fetch_json_and_the_fetch_note(world, sandbox, sandbox_tokens, tmp_path):
    from usermap.workflow import fetch_note
    srv = sandbox(world, rate_limit=2, rate_window=0.2)
    policy = RetryPolicy(attempts=6, total_seconds=30, backoff=0.001, max_wait=3)
    info = fetch_snapshot(write_config(srv, tmp_path / "cfg"), tmp_path / "snap", policy=policy)
    saved = json.loads((tmp_path / "snap" / "fetch.json").read_text())
    assert saved["waits"] and saved["seconds_waited"] == info["seconds_waited"] > 0
    w = saved["waits"][0]
    assert w["cause"] == "rate_limit" and w["seconds"] == 0.2 and w["of"] == 6
    assert w["attempt"] == 2 and "TEN_SECONDLY_ROLLING" in w["detail"]
    note = fetch_note(tmp_path / "snap")
    assert "after rate limiting (HTTP 429)" in note and "waited" in note and "longest 0.2 s" in note


def test_a_wait_is_logged_and_shown_on_a_terminal(monkeypatch, caplog):
    import io
    import logging

    class Tty(io.StringIO):
        def isatty(self):
            return True
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) == 1:
            raise Retryable(SERVER, "HTTP 503")
        return "ok"
    r = Retrier(RetryPolicy(attempts=3, backoff=0.01), sleep=lambda s: None)
    with caplog.at_level(logging.WARNING, logger="usermap.fetch"):
        assert r.call(attempt, "HubSpot owners (active), page 1") == "ok"
    line = "HubSpot owners (active), page 1: HTTP 503; waiting 0.0 s before attempt 2 of 3"
    assert line in err.getvalue() and line in caplog.text


def test_no_wait_line_when_stderr_is_not_a_terminal(capsys):
    calls = []

    def attempt():
        calls.append(1)
        if len(calls) == 1:
            raise Retryable(SERVER, "HTTP 503")
        return "ok"
    Retrier(RetryPolicy(attempts=3, backoff=0.01), sleep=lambda s: None).call(attempt, "x")
    assert capsys.readouterr().err == ""


# --- issue 11: fail fast and say why ----------------------------------------------------------
def _fast_fail(cfg, tmp_path, words):
    policy = RetryPolicy(attempts=8, total_seconds=90, backoff=1.0, backoff_max=30)  # defaults
    t = __import__("time").monotonic()
    err = _fails(cfg, tmp_path / "out" / "snap", policy, SourceError)
    assert __import__("time").monotonic() - t < 5, "retried instead of failing at once"
    assert exit_code_for(err) == 4 and words in str(err), str(err)
    return err


def test_refused_connection_fails_at_once(sandbox_tokens, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = Config.from_dict({"hubspot": {"host": f"http://127.0.0.1:{port}"},
                            "aloware": {"base_url": f"http://127.0.0.1:{port}"}})
    _fast_fail(cfg, tmp_path, "connection refused")


def test_unresolvable_host_fails_at_once(world, sandbox, sandbox_tokens, tmp_path):
    # the network guard (conftest) refuses to resolve any non-local name: a resolver failure
    # injected without a DNS query; both sources name it
    srv = sandbox(world)
    for hub, alo in (("http://nonexistent.invalid", srv.base_url),
                     (srv.base_url, "http://nonexistent.invalid")):
        cfg = Config.from_dict({"hubspot": {"host": hub}, "aloware": {"base_url": alo}})
        err = _fast_fail(cfg, tmp_path, "does not resolve (DNS lookup failed")
        assert "nonexistent.invalid" in str(err)


def test_tls_error_fails_at_once(world, sandbox, sandbox_tokens, tmp_path):
    srv = sandbox(world)
    https = srv.base_url.replace("http://", "https://")     # TLS to the plain HTTP port
    for hub, alo in ((https, srv.base_url), (srv.base_url, https)):
        cfg = Config.from_dict({"hubspot": {"host": hub}, "aloware": {"base_url": alo}})
        _fast_fail(cfg, tmp_path, "TLS error")


# --- issue 11: answers that are not what the API defines --------------------------------------
@pytest.mark.parametrize("api, words", [("hubspot", "HubSpot owners (active), page 1"),
                                        ("aloware", "/api/v1/webhook/users")])
def test_html_with_200_is_a_bad_answer(world, sandbox, sandbox_tokens, fast_policy, tmp_path,
                                       api, words):
    from usermap.errors import BadAnswerError
    srv = sandbox(world, broken_json={api})
    err = _fails(write_config(srv, tmp_path / "cfg"), tmp_path / "out" / "snap", fast_policy,
                 BadAnswerError)
    assert words in str(err) and "an HTML page, not the API" in str(err)


@pytest.mark.parametrize("body, words", [
    (b'[1, 2]', "expected an object with a 'results' array, found list"),
    (b'{"results": {"a": 1}}', "field 'results': expected an array, found dict"),
    (b'{"results": [], "paging": {"next": {"after": 5}}}', "field 'paging.next.after'"),
    (b'{"results": [], "paging": []}', "field 'paging.next.after'"),
])
def test_hubspot_page_of_the_wrong_shape_names_the_field(body, words):
    from usermap.errors import BadAnswerError

    class Resp:
        data = body

        def release_conn(self):
            pass

    class Api:
        def get_page(self, **kw):
            return Resp()
    with pytest.raises(BadAnswerError, match=re.escape(words)):
        hubspot._get_page(Api(), archived=False, after=None, limit=500, timeout=(1, 1),
                          what="HubSpot owners (active), page 1", host="h")
