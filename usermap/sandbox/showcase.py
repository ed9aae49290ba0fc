"""The showcase: a fixed block of hand-built cases at the head of every world that is large
enough (see usermap.sandbox.scenarios). Under docs/design.md §2-§5 every user status and kind, every
issue code and every unmapped reason occurs in it at least once; ``EXPECT`` says what each case
must produce and ``showcase_expectations(world)`` lists it record by record.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from ..engine import models as m

from .world import Builder, email_key

__all__ = ["CASES", "EXPECT", "SHOWCASE_MIN_USERS", "SHOWCASE_MIN_OWNERS",
           "showcase_expectations", "showcase_cases", "add_showcase", "showcase_locals"]

SHOWCASE_MIN_USERS = 100
SHOWCASE_MIN_OWNERS = 100

# Each case: (name, users, owners, links). A user/owner is a dict with a local "key"; a link is
# (user key, owner key, recorded aloware e-mail, recorded hubspot e-mail, method) where None as a
# recorded e-mail means "the side's current e-mail". Comments give the outcome under docs/design.md §4.

def _U(key, first, last, email, status="active", kind="user", role="agent", ghost=False):
    return dict(key=key, first=first, last=last, email=email, status=status, kind=kind,
                role=role if kind == "user" else "", ghost=ghost)


def _O(key, first, last, email, type="PERSON", archived=False, deact=False, ghost=False):
    return dict(key=key, first=first, last=last, email=email, type=type, archived=archived,
                deact=deact, ghost=ghost)


def _L(u, o, a=None, h=None, method=m.METHOD_EMAIL):
    return (u, o, a, h, method)


_NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

CASES = (
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
    # mailbox (the key is not casefolded, docs/design.md §2)
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


# What each showcase case produces under docs/design.md §4, record by record in the order above:
# (users' unmapped reasons, owners' unmapped reasons, links' issue codes). None: the record is not
# in that unmapped list (linked; or a deactivated owner). "": a synced link. Ghost records (absent
# from the listings) are left out. tests/commands/test_scenarios.py checks this against usermap.engine.reconcile.
EXPECT = {
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
    # keeps: usermap.engine.reconcile's documented reading of docs/design.md §4-§5)
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


def showcase_expectations(world) -> pd.DataFrame:
    """The showcase records of ``world`` and what each should produce (docs/design.md §4).

    Columns: ``case``, ``record`` (user | owner | link), ``id`` (the Aloware id for users and
    links, the owner id for owners) and ``expected``: the unmapped reason of a user or owner, the
    issue code of a link ("" when synced), or None when the record is in no unmapped list.
    """
    users = world.users[m.U_ID].tolist()
    owners = [o["id"] for o in world.owners]
    links = world.links[m.L_USER].tolist()
    rows, iu, io, il = [], 0, 0, 0
    for name, _, _, _ in showcase_cases(len(users), len(owners)):
        eu, eo, el = EXPECT[name]
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

def showcase_cases(n_users: int, n_owners: int):
    """The showcase cases this world holds: all of them, or the leading ones that fit."""
    if n_users >= SHOWCASE_MIN_USERS and n_owners >= SHOWCASE_MIN_OWNERS:
        return CASES
    budget_u, budget_o, out = n_users // 2, n_owners // 2, []
    for case in CASES:
        _, us, os_, _ = case
        nu = sum(not u["ghost"] for u in us)
        no = sum(not o["ghost"] for o in os_)
        if nu > budget_u or no > budget_o:
            break
        budget_u, budget_o = budget_u - nu, budget_o - no
        out.append(case)
    return tuple(out)


def add_showcase(b: Builder, cases) -> tuple[int, int, int]:
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


def showcase_locals(cases) -> set[str]:
    """E-mail local parts the showcase uses; bulk people never reuse them."""
    out = set()
    for _, us, os_, ls in cases:
        values = [u["email"] for u in us] + [o["email"] for o in os_]
        values += [x for link in ls for x in link[2:4] if x]
        for v in values:
            k = email_key(v)
            if k.count("@") == 1 and k.split("@")[0]:
                out.add(k.split("@")[0])
    return out
