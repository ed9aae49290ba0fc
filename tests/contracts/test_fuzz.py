"""Fuzz of every reader of outside input (issue 6): for arbitrary bytes, text or JSON-ish
structures a reader either returns a valid result or raises ``usermap.errors.InputError`` (exit 2)
and never any other exception (which the CLI would report as exit 1, "unexpected").

Readers: read_users_csv, read_owners_json, read_mappings_csv, plan_from_json, Config.from_dict,
Config.load. Each strategy mixes raw noise with near-valid input (a valid file truncated, a byte
flipped, fields drawn from a vocabulary of the right and wrong values), which is where parsers
break. Bounded: ~150 examples per reader, no deadline, the file runs in well under 30 s.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usermap.config import Config
from usermap.errors import InputError
from usermap.engine.models import ACTIONS, METHODS, OWNER_TYPES, USER_KINDS, USER_STATUSES
from usermap.planfile import read_plan
from usermap.planfile import PLAN_FORMAT
from usermap.sources.owners.read import read_owners as read_owners_json
from usermap.sources.snapshot import read_mappings_csv, read_users_csv

pytestmark = pytest.mark.issue(6)  # the issue that asked for these tests

N = int(os.environ.get("USERMAP_FUZZ_EXAMPLES", "150"))  # more for a long local run
FUZZ = settings(max_examples=N, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

_DIR: Path  # the module's scratch folder, under pytest's basetemp (see _scratch)


@pytest.fixture(scope="module", autouse=True)
def _scratch(tmp_path_factory):
    """Readers read real files: the examples write them here (not in the system temporary
    folder, where a mkdtemp at import time was left behind by every run)."""
    global _DIR
    _DIR = tmp_path_factory.mktemp("fuzz")
    yield _DIR


def _file(name: str, content: str | bytes) -> Path:
    p = _DIR / name
    p.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str)
                  else content)
    return p


def _only_input_errors(fn, *args):
    """Call a reader; InputError is an accepted outcome (returns None), anything else fails."""
    try:
        return fn(*args)
    except InputError as e:
        assert str(e)  # a message, naming what it can
        return None
    except Exception as e:  # pragma: no cover - this is what the fuzz looks for
        pytest.fail(f"{fn.__name__} raised {type(e).__name__} (exit 1), not InputError: {e!r}"
                    [:2000])


# --- building blocks ------------------------------------------------------------------------
NASTY = ["", " ", ",", '"', '""', "\n", "\r\n", "\r", "\t", "\x00", "\ufeff", "é", "\u0301",
         "ß", "😀", "\ud800", "=1+1", "null", "NaN", "nan", "None", "1e309", "-0", "0x1f",
         "9" * 30, "a@b.c", "@", "x" * 300, "<img src=x onerror=alert(1)>", "'", "\\", "#",
         "{", "[", "}", "]"]
USER_HEADER = ["id", "first_name", "last_name", "email", "status", "kind"]
MAP_HEADER = ["aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method",
              "mapped_at"]

field_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12),
                       st.sampled_from(USER_STATUSES + USER_KINDS + METHODS),
                       st.sampled_from(["ACTIVE", " paused ", "User", "2026-01-01T00:00:00Z",
                                        "2026-13-45", "yesterday", "1", "2", "10", "11"]))


def csv_line(fields: list[str], sep: str = ",") -> str:
    return sep.join(fields)


@st.composite
def csv_text(draw, header: list[str]):
    """A CSV whose header is the real one, a variant of it, or noise, and whose rows are fields
    of the right and wrong values, sometimes quoted, sometimes short or long."""
    h = draw(st.one_of(st.just(header), st.permutations(header),
                       st.lists(st.sampled_from(header + ["role", "extra", "", "id"]),
                                max_size=8),
                       st.lists(st.sampled_from(NASTY), max_size=4)))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = draw(st.sampled_from([len(h), len(h), len(h), max(len(h) - 1, 0), len(h) + 1]))
        fields = [draw(field_text) for _ in range(width)]
        if draw(st.booleans()):
            fields = ['"' + f.replace('"', '""') + '"' for f in fields]
        rows.append(csv_line(fields))
    nl = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    text = nl.join([csv_line(h)] + rows) + draw(st.sampled_from(["", nl]))
    return text


def mutate(draw, text: str) -> str:
    """A near-valid text: truncated, a character inserted, replaced or deleted."""
    if not text:
        return text
    how = draw(st.sampled_from(["truncate", "insert", "replace", "delete", "none"]))
    i = draw(st.integers(0, len(text) - 1))
    ch = draw(st.sampled_from(NASTY[:20] + ["a", "1", ":", "x"]))
    return {"truncate": text[:i], "insert": text[:i] + ch + text[i:],
            "replace": text[:i] + ch + text[i + 1:], "delete": text[:i] + text[i + 1:],
            "none": text}[how]


@st.composite
def mutated(draw, base: st.SearchStrategy):
    return mutate(draw, draw(base))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                      st.sampled_from(NASTY), st.sampled_from(["PERSON", "QUEUE", "person"]))
json_any = st.recursive(json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=8), kids, max_size=4)),
    max_leaves=20)
OWNER_KEYS = ["id", "email", "firstName", "lastName", "userId", "userIdIncludingInactive",
              "type", "archived", "createdAt", "updatedAt", "teams"]
owner_like = st.dictionaries(st.sampled_from(OWNER_KEYS), json_any, max_size=len(OWNER_KEYS))
good_owner = st.fixed_dictionaries({
    "id": st.one_of(st.integers(1, 50).map(str), st.integers(1, 50)),
    "email": st.one_of(st.none(), st.sampled_from(["a@x.com", "B@X.com", "", "bad"])),
    "firstName": st.sampled_from(["A", "", "é"]), "lastName": st.sampled_from(["B", ""]),
    "userId": st.one_of(st.none(), st.integers(1, 10**6)),
    "userIdIncludingInactive": st.one_of(st.none(), st.integers(1, 10**6)),
    "type": st.sampled_from(["PERSON", "QUEUE"]), "archived": st.booleans(),
    "teams": st.just([])})


def _dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)


def _dumps_ascii(obj) -> str:
    """As a file would carry it: non-ASCII (and lone surrogates, "\\ud800") as escapes."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=True)


@st.composite
def spoiled_owner(draw):
    """A good owner with one field set to noise (or removed): the errors a real file has."""
    o = dict(draw(good_owner))
    key = draw(st.sampled_from(OWNER_KEYS))
    if draw(st.integers(0, 4)) == 0:
        o.pop(key, None)
    else:
        o[key] = draw(json_any)
    return o


owner_any = st.one_of(good_owner, spoiled_owner(), owner_like)
owners_text = st.one_of(
    st.lists(st.one_of(owner_any, json_any), max_size=6).map(_dumps),
    st.lists(owner_any, max_size=6).map(_dumps_ascii),
    json_any.map(_dumps),
    mutated(st.lists(good_owner, min_size=1, max_size=5).map(
        lambda os: ",\n".join(_dumps(o) for o in os).join("[]"))),
    st.sampled_from(["", " ", "[", "]", "[]", "[]]", "[] x", "[{}]", "[{},]", "[,]", "{}",
                     "[" * 5000, "[" * 5000 + "]" * 5000, '[{"id": 1' + "0" * 5000 + "}]",
                     '[{"id": "1", "teams": ' + "[" * 3000 + "]" * 3000 + "}]"]),
    st.text(max_size=60))


# --- the users CSV --------------------------------------------------------------------------
def _valid_users(df: pd.DataFrame) -> None:
    assert set(USER_HEADER) <= set(df.columns)
    assert df["id"].map(lambda v: isinstance(v, str) and v.strip() == v and v != "").all()
    assert not df["id"].duplicated().any()
    assert df["status"].isin(USER_STATUSES).all() and df["kind"].isin(USER_KINDS).all()
    for c in USER_HEADER:
        assert df[c].map(lambda v: isinstance(v, str)).all(), c


@FUZZ
@given(st.one_of(csv_text(USER_HEADER), mutated(csv_text(USER_HEADER)), st.binary(max_size=200),
                 st.text(max_size=200)))
def test_users_csv_reader(content):
    df = _only_input_errors(read_users_csv, _file("aloware_users.csv", content))
    if df is not None:
        _valid_users(df)


# --- the owners JSON ------------------------------------------------------------------------
def _valid_owners(df: pd.DataFrame) -> None:
    ids = df["id"]
    assert ids.map(lambda v: isinstance(v, str) and v != "").all() and not ids.duplicated().any()
    assert df["type"].isin(OWNER_TYPES).all()
    assert df["archived"].dtype == bool
    for c in ("email", "first_name", "last_name"):
        assert df[c].map(lambda v: isinstance(v, str)).all(), c


@FUZZ
@given(st.one_of(owners_text, st.binary(max_size=200)))
def test_owners_json_reader(content):
    df = _only_input_errors(read_owners_json, _file("hubspot_owners.json", content))
    if df is not None:
        _valid_owners(df)


# --- the mappings CSV -----------------------------------------------------------------------
@FUZZ
@given(st.one_of(csv_text(MAP_HEADER), csv_text(MAP_HEADER[:2]), mutated(csv_text(MAP_HEADER)),
                 st.binary(max_size=200)))
def test_mappings_csv_reader(content):
    df = _only_input_errors(read_mappings_csv, _file("mappings.csv", content))
    if df is not None:
        assert list(df.columns) == MAP_HEADER
        for c in MAP_HEADER[:2]:
            assert df[c].map(lambda v: isinstance(v, str) and v != "").all()
            assert not df[c].duplicated().any()
        assert df["method"].isin(METHODS).all()


# --- plan files -----------------------------------------------------------------------------
def _checksummed(body: str) -> str:
    """A plan text whose checksum is right for its body (what a forger would do)."""
    h = hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
    return body + f' "checksum": "sha256:{h}"\n}}\n'


change_like = st.one_of(
    st.fixed_dictionaries({
        "action": st.one_of(st.sampled_from(ACTIONS), json_leaf),
        "aloware_user_id": st.one_of(st.sampled_from(["1", "2"]), json_leaf),
        "hubspot_owner_id": st.one_of(st.sampled_from(["10", "11"]), json_leaf),
        "before": st.one_of(st.none(), json_any, st.fixed_dictionaries(
            {"aloware_user_id": st.just("1"), "hubspot_owner_id": st.just("10"),
             "method": st.one_of(st.sampled_from(METHODS), json_leaf)})),
        "after": st.one_of(st.none(), json_any),
        "reason": st.one_of(st.just("email_match"), json_leaf),
        "step": st.one_of(st.sampled_from(["match", "resolve", "cleanup"]), json_leaf)}),
    json_any)
header_value = {"format": st.one_of(st.just(PLAN_FORMAT), json_leaf),
                "created_at": st.one_of(st.just(""), json_leaf),
                "store_revision": st.one_of(st.integers(0, 3), json_leaf),
                "fingerprint": st.one_of(st.just("sha256:0"), json_leaf),
                "current_links": st.one_of(st.integers(0, 100), json_leaf),
                "force": st.one_of(st.booleans(), json_leaf),
                "only": st.one_of(st.none(), json_leaf),
                "meta": st.one_of(st.just({}), json_any),
                "changes": st.one_of(st.lists(change_like, max_size=3), json_any)}


@st.composite
def plan_text(draw):
    keys = draw(st.lists(st.sampled_from(sorted(header_value)), unique=True,
                         min_size=len(header_value) - 2))
    raw = {k: draw(header_value[k]) for k in keys}
    dumps = draw(st.sampled_from([_dumps, _dumps_ascii]))
    body = "{\n" + "".join(f" {json.dumps(k)}: {dumps(raw[k])},\n" for k in sorted(raw))
    if draw(st.integers(0, 9)) == 0:   # a number JSON accepts but Python cannot hold
        body += ' "store_revision": ' + draw(st.sampled_from(["Infinity", "NaN", "1e400",
                                                                 "1" * 5000])) + ",\n"
    return _checksummed(body)


@FUZZ
@given(st.one_of(plan_text(), mutated(plan_text()), st.text(max_size=200), owners_text,
                 st.binary(max_size=200)))
def test_plan_file_reader(content):
    """Through read_plan, as `usermap apply` reads it (bytes decoded as UTF-8, strictly)."""
    from usermap.engine.models import Plan
    p = _only_input_errors(read_plan, _file("plan.json", content))
    if p is not None:
        assert isinstance(p, Plan) and isinstance(p.store_revision, int)
        for c in p.changes:
            assert c.action in ACTIONS
            assert isinstance(c.aloware_user_id, str) and isinstance(c.hubspot_owner_id, str)
            assert c.before is None or isinstance(c.before, dict)
            assert c.after is None or isinstance(c.after, dict)
        p.counts()  # what describe() and the guard use


# --- usermap.toml ---------------------------------------------------------------------------
SECTIONS = {"hubspot": ["host"], "aloware": ["base_url", "users_csv", "profile_url"],
            "store": ["path"], "runs": ["dir", "keep"],
            "smtp": ["host", "port", "starttls", "ssl", "sender", "recipients", "timeout"],
            "report": ["mask_emails", "url", "attach_max_bytes", "activities_csv"]}
toml_leaf = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1),
                      st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                      st.lists(st.text(max_size=5), max_size=3),
                      st.lists(st.integers(), max_size=3))
section_dict = st.dictionaries(
    st.one_of(st.sampled_from(sum(SECTIONS.values(), []) + ["token", "password", "api_token"]),
              st.text(max_size=6)), toml_leaf, max_size=5)
config_dict = st.dictionaries(st.one_of(st.sampled_from(sorted(SECTIONS)), st.text(max_size=6)),
                              st.one_of(section_dict, toml_leaf), max_size=4)


def _valid_config(c: Config) -> None:
    assert isinstance(c, Config)
    assert isinstance(c.runs.keep, int) and c.runs.keep >= 1
    assert isinstance(c.smtp.port, int) and 0 < c.smtp.port < 65536
    assert all(isinstance(r, str) for r in c.smtp.recipients)
    assert isinstance(c.store.path, str) and isinstance(c.hubspot.host, str)


@FUZZ
@given(config_dict)
def test_config_from_dict(raw):
    c = _only_input_errors(Config.from_dict, raw, "usermap.toml")
    if c is not None:
        _valid_config(c)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(v), repr(v))
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v)


@st.composite
def toml_text(draw):
    lines = []
    for name, keys in draw(st.dictionaries(st.sampled_from(sorted(SECTIONS) + ["extra"]),
                                           st.lists(st.one_of(st.sampled_from(
                                               sum(SECTIONS.values(), []) + ["token"]),
                                               st.sampled_from(["x", "a b", "k.k"])),
                                               max_size=3), max_size=3)).items():
        lines.append(f"[{name}]")
        for k in keys:
            lines.append(f"{k} = {_toml_value(draw(toml_leaf))}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(st.one_of(toml_text(), mutated(toml_text()), st.text(max_size=120),
                 st.binary(max_size=120),
                 st.sampled_from(["a = " + "[" * 3000 + "]" * 3000, "[runs]\nkeep = "
                                  + "{x=" * 2000 + "1" + "}" * 2000])))
def test_config_load(content):
    c = _only_input_errors(Config.load, _file("usermap.toml", content))
    if c is not None:
        _valid_config(c)


def test_config_load_of_a_folder_is_an_input_error():
    with pytest.raises(InputError):
        Config.load(_DIR)
