"""Issue 19 item 13: a missing token is named as an environment variable with the command that
sets it ("HUBSPOT_ACCESS_TOKEN is not set: `export HUBSPOT_ACCESS_TOKEN=…`"), never as a
"column"; `usermap run` checks it before any notebook starts (no kernel, no notebook in the run
folder), and its failure report and run.json give the same words; redaction keeps the hint."""

from __future__ import annotations

import json
import os

import pytest

import forkcli

from usermap.redact import redact

HINT_BOTH = ("HUBSPOT_ACCESS_TOKEN and ALOWARE_API_TOKEN are not set: "
             "`export HUBSPOT_ACCESS_TOKEN=… ALOWARE_API_TOKEN=…`")
HINT_HS = "HUBSPOT_ACCESS_TOKEN is not set: `export HUBSPOT_ACCESS_TOKEN=…`"


def _env(**set_):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")}
    return env | set_


def _usermap(args, env, cwd):
    return forkcli.run(args, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def folder(tmp_path):
    p = _usermap(["init", "--store", "s.db"], _env(), tmp_path)
    assert p.returncode == 0, p.stderr
    (tmp_path / "usermap.toml").write_text('[store]\npath = "s.db"\n[runs]\ndir = "runs"\n')
    return tmp_path


@pytest.mark.parametrize("have, hint", [({}, HINT_BOTH),
                                        ({"ALOWARE_API_TOKEN": "al-1234567"}, HINT_HS)])
def test_run_without_a_token_stops_before_any_notebook(folder, have, hint):
    p = _usermap(["run", "--config", "usermap.toml", "--apply"], _env(**have), folder)
    assert p.returncode == 2, p.stdout + p.stderr
    assert hint in p.stdout and "column" not in p.stdout
    (run_dir,) = [d for d in (folder / "runs").iterdir() if d.is_dir()]
    assert not (run_dir / "audit.ipynb").exists() and not (run_dir / "kernel.log").exists()
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["exit_code"] == 2 and info["status"] == "failed"
    assert hint in info["error_message"]
    eml = (run_dir / "notification.eml").read_bytes()
    assert b"export HUBSPOT_ACCESS_TOKEN=" in eml.replace(b"=\n", b"")
    assert "=***" not in p.stdout


def test_the_failure_reports_advice_is_the_same_words(folder):
    import html
    _usermap(["run", "--config", "usermap.toml"], _env(), folder)
    (run_dir,) = [d for d in (folder / "runs").iterdir() if d.is_dir()]
    page = html.unescape((run_dir / "report.html").read_text(encoding="utf-8"))
    assert page.count(HINT_BOTH) == 2               # the error, and the first thing to do
    assert "=***" not in page


def test_fetch_names_the_variable(folder):
    p = _usermap(["fetch", "--out", "snap"], _env(ALOWARE_API_TOKEN="al-1234567"), folder)
    assert p.returncode == 2
    assert HINT_HS in p.stderr and "column" not in p.stderr


def test_a_token_with_a_space_inside_names_the_variable(folder):
    p = _usermap(["fetch", "--out", "snap"],
                 _env(HUBSPOT_ACCESS_TOKEN="pat na1", ALOWARE_API_TOKEN="al-1234567"), folder)
    assert p.returncode == 2
    assert "environment variable HUBSPOT_ACCESS_TOKEN" in p.stderr
    assert "column" not in p.stderr and "pat na1" not in p.stderr


@pytest.mark.parametrize("text", [HINT_BOTH, HINT_HS, "e.g. `export ALOWARE_API_TOKEN=...`",
                                  "set ACCESS_TOKEN=… first"])
def test_redaction_keeps_the_hint(text):
    assert redact(text) == text


@pytest.mark.parametrize("text, masked", [
    ("GET /users?api_token=abc123secret&x=1", "GET /users?api_token=***&x=1"),
    ("HUBSPOT_ACCESS_TOKEN=pat-na1-9f8e7d", "HUBSPOT_ACCESS_TOKEN=***"),
    ("token=…secret", "token=***"),
    ("access_token=...abc", "access_token=***"),
])
def test_redaction_still_masks_values(text, masked):
    assert redact(text) == masked
