"""The audit: (users, owners, links) → Audit, the read-only views of docs/design.md §4.

PURE: imports only the standard library, numpy/pandas/pyarrow (compute kernels) and usermap's
pure modules (models, normalize). No network, SQLite, Jinja, clock or environment: everything comes in as arguments.
All rules are vectorised over whole frames; the only per-row Python is the scoring of a bounded
number of suggestion candidates.

Two decisions docs/design.md leaves open, written down in docs/decisions.md:
- an empty recorded e-mail on an ``email`` link counts as "changed" (so a link imported without
  e-mails gets them recorded by the first sync, as ``emails_changed``); on a ``manual`` link an
  empty recorded side has nothing to compare with and counts as unchanged;
- "mapped elsewhere" and "duplicate" are judged on the links the clean-up keeps (the state the
  match step works on), so ``match_pending`` is exactly the set of unlinked users and owners that
  the next sync links.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .models import (
    A_CONFLICT, A_DETAIL, A_ISSUE, A_ISSUE_ID, A_REASON, A_STATUS, ALOWARE_REASONS,
    ELIGIBLE_STATUSES, EMAIL_CONFLICT_CODES, HUBSPOT_REASONS, ISSUE_CODES, L_A_EMAIL, L_H_EMAIL,
    L_MAPPED_AT, L_METHOD, L_OWNER, L_UPDATED_AT, L_USER, LINK_COLUMNS, METHOD_MANUAL, O_ARCHIVED,
    O_EMAIL, O_FIRST, O_ID, O_LAST, O_TYPE, O_USER_ID, STATUS_ERROR, STATUS_SYNCED, U_EMAIL,
    U_FIRST, U_ID, U_KIND, U_LAST, U_STATUS, profile_link,
)
from .normalize import email_keys, keys_and_validity
from .suggest import SUGGEST_REASONS, suggestions

__all__ = ["Audit", "audit", "prepare_users", "prepare_owners", "empty_links", "issue_id",
           "check_manual_link", "USER_REMOVAL_CODES", "OWNER_REMOVAL_CODES"]

# Internal columns added to the prepared frames.
KEY, VALID, ELIGIBLE, ACTIVE, PERSON = "_key", "_valid", "_eligible", "_active", "_person"
KC = "_kc"  # integer code of the e-mail key, shared by users and owners of one audit
REMOVE_COL = "_remove"  # on Audit.links: the clean-up step removes this link

USER_REMOVAL_CODES = ("aloware_user_not_found", "aloware_user_deleted", "aloware_user_inactive",
                      "aloware_not_full_user")
OWNER_REMOVAL_CODES = ("hubspot_owner_not_found", "hubspot_owner_deactivated")

# Columns of the errors view (CSV files add nothing beyond these).
ERROR_COLUMNS = [A_ISSUE_ID, "code", L_USER, L_OWNER, "name", "email", "hubspot_email", L_METHOD,
                 A_DETAIL]


def issue_id(code: str, aloware_user_id: str) -> str:
    """The stable id of a mapping's issue: the code and the Aloware user id."""
    return f"{code}:{aloware_user_id}"


def empty_links() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in LINK_COLUMNS})


def prepare_users(users: pd.DataFrame) -> pd.DataFrame:
    """Users with their e-mail key, its validity and eligibility (docs/design.md §2)."""
    return _prepare_users(users)[0]


def _prepare_users(users: pd.DataFrame, arrow: bool = True):
    """(prepared users, their keys as an Arrow array or None)."""
    u = users.reset_index(drop=True)
    u[KEY], u[VALID], keys = keys_and_validity(u[U_EMAIL], arrow=arrow)
    u[ELIGIBLE] = u[U_STATUS].isin(ELIGIBLE_STATUSES) & (u[U_KIND] == "user") & u[VALID]
    return u, keys


def prepare_owners(owners: pd.DataFrame) -> pd.DataFrame:
    """Owners with their e-mail key, validity, activity and PERSON flag."""
    return _prepare_owners(owners)[0]


def _prepare_owners(owners: pd.DataFrame, arrow: bool = True):
    """(prepared owners, their keys as an Arrow array or None)."""
    o = owners.reset_index(drop=True)
    o[KEY], o[VALID], keys = keys_and_validity(o[O_EMAIL], arrow=arrow)
    o[ACTIVE] = ~o[O_ARCHIVED].astype(bool) & o[O_USER_ID].notna()
    o[PERSON] = o[O_TYPE] == "PERSON"
    return o, keys


def _take(values: np.ndarray, idx: np.ndarray, missing) -> np.ndarray:
    """values[idx] with ``missing`` where idx == -1."""
    out = values[np.where(idx >= 0, idx, 0)] if len(values) else np.full(len(idx), missing,
                                                                          dtype=object)
    return np.where(idx >= 0, out, missing)


def _add_key_codes(u: pd.DataFrame, o: pd.DataFrame, arrow_keys=(None, None)) -> int:
    """Give users and owners one integer code per e-mail key (shared across both), so that
    per-key counts are np.bincount and look-ups are array indexing. Returns the number of keys.
    ``arrow_keys``: the same keys as Arrow arrays, when the caller has them."""
    if all(k is not None for k in arrow_keys):   # Arrow's hash kernel: several times faster
        enc = pc.dictionary_encode(pa.chunked_array(arrow_keys, type=pa.string())).chunks
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in enc]
                               + [np.zeros(0, dtype=np.int32)])
        n_keys = len(enc[-1].dictionary) if enc else 0   # (one dictionary for the chunks)
    else:
        codes, uniques = pd.factorize(np.concatenate([u[KEY].to_numpy(object),
                                                      o[KEY].to_numpy(object)]))
        n_keys = len(uniques)
    u[KC], o[KC] = codes[:len(u)], codes[len(u):]
    return n_keys


def positions(index, values) -> np.ndarray:
    """The position of each of ``values`` in ``index`` (ids, unique), -1 where absent: Arrow's
    ``index_in`` when both are strings (it hashes several times faster than pandas), else
    ``Index.get_indexer``."""
    try:
        found = pc.index_in(pa.array(np.asarray(values, dtype=object), type=pa.string()),
                            value_set=pa.array(np.asarray(index, dtype=object),
                                               type=pa.string()))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.Index(index).get_indexer(values)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp, copy=False)


def counts_by_key(codes: np.ndarray, mask, n_keys: int) -> np.ndarray:
    """How many rows under ``mask`` have each key code."""
    counts = np.bincount(np.asarray(codes)[np.asarray(mask, dtype=bool)], minlength=n_keys)
    return counts.astype(np.int32, copy=False)   # (half the memory: a million keys, ten counts)


@dataclass(frozen=True)
class Audit:
    """The audit of one (users, owners, links) state. Frames are views; do not mutate them.

    The views (mapped, unmapped_aloware, unmapped_hubspot) are computed on first use, so a plan,
    which needs only the links' issues and the per-key counts, does not pay for them.
    """

    users: pd.DataFrame           # prepared users (input columns + _key, _valid, _eligible, _kc)
    owners: pd.DataFrame          # prepared owners (+ _key, _valid, _active, _person, _kc)
    links: pd.DataFrame           # the store's links + issue, _remove, user/owner row indexes
    facts: dict                   # per-key counts (see _key_facts)
    profile_url: str | None = None
    suggestions: bool = True

    @cached_property
    def mapped(self) -> pd.DataFrame:
        """docs/design.md §4.2."""
        return _mapped_view(self.links, self.users, self.owners)

    @cached_property
    def unmapped_aloware(self) -> pd.DataFrame:
        """§4.4, with suggestions when asked for."""
        ua = _unmapped_aloware(self.users, self.facts, self.profile_url)
        return _add_suggestions(ua, self.owners, self.facts) if self.suggestions else ua

    @cached_property
    def unmapped_hubspot(self) -> pd.DataFrame:
        """§4.5."""
        return _unmapped_hubspot(self.owners, self.facts)

    @property
    def errors(self) -> pd.DataFrame:
        """§4.6: one row per mapping with an issue, with a detail sentence."""
        m = self.mapped[self.mapped[A_STATUS] == STATUS_ERROR]
        out = pd.DataFrame({
            A_ISSUE_ID: m[A_ISSUE_ID], "code": m[A_ISSUE], L_USER: m[L_USER],
            L_OWNER: m[L_OWNER],
            "name": (m[U_FIRST].fillna("") + " " + m[U_LAST].fillna("")).str.strip(),
            "email": m["email"], "hubspot_email": m["hubspot_email"], L_METHOD: m[L_METHOD],
        })
        out[A_DETAIL] = [_detail(c, a, h) for c, a, h in
                         zip(out["code"], out["email"], out["hubspot_email"])]
        return out.reset_index(drop=True)[ERROR_COLUMNS]

    def summary(self) -> dict:
        """The numbers of the overview (§4.1); the keys of summary.json."""
        m = self.mapped
        errors_by_code = m.loc[m[A_STATUS] == STATUS_ERROR, A_ISSUE].value_counts()
        ua = self.unmapped_aloware[A_REASON].value_counts()
        uh = self.unmapped_hubspot[A_REASON].value_counts()
        return {
            "mapped": int(len(m)),
            "synced": int((m[A_STATUS] == STATUS_SYNCED).sum()),
            "errors": int((m[A_STATUS] == STATUS_ERROR).sum()),
            "errors_by_code": {c: int(errors_by_code.get(c, 0)) for c in ISSUE_CODES
                               if errors_by_code.get(c, 0)},
            "email_conflicts": int(m[A_CONFLICT].sum()),
            "unmapped_aloware": int(len(self.unmapped_aloware)),
            "unmapped_hubspot": int(len(self.unmapped_hubspot)),
            "unmapped_aloware_by_reason": {r: int(ua.get(r, 0)) for r in ALOWARE_REASONS
                                           if ua.get(r, 0)},
            "unmapped_hubspot_by_reason": {r: int(uh.get(r, 0)) for r in HUBSPOT_REASONS
                                           if uh.get(r, 0)},
            "aloware_users": int(len(self.users)),
            "hubspot_owners": int(len(self.owners)),
            "active_hubspot_owners": int(self.owners[ACTIVE].sum()),
        }

    def summary_text(self) -> str:
        """A short human summary for the terminal."""
        s = self.summary()
        lines = [f"mapped {s['mapped']}: {s['synced']} synced, {s['errors']} with issues",
                 f"unmapped: {s['unmapped_aloware']} Aloware users, "
                 f"{s['unmapped_hubspot']} active HubSpot owners"]
        for code, n in s["errors_by_code"].items():
            icon = " \u26a0" if code in EMAIL_CONFLICT_CODES else ""
            lines.append(f"  {n:>7}  {code}{icon}")
        return "\n".join(lines)


_DETAILS = {
    "aloware_user_not_found": "the Aloware user is not in the users listing",
    "aloware_user_deleted": "the Aloware user was deleted",
    "aloware_user_inactive": "the Aloware user is inactive or suspended",
    "aloware_not_full_user": "the Aloware user is an extension or a call destination",
    "hubspot_owner_not_found": "the HubSpot owner exists in neither owners listing",
    "hubspot_owner_deactivated": "the HubSpot owner is archived or its user deactivated",
    "hubspot_email_changed": "the e-mails no longer match: the HubSpot side changed",
    "aloware_email_changed": "the e-mails no longer match: the Aloware e-mail changed",
    "emails_changed": "both e-mails changed and still match; the recorded ones are stale",
}


def _detail(code: str, a: str, h: str) -> str:
    base = _DETAILS.get(code, code)
    if code in EMAIL_CONFLICT_CODES:
        return f"{base} (Aloware {a or '-'}, HubSpot {h or '-'})"
    return base


def audit(users: pd.DataFrame, owners: pd.DataFrame, links: pd.DataFrame | None = None, *,
          suggestions: bool = True, profile_url: str | None = None, arrow: bool = True
          ) -> Audit:
    """Audit every link and every unlinked user and owner (docs/design.md §4).

    ``arrow``: the e-mail keys by Arrow's kernels (True) or by the scalar rule (False); both
    give the same audit (the caller's engine switch chooses)."""
    u, u_keys = _prepare_users(users, arrow)
    o, o_keys = _prepare_owners(owners, arrow)
    links = empty_links() if links is None else links
    lk = links.reset_index(drop=True)
    for c in LINK_COLUMNS:
        if c not in lk.columns:
            lk[c] = ""
    lk = lk.fillna({L_A_EMAIL: "", L_H_EMAIL: "", L_METHOD: "email", L_MAPPED_AT: "",
                    L_UPDATED_AT: ""})

    lk = _audit_links(lk, u, o)
    n_keys = _add_key_codes(u, o, (u_keys, o_keys))
    del u_keys, o_keys   # (Arrow memory: given back before the counts are made)
    facts = _key_facts(u, o, lk, n_keys)
    return Audit(users=u, owners=o, links=lk, facts=facts,
                 profile_url=profile_url, suggestions=suggestions)


def _audit_links(lk: pd.DataFrame, u: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    """Add _ui/_oi (row in users/owners, -1 if absent) and the issue code of each link."""
    ui = positions(u[U_ID], lk[L_USER])
    oi = positions(o[O_ID], lk[L_OWNER])
    lk["_ui"], lk["_oi"] = ui, oi
    status = _take(u[U_STATUS].to_numpy(object), ui, "")
    kind = _take(u[U_KIND].to_numpy(object), ui, "")
    active = _take(o[ACTIVE].to_numpy(bool), oi, False).astype(bool)
    ak = _take(u[KEY].to_numpy(object), ui, "")
    hk = _take(o[KEY].to_numpy(object), oi, "")
    rak = _recorded_keys(lk[L_A_EMAIL].to_numpy(object), _take(u[U_EMAIL].to_numpy(object), ui,
                                                               None), ak)
    rhk = _recorded_keys(lk[L_H_EMAIL].to_numpy(object), _take(o[O_EMAIL].to_numpy(object), oi,
                                                               None), hk)
    manual = (lk[L_METHOD] == METHOD_MANUAL).to_numpy()

    # A side "changed" when its key differs from the recorded one. On a manual link an empty
    # record has nothing to compare with; on an email link it counts as changed.
    a_changed = (ak != rak) & (~manual | (rak != ""))
    h_changed = (hk != rhk) & (~manual | (rhk != ""))
    match = ak == hk
    any_changed = a_changed | h_changed
    mismatch = ~match & (~manual | any_changed)  # a manual pin with no change stays synced
    aloware_only = a_changed & ~h_changed

    conditions = [
        ui < 0,
        status == "deleted",
        np.isin(status, ["inactive", "suspended"]),
        kind != "user",
        oi < 0,
        ~active,
        mismatch & ~aloware_only,
        mismatch & aloware_only,
        match & any_changed,
    ]
    lk[A_ISSUE] = np.select(conditions, list(ISSUE_CODES), default="")
    # The clean-up rule of docs/design.md §5 step 3, kept here so the audit's reasons and the plan
    # agree: user or owner gone/inactive/not full, and non-manual hubspot_email_changed.
    lk[REMOVE_COL] = np.isin(lk[A_ISSUE].to_numpy(object),
                             USER_REMOVAL_CODES + OWNER_REMOVAL_CODES) | (
        (lk[A_ISSUE].to_numpy(object) == "hubspot_email_changed") & ~manual)
    lk["_a_email"] = _take(u[U_EMAIL].to_numpy(object), ui, "")
    lk["_h_email"] = _take(o[O_EMAIL].to_numpy(object), oi, "")
    return lk


def _recorded_keys(recorded: np.ndarray, current: np.ndarray, current_keys: np.ndarray
                   ) -> np.ndarray:
    """Keys of the recorded e-mails; where the text is the current e-mail's (most links), its
    key is already known, so only the others are normalised."""
    same = recorded == current
    out = current_keys.copy()
    if (~same).any():
        out[~same] = email_keys(pd.Series(recorded[~same], dtype=object)).to_numpy(object)
    return out


def _mapped_view(lk: pd.DataFrame, u: pd.DataFrame, o: pd.DataFrame) -> pd.DataFrame:
    ui = lk["_ui"].to_numpy()
    issue = lk[A_ISSUE].to_numpy(object)
    first = _take(u[U_FIRST].to_numpy(object), ui, "")
    last = _take(u[U_LAST].to_numpy(object), ui, "")
    # A link to an unknown user still shows the owner's name, so a person can tell who it was.
    oi = lk["_oi"].to_numpy()
    no_user = ui < 0
    if no_user.any():
        first = np.where(no_user, _take(o[O_FIRST].to_numpy(object), oi, ""), first)
        last = np.where(no_user, _take(o[O_LAST].to_numpy(object), oi, ""), last)
    has_issue = issue != ""
    ids = np.where(has_issue, pd.Series(issue).str.cat(lk[L_USER].astype(str), sep=":")
                   .to_numpy(object), "")
    return pd.DataFrame({
        L_USER: lk[L_USER].to_numpy(object), L_OWNER: lk[L_OWNER].to_numpy(object),
        U_FIRST: first, U_LAST: last,
        "email": np.where(no_user, lk[L_A_EMAIL].to_numpy(object), lk["_a_email"].to_numpy()),
        "hubspot_email": lk["_h_email"].to_numpy(object),
        L_METHOD: lk[L_METHOD].to_numpy(object),
        A_STATUS: np.where(has_issue, STATUS_ERROR, STATUS_SYNCED),
        A_ISSUE: issue,
        A_CONFLICT: np.isin(issue, EMAIL_CONFLICT_CODES),
        A_ISSUE_ID: ids,
        L_MAPPED_AT: lk[L_MAPPED_AT].to_numpy(object),
    })


def _key_facts(u: pd.DataFrame, o: pd.DataFrame, lk: pd.DataFrame, n_keys: int):
    """Per e-mail key counts shared by both unmapped views and the suggestions.

    Who is unmapped is read from the store as it is; whether a user or owner is "mapped
    elsewhere", and how many eligible users are free, is read from the links the clean-up keeps,
    the state the match step works on, so ``match_pending`` is exactly what a sync links.
    """
    def mark(n: int, idx: np.ndarray) -> np.ndarray:
        out = np.zeros(n, dtype=bool)
        out[idx[idx >= 0]] = True
        return out

    keep = ~lk[REMOVE_COL].to_numpy()
    linked_users = mark(len(u), lk["_ui"].to_numpy())
    linked_owners = mark(len(o), lk["_oi"].to_numpy())
    kept_users = mark(len(u), lk["_ui"].to_numpy()[keep])
    kept_owners = mark(len(o), lk["_oi"].to_numpy()[keep])
    ap = (o[ACTIVE] & o[PERSON] & o[VALID]).to_numpy()
    inactive_p = (~o[ACTIVE] & o[PERSON] & o[VALID]).to_numpy()
    elig = u[ELIGIBLE].to_numpy()
    uk, ok = u[KC].to_numpy(), o[KC].to_numpy()

    def _counts(codes, mask):
        return counts_by_key(codes, mask, n_keys)
    active_person = _counts(ok, ap)
    active_person_linked = _counts(ok, ap & kept_owners)
    eligible_unlinked = _counts(uk, elig & ~kept_users)
    return {
        "linked_users": linked_users,
        "linked_owners": linked_owners,
        "kept_users": kept_users,      # linked by a link the clean-up keeps
        "kept_owners": kept_owners,
        "active_person": active_person,
        "active_person_linked": active_person_linked,
        "inactive_person": _counts(ok, inactive_p),
        "eligible": _counts(uk, elig),
        "eligible_unlinked": eligible_unlinked,
        "eligible_linked": _counts(uk, elig & kept_users),
        "any_user": _counts(uk, u[VALID].to_numpy()),
        # The keys the match step pairs (docs/design.md §5 step 1, used by plan.make_plan too): one
        # active PERSON owner, not kept linked, and one eligible user not kept linked. A free
        # user or owner with such a key is linked by the next sync: its reason is match_pending.
        "pairable": (active_person == 1) & (active_person_linked == 0) & (eligible_unlinked == 1),
    }


def _unmapped_aloware(u, f, profile_url) -> pd.DataFrame:
    rows = u[~f["linked_users"]]
    key, code = rows[KEY], rows[KC].to_numpy()
    pending = rows[ELIGIBLE].to_numpy() & f["pairable"][code]   # the next sync links it
    conditions = [
        ~(rows[U_STATUS].isin(ELIGIBLE_STATUSES) & (rows[U_KIND] == "user")).to_numpy(),
        (key == "").to_numpy(),
        ~rows[VALID].to_numpy(),
        (f["active_person_linked"][code] > 0) & ~pending,
        f["eligible_unlinked"][code] > 1,
        f["active_person"][code] > 1,
        (f["active_person"][code] == 0) & (f["inactive_person"][code] > 0),
        f["active_person"][code] == 0,
    ]
    reason = np.select(conditions, list(ALOWARE_REASONS[:-1]), default=ALOWARE_REASONS[-1])
    out = pd.DataFrame({
        L_USER: rows[U_ID].to_numpy(object), U_FIRST: rows[U_FIRST].to_numpy(object),
        U_LAST: rows[U_LAST].to_numpy(object), "email": rows[U_EMAIL].to_numpy(object),
        U_STATUS: rows[U_STATUS].to_numpy(object), U_KIND: rows[U_KIND].to_numpy(object),
        A_REASON: reason,
    })
    out["profile_url"] = (out[L_USER].map(lambda i: profile_link(profile_url, i))
                          if profile_url else "")
    out["suggestions"] = [[] for _ in range(len(out))]
    return out


def _unmapped_hubspot(o, f) -> pd.DataFrame:
    rows = o[o[ACTIVE].to_numpy() & ~f["linked_owners"]]
    key, code = rows[KEY], rows[KC].to_numpy()
    pending = rows[PERSON].to_numpy() & rows[VALID].to_numpy() & f["pairable"][code]
    conditions = [
        (rows[O_TYPE] == "QUEUE").to_numpy(),
        (key == "").to_numpy(),
        ~rows[VALID].to_numpy(),
        # "mapped elsewhere" only when the sync does not link this owner anyway: another
        # eligible user with the key may be kept on a link (aloware_email_changed) while the
        # one free user is paired with this owner.
        (f["eligible_linked"][code] > 0) & ~pending,
        f["active_person"][code] > 1,
        f["eligible_unlinked"][code] > 1,
        (f["eligible"][code] == 0) & (f["any_user"][code] > 0),
        f["any_user"][code] == 0,
    ]
    reason = np.select(conditions, list(HUBSPOT_REASONS[:-1]), default=HUBSPOT_REASONS[-1])
    return pd.DataFrame({
        L_OWNER: rows[O_ID].to_numpy(object), U_FIRST: rows[O_FIRST].to_numpy(object),
        U_LAST: rows[O_LAST].to_numpy(object), "email": rows[O_EMAIL].to_numpy(object),
        O_TYPE: rows[O_TYPE].to_numpy(object), A_REASON: reason,
    })


def _add_suggestions(ua: pd.DataFrame, o, f) -> pd.DataFrame:
    """Up to three likely owners (``suggest.suggestions``) for users whom no owner's e-mail
    matches, among the active PERSON owners no link holds. Only shown, never applied."""
    want = ua[A_REASON].isin(SUGGEST_REASONS).to_numpy()
    if not want.any():
        return ua
    cand = o[o[ACTIVE].to_numpy() & o[PERSON].to_numpy() & ~f["linked_owners"]]
    if cand.empty:
        return ua
    per_q = suggestions(ua[want], cand, key=KEY)
    if not per_q:
        return ua
    ua = ua.copy()
    positions = np.flatnonzero(want)
    col = list(ua["suggestions"])
    for qi, lst in per_q.items():
        col[positions[qi]] = lst
    ua["suggestions"] = col
    return ua


def check_manual_link(users: pd.DataFrame, owners: pd.DataFrame, aloware_id: str,
                      owner_id: str) -> tuple[str, str]:
    """For ``usermap map --snapshot``: both ids must exist, the user eligible by status and kind,
    the owner active; returns (aloware e-mail, HubSpot e-mail) to record on the link."""
    from ..errors import InputError
    u = users[users[U_ID] == aloware_id]
    if u.empty:
        raise InputError(f"Aloware user {aloware_id!r} is not in the snapshot",
                         column="aloware_user_id")
    o = prepare_owners(owners[owners[O_ID] == owner_id])
    if o.empty:
        raise InputError(f"HubSpot owner {owner_id!r} is not in the snapshot",
                         column="hubspot_owner_id")
    row = u.iloc[0]
    if row[U_STATUS] not in ELIGIBLE_STATUSES or row[U_KIND] != "user":
        raise InputError(f"Aloware user {aloware_id!r} is {row[U_STATUS]} {row[U_KIND]}; only "
                         "active or paused full users can be linked", column="aloware_user_id")
    if not bool(o[ACTIVE].iloc[0]):
        raise InputError(f"HubSpot owner {owner_id!r} is deactivated", column="hubspot_owner_id")
    return str(row[U_EMAIL]), str(o[O_EMAIL].iloc[0])
