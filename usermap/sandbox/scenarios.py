"""Deterministic, seeded "worlds" for tests, the demo, the sandbox server and benchmarks.

A world is an Aloware users directory, a HubSpot owners directory and the mapping store's links,
of any size from a handful of users to 1,000,000::

    world = generate(10_000, seed=7)   # users, owners (Owners API objects), links
    write_world(world, "snap/")        # aloware_users.csv, hubspot_owners.json, mappings.csv

Same arguments, same world, byte for byte (numpy ``Generator`` seeded with ``seed``; no clock, no
environment). Construction is vectorised: 1,000,000 users and owners build and write in seconds.

**Every case.** When ``n_users >= SHOWCASE_MIN_USERS`` (100) and
``n_owners >= SHOWCASE_MIN_OWNERS`` (100; the default ``n_owners`` is ``n_users``) the world
starts with a fixed *showcase* block of 49 hand-built cases (46 users, 45 owners, 24 links in
the listings) in which, under the rules of docs/design.md §2-§5, every user status and kind, every
mapping issue code (``models.ISSUE_CODES``) and every unmapped reason (``models.ALOWARE_REASONS``,
``models.HUBSPOT_REASONS``) occurs at least once, along with mixed-case, whitespace-padded,
NFD/NFC and capital-sharp-s (``ß``/``ẞ``) e-mails that must match, a pinned manual alias, a QUEUE
owner sharing a user's e-mail, a deactivated link whose person has a new active owner, and
name/e-mail-typo pairs for suggestions. ``showcase_expectations(world)`` lists each showcase
record with the code it must produce. Smaller worlds take the leading showcase cases that fit in
half of each directory, so even ``generate(10)`` has a few problems.

**The bulk** after the showcase is drawn with realistic proportions (binomial counts, shuffled
rows). About 80 % of users are *healthy pairs*: an eligible (active, ~5 % paused) full user and
exactly one active PERSON owner with the same e-mail key. ``linked_share`` is the share of users
that have a link in ``links``; healthy pairs that are not linked are ``match_pending`` on both
sides, so with the default 0.5 about 46 % of users are linked and synced and about a third are
pending (with ``linked_share=1``, about 77 % are linked and synced). About 8-10 % of links carry
an issue; about 16 % of users and 11 % of owners are unmapped for another reason (ineligible,
missing or invalid e-mail, duplicates, deactivated owner, typo, no counterpart, QUEUE...); about
5 % of owners are deactivated. ``linked_share`` is a target: issue links always exist, and healthy
links are capped by the number of healthy pairs (so at most ~85 % of users end up linked).

``n_owners`` sets the exact size of the owners listing (active and archived owners together);
spare owners are HubSpot-only people (``no_matching_user``), spare users have no owner
(``no_matching_owner``). Links to users or owners that are absent from the listings
(``aloware_user_not_found``, ``hubspot_owner_not_found``) use ids taken from the same id sequences
(deleted accounts), so they look like real ids.

E-mail local parts are unique per person across the whole world (a number is appended to repeated
``first.last`` names), so two records share an e-mail key only where a case means them to.

Modules: ``world`` (World, the row builder), ``showcase`` (the fixed cases and their
expectations), ``bulk`` (the drawn cases), this one (assembly: ids, order, timestamps, teams; and
the files).
"""

from __future__ import annotations

import gc
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import models as m

from .bulk import build_bulk, counts
from .showcase import add_showcase, showcase_cases, showcase_locals
from .world import Builder, World

__all__ = ["generate", "write_world", "messy", "extra_archived_owners", "FILE_USERS",
           "FILE_OWNERS", "FILE_MAPPINGS"]

FILE_USERS, FILE_OWNERS, FILE_MAPPINGS = "aloware_users.csv", "hubspot_owners.json", "mappings.csv"
USER_COLUMNS = (m.U_ID, m.U_FIRST, m.U_LAST, m.U_EMAIL, m.U_STATUS, m.U_KIND, m.U_ROLE)
LINK_FRAME_COLUMNS = m.MAPPINGS_CSV_COLUMNS

_TEAMS = (("2841203", "Sales"), ("2841204", "Support"), ("2841205", "Customer Success"),
          ("2841206", "SDR"), ("2841207", "Account Management"), ("2841208", "Marketing"),
          ("2841209", "Billing"), ("2841210", "Onboarding"))
_ROLES = ("agent", "supervisor", "admin")

_EPOCH_START = np.datetime64("2017-01-01T00:00:00.000", "ms")
_EPOCH_END = np.datetime64("2025-06-01T00:00:00.000", "ms")   # the world's "now"; no clock is read


# --- assembly --------------------------------------------------------------------------------

def _positions(rng: np.random.Generator, n_fixed: int, n_total: int) -> np.ndarray:
    """Final row of each built row: the fixed head stays first, the rest is shuffled."""
    order = np.concatenate([np.arange(n_fixed), n_fixed + rng.permutation(n_total - n_fixed)])
    pos = np.empty(n_total, dtype=np.int64)
    pos[order] = np.arange(n_total)
    return pos


def _ids(rng: np.random.Generator, n: int, start: int, max_gap: int) -> np.ndarray:
    return start + np.cumsum(rng.integers(1, max_gap + 1, n, dtype=np.int64))


_MINUTES = np.array([f"{h:02d}:{mi:02d}:" for h in range(24) for mi in range(60)], dtype=object)
_SECONDS = np.array([f"{x:02d}Z" for x in range(60)], dtype=object)
_MILLIS = np.array([f"{x // 1000:02d}.{x % 1000:03d}Z" for x in range(60_000)], dtype=object)


def _iso(t: np.ndarray, millis: bool) -> np.ndarray:
    """ISO 8601 UTC strings ('2019-08-26T15:09:53.218Z', or without the milliseconds), built
    from lookup tables: about five times as fast as ``np.datetime_as_string``."""
    v = t.astype("datetime64[ms]").astype(np.int64)
    if len(v) == 0:
        return np.empty(0, dtype=object)
    day, rem = np.divmod(v, 86_400_000)
    d0 = int(day.min())
    days = np.datetime_as_string(np.arange(d0, int(day.max()) + 1).astype("datetime64[D]"))
    dstr = days.astype(object) + "T"
    sec = _MILLIS[rem % 60_000] if millis else _SECONDS[(rem % 60_000) // 1000]
    return dstr[day - d0] + _MINUTES[rem // 60_000] + sec


def generate(n_users: int, seed: int = 0, *, n_owners: int | None = None,
             linked_share: float = 0.5) -> World:
    """A world of exactly ``n_users`` users and ``n_owners`` (default: ``n_users``) owners."""
    if n_users < 1:
        raise ValueError("n_users must be at least 1")
    n_owners = n_users if n_owners is None else int(n_owners)
    if n_owners < 0:
        raise ValueError("n_owners must not be negative")
    if not 0.0 <= linked_share <= 1.0:
        raise ValueError("linked_share must be between 0 and 1")
    rng = np.random.default_rng([seed, n_users, n_owners, int(round(linked_share * 1e6))])

    cases = showcase_cases(n_users, n_owners)
    reserved = showcase_locals(cases)
    b = Builder()
    s_u, s_o, s_l = add_showcase(b, cases)
    head_u, head_o = b.nu, b.no
    U, O = n_users - s_u, n_owners - s_o
    L = max(int(round(linked_share * n_users)) - s_l, 0)
    build_bulk(b, rng, counts(rng, U, O, L), reserved)
    us, os_, ls = b._cat(b.u), b._cat(b.o), b._cat(b.l)
    nu, no = b.nu, b.no
    del b
    upos = _positions(rng, head_u, nu)
    opos = _positions(rng, head_o, no)
    uid_of_pos = _ids(rng, nu, 10_000, 3).astype(str).astype(object)
    oid_of_pos = _ids(rng, no, 10_000_000, 40).astype(str).astype(object)
    hsuid_of_pos = _ids(rng, no, 7_000_000, 9)
    created, updated, mapped = _times(rng, no, opos, ls["o"])
    t1, t2 = _teams(rng, no, os_["type"])

    users = _users_frame(rng, us, upos, uid_of_pos)
    del us
    links = _links_frame(ls, upos, opos, uid_of_pos, oid_of_pos, mapped)
    del ls
    # owners, in id order, without the ghosts
    sel = np.flatnonzero(~os_["ghost"])
    sel = sel[np.argsort(opos[sel], kind="stable")]
    hsuid = np.asarray(hsuid_of_pos[opos[sel]].tolist(), dtype=object)
    user_id = hsuid.copy()            # the same int objects: userId is userIdIncludingInactive
    user_id[os_["deact"][sel]] = None
    owners = _owner_dicts(
        oid_of_pos[opos[sel]], os_["email"][sel], os_["first"][sel], os_["last"][sel], user_id,
        hsuid, os_["type"][sel], os_["archived"][sel], created[sel], updated[sel], t1[sel],
        t2[sel])
    if len(users) != n_users or len(owners) != n_owners:   # pragma: no cover - a bug here
        raise AssertionError(f"built {len(users)} users / {len(owners)} owners")
    return World(users=users, owners=owners, links=links)


def _times(rng: np.random.Generator, no: int, opos: np.ndarray, link_owner: np.ndarray):
    """(created, updated) per built owner and mapped_at per link, as datetime64[ms]: owners'
    timestamps grow with the id, like HubSpot's; links were made after the owner."""
    span = int((_EPOCH_END - _EPOCH_START) / np.timedelta64(1, "ms"))
    created = (_EPOCH_START + np.sort(rng.integers(0, span - 86_400_000, no)))[opos]
    updated = created + _fraction(rng.random(no), _EPOCH_END - created)
    lo_created = created[link_owner]
    mapped = lo_created + _fraction(rng.uniform(0.05, 1.0, len(lo_created)),
                                    _EPOCH_END - lo_created)
    return created, updated, mapped


def _teams(rng: np.random.Generator, no: int, types: np.ndarray):
    """Each built owner's first and second team (index into _TEAMS, -1 for none)."""
    t1 = np.where(rng.random(no) < 0.7, rng.integers(0, len(_TEAMS), no), -1)
    t2 = np.where((t1 >= 0) & (rng.random(no) < 0.07),
                  (t1 + rng.integers(1, len(_TEAMS), no)) % len(_TEAMS), -1)
    t1[types == "QUEUE"] = -1
    return t1, t2


def _users_frame(rng: np.random.Generator, us: dict, upos: np.ndarray,
                 uid_of_pos: np.ndarray) -> pd.DataFrame:
    """The users frame, in id order, without the ghosts (draws the roles left open)."""
    role = us["role"]
    todo = pd.isna(role)
    role[todo] = rng.choice(np.array(_ROLES, dtype=object), size=int(todo.sum()),
                            p=[0.88, 0.08, 0.04])
    role[us["kind"] != "user"] = ""
    sel = np.flatnonzero(~us["ghost"])
    sel = sel[np.argsort(upos[sel], kind="stable")]
    return pd.DataFrame({
        m.U_ID: pd.array(uid_of_pos[upos[sel]], dtype="str"),
        m.U_FIRST: pd.array(us["first"][sel], dtype="str"),
        m.U_LAST: pd.array(us["last"][sel], dtype="str"),
        m.U_EMAIL: pd.array(us["email"][sel], dtype="str"),
        m.U_STATUS: pd.array(us["status"][sel], dtype="str"),
        m.U_KIND: pd.array(us["kind"][sel], dtype="str"),
        m.U_ROLE: pd.array(role[sel], dtype="str"),
    })


def _links_frame(ls: dict, upos: np.ndarray, opos: np.ndarray, uid_of_pos: np.ndarray,
                 oid_of_pos: np.ndarray, mapped: np.ndarray) -> pd.DataFrame:
    """The links frame, ordered by Aloware id."""
    order = np.argsort(upos[ls["u"]], kind="stable")
    return pd.DataFrame({
        m.L_USER: pd.array(uid_of_pos[upos[ls["u"]]][order], dtype="str"),
        m.L_OWNER: pd.array(oid_of_pos[opos[ls["o"]]][order], dtype="str"),
        m.L_A_EMAIL: pd.array(ls["a"][order], dtype="str"),
        m.L_H_EMAIL: pd.array(ls["h"][order], dtype="str"),
        m.L_METHOD: pd.array(ls["method"][order], dtype="str"),
        m.L_MAPPED_AT: pd.array(_iso(mapped, millis=False)[order], dtype="str"),
    })


def _fraction(share: np.ndarray, span: np.ndarray) -> np.ndarray:
    """``share`` of each timedelta64[ms] in ``span``, as timedelta64[ms]."""
    return (share * span.astype(np.int64)).astype(np.int64).astype("timedelta64[ms]")


def _owner_dicts(ids, emails, first, last, user_id, user_id_all, types, archived, created,
                 updated, team1, team2, chunk: int = 65_536) -> list[dict]:
    """The Owners API objects, made in chunks (little memory beyond the dicts themselves).

    One dict per owner is unavoidable; the cyclic garbage collector is paused while they are made
    (a million new containers would trigger it thousands of times, each pass slower)."""
    teams = [(tid, name) for tid, name in _TEAMS]
    out: list[dict] = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for s in range(0, len(ids), chunk):
            e = s + chunk
            out += [
                {"id": i, "email": em, "firstName": fn, "lastName": ln, "userId": u,
                 "userIdIncludingInactive": ua, "type": t, "archived": a, "createdAt": c,
                 "updatedAt": up,
                 "teams": ([] if x < 0 else
                           [{"id": teams[x][0], "name": teams[x][1], "primary": True}]
                           if y < 0 else
                           [{"id": teams[x][0], "name": teams[x][1], "primary": True},
                            {"id": teams[y][0], "name": teams[y][1], "primary": False}])}
                for i, em, fn, ln, u, ua, t, a, c, up, x, y in zip(
                    ids[s:e].tolist(), emails[s:e].tolist(), first[s:e].tolist(),
                    last[s:e].tolist(), user_id[s:e].tolist(), user_id_all[s:e].tolist(),
                    types[s:e].tolist(), archived[s:e].tolist(),
                    _iso(created[s:e], millis=True).tolist(),
                    _iso(updated[s:e], millis=True).tolist(), team1[s:e].tolist(),
                    team2[s:e].tolist())
            ]
    finally:
        if was_enabled:
            gc.enable()
    return out


# --- more of a world -------------------------------------------------------------------------

def extra_archived_owners(existing: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` archived PERSON owners with fresh ids and e-mails (former staff), deterministic."""
    rng = random.Random(f"archived-{seed}-{n}")
    start = max((int(o["id"]) for o in existing if str(o.get("id", "")).isdigit()),
                default=10_000_000) + 1
    out = []
    for i in range(n):
        created = 1_483_228_800 + rng.randrange(0, 200_000_000)
        updated = created + rng.randrange(0, 50_000_000)
        out.append({
            "id": str(start + i), "email": f"former.staff{i + 1}@acme.com",
            "firstName": "Former", "lastName": f"Staff {i + 1}", "userId": None,
            "userIdIncludingInactive": 8_000_000 + i, "type": "PERSON", "archived": True,
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created)),
            "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(updated)),
            "teams": [],
        })
    return out


# --- files -----------------------------------------------------------------------------------

def messy(world: World, seed: int = 0, *, share: float = 0.3, duplicates: float = 0.02
          ) -> World:
    """The same world as people's exports often have it (for benchmarks; tests use the plain
    one): ``share`` of the users' and a third as many owners' e-mails get stray whitespace
    and changed case (keys unchanged), and ``duplicates`` of the users take another user's
    e-mail (a duplicate e-mail; those users and their links change audit results)."""
    rng = np.random.default_rng([seed, len(world.users), 7])
    users = world.users.copy()
    email = users[m.U_EMAIL].to_numpy(object).copy()
    n = len(email)
    pads = np.array(["", " ", "  ", "\u00a0"], dtype=object)   # U+00A0: str.strip strips it
    pick = np.flatnonzero(rng.random(n) < share)
    cased = np.where(rng.random(len(pick)) < 0.5,
                     pd.Series(email[pick], dtype=object).str.upper().to_numpy(object),
                     pd.Series(email[pick], dtype=object).str.title().to_numpy(object))
    email[pick] = (pads[rng.integers(0, 4, len(pick))] + cased
                   + pads[rng.integers(0, 3, len(pick))])
    dup = np.flatnonzero(rng.random(n) < duplicates)
    email[dup] = email[rng.integers(0, n, len(dup))]
    users[m.U_EMAIL] = pd.array(email, dtype="str")
    owners = [dict(o) for o in world.owners]
    for i in np.flatnonzero(rng.random(len(owners)) < share / 3).tolist():
        e = owners[i]["email"]
        owners[i]["email"] = " " + e.upper() + " " if isinstance(e, str) else e
    return World(users=users, owners=owners, links=world.links)


def write_world(world: World, directory, *, quoted: bool = False, blank_lines: float = 0.0,
                indent: int | None = None, seed: int = 0, sparse: bool = False) -> dict:
    """Writes the snapshot files and the mappings CSV; returns {file name: path}.

    The defaults write the plain shape (what tests use; byte-identical for the same world). For
    benchmarks, other shapes of the same content: ``quoted`` quotes every CSV field (as
    spreadsheets export), ``blank_lines`` is the share of CSV rows followed by a blank line,
    ``indent`` pretty-prints the owners JSON (one key per line, as ``json.dump(indent=2)``),
    ``sparse`` leaves "teams" out of an owner in no team (as HubSpot's API does)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {FILE_USERS: d / FILE_USERS, FILE_OWNERS: d / FILE_OWNERS,
             FILE_MAPPINGS: d / FILE_MAPPINGS}
    if not quoted and not blank_lines:
        world.users.loc[:, list(USER_COLUMNS)].to_csv(
            paths[FILE_USERS], index=False, lineterminator="\n", encoding="utf-8")
        world.links.loc[:, list(LINK_FRAME_COLUMNS)].to_csv(
            paths[FILE_MAPPINGS], index=False, lineterminator="\n", encoding="utf-8")
    else:
        import csv
        rng = np.random.default_rng([seed, len(world.users), 11])
        for frame, cols, path in ((world.users, USER_COLUMNS, paths[FILE_USERS]),
                                  (world.links, LINK_FRAME_COLUMNS, paths[FILE_MAPPINGS])):
            text = frame.loc[:, list(cols)].to_csv(
                index=False, lineterminator="\n",
                quoting=csv.QUOTE_ALL if quoted else csv.QUOTE_MINIMAL)
            lines = text.split("\n")
            if blank_lines:
                blank = rng.random(len(lines)) < blank_lines
                blank[0] = False
                lines = [x for ln, b in zip(lines, blank.tolist()) for x in ((ln, "") if b
                                                                              else (ln,))]
            path.write_text("\n".join(lines), encoding="utf-8")
    owners = world.owners
    if sparse:
        owners = [{k: v for k, v in o.items() if k != "teams" or v} for o in owners]
    if indent is None:
        _write_owners(owners, paths[FILE_OWNERS])
    else:
        with open(paths[FILE_OWNERS], "w", encoding="utf-8", newline="\n") as f:
            json.dump(owners, f, ensure_ascii=False, indent=indent)
    return paths


def _write_owners(owners: list[dict], path: Path, chunk: int = 20_000) -> None:
    """A JSON array, one owner per line (UTF-8, not ASCII-escaped), written in chunks."""
    encode = _line_encoder()
    tmp = path.with_name(path.name + ".tmp")
    was_enabled = gc.isenabled()
    gc.disable()     # encoding makes no cycles; collections would walk every owner dict
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write("[")
            for start in range(0, len(owners), chunk):
                part = owners[start:start + chunk]
                f.write(("," if start else "") + "\n" + ",\n".join(map(encode, part)))
            f.write("\n]\n")
    finally:
        if was_enabled:
            gc.enable()
    os.replace(tmp, path)


def _line_encoder():
    """``json.dumps(obj, ensure_ascii=False)`` for one object. Uses the C encoder directly when
    CPython has it (twice as fast: ``json.dumps`` builds a new one per call); same output."""
    try:
        from json.encoder import c_make_encoder, encode_basestring
        if c_make_encoder is None:
            raise ImportError
        enc = c_make_encoder(None, None, encode_basestring, None, ": ", ", ", False, False, True)

        def encode(obj) -> str:
            return "".join(enc(obj, 0))
        if encode({"a": [1, None, True, "é\""]}) != json.dumps({"a": [1, None, True, "é\""]},
                                                            ensure_ascii=False):
            raise ImportError
        return encode
    except (ImportError, TypeError):
        return json.JSONEncoder(ensure_ascii=False).encode
