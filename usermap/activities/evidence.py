"""The evidence export an admin provides (``--evidence FILE``, DESIGN §10): Aloware's events as
JSON lines (one event a line) or a CSV with the same header. Fields: ``communication_id``,
``user_id``, ``type`` (call or sms), ``direction``, ``from``, ``to`` (E.164), ``started_at``
(ISO 8601) and ``duration`` (seconds). Anything else is exit 2 naming the file, the row (the line
of the JSONL, the record of the CSV counting the header as 1) and the column.

Adapter: reads one file. Grading with the events is ``rules.match_evidence``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import InputError
from .rules import to_ms

__all__ = ["read_evidence", "FIELDS"]

FIELDS = ("communication_id", "user_id", "type", "direction", "from", "to", "started_at",
          "duration")
_REQUIRED = ("communication_id", "user_id", "type", "started_at")


def read_evidence(path) -> list[dict]:
    """The events of an export, ``started_at`` as epoch ms and ``duration`` as a number."""
    path = Path(path)
    if not path.is_file():
        raise InputError("evidence file not found (give an Aloware export: JSON lines or CSV)",
                         file=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", file=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", file=str(path)) from None
    first = text.lstrip()[:1]
    rows = _jsonl(text, path) if first == "{" else _csv(text, path)
    return [_event(r, n, path) for n, r in rows]


def _jsonl(text: str, path: Path):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise InputError(f"not a JSON object: {e.msg}", file=str(path), row=n) from None
        if not isinstance(obj, dict):
            raise InputError("not a JSON object", file=str(path), row=n)
        yield n, obj


def _csv(text: str, path: Path):
    reader = csv.DictReader(text.splitlines())
    missing = [f for f in _REQUIRED if f not in (reader.fieldnames or ())]
    if missing:
        raise InputError(f"the header lacks {', '.join(missing)} (expected "
                         f"{','.join(FIELDS)}; or JSON lines)", file=str(path), row=1,
                         column=missing[0])
    for n, row in enumerate(reader, 2):
        yield n, row


def _event(r: dict, n: int, path: Path) -> dict:
    def bad(col, msg):
        return InputError(msg, file=str(path), row=n, column=col)

    for col in _REQUIRED:
        if r.get(col) in (None, ""):
            raise bad(col, "missing value")
    kind = str(r["type"]).strip().lower()
    if kind not in ("call", "sms"):
        raise bad("type", f"expected call or sms, found {str(r['type'])[:40]!r}")
    try:
        started = to_ms(str(r["started_at"]))
    except (ValueError, OverflowError):
        raise bad("started_at", "not an ISO 8601 time") from None
    try:
        duration = float(r.get("duration") or 0)
    except (TypeError, ValueError):
        raise bad("duration", "not a number of seconds") from None
    if not duration >= 0 or duration > 86_400:
        raise bad("duration", "not a number of seconds between 0 and a day")
    return {"communication_id": str(r["communication_id"]).strip(),
            "user_id": str(r["user_id"]).strip(), "type": kind,
            "direction": str(r.get("direction") or ""), "from": str(r.get("from") or ""),
            "to": str(r.get("to") or ""), "started_at": started, "duration": duration}
