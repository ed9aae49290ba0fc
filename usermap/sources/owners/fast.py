"""The fast reader of hubspot_owners.json, beside the exact one (``exact.py``, the semantics):
msgspec decodes the file a few hundred KB at a time into the same raw owner columns, or answers
None when it cannot vouch for the file (``NOT_VOUCHED``); ``read.py`` then reads it the exact way,
which names the line of a syntax error, the owner of a repeated key, the field of a wrong type.
Nothing here raises: any doubt is a None, so errors and their messages are the exact path's
alone, and ``frame.py`` does all the post-processing for both.

Two decoders. The typed one (every Owners API field required, with the types the frame accepts:
``type`` PERSON or QUEUE, ``archived`` a boolean, teams of {id, name, primary}) builds only
what it must and guarantees the types, so the caller skips its type checks. When a piece does not
fit it (a missing field, a null ``type``, a team with another key...), that piece and the rest of
the file go through the loose one (any value for any field), whose columns the caller validates
as the exact path's.

Adapter: file I/O only; no network, no SQLite. Must not import snapshot.py or exact.py.
"""

from __future__ import annotations

import gc
import os
import re
import stat
from itertools import chain
from operator import attrgetter
from pathlib import Path

from ...engine.models import API_OWNER_FIELDS
from .dupkeys import keys_in

__all__ = ["owner_columns", "NOT_VOUCHED"]

# What this reader answers None for, leaving it to the exact one (tests/sources hold it to that):
NOT_VOUCHED = (
    "anything not starting with '[' in its first 64 KB (an object, a scalar, empty, not JSON)",
    "any syntax error, invalid UTF-8, control character, NaN, trailing comma, lone surrogate",
    "a non-object element, or a value of a shape neither decoder takes",
    "a key given twice in one object, or an unknown key the count cannot rule out",
    "an escaped colon (\\u003a) in a typed piece (it would spoil the count of keys)",
    "a file that is not regular, cannot be opened, or changed (size, time) while read",
    "an id past 64 bits in the prefetch child (msgpack cannot carry it)",
)

_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")   # (JSON's whitespace only)
_READ_BYTES = 256 << 10   # (a piece: what is left after one is copied once more)
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
    when this path cannot vouch for the file (``NOT_VOUCHED``): the caller reads it with json.

    msgspec is strict where json is (control characters, trailing commas, NaN, lone surrogates
    and invalid UTF-8 are errors) and never silently different: any error falls back. A key
    given twice in one object (msgspec keeps the last silently) is found by counting, piece by
    piece (see ``_typed_piece_ok`` and ``_loose_piece``).

    The file is read piece by piece (never mapped: a file truncated under a mapping kills the
    process with SIGBUS); a file whose size or time changed while it was read is not vouched
    for."""
    try:
        typed, loose, msgspec = _make_decoders()
    except ImportError:  # pragma: no cover - a dependency; the json path still works
        return None
    try:
        f = open(path, "rb")
    except (OSError, ValueError):
        return None
    with f:
        was = gc.isenabled()
        gc.disable()
        try:
            before = os.fstat(f.fileno())
            if not stat.S_ISREG(before.st_mode):
                return None
            found = _owners_read(_Reader(f), typed, loose, msgspec)
            after = os.fstat(f.fileno())
            if found is None or (before.st_size, before.st_mtime_ns) != (
                    after.st_size, after.st_mtime_ns):
                return None
            return found
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError,
                OverflowError, OSError):
            return None
        finally:
            if was:
                gc.enable()


class _Reader:
    """The file's bytes from the start of the current piece on (``buf``), read as needed."""

    def __init__(self, f) -> None:
        self.f, self.buf, self.eof = f, b"", False

    def more(self) -> bool:
        """Append the next block (False at the end of the file)."""
        if self.eof:
            return False
        block = self.f.read(_READ_BYTES)
        if not block:
            self.eof = True
            return False
        self.buf += block
        return True

    def boundary(self, start: int):
        """The first element boundary at or after ``start`` (reading on as needed), or None."""
        while True:
            while len(self.buf) <= start and self.more():
                pass
            cut = _BOUNDARY.search(self.buf, start) if start < len(self.buf) else None
            if cut is not None or not self.more():
                return cut

    def drop(self, upto: int) -> None:
        self.buf = self.buf[upto:]


def _owners_read(r: _Reader, typed, loose, msgspec) -> tuple[dict, bool] | None:
    while len(r.buf) < 1 << 16 and r.more():
        pass
    head = r.buf.lstrip(b" \t\r\n")
    if not head.startswith(b"["):
        return None
    cols: dict = {f: [] for f in _WANTED}
    names = {f: {None: ""} for f in _NAMES}  # one string per distinct name; null → ""
    ids: set = set()
    decode = typed
    r.drop(len(r.buf) - len(head) + 1)
    while True:
        cut = r.boundary(_PIECE_BYTES)
        for _ in range(64):  # a cut inside a nested array (teams) fails: take the next
            if cut is None:
                while r.more():
                    pass
            text = r.buf if cut is None else r.buf[:cut.start() + 1]
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
                cut = r.boundary(cut.end())
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
        r.drop(cut.end() - 1)
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
            parsed_keys += keys_in(list(values))
        if f in cols:
            cols[f] += values
    return parsed_keys == text_keys
