"""Arrow's CSV tokenizer (usermap.sources.csv.fast.arrow_frame) answers only where it gives pandas' frame:
compared with pandas on generated text, well-formed and not."""

import csv
import io

import pandas as pd
from hypothesis import example, given, settings, strategies as st

from usermap.sources.csv.fast import arrow_frame

PIECES = ["a", "b", ",", '"', "\n", "\r", " ", "\r\n", '""', "1", "\ufeff", "\t", '"a"', ',"',
          '",', "é", '"x,y"']


def _pandas(data: bytes):
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=object, keep_default_na=False, na_filter=True,
                         na_values=[], skip_blank_lines=True, engine="c", encoding="utf-8-sig")
    except pd.errors.ParserError:
        return None
    return df


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES), max_size=30),
       st.sampled_from(["x,y,z\n", "x,y,z\r\n", " x ,y,z\n", "x\n", "x,y,z"]))
@example(['"a"', "b", ",", ",", "\n"], "x,y,z\n")          # a closing quote mid-field
@example(["\r", ",", '"a"', ","], "x,y,z\n")                # a lone CR
@example(['"', "a", "\n", "b", '"', ",", ","], "x,y,z\n")   # a line break in a field
def test_arrow_gives_pandas_frame_or_nothing(pieces, header):
    data = (header + "".join(pieces)).encode("utf-8")
    text = data.decode("utf-8")   # the header as read_csv_validated takes it
    names = next(csv.reader(io.StringIO(text.split("\n", 1)[0], newline=None)), [])
    got = arrow_frame(data, names)
    if got is None:
        return
    want = _pandas(data)
    assert want is not None, f"pandas refused what Arrow read: {data!r}"
    assert isinstance(want.index, pd.RangeIndex)
    assert list(got.columns) == list(want.columns)
    assert got.shape == want.shape
    assert got.values.tolist() == want.values.tolist(), data
    assert all(got[c].dtype == object for c in got.columns)


def test_plain_and_quoted_files_take_the_arrow_way():
    plain = b"id,email\n1, a@x.io \n2,b@x.io\n\n3,\n"
    quoted = b'"id","email"\n"1","a,""b""@x.io"\n'
    assert arrow_frame(plain, ["id", "email"]).values.tolist() == [
        ["1", " a@x.io "], ["2", "b@x.io"], ["3", ""]]
    assert arrow_frame(quoted, ["id", "email"]).values.tolist() == [["1", 'a,"b"@x.io']]
    body = b'id,email\n"1","a,""b""@x.io"\n"2",\n'
    assert arrow_frame(body, ["id", "email"]).values.tolist() == [["1", 'a,"b"@x.io'],
                                                                   ["2", ""]]


def test_what_arrow_cannot_vouch_for_is_left_to_pandas():
    assert arrow_frame(b"id,email\n1,a@x.io,extra\n", ["id", "email"]) is None   # long row
    assert arrow_frame(b"id,email\n1\n", ["id", "email"]) is None                # short row
    assert arrow_frame(b'id,email\n1,"a"b\n', ["id", "email"]) is None           # stray quote
    assert arrow_frame(b"id,email\r1,a\r", ["id", "email"]) is None              # lone CR
    assert arrow_frame(b"id,\n1,a\n", ["id", ""]) is None                        # "Unnamed"
