"""The owners file's readers (usermap/sources/owners/): one entry, exact and fast beside each other
(issue 18), and the classes of issue 19 they must refuse the same way under both engines:
whitespace that JSON does not allow (item 6), a file that changes while read (item 7), a key given
twice (item 5), a lone surrogate (item 11); and the read-ahead child's three answers."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

import forkcli

from usermap.errors import InputError, exit_code_for
from usermap.sources.owners import fast, prefetch
from usermap.sources.owners.dupkeys import repeated_key
from usermap.sources.owners.read import read_owners

pytestmark = [pytest.mark.issue(18), pytest.mark.issue(19)]

ENV = dict(os.environ)
OWNER = {"id": "1", "email": "a@x.com", "firstName": "Ann", "lastName": "Lee", "userId": 5,
         "userIdIncludingInactive": 5, "type": "PERSON", "archived": False,
         "createdAt": "2020-01-02T03:04:05.678Z", "updatedAt": "2021-01-02T03:04:05.678Z",
         "teams": [{"id": "7", "name": "Sales", "primary": True}]}
ALL = ("exact", "fast", "auto")


def owners_text(n=3) -> list[str]:
    return [json.dumps({**OWNER, "id": str(i + 1), "email": f"u{i}@x.com"}) for i in range(n)]


# --- item 6: JSON's whitespace is four characters ---------------------------------------------
NOT_JSON_SPACE = {"NBSP": "\u00a0", "LINE SEPARATOR": "\u2028", "IDEOGRAPHIC SPACE": "\u3000",
                  "FORM FEED": "\f", "NEL": "\u0085", "VERTICAL TAB": "\v"}


def _placed(ws: str, where: str) -> str:
    a, b, c = owners_text()
    return {"before the array": ws + "[" + ",".join([a, b, c]) + "]",
            "after the array": "[" + ",".join([a, b, c]) + "]" + ws,
            "between elements": "[" + a + ws + "," + b + "," + ws + c + "]",
            "after the bracket": "[" + ws + a + "," + b + "," + c + "]",
            "inside an object": "[" + a + "," + b.replace('"email":', '"email"' + ws + ":")
                                + "," + c + "]"}[where]


@pytest.mark.parametrize("engine", ALL)
@pytest.mark.parametrize("where", ["before the array", "after the array", "between elements",
                                   "after the bracket", "inside an object"])
@pytest.mark.parametrize("name", list(NOT_JSON_SPACE))
def test_whitespace_json_does_not_allow_is_refused(tmp_path, engine, where, name):
    text = _placed(NOT_JSON_SPACE[name], where)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    p = tmp_path / "hubspot_owners.json"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_owners(p, engine=engine)
    assert str(p) in str(e.value) and exit_code_for(e.value) == 2


@pytest.mark.parametrize("engine", ALL)
def test_json_whitespace_is_fine(tmp_path, engine):
    a, b, c = owners_text()
    p = tmp_path / "hubspot_owners.json"
    p.write_text(" \r\n\t[ \n" + a + " \t,\r\n" + b + ",\n\n" + c + "\n]\n\t ", encoding="utf-8")
    assert list(read_owners(p, engine=engine)["id"]) == ["1", "2", "3"]


# --- item 5: a key given twice, whatever its place --------------------------------------------
def _dup(order: str) -> str:
    first, second = ('"email":"a@x.com"', '"email":"evil@x.com"')
    if order == "first and last":
        return '{"email":"a@x.com","id":"9","type":"PERSON","archived":false,"email":"b@x.com"}'
    if order == "side by side":
        return '{"id":"9",' + first + "," + second + ',"type":"PERSON","archived":false}'
    return ('{"id":"9","email":"a@x.com","teams":[{"id":"1","name":"A","name":"B"}],'
            '"type":"PERSON","archived":false}')


@pytest.mark.parametrize("engine", ALL)
@pytest.mark.parametrize("order", ["first and last", "side by side", "in a team"])
@pytest.mark.parametrize("place", [0, 1, 2999])
def test_a_repeated_key_is_refused_naming_owner_and_key(tmp_path, engine, order, place):
    texts = owners_text(3000)   # (several pieces of the fast reader)
    texts[place] = _dup(order)
    p = tmp_path / "hubspot_owners.json"
    p.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_owners(p, engine=engine)
    assert e.value.row == place + 1 and "appears twice" in str(e.value)
    assert e.value.column == ("name" if order == "in a team" else "email")


@pytest.mark.parametrize("layout", ["results first", "paging first", "a bare array"])
def test_repeated_key_finds_it_in_every_page_layout(layout):
    owners = owners_text(5)
    owners[3] = _dup("side by side")
    results = "[" + ",".join(owners) + "]"
    body = {"results first": '{"results":' + results + ',"paging":null}',
            "paging first": '{"paging":{"next":{"after":"x"}},"results":' + results + '}',
            "a bare array": results}[layout].encode()
    assert repeated_key(body, json.loads(body)) == (4, "email")
    clean = body.replace(b',"email":"evil@x.com"', b"")
    assert repeated_key(clean, json.loads(clean)) is None
    tricky = clean.replace(b'"Ann"', b'"A\\": \\"nn"')   # a '":' inside a string: no repeat
    assert repeated_key(tricky, json.loads(tricky)) is None


# --- item 11 (reading side): a lone surrogate -------------------------------------------------
@pytest.mark.parametrize("engine", ALL)
def test_a_lone_surrogate_is_refused_naming_the_owner(tmp_path, engine):
    texts = owners_text(3)
    texts[1] = texts[1].replace('"Ann"', '"A\\ud800nn"')
    p = tmp_path / "hubspot_owners.json"
    p.write_text("[" + ",".join(texts) + "]", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_owners(p, engine=engine)
    assert (e.value.row, e.value.column) == (2, "firstName")


# --- item 7: a file that changes while it is read ----------------------------------------------
_OWNER = ('{"id":"%d","email":"u%d@example.com","firstName":"F%d","lastName":"L%d",'
          '"userId":%d,"userIdIncludingInactive":%d,"type":"PERSON","archived":false,'
          '"createdAt":"2020-01-01T00:00:00Z","updatedAt":"2020-01-01T00:00:00Z","teams":[]}')


@pytest.fixture(scope="module")
def big_text():
    n = 200_000
    return "[" + ",".join([_OWNER % (i, i, i % 100, i % 50, i, i) for i in range(n)]) + "]"


def _truncate_when_open(proc, path: Path) -> bool:
    """Truncate ``path`` to half as soon as ``proc`` (or a child of it) has it open; True when
    that happened while it was open."""
    size = path.stat().st_size
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        pids = [proc.pid]
        try:
            pids += [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
                     .read_text().split()]
        except OSError:
            pass
        for pid in pids:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                        os.truncate(path, size // 2)
                        return True
                except OSError:
                    pass
        time.sleep(0.0005)
    return False


LOAD = textwrap.dedent("""
    import json, sys
    from usermap import workflow
    from usermap.errors import InputError, exit_code_for
    try:
        data = workflow.load(sys.argv[1], sys.argv[2], create=True, engine=sys.argv[3])
        print(json.dumps({"rows": len(data.owners)}))
    except InputError as e:
        print(json.dumps({"error": str(e), "code": exit_code_for(e)}))
    """)


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("engine", ["fast", "exact"])
@pytest.mark.parametrize("how", ["notebook", "cli"])
def test_a_file_truncated_while_read_is_exit_2_naming_it(tmp_path, big_text, engine, how):
    """workflow.load (as the notebooks call it) and `usermap plan`: never killed by SIGBUS."""
    from usermap.sandbox.scenarios import generate, write_world
    write_world(generate(30, seed=2), tmp_path / "snap")
    owners = tmp_path / "snap" / "hubspot_owners.json"
    caught = 0
    for attempt in range(3):
        owners.write_text(big_text, encoding="utf-8")
        store = tmp_path / f"u{attempt}.db"
        env = {**ENV, "USERMAP_ENGINE": engine}
        if how == "notebook":
            proc = forkcli.start_python(LOAD, tmp_path / "snap", store, engine, env=env)
        else:
            made = forkcli.run(["init", "--store", str(store)], env=ENV, timeout=60)
            assert made.returncode == 0, made.stderr
            proc = forkcli.start(["plan", tmp_path / "snap", "--store", store,
                                  "--out", tmp_path / f"p{attempt}.json"], env=env)
        during = _truncate_when_open(proc, owners)
        done = proc.wait(timeout=120)
        out, err = done.stdout, done.stderr
        assert done.returncode >= 0, f"killed by signal {-done.returncode}: {err}"
        if not during:
            continue
        caught += 1
        if how == "notebook":
            got = json.loads(out.strip().splitlines()[-1])
            assert got.get("code") == 2 and str(owners) in got["error"], got
        else:
            assert done.returncode == 2 and str(owners) in err, (done.returncode, err)
        break
    assert caught, "the file was never truncated while it was open"


# --- the read-ahead child: declined, crashed, or columns ---------------------------------------
def _calls_of(fn, name: str) -> int:
    """How many times a function called ``name`` ran while ``fn()`` did (sys.setprofile)."""
    seen = []

    def prof(frame, event, arg):
        if event == "call" and frame.f_code.co_name == name:
            seen.append(1)
    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return len(seen)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="no fork/memfd: no child")
def test_the_child_declines_and_the_parent_goes_straight_to_exact(tmp_path):
    texts = owners_text(50)
    texts[7] = _dup("side by side")
    p = tmp_path / "hubspot_owners.json"
    p.write_text("[" + ",".join(texts) + "]", encoding="utf-8")
    probe = textwrap.dedent("""
        import json, sys
        from usermap.sources.owners import prefetch
        child = prefetch.start(sys.argv[1])
        print(json.dumps(child.take() == prefetch.DECLINED))
        """)
    got = forkcli.python(probe, p, timeout=60)
    assert got.stdout.strip() == "true", got.stderr

    class Declined:   # what a child that declined answers (seen above)
        path = p

        def take(self):
            return prefetch.DECLINED

        def close(self):
            pass

    class Crashed(Declined):
        def take(self):
            return None

    def read(handle):
        with pytest.raises(InputError) as e:
            read_owners(p, engine="fast", prefetch=handle)
        assert e.value.row == 8
    assert _calls_of(lambda: read(Declined()), "owner_columns") == 0
    assert _calls_of(lambda: read(Crashed()), "owner_columns") == 1


def test_the_fast_reader_never_raises_and_lists_what_it_leaves(tmp_path):
    assert fast.NOT_VOUCHED and all(isinstance(x, str) for x in fast.NOT_VOUCHED)
    for text in ["", "{}", "[1]", '[{"id":"1","id":"2"}]', "[" + "\u00a0" + "]", "[{]"]:
        p = tmp_path / "o.json"
        p.write_text(text, encoding="utf-8")
        assert fast.owner_columns(p) is None
    assert fast.owner_columns(tmp_path / "missing.json") is None
