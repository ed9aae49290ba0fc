"""The bulk of a world, after the showcase: cases drawn with realistic proportions.

``counts(rng, U, O, L)`` draws how many of each kind of case the bulk holds (binomial counts,
scaled down for tiny worlds); ``build_bulk(b, rng, counts, reserved)`` adds their rows to the
builder. The order of the random draws is part of the contract: the same seed gives the same
world byte for byte (see usermap.sandbox.scenarios).
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from ..engine import models as m

from .world import Builder

__all__ = ["counts", "build_bulk"]

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
_DOMAINS = ("acme.com", "acme.io")                       # where people's e-mails live
_TYPO_DOMAINS = {"acme.com": ("acme.co", "acmee.com", "acme.cm", "acme.con"),
                 "acme.io": ("acme.oi", "acmee.io")}     # a slip of the keyboard in the domain
_HS_NEW_DOMAIN = "acmegroup.com"    # an owner's e-mail changed in HubSpot (rebrand, new address)
_PERSONAL_DOMAIN = "gmail.com"      # an Aloware user switched to a personal address
_OLD_DOMAIN = "oldacme.com"         # both sides moved away from this recorded address
_ALIAS_DOMAIN = "acmesales.com"     # the alias a manual link pins


def _ascii(name: str) -> str:
    special = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "đ": "d"}
    name = "".join(special.get(c, c) for c in name)
    return "".join(c for c in unicodedata.normalize("NFD", name)
                   if not unicodedata.combining(c) and c.isalnum())


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


# Shares of each kind of case in the bulk. "per_user" and "per_owner" are per bulk user / owner;
# "per_link" per bulk link. Group cases hold several records (see _Bulk).
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


def counts(rng: np.random.Generator, U: int, O: int, L: int) -> dict[str, int]:
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


def build_bulk(b: Builder, rng: np.random.Generator, c: dict[str, int],
               reserved: set[str]) -> None:
    """Adds the bulk's rows to ``b``: ``c`` is ``counts(...)``; ``reserved`` are the e-mail local
    parts the showcase uses. The sections run in a fixed order (the order of the draws)."""
    bulk = _Bulk(b, rng, c, reserved)
    bulk.owners_only()
    bulk.users_only()
    bulk.groups_without_links()
    bulk.groups_with_a_synced_link()
    bulk.links_with_an_issue()
    bulk.healthy_pairs()


class _Bulk:
    """The bulk's sections; they share the builder, the generator and the people."""

    def __init__(self, b: Builder, rng: np.random.Generator, c: dict[str, int],
                 reserved: set[str]) -> None:
        self.b, self.rng, self.c = b, rng, c
        n_people = sum(v for k, v in c.items() if k in _SHAPE and k != "queue")
        self.people = _People(rng, n_people, reserved)

    def person(self, k):
        P = self.people
        i = P.take(k)
        return i, P.first[i], P.last[i], P.local[i], P.domain[i], P.non_ascii[i]

    def vary_u(self, e, na):   # Aloware: what people typed
        return _vary(self.rng, e, na, title=0.04, upper=0.005, space=0.01)

    def vary_o(self, e, na):   # HubSpot: mostly lower case already
        return _vary(self.rng, e, na, title=0.01, upper=0.002, space=0.0, nfd=0.0)

    def owners_only(self) -> None:
        b, rng, c, person, vary_o = self.b, self.rng, self.c, self.person, self.vary_o
        k = c["queue"]
        qn = rng.integers(0, len(_QUEUE_NAMES), k)
        qfirst = np.array([q[0] for q in _QUEUE_NAMES], dtype=object)[qn]
        qlast = np.array([q[1] for q in _QUEUE_NAMES], dtype=object)[qn]
        qslug = np.array([q[0].lower() for q in _QUEUE_NAMES], dtype=object)[qn]
        qmail = _join(qslug + "-queue-" + np.arange(1, k + 1).astype(str).astype(object),
                      "acme.com")
        b.owners(qfirst, qlast, qmail, type="QUEUE")

        _, f, la, lo, do, na = person(c["o_missing"])
        b.owners(f, la, np.where(rng.random(len(lo)) < 0.8, "", " ").astype(object))
        _, f, la, lo, do, na = person(c["o_invalid"])
        b.owners(f, la, _invalid(rng, lo, do))
        _, f, la, lo, do, na = person(c["o_former"])
        arch = rng.random(len(lo)) < 0.6
        b.owners(f, la, _join(lo, do), archived=arch, deact=~arch)
        _, f, la, lo, do, na = person(c["o_nomatch"])
        nameless = rng.random(len(lo)) < 0.02   # invited, never filled in a name
        b.owners(np.where(nameless, "", f), np.where(nameless, "", la), vary_o(_join(lo, do), na))

    def users_only(self) -> None:
        b, rng, c, person, vary_u = self.b, self.rng, self.c, self.person, self.vary_u
        _, f, la, lo, do, na = person(c["u_inel"])
        st, kind = _ineligible(rng, len(lo))
        ext = kind != "user"
        ext_name = rng.choice(np.array(_EXT_NAMES, dtype=object), size=len(lo))
        email = vary_u(_join(lo, do), na)
        email[ext & (rng.random(len(lo)) < 0.5)] = ""
        b.users(np.where(ext, ext_name, f), np.where(ext, "", la), email, st, kind)
        _, f, la, lo, do, na = person(c["u_missing"])
        b.users(f, la, np.where(rng.random(len(lo)) < 0.8, "", "  ").astype(object),
                _eligible_status(rng, len(lo)))
        _, f, la, lo, do, na = person(c["u_invalid"])
        b.users(f, la, _invalid(rng, lo, do), _eligible_status(rng, len(lo)))
        _, f, la, lo, do, na = person(c["u_nomatch"])
        b.users(f, la, vary_u(_join(lo, do), na), _eligible_status(rng, len(lo)))

    def groups_without_links(self) -> None:
        b, rng, c, person = self.b, self.rng, self.c, self.person
        vary_u, vary_o = self.vary_u, self.vary_o
        _, f, la, lo, do, na = person(c["typo"])
        typo = np.where(do == _DOMAINS[0],
                        rng.choice(np.array(_TYPO_DOMAINS[_DOMAINS[0]], dtype=object), len(lo)),
                        rng.choice(np.array(_TYPO_DOMAINS[_DOMAINS[1]], dtype=object), len(lo)))
        b.users(f, la, _join(lo, typo), _eligible_status(rng, len(lo)))
        b.owners(f, la, vary_o(_join(lo, do), na))

        _, f, la, lo, do, na = person(c["inel_owner"])
        st, kind = _ineligible(rng, len(lo))
        b.users(f, la, vary_u(_join(lo, do), na), st, kind)
        b.owners(f, la, vary_o(_join(lo, do), na))

        _, f, la, lo, do, na = person(c["owner_inactive"])
        b.users(f, la, vary_u(_join(lo, do), na), _eligible_status(rng, len(lo)))
        arch = rng.random(len(lo)) < 0.5
        b.owners(f, la, _join(lo, do), archived=arch, deact=~arch)

        _, f, la, lo, do, na = person(c["dup_aloware"])
        e = _join(lo, do)
        b.users(f, la, e, _eligible_status(rng, len(lo)))
        b.users(f, la, _vary(rng, e, na, title=0.3, upper=0.1, space=0.1),
                _eligible_status(rng, len(lo)))
        has_owner = np.zeros(len(lo), dtype=bool)
        has_owner[rng.permutation(len(lo))[:c["dup_owned"]]] = True
        b.owners(f[has_owner], la[has_owner], e[has_owner])

        _, f, la, lo, do, na = person(c["dup_hubspot"])
        e = _join(lo, do)
        b.users(f, la, vary_u(e, na), _eligible_status(rng, len(lo)))
        b.owners(f, la, e)
        b.owners(f, la, _vary(rng, e, na, title=0.3, upper=0.0, space=0.0, nfd=0.0))

    def groups_with_a_synced_link(self) -> None:
        b, rng, c, person = self.b, self.rng, self.c, self.person
        _, f, la, lo, do, na = person(c["mapped_elsewhere_o"])
        e = _join(lo, do)
        u = b.users(f, la, e, "active")
        o = b.owners(f, la, e)
        b.links(u, o, e, e)
        b.users(f, la, _vary(rng, e, na, title=0.3, upper=0.1, space=0.1),
                _eligible_status(rng, len(lo)))

        _, f, la, lo, do, na = person(c["mapped_elsewhere_u"])
        e = _join(lo, do)
        u = b.users(f, la, e, _eligible_status(rng, len(lo)))
        o = b.owners(f, la, e)
        b.links(u, o, e, e)
        b.owners(f, la, self.vary_o(e, na))

    def pair(self, name, status=None, kind="user", u_email=None, o_email=None, rec=None,
             method=m.METHOD_EMAIL, u_ghost=False, o_ghost=False, archived=False, deact=False):
        """A user and an owner of one person, linked; the keywords shape the link's issue."""
        b, rng = self.b, self.rng
        _, f, la, lo, do, na = self.person(self.c[name])
        k = len(lo)
        e = _join(lo, do)
        ue = e if u_email is None else u_email(lo, do, e, na)
        oe = e if o_email is None else o_email(lo, do, e, na)
        st = _eligible_status(rng, k) if status is None else status(k)
        u = b.users(f, la, ue, st, kind(k) if callable(kind) else kind, ghost=u_ghost)
        o = b.owners(f, la, oe, archived=archived(k) if callable(archived) else archived,
                     deact=deact(k) if callable(deact) else deact, ghost=o_ghost)
        ra, rh = (ue, oe) if rec is None else rec(lo, do, e, ue, oe)
        b.links(u, o, ra, rh, method)
        return f, la, e, na

    def links_with_an_issue(self) -> None:
        rng, c, pair, vary_u = self.rng, self.c, self.pair, self.vary_u
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
        self.b.owners(f[rep], la[rep], self.vary_o(e[rep], na[rep]))
        pair("h_changed", o_email=lambda lo, do, e, na: _join(lo, _HS_NEW_DOMAIN),
             rec=lambda lo, do, e, ue, oe: (ue, e))
        pair("a_changed", u_email=lambda lo, do, e, na: _join(lo, _PERSONAL_DOMAIN),
             rec=lambda lo, do, e, ue, oe: (e, oe))
        pair("both_changed", u_email=lambda lo, do, e, na: vary_u(e, na),
             rec=lambda lo, do, e, ue, oe: (_join(lo, _OLD_DOMAIN),) * 2)
        pair("imported", o_email=lambda lo, do, e, na: _join(lo, _HS_NEW_DOMAIN),
             rec=lambda lo, do, e, ue, oe: ("", ""))
        pair("manual", o_email=lambda lo, do, e, na: _join(lo, _ALIAS_DOMAIN),
             method=m.METHOD_MANUAL)

    def healthy_pairs(self) -> None:
        """The first ``healthy_linked`` pairs are linked (rows are shuffled later)."""
        b, c = self.b, self.c
        _, f, la, lo, do, na = self.person(c["healthy"])
        e = _join(lo, do)
        ue, oe = self.vary_u(e, na), self.vary_o(e, na)
        u = b.users(f, la, ue, _eligible_status(self.rng, len(lo)))
        o = b.owners(f, la, oe)
        h = c["healthy_linked"]
        b.links(u[:h], o[:h], ue[:h], oe[:h])
