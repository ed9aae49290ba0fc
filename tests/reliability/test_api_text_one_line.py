"""Issue 19 item 11 (the CSVs and the logs): names and e-mails from either API (CR, LF, other
control characters, U+2028/2029, NEL, lone surrogates) never make a line or a field of their
own in the CSVs `usermap audit` writes, nor in run.log; and no cell starts a formula.
`usermap audit` runs as a process on a snapshot whose owners (JSON: any character) and users
carry such text."""

from __future__ import annotations

import csv
import io
import json
import logging

import pandas as pd
import pytest

import forkcli
from tiny import O, U, L
from usermap.visible import visible as one_line

BREAKS = ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
          "\u2029", "\x00", "\x1b[31m", "\t", "\x7f"]
EVIL = "\n*** ACTION REQUIRED http://evil.test/x"


def _write(snap, users, owners):
    snap.mkdir()
    pd.DataFrame(users).to_csv(snap / "aloware_users.csv", index=False)
    (snap / "hubspot_owners.json").write_text(json.dumps(owners), encoding="utf-8")


def _physical_lines(text: str) -> list[str]:
    return text.splitlines()           # every breaker Python knows (LF, CR, VT, FF, NEL, ...)


@pytest.fixture
def audited(tmp_path):
    """Owners named with every breaker, unlinked (suggested to users, listed unmapped) and
    linked; users with the breakers a users CSV may carry (U+2028/2029); formulas at the start."""
    owners = [O(100 + i, f"o{i}@x.com", first=f"=HYPERLINK(1){b}{EVIL}", last=f"L{b}x")
              for i, b in enumerate(BREAKS)]
    owners.append(O(300, "-2+3@x.com", first="@SUM(A1)", last="+1"))
    users = [U(i, f"o{i}@y.com", first=f"Ann{b}Lee", last="=1+1")
             for i, b in enumerate(["\u2028", "\u2029", " "])]
    users.append(U(50, "o0@x.com", status="deleted"))
    links = [L(50, 100, "o0@x.com", "o0@x.com")]
    _write(tmp_path / "snap", users, owners)
    pd.DataFrame(links).drop(columns=["updated_at"]).to_csv(tmp_path / "links.csv", index=False)
    for args in (["init", "--store", "s.db"],
                 ["mappings", "import", "links.csv", "--store", "s.db"],
                 ["audit", "snap", "--store", "s.db", "--out", "audit"]):
        p = forkcli.run(args, cwd=tmp_path, timeout=120)
        assert p.returncode == 0, p.stderr
    return tmp_path / "audit"


@pytest.mark.parametrize("name", ["mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv",
                                  "errors.csv"])
def test_every_record_is_one_line_with_the_header_fields(audited, name):
    raw = (audited / name).read_bytes()
    text = raw.decode("utf-8")                            # valid UTF-8 throughout
    lines = _physical_lines(text)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(lines) == len(rows), name                  # no record spans two lines
    assert all(len(r) == len(rows[0]) for r in rows)
    for line in lines:
        assert not line.startswith("*** ACTION REQUIRED")
    for r in rows[1:]:
        for cell in r:
            assert not cell.startswith(("=", "+", "-", "@")), cell
            assert one_line(cell) == cell                 # nothing left to escape


def test_the_names_are_still_there_escaped(audited):
    owners = (audited / "unmapped_hubspot.csv").read_text(encoding="utf-8")
    users = (audited / "unmapped_aloware.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK(1)\\r\\n*** ACTION REQUIRED http://evil.test/x" in owners
    assert "L\\u2028x" in owners and "L\\x85x" in owners and "Ann\\u2029Lee" in users


@pytest.mark.parametrize("b", BREAKS + ["\udcff"])
def test_one_line_escapes_every_breaker(b):
    got = one_line(f"a{b}b")
    assert len(got.splitlines()) == 1 and got.isprintable()
    assert ("\ufffd" in got) if b == "\udcff" else ("\\" in got)   # a lone surrogate: U+FFFD
    got.encode("utf-8")


def test_run_log_records_are_one_line(tmp_path):
    """The run.log formatter: a usermap record carrying API text is one line; the notebooks'
    printed output keeps its own line feeds but no other breaker."""
    from usermap import runlog
    handler = runlog.open_log(tmp_path / "run.log")
    try:
        logging.getLogger("usermap.test").warning("owner %s changed", f"Ann{EVIL}\u2028x")
        logging.getLogger("papermill").info("table\nrow 1 B\u2028C D\x85E F\rG")
    finally:
        runlog.close_log(handler)
    lines = _physical_lines((tmp_path / "run.log").read_text(encoding="utf-8"))
    assert len(lines) == 3, lines
    assert not any(ln.startswith("*** ACTION") for ln in lines)
    assert "Ann\\n*** ACTION REQUIRED" in lines[0] and lines[2] == "row 1 B\\u2028C D\\x85E F\\rG"
