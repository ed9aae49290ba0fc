"""Every call or SMS in a time range, read from both ends at once (DESIGN §10, issue 21).

HubSpot's CRM search answers 200 a page, at most 10,000 a query, about 5 requests a second. A
chain of pages is sequential (a page's cursor comes with the answer before), so one chain keeps
the rate only while every answer comes back within one slot (0.2 s). Two chains read one range:
ascending from its start and descending from its end, and each request claims as its ``limit``
``min(200, what is left unclaimed)`` of the ``total`` the first answer gives. The two meet
exactly, and the requests are ceil(N/200), the fewest that 200 a page allows.

- Past 10,000 a chain starts a new query at the last timestamp it read (GTE ascending, LTE
  descending) leaving out the ids it read at that timestamp (``hs_object_id`` ``NOT_IN``), so no
  request reads a record twice; with more than ``SKIP_MAX`` of them it reads them again and drops
  them (a request more, at most one a restart).
- The descending chain starts once the first answer is in (the total is unknown before). A
  different total in its first answer (activities logged or deleted meanwhile) moves what is left.
- HubSpot does not document the order of records sharing a timestamp. If the two ends disagree
  on it where they meet, the records neither read are read at the end by one more query between
  the two chains' last timestamps: the result is whole either way, the minimum then exceeded by
  that query's pages.

Pure of I/O itself: ``post(body, what)`` sends a search and returns the answer (the client's
pacing, retries and deadline are behind it); ``left()`` is the seconds left of its deadline.
"""

from __future__ import annotations

import queue
import threading

from ..errors import BadAnswerError, SourceError
from .rules import iso as rules_iso, to_ms

__all__ = ["search_range", "SEARCH_PAGE", "SEARCH_CAP", "SKIP_MAX"]

SEARCH_PAGE, SEARCH_CAP = 200, 10_000
SKIP_MAX = 100          # ids a restart leaves out by NOT_IN; more are read again and dropped
_QUEUE = 8              # pages read ahead of the consumer: memory stays bounded
_DONE = object()


class _Range:
    """What the two ends share: the total, the claims, the ids read, each end's last timestamp,
    and whether to stop (an error, or the consumer left)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.total: int | None = None      # from the first answer; None: unknown
        self.base: int | None = None       # the first answer's total, as it was
        self.alone = False                 # no total in the answer: the start reads it all
        self.claimed = 0
        self.seen: set[str] = set()
        self.last = {False: None, True: None}     # by descending: last timestamp read
        self.first = threading.Event()            # the first answer is in (or it failed)
        self.desc_answered = False
        self.stop = False                  # the ends claim no more
        self.gone = False                  # nobody takes their pages any more

    def claim(self, desc: bool) -> int:
        """The next request's limit: 0 when this end is done."""
        with self.lock:
            if self.stop:
                return 0
            if self.total is None or self.alone:
                return 0 if desc else SEARCH_PAGE     # only the start asks before the total
            c = min(SEARCH_PAGE, self.total - self.claimed)
            if c <= 0:
                return 0
            self.claimed += c
            return c

    def took(self, claimed: int, results: list, desc: bool, total) -> list:
        """Account an answer; the results not read before, in order."""
        with self.lock:
            if self.total is None and not self.alone:
                if isinstance(total, int) and not isinstance(total, bool):
                    self.total = self.base = total
                    self.claimed = claimed
                else:
                    self.alone = True
            elif desc and not self.desc_answered and isinstance(total, int):
                self.total += total - self.base      # logged or deleted since the first answer
            self.desc_answered = self.desc_answered or desc
            new = []
            for r in results:
                rid = str(r.get("id"))
                if rid not in self.seen:
                    self.seen.add(rid)
                    new.append(r)
            return new


def _body(lo, hi, lo_op, hi_op, desc, properties, filters, skip, limit, after) -> dict:
    flt = []
    if lo is not None:
        flt.append({"propertyName": "hs_timestamp", "operator": lo_op, "value": str(lo)})
    if hi is not None:
        flt.append({"propertyName": "hs_timestamp", "operator": hi_op, "value": str(hi)})
    if skip:
        flt.append({"propertyName": "hs_object_id", "operator": "NOT_IN",
                    "values": sorted(skip)})
    flt.extend(filters)
    body = {"filterGroups": [{"filters": flt}], "properties": list(properties),
            "sorts": [{"propertyName": "hs_timestamp",
                       "direction": "DESCENDING" if desc else "ASCENDING"}],
            "limit": limit}
    if after:
        body["after"] = after
    return body


def _timestamp(r: dict, last):
    v = (r.get("properties") or {}).get("hs_timestamp")
    try:
        return to_ms(v) if v else last
    except ValueError:
        return last


class _Chain:
    """One end: its query's bounds, its cursor, and the ids it read at its last timestamp."""

    def __init__(self, rng: _Range, desc: bool, since, until):
        self.rng, self.desc = rng, desc
        self.lo, self.hi = since, until
        self.lo_op, self.hi_op = "GTE", "LT"
        self.after, self.pos, self.page_no = None, 0, 0
        self.last_t, self.at_last = None, []       # ids read at last_t
        self.skip: list[str] = []

    def restart(self, obj: str) -> None:
        """The query's 10,000 are read: a new one from the last timestamp read."""
        bound = self.hi if self.desc else self.lo
        if self.last_t is None or (self.last_t == bound and len(self.at_last) > SKIP_MAX):
            raise SourceError(f"HubSpot {obj} search: more than {SEARCH_CAP} activities share "
                              f"one timestamp; they cannot be paged past")
        if self.desc:
            self.hi, self.hi_op = self.last_t, "LTE"
        else:
            self.lo, self.lo_op = self.last_t, "GTE"
        self.skip = list(self.at_last) if len(self.at_last) <= SKIP_MAX else []
        self.after, self.pos = None, 0

    def page(self, post, obj: str, properties, filters, limit: int, what: str) -> tuple:
        """The next page of this end's query: (its results, the answer's total). The cursor,
        the position and the last timestamp read move on."""
        ans = post(_body(self.lo, self.hi, self.lo_op, self.hi_op, self.desc, properties,
                         filters, self.skip, limit, self.after), what)
        results = ans.get("results")
        if not isinstance(results, list):
            raise BadAnswerError(f"HubSpot {obj} search: the answer has no results list")
        self._saw(results)
        self.pos += limit
        self.after = ((ans.get("paging") or {}).get("next") or {}).get("after")
        return results, ans.get("total")

    def read_through(self, results: list) -> bool:
        """Whether this end's query is read to its end (no next page before the cap)."""
        return not results or not self.after and self.pos < SEARCH_CAP

    def _saw(self, results: list) -> None:
        for r in results:
            t = _timestamp(r, self.last_t)
            if t != self.last_t:
                self.last_t, self.at_last = t, []
            self.at_last.append(str(r.get("id")))
        with self.rng.lock:
            self.rng.last[self.desc] = self.last_t


def _run(post, obj, chain: _Chain, properties, filters, emit) -> None:
    rng = chain.rng
    while True:
        c = rng.claim(chain.desc)
        if c == 0:
            return
        if chain.pos + c > SEARCH_CAP:
            chain.restart(obj)
        chain.page_no += 1
        where = (f"from the end ({rules_iso(chain.hi)})" if chain.desc and chain.hi is not None
                 else f"from {rules_iso(chain.lo or 0)}")
        results, total = chain.page(post, obj, properties, filters, c,
                                    f"HubSpot {obj} search {where}, page {chain.page_no}")
        new = rng.took(c, results, chain.desc, total)
        rng.first.set()
        emit(new)
        if chain.read_through(results):
            return


def search_range(post, left, obj: str, *, since_ms: int = 0, until_ms: int | None = None,
                 properties=(), filters=()):
    """Every ``obj`` with ``hs_timestamp`` in [since, until), each once, as result dicts (id,
    properties), in no set order: the two ends' pages as they come."""
    rng = _Range()
    pages: queue.Queue = queue.Queue(maxsize=_QUEUE)

    def emit(item) -> None:
        while not rng.gone:
            try:
                pages.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def end(desc: bool) -> None:
        try:
            if desc:
                while not rng.first.wait(0.5):          # the first answer gives the total
                    if rng.stop or left() <= 0:
                        return
            _run(post, obj, _Chain(rng, desc, since_ms, until_ms), properties, filters, emit)
        except BaseException as e:        # handed to the consumer, raised in its thread
            rng.stop = True
            rng.first.set()
            emit(e)
        finally:
            emit(_DONE)

    threads = [threading.Thread(target=end, args=(d,), name=f"usermap-{obj}-search-{i}",
                                daemon=True) for i, d in enumerate((False, True))]
    for t in threads:
        t.start()
    try:
        yield from _consume(pages, left, obj)
        yield from _gap(post, rng, obj, since_ms, until_ms, properties, filters)
    finally:
        rng.stop = rng.gone = True
        for t in threads:
            t.join(timeout=5)


def _consume(pages: queue.Queue, left, obj: str):
    done = 0
    while done < 2:
        try:
            item = pages.get(timeout=max(1.0, left() + 30.0))
        except queue.Empty:
            raise SourceError(f"HubSpot {obj} search: no answer within the time budget") from None
        if item is _DONE:
            done += 1
        elif isinstance(item, BaseException):
            raise item
        else:
            yield from item


def _gap(post, rng: _Range, obj, since, until, properties, filters):
    """The records neither end read (the ends disagreed on the order of ties where they met,
    a restart read ties again, or the account changed meanwhile): one more query between the
    two ends' last timestamps."""
    if rng.total is None or rng.alone or len(rng.seen) >= rng.total:
        return
    ends = [t for t in rng.last.values() if t is not None]
    chain = _Chain(rng, False, min(ends) if ends else since, until)
    if len(ends) == 2:
        chain.hi, chain.hi_op = max(ends), "LTE"
    while True:
        if chain.pos + SEARCH_PAGE > SEARCH_CAP:
            chain.restart(obj)
        results, _ = chain.page(post, obj, properties, filters, SEARCH_PAGE,
                                f"HubSpot {obj} search between the two ends")
        yield from rng.took(0, results, False, None)
        if chain.read_through(results):
            return
