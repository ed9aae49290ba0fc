"""The fast path of reading hubspot_owners.json (owners_json.py calls ``owner_columns`` first):
msgspec decodes the mapped file a few MB at a time into the owner columns, or answers None when
it cannot vouch for the file; owners_json.py then reads it with json, which names the line of a
syntax error, the owner of a repeated key, the field of a wrong type. Nothing here raises an
InputError: any doubt is a None, so errors and their messages are the json path's alone.

Two decoders. The typed one (every Owners API field required, with the types the frame accepts:
``type`` PERSON or QUEUE, ``archived`` a boolean, teams of {id, name, primary}) builds only
what it must and guarantees the types, so the caller skips its type checks. When a piece does not
fit it (a missing field, a null ``type``, a team with another key...), that piece and the rest of
the file go through the loose one (any value for any field), whose columns the caller validates
as the json path's.

Adapter: file I/O only; no network, no SQLite. Must not import snapshot.py or owners_json.py.
"""

from __future__ import annotations

import gc
import mmap
import re
from itertools import chain
from operator import attrgetter
from pathlib import Path

from ...engine.models import API_OWNER_FIELDS

__all__ = ["owner_columns"]

_BOUNDARY = re.compile(rb"\}\s*,\s*\{")
_PIECE_BYTES = 256 << 10  # (the objects of a piece stay in the CPU cache: 2x faster than 4 MB)
_SCALARS = frozenset((str, int, float, bool, type(None)))
# Every field of an Owners API v3 object (teams items: id, name, primary).
_API_FIELDS = ("id", "email", "firstName", "lastName", "userId", "userIdIncludingInactive",
               "type", "archived", "createdAt", "updatedAt", "teams")
_WANTED = tuple(API_OWNER_FIELDS.values())
_NAMES = ("firstName", "lastName")
# Fields an owner object may leave out (HubSpot sends no "teams" for an owner in no team, and
# no e-mail, names or user ids for some): absent, they decode as UNSET and read as null.
_OPTIONAL = ("email", "firstName", "lastName", "userId", "userIdIncludingInactive", "teams")
_GET = {f: attrgetter(f) for f in _API_FIELDS}
_decoders = None


def _make_decoders():
    """(typed decoder, loose decoder, msgspec), made once (msgspec is imported only here)."""
    global _decoders
    if _decoders is None:
        from typing import Any, Literal

        import msgspec

        opts = {"forbid_unknown_fields": True, "gc": False}
        team = msgspec.defstruct("Team", [("id", str | int), ("name", str | None),
                                          ("primary", bool | None)], **opts)
        unset, maybe = msgspec.UNSET, msgspec.UnsetType   # (optional: absent is fine)
        owner = msgspec.defstruct("Owner", [
            ("id", str | int),
            ("type", Literal["PERSON", "QUEUE"]),  # (decoded as these very string objects)
            ("archived", bool), ("createdAt", str), ("updatedAt", str),
            ("email", str | None | maybe, unset), ("firstName", str | None | maybe, unset),
            ("lastName", str | None | maybe, unset), ("userId", int | str | None | maybe, unset),
            ("userIdIncludingInactive", int | str | None | maybe, unset),
            ("teams", list[team] | maybe, unset)], **opts)
        loose = msgspec.defstruct("OwnerRow", [(f, Any, msgspec.UNSET) for f in _API_FIELDS],
                                  gc=False)
        _decoders = (msgspec.json.Decoder(list[owner]).decode,
                     msgspec.json.Decoder(list[loose]).decode, msgspec)
    return _decoders


def owner_columns(path: Path) -> tuple[dict, bool] | None:
    """The raw owner columns (keyed by the frame's column names) and whether every piece went
    through the typed decoder (then ``id`` is str or int, ``email`` str or None, first and last
    names str, ``type`` PERSON or QUEUE, ``archived`` bool, user ids int, str or None), or None
    when this path cannot vouch for the file: the caller reads it with json.

    msgspec is strict where json is (control characters, trailing commas, NaN, lone surrogates
    and invalid UTF-8 are errors) and never silently different: any error falls back. A key
    given twice in one object (msgspec keeps the last silently) is found by counting, piece by
    piece (see ``_typed_piece_ok`` and ``_loose_piece``)."""
    try:
        typed, loose, msgspec = _make_decoders()
    except ImportError:  # pragma: no cover - a dependency; the json path still works
        return None
    try:  # mapped, not read: pages already parsed are given back as it goes (a 1M-owner
        with open(path, "rb") as f:  # file is 300-400 MB)
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # (an empty file cannot be mapped: the json path says so)
        return None
    with data:
        was = gc.isenabled()
        gc.disable()
        try:
            return _owners_mapped(data, typed, loose, msgspec)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError,
                OverflowError):
            return None
        finally:
            if was:
                gc.enable()


def _owners_mapped(data, typed, loose, msgspec) -> tuple[dict, bool] | None:
    if not data[:1 << 16].lstrip(b" \t\r\n").startswith(b"["):
        return None
    page = mmap.PAGESIZE
    forget = getattr(mmap, "MADV_DONTNEED", None)
    cols: dict = {f: [] for f in _WANTED}
    names = {f: {None: ""} for f in _NAMES}  # one string per distinct name; null → ""
    ids: set = set()
    decode, pos = typed, data.find(b"[") + 1
    while True:
        cut = (_BOUNDARY.search(data, pos + _PIECE_BYTES)
               if pos + _PIECE_BYTES < len(data) else None)
        for _ in range(64):  # a cut inside a nested array (teams) fails: take the next
            text = data[pos:len(data) if cut is None else cut.start() + 1]
            try:
                if decode is typed and b"\\" in text and b"\\u003" in text:
                    decode = loose  # (an escaped ':' would spoil the count of keys)
                objs = decode(b"[" + text + (b"" if cut is None else b"]"))
                break
            except msgspec.ValidationError:  # (valid JSON, other shapes: the loose decoder
                if decode is loose:          # takes any; a non-object element is the json
                    return None              # path's error to name)
                decode = loose
            except msgspec.DecodeError:
                if cut is None:
                    return None
                cut = _BOUNDARY.search(data, cut.end())
        else:
            return None
        if not objs:
            break
        if decode is typed:
            if not _typed_piece_ok(objs, text, msgspec.UNSET):
                return None
            _typed_columns(objs, cols, names, ids, msgspec.UNSET)
        elif not _loose_piece(objs, text, cols, msgspec.UNSET):
            return None
        if cut is None:
            break
        pos = cut.end() - 1
        if forget is not None and pos >= page:
            data.madvise(forget, 0, pos // page * page)
    typed = decode is typed and len(ids) == len(cols["id"]) and "" not in ids
    return {col: cols[api] for col, api in API_OWNER_FIELDS.items()}, typed


def _typed_columns(objs: list, cols: dict, names: dict, ids: set, unset) -> None:
    """Gather a typed piece (while its objects are in the CPU cache): ids stripped (as text),
    names one string per distinct value, an absent field null, a null e-mail or name "" (the
    frame's defaults)."""
    for f in _WANTED:
        values = list(map(_GET[f], objs))
        if f in _OPTIONAL and values.count(unset):
            values = [None if v is unset else v for v in values]
        if f in names:
            values = list(map(names[f].setdefault, values, values))
        elif f == "id":
            try:
                values = list(map(str.strip, values))
            except TypeError:  # (some ids are numbers)
                values = [str(v).strip() for v in values]
            ids.update(values)
        elif f == "email" and None in values:
            values = ["" if v is None else v for v in values]
        cols[f] += values


def _typed_piece_ok(objs: list, text: bytes, unset) -> bool:
    """True when no object of this typed piece has a key twice.

    The decoder refused unknown keys in owners and teams, so every key is a field name (no
    ':'); each owner has 11 distinct keys less the optional ones it left out (UNSET), each team
    3. In valid JSON a ':' is a key's separator or a character inside a string, and without an
    escaped colon (``\\u003a``, checked before decoding) the strings' colons are those of the
    decoded strings. So keys = colons in the text - colons in the strings, and the keys are
    exactly the distinct ones when that equals the count of present keys. Counting only the
    timestamps' colons first undercounts the strings' colons, so it can only make the keys
    look more (a closer look, then a fallback), never fewer."""
    teams = [t for t in map(_GET["teams"], objs) if t is not unset]
    absent = sum(list(map(_GET[f], objs)).count(unset) for f in _OPTIONAL)
    want = 11 * len(objs) - absent + 3 * sum(map(len, teams))
    keys = text.count(b":") - sum("".join(map(_GET[f], objs)).count(":")
                                  for f in ("createdAt", "updatedAt"))
    if keys == want:
        return True
    members = list(chain.from_iterable(teams))
    strings = chain.from_iterable(map(_GET[f], objs) for f in (
        "id", "email", "firstName", "lastName", "userId", "userIdIncludingInactive"))
    strings = chain(strings, map(_GET["id"], members), map(attrgetter("name"), members))
    return keys - "".join([v for v in strings if type(v) is str]).count(":") == want


def _loose_piece(objs: list, text: bytes, cols: dict, unset) -> bool:
    """Gather the wanted fields of a loosely decoded piece (None where absent); True when no
    object has a repeated or unknown key. With JSON whitespace deleted every key in the text
    is followed by '":', so that count is at least the number of keys, which is at least the
    number of distinct known keys the decoder kept (present fields plus the keys of nested
    objects): equal counts prove there is neither a repeated nor an unknown key (a string value
    holding '":' only makes the text count larger: a fallback, never a miss). Pieces end with
    '}' and start with '{', so no key straddles two."""
    from msgspec.structs import astuple
    text_keys = text.translate(None, b" \t\r\n").count(b'":')
    parsed_keys = 0
    for f, values in zip(_API_FIELDS, zip(*map(astuple, objs))):
        types = set(map(type, values))
        parsed_keys += len(values)
        if type(unset) in types:
            parsed_keys -= values.count(unset)
            values = [None if v is unset else v for v in values]
            types = set(map(type, values))
        if not types <= _SCALARS:
            parsed_keys += _nested_keys(list(values))
        if f in cols:
            cols[f] += values
    return parsed_keys == text_keys


def _nested_keys(values: list) -> int:
    """The keys of every object inside these values, level by level with C-speed map/chain
    (teams: a list of small objects of scalars, two levels)."""
    total = 0
    level = values
    while level:
        types = set(map(type, level))
        if types <= _SCALARS:
            break
        dicts = (level if types == {dict} else [] if dict not in types else
                 [v for v in level if type(v) is dict])
        lists = (level if types == {list} else [] if list not in types else
                 [v for v in level if type(v) is list])
        total += sum(map(len, dicts))
        level = list(chain(chain.from_iterable(map(dict.values, dicts)),
                           chain.from_iterable(lists)))
    return total
