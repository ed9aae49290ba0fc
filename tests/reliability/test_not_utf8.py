"""Issue 19 item 10: paths and arguments that are not UTF-8 exit 2 naming them (every command),
never exit 1; `usermap run` still writes its failure report (its config in a folder whose name
is not UTF-8); `usermap undo` with such an id exits 2. Real processes with bytes arguments."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import forkcli

BAD = b"x\xff\xfe"          # not UTF-8: Python hands it over as lone surrogates


def usermap(args, cwd, env=None):
    return forkcli.run(args, cwd=cwd, timeout=120, text=False,
                       env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})})


@pytest.fixture
def folder(tmp_path):
    assert usermap(["init", "--store", "s.db"], tmp_path).returncode == 0
    (tmp_path / "snap").mkdir()
    return tmp_path


CASES = {
    "init": ["init", "--store", BAD + b".db"],
    "audit snapshot": ["audit", BAD, "--store", "s.db", "--out", "a"],
    "audit out": ["audit", "snap", "--store", "s.db", "--out", BAD],
    "plan": ["plan", "snap", "--store", "s.db", "--out", BAD + b".json"],
    "apply": ["apply", BAD + b".json", "--store", "s.db"],
    "fetch": ["fetch", "--out", BAD],
    "report": ["report", "snap", "--store", "s.db", "--out", BAD + b".html"],
    "runs": ["runs", "--store", BAD + b".db"],
    "undo": ["undo", BAD, "--store", "s.db", "--out", "u.json"],
    "map": ["map", "1", BAD, "--store", "s.db"],
    "unmap": ["unmap", BAD, "--store", "s.db"],
    "mappings import": ["mappings", "import", BAD + b".csv", "--store", "s.db"],
    "mappings export": ["mappings", "export", "--store", "s.db", BAD + b".csv"],
    "config": ["runs", "--store", "s.db", "--config", BAD + b".toml"],
    "tab": ["tab", "--config", BAD + b".toml", "--port", "1"],
    "sandbox": ["sandbox", "--config-out", BAD + b".toml", "--max-seconds", "1"],
}


@pytest.mark.parametrize("case", CASES)
def test_an_argument_that_is_not_utf8_is_exit_2_naming_it(folder, case):
    before = sorted(p.name for p in folder.iterdir())
    p = usermap(CASES[case], folder)
    err = p.stderr.decode("utf-8")                   # the message itself is UTF-8
    assert p.returncode == 2, err
    assert "x\\xff\\xfe" in err and "is not UTF-8" in err
    assert sorted(p.name for p in folder.iterdir()) == before   # nothing written


def test_undo_with_such_an_id_is_exit_2(folder):
    p = usermap(["undo", b"2026\xff", "--store", "s.db", "--out", "u.json"], folder)
    assert p.returncode == 2
    assert "RUN_ID '2026\\xff' is not UTF-8" in p.stderr.decode()
    assert not (folder / "u.json").exists()


def test_run_in_such_a_folder_writes_its_failure_report(folder):
    site = Path(os.fsdecode(os.fsencode(str(folder)) + b"/" + BAD))
    site.mkdir()
    shutil.copy(folder / "s.db", site / "s.db")      # (`usermap init` refuses such a path)
    (site / "usermap.toml").write_text('[store]\npath = "s.db"\n[runs]\ndir = "runs"\n')
    p = usermap(["run", "--config", os.fsencode(str(site / "usermap.toml"))], folder,
                env={"HUBSPOT_ACCESS_TOKEN": "pat-1234", "ALOWARE_API_TOKEN": "al-1234"})
    out = p.stdout.decode("utf-8")
    assert p.returncode == 2, out + p.stderr.decode()
    assert "x\\xff\\xfe" in out and "is not UTF-8" in out
    (run_dir,) = [d for d in (site / "runs").iterdir() if d.is_dir()]
    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    assert info["exit_code"] == 2 and "is not UTF-8" in info["error_message"]
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "is not UTF-8" in page and "x\\xff\\xfe" in page
    assert not (run_dir / "audit.ipynb").exists()
    (run_dir / "run.log").read_text(encoding="utf-8")          # the log is UTF-8 too
