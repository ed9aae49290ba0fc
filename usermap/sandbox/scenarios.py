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
the listings) in which, under the rules of DESIGN.md §2-§5, every user status and kind, every
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
"""

from __future__ import annotations

import gc
import json
import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from usermap import models as m

__all__ = ["World", "generate", "write_world", "showcase_expectations", "SHOWCASE_MIN_USERS",
           "SHOWCASE_MIN_OWNERS", "FILE_USERS", "FILE_OWNERS", "FILE_MAPPINGS"]

SHOWCASE_MIN_USERS = 100
SHOWCASE_MIN_OWNERS = 100

FILE_USERS, FILE_OWNERS, FILE_MAPPINGS = "aloware_users.csv", "hubspot_owners.json", "mappings.csv"
USER_COLUMNS = (m.U_ID, m.U_FIRST, m.U_LAST, m.U_EMAIL, m.U_STATUS, m.U_KIND, m.U_ROLE)
LINK_FRAME_COLUMNS = m.MAPPINGS_CSV_COLUMNS


@dataclass(frozen=True)
class World:
    users: pd.DataFrame    # id, first_name, last_name, email, status, kind, role (all str)
    owners: list[dict]     # Owners API v3 objects (camelCase), active and archived together
    links: pd.DataFrame    # aloware_user_id, hubspot_owner_id, aloware_email, hubspot_email,
    #                        method ("email" | "manual"), mapped_at (ISO 8601 "Z")


# --- vocabulary of the world -----------------------------------------------------------------

_FIRST_NAMES = (
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy "
    "Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily "
    "Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah "
    "Timothy Stephanie Ronald Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen "
    "Jacob Amy Gary Angela Nicholas Helen Eric Anna Jonathan Brenda Stephen Pamela Larry "
    "Nicole Justin Samantha Scott Katherine Brandon Christine Benjamin Debra Samuel Rachel "
    "Gregory Carolyn Alexander Janet Frank Maria Raymond Olivia Patrick Heather Jack Diane "
    "Dennis Julie Jerry Joyce Tyler Victoria Aaron Kelly Priya Wei Mohammed Fatima Aisha "
    "Hiroshi Yuki Olga Ivan Luca Giulia Ahmed Mei Kwame Ngozi Arjun Ananya"
).split() + ["José", "Zoë", "François", "Björn", "Chloé", "Renée", "Jürgen", "Søren", "Inês",
             "Łukasz", "Siobhán", "Ayşe"]
_LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott "
    "Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter "
    "Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed "
    "Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray "
    "Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez "
    "Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Fisher "
    "Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin "
    "Wallace West Cole Hayes Bryant Gibson Ellis Stevens Murray Ford Marshall Owens Harrison "
    "Fernandez Tanaka Sato Suzuki Chen Wang Li Zhang Singh Kumar Sharma Ivanov Petrov Rossi "
    "Bianchi Okafor Mensah Cohen Novak Kowalski Larsen Jensen OBrien"
).split() + ["Müller", "Núñez", "García", "Peña", "Lefèvre", "Dvořák", "Øvergård", "Şahin",
             "Gómez", "Jäger"]
_EXT_NAMES = ("Front Desk", "Main Line", "Reception", "After Hours", "Billing Line",
              "Support Line", "Sales Line", "Warehouse", "Conference Room", "Lobby")
_QUEUE_NAMES = (("Inbound", "Sales"), ("Customer", "Support"), ("Renewals", "Team"),
                ("Billing", "Queue"), ("Partner", "Desk"), ("Escalations", "Queue"))
_TEAMS = (("2841203", "Sales"), ("2841204", "Support"), ("2841205", "Customer Success"),
          ("2841206", "SDR"), ("2841207", "Account Management"), ("2841208", "Marketing"),
          ("2841209", "Billing"), ("2841210", "Onboarding"))
_ROLES = ("agent", "supervisor", "admin")

_DOMAINS = ("acme.com", "acme.io")                       # where people's e-mails live
_TYPO_DOMAINS = {"acme.com": ("acme.co", "acmee.com", "acme.cm", "acme.con"),
                 "acme.io": ("acme.oi", "acmee.io")}     # a slip of the keyboard in the domain
_HS_NEW_DOMAIN = "acmegroup.com"    # an owner's e-mail changed in HubSpot (rebrand, new address)
_PERSONAL_DOMAIN = "gmail.com"      # an Aloware user switched to a personal address
_OLD_DOMAIN = "oldacme.com"         # both sides moved away from this recorded address
_ALIAS_DOMAIN = "acmesales.com"     # the alias a manual link pins

_EPOCH_START = np.datetime64("2017-01-01T00:00:00.000", "ms")
_EPOCH_END = np.datetime64("2025-06-01T00:00:00.000", "ms")   # the world's "now"; no clock is read


def _ascii(name: str) -> str:
    special = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "đ": "d"}
    name = "".join(special.get(c, c) for c in name)
    return "".join(c for c in unicodedata.normalize("NFD", name)
                   if not unicodedata.combining(c) and c.isalnum())


def _key(value) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value).strip()).casefold()


def _pool(names) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Display names, e-mail forms (ascii, native), whether non-ASCII, and Zipf-like weights."""
    disp = np.array([unicodedata.normalize("NFC", n) for n in names], dtype=object)
    asc = np.array([_ascii(n).lower() for n in names], dtype=object)
    nat = np.array([unicodedata.normalize("NFC", n).lower().replace("'", "") for n in names],
                   dtype=object)
    non_ascii = np.array([not n.isascii() for n in names])
    w = 1.0 / (np.arange(len(names)) + 8.0)
    w[non_ascii] *= 0.5
    return disp, asc, nat, non_ascii, w / w.sum()


_FIRST = _pool(_FIRST_NAMES)
_LAST = _pool(_LAST_NAMES)


# --- the builder -----------------------------------------------------------------------------

def _col(v, k: int, dtype=object) -> np.ndarray:
    if isinstance(v, np.ndarray):
        if len(v) != k:
            raise ValueError(f"column of length {len(v)}, expected {k}")
        return v if v.dtype == dtype else v.astype(dtype)
    if isinstance(v, (list, tuple, pd.Series)):
        return _col(np.asarray(list(v), dtype=dtype), k, dtype)
    out = np.empty(k, dtype=dtype)
    out[:] = v
    return out


class _Builder:
    """Rows of users, owners and links, addressed by their position before shuffling."""

    def __init__(self) -> None:
        self.u: dict[str, list] = defaultdict(list)
        self.o: dict[str, list] = defaultdict(list)
        self.l: dict[str, list] = defaultdict(list)
        self.nu = self.no = 0

    def users(self, first, last, email, status="active", kind="user", role=None,
              ghost=False) -> np.ndarray:
        k = len(email)
        for name, v in (("first", first), ("last", last), ("email", email), ("status", status),
                        ("kind", kind), ("role", role)):
            self.u[name].append(_col(v, k))
        self.u["ghost"].append(_col(ghost, k, bool))
        idx = np.arange(self.nu, self.nu + k)
        self.nu += k
        return idx

    def owners(self, first, last, email, type="PERSON", archived=False, deact=False,
               ghost=False) -> np.ndarray:
        k = len(email)
        for name, v in (("first", first), ("last", last), ("email", email), ("type", type)):
            self.o[name].append(_col(v, k))
        for name, v in (("archived", archived), ("deact", deact), ("ghost", ghost)):
            self.o[name].append(_col(v, k, bool))
        idx = np.arange(self.no, self.no + k)
        self.no += k
        return idx

    def links(self, u, o, a_email, h_email, method=m.METHOD_EMAIL) -> None:
        k = len(u)
        self.l["u"].append(np.asarray(u, dtype=np.int64))
        self.l["o"].append(np.asarray(o, dtype=np.int64))
        self.l["a"].append(_col(a_email, k))
        self.l["h"].append(_col(h_email, k))
        self.l["method"].append(_col(method, k))

    @staticmethod
    def _cat(parts: dict[str, list]) -> dict[str, np.ndarray]:
        return {name: np.concatenate(v) for name, v in parts.items()}


# --- the showcase ----------------------------------------------------------------------------
# Each case: (name, users, owners, links). A user/owner is a dict with a local "key"; a link is
# (user key, owner key, recorded aloware e-mail, recorded hubspot e-mail, method) where None as a
# recorded e-mail means "the side's current e-mail". Comments give the outcome under DESIGN.md §4.

def _U(key, first, last, email, status="active", kind="user", role="agent", ghost=False):
    return dict(key=key, first=first, last=last, email=email, status=status, kind=kind,
                role=role if kind == "user" else "", ghost=ghost)


def _O(key, first, last, email, type="PERSON", archived=False, deact=False, ghost=False):
    return dict(key=key, first=first, last=last, email=email, type=type, archived=archived,
                deact=deact, ghost=ghost)


def _L(u, o, a=None, h=None, method=m.METHOD_EMAIL):
    return (u, o, a, h, method)


_NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

_SHOWCASE = (
    # synced: plain
    ("healthy", [_U("a", "Ana", "Lima", "ana.lima@acme.com", role="admin")],
     [_O("a", "Ana", "Lima", "ana.lima@acme.com")], [_L("a", "a")]),
    # match_pending on both sides
    ("pending", [_U("b", "Lena", "Vogel", "lena.vogel@acme.com")],
     [_O("b", "Lena", "Vogel", "lena.vogel@acme.com")], []),
    # hubspot_email_changed: the owner's e-mail changed since the link was recorded
    ("hubspot_changed", [_U("c", "Liam", "Walsh", "liam.walsh@acme.com")],
     [_O("c", "Liam", "Walsh", "liam.walsh@acmegroup.com")],
     [_L("c", "c", "liam.walsh@acme.com", "liam.walsh@acme.com")]),
    # hubspot_owner_deactivated: archived owner (userId kept)
    ("archived_owner", [_U("d", "Ivy", "Chen", "ivy.chen@acme.com")],
     [_O("d", "Ivy", "Chen", "ivy.chen@acme.com", archived=True)], [_L("d", "d")]),
    # not_eligible: an inactive user with no owner
    ("inactive_unlinked", [_U("e", "Sean", "Murphy", "sean.murphy@acme.com", status="inactive")],
     [], []),
    # no_matching_owner (user) and no_matching_user (owner): a typo in the domain; suggestion
    ("typo_domain", [_U("f", "Priya", "Patel", "priya.patel@acme.co")],
     [_O("f", "Priya", "Patel", "priya.patel@acme.com")], []),
    # queue_owner
    ("queue", [], [_O("g", "Inbound", "Sales", "inbound-sales@acme.com", type="QUEUE")], []),
    # synced: mixed case and surrounding whitespace on the Aloware side
    ("healthy_case_ws", [_U("h", "Ben", "Carter", "  Ben.Carter@ACME.com ")],
     [_O("h", "Ben", "Carter", "ben.carter@acme.com")], [_L("h", "h")]),
    # synced: NFD on the Aloware side, upper-case NFC on the HubSpot side
    ("healthy_nfd", [_U("i", "José", "Núñez", _NFD("josé.núñez@acme.com"))],
     [_O("i", "José", "Núñez", "JOSÉ.NÚÑEZ@acme.com")], [_L("i", "i")]),
    # synced: equal after str.lower (capital sharp s: ẞ -> ß); "STRAUSS" would be another
    # mailbox (the key is not casefolded, DESIGN.md §2)
    ("healthy_lower", [_U("j", "Zoë", "Strauß", "zoë.strauß@acme.com")],
     [_O("j", "Zoë", "Strauß", "ZOË.STRAUẞ@acme.com")], [_L("j", "j")]),
    # synced: a paused user is eligible
    ("healthy_paused", [_U("k", "Chloé", "Dubois", "chloe.dubois@acme.com", status="paused")],
     [_O("k", "Chloé", "Dubois", "chloe.dubois@acme.com")], [_L("k", "k")]),
    # synced: a manual link pins an alias; the two e-mails differ on purpose
    ("manual_alias", [_U("l", "Carla", "Diaz", "carla.diaz@acme.com")],
     [_O("l", "Carla", "Diaz", "carla@acmesales.com")], [_L("l", "l", method=m.METHOD_MANUAL)]),
    # aloware_user_not_found: the user was removed from Aloware
    ("ghost_user", [_U("m", "Dan", "Evans", "dan.evans@acme.com", ghost=True)],
     [_O("m", "Dan", "Evans", "dan.evans@acme.com")], [_L("m", "m")]),
    # aloware_user_deleted
    ("deleted", [_U("n", "Erin", "Fox", "erin.fox@acme.com", status="deleted")],
     [_O("n", "Erin", "Fox", "erin.fox@acme.com")], [_L("n", "n")]),
    # aloware_user_inactive (inactive, suspended)
    ("inactive", [_U("o", "Femi", "Adeyemi", "femi.adeyemi@acme.com", status="inactive")],
     [_O("o", "Femi", "Adeyemi", "femi.adeyemi@acme.com")], [_L("o", "o")]),
    ("suspended", [_U("p", "Grace", "Hall", "grace.hall@acme.com", status="suspended")],
     [_O("p", "Grace", "Hall", "grace.hall@acme.com")], [_L("p", "p")]),
    # aloware_not_full_user (extension, call_destination)
    ("extension", [_U("q", "Front Desk", "", "frontdesk@acme.com", kind="extension")],
     [_O("q", "Front", "Desk", "frontdesk@acme.com")], [_L("q", "q")]),
    ("call_destination",
     [_U("r", "Night Line", "", "nightline@acme.com", kind="call_destination")],
     [_O("r", "Night", "Line", "nightline@acme.com")], [_L("r", "r")]),
    # hubspot_owner_not_found: the owner was deleted from HubSpot
    ("ghost_owner", [_U("s", "Hiro", "Tanaka", "hiro.tanaka@acme.com")],
     [_O("s", "Hiro", "Tanaka", "hiro.tanaka@acme.com", ghost=True)], [_L("s", "s")]),
    # hubspot_owner_deactivated: the owner's user was deactivated (userId null)
    ("deactivated_owner", [_U("t", "Jack", "Moore", "jack.moore@acme.com")],
     [_O("t", "Jack", "Moore", "jack.moore@acme.com", deact=True)], [_L("t", "t")]),
    # hubspot_owner_deactivated, and the person has a new active owner (re-pointed by a sync)
    ("deactivated_replaced", [_U("u", "Kara", "Singh", "kara.singh@acme.com")],
     [_O("u", "Kara", "Singh", "kara.singh@acme.com", archived=True),
      _O("u2", "Kara", "Singh", "Kara.Singh@acme.com")], [_L("u", "u")]),
    # hubspot_email_changed: imported link with nothing recorded, e-mails differ
    ("imported_mismatch", [_U("v", "Mia", "Rossi", "mia.rossi@acme.com")],
     [_O("v", "Mia", "Rossi", "m.rossi@acme.com")], [_L("v", "v", "", "")]),
    # hubspot_email_changed: both sides changed and no longer match
    ("both_changed_mismatch", [_U("w", "Noah", "Kim", "noah.kim@gmail.com")],
     [_O("w", "Noah", "Kim", "noah.kim@acmegroup.com")],
     [_L("w", "w", "noah.kim@acme.com", "noah.kim@acme.com")]),
    # aloware_email_changed: only the Aloware side changed
    ("aloware_changed", [_U("x", "Olivia", "Brown", "olivia.brown@gmail.com")],
     [_O("x", "Olivia", "Brown", "olivia.brown@acme.com")],
     [_L("x", "x", "olivia.brown@acme.com", "olivia.brown@acme.com")]),
    # emails_changed: both changed, still equal to each other
    ("emails_changed", [_U("y", "Paul", "Novak", "Paul.Novak@acme.com")],
     [_O("y", "Paul", "Novak", "paul.novak@acme.com")],
     [_L("y", "y", "paul.novak@oldacme.com", "Paul.Novak@oldacme.com")]),
    # hubspot_email_changed on a manual link: the pinned owner's e-mail changed
    ("manual_changed", [_U("z", "Rita", "Gomez", "rita.gomez@acme.com")],
     [_O("z", "Rita", "Gomez", "rgomez@acmegroup.com")],
     [_L("z", "z", "rita.gomez@acme.com", "rita@acmesales.com", m.METHOD_MANUAL)]),
    # not_eligible: an extension without e-mail
    ("extension_unlinked", [_U("aa", "Main Line", "", "", kind="extension")], [], []),
    # not_eligible (user) and user_not_eligible (owner): a deleted user's owner is still active
    ("deleted_with_owner", [_U("ab", "Tara", "Reid", "tara.reid@acme.com", status="deleted")],
     [_O("ab", "Tara", "Reid", "tara.reid@acme.com")], []),
    # user_not_eligible via an extension sharing an owner's e-mail; paused extension
    ("extension_with_owner",
     [_U("ac", "Reception", "", "reception@acme.com", status="paused", kind="extension")],
     [_O("ac", "Reception", "", "reception@acme.com")], []),
    # missing_email (empty, whitespace only)
    ("missing_email", [_U("ad", "Uma", "Shah", "")], [], []),
    ("blank_email", [_U("ae", "Victor", "Lang", "   ", status="paused")], [], []),
    # invalid_email (no @, empty local part)
    ("invalid_no_at", [_U("af", "Wes", "Price", "wes.price.acme.com")], [], []),
    ("invalid_no_local", [_U("ag", "Xena", "Ward", "@acme.com")], [], []),
    # owner_mapped_elsewhere: a second Aloware account of a person whose owner is linked
    ("owner_mapped_elsewhere", [_U("ah", "Yara", "Haddad", "yara.haddad@acme.com"),
                                _U("ah2", "Yara", "Haddad", "Yara.Haddad@acme.com")],
     [_O("ah", "Yara", "Haddad", "yara.haddad@acme.com")], [_L("ah", "ah")]),
    # duplicate_email_aloware on both sides: two eligible unlinked users, one owner
    ("duplicate_aloware", [_U("ai", "Sam", "Reed", "sam.reed@acme.com"),
                           _U("ai2", "Samuel", "Reed", "SAM.REED@acme.com", status="paused")],
     [_O("ai", "Sam", "Reed", "sam.reed@acme.com")], []),
    # duplicate_email_aloware with no owner at all
    ("duplicate_aloware_no_owner", [_U("aj", "Kai", "Berg", "kai.berg@acme.com"),
                                    _U("aj2", "Kai", "Berg", " kai.berg@acme.com")], [], []),
    # duplicate_email_hubspot on both sides: one user, two active owners
    ("duplicate_hubspot", [_U("ak", "Tom", "Baker", "tom.baker@acme.com")],
     [_O("ak", "Tom", "Baker", "tom.baker@acme.com"),
      _O("ak2", "Thomas", "Baker", "Tom.Baker@acme.com")], []),
    # owner_inactive: the only owner is archived / its user deactivated
    ("owner_archived", [_U("al", "Hana", "Sato", "hana.sato@acme.com")],
     [_O("al", "Hana", "Sato", "hana.sato@acme.com", archived=True)], []),
    ("owner_deactivated", [_U("am", "Omar", "Farouk", "omar.farouk@acme.com")],
     [_O("am", "Omar", "Farouk", "omar.farouk@acme.com", deact=True)], []),
    # no_matching_owner
    ("no_owner", [_U("an", "Zack", "Miller", "zack.miller@acme.com")], [], []),
    # no_matching_owner / no_matching_user: a typo in the local part; suggestion by name
    ("typo_local", [_U("ao", "Björn", "Larsson", "bjorn.larson@acme.com")],
     [_O("ao", "Björn", "Larsson", "bjorn.larsson@acme.com")], []),
    # no_matching_owner (only PERSON owners match) and queue_owner: a queue shares the e-mail
    ("queue_shared", [_U("ap", "Support", "Team", "support@acme.com")],
     [_O("ap", "Customer", "Support", "support@acme.com", type="QUEUE")], []),
    # match_pending: paused, mixed case, leading space
    ("pending_paused", [_U("aq", "Marco", "Bianchi", " Marco.Bianchi@Acme.com", status="paused")],
     [_O("aq", "Marco", "Bianchi", "marco.bianchi@acme.com")], []),
    # match_pending: NFD against upper-case NFC
    ("pending_nfd", [_U("ar", "Zoë", "Müller", _NFD("zoë.müller@acme.com"))],
     [_O("ar", "Zoë", "Müller", "ZOË.MÜLLER@ACME.COM")], []),
    # missing_email (owner): empty and null
    ("owner_missing", [], [_O("as", "Rosa", "Lopez", ""), _O("as2", "Ken", "Ito", None)], []),
    # invalid_email (owner): no @, empty domain
    ("owner_invalid", [], [_O("at", "Nina", "Petrova", "nina.petrova.acme.com"),
                           _O("at2", "Leo", "Martin", "leo.martin@")], []),
    # user_mapped_elsewhere: a second active owner for a linked user
    ("user_mapped_elsewhere", [_U("au", "Eva", "Horvat", "eva.horvat@acme.com")],
     [_O("au", "Eva", "Horvat", "eva.horvat@acme.com"),
      _O("au2", "Eva", "Horvat", "eva.horvat@acme.com")], [_L("au", "au")]),
    # no_matching_user
    ("no_user", [], [_O("av", "Greta", "Holm", "greta.holm@acme.com")], []),
    # a former employee: archived owner, no user (not listed as unmapped)
    ("former_employee", [], [_O("aw", "Ian", "Wright", "ian.wright@acme.com", archived=True)], []),
)


# What each showcase case produces under DESIGN.md §4, record by record in the order above:
# (users' unmapped reasons, owners' unmapped reasons, links' issue codes). None: the record is not
# in that unmapped list (linked; or a deactivated owner). "": a synced link. Ghost records (absent
# from the listings) are left out. tests/test_scenarios.py checks this against usermap.reconcile.
_SHOWCASE_EXPECT = {
    "healthy": ([None], [None], [""]),
    "pending": (["match_pending"], ["match_pending"], []),
    "hubspot_changed": ([None], [None], ["hubspot_email_changed"]),
    "archived_owner": ([None], [None], ["hubspot_owner_deactivated"]),
    "inactive_unlinked": (["not_eligible"], [], []),
    "typo_domain": (["no_matching_owner"], ["no_matching_user"], []),
    "queue": ([], ["queue_owner"], []),
    "healthy_case_ws": ([None], [None], [""]),
    "healthy_nfd": ([None], [None], [""]),
    "healthy_lower": ([None], [None], [""]),
    "healthy_paused": ([None], [None], [""]),
    "manual_alias": ([None], [None], [""]),
    "ghost_user": ([], [None], ["aloware_user_not_found"]),
    "deleted": ([None], [None], ["aloware_user_deleted"]),
    "inactive": ([None], [None], ["aloware_user_inactive"]),
    "suspended": ([None], [None], ["aloware_user_inactive"]),
    "extension": ([None], [None], ["aloware_not_full_user"]),
    "call_destination": ([None], [None], ["aloware_not_full_user"]),
    "ghost_owner": ([None], [], ["hubspot_owner_not_found"]),
    "deactivated_owner": ([None], [None], ["hubspot_owner_deactivated"]),
    # the link to the archived owner is cleaned up and the sync re-points it to the new owner,
    # so the new owner is match_pending ("mapped elsewhere" is judged on the links the clean-up
    # keeps: usermap.reconcile's documented reading of DESIGN.md §4-§5)
    "deactivated_replaced": ([None], [None, "match_pending"], ["hubspot_owner_deactivated"]),
    "imported_mismatch": ([None], [None], ["hubspot_email_changed"]),
    "both_changed_mismatch": ([None], [None], ["hubspot_email_changed"]),
    "aloware_changed": ([None], [None], ["aloware_email_changed"]),
    "emails_changed": ([None], [None], ["emails_changed"]),
    "manual_changed": ([None], [None], ["hubspot_email_changed"]),
    "extension_unlinked": (["not_eligible"], [], []),
    "deleted_with_owner": (["not_eligible"], ["user_not_eligible"], []),
    "extension_with_owner": (["not_eligible"], ["user_not_eligible"], []),
    "missing_email": (["missing_email"], [], []),
    "blank_email": (["missing_email"], [], []),
    "invalid_no_at": (["invalid_email"], [], []),
    "invalid_no_local": (["invalid_email"], [], []),
    "owner_mapped_elsewhere": ([None, "owner_mapped_elsewhere"], [None], [""]),
    "duplicate_aloware": (["duplicate_email_aloware"] * 2, ["duplicate_email_aloware"], []),
    "duplicate_aloware_no_owner": (["duplicate_email_aloware"] * 2, [], []),
    "duplicate_hubspot": (["duplicate_email_hubspot"], ["duplicate_email_hubspot"] * 2, []),
    "owner_archived": (["owner_inactive"], [None], []),
    "owner_deactivated": (["owner_inactive"], [None], []),
    "no_owner": (["no_matching_owner"], [], []),
    "typo_local": (["no_matching_owner"], ["no_matching_user"], []),
    "queue_shared": (["no_matching_owner"], ["queue_owner"], []),
    "pending_paused": (["match_pending"], ["match_pending"], []),
    "pending_nfd": (["match_pending"], ["match_pending"], []),
    "owner_missing": ([], ["missing_email"] * 2, []),
    "owner_invalid": ([], ["invalid_email"] * 2, []),
    "user_mapped_elsewhere": ([None], [None, "user_mapped_elsewhere"], [""]),
    "no_user": ([], ["no_matching_user"], []),
    "former_employee": ([], [None], []),
}


def showcase_expectations(world: World) -> pd.DataFrame:
    """The showcase records of ``world`` and what each should produce (DESIGN.md §4).

    Columns: ``case``, ``record`` (user | owner | link), ``id`` (the Aloware id for users and
    links, the owner id for owners) and ``expected``: the unmapped reason of a user or owner, the
    issue code of a link ("" when synced), or None when the record is in no unmapped list.
    """
    users = world.users[m.U_ID].tolist()
    owners = [o["id"] for o in world.owners]
    links = world.links[m.L_USER].tolist()
    rows, iu, io, il = [], 0, 0, 0
    for name, _, _, _ in _showcase_cases(len(users), len(owners)):
        eu, eo, el = _SHOWCASE_EXPECT[name]
        for e in eu:
            rows.append((name, "user", users[iu], e))
            iu += 1
        for e in eo:
            rows.append((name, "owner", owners[io], e))
            io += 1
        for e in el:
            rows.append((name, "link", links[il], e))
            il += 1
    return pd.DataFrame(rows, columns=["case", "record", "id", "expected"], dtype=object)

def _showcase_cases(n_users: int, n_owners: int):
    """The showcase cases this world holds: all of them, or the leading ones that fit."""
    if n_users >= SHOWCASE_MIN_USERS and n_owners >= SHOWCASE_MIN_OWNERS:
        return _SHOWCASE
    budget_u, budget_o, out = n_users // 2, n_owners // 2, []
    for case in _SHOWCASE:
        _, us, os_, _ = case
        nu = sum(not u["ghost"] for u in us)
        no = sum(not o["ghost"] for o in os_)
        if nu > budget_u or no > budget_o:
            break
        budget_u, budget_o = budget_u - nu, budget_o - no
        out.append(case)
    return tuple(out)


def _add_showcase(b: _Builder, cases) -> tuple[int, int, int]:
    """Adds the cases; returns (real users, real owners, links)."""
    uidx: dict[str, int] = {}
    oidx: dict[str, int] = {}
    uemail: dict[str, str] = {}
    oemail: dict[str, str] = {}
    n_links = 0
    for _, us, os_, ls in cases:
        for u in us:
            i = b.users([u["first"]], [u["last"]], [u["email"]], [u["status"]], [u["kind"]],
                        [u["role"]], np.array([u["ghost"]]))
            uidx[u["key"]], uemail[u["key"]] = int(i[0]), u["email"]
        for o in os_:
            i = b.owners([o["first"]], [o["last"]], np.array([o["email"]], dtype=object),
                         [o["type"]], np.array([o["archived"]]), np.array([o["deact"]]),
                         np.array([o["ghost"]]))
            oidx[o["key"]], oemail[o["key"]] = int(i[0]), o["email"]
        for uk, ok, a, h, method in ls:
            b.links([uidx[uk]], [oidx[ok]], [uemail[uk] if a is None else a],
                    [oemail[ok] if h is None else h], [method])
            n_links += 1
    real_u = sum(not u["ghost"] for c in cases for u in c[1])
    real_o = sum(not o["ghost"] for c in cases for o in c[2])
    return real_u, real_o, n_links


def _showcase_locals(cases) -> set[str]:
    """E-mail local parts the showcase uses; bulk people never reuse them."""
    out = set()
    for _, us, os_, ls in cases:
        values = [u["email"] for u in us] + [o["email"] for o in os_]
        values += [x for link in ls for x in link[2:4] if x]
        for v in values:
            k = _key(v)
            if k.count("@") == 1 and k.split("@")[0]:
                out.add(k.split("@")[0])
    return out


# --- the bulk --------------------------------------------------------------------------------

# Shares of each kind of case in the bulk. "per_user" and "per_owner" are per bulk user / owner;
# "per_link" per bulk link. Group cases hold several records (see _build_bulk).
_PER_OWNER = {"queue": 0.004, "o_missing": 0.002, "o_invalid": 0.001, "o_former": 0.03,
              "o_nomatch": 0.03}
_PER_USER = {"u_inel": 0.09, "u_missing": 0.008, "u_invalid": 0.004, "u_nomatch": 0.03,
             "typo": 0.006, "inel_owner": 0.01, "owner_inactive": 0.01, "dup_aloware": 0.002,
             "dup_hubspot": 0.002, "mapped_elsewhere_o": 0.002, "mapped_elsewhere_u": 0.002}
_PER_LINK = {"ghost_user": 0.005, "deleted": 0.01, "inactive": 0.01, "notfull": 0.005,
             "ghost_owner": 0.004, "deact": 0.015, "h_changed": 0.01, "a_changed": 0.006,
             "both_changed": 0.012, "imported": 0.004, "manual": 0.012}
# (real users, real owners, links) per unit of each case; "deact" adds a replacement owner to
# ~30 % of its units and "dup_aloware" an owner to ~70 % (both counted separately).
_SHAPE = {
    "queue": (0, 1, 0), "o_missing": (0, 1, 0), "o_invalid": (0, 1, 0), "o_former": (0, 1, 0),
    "o_nomatch": (0, 1, 0), "u_inel": (1, 0, 0), "u_missing": (1, 0, 0), "u_invalid": (1, 0, 0),
    "u_nomatch": (1, 0, 0), "typo": (1, 1, 0), "inel_owner": (1, 1, 0),
    "owner_inactive": (1, 1, 0),
    "dup_aloware": (2, 0, 0), "dup_hubspot": (1, 2, 0), "mapped_elsewhere_o": (2, 1, 1),
    "mapped_elsewhere_u": (1, 2, 1), "ghost_user": (0, 1, 1), "deleted": (1, 1, 1),
    "inactive": (1, 1, 1), "notfull": (1, 1, 1), "ghost_owner": (1, 0, 1), "deact": (1, 1, 1),
    "h_changed": (1, 1, 1), "a_changed": (1, 1, 1), "both_changed": (1, 1, 1),
    "imported": (1, 1, 1), "manual": (1, 1, 1), "healthy": (1, 1, 0),
}
_REPLACED_SHARE = 0.3     # deactivated links whose person got a new active owner
_DUP_OWNER_SHARE = 0.7    # duplicate Aloware accounts for which an owner exists


def _counts(rng: np.random.Generator, U: int, O: int, L: int) -> dict[str, int]:
    c: dict[str, int] = {}
    for name, p in _PER_OWNER.items():
        c[name] = int(rng.binomial(O, p))
    for name, p in _PER_USER.items():
        c[name] = int(rng.binomial(U, p))
    for name, p in _PER_LINK.items():
        c[name] = int(rng.binomial(L, p))
    c["deact_replaced"] = int(rng.binomial(c["deact"], _REPLACED_SHARE))
    c["dup_owned"] = int(rng.binomial(c["dup_aloware"], _DUP_OWNER_SHARE))

    def used():
        uu = sum(_SHAPE[k][0] * v for k, v in c.items() if k in _SHAPE)
        oo = (sum(_SHAPE[k][1] * v for k, v in c.items() if k in _SHAPE)
              + c["deact_replaced"] + c["dup_owned"])
        return uu, oo

    uu, oo = used()
    if uu > U or oo > O:   # tiny worlds, or few owners for many users: scale the cases down
        f = min(U / uu if uu else 1.0, O / oo if oo else 1.0)
        for k in c:
            c[k] = int(c[k] * f)
        c["deact_replaced"] = min(c["deact_replaced"], c["deact"])
        c["dup_owned"] = min(c["dup_owned"], c["dup_aloware"])
        uu, oo = used()
    c["healthy"] = min(U - uu, O - oo)
    c["u_nomatch"] += U - uu - c["healthy"]     # spare users have no owner
    c["o_nomatch"] += O - oo - c["healthy"]     # spare owners are HubSpot-only people
    links_used = sum(_SHAPE[k][2] * v for k, v in c.items() if k in _SHAPE)
    c["healthy_linked"] = int(min(max(L - links_used, 0), c["healthy"]))
    return c


class _People:
    """Names and unique e-mail local parts, handed out in slices."""

    def __init__(self, rng: np.random.Generator, n: int, reserved: set[str]) -> None:
        fi = rng.choice(len(_FIRST[0]), size=n, p=_FIRST[4])
        li = rng.choice(len(_LAST[0]), size=n, p=_LAST[4])
        native = rng.random(n) < 0.3     # non-ASCII names keep their letters in ~30 % of e-mails
        f_loc = np.where(native, _FIRST[2][fi], _FIRST[1][fi])
        l_loc = np.where(native, _LAST[2][li], _LAST[1][li])
        base = f_loc + "." + l_loc
        # the n-th person with the same first.last gets "n" appended (a showcase name counts)
        codes, _ = pd.factorize(np.concatenate([np.array(sorted(reserved), dtype=object), base]))
        rank = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy()[len(reserved):]
        self.first = _FIRST[0][fi]
        self.last = _LAST[0][li]
        self.local = base
        dup = rank > 0
        self.local[dup] = base[dup] + (rank[dup] + 1).astype(str).astype(object)
        self.non_ascii = native & (_FIRST[3][fi] | _LAST[3][li])
        self.domain = np.where(rng.random(n) < 0.9, _DOMAINS[0], _DOMAINS[1]).astype(object)
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        idx = np.arange(self.pos, self.pos + k)
        self.pos += k
        return idx


def _join(local: np.ndarray, domain) -> np.ndarray:
    return local + ("@" + domain)


def _vary(rng: np.random.Generator, emails: np.ndarray, non_ascii: np.ndarray,
          title: float, upper: float, space: float, nfd: float = 0.5) -> np.ndarray:
    """Writes some e-mails differently without changing their key."""
    out = emails.copy()
    k = len(out)
    r = rng.random(k)
    s = rng.random(k)
    for mask, fn in ((r < title, lambda x: x.str.title()),
                     ((r >= title) & (r < title + upper), lambda x: x.str.upper()),
                     (non_ascii & (rng.random(k) < nfd), lambda x: x.str.normalize("NFD")),
                     (s < space, lambda x: " " + x + " "),
                     ((s >= space) & (s < 2 * space), lambda x: x + " ")):
        if mask.any():
            out[mask] = fn(pd.Series(out[mask], dtype="str")).to_numpy(dtype=object)
    return out


def _invalid(rng: np.random.Generator, local: np.ndarray, domain: np.ndarray) -> np.ndarray:
    form = rng.integers(0, 3, len(local))
    forms = (local + ("." + domain), local + "@", local + ("@@" + domain))  # no @, no domain, 2 @
    return np.select([form == 0, form == 1], forms[:2], forms[2])


def _eligible_status(rng, k):
    return np.where(rng.random(k) < 0.05, "paused", "active").astype(object)


def _ineligible(rng, k):
    kind = rng.choice(np.array(m.USER_KINDS, dtype=object), size=k, p=[0.75, 0.17, 0.08])
    st_user = rng.choice(np.array(["inactive", "suspended", "deleted"], dtype=object), size=k,
                         p=[0.5, 0.15, 0.35])
    st_other = rng.choice(np.array(["active", "paused", "inactive"], dtype=object), size=k,
                          p=[0.85, 0.05, 0.1])
    return np.where(kind == "user", st_user, st_other), kind


def _build_bulk(b: _Builder, rng: np.random.Generator, c: dict[str, int],
                reserved: set[str]) -> None:
    n_people = sum(v for k, v in c.items() if k in _SHAPE and k != "queue")
    P = _People(rng, n_people, reserved)

    def person(k):
        i = P.take(k)
        return i, P.first[i], P.last[i], P.local[i], P.domain[i], P.non_ascii[i]

    def base(loc, dom):
        return _join(loc, dom)

    def vary_u(e, na):   # Aloware: what people typed
        return _vary(rng, e, na, title=0.04, upper=0.005, space=0.01)

    def vary_o(e, na):   # HubSpot: mostly lower case already
        return _vary(rng, e, na, title=0.01, upper=0.002, space=0.0, nfd=0.0)

    # owners only
    k = c["queue"]
    qn = rng.integers(0, len(_QUEUE_NAMES), k)
    qfirst = np.array([q[0] for q in _QUEUE_NAMES], dtype=object)[qn]
    qlast = np.array([q[1] for q in _QUEUE_NAMES], dtype=object)[qn]
    qslug = np.array([q[0].lower() for q in _QUEUE_NAMES], dtype=object)[qn]
    qmail = _join(qslug + "-queue-" + np.arange(1, k + 1).astype(str).astype(object), "acme.com")
    b.owners(qfirst, qlast, qmail, type="QUEUE")

    _, f, la, lo, do, na = person(c["o_missing"])
    b.owners(f, la, np.where(rng.random(len(lo)) < 0.8, "", " ").astype(object))
    _, f, la, lo, do, na = person(c["o_invalid"])
    b.owners(f, la, _invalid(rng, lo, do))
    _, f, la, lo, do, na = person(c["o_former"])
    arch = rng.random(len(lo)) < 0.6
    b.owners(f, la, base(lo, do), archived=arch, deact=~arch)
    _, f, la, lo, do, na = person(c["o_nomatch"])
    nameless = rng.random(len(lo)) < 0.02   # invited, never filled in a name
    b.owners(np.where(nameless, "", f), np.where(nameless, "", la), vary_o(base(lo, do), na))

    # users only
    _, f, la, lo, do, na = person(c["u_inel"])
    st, kind = _ineligible(rng, len(lo))
    ext = kind != "user"
    ext_name = rng.choice(np.array(_EXT_NAMES, dtype=object), size=len(lo))
    email = vary_u(base(lo, do), na)
    email[ext & (rng.random(len(lo)) < 0.5)] = ""
    b.users(np.where(ext, ext_name, f), np.where(ext, "", la), email, st, kind)
    _, f, la, lo, do, na = person(c["u_missing"])
    b.users(f, la, np.where(rng.random(len(lo)) < 0.8, "", "  ").astype(object),
            _eligible_status(rng, len(lo)))
    _, f, la, lo, do, na = person(c["u_invalid"])
    b.users(f, la, _invalid(rng, lo, do), _eligible_status(rng, len(lo)))
    _, f, la, lo, do, na = person(c["u_nomatch"])
    b.users(f, la, vary_u(base(lo, do), na), _eligible_status(rng, len(lo)))

    # groups without links
    _, f, la, lo, do, na = person(c["typo"])
    typo = np.where(do == _DOMAINS[0],
                    rng.choice(np.array(_TYPO_DOMAINS[_DOMAINS[0]], dtype=object), len(lo)),
                    rng.choice(np.array(_TYPO_DOMAINS[_DOMAINS[1]], dtype=object), len(lo)))
    b.users(f, la, _join(lo, typo), _eligible_status(rng, len(lo)))
    b.owners(f, la, vary_o(base(lo, do), na))

    _, f, la, lo, do, na = person(c["inel_owner"])
    st, kind = _ineligible(rng, len(lo))
    b.users(f, la, vary_u(base(lo, do), na), st, kind)
    b.owners(f, la, vary_o(base(lo, do), na))

    _, f, la, lo, do, na = person(c["owner_inactive"])
    b.users(f, la, vary_u(base(lo, do), na), _eligible_status(rng, len(lo)))
    arch = rng.random(len(lo)) < 0.5
    b.owners(f, la, base(lo, do), archived=arch, deact=~arch)

    _, f, la, lo, do, na = person(c["dup_aloware"])
    e = base(lo, do)
    b.users(f, la, e, _eligible_status(rng, len(lo)))
    b.users(f, la, _vary(rng, e, na, title=0.3, upper=0.1, space=0.1),
            _eligible_status(rng, len(lo)))
    has_owner = np.zeros(len(lo), dtype=bool)
    has_owner[rng.permutation(len(lo))[:c["dup_owned"]]] = True
    b.owners(f[has_owner], la[has_owner], e[has_owner])

    _, f, la, lo, do, na = person(c["dup_hubspot"])
    e = base(lo, do)
    b.users(f, la, vary_u(e, na), _eligible_status(rng, len(lo)))
    b.owners(f, la, e)
    b.owners(f, la, _vary(rng, e, na, title=0.3, upper=0.0, space=0.0, nfd=0.0))

    # groups with a synced link
    _, f, la, lo, do, na = person(c["mapped_elsewhere_o"])
    e = base(lo, do)
    u = b.users(f, la, e, "active")
    o = b.owners(f, la, e)
    b.links(u, o, e, e)
    b.users(f, la, _vary(rng, e, na, title=0.3, upper=0.1, space=0.1),
            _eligible_status(rng, len(lo)))

    _, f, la, lo, do, na = person(c["mapped_elsewhere_u"])
    e = base(lo, do)
    u = b.users(f, la, e, _eligible_status(rng, len(lo)))
    o = b.owners(f, la, e)
    b.links(u, o, e, e)
    b.owners(f, la, vary_o(e, na))

    # links with an issue
    def pair(name, status=None, kind="user", u_email=None, o_email=None, rec=None,
             method=m.METHOD_EMAIL, u_ghost=False, o_ghost=False, archived=False, deact=False):
        _, f, la, lo, do, na = person(c[name])
        k = len(lo)
        e = base(lo, do)
        ue = e if u_email is None else u_email(lo, do, e, na)
        oe = e if o_email is None else o_email(lo, do, e, na)
        st = _eligible_status(rng, k) if status is None else status(k)
        u = b.users(f, la, ue, st, kind(k) if callable(kind) else kind, ghost=u_ghost)
        o = b.owners(f, la, oe, archived=archived(k) if callable(archived) else archived,
                     deact=deact(k) if callable(deact) else deact, ghost=o_ghost)
        ra, rh = (ue, oe) if rec is None else rec(lo, do, e, ue, oe)
        b.links(u, o, ra, rh, method)
        return f, la, e, na

    pair("ghost_user", u_ghost=True)
    pair("deleted", status=lambda k: "deleted")
    pair("inactive", status=lambda k: np.where(rng.random(k) < 0.75, "inactive",
                                                "suspended").astype(object))
    pair("notfull", status=lambda k: "active",
         kind=lambda k: np.where(rng.random(k) < 0.7, "extension",
                                 "call_destination").astype(object))
    pair("ghost_owner", o_ghost=True)
    arch = rng.random(c["deact"]) < 0.5
    f, la, e, na = pair("deact", archived=arch, deact=~arch)
    rep = np.zeros(len(e), dtype=bool)
    rep[rng.permutation(len(e))[:c["deact_replaced"]]] = True
    b.owners(f[rep], la[rep], vary_o(e[rep], na[rep]))
    pair("h_changed", o_email=lambda lo, do, e, na: _join(lo, _HS_NEW_DOMAIN),
         rec=lambda lo, do, e, ue, oe: (ue, e))
    pair("a_changed", u_email=lambda lo, do, e, na: _join(lo, _PERSONAL_DOMAIN),
         rec=lambda lo, do, e, ue, oe: (e, oe))
    pair("both_changed", u_email=lambda lo, do, e, na: vary_u(e, na),
         rec=lambda lo, do, e, ue, oe: (_join(lo, _OLD_DOMAIN),) * 2)
    pair("imported", o_email=lambda lo, do, e, na: _join(lo, _HS_NEW_DOMAIN),
         rec=lambda lo, do, e, ue, oe: ("", ""))
    pair("manual", o_email=lambda lo, do, e, na: _join(lo, _ALIAS_DOMAIN), method=m.METHOD_MANUAL)

    # healthy pairs; the first ones are linked (rows are shuffled later)
    _, f, la, lo, do, na = person(c["healthy"])
    e = base(lo, do)
    ue, oe = vary_u(e, na), vary_o(e, na)
    u = b.users(f, la, ue, _eligible_status(rng, len(lo)))
    o = b.owners(f, la, oe)
    h = c["healthy_linked"]
    b.links(u[:h], o[:h], ue[:h], oe[:h])


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

    cases = _showcase_cases(n_users, n_owners)
    reserved = _showcase_locals(cases)
    b = _Builder()
    s_u, s_o, s_l = _add_showcase(b, cases)
    head_u, head_o = b.nu, b.no
    U, O = n_users - s_u, n_owners - s_o
    L = max(int(round(linked_share * n_users)) - s_l, 0)
    counts = _counts(rng, U, O, L)
    _build_bulk(b, rng, counts, reserved)
    us, os_, ls = b._cat(b.u), b._cat(b.o), b._cat(b.l)
    nu, no = b.nu, b.no
    del b
    upos = _positions(rng, head_u, nu)
    opos = _positions(rng, head_o, no)
    uid_of_pos = _ids(rng, nu, 10_000, 3).astype(str).astype(object)
    oid_of_pos = _ids(rng, no, 10_000_000, 40).astype(str).astype(object)
    hsuid_of_pos = _ids(rng, no, 7_000_000, 9)

    # owners' timestamps grow with the id, like HubSpot's; links were made after the owner
    span = int((_EPOCH_END - _EPOCH_START) / np.timedelta64(1, "ms"))
    created = (_EPOCH_START + np.sort(rng.integers(0, span - 86_400_000, no)))[opos]
    updated = created + _fraction(rng.random(no), _EPOCH_END - created)
    lo_created = created[ls["o"]]
    mapped = lo_created + _fraction(rng.uniform(0.05, 1.0, len(lo_created)),
                                    _EPOCH_END - lo_created)
    t1 = np.where(rng.random(no) < 0.7, rng.integers(0, len(_TEAMS), no), -1)
    t2 = np.where((t1 >= 0) & (rng.random(no) < 0.07),
                  (t1 + rng.integers(1, len(_TEAMS), no)) % len(_TEAMS), -1)
    t1[os_["type"] == "QUEUE"] = -1

    # users frame, in id order, without the ghosts
    role = us["role"]
    todo = pd.isna(role)
    role[todo] = rng.choice(np.array(_ROLES, dtype=object), size=int(todo.sum()),
                            p=[0.88, 0.08, 0.04])
    role[us["kind"] != "user"] = ""
    sel = np.flatnonzero(~us["ghost"])
    sel = sel[np.argsort(upos[sel], kind="stable")]
    users = pd.DataFrame({
        m.U_ID: pd.array(uid_of_pos[upos[sel]], dtype="str"),
        m.U_FIRST: pd.array(us["first"][sel], dtype="str"),
        m.U_LAST: pd.array(us["last"][sel], dtype="str"),
        m.U_EMAIL: pd.array(us["email"][sel], dtype="str"),
        m.U_STATUS: pd.array(us["status"][sel], dtype="str"),
        m.U_KIND: pd.array(us["kind"][sel], dtype="str"),
        m.U_ROLE: pd.array(role[sel], dtype="str"),
    })
    del us, role

    # links frame, ordered by Aloware id
    order = np.argsort(upos[ls["u"]], kind="stable")
    links = pd.DataFrame({
        m.L_USER: pd.array(uid_of_pos[upos[ls["u"]]][order], dtype="str"),
        m.L_OWNER: pd.array(oid_of_pos[opos[ls["o"]]][order], dtype="str"),
        m.L_A_EMAIL: pd.array(ls["a"][order], dtype="str"),
        m.L_H_EMAIL: pd.array(ls["h"][order], dtype="str"),
        m.L_METHOD: pd.array(ls["method"][order], dtype="str"),
        m.L_MAPPED_AT: pd.array(_iso(mapped, millis=False)[order], dtype="str"),
    })
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


# --- files -----------------------------------------------------------------------------------

def write_world(world: World, directory) -> dict:
    """Writes the snapshot files and the mappings CSV; returns {file name: path}."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {FILE_USERS: d / FILE_USERS, FILE_OWNERS: d / FILE_OWNERS,
             FILE_MAPPINGS: d / FILE_MAPPINGS}
    world.users.loc[:, list(USER_COLUMNS)].to_csv(
        paths[FILE_USERS], index=False, lineterminator="\n", encoding="utf-8")
    world.links.loc[:, list(LINK_FRAME_COLUMNS)].to_csv(
        paths[FILE_MAPPINGS], index=False, lineterminator="\n", encoding="utf-8")
    _write_owners(world.owners, paths[FILE_OWNERS])
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
