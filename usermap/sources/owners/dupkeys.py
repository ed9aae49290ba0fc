"""A key given twice in one owner object: json and msgspec both keep the last value silently,
so a reader that did not look would link an e-mail nobody can see in the file. The exact reader
flags it while parsing (``dup_key_hook``), the fast one counts keys, and the fetch checks every
page (``repeated_key``), so it never writes a snapshot a later command refuses.

Pure: the standard library only (the fetch imports it and never imports pandas).
"""

from __future__ import annotations

from itertools import chain

from ...errors import InputError

__all__ = ["dup_key_hook", "dup_key_in", "refuse_dup_keys", "repeated_key", "keys_in"]


class _DupKeyObject(dict):
    """A parsed JSON object that had a key twice (``dup``: the first such key)."""
    dup: str = ""


def dup_key_hook(flagged: list):
    """An object_pairs_hook: the dict, as json builds it, plus a note when a key repeats."""
    def hook(pairs):
        d = dict(pairs)
        if len(d) != len(pairs):
            d = _DupKeyObject(d)
            seen: set = set()
            d.dup = next(k for k, _ in pairs if k in seen or seen.add(k))
            flagged.append(d)
        return d
    return hook


def dup_key_in(value):
    """The repeated key inside ``value`` (an owner, searched with its nested objects), or None."""
    if isinstance(value, _DupKeyObject):
        return value.dup
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for v in items:
        found = dup_key_in(v)
        if found is not None:
            return found
    return None


def refuse_dup_keys(objs: list, offset: int, source: str) -> None:
    for i, o in enumerate(objs):
        key = dup_key_in(o)
        if key is not None:
            raise InputError(f"key {key!r} appears twice in one owner object (JSON would keep "
                             f"only the last)", file=source, row=offset + i + 1, column=key)


def repeated_key(text: bytes, value) -> tuple[int, str] | None:
    """(element, key) of the first owner with a key given twice, for ``value`` as json parsed
    ``text`` (a page: an object whose "results" are the owners, or the array itself), or None.

    json keeps the last of two equal keys silently. With JSON whitespace deleted every key in
    the text is followed by '":', so that count is at least the number of keys; when it
    equals the keys json kept (counted level by level) no key repeats. Only otherwise (or when
    a string holds '":') is the text parsed again, noting repeats."""
    if _keys_in_text(text) == keys_in(value):
        return None
    import json
    flagged: list = []
    again = json.loads(text, object_pairs_hook=dup_key_hook(flagged))
    if not flagged:
        return None
    owners = again.get("results") if isinstance(again, dict) else again
    for i, o in enumerate(owners if isinstance(owners, list) else ()):
        key = dup_key_in(o)
        if key is not None:
            return i + 1, key
    return 0, dup_key_in(again)   # outside the owners (the page's paging)


def _keys_in_text(text) -> int:
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    return text.translate(None, b" \t\r\n").count(b'":')


_SCALARS = frozenset((str, int, float, bool, type(None)))


def keys_in(value) -> int:
    """The keys of every object inside ``value``, level by level (C-speed map/chain)."""
    total = 0
    level = [value]
    while level:
        types = set(map(type, level))
        if types <= _SCALARS:
            break
        dicts = [v for v in level if type(v) is dict] if types != {dict} else level
        lists = [v for v in level if type(v) is list] if types != {list} else level
        total += sum(map(len, dicts))
        level = list(chain(chain.from_iterable(map(dict.values, dicts)),
                           chain.from_iterable(lists)))
    return total
