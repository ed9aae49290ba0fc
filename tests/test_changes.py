"""The plan's changes kept column-wise (usermap.engine.changes.ChangeTable): the same changes, counts
and plan file text as the tuple of Change tuples json would write."""

import pickle

import pytest
from hypothesis import given, settings, strategies as st

from usermap.engine import plan as planmod
from usermap.engine.changes import ChangeBlock, ChangeTable, reason_counts
from usermap.engine.models import Change, Plan

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
    assert _plan(table) == _plan(rows) and _plan(rows) == _plan(table)
    assert _plan(table).counts() == _plan(rows).counts() == {"add": 2, "update": 2,
                                                             "remove": 2}
    assert reason_counts(table) == reason_counts(rows) == {
        "add:email_match": 2, "remove:r1": 1, "remove:r2": 1, "update:emails_changed": 2}


_TEXT = st.text(alphabet=st.sampled_from(list('ab@."\\/\x00\x1f\x7f\n\t\u00e9\u2028\U0001f600 ')),
                max_size=8)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_TEXT, _TEXT, _TEXT, _TEXT), max_size=12),
       st.integers(min_value=1, max_value=5))
def test_plan_file_text_from_the_columns_is_json_s_text(rows, chunk):
    users = [r[0] or "u" for r in rows]
    owners = [r[1] or "o" for r in rows]
    emails = [r[2] for r in rows]
    reasons = [r[3] for r in rows]
    table, _ = _table(users, owners, emails, reasons)
    by_table = list(planmod._plan_body(_plan(table), chunk=chunk))
    by_tuple = list(planmod._plan_body(_plan(tuple(table)), chunk=chunk))
    assert b"".join(by_table) == b"".join(by_tuple)
    text = planmod.plan_to_json(_plan(table))
    assert planmod.plan_from_json(text) == _plan(table)


def test_a_string_arrow_refuses_takes_json_s_way():
    """A lone surrogate cannot be UTF-8: the kernels refuse it, json's way is taken (and the
    file write fails as it always did)."""
    table, _ = _table(["1"], ["10"], ["a\ud800@x.io"], ["r"])
    texts = list(planmod._change_texts(table, 10))
    assert texts == list(planmod._change_texts(tuple(table), 10))


def test_empty_plan_text_is_unchanged():
    assert planmod.plan_to_json(_plan(ChangeTable([]))) == planmod.plan_to_json(_plan(()))
    assert not len(ChangeTable([])) and list(ChangeTable([])) == []


@pytest.mark.parametrize("only_block", [0, 1, 2])
def test_counts_of_single_blocks(only_block):
    table, _ = _table(["1"], ["10"], ["a@x.io"], ["r"])
    one = ChangeTable([table.blocks[only_block]])
    assert _plan(one).counts() == _plan(tuple(one)).counts()
    assert _plan(one).removals == _plan(tuple(one)).removals


def test_plan_file_bytes_are_the_text_encoded(tmp_path):
    from usermap.files import read_plan, write_plan
    table, _ = _table(["1", "2"], ["10", "20"], ["a@x.io", "é\"@x.io"], ["r1", "r2"])
    for changes in (table, tuple(table)):
        path = write_plan(_plan(changes), tmp_path / "p.json")
        assert path.read_bytes() == planmod.plan_to_json(_plan(changes)).encode("utf-8")
        assert read_plan(path) == _plan(changes)
