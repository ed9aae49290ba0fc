"""The sandbox server (issue 3): speaks HubSpot's Owners API and Aloware's Users API well enough
that the real clients cannot tell, injects faults deterministically, never logs a token, and
``usermap sandbox`` prints a ready-to-use config that ``usermap fetch`` reproduces the world with.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import runkit

from conftest import SANDBOX_TOKENS
from usermap import cli
from usermap.sandbox.scenarios import extra_archived_owners, generate, write_world
from usermap.sandbox.server import SandboxServer

pytestmark = pytest.mark.issue(3)  # the issue that asked for these tests

ROOT = Path(__file__).resolve().parents[2]
HS = SANDBOX_TOKENS["HUBSPOT_ACCESS_TOKEN"]
AL = SANDBOX_TOKENS["ALOWARE_API_TOKEN"]
OWNER_KEYS = {"id", "email", "firstName", "lastName", "userId", "userIdIncludingInactive", "type",
              "archived", "createdAt", "updatedAt", "teams"}


@pytest.fixture(scope="module")
def world():
    return generate(150, seed=3, n_owners=260)


def get(url, token=HS, *, headers=None):
    """(status, headers, parsed JSON or raw bytes)."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, hdrs, body = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, body = e.code, dict(e.headers), e.read()
    try:
        return status, hdrs, json.loads(body)
    except ValueError:
        return status, hdrs, body


def list_all(srv, archived: bool, limit=100):
    url = f"{srv.base_url}/crm/v3/owners/?limit={limit}&archived={str(archived).lower()}"
    owners, cursors = [], []
    for _ in range(1000):
        status, _, page = get(url)
        assert status == 200
        owners += page["results"]
        nxt = page.get("paging", {}).get("next")
        if not nxt:
            return owners, cursors
        cursors.append(nxt["after"])
        url = nxt["link"]
    raise AssertionError("endless paging")


# --- HubSpot Owners API -----------------------------------------------------------------------
def test_owners_listing_is_complete_camelcase_and_opaque(world, sandbox):
    srv = sandbox(world)
    active, cursors = list_all(srv, False, limit=50)
    archived, _ = list_all(srv, True, limit=50)
    assert sorted(o["id"] for o in active + archived) == sorted(o["id"] for o in world.owners)
    assert all(not o["archived"] for o in active) and all(o["archived"] for o in archived)
    assert all(set(o) == OWNER_KEYS for o in active + archived)
    assert cursors and all(not c.isdigit() and str(50 * (i + 1)) != c
                           for i, c in enumerate(cursors))
    status, _, page = get(f"{srv.base_url}/crm/v3/owners/")          # default limit 100
    assert status == 200 and len(page["results"]) == 100


def test_the_real_client_reads_it_with_its_models(world, sandbox):
    from hubspot import HubSpot
    srv = sandbox(world)
    api = HubSpot(access_token=HS, host=srv.base_url).crm.owners.owners_api
    page = api.get_page(limit=10, archived=False)
    assert len(page.results) == 10 and page.paging.next.after
    first = page.results[0]
    assert first.id == world.owners[0]["id"] and first.email == world.owners[0]["email"]
    again = api.get_page(limit=10, archived=False, after=page.paging.next.after)
    assert again.results[0].id != first.id
    one = api.get_by_id(owner_id=first.id)
    assert one.id == first.id and one.archived is False


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=-3", "limit=abc",
                                   "archived=maybe", "after=not-a-cursor", "after=MTA="])
def test_bad_parameters_are_400_validation_errors(world, sandbox, query):
    srv = sandbox(world)
    status, _, body = get(f"{srv.base_url}/crm/v3/owners/?{query}")
    assert status == 400
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert body["message"] and re.fullmatch(r"[0-9a-f-]{36}", body["correlationId"])


def test_limit_bounds_are_accepted(world, sandbox):
    srv = sandbox(world)
    active = sum(not o["archived"] for o in world.owners)
    for limit in (1, 500):
        status, _, body = get(f"{srv.base_url}/crm/v3/owners/?limit={limit}")
        assert status == 200 and len(body["results"]) == min(limit, active)


def test_bearer_auth_and_error_json(world, sandbox):
    srv = sandbox(world)
    url = f"{srv.base_url}/crm/v3/owners/?limit=1"
    for token in (None, "wrong-token"):
        status, headers, body = get(url, token)
        assert status == 401 and body["category"] == "INVALID_AUTHENTICATION"
        assert body["status"] == "error" and body["correlationId"]
    assert get(url)[0] == 200
    anyone = sandbox(world, hubspot_token=None)           # nothing demanded: any token works
    assert get(f"{anyone.base_url}/crm/v3/owners/?limit=1", "whatever")[0] == 200
    assert get(f"{anyone.base_url}/crm/v3/owners/?limit=1", None)[0] == 401


def test_tokens_from_the_servers_environment(world, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "env-hub-token-1234")
    monkeypatch.delenv("ALOWARE_API_TOKEN", raising=False)
    with SandboxServer(world.users, world.owners) as srv:
        assert get(f"{srv.base_url}/crm/v3/owners/?limit=1", "other")[0] == 401
        assert get(f"{srv.base_url}/crm/v3/owners/?limit=1", "env-hub-token-1234")[0] == 200
        assert get(f"{srv.base_url}/api/v1/webhook/users?api_token=any", None)[0] == 200


def test_missing_scope_is_403(world, sandbox):
    srv = sandbox(world, missing_scope=True)
    status, _, body = get(f"{srv.base_url}/crm/v3/owners/")
    assert status == 403 and body["category"] == "MISSING_SCOPES"
    assert "crm.objects.owners.read" in json.dumps(body)


def test_rate_limit_headers_and_429(world, sandbox):
    srv = sandbox(world, rate_limit=3, rate_window=30)
    url = f"{srv.base_url}/crm/v3/owners/?limit=1"
    remaining = []
    for _ in range(3):
        status, h, _ = get(url)
        assert status == 200
        assert h["X-HubSpot-RateLimit-Max"] == "3"
        assert h["X-HubSpot-RateLimit-Interval-Milliseconds"] == "30000"
        assert int(h["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
        remaining.append(int(h["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    status, h, body = get(url)
    assert status == 429 and "Retry-After" not in h       # HubSpot sends none on a 429
    assert h["X-HubSpot-RateLimit-Remaining"] == "0"
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["status"] == "error" and body["message"]
    assert h["X-HubSpot-Correlation-Id"] == body["correlationId"]
    status, h, _ = get(f"{srv.base_url}/api/v1/webhook/users?api_token={AL}", None)
    assert status == 200                                  # each API has its own window


def test_owner_by_id(world, sandbox):
    srv = sandbox(world)
    active = next(o for o in world.owners if not o["archived"])
    archived = next(o for o in world.owners if o["archived"])
    assert get(f"{srv.base_url}/crm/v3/owners/{active['id']}")[2] == active
    assert get(f"{srv.base_url}/crm/v3/owners/{archived['id']}")[0] == 404
    assert get(f"{srv.base_url}/crm/v3/owners/{archived['id']}?archived=true")[2] == dict(
        archived, userId=None)                            # HubSpot: archived owners, userId null
    status, _, body = get(f"{srv.base_url}/crm/v3/owners/999")
    assert status == 404 and body["category"] == "OBJECT_NOT_FOUND"


# --- Aloware Users API ------------------------------------------------------------------------
def test_aloware_users(world, sandbox):
    srv = sandbox(world)
    status, _, users = get(f"{srv.base_url}/api/v1/webhook/users?api_token={AL}", None)
    assert status == 200 and isinstance(users, list)
    live = world.users[world.users["status"] != "deleted"]
    assert len(users) == len(live) < len(world.users)      # deleted users: export only
    assert all(set(u) == {"id", "name", "email", "agent_status", "human_readable_agent_status"}
               for u in users)
    assert all(isinstance(u["id"], int) for u in users)
    assert {str(u["id"]) for u in users} == set(live["id"])
    assert get(f"{srv.base_url}/api/v1/webhook/users?api_token=nope", None)[0] == 401
    assert get(f"{srv.base_url}/api/v1/webhook/users", None)[0] == 401
    wrapped = sandbox(world, aloware_wrap=True)
    body = get(f"{wrapped.base_url}/api/v1/webhook/users?api_token={AL}", None)[2]
    assert body == {"data": users}


def test_export_has_every_user_with_status_and_kind(world, sandbox, tmp_path):
    srv = sandbox(world)
    df = pd.read_csv(srv.write_export(tmp_path / "x.csv"), dtype=str, keep_default_na=False)
    assert list(df.columns[:3]) == ["id", "status", "kind"]
    assert len(df) == len(world.users) and "deleted" in set(df["status"])


# --- faults -----------------------------------------------------------------------------------
def statuses(srv, n=40):
    out = []
    for _ in range(n):
        try:
            out.append(get(f"{srv.base_url}/crm/v3/owners/?limit=5")[0])
        except (http.client.HTTPException, OSError):
            out.append("cut")
    return out


def test_faults_are_deterministic_given_the_seed(world, sandbox):
    kw = dict(error_rate=0.3, drop_rate=0.2)
    a, b = statuses(sandbox(world, seed=7, **kw)), statuses(sandbox(world, seed=7, **kw))
    c = statuses(sandbox(world, seed=8, **kw))
    assert a == b != c
    assert {200, "cut"} <= set(a) and set(a) & {500, 502, 503, 504}


def test_drop_cuts_the_body_half_way(world, sandbox):
    srv = sandbox(world, drop_rate=1.0)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/crm/v3/owners/?limit=50", headers={"Authorization": f"Bearer {HS}"})
    resp = conn.getresponse()
    assert resp.status == 200
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    assert srv.stats["drops"] == 1


def test_cut_after_cuts_every_later_page(world, sandbox):
    srv = sandbox(world, cut_after=2)
    url = f"{srv.base_url}/crm/v3/owners/?limit=50"
    for _ in range(2):
        status, _, page = get(url)
        assert status == 200
        url = page["paging"]["next"]["link"]
    for _ in range(3):                                   # page 3 never arrives whole
        with pytest.raises((http.client.HTTPException, OSError)):
            get(url)
    assert srv.stats["cuts"] == 3


def test_latency_and_max_seconds(world):
    srv = SandboxServer(world.users, world.owners, hubspot_token=None, aloware_token=None,
                        latency_ms=150).start(max_seconds=1.0)
    t = time.monotonic()
    assert get(f"{srv.base_url}/crm/v3/owners/?limit=1", "x")[0] == 200
    assert time.monotonic() - t >= 0.15
    assert srv.wait(timeout=10)                            # it ends by itself
    with pytest.raises(OSError):
        get(f"{srv.base_url}/crm/v3/owners/?limit=1", "x")


def test_loopback_only_and_validated_options(world):
    with pytest.raises(ValueError):
        SandboxServer(world.users, world.owners, host="0.0.0.0")
    with pytest.raises(ValueError):
        SandboxServer(world.users, world.owners, error_rate=1.5)
    with SandboxServer(world.users, world.owners) as srv:
        assert srv._httpd.server_address[0] == "127.0.0.1"


def test_log_lines_never_carry_tokens(world, sandbox):
    lines = []
    srv = sandbox(world, log=lines.append, verbose=True, error_rate=0.5, seed=1)
    get(f"{srv.base_url}/api/v1/webhook/users?api_token={AL}", None)
    get(f"{srv.base_url}/api/v1/webhook/users?api_token=wrong-{AL}", None)
    get(f"{srv.base_url}/crm/v3/owners/?limit=2", HS)
    get(f"{srv.base_url}/crm/v3/owners/?limit=2", "bad-" + HS)
    assert len(lines) >= 4 and any("api_token=***" in line for line in lines)
    assert not any(HS in line or AL in line for line in lines)


def test_serves_a_snapshot_folder_and_extra_archived(world, sandbox, tmp_path):
    write_world(world, tmp_path / "snap")
    srv = SandboxServer.from_snapshot(tmp_path / "snap", hubspot_token=None, aloware_token=None)
    with srv:
        active, _ = list_all(srv, False, limit=500)
        assert len(active) == srv.counts["owners_active_listing"]
    extra = extra_archived_owners(world.owners, 30, seed=1)
    assert extra == extra_archived_owners(world.owners, 30, seed=1)     # deterministic
    assert len({o["id"] for o in extra} | {o["id"] for o in world.owners}) == 260 + 30
    srv = sandbox(users=world.users, owners=world.owners + extra)
    archived, _ = list_all(srv, True, limit=500)
    assert len(archived) == sum(o["archived"] for o in world.owners) + 30


def test_bad_sandbox_options_exit_2(capsys):
    assert cli.main(["sandbox", "--error-rate", "2"]) == 2
    assert "--error-rate" in capsys.readouterr().err
    assert cli.main(["sandbox", "--max-seconds", "0"]) == 2


# --- the command end to end -------------------------------------------------------------------
def _reader(stream, q):
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_usermap_sandbox_then_usermap_fetch(tmp_path):
    """Both commands as a user runs them; the sandbox demands the tokens of its environment."""
    env = dict(os.environ, **SANDBOX_TOKENS)
    cfg = tmp_path / "cfg" / "usermap.toml"
    sb = subprocess.Popen(
        [sys.executable, "-m", "usermap.launch", "sandbox", "--users", "120", "--seed", "5",
         "--max-seconds", "60", "--config-out", str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(sb.stdout, q), daemon=True).start()
    out_lines = []
    try:
        deadline = time.monotonic() + 30
        while not any(line.startswith("  ") and "usermap fetch" in line for line in out_lines):
            line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, sb.stderr.read()
            out_lines.append(line)
        base = re.search(r"http://127\.0\.0\.1:\d+", out_lines[0]).group(0)
        assert f'host = "{base}"' in cfg.read_text() and f'base_url = "{base}"' in cfg.read_text()
        assert (cfg.parent / "aloware_export.csv").exists()

        fetch = subprocess.run(
            [sys.executable, "-m", "usermap.launch", "fetch", "--config", str(cfg), "--out",
             str(tmp_path / "snap")], capture_output=True, text=True, env=env, cwd=ROOT,
            timeout=60)
        assert fetch.returncode == 0, fetch.stderr
        wrong = subprocess.run(
            [sys.executable, "-m", "usermap.launch", "fetch", "--config", str(cfg), "--out",
             str(tmp_path / "snap2")], capture_output=True, text=True, cwd=ROOT, timeout=60,
            env=dict(env, ALOWARE_API_TOKEN="alw-WRONG-TOKEN-0000"))
        assert wrong.returncode == 4 and not (tmp_path / "snap2").exists()
    finally:
        runkit.stop(sb, signal.SIGINT, timeout=15)
    err = sb.stderr.read()
    while (line := q.get(timeout=5)) is not None:
        out_lines.append(line)
    assert sb.returncode == 0, err
    assert "stopped after" in err

    from usermap.sources.snapshot import read_snapshot
    users, _ = read_snapshot(tmp_path / "snap")
    w = generate(120, seed=5)
    cols = ["id", "first_name", "last_name", "email", "status", "kind", "role"]
    pd.testing.assert_frame_equal(
        users[cols].astype(str).sort_values("id").reset_index(drop=True),
        w.users[cols].astype(str).sort_values("id").reset_index(drop=True))
    owners = json.loads((tmp_path / "snap" / "hubspot_owners.json").read_text(encoding="utf-8"))
    served = [dict(o, userId=None) if o["archived"] else o for o in w.owners]   # as HubSpot
    assert sorted(owners, key=lambda o: o["id"]) == sorted(served, key=lambda o: o["id"])

    everything = "".join(out_lines) + err + fetch.stdout + fetch.stderr + wrong.stdout + \
        wrong.stderr + "".join(p.read_text(encoding="utf-8", errors="replace")
                               for p in tmp_path.rglob("*") if p.is_file())
    for token in list(SANDBOX_TOKENS.values()) + ["alw-WRONG-TOKEN-0000"]:
        assert token not in everything


def test_sandbox_rate_limit_window_and_daily_limit_flags():
    from usermap.errors import InputError
    from usermap.cli import build_parser
    from usermap.sandbox.command import _check_args, _server_for
    args = build_parser().parse_args(["sandbox", "--users", "5", "--rate-limit", "3",
                                      "--rate-limit-window", "0.5", "--daily-limit", "7"])
    _check_args(args)
    srv, _ = _server_for(args)
    assert (srv.rate_limit, srv.rate_window, srv.daily_limit) == (3, 0.5, 7)
    for flag, value in (("--rate-limit-window", "0"), ("--daily-limit", "0")):
        bad = build_parser().parse_args(["sandbox", flag, value])
        with pytest.raises(InputError) as e:
            _check_args(bad)
        assert flag in str(e.value)
