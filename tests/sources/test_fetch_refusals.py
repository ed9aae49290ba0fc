"""`usermap fetch` never writes a snapshot a later command refuses (issue 19 items 5 and 11): an
owner object with a key given twice, wherever it is, and a lone UTF-16 surrogate in any name from
either API are exit 4 naming the record, and nothing is written. A clean fetch still plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usermap.config import Config
from usermap.errors import BadAnswerError, SourceError, exit_code_for
from usermap.sandbox.scenarios import generate
from usermap.sources.api.fetch import fetch_snapshot
from usermap.sources.api.retry import RetryPolicy

pytestmark = pytest.mark.issue(19)

FAST = RetryPolicy(attempts=2, total_seconds=30.0, backoff=0.005, backoff_max=0.02,
                   max_wait=1.0, connect_timeout=2.0, read_timeout=10.0)


@pytest.fixture(scope="module")
def world():
    return generate(40, seed=3, n_owners=60)


def config_for(srv, folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usermap.toml").write_text(srv.config_toml(users_csv=None), encoding="utf-8")
    return Config.load(folder / "usermap.toml")


def _serve_raw(srv, index: int, raw: bytes) -> str:
    """Serve owner ``index`` of the active listing as the bytes ``raw`` (text the sandbox's
    encoder cannot make); returns its id."""
    owner, _ = srv._listing[False][index]
    srv._listing[False][index] = (owner, raw)
    return str(owner["id"])


def _owner_bytes(owner: dict) -> str:
    return json.dumps(owner, separators=(",", ":"))


@pytest.mark.parametrize("where", ["first key", "last key", "in a team"])
@pytest.mark.parametrize("index", [0, 17, -1])
def test_a_repeated_key_fails_the_fetch_naming_owner_and_key(world, sandbox, sandbox_tokens,
                                                           tmp_path, where, index):
    srv = sandbox(world)
    owner = dict(srv._listing[False][index][0], teams=[{"id": "1", "name": "A",
                                                        "primary": True}])
    text = _owner_bytes(owner)
    if where == "first key":
        text = '{"email":"evil@x.com",' + text[1:]
    elif where == "last key":
        text = text[:-1] + ',"email":"evil@x.com"}'
    else:
        text = text.replace('"name":"A"', '"name":"A","name":"B"')
    oid = _serve_raw(srv, index, text.encode())
    with pytest.raises(BadAnswerError) as e:
        fetch_snapshot(config_for(srv, tmp_path / "cfg"), tmp_path / "snap", policy=FAST,
                       page_limit=7)
    msg = str(e.value)
    assert exit_code_for(e.value) == 4
    assert "appears twice" in msg and ("'name'" if where == "in a team" else "'email'") in msg
    assert "element" in msg, msg
    assert not (tmp_path / "snap").exists(), oid


@pytest.mark.parametrize("api", ["hubspot", "aloware"])
def test_a_lone_surrogate_fails_the_fetch_naming_the_record(world, sandbox, sandbox_tokens,
                                                          tmp_path, api):
    srv = sandbox(world)
    if api == "hubspot":
        owner = srv._listing[False][5][0]
        text = _owner_bytes({**owner, "firstName": "PLACEHOLDER"}).replace(
            "PLACEHOLDER", "A\\ud800")
        oid = _serve_raw(srv, 5, text.encode())
        field = "firstName"
    else:
        items = json.loads(srv._aloware_body[False])
        items[3]["name"] = "Ann \ud800Lee"
        oid = str(items[3]["id"])
        srv._aloware_body[False] = json.dumps(items).encode("utf-8")   # (escaped: ASCII)
        field = ""
    with pytest.raises(SourceError) as e:
        fetch_snapshot(config_for(srv, tmp_path / "cfg"), tmp_path / "snap", policy=FAST)
    msg = str(e.value)
    assert exit_code_for(e.value) == 4 and "surrogate" in msg and repr(oid) in msg, msg
    assert field in msg
    assert not (tmp_path / "snap").exists()


def test_a_surrogate_pair_is_a_character_and_fetches(world, sandbox, sandbox_tokens, tmp_path):
    """"\\ud83d\\ude00" is one character (an emoji): fetched, written, read back."""
    from usermap.sources.owners.read import read_owners
    srv = sandbox(world)
    owner = srv._listing[False][5][0]
    text = _owner_bytes({**owner, "firstName": "PLACEHOLDER"}).replace(
        "PLACEHOLDER", "A\\ud83d\\ude00")
    _serve_raw(srv, 5, text.encode())
    fetch_snapshot(config_for(srv, tmp_path / "cfg"), tmp_path / "snap", policy=FAST)
    owners = read_owners(tmp_path / "snap" / "hubspot_owners.json", engine="exact")
    assert "A\U0001F600" in set(owners["first_name"])
