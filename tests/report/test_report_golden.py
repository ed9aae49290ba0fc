"""Golden files of the rendered report: the text, the HTML page and the e-mail's HTML part of a
small fixed world (tests/report/test_report.py::world_report).

A change to the templates or the data model shows up here as a diff. When it is intended,
regenerate and review the diff before committing:

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/report/test_report_golden.py
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from test_report import world_report

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with UPDATE_GOLDEN=1")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(list(difflib.unified_diff(
            expected.splitlines(True), actual.splitlines(True), f"golden/{name}", "rendered",
            n=2))[:80])
        pytest.fail(f"{name} differs from its golden file (UPDATE_GOLDEN=1 to accept):\n{diff}")


def test_text_matches_golden():
    check_golden("report.txt", world_report().to_text())


def test_html_matches_golden():
    check_golden("report.html", world_report().to_html())


def test_masked_text_matches_golden():
    check_golden("report_masked.txt", world_report(mask_emails=True).to_text())


def test_email_html_matches_golden():
    from usermap.config import Config
    from usermap.notify import build_message
    msg = build_message(world_report(), Config())
    html = msg.get_body(("html",)).get_content()
    check_golden("email.html", html)


def test_rendering_is_deterministic():
    assert world_report().to_html() == world_report().to_html()


def test_failure_report_matches_golden():
    from test_report import failure_report
    f = failure_report()
    check_golden("failure.html", f.to_html())
    check_golden("failure.txt", f.to_text())
    check_golden("failure_email.html", f.email_html({"url": "https://reports.example/r",
                                                     "path": "/runs/r/report.html",
                                                     "attached": "report.html"}))
