"""A corpus of broken inputs (issue 6): each with the exit code and the message it must give, and
proof that nothing was written.

Every case feeds one broken file to the command that reads it (`plan` for snapshot files, `audit
--config` for usermap.toml, `apply` for plan files, `mappings import` for mappings CSVs) against
a store that already holds links. It asserts the exact exit code (2 for bad input, plan files
included), that the message names the file and, where it applies, the row and the column, that
no traceback or secret is shown, and that every file in the case's folder (store included) is
byte for byte as before, with no new file.

The command runs in this process (``cli.main``: the same code path and exit code as the
console script, ~30x faster than a process per case); ``test_a_sample_gives_the_same_in_a_real
_process`` runs one case of each kind as a real `usermap` process and expects the same.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runkit import run_cli

from test_cli import usermap

pytestmark = [pytest.mark.issue(6), pytest.mark.usefixtures("engine")]  # both engines

# --- the good inputs every case starts from ---------------------------------------------------
GOOD_USERS = ("id,first_name,last_name,email,status,kind\n"
              "1,Ann,Lee,a@x.com,active,user\n"
              "2,Bob,Kay,b@x.com,deleted,user\n"
              "3,Cy,Moe,c@x.com,active,user\n")
GOOD_OWNERS = json.dumps([
    {"id": "10", "email": "a@x.com", "firstName": "Ann", "lastName": "Lee", "userId": 1010,
     "userIdIncludingInactive": 1010, "type": "PERSON", "archived": False},
    {"id": "11", "email": "b@x.com", "firstName": "Bob", "lastName": "Kay", "userId": 1011,
     "userIdIncludingInactive": 1011, "type": "PERSON", "archived": False},
    {"id": "12", "email": "c@x.com", "firstName": "Cy", "lastName": "Moe", "userId": 1012,
     "userIdIncludingInactive": 1012, "type": "PERSON", "archived": False},
], indent=1)
MAP_HEADER = "aloware_user_id,hubspot_owner_id,aloware_email,hubspot_email,method,mapped_at\n"
GOOD_LINKS = (MAP_HEADER + "1,10,a@x.com,a@x.com,email,2026-01-01T00:00:00Z\n"
              "2,11,b@x.com,b@x.com,email,2026-01-01T00:00:00Z\n")
H = "id,first_name,last_name,email,status,kind\n"
G = H + "1,Ann,Lee,a@x.com,active,user\n"
SECRET = "pat-na1-CORPUS-SECRET-0badc0de"   # a token someone pasted into usermap.toml
OWNER = ('{"id": "%s", "email": "a@x.com", "firstName": "Ann", "userId": 1, "type": "PERSON", '
         '"archived": false}')


@dataclass
class Case:
    id: str
    kind: str                      # users | owners | config | plan | mappings
    content: object                # bytes, str, a callable (good plan text -> text), or None
    needles: tuple = ()            # substrings the error message must contain
    code: int = 2
    absent: tuple = field(default=())  # substrings it must not contain


def _forge(text: str, **changes) -> str:
    """Edit the plan's JSON and recompute a valid checksum (what a determined hand could do)."""
    doc = json.loads(text)
    doc.pop("checksum")
    doc.update(changes)
    body = "{\n" + "".join(f" {json.dumps(k)}: {json.dumps(doc[k])},\n" for k in sorted(doc))
    h = hashlib.sha256(body.encode()).hexdigest()
    return body + f' "checksum": "sha256:{h}"\n}}\n'


def _bad_first_change(text: str, **kw) -> str:
    doc = json.loads(text)
    return _forge(text, changes=[{**doc["changes"][0], **kw}] + doc["changes"][1:])


def _drop_checksum(text: str) -> str:
    cut = text.rfind('\n "checksum": "')
    return text[:cut].rstrip().rstrip(",") + "\n}\n"


CASES = [
    # --- aloware_users.csv (read by `plan`) --------------------------------------------------
    Case("users-missing-column", "users", "id,first_name,last_name,email,status\n1,A,B,a@x.com,"
         "active\n", ("aloware_users.csv", "row 1", "column 'kind'", "missing column")),
    Case("users-unknown-status", "users", G + "2,C,D,c@x.com,retired,user\n",
         ("aloware_users.csv", "row 3", "column 'status'", "'retired'")),
    Case("users-unknown-kind", "users", G + "2,C,D,c@x.com,active,robot\n",
         ("row 3", "column 'kind'", "'robot'")),
    Case("users-duplicate-id", "users", G + "1,C,D,c@x.com,active,user\n",
         ("row 3", "column 'id'", "twice", "first on row 2")),
    Case("users-duplicate-id-after-strip", "users", G + " 1 ,C,D,c@x.com,active,user\n",
         ("row 3", "column 'id'", "twice")),
    Case("users-empty-id", "users", G + "  ,C,D,c@x.com,active,user\n",
         ("row 3", "column 'id'", "empty value")),
    Case("users-short-row", "users", G + "2,C,D,c@x.com\n", ("row 3", "column 'status'")),
    Case("users-trailing-comma-on-every-row", "users",
         H + "1,Ann,Lee,a@x.com,active,user,\n2,Bo,Kay,b@x.com,active,user,\n",
         ("row 2", "expected 6 fields, found 7")),
    Case("users-long-row", "users", G + "2,C,D,c@x.com,active,user,extra\n",
         ("row 3", "expected 6 fields, found 7")),
    Case("users-not-utf8", "users", G.encode() + b"2,Jos\xe9,D,c@x.com,active,user\n",
         ("row 3", "column 'first_name'", "not UTF-8")),
    Case("users-empty-file", "users", "", ("aloware_users.csv", "row 1", "empty file")),
    Case("users-blank-lines-only", "users", "\n \n\n", ("row 1", "empty file")),
    Case("users-duplicate-header", "users", "id,first_name,last_name,email,email,status,kind\n",
         ("row 1", "column 'email'", "twice")),
    Case("users-unclosed-quote", "users", G + '2,"C,D,c@x.com,active,user\n3,E,F,e@x.com,'
         'active,user\n', ("row 3", "never closed")),
    Case("users-header-broken-by-cr", "users", "id,first_name\r,last_name,email,status,kind\n",
         ("row 1", "column 'last_name'", "missing")),
    Case("users-file-missing", "users", None, ("aloware_users.csv", "not found")),
    # issue 10: control characters, and real lines after quoted multi-line fields
    Case("users-nul-in-email", "users", G + "2,C,D,a@x.com\0.evil,active,user\n",
         ("row 3", "column 'email'", "control character U+0000")),
    Case("users-escape-in-name", "users", G + "2,C\x1b[2J,D,c@x.com,active,user\n",
         ("row 3", "column 'first_name'", "control character")),
    Case("users-newline-in-quoted-email", "users", G + '2,C,D,"c@x.com\n",active,user\n',
         ("row 3", "column 'email'", "control character U+000A")),
    Case("users-dup-id-after-multiline-notes", "users",
         H.rstrip("\n") + ",notes\n" + '1,A,B,a@x.com,active,user,"l1\nl2\nl3"\n'
         "1,C,D,c@x.com,active,user,\n", ("row 5", "column 'id'", "first on row 2")),
    Case("users-long-row-after-multiline-notes", "users",
         H.rstrip("\n") + ",notes\n" + '1,A,B,a@x.com,active,user,"l1\nl2"\n'
         "2,C,D,c@x.com,active,user,x,y\n", ("row 4", "expected 7 fields, found 8")),
    # --- hubspot_owners.json (read by `plan`) ------------------------------------------------
    Case("owners-not-an-array", "owners", '{"results": []}',
         ("hubspot_owners.json", "expected a JSON array", "dict")),
    Case("owners-null", "owners", "null", ("hubspot_owners.json", "expected a JSON array")),
    Case("owners-element-not-object", "owners", f'[{OWNER % 1}, 5]',
         ("row 2", "expected an owner object", "int")),
    Case("owners-element-array", "owners", f'[{OWNER % 1}, ["id", "2"]]',
         ("row 2", "expected an owner object", "list")),
    Case("owners-id-missing", "owners", f'[{OWNER % 1}, {{"email": "b@x.com"}}]',
         ("row 2", "column 'id'", "missing or empty")),
    Case("owners-id-empty", "owners", '[{"id": "  "}]', ("row 1", "column 'id'")),
    Case("owners-id-bool", "owners", '[{"id": true}]', ("row 1", "column 'id'")),
    Case("owners-duplicate-id", "owners", f'[{OWNER % 1}, {OWNER % 1}]',
         ("row 2", "column 'id'", "'1' appears twice")),
    Case("owners-duplicate-id-int-and-string", "owners", '[{"id": 7}, {"id": "7"}]',
         ("row 2", "column 'id'", "twice")),
    Case("owners-unknown-type", "owners", '[{"id": "1", "type": "ROBOT"}]',
         ("row 1", "column 'type'", "ROBOT")),
    Case("owners-type-not-a-string", "owners", '[{"id": "1", "type": ["PERSON"]}]',
         ("row 1", "column 'type'")),
    Case("owners-archived-string", "owners", '[{"id": "1", "archived": "no"}]',
         ("row 1", "column 'archived'", "true or false")),
    Case("owners-email-number", "owners", '[{"id": "1", "email": 7}]',
         ("row 1", "column 'email'", "expected a string")),
    Case("owners-userid-float", "owners", '[{"id": "1", "userId": 1.5}]',
         ("row 1", "column 'userId'", "number or null")),
    Case("owners-truncated", "owners", f'[{OWNER % 1},\n {{"id": ',
         ("hubspot_owners.json", "row 2", "not valid JSON")),
    Case("owners-missing-comma", "owners", f'[{OWNER % 1}\n {OWNER % 2}]',
         ("row 1", "not valid JSON", "expected ','")),
    Case("owners-trailing-garbage", "owners", f'[{OWNER % 1}]\n<html>', ("extra data",)),
    Case("owners-empty-file", "owners", "", ("hubspot_owners.json", "row 1", "not valid JSON")),
    Case("owners-not-utf8", "owners", b'[{"id": "1", "firstName": "Jos\xe9"}]', ("not UTF-8",)),
    Case("owners-nested-too-deep", "owners", "[" * 50_000 + "]" * 50_000, ("not valid JSON",)),
    Case("owners-number-too-long", "owners", '[{"id": 1' + "0" * 5000 + "}]",
         ("not valid JSON",)),
    Case("owners-lone-surrogate", "owners", '[{"id": "1", "firstName": "\\ud800"}]',
         ("row 1", "column 'firstName'", "surrogate")),
    Case("owners-file-missing", "owners", None, ("hubspot_owners.json", "not found")),
    Case("owners-duplicate-email-key", "owners",
         f'[{OWNER % 1}, {{"id": "2", "email": "b@x.com", "email": "a@x.com"}}]',
         ("row 2", "column 'email'", "appears twice in one owner")),
    Case("owners-duplicate-archived-key", "owners",
         '[{"id": "1", "archived": true, "userId": 3, "archived": false}]',
         ("row 1", "column 'archived'", "twice")),
    # --- usermap.toml (read by `audit --config`) ---------------------------------------------
    Case("config-not-toml", "config", "[runs\nkeep = 3\n", ("usermap.toml", "row 1",
                                                           "not valid TOML")),
    Case("config-duplicate-key", "config", "[runs]\nkeep = 3\nkeep = 4\n", ("not valid TOML",)),
    Case("config-unknown-section", "config", "[hubspotx]\nhost = 'x'\n",
         ("usermap.toml", "column 'hubspotx'", "unknown section")),
    Case("config-unknown-key", "config", "[store]\npth = 'x.db'\n",
         ("column 'store.pth'", "unknown key")),
    Case("config-wrong-type", "config", "[runs]\nkeep = '30'\n",
         ("column 'runs.keep'", "expected int, found str")),
    Case("config-bool-for-int", "config", "[runs]\nkeep = true\n", ("column 'runs.keep'",)),
    Case("config-keep-zero", "config", "[runs]\nkeep = 0\n",
         ("column 'runs.keep'", "at least 1")),
    Case("config-port-out-of-range", "config", "[smtp]\nport = 70000\n",
         ("column 'smtp.port'", "out of range")),
    Case("config-recipients-not-a-list", "config", "[smtp]\nrecipients = 'a@x.com'\n",
         ("column 'smtp.recipients'", "list of strings")),
    Case("config-section-not-a-table", "config", "store = 'x.db'\n",
         ("column 'store'", "must be a table")),
    Case("config-hubspot-token-in-file", "config", f"[hubspot]\ntoken = '{SECRET}'\n",
         ("column 'hubspot.token'", "environment"), absent=(SECRET,)),
    Case("config-aloware-api-token-in-file", "config",
         f"[aloware]\nbase_url = 'http://127.0.0.1:1'\napi_token = '{SECRET}'\n",
         ("column 'aloware.api_token'", "environment"), absent=(SECRET,)),
    Case("config-smtp-password-in-file", "config", f"[smtp]\npassword = '{SECRET}'\n",
         ("column 'smtp.password'",), absent=(SECRET,)),
    Case("config-not-utf8", "config", b"[runs]\nkeep = 3 # caf\xe9\n", ("not UTF-8",)),
    Case("config-nested-too-deep", "config", "a = " + "[" * 5000 + "]" * 5000 + "\n",
         ("nested too deeply",)),
    Case("config-file-missing", "config", None, ("usermap.toml", "not found")),
    # --- plan files (read by `apply --yes`) --------------------------------------------------
    Case("plan-edited-change", "plan", lambda t: t.replace('"hubspot_owner_id": "12"',
                                                           '"hubspot_owner_id": "99"', 1),
         ("plan.json", "column 'checksum'", "edited")),
    Case("plan-edited-header", "plan", lambda t: t.replace('"force": false', '"force": true'),
         ("column 'checksum'",)),
    Case("plan-edited-revision", "plan", lambda t: t.replace('"store_revision": 1',
                                                             '"store_revision": 2'),
         ("column 'checksum'",)),
    Case("plan-key-after-checksum", "plan",
         lambda t: t.rstrip()[:-1].rstrip() + ',\n "force": true\n}\n', ("column 'checksum'",)),
    Case("plan-checksum-altered", "plan", lambda t: re.sub(r'sha256:[0-9a-f]{6}',
                                                           "sha256:000000", t, count=1)
         if '"checksum": "sha256:' in t else t, ("column 'checksum'",)),
    Case("plan-checksum-removed", "plan", _drop_checksum, ("column 'checksum'", "no checksum")),
    Case("plan-truncated", "plan", lambda t: t[: len(t) // 2],
         ("plan.json", "not valid JSON", "truncated")),
    Case("plan-truncated-last-line", "plan", lambda t: t[:-3], ("not valid JSON",)),
    Case("plan-not-json", "plan", "this is not a plan\n", ("plan.json", "not valid JSON",
                                                           "row 1")),
    Case("plan-empty-file", "plan", "", ("plan.json", "not valid JSON")),
    Case("plan-wrong-format", "plan", lambda t: _forge(t, format="usermap-plan/9"),
         ("column 'format'", "not a usermap plan")),
    Case("plan-a-json-array", "plan", "[1, 2]", ("not a usermap plan",)),
    Case("plan-not-utf8", "plan", b'{"format": "usermap-plan/1", "x": "\xff"}',
         ("plan.json", "not UTF-8")),
    Case("plan-forged-bad-action", "plan", lambda t: _bad_first_change(t, action="delete_all"),
         ("malformed plan",)),
    Case("plan-forged-change-missing-field", "plan",
         lambda t: _forge(t, changes=[{"action": "remove"}]), ("malformed plan",)),
    Case("plan-forged-revision-string", "plan", lambda t: _forge(t, store_revision="1"),
         ("malformed plan",)),
    Case("plan-forged-force-string", "plan", lambda t: _forge(t, force="no"),
         ("malformed plan",)),
    Case("plan-forged-bad-method", "plan",
         lambda t: _forge(t, changes=[{"action": "add", "aloware_user_id": "3",
                                       "hubspot_owner_id": "12", "before": None,
                                       "after": {"method": "robot"}, "reason": "x",
                                       "step": "match"}]), ("malformed plan",)),
    Case("plan-file-missing", "plan", None, ("plan.json", "not found")),
    # --- mappings CSV (read by `mappings import`) --------------------------------------------
    Case("mappings-user-twice", "mappings", MAP_HEADER + "1,10,,,,\n1,11,,,,\n",
         ("bad.csv", "row 3", "column 'aloware_user_id'", "twice")),
    Case("mappings-same-pair-twice", "mappings", MAP_HEADER + "1,10,,,,\n1,10,,,,\n",
         ("row 3", "column 'aloware_user_id'", "first on row 2")),
    Case("mappings-owner-twice-chain", "mappings", MAP_HEADER + "1,10,,,,\n3,10,,,,\n",
         ("row 3", "column 'hubspot_owner_id'", "HubSpot owner '10' appears twice")),
    Case("mappings-owner-twice-after-strip", "mappings", MAP_HEADER + "1,10,,,,\n3, 10 ,,,,\n",
         ("row 3", "column 'hubspot_owner_id'")),
    Case("mappings-bad-method", "mappings", MAP_HEADER + "1,10,,,auto,\n",
         ("row 2", "column 'method'", "'auto'")),
    Case("mappings-bad-mapped-at", "mappings", MAP_HEADER + "1,10,,,,yesterday\n",
         ("row 2", "column 'mapped_at'", "ISO 8601")),
    Case("mappings-impossible-date", "mappings", MAP_HEADER + "1,10,,,,2026-13-45\n",
         ("row 2", "column 'mapped_at'")),
    Case("mappings-empty-user-id", "mappings", MAP_HEADER + ",10,,,,\n",
         ("row 2", "column 'aloware_user_id'", "empty value")),
    Case("mappings-empty-owner-id", "mappings", MAP_HEADER + "1,  ,,,,\n",
         ("row 2", "column 'hubspot_owner_id'", "empty value")),
    Case("mappings-missing-owner-column", "mappings", "aloware_user_id\n1\n",
         ("row 1", "column 'hubspot_owner_id'", "missing column")),
    Case("mappings-short-row", "mappings", "aloware_user_id,hubspot_owner_id\n1,10\n2\n",
         ("row 3", "column 'hubspot_owner_id'")),
    Case("mappings-long-row", "mappings", "aloware_user_id,hubspot_owner_id\n1,10,x\n",
         ("row 2", "expected 2 fields, found 3")),
    Case("mappings-not-utf8", "mappings", MAP_HEADER.encode() + b"1,10,\xff@x.com,,,\n",
         ("row 2", "column 'aloware_email'", "not UTF-8")),
    Case("mappings-empty-file", "mappings", "", ("bad.csv", "row 1", "empty file")),
    Case("mappings-nul-in-owner-id", "mappings", MAP_HEADER + "1,10\0 1,,,,\n",
         ("row 2", "column 'hubspot_owner_id'", "control character")),
    Case("mappings-bad-time-after-multiline", "mappings",
         MAP_HEADER.rstrip("\n") + ",note\n" + '1,10,,,,,"a\nb"\n2,11,,,,yesterday,\n',
         ("row 4", "column 'mapped_at'", "ISO 8601")),
    Case("mappings-file-missing", "mappings", None, ("bad.csv", "not found")),
]

# Edge inputs that are NOT errors: they must be accepted (the boundary of the corpus).
ACCEPTED = [
    Case("users-header-only", "users", H, code=0),
    Case("users-bom-crlf-padded-upper-case", "users", "\ufeff" + G.replace("\n", "\r\n")
         .replace("active", " ACTIVE "), code=0),
    Case("owners-empty-array", "owners", "[]", code=0),
    Case("owners-type-lower-case-and-int-ids", "owners",
         '[{"id": 10, "email": "a@x.com", "userId": 5, "type": "person"}]', code=0),
    Case("owners-emoji-surrogate-pair", "owners",
         '[{"id": "10", "email": "a@x.com", "firstName": "\\ud83d\\ude00", "userId": 5}]',
         code=0),
    Case("plan-trailing-blank-lines", "plan", lambda t: t + "\n\n", code=0),
    Case("mappings-swap-owners", "mappings", MAP_HEADER + "1,11,,,,\n2,10,,,,\n", code=0),
    Case("users-multiline-notes-column", "users", GOOD_USERS.replace(
        "kind\n", "kind,notes\n").replace("user\n", 'user,"a\nb"\n'), code=0),
    Case("config-empty", "config", "", code=0),
]

FILES = {"users": "snap/aloware_users.csv", "owners": "snap/hubspot_owners.json",
         "config": "usermap.toml", "plan": "plan.json", "mappings": "bad.csv"}


# --- running a command in this process ------------------------------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A folder with a good snapshot, a store holding two links (revision 1), a good config, and
    the text of a good plan (one remove, one add) made from them."""
    d = tmp_path_factory.mktemp("corpus-base")
    (d / "snap").mkdir()
    (d / "snap" / "aloware_users.csv").write_text(GOOD_USERS)
    (d / "snap" / "hubspot_owners.json").write_text(GOOD_OWNERS)
    (d / "links.csv").write_text(GOOD_LINKS)
    (d / "usermap.toml").write_text("[runs]\nkeep = 5\n")
    code, out, err = run_cli("mappings", "import", "--create", d / "links.csv", "--store", d / "store.db")
    assert code == 0, err
    code, out, err = run_cli("plan", d / "snap", "--store", d / "store.db", "--out",
                             d / "good-plan.json")
    assert code == 0, err
    assert "1 to add, 0 to update, 1 to remove" in out
    (d / "links.csv").unlink()
    return d


def manifest(d: Path) -> dict:
    """Every file under d (hidden ones too) with the sha256 of its bytes."""
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


def setup_case(case: Case, base: Path, tmp: Path) -> tuple[Path, list]:
    """Copy the good world into tmp, put the case's broken file in place; the command to run."""
    d = tmp / "case"
    shutil.copytree(base, d)
    good_plan = (d / "good-plan.json").read_text()
    (d / "good-plan.json").unlink()
    (d / "plan.json").write_text(good_plan)
    target = d / FILES[case.kind]
    content = case.content
    if callable(content):
        content = content(good_plan)
        assert content != good_plan or case.code == 0, "the edit changed nothing"
    if content is None:
        target.unlink(missing_ok=True)
    else:
        target.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    commands = {
        "users": ["plan", d / "snap", "--store", d / "store.db", "--out", d / "out-plan.json"],
        "owners": ["plan", d / "snap", "--store", d / "store.db", "--out", d / "out-plan.json"],
        "config": ["audit", d / "snap", "--store", d / "store.db", "--out", d / "audit",
                   "--config", d / "usermap.toml"],
        "plan": ["apply", d / "plan.json", "--store", d / "store.db", "--yes"],
        "mappings": ["mappings", "import", "--create", d / "bad.csv", "--store", d / "store.db"],
    }
    return d, commands[case.kind]


def test_the_corpus_is_large_and_covers_every_kind():
    assert len(CASES) >= 30
    kinds = {c.kind for c in CASES}
    assert kinds == set(FILES)
    assert all(sum(c.kind == k for c in CASES) >= 5 for k in kinds)
    assert len({c.id for c in CASES + ACCEPTED}) == len(CASES) + len(ACCEPTED)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_broken_input_is_refused_naming_where_and_writes_nothing(case, base, tmp_path):
    d, cmd = setup_case(case, base, tmp_path)
    before = manifest(d)
    code, out, err = run_cli(*cmd)
    assert code == case.code, (code, out, err)
    assert err.startswith("usermap: error: "), err          # a named error, not "unexpected"
    assert "Traceback" not in err and err.count("\n") <= 2, err
    name = Path(FILES[case.kind]).name
    assert name in err, f"the message does not name the file: {err}"
    for needle in case.needles:
        assert needle in err, f"{needle!r} not in: {err}"
    for secret in case.absent:
        assert secret not in err and secret not in out
    assert manifest(d) == before, "the command wrote or changed a file"


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_edge_inputs_that_are_not_errors_are_accepted(case, base, tmp_path):
    d, cmd = setup_case(case, base, tmp_path)
    code, out, err = run_cli(*cmd)
    assert code == case.code, (code, out, err)


def test_a_sample_gives_the_same_in_a_real_process(base, tmp_path):
    """One case of each kind through the console entry point in its own process."""
    sample = {}
    for c in CASES:
        sample.setdefault(c.kind, c)
    for i, case in enumerate(sample.values()):
        d, cmd = setup_case(case, base, tmp_path / str(i))
        before = manifest(d)
        r = usermap(*cmd)
        assert r.returncode == case.code, r.stderr
        assert all(n in r.stderr for n in case.needles), r.stderr
        assert manifest(d) == before
