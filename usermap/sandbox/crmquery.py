"""The CRM objects' requests for the sandbox (split out of crm.py): the routes, parsing a JSON body,
HubSpot's datetimes (ISO 8601 or epoch milliseconds), the filters as predicates on a record, the
one sort rule, and the 400 ``VALIDATION_ERROR`` (``errors.RequestInvalid``)
for whatever HubSpot refuses.

A record here is anything with ``id``, ``props`` (name -> str or None), ``value(name)``, ``ts``
(hs_timestamp in ms), ``created``, ``updated`` (ms) and ``sort_key()``: crm.py's records. No I/O,
no clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache

from ..errors import RequestInvalid

__all__ = ["crm_route", "crm_scope", "OBJECT_TYPES", "iso_ms", "to_ms", "parse_body",
           "prop_names", "input_ids", "has_tokens", "sort_rule", "sort_key", "held",
           "compile_groups", "SYSTEM", "DATETIMES", "OPERATORS", "SEARCH_MAX_GROUPS",
           "SEARCH_MAX_FILTERS", "SEARCH_MAX_ALL_FILTERS"]

OBJECT_TYPES = ("calls", "communications")
PREFIXES = ("/crm/v3/objects/", "/crm/objects/2026-03/")
OPERATIONS = ("search", "batch/read", "batch/update")
SYSTEM = ("hs_object_id", "hs_createdate", "hs_lastmodifieddate")   # in every answer, read-only
DATETIMES = ("hs_timestamp", "hs_createdate", "hs_lastmodifieddate")
OPERATORS = ("EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
SEARCH_MAX_GROUPS, SEARCH_MAX_FILTERS, SEARCH_MAX_ALL_FILTERS = 5, 6, 18
_ALL = (-2**63, 2**63)      # hs_timestamp bounds of a filter that sets none


def crm_route(path: str) -> tuple[str, str] | None:
    """(object type, operation) for a CRM objects path either style spells, else None."""
    for prefix in PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix):].strip("/")
            kind, _, op = rest.partition("/")
            if kind in OBJECT_TYPES and op in OPERATIONS:
                return kind, op
    return None


def crm_scope(route: tuple[str, str]) -> str:
    """The scope HubSpot's spec names for a route: calls and communications are read and
    written under the contacts scopes."""
    return "crm.objects.contacts.write" if route[1] == "batch/update" else \
        "crm.objects.contacts.read"


@lru_cache(maxsize=1 << 17)
def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes a datetime: ``2026-11-03T10:00:00.000Z``. Cached:
    a page of 200 records writes four of them each, and strftime was most of a page's cost."""
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(value) -> int | None:
    """A datetime given as epoch milliseconds (number or digits) or ISO 8601; None if neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    s = str(value).strip()
    if s.lstrip("-").isdigit():
        return int(s)
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return int(round(d.timestamp() * 1000))


def parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except UnicodeDecodeError:
        raise RequestInvalid("Invalid input JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise RequestInvalid(f"Invalid input JSON on line {e.lineno}, column {e.colno}: "
                       f"{e.msg}") from None
    if not isinstance(body, dict):
        raise RequestInvalid("Invalid input JSON: the body must be an object")
    return body


def prop_names(value, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestInvalid(f"{field} must be a list of property names")
    return list(dict.fromkeys(value))


def input_ids(body: dict) -> list[str]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) and "id" in i
                                               for i in inputs):
        raise RequestInvalid("inputs must be a list of {\"id\": …}")
    return [str(i["id"]) for i in inputs]


def has_tokens(rec, tokens: list[str]) -> bool:
    text = " ".join(str(v).lower() for v in rec.props.values() if v)
    return all(t in text for t in tokens)


def sort_rule(sorts) -> tuple[str | None, bool]:
    if not isinstance(sorts, list):
        raise RequestInvalid("sorts must be a list")
    if len(sorts) > 1:
        raise RequestInvalid("Only one sorting rule can be applied to any search")
    if not sorts:
        return None, False
    s = sorts[0]
    if isinstance(s, str):
        return s.lstrip("-"), s.startswith("-")
    if isinstance(s, dict) and isinstance(s.get("propertyName"), str):
        d = str(s.get("direction", "ASCENDING")).upper()
        if d not in ("ASCENDING", "DESCENDING", "ASC", "DESC"):
            raise RequestInvalid(f"direction must be ASCENDING or DESCENDING, got {d!r}")
        return s["propertyName"], d.startswith("DESC")
    raise RequestInvalid(f"a sort is a property name or {{propertyName, direction}}, got {s!r}")


def sort_key(name: str | None):
    if name is None:
        return lambda r: (r.created, r.sort_key())
    if name in DATETIMES:
        return lambda r: (held(r, name) is None, held(r, name) or 0, r.sort_key())

    def key(r):
        v = r.value(name)
        n = number(v)
        return (v is None, n is None, n if n is not None else 0, str(v or ""), r.sort_key())
    return key


def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def comparable(name: str, v):
    """A property value as the filters compare it: ms for datetimes, numbers for numbers,
    lower-case text otherwise (HubSpot's search is case-insensitive)."""
    if v is None or v == "":
        return None
    if name in DATETIMES:
        return to_ms(v)
    n = number(v)
    return n if n is not None else str(v).lower()


def held(r, name: str):
    """The record's value of ``name`` as the filters compare it (datetimes from the record's
    own milliseconds, not parsed again)."""
    if name == "hs_timestamp":
        return r.ts
    if name == "hs_createdate":
        return r.created
    if name == "hs_lastmodifieddate":
        return r.updated
    return _stored(name, r.props.get(name) if name != "hs_object_id" else r.id)


# A stored value (str or None) as compared, cached: a filter on a text property tests every
# record of a window, and float() failing on each text was most of a search's cost.
_stored = lru_cache(maxsize=1 << 16)(comparable)


def compile_groups(groups, known: set) -> tuple[list[list], tuple[int, int] | None]:
    """The groups as lists of predicates, and an hs_timestamp window every group stays inside
    (None when some group has no bound), so a search by time scans only that window. The caller
    scans exactly the records inside the window (records without hs_timestamp are outside), so
    a single group's filters that only bound hs_timestamp are left out of its predicates: the
    window already applies them."""
    if not isinstance(groups, list) or not all(
            isinstance(g, dict) and isinstance(g.get("filters") or [], list) for g in groups):
        raise RequestInvalid("filterGroups must be a list of {filters: [...]}")
    if len(groups) > SEARCH_MAX_GROUPS:
        raise RequestInvalid(f"You can include a maximum of {SEARCH_MAX_GROUPS} filterGroups")
    sizes = [len(g.get("filters") or []) for g in groups]
    if sum(sizes) > SEARCH_MAX_ALL_FILTERS or any(n > SEARCH_MAX_FILTERS for n in sizes):
        raise RequestInvalid(f"at most {SEARCH_MAX_FILTERS} filters in a group and "
                       f"{SEARCH_MAX_ALL_FILTERS} in all")
    out, lows, highs, bounds_only = [], [], [], []
    for g in groups:
        preds, lo, hi, only = [], -2**63, 2**63, []
        for f in g.get("filters") or []:
            p, (flo, fhi) = predicate(f, known)
            preds.append(p)
            only.append((flo, fhi) != _ALL)     # a bound of hs_timestamp and nothing else
            lo, hi = max(lo, flo), min(hi, fhi)
        out.append(preds)
        bounds_only.append(only)
        lows.append(lo)
        highs.append(hi)
    if not out or min(lows) == -2**63 and max(highs) == 2**63:
        return out, None
    if len(out) == 1:
        out = [[p for p, only in zip(out[0], bounds_only[0]) if not only]]
    return out, (min(lows), max(highs))


def predicate(f: dict, known: set):
    """One filter as a predicate on a record, and the hs_timestamp bounds it implies."""
    if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
        raise RequestInvalid(f"a filter needs propertyName and operator, got {f!r}")
    name, op = f["propertyName"], str(f.get("operator", ""))
    if op not in OPERATORS:
        raise RequestInvalid(f"Unknown operator {op!r}; one of {', '.join(OPERATORS)}")
    if name not in known and name not in SYSTEM:
        raise RequestInvalid(f"There was a problem with the request: property '{name}' does not "
                       f"exist", propertyName=[name])
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = op == "HAS_PROPERTY"
        return (lambda r: (r.value(name) not in (None, "")) == want), _ALL
    if op in ("IN", "NOT_IN"):
        vals = f.get("values")
        if not isinstance(vals, list) or not vals:
            raise RequestInvalid(f"operator {op} needs values (a list)")
        want = {comparable(name, v) for v in vals}
        if op == "IN":
            return (lambda r: held(r, name) in want), _ALL
        return (lambda r: held(r, name) not in want), _ALL
    if "value" not in f or f["value"] is None:
        raise RequestInvalid(f"operator {op} needs a value")
    v = comparable(name, f["value"])
    if v is None:
        raise RequestInvalid(f"{f['value']!r} is not a valid value for {name}")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token, want = str(f["value"]).lower().strip("*"), op == "CONTAINS_TOKEN"
        return (lambda r: (token in str(r.value(name) or "").lower()) == want), _ALL
    hv = None
    if op == "BETWEEN":
        hv = comparable(name, f.get("highValue"))
        if hv is None:
            raise RequestInvalid("operator BETWEEN needs highValue")
    return compare(name, op, v, hv)


def compare(name: str, op: str, v, hv):
    number = isinstance(v, (int, float))

    def test(r):
        x = held(r, name)
        if op == "NEQ":
            return x != v
        if x is None or isinstance(x, (int, float)) != number:
            return False
        return {"EQ": x == v, "GT": x > v, "GTE": x >= v, "LT": x < v, "LTE": x <= v,
                "BETWEEN": v <= x <= (hv if hv is not None else x)}[op]
    bounds = _ALL
    if name == "hs_timestamp" and isinstance(v, int):
        bounds = {"EQ": (v, v), "GT": (v + 1, 2**63), "GTE": (v, 2**63), "LT": (-2**63, v - 1),
                  "LTE": (-2**63, v), "BETWEEN": (v, hv if isinstance(hv, int) else 2**63)
                  }.get(op, bounds)
    return test, bounds
