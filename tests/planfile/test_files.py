"""usermap.files: atomic writes, output-path checks, CSV for people, the plan file."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from usermap import files, planfile
from usermap.engine import plan as planmod
from usermap.engine.changes import ChangeTable
from usermap.errors import InputError, PlanFileError
from usermap.engine.models import (
    ADD, L_A_EMAIL, L_H_EMAIL, L_MAPPED_AT, L_METHOD, L_OWNER, L_USER, LINK_COLUMNS, Change, Plan,
)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


# --- write_atomic -------------------------------------------------------------------------------
def test_write_atomic_file_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        files.write_atomic(target, boom)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_write_atomic_folder_is_owner_only_and_replaces(tmp_path):
    target = tmp_path / "snap"
    target.mkdir()
    (target / "stale.txt").write_text("x")

    def write(tmp):
        (tmp / "a.csv").write_text("a\n")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "b.txt").write_text("b")
    files.write_atomic(target, write)
    assert sorted(p.name for p in target.iterdir()) == ["a.csv", "sub"]
    assert _mode(target) == 0o700 and _mode(target / "a.csv") == 0o600
    assert _mode(target / "sub") == 0o700 and _mode(target / "sub" / "b.txt") == 0o600


def test_snapshot_write_atomic_is_the_same_function():
    from usermap.sources import snapshot
    assert snapshot.write_atomic is files.write_atomic


# --- output paths -------------------------------------------------------------------------------
def test_check_output_file_accepts_a_new_file(tmp_path):
    assert files.check_output_file(tmp_path / "new" / "plan.json") == tmp_path / "new" / "plan.json"
    (tmp_path / "exists.json").write_text("{}")
    assert files.check_output_file(tmp_path / "exists.json") == tmp_path / "exists.json"


def test_check_output_file_refuses_a_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder") as e:
        files.check_output_file(tmp_path)
    assert e.value.file == str(tmp_path) and e.value.exit_code == 2


def test_check_output_file_refuses_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        files.check_output_file(tmp_path / "f" / "plan.json")
    with pytest.raises(InputError, match="is a file, not a folder"):
        files.check_output_file(tmp_path / "f" / "deeper" / "plan.json")


@pytest.mark.parametrize("what", ["store", "config"])
def test_check_output_file_refuses_the_store_and_config(tmp_path, what):
    protected = tmp_path / f"{what}.file"
    protected.write_text("keep")
    with pytest.raises(InputError, match=f"would overwrite the {what}"):
        files.check_output_file(protected, protected={what: protected})
    # the same file under another spelling, and through a symbolic link
    with pytest.raises(InputError, match=f"would overwrite the {what}"):
        files.check_output_file(tmp_path / "." / protected.name, protected={what: protected})
    link = tmp_path / "link"
    link.symlink_to(protected)
    with pytest.raises(InputError, match=f"would overwrite the {what}"):
        files.check_output_file(link, protected={what: protected})
    assert protected.read_text() == "keep"


def test_check_output_file_protected_may_not_exist_yet(tmp_path):
    db = tmp_path / "new.db"
    with pytest.raises(InputError, match="would overwrite the store"):
        files.check_output_file(db, protected={"store": db, "config": None})
    files.check_output_file(tmp_path / "other.db", protected=[db, None])


def test_check_output_folder(tmp_path):
    assert files.check_output_folder(tmp_path / "out") == tmp_path / "out"
    assert files.check_output_folder(tmp_path) == tmp_path          # an existing folder is fine
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="is a file; a folder is expected"):
        files.check_output_folder(tmp_path / "f")
    with pytest.raises(InputError, match="is a file, not a folder"):
        files.check_output_folder(tmp_path / "f" / "out")


def test_check_output_folder_refuses_a_folder_holding_the_store(tmp_path):
    store = tmp_path / "data" / "usermap.db"
    store.parent.mkdir()
    store.write_text("")
    for out in (tmp_path / "data", tmp_path, tmp_path / "data" / ".." / "data"):
        with pytest.raises(InputError, match="would overwrite the store"):
            files.check_output_folder(out, protected={"store": store})
    files.check_output_folder(tmp_path / "data2", protected={"store": store})
    with pytest.raises(InputError, match="would overwrite the config"):
        files.check_output_folder(tmp_path / "cfg.toml", protected={"config": tmp_path / "cfg.toml"})


def test_check_output_empty_path():
    with pytest.raises(InputError):
        files.check_output_file("")
    with pytest.raises(InputError):
        files.check_output_folder("")


# --- CSV for people -----------------------------------------------------------------------------
def test_write_csv_owner_only_and_newlines(tmp_path):
    df = pd.DataFrame({"a": ["x", "é, y"], "b": ["1", ""]})
    p = files.write_csv(df, tmp_path / "t.csv")
    assert p.read_bytes() == 'a,b\nx,1\n"é, y",\n'.encode("utf-8")
    assert _mode(p) == 0o600
    files.write_csv(df, p, columns=["b"])
    assert p.read_text(encoding="utf-8") == "b\n1\n\"\"\n"   # pandas quotes a lone empty field
    assert _mode(p) == 0o600


def test_write_csv_matches_pandas_default(tmp_path):
    df = pd.DataFrame({"id": ["1", "2"], "email": ["A@x.com", "b@y.io"]})
    files.write_csv(df, tmp_path / "a.csv")
    df.to_csv(tmp_path / "b.csv", index=False, lineterminator="\n")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


# --- the plan file ------------------------------------------------------------------------------
def _plan(n: int = 3) -> Plan:
    changes = []
    for i in range(n):
        after = {c: "" for c in LINK_COLUMNS}
        after.update({L_USER: str(i), L_OWNER: str(100 + i), L_A_EMAIL: f"u{i}@x.com",
                      L_H_EMAIL: f"u{i}@x.com", L_METHOD: "email",
                      L_MAPPED_AT: "2025-01-01T00:00:00Z"})
        changes.append(Change(ADD, str(i), str(100 + i), None, after, "email_match", "match"))
    return Plan(changes=ChangeTable.from_changes(changes), store_revision=1, fingerprint="sha256:0",
                current_links=0, created_at="2025-01-01T00:00:00Z")


def test_plan_file_round_trip_and_same_text(tmp_path):
    p = _plan()
    out = planfile.write_plan(p, tmp_path / "plan.json")
    assert out.read_text(encoding="utf-8") == planfile.plan_to_json(p)
    back = planfile.read_plan(out)
    assert back.changes == p.changes and back.store_revision == 1
    assert planfile.plan_to_json(back) == planfile.plan_to_json(p)


def test_read_plan_errors(tmp_path):
    with pytest.raises(PlanFileError, match="not found"):
        planfile.read_plan(tmp_path / "missing.json")
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe")
    with pytest.raises(PlanFileError, match="not UTF-8"):
        planfile.read_plan(tmp_path / "bin.json")


def test_plan_module_writes_no_file():
    # the pure core has no file I/O: the plan file is read and written by usermap.planfile only
    assert not hasattr(planmod, "write_plan") and not hasattr(planmod, "read_plan")
