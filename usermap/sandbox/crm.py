"""The sandbox's CRM side (issue 21, design §10): calls and communications served as HubSpot's
CRM objects API serves them, for ``usermap activities`` and the real ``hubspot-api-client``.

``CrmObjects`` holds the records in memory and answers a request as ``(status, payload)``; the
server (``SandboxServer(..., crm=CrmObjects())``) routes both path styles
(``/crm/v3/objects/{calls|communications}/…``, ``/crm/objects/2026-03/…``), authenticates,
applies the faults and the daily quota it shares with the owners API, and sends. Served:
``search`` (filters and limits: crmquery.py; 200 a page; no page ends past 10,000; its own
``search_rate`` a second, HubSpot's five, then 429 SECONDLY with no rate headers),
``batch/read`` (100 inputs, 50 with ``propertiesWithHistory``; unknown ids: 207) and
``batch/update`` (100 inputs; a property that does not exist, is read-only, or an owner that is
not active refuses the whole batch with HubSpot's 400 "Property values were not valid"; unknown
ids: 207; a change appends a history entry of ``write_source`` and moves ``updatedAt``).
docs/decisions.md ("CRM sandbox") says which details are HubSpot's documented ones and which are
choices.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
import time
from collections import Counter, OrderedDict, deque
from operator import itemgetter

from ..errors import RequestInvalid
from .crmquery import (DATETIMES, OBJECT_TYPES, SYSTEM, compile_groups, has_tokens,
                       input_ids, iso_ms, parse_body, prop_names, sort_key, sort_rule, to_ms)

__all__ = ["CrmObjects", "SEARCH_MAX_RESULTS", "SEARCH_MAX_LIMIT", "BATCH_MAX",
           "HISTORY_BATCH_MAX", "SEARCH_RATE", "stub_log_activities"]

SEARCH_MAX_LIMIT = 200          # "The maximum number of supported objects per page is 200."
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_RESULTS = 10_000     # "Attempting to page beyond 10,000 will result in a 400 error."
SEARCH_MAX_QUERY = 3000
SEARCH_RATE = 5                 # search requests a second per account
BATCH_MAX = 100
HISTORY_BATCH_MAX = 50
PROPERTIES = {
    "calls": ("hs_timestamp", "hubspot_owner_id", "hs_call_external_id", "hs_call_from_number",
              "hs_call_to_number", "hs_call_duration", "hs_call_source", "hs_call_app_id",
              "hs_call_direction", "hs_call_status", "hs_call_title", "hs_call_body",
              "hubspot_team_id"),
    "communications": ("hs_timestamp", "hubspot_owner_id", "hs_communication_channel_type",
                       "hs_communication_logged_from", "hs_communication_body",
                       "hubspot_team_id"),
}
SINGULAR = {"calls": "CALL", "communications": "COMMUNICATION"}
HISTORY_LIMIT_MESSAGE = ("The maximum number of inputs supported in a batch request for property "
                         "histories is 50. Please reduce the number of items and try again")


class _Record:
    """One record. ``history`` holds the histories given or written; a property set at creation
    and never written since has one entry from ``origin`` (made when asked: 100k records stay
    small)."""
    __slots__ = ("id", "props", "history", "origin", "created", "updated", "ts")

    def __init__(self, rid: str, props: dict, history: dict, origin: dict, created: int):
        self.id, self.props, self.history, self.origin = rid, props, history, origin
        self.created = self.updated = created
        self.ts = to_ms(props.get("hs_timestamp"))

    def hist(self, name: str) -> list[dict]:
        if name in self.history:
            return self.history[name]
        v = self.props.get(name)
        return [] if v is None else [dict(self.origin, value=v, timestamp=iso_ms(self.created))]

    def value(self, name: str):
        if name == "hs_object_id":
            return self.id
        if name == "hs_createdate":
            return iso_ms(self.created)
        if name == "hs_lastmodifieddate":
            return iso_ms(self.updated)
        return self.props.get(name)

    def sort_key(self):
        return (int(self.id) if self.id.isdigit() else 0, self.id)


class CrmObjects:
    """Calls and communications in memory, answered as HubSpot's CRM objects API answers.

    ``add(object_type, id, properties, history)`` stores a record: ``history`` is the history of
    ``hubspot_owner_id``, newest first, as ``{"value", "timestamp", "sourceType", "sourceId",
    "sourceLabel"?, "updatedByUserId"?}`` (timestamps ISO 8601 or epoch ms); without it, a set
    owner gets one entry of source ``API`` at creation. Every other property set gets one entry
    at creation, from the source of the oldest owner entry. ``get(object_type, id)`` returns a
    copy (``id``, ``properties``, ``history``, ``propertiesWithHistory``, ``createdAt``,
    ``updatedAt``).
    """

    def __init__(self, *, search_rate: float = SEARCH_RATE, search_window: float = 1.0,
                 write_source: str = "API",
                 write_source_id: str | None = None, write_source_label: str | None = None,
                 inactive_owners: str = "refuse", clock=time.time):
        if search_rate < 0 or search_window <= 0:
            raise ValueError("search_rate must not be negative, search_window must be positive")
        if inactive_owners not in ("refuse", "accept"):
            raise ValueError("inactive_owners is 'refuse' or 'accept'")
        self.search_rate, self.search_window = float(search_rate), float(search_window)
        self.write_source = (write_source, write_source_id, write_source_label)
        self.inactive_owners = inactive_owners
        self._clock = clock
        self._records: dict[str, dict[str, _Record]] = {t: {} for t in OBJECT_TYPES}
        self._by_time: dict[str, list] = {t: [] for t in OBJECT_TYPES}   # (ts, key, id, rec)
        self._unsorted: set[str] = set()      # types whose time index needs sorting
        self._known = {t: set(PROPERTIES[t]) for t in OBJECT_TYPES}
        self._lock = threading.RLock()
        self._version = 0                     # bumped by every write: search caches follow it
        self._cache: OrderedDict = OrderedDict()
        self._window: deque = deque()
        self.stats: Counter = Counter()

    # --- the store --------------------------------------------------------------------------
    def add(self, object_type: str, id, properties: dict, history: list | None = None, *,
            created_at=None) -> None:
        if object_type not in OBJECT_TYPES:
            raise ValueError(f"object_type is one of {OBJECT_TYPES}, got {object_type!r}")
        rid = str(id)
        props = {str(k): (None if v is None or v == "" else str(v))     # "": unset, as
                 for k, v in properties.items()}                          # a write of ""
        ts = to_ms(props.get("hs_timestamp"))
        if props.get("hs_timestamp") is not None:
            if ts is None:
                raise ValueError(f"{object_type} {rid}: hs_timestamp is not a datetime")
            props["hs_timestamp"] = iso_ms(ts)
        created = to_ms(created_at) if created_at is not None else (ts or self._now())
        owner_hist = [self._entry(e) for e in (history or [])]
        owner = props.get("hubspot_owner_id")
        if owner_hist and "hubspot_owner_id" not in props:
            props["hubspot_owner_id"] = owner = owner_hist[0]["value"] or None
        elif owner_hist and (owner or "") != (owner_hist[0]["value"] or ""):
            raise ValueError(f"{object_type} {rid}: hubspot_owner_id {owner!r} is not the "
                             f"newest history value {owner_hist[0]['value']!r}")
        if not owner_hist and owner:
            owner_hist = [{"value": owner, "timestamp": iso_ms(created), "sourceType": "API"}]
        origin = {k: v for k, v in (owner_hist[-1] if owner_hist else {"sourceType": "API"}
                                    ).items() if k in ("sourceType", "sourceId", "sourceLabel")}
        rec = _Record(rid, props, {"hubspot_owner_id": owner_hist} if owner_hist else {},
                      origin, created)
        with self._lock:
            old = self._records[object_type].get(rid)
            if old is not None:
                self._unindex(object_type, old)
            self._records[object_type][rid] = rec
            self._known[object_type].update(props)
            self._index(object_type, rec)
            self._version += 1

    def get(self, object_type: str, id) -> dict | None:
        with self._lock:
            rec = self._records[object_type].get(str(id))
            if rec is None:
                return None
            return {"id": rec.id, "properties": dict(rec.props),
                    "history": [dict(e) for e in rec.hist("hubspot_owner_id")],
                    "propertiesWithHistory": {k: [dict(e) for e in rec.hist(k)]
                                              for k in rec.props if rec.hist(k)},
                    "createdAt": iso_ms(rec.created), "updatedAt": iso_ms(rec.updated)}

    def count(self, object_type: str | None = None) -> int:
        types = OBJECT_TYPES if object_type is None else (object_type,)
        return sum(len(self._records[t]) for t in types)

    def ids(self, object_type: str) -> list[str]:
        with self._lock:
            return list(self._records[object_type])

    def _index(self, object_type: str, rec: _Record) -> None:
        """Put the record in the time index: appended, sorted when next needed (``_sorted``)."""
        if rec.ts is not None:
            self._by_time[object_type].append((rec.ts, rec.sort_key(), rec.id, rec))
            self._unsorted.add(object_type)

    def _sorted(self, object_type: str) -> list:
        idx = self._by_time[object_type]
        if object_type in self._unsorted:
            idx.sort()
            self._unsorted.discard(object_type)
        return idx

    def _unindex(self, object_type: str, rec: _Record) -> None:
        if rec.ts is not None:
            idx = self._sorted(object_type)
            i = bisect.bisect_left(idx, (rec.ts, rec.sort_key(), rec.id))
            if i < len(idx) and idx[i][2] == rec.id:
                del idx[i]

    def _now(self) -> int:
        return int(self._clock() * 1000)

    @staticmethod
    def _entry(e: dict) -> dict:
        if "value" not in e or "sourceType" not in e or "timestamp" not in e:
            raise ValueError(f"a history entry needs value, timestamp and sourceType: {e!r}")
        ms = to_ms(e["timestamp"])
        if ms is None:
            raise ValueError(f"history timestamp is not a datetime: {e['timestamp']!r}")
        out = {"value": "" if e["value"] is None else str(e["value"]),
               "timestamp": iso_ms(ms), "sourceType": str(e["sourceType"])}
        for k in ("sourceId", "sourceLabel"):
            if e.get(k) is not None:
                out[k] = str(e[k])
        if e.get("updatedByUserId") is not None:
            out["updatedByUserId"] = int(e["updatedByUserId"])
        return out

    # --- the search rate ----------------------------------------------------------------------
    def search_wait(self, now: float) -> float | None:
        """None if a search may go on now, else the seconds until the window (``search_rate``
        searches per ``search_window`` seconds, HubSpot's: 5 per 1; rate 0: no limit) has room.
        Counts the refusals in ``stats["search_429"]``."""
        if not self.search_rate:
            return None
        with self._lock:
            win = self._window
            while win and win[0] <= now - self.search_window:
                win.popleft()
            if len(win) >= self.search_rate:
                self.stats["search_429"] += 1
                return win[0] + self.search_window - now
            win.append(now)
            return None

    # --- answers ------------------------------------------------------------------------------
    def answer(self, route: tuple[str, str], raw: bytes, query: dict,
               owners: dict[str, dict]) -> tuple[int, dict]:
        """``(status, payload)`` for a request on ``route`` (``crm_route``) with body ``raw``;
        ``owners`` maps owner id to Owners API object (for ``hubspot_owner_id`` writes). A 400's
        payload is ``{status, message, category, context?}``; the server adds the
        correlationId."""
        kind, op = route
        with self._lock:
            self.stats[op] += 1
            self.stats[f"{kind}/{op}"] += 1
        try:
            body = parse_body(raw)
            if op == "search":
                return 200, self._search(kind, body)
            archived = (query.get("archived") or ["false"])[-1].lower() == "true"
            if op == "batch/read":
                return self._batch_read(kind, body, archived)
            return self._batch_update(kind, body, owners)
        except RequestInvalid as e:
            with self._lock:
                self.stats["400"] += 1
            out = {"status": "error", "message": str(e), "category": "VALIDATION_ERROR"}
            if e.context:
                out["context"] = e.context
            return 400, out

    def _public(self, kind: str, rec: _Record, names, history=()) -> dict:
        props = {n: rec.value(n) for n in SYSTEM}
        for n in names:
            if n in self._known[kind] or n in SYSTEM:
                props[n] = rec.value(n)
        out = {"id": rec.id, "properties": props, "createdAt": iso_ms(rec.created),
               "updatedAt": iso_ms(rec.updated), "archived": False}
        if history:
            out["propertiesWithHistory"] = {
                n: [dict(e) for e in rec.hist(n)] for n in history
                if n in self._known[kind] or n in SYSTEM}
        return out

    # search ----------------------------------------------------------------------------------
    def _search(self, kind: str, body: dict) -> dict:
        limit = body.get("limit", SEARCH_DEFAULT_LIMIT)
        if type(limit) is not int and not (isinstance(limit, str) and limit.isdigit()):
            raise RequestInvalid(f"limit must be a number, got {limit!r}")
        limit = int(limit)
        if not 1 <= limit <= SEARCH_MAX_LIMIT:
            raise RequestInvalid(f"limit must be between 1 and {SEARCH_MAX_LIMIT}, got {limit}")
        after = body.get("after") or "0"
        if not str(after).isdigit():
            raise RequestInvalid(f"after must be an integer (the paging.next.after of the previous "
                           f"page), got {after!r}")
        after = int(after)
        if after + limit > SEARCH_MAX_RESULTS:      # a page must end by the 10,000th result
            raise RequestInvalid(f"The search endpoints are limited to {SEARCH_MAX_RESULTS} total "
                           f"results for any given query; after={after} with limit={limit} "
                           f"pages beyond them. Narrow the query (e.g. by hs_timestamp).")
        query = body.get("query") or ""
        if len(str(query)) > SEARCH_MAX_QUERY:
            raise RequestInvalid(f"query can contain at most {SEARCH_MAX_QUERY} characters")
        names = prop_names(body.get("properties"), "properties")
        matches = self._matches(kind, body.get("filterGroups") or [], body.get("sorts") or [],
                                str(query))
        page = matches[after:after + limit]
        with self._lock:
            out = {"total": len(matches),
                   "results": [self._public(kind, r, names) for r in page]}
        if after + limit < len(matches):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return out

    def _matches(self, kind: str, groups, sorts, query: str) -> list[_Record]:
        """The records a search selects, in order; the last few queries are cached until the
        next write, so paging through one query costs a slice per page."""
        key = (kind, json.dumps([groups, sorts, query], sort_keys=True, default=str))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == self._version:
                self._cache.move_to_end(key)
                return hit[1]
            preds, window = compile_groups(groups, self._known[kind])
            sort_name, desc = sort_rule(sorts)
            if window is not None:
                idx = self._sorted(kind)
                lo = bisect.bisect_left(idx, (window[0],))
                hi = bisect.bisect_left(idx, (window[1] + 1,))
                pool = list(map(itemgetter(3), idx[lo:hi]))
            else:
                pool = list(self._records[kind].values())
            tokens = query.lower().split()
            if any(preds) or tokens:
                pool = [r for r in pool if (not preds or any(all(p(r) for p in g)
                                                             for g in preds))
                        and (not tokens or has_tokens(r, tokens))]
            if window is not None and sort_name == "hs_timestamp":
                out = pool[::-1] if desc else pool   # the time index's order is this sort's
            else:
                out = sorted(pool, key=sort_key(sort_name), reverse=desc)
            self._cache[key] = (self._version, out)
            if len(self._cache) > 16:
                self._cache.popitem(last=False)
            return out

    # batch read --------------------------------------------------------------------------------
    def _batch_read(self, kind: str, body: dict, archived: bool) -> tuple[int, dict]:
        started = iso_ms(self._now())
        ids = input_ids(body)
        names = prop_names(body.get("properties"), "properties")
        history = prop_names(body.get("propertiesWithHistory"), "propertiesWithHistory")
        if history and len(ids) > HISTORY_BATCH_MAX:
            raise RequestInvalid(HISTORY_LIMIT_MESSAGE)
        if len(ids) > BATCH_MAX:
            raise RequestInvalid(f"The maximum number of inputs supported in a batch request is "
                           f"{BATCH_MAX}; got {len(ids)}. Please reduce the number of items "
                           f"and try again")
        prop = body.get("idProperty")
        if prop not in (None, "", "hs_object_id"):
            raise RequestInvalid(f"Property '{prop}' is not a unique identifier property of {kind}",
                           idProperty=[str(prop)])
        results, missing = [], []
        with self._lock:
            recs = self._records[kind]
            for rid in dict.fromkeys(ids):
                rec = None if archived else recs.get(rid)
                if rec is None:
                    missing.append(rid)
                else:
                    results.append(self._public(kind, rec, names, history))
        return self._batch_answer(kind, results, missing, started)

    def _batch_answer(self, kind, results, missing, started) -> tuple[int, dict]:
        out = {"status": "COMPLETE", "results": results, "startedAt": started,
               "completedAt": iso_ms(self._now())}
        if not missing:
            return 200, out
        out["numErrors"] = 1
        out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND",
                          "message": f"Could not get some {SINGULAR[kind]} objects, they may "
                                     f"be deleted or not exist. Check that ids are valid.",
                          "context": {"ids": missing}, "errors": [], "links": {}}]
        return 207, out

    # batch update ------------------------------------------------------------------------------
    def _batch_update(self, kind: str, body: dict, owners: dict) -> tuple[int, dict]:
        started = iso_ms(self._now())
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise RequestInvalid("inputs must be a list of {id, properties}")
        if len(inputs) > BATCH_MAX:
            raise RequestInvalid(f"The maximum number of inputs supported in a batch request is "
                           f"{BATCH_MAX}; got {len(inputs)}. Please reduce the number of items "
                           f"and try again")
        ids = [str(i.get("id", "")) for i in inputs]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise RequestInvalid(f"Duplicate IDs found in batch input: {dup}. IDs must be unique",
                           ids=dup)
        bad = []
        for i in inputs:
            if i.get("idProperty") not in (None, "", "hs_object_id"):
                raise RequestInvalid(f"Property '{i['idProperty']}' is not a unique identifier "
                               f"property of {kind}")
            props = i.get("properties")
            if not isinstance(props, dict):
                raise RequestInvalid(f"input {i.get('id')!r}: properties must be an object")
            bad += [self._check(kind, k, v, owners) for k, v in props.items()]
        bad = [b for b in bad if b]
        if bad:
            raise RequestInvalid("Property values were not valid: "
                          + json.dumps(bad, separators=(",", ":")))
        results, missing = [], []
        now = self._now()
        with self._lock:
            for rid, i in zip(ids, inputs):
                rec = self._records[kind].get(rid)
                if rec is None:
                    missing.append(rid)
                    continue
                props = {k: ("" if v is None else str(v)) for k, v in i["properties"].items()}
                self._write(kind, rec, props, now)
                results.append(self._public(kind, rec, list(props)))
        return self._batch_answer(kind, results, missing, started)

    def _check(self, kind: str, name: str, value, owners: dict) -> dict | None:
        """HubSpot's validation result for one property write, or None if it is valid."""
        def invalid(message, error):
            return {"isValid": False, "message": message, "error": error, "name": name}
        if name in SYSTEM:
            return invalid(f"{name} is a read only property; its value cannot be set.",
                           "READ_ONLY_VALUE")
        if name not in self._known[kind]:
            return invalid(f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST")
        if value is not None and not isinstance(value, (str, int, float)):
            return invalid(f"{value!r} is not a valid value for {name}", "INVALID_VALUE")
        text = "" if value is None else str(value)
        if name == "hubspot_owner_id" and text:
            o = owners.get(text)
            inactive = o is not None and (bool(o.get("archived")) or o.get("userId") is None)
            if o is None or (inactive and self.inactive_owners == "refuse"):
                return invalid(f"{text} was not a valid owner ID", "INVALID_OWNER_ID")
        if name in DATETIMES and text and to_ms(text) is None:
            return invalid(f"{text} is not a valid datetime for {name}", "INVALID_DATE")
        return None

    def _write(self, kind: str, rec: _Record, props: dict, now: int) -> None:
        source, source_id, label = self.write_source
        changed = False
        for k, v in props.items():
            if k == "hs_timestamp" and v:
                v = iso_ms(to_ms(v))
            if (rec.props.get(k) or "") == v:
                continue
            entry = {f: x for f, x in (("value", v), ("timestamp", iso_ms(now)),
                                       ("sourceType", source), ("sourceId", source_id),
                                       ("sourceLabel", label)) if x is not None}
            rec.history.setdefault(k, rec.hist(k)).insert(0, entry)
            if k == "hs_timestamp":
                self._unindex(kind, rec)
            rec.props[k] = v or None
            if k == "hs_timestamp":
                rec.ts = to_ms(v)
                self._index(kind, rec)
            changed = True
        if changed:
            rec.updated = max(now, rec.updated)
            self._version += 1
            self.stats["writes"] += 1


# --- a stand-in world of activities ----------------------------------------------------------
def stub_log_activities(world, n: int, seed: int = 0) -> CrmObjects:
    """``n`` simple calls and SMS for ``usermap sandbox --activities N`` while
    ``usermap.sandbox.activities_world`` (the real timeline, graded cases and evidence) is
    absent: each logged by the integration under the owner its user is linked to now, or
    unassigned for a user without a link, over the 30 days before the world's latest link."""
    rng = random.Random(f"crm-stub-{seed}")
    crm = CrmObjects()
    links = world.links
    by_user = dict(zip(links["aloware_user_id"].astype(str), links["hubspot_owner_id"].astype(str)))
    users = [str(u) for u in world.users["id"]] or ["0"]
    end = max((to_ms(t) or 0 for t in links.get("mapped_at", [])), default=0) or 1_790_000_000_000
    for i in range(n):
        user = users[rng.randrange(len(users))]
        owner = by_user.get(user, "")
        ts = end - rng.randrange(30 * 86_400_000)
        hist = [{"value": owner, "timestamp": ts, "sourceType": "INTEGRATION",
                 "sourceId": "aloware", "sourceLabel": "Aloware"}] if owner else []
        if rng.random() < 0.7:
            crm.add("calls", 1_000_000 + i, {
                "hs_timestamp": ts, "hubspot_owner_id": owner or None,
                "hs_call_external_id": f"aloware-{i}", "hs_call_source": "INTEGRATIONS_PLATFORM",
                "hs_call_from_number": f"+1555{rng.randrange(10**7):07d}",
                "hs_call_to_number": f"+1555{rng.randrange(10**7):07d}",
                "hs_call_duration": str(rng.randrange(5, 900) * 1000)}, hist)
        else:
            crm.add("communications", 2_000_000 + i, {
                "hs_timestamp": ts, "hubspot_owner_id": owner or None,
                "hs_communication_channel_type": "SMS",
                "hs_communication_logged_from": "INTEGRATION"}, hist)
    return crm
