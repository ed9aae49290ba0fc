"""Bad input (issue 10): control characters in CSV fields, duplicate keys in owner objects,
wrongly typed API answers, and real line numbers after quoted multi-line fields.

Each test here fails on the code before issue 10 (checked by running this file against that
commit): NUL cut fields silently, duplicate keys kept the last value, a list id became the
string "['1']", and rows after a multi-line field were numbered as records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SANDBOX_TOKENS  # noqa: F401  (the sandbox fixtures' tokens)
from usermap.config import Config
from usermap.errors import BadAnswerError, InputError, SourceError, exit_code_for
from usermap.sandbox.scenarios import generate
from usermap.sources.api import aloware
from usermap.sources.csv import read as csv_read
from usermap.sources.api.fetch import fetch_snapshot
from usermap.sources.api.retry import RetryPolicy
from usermap.sources import snapshot
from usermap.sources.owners.read import read_owners
from conftest import current_engine



def read_owners_json(path):
    return read_owners(path, engine=current_engine())


def read_users_csv(path):
    return snapshot.read_users_csv(path, engine=current_engine())


def read_mappings_csv(path):
    return snapshot.read_mappings_csv(path, engine=current_engine())


def read_csv_validated(path, *args, **kw):
    return csv_read.read_csv_validated(path, *args, engine=current_engine(), **kw)

pytestmark = [pytest.mark.issue(10), pytest.mark.usefixtures("engine")]  # both engines

H = "id,first_name,last_name,email,status,kind\n"
HN = "id,first_name,last_name,email,status,kind,notes\n"
MAP = "aloware_user_id,hubspot_owner_id,aloware_email,hubspot_email,method,mapped_at\n"


def refused(reader, tmp_path, content, name="f.csv") -> InputError:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(InputError) as e:
        reader(p)
    assert name in str(e.value)
    return e.value


# --- 1. control characters --------------------------------------------------------------------
@pytest.mark.parametrize("row_text, row, column", [
    ("1,Ann,Lee,a@x.com\0.evil,active,user\n", 2, "email"),           # pandas cut it at NUL
    ('1,Ann,Lee,"a@x.com\0.evil",active,user\n', 2, "email"),         # quoted too
    ("1\0,Ann,Lee,a@x.com,active,user\n", 2, "id"),
    ("1,Ann\x07,Lee,a@x.com,active,user\n", 2, "first_name"),         # BEL
    ("1,Ann,Lee\x1b[31m,a@x.com,active,user\n", 2, "last_name"),      # ESC (terminal codes)
    ("1,Ann\u0085,Lee,a@x.com,active,user\n", 2, "first_name"),       # C1 control (NEL)
    ("1,Ann,Lee,a@x.com\t,active,user\n", 2, "email"),                # tab in an e-mail
    ('1,Ann,Lee,"a@x.com\n",active,user\n', 2, "email"),              # LF in a quoted e-mail
    ('1,"Ann\r\nBob",Lee,a@x.com,active,user\n', 2, "first_name"),    # CRLF in a name
    ('1,Ann,Lee,a@x.com,active,user\n2,"B\nC",D,b@x.com,active,user\n', 3, "first_name"),
])
def test_control_characters_in_users_csv_are_refused(tmp_path, row_text, row, column):
    e = refused(read_users_csv, tmp_path, H + row_text, "aloware_users.csv")
    assert (e.row, e.column) == (row, column), str(e)
    assert "control character" in str(e)


def test_nul_in_the_header_names_row_1(tmp_path):
    e = refused(read_users_csv, tmp_path, "id,first\0_name,last_name,email,status,kind\n")
    assert e.row == 1 and "control character" in str(e)


def test_multiline_notes_in_a_column_usermap_does_not_read_are_accepted(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text(HN + '1,Ann,Lee,a@x.com,active,user,"first line\n\tsecond line"\n')
    df = read_users_csv(p)
    assert df["notes"].tolist() == ["first line\n\tsecond line"]
    assert df["email"].tolist() == ["a@x.com"]


def test_nul_in_an_extra_column_is_still_refused(tmp_path):
    e = refused(read_users_csv, tmp_path, HN + "1,Ann,Lee,a@x.com,active,user,x\0y\n")
    assert (e.row, e.column) == (2, "notes")


def test_control_characters_in_mappings_csv(tmp_path):
    e = refused(read_mappings_csv, tmp_path, MAP + "1,10\0,,,,\n")
    assert (e.row, e.column) == (2, "hubspot_owner_id")
    e = refused(read_mappings_csv, tmp_path, MAP + '1,10,"a@x.com\n",,,\n')
    assert (e.row, e.column) == (2, "aloware_email")


def test_control_characters_in_the_admin_export(tmp_path):
    e = refused(aloware.read_export, tmp_path, "id,status,kind,email\n1,active,user,a@x\0.com\n")
    assert (e.row, e.column) == (2, "email")
    e = refused(aloware.read_export, tmp_path, 'id,status,kind,name\n1,active,user,"A\nB"\n')
    assert (e.row, e.column) == (2, "name")


def test_nul_in_any_csv_read_through_read_csv_validated(tmp_path):
    """The activities CSV of the report goes through read_csv_validated too."""
    p = tmp_path / "act.csv"
    p.write_text("aloware_user_id,type,timestamp\n1\0,call,2026-01-01T00:00:00Z\n")
    with pytest.raises(InputError) as e:
        read_csv_validated(p, ("aloware_user_id", "type", "timestamp"))
    assert (e.value.row, e.value.column) == (2, "aloware_user_id")


# --- 4. real lines after quoted multi-line fields ---------------------------------------------
NOTES = '1,Ann,Lee,a@x.com,active,user,"line one\nline two\nline three"\n'   # lines 2-4


@pytest.mark.parametrize("rest, row, column, needle", [
    ("1,Bob,Kay,b@x.com,active,user,\n", 5, "id", "first on row 2"),
    ("2,Bob,Kay,b@x.com,retired,user,\n", 5, "status", "retired"),
    ("\n2,Bob,Kay,b@x.com,active,robot,\n", 6, "kind", "robot"),        # and a blank line
    ("2,Bob,Kay,b@x.com,active,user,x,y\n", 5, None, "found 8"),
    ("2,Bob,Kay\n", 5, "email", "short"),
    ('2,Bob,Kay,b@x.com,active,user,"never closed\n', 5, None, "never closed"),
    ("  ,Bob,Kay,b@x.com,active,user,\n", 5, "id", "empty value"),
    ("2,Bob,Kay,b\0@x.com,active,user,\n", 5, "email", "control character"),
])
def test_rows_after_a_multiline_field_name_the_real_line(tmp_path, rest, row, column, needle):
    e = refused(read_users_csv, tmp_path, HN + NOTES + rest)
    assert (e.row, e.column) == (row, column), str(e)
    assert needle in str(e)


def test_mappings_rows_after_a_multiline_field(tmp_path):
    text = (MAP.rstrip("\n") + ",note\n" + '1,10,,,,,"a\nb"\n' + "2,11,,,,yesterday,\n")
    e = refused(read_mappings_csv, tmp_path, text)
    assert (e.row, e.column) == (4, "mapped_at")


def test_frames_carry_no_per_row_line_information(tmp_path):
    p = tmp_path / "u.csv"
    p.write_text(HN + NOTES + "\n\n2,Bob,Kay,b@x.com,active,user,\n")
    assert read_users_csv(p).attrs == {}


# --- 2. duplicate keys in owner objects ---------------------------------------------------------
OWNER = {"id": "1", "email": "a@x.com", "firstName": "Ann", "lastName": "Lee", "userId": 5,
         "type": "PERSON", "archived": False}


def owner_text(i: int) -> str:
    return json.dumps({**OWNER, "id": str(i)})


@pytest.mark.parametrize("dup, key", [
    ('"email": "a@x.com", "email": "boss@x.com"', "email"),
    ('"id": "9", "id": "2"', "id"),
    ('"archived": true, "archived": false', "archived"),
    ('"teams": [{"id": "t", "id": "u"}]', "id"),                         # inside a nested object
])
def test_duplicate_key_in_an_owner_is_refused(tmp_path, dup, key):
    text = "[" + owner_text(1) + ",\n" + '{"id": "2", ' + dup + ', "userId": 6}' + "]"
    e = refused(read_owners_json, tmp_path, text, "hubspot_owners.json")
    assert (e.row, e.column) == (2, key), str(e)
    assert "twice" in str(e)


def test_duplicate_key_found_in_a_later_piece_of_a_large_file(tmp_path):
    """The big-file path (pieces of a few MB): the element number counts across pieces."""
    n = 40_000   # > 4 MB
    parts = [owner_text(i) for i in range(n)]
    parts[n - 3] = parts[n - 3][:-1] + ', "email": "evil@x.com"}'
    e = refused(read_owners_json, tmp_path, "[" + ",\n".join(parts) + "]", "hubspot_owners.json")
    assert (e.row, e.column) == (n - 2, "email")


def test_duplicate_key_found_on_the_element_by_element_path(tmp_path):
    """A string holding '}, {' makes the piece cut fail; the element path must check too."""
    parts = [owner_text(i) for i in range(40_000)]
    parts[5] = json.dumps({**OWNER, "id": "5", "lastName": "x}, {y"})
    parts[30_000] = parts[30_000][:-1] + ', "userId": 7}'
    e = refused(read_owners_json, tmp_path, "[" + ", ".join(parts) + "]", "hubspot_owners.json")
    assert (e.row, e.column) == (30_001, "userId")


# --- 3. wrongly typed API answers ---------------------------------------------------------------
FAST = RetryPolicy(attempts=2, total_seconds=20.0, backoff=0.005, backoff_max=0.02, max_wait=1.0,
                   connect_timeout=2.0, read_timeout=10.0)


@pytest.fixture(scope="module")
def world():
    return generate(40, seed=3, n_owners=60)


def config_for(srv, folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usermap.toml").write_text(srv.config_toml(users_csv=None), encoding="utf-8")
    return Config.load(folder / "usermap.toml")


@pytest.mark.parametrize("change, field", [
    ({"archived": "no"}, "archived"),
    ({"archived": 0}, "archived"),
    ({"id": ["1"]}, "id"),
    ({"id": {"v": 1}}, "id"),
    ({"id": True}, "id"),
    ({"email": 7}, "email"),
    ({"email": ["a@x.com"]}, "email"),
    ({"type": 5}, "type"),
    ({"userId": True}, "userId"),
    ({"userId": [1]}, "userId"),
    ({"firstName": {"a": 1}}, "firstName"),
])
def test_hubspot_owner_of_the_wrong_type_fails_the_fetch(world, sandbox, sandbox_tokens,
                                                        tmp_path, change, field):
    owners = [dict(o) for o in world.owners]
    owners[3].update(change)
    srv = sandbox(users=world.users, owners=owners)
    with pytest.raises(BadAnswerError) as e:
        fetch_snapshot(config_for(srv, tmp_path / "cfg"), tmp_path / "snap", policy=FAST)
    assert exit_code_for(e.value) == 4
    msg = str(e.value)
    assert "/crm/v3/owners/" in msg and f"field {field!r}" in msg, msg
    assert not (tmp_path / "snap").exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "cfg"]


@pytest.mark.parametrize("answer, needle", [
    (lambda items: {"users": items}, "expected a JSON array"),
    (lambda items: 5, "expected a JSON array"),
    (lambda items: [{**items[0], "id": ["1"]}] + items[1:], "field 'id'"),
    (lambda items: [{**items[0], "id": {"x": 1}}] + items[1:], "field 'id'"),
    (lambda items: [{**items[0], "id": False}] + items[1:], "field 'id'"),
    (lambda items: [{**items[0], "email": 7}] + items[1:], "field 'email'"),
    (lambda items: [{**items[0], "email": ["a"]}] + items[1:], "field 'email'"),
    (lambda items: [{**items[0], "name": {"first": "A"}}] + items[1:], "field 'name'"),
    (lambda items: [{**items[0], "email": "a@x.com\0.evil"}] + items[1:], "field 'email'"),
    (lambda items: [{**items[0], "name": "Ann\nLee"}] + items[1:], "field 'name'"),
    (lambda items: items + ["not a user"], "expected a user object"),
])
def test_aloware_answer_of_the_wrong_shape_fails_the_fetch(world, sandbox, sandbox_tokens,
                                                          tmp_path, answer, needle):
    srv = sandbox(world)
    items = json.loads(srv._aloware_body[False])
    srv._aloware_body[False] = json.dumps(answer(items)).encode("utf-8")
    with pytest.raises(BadAnswerError) as e:
        fetch_snapshot(config_for(srv, tmp_path / "cfg"), tmp_path / "snap", policy=FAST)
    assert exit_code_for(e.value) == 4 and isinstance(e.value, SourceError)
    assert "/api/v1/webhook/users" in str(e.value) and needle in str(e.value), str(e.value)
    assert "api_token" not in str(e.value)
    assert not (tmp_path / "snap").exists()


def test_bad_answer_through_the_cli_is_exit_4_and_writes_nothing(world, sandbox, sandbox_tokens,
                                                                 tmp_path):
    from test_corpus import run_cli
    owners = [dict(o) for o in world.owners]
    owners[0]["archived"] = "false"
    srv = sandbox(users=world.users, owners=owners)
    cfg = config_for(srv, tmp_path / "cfg")
    code, out, err = run_cli("fetch", "--out", tmp_path / "snap", "--config", tmp_path / "cfg" / "usermap.toml")
    assert code == 4, (code, out, err)
    assert "archived" in err and "/crm/v3/owners/" in err
    assert not (tmp_path / "snap").exists()


def test_bad_answer_error_is_in_the_tree():
    from usermap import errors
    assert issubclass(BadAnswerError, SourceError)
    assert "BadAnswerError" in errors.__doc__
    assert errors.exit_code_for_name("BadAnswerError") == 4
