"""The plan's changes kept column-wise (usermap.engine.changes.ChangeTable), the one
representation of a plan's changes, and the plan file written from its columns: byte for byte
what ``json`` writes for the same Change dicts (json is the test oracle, never a second writer)."""

import json
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from usermap import planfile
from usermap.engine.changes import ChangeBlock, ChangeTable, reason_counts
from usermap.engine.models import Change, Plan
from usermap.errors import PlanFileError

LINK = ("aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method")


def _block(action, step, users, owners, before, after, reason):
    return ChangeBlock(action, step, users, owners, before, after, reason)


def _links(users, owners, emails):
    return {"aloware_user_id": users, "hubspot_owner_id": owners, "aloware_email": emails,
            "hubspot_email": [e.upper() for e in emails], "method": ["email"] * len(users)}


def _table(users, owners, emails, reasons):
    n = len(users)
    return ChangeTable([
        _block("remove", "cleanup", users, owners, _links(users, owners, emails), None, reasons),
        _block("update", "resolve", users, owners[::-1], _links(users, owners, emails),
               _links(users, owners[::-1], emails[::-1]), "emails_changed"),
        _block("add", "match", users, owners, None, _links(users, owners, emails),
               "email_match"),
        _block("add", "match", [], [], None, _links([], [], []), "email_match"),   # dropped
    ]), n


def _plan(changes):
    return Plan(changes=changes, store_revision=3, fingerprint="sha256:0", current_links=40,
                created_at="2026-01-01T00:00:00Z", store_id="s1")


def _oracle_changes(changes) -> str:
    """The change lines as json writes the Change dicts (", " and ": ", one per line)."""
    enc = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    return ",\n  ".join(enc(c._asdict()) for c in changes)


def _written_changes(text: str) -> str:
    start = text.index(' "changes": [') + len(' "changes": [')
    body = text[start:text.index("\n ],\n", start)]
    return body[len("\n  "):] if body else ""


def test_table_is_the_sequence_of_its_changes():
    table, n = _table(["1", "2"], ["10", "20"], ["a@x.io", "b@x.io"], ["r1", "r2"])
    rows = tuple(table)
    assert len(table) == len(rows) == 3 * n and len(table.blocks) == 3
    assert rows[0] == Change("remove", "1", "10", dict(zip(LINK, ("1", "10", "a@x.io",
                                                                  "A@X.IO", "email"))),
                             None, "r1", "cleanup")
    assert rows[-1].after["hubspot_owner_id"] == "20" and rows[-1].before is None
    assert table == rows and rows == table and table[2:4] == rows[2:4]
    assert table != rows[:-1] and table != "not a plan"
    assert pickle.loads(pickle.dumps(table)) == rows
    assert _plan(table).counts() == {"add": 2, "update": 2, "remove": 2}
    assert reason_counts(table) == {
        "add:email_match": 2, "remove:r1": 1, "remove:r2": 1, "update:emails_changed": 2}


def test_from_changes_gives_back_the_same_changes_in_blocks():
    table, _ = _table(["1", "2"], ["10", "20"], ["a@x.io", "b@x.io"], ["r1", "r2"])
    again = ChangeTable.from_changes(list(table))
    assert again == table and len(again.blocks) == 3
    assert reason_counts(again) == reason_counts(table)
    # an undo restores mapped_at: a block of its own, the field kept in its place
    undo = Change("add", "1", "10", None, {**dict(zip(LINK, ("1", "10", "a", "b", "email"))),
                                           "mapped_at": "2026-01-01"}, "undo:r", "match")
    mixed = ChangeTable.from_changes([*table, undo])
    assert len(mixed.blocks) == 4 and mixed[-1] == undo and list(mixed[-1].after)[-1] == "mapped_at"
    assert ChangeTable.from_changes([]) == () and not ChangeTable.from_changes([]).blocks


def test_a_plan_refuses_changes_that_are_not_a_table():
    with pytest.raises(TypeError, match="ChangeTable"):
        _plan(())


_TEXT = st.text(alphabet=st.sampled_from(list('ab@."\\/\x00\x1f\x7f\n\t\u00e9\u2028\U0001f600 ')),
                max_size=8)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT), max_size=12),
       st.integers(min_value=1, max_value=5), st.booleans())
def test_plan_file_change_lines_are_json_s_text(rows, chunk, single):
    users = [r[0] or "u" for r in rows]
    owners = [r[1] or "o" for r in rows]
    emails = [r[2] for r in rows]
    reasons = [r[3] for r in rows]
    table, _ = _table(users, owners, emails, reasons)
    if single:   # the same changes as single-change tuples (--only, undo, a plan read back)
        table = ChangeTable.from_changes(list(table))
    text = b"".join(planfile.plan_file_chunks(_plan(table))).decode("utf-8")
    assert _written_changes(text) == _oracle_changes(table)
    assert planfile.plan_from_json(text) == _plan(table)
    assert planfile.plan_to_json(_plan(table)) == text


def test_a_value_that_is_not_text_is_refused_before_writing(tmp_path):
    """A lone surrogate cannot be UTF-8: the plan is refused by name, and no file is left."""
    table, _ = _table(["1"], ["10"], ["a\ud800@x.io"], ["r"])
    with pytest.raises(PlanFileError, match="not text"):
        planfile.write_plan(_plan(table), tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_empty_plan_has_an_empty_change_list():
    text = planfile.plan_to_json(_plan(ChangeTable([])))
    assert '"changes": [\n ],' in text and planfile.plan_from_json(text) == _plan(ChangeTable([]))
    assert not len(ChangeTable([])) and list(ChangeTable([])) == []


@pytest.mark.parametrize("only_block", [0, 1, 2])
def test_counts_of_single_blocks(only_block):
    table, _ = _table(["1"], ["10"], ["a@x.io"], ["r"])
    one = ChangeTable([table.blocks[only_block]])
    assert _plan(one).counts() == _plan(ChangeTable.from_changes(list(one))).counts()
    assert _plan(one).removals == (only_block == 0)


def test_plan_file_bytes_are_the_text_encoded(tmp_path):
    table, _ = _table(["1", "2"], ["10", "20"], ["a@x.io", "é\"@x.io"], ["r1", "r2"])
    for changes in (table, ChangeTable.from_changes(list(table))):
        path = planfile.write_plan(_plan(changes), tmp_path / "p.json")
        assert path.read_bytes() == planfile.plan_to_json(_plan(changes)).encode("utf-8")
        assert planfile.read_plan(path) == _plan(changes)
