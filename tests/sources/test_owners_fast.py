"""The msgspec path of reading hubspot_owners.json (sources/owners_fast.py) against the json path:
the same frame on valid files (typed pieces, loose pieces, a mix), the same InputError on bad ones
(a repeated key anywhere, a wrongly typed field), and the typed decoder used where it should be.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from usermap.errors import InputError
from usermap.sandbox.scenarios import generate, messy, write_world
from usermap.sources.owners import fast as owners_fast
from usermap.sources.owners.read import read_owners

OWNER = {"id": "1", "email": "a@x.com", "firstName": "Ann", "lastName": "Lee", "userId": 5,
         "userIdIncludingInactive": 5, "type": "PERSON", "archived": False,
         "createdAt": "2020-01-02T03:04:05.678Z", "updatedAt": "2021-01-02T03:04:05.678Z",
         "teams": [{"id": "7", "name": "Sales", "primary": True}]}
MANY = 3_000  # > 2 pieces of owners_fast._PIECE_BYTES


def json_path(path):
    """What the exact engine (json) gives."""
    return read_owners(path, engine="exact")


def read_owners_json(path):
    """What the fast engine (msgspec where it vouches) gives."""
    return read_owners(path, engine="fast")


def same_as_json_path(path) -> pd.DataFrame:
    fast = read_owners_json(path)
    slow = json_path(path)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert type(fast.index) is pd.RangeIndex
    for c in fast.columns:
        assert list(map(type, fast[c])) == list(map(type, slow[c])), c
    return fast


def same_error(path) -> InputError:
    with pytest.raises(InputError) as fast:
        read_owners_json(path)
    with pytest.raises(InputError) as slow:
        json_path(path)
    assert (str(fast.value), fast.value.row, fast.value.column) == (
        str(slow.value), slow.value.row, slow.value.column)
    return fast.value


def write(tmp_path, owners, *, late: dict | None = None, raw: str | None = None, indent=None):
    """A file of ``owners`` (dicts, or ready JSON texts), ``late`` merged into the next to last
    (a later piece), ``raw`` replacing the next to last's text."""
    texts = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False, indent=indent)
             for o in owners]
    if late is not None:
        texts[-2] = json.dumps({**json.loads(texts[-2]), **late}, ensure_ascii=False)
    if raw is not None:
        texts[-2] = raw
    p = tmp_path / "hubspot_owners.json"
    p.write_text("[\n" + ",\n".join(texts) + "\n]\n", encoding="utf-8")
    return p


def many(n=MANY, **change):
    return [{**OWNER, "id": str(10_000 + i), "email": f"u{i}@x.com", **change} for i in range(n)]


def typed_used(path) -> bool:
    cols = owners_fast.owner_columns(path)
    assert cols is not None
    return cols[1]


@pytest.mark.parametrize("shape", ["plain", "messy", "indent"])
def test_generated_worlds_read_the_same(tmp_path, shape):
    world = generate(3_000, seed=5, n_owners=3_500)
    world = messy(world) if shape == "messy" else world
    paths = write_world(world, tmp_path, indent=2 if shape == "indent" else None)
    p = paths["hubspot_owners.json"]
    assert typed_used(p)
    same_as_json_path(p)


@pytest.mark.parametrize("late", [
    {"email": None, "firstName": None, "lastName": None},            # nulls: still typed
    {"id": 123456789012345678901234567890},                            # a number as id
    {"userId": "77", "userIdIncludingInactive": None},
    {"firstName": "Zoë: «Ünïcödé»", "lastName": "李 :", "email": "a:b@x.com"},  # colons
    {"teams": [{"id": 1, "name": "A: B", "primary": None}, {"id": "2", "name": None,
                                                            "primary": False}]},
    {"teams": []},
    {"createdAt": "x:y:z:", "updatedAt": ""},
    {"id": "  42 "},
])
def test_typed_edge_cases_read_the_same(tmp_path, late):
    p = write(tmp_path, many(), late=late)
    assert typed_used(p)
    same_as_json_path(p)


@pytest.mark.parametrize("late", [
    {"type": "queue"},                                                 # upper-cased by the reader
    {"type": None}, {"archived": None},
    {"createdAt": None}, {"teams": None},
    {"teams": [{"id": "7", "name": "S", "primary": True, "extra": 1}]},
    {"unknownField": {"a": 1}},                                        # ignored by both paths
    {"createdAt": {"nested": [1, 2]}},
])
def test_loose_pieces_read_the_same(tmp_path, late):
    p = write(tmp_path, many(), late=late)
    same_as_json_path(p)


def test_a_missing_optional_field_reads_the_same(tmp_path):
    """HubSpot leaves out "teams" for an owner in no team (and e-mail, names or user ids for
    some): still the typed decoder, the same frame as json."""
    owners = many()
    for i in (5, MANY - 2):
        del owners[i]["teams"], owners[i]["email"]
    for i, f in enumerate(("firstName", "lastName", "userId", "userIdIncludingInactive")):
        del owners[100 + i][f]
    for o in owners[1000:]:
        o.pop("teams", None)               # most of the file: no team
    p = write(tmp_path, owners)
    assert typed_used(p)
    same_as_json_path(p)


@pytest.mark.parametrize("field", ["type", "archived", "createdAt", "updatedAt"])
def test_a_missing_required_field_reads_the_same(tmp_path, field):
    owners = many()
    del owners[MANY - 2][field]
    p = write(tmp_path, owners)
    assert not typed_used(p)
    same_as_json_path(p)


@pytest.mark.parametrize("dup", [
    '"email": "a@x.com", "email": "boss@x.com"',
    '"userId": 1, "userId": 2',
])
def test_repeated_key_in_an_owner_without_teams_is_the_same_error(tmp_path, dup):
    """An absent field lowers the count of keys the piece should have: a repeated key in the
    same owner must not make up for it."""
    head = {k: v for k, v in OWNER.items() if k not in dup and k != "teams"}
    raw = json.dumps({**head, "id": "9"})[:-1] + ", " + dup + "}"
    e = same_error(write(tmp_path, many(), raw=raw))
    assert "twice" in str(e) and e.row == MANY - 1


@pytest.mark.parametrize("raw", [
    '{"id": "9", "na\\u006De": 1}',                                    # escapes in keys
    '{"id": "9", "firstName": "a\\u003ab", "lastName": "\\u00e9\\"", "email": null}',
])
def test_escapes_read_the_same(tmp_path, raw):
    same_as_json_path(write(tmp_path, many(), raw=raw))


@pytest.mark.parametrize("dup", [
    '"email": "a@x.com", "email": "boss@x.com"',
    '"createdAt": "2020-01-02T03:04:05Z", "createdAt": "2020-01-02T03:04:05Z"',
    '"teams": [{"id": "t", "id": "u", "name": "n", "primary": true}]',          # nested
    '"teams": [{"id": "t", "name": "n", "primary": true, "primary": false}]',
    '"firstName": "a:b", "firstName": "c"',
    '"lastName": "x", "lastName": "\\u003a"',       # the kept value's colon is not in the text
])
def test_repeated_key_in_a_typed_piece_is_the_same_error(tmp_path, dup):
    head = {k: v for k, v in OWNER.items() if k not in dup}
    raw = json.dumps({**head, "id": "9"})[:-1] + ", " + dup + "}"
    e = same_error(write(tmp_path, many(), raw=raw))
    assert "twice" in str(e) and e.row == MANY - 1


def test_repeated_key_after_a_loose_piece_is_the_same_error(tmp_path):
    owners = many()
    owners[3]["type"] = None                                           # loose from the start
    raw = json.dumps({**OWNER, "id": "9"})[:-1] + ', "email": "x@y.z"}'
    e = same_error(write(tmp_path, owners, raw=raw))
    assert (e.row, e.column) == (MANY - 1, "email")


@pytest.mark.parametrize("late", [
    {"archived": "no"}, {"archived": 0}, {"id": True}, {"id": ["1"]}, {"id": ""},
    {"email": 7}, {"type": "ROBOT"}, {"userId": True}, {"userId": 1.5},
    {"firstName": {"a": 1}}, {"id": "10001"},                          # a repeated id
])
def test_wrongly_typed_fields_are_the_same_error(tmp_path, late):
    same_error(write(tmp_path, many(), late=late))


def test_small_and_empty_files(tmp_path):
    for text in ("[]", " [ ] \n", json.dumps([OWNER]), json.dumps([OWNER], indent=2)):
        p = tmp_path / "hubspot_owners.json"
        p.write_text(text, encoding="utf-8")
        same_as_json_path(p)
    for text in ("", "[", "[] x", "{}", '[{"id": "1"},]'):
        p.write_text(text, encoding="utf-8")
        same_error(p)
