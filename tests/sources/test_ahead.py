"""The owners file read ahead in a forked child (usermap.sources.owners.prefetch): the same frame and the
same errors as reading it in the process, the child always reaped, never started where a fork
would be unsafe. Each case runs in a process of its own with no thread (the pytest process may
hold threads): forked from the worker's warm server, which has imported pandas and usermap and
runs no thread (tests/forkcli.py)."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

import forkcli

from usermap.sandbox.scenarios import generate, write_world

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(os, "memfd_create"),
                                reason="no fork/memfd here: the child is never started")


def _run(code: str, *args) -> dict:
    p = forkcli.python(textwrap.dedent(code), *args, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


PROBE = """
import json, os, sys
import pandas as pd
from usermap import workflow
from usermap.errors import InputError
from usermap.sources.owners import prefetch as ahead_mod
from usermap.sources.owners.read import read_owners
snap, how = sys.argv[1], sys.argv[2]
started = ahead_mod.start(os.path.join(snap, "hubspot_owners.json"))
pid = started.pid if started else None
out = {"started": started is not None}
if how == "leave":                      # never taken: close() kills and reaps it
    started.close()
else:
    try:
        got = read_owners(os.path.join(snap, "hubspot_owners.json"), prefetch=started)
        want = read_owners(os.path.join(snap, "hubspot_owners.json"), engine="exact")
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        out["rows"] = len(got)
    except InputError as e:
        out["error"] = str(e)
        out["want"] = None
        try:
            read_owners(os.path.join(snap, "hubspot_owners.json"), engine="exact")
        except InputError as e2:
            out["want"] = str(e2)
try:
    os.waitpid(pid, os.WNOHANG)
    out["reaped"] = False
except ChildProcessError:
    out["reaped"] = True
print(json.dumps(out))
"""


@pytest.fixture()
def snap(tmp_path):
    write_world(generate(300, seed=7, linked_share=0.5), tmp_path)
    return tmp_path


def test_the_child_gives_the_frame_the_process_reads(snap):
    out = _run(PROBE, snap, "take")
    assert out == {"started": True, "rows": out["rows"], "reaped": True} and out["rows"] > 0


@pytest.mark.parametrize("text", ['[{"id": "1", "email": "a@x.io"', '{"id": 1}',
                                  '[{"id": "1", "id": "2"}]', ""])
def test_a_file_the_child_declines_gives_the_same_error(snap, text):
    (snap / "hubspot_owners.json").write_text(text, encoding="utf-8")
    out = _run(PROBE, snap, "take")
    assert out["started"] and out["reaped"]
    assert out["error"] == out["want"] and "hubspot_owners.json" in out["error"]


def test_a_fifo_does_not_block_the_child(snap):
    os.unlink(snap / "hubspot_owners.json")
    os.mkfifo(snap / "hubspot_owners.json")
    out = _run(PROBE, snap, "take")
    assert out["started"] and out["reaped"] and out["error"] == out["want"]


def test_a_child_never_taken_is_killed_and_reaped(snap):
    out = _run(PROBE, snap, "leave")
    assert out == {"started": True, "reaped": True}


def test_no_child_while_threads_run(snap):
    out = _run("""
        import json, sys, threading, time
        from usermap.sources.owners.prefetch import start
        t = threading.Thread(target=time.sleep, args=(0.2,), daemon=True); t.start()
        print(json.dumps({"started": start(sys.argv[1]) is not None}))
        """, snap / "hubspot_owners.json")
    assert out == {"started": False}


def test_the_cli_plan_reads_ahead_and_gives_the_same_plan(snap, tmp_path_factory):
    """`usermap plan` as a process (the child at work) and in-process (no child: pytest may
    run threads) write the same changes."""
    from usermap import cli
    store = tmp_path_factory.mktemp("s") / "u.db"
    made = forkcli.run(["mappings", "import", snap / "mappings.csv", "--store", store,
                        "--create"], timeout=120)
    assert made.returncode == 0, made.stderr
    a, b = tmp_path_factory.mktemp("a") / "p.json", tmp_path_factory.mktemp("b") / "p.json"
    p = forkcli.run(["plan", snap, "--store", store, "--out", a], timeout=120)
    assert p.returncode == 0, p.stderr
    assert cli.main(["plan", str(snap), "--store", str(store), "--out", str(b)]) == 0
    changes = [json.loads(x.read_text())["changes"] for x in (a, b)]
    assert changes[0] == changes[1] and changes[0]


def test_peek_reads_a_current_store_and_declines_the_rest(tmp_path):
    from usermap.store.store import Store
    assert Store.peek(tmp_path / "none.db") is None
    (tmp_path / "empty.db").write_bytes(b"")
    assert Store.peek(tmp_path / "empty.db") is None
    assert (tmp_path / "empty.db").read_bytes() == b""          # nothing written
    (tmp_path / "junk.db").write_bytes(b"not sqlite" * 100)
    assert Store.peek(tmp_path / "junk.db") is None
    store, _ = Store.init(tmp_path / "u.db")
    store.close()
    before = (tmp_path / "u.db").read_bytes()
    links, revision, store_id = Store.peek(tmp_path / "u.db")
    with Store.open(tmp_path / "u.db") as s:
        assert (revision, store_id) == (s.revision, s.store_id) and len(links) == 0
    assert (tmp_path / "u.db").read_bytes() == before


def test_a_command_that_stops_before_reading_reaps_its_child(snap):
    """`usermap audit` with a bad config stops (exit 2) before it reads the snapshot: the child
    handed to it is reaped when main() returns, not left for the interpreter's exit."""
    out = _run("""
        import json, os, sys
        from usermap import cli
        from usermap.sources.owners import prefetch as ahead
        bad = os.path.join(sys.argv[1], "bad.toml")
        open(bad, "w").write("[aloware\\n")
        assert cli.main(["init", "--store", os.path.join(sys.argv[1], "s.db")]) == 0
        child = ahead.start(os.path.join(sys.argv[1], "hubspot_owners.json"))
        code = cli.main(["audit", sys.argv[1], "--store", os.path.join(sys.argv[1], "s.db"),
                         "--out", os.path.join(sys.argv[1], "out"), "--config", bad],
                        prefetch=child)
        try:
            os.waitpid(-1, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            reaped = True
        print(json.dumps({"code": code, "started": child is not None, "reaped": reaped}))
        """, snap)
    assert out == {"code": 2, "started": True, "reaped": True}, out


def test_ids_past_64_bits_and_shared_names_through_the_child(snap):
    """msgpack carries no integer past 64 bits: the child declines and the parent reads the
    file; names come back one string per distinct name."""
    path = snap / "hubspot_owners.json"
    owners = json.loads(path.read_text(encoding="utf-8"))
    out = _run(PROBE, snap, "take")
    assert out["started"] and out["rows"] == len(owners)
    shared = _run("""
        import json, os, sys
        from usermap.sources.owners import prefetch as ahead_mod
        from usermap.sources.owners.read import read_owners
        p = os.path.join(sys.argv[1], "hubspot_owners.json")
        frame = read_owners(p, prefetch=ahead_mod.start(p))
        names = frame["first_name"]
        print(json.dumps([len(set(map(id, names))), names.nunique()]))
        """, snap)
    assert shared[0] == shared[1]
    owners[0]["id"] = 123456789012345678901234567890
    path.write_text(json.dumps(owners), encoding="utf-8")
    out = _run(PROBE, snap, "take")
    assert out["started"] and out["reaped"] and out["rows"] == len(owners)
