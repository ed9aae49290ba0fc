"""The sync plan: Audit → Plan (docs/design.md §5), the safety policy, and the plan file format.

PURE: standard library, numpy/pandas and usermap's pure modules only; no file, no clock (the
caller passes ``created_at``). The plan file (its format, reader and writer) is
``usermap.planfile``.

The three steps are computed together as one fixed point:
1. clean up: links whose user or owner is gone, inactive or not a full user, and non-manual
   ``hubspot_email_changed`` links, are removed;
2. match: on the state after clean up, an active PERSON owner without a link is linked to the one
   eligible unlinked user with its e-mail key, when no other active owner has that key;
3. resolve: ``emails_changed`` links get their recorded e-mails updated, and a removal whose
   owner was deactivated or is gone becomes an update when step 2 pairs its user with a new owner.
Applying the plan and planning again gives an empty plan.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from .changes import (
    LINK_FIELDS, ChangeBlock, ChangeTable, reason_counts,
)
from .models import (
    ADD, L_A_EMAIL, L_H_EMAIL, L_MAPPED_AT, L_METHOD, L_OWNER, L_USER, METHOD_EMAIL,
    O_EMAIL, O_ID, REASON_EMAIL_MATCH, REASON_UNDO, REMOVE, STEP_CLEANUP, STEP_MATCH, STEP_RESOLVE,
    U_EMAIL, U_ID, UPDATE, A_ISSUE, Change, Plan,
)
from .reconcile import (
    ACTIVE, ELIGIBLE, KC, KEY, OWNER_REMOVAL_CODES, PERSON, REMOVE_COL, VALID, Audit,
)

__all__ = ["make_plan", "describe", "plan_frame", "undo_plan"]


def make_plan(result: Audit, *, store_revision: int, fingerprint: str, only: str | None = None,
              force: bool = False, created_at: str = "", store_id: str = "") -> Plan:
    """The plan that brings the store to the fixed point of the rules (docs/design.md §5)."""
    lk, u, o = result.links, result.users, result.owners
    remove = lk[REMOVE_COL].to_numpy()
    # only the columns the changes need (selecting rows copies every column taken)
    lk = lk[[L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD, A_ISSUE, "_a_email", "_h_email"]]
    kept = lk[~remove]

    # Step 1 (match) on the state after clean up: the audit's per-key counts are already
    # taken on that state (see reconcile._key_facts), so match_pending and the plan agree.
    # A pairable key has exactly one candidate owner and one candidate user, so the pairs are
    # found by key code (integer arrays), in the owners' order.
    f = result.facts
    ok, uk = o[KC].to_numpy(), u[KC].to_numpy()
    active_person = (o[ACTIVE] & o[PERSON] & o[VALID]).to_numpy()
    cand_o = np.flatnonzero(active_person & ~f["kept_owners"] & f["pairable"][ok])
    free_u = u[ELIGIBLE].to_numpy() & ~f["kept_users"]
    cand_u = np.flatnonzero(free_u & f["pairable"][uk])
    user_of_key = np.full(len(f["pairable"]), -1, dtype=np.intp)
    user_of_key[uk[cand_u]] = cand_u
    pu = user_of_key[ok[cand_o]]
    po, pu = cand_o[pu >= 0], pu[pu >= 0]
    pairs = pd.DataFrame({KEY: o[KEY].to_numpy(object)[po], L_OWNER: o[O_ID].to_numpy(object)[po],
                          L_H_EMAIL: o[O_EMAIL].to_numpy(object)[po],
                          L_USER: u[U_ID].to_numpy(object)[pu],
                          L_A_EMAIL: u[U_EMAIL].to_numpy(object)[pu]})

    # Step 2 (resolve): re-point removals whose only fault is the owner, when step 1 pairs the
    # same user; and refresh recorded e-mails of emails_changed links.
    removed = lk[remove]
    repoint_mask = removed[A_ISSUE].isin(OWNER_REMOVAL_CODES) & removed[L_USER].isin(
        pairs[L_USER])
    repointed = removed[repoint_mask]
    removed = removed[~repoint_mask]
    pair_by_user = pairs.set_index(L_USER)
    adds = pairs[~pairs[L_USER].isin(repointed[L_USER])]

    # The changes are kept column-wise, a block per action and step (changes.ChangeTable):
    # `usermap plan` counts and writes them without making a Change tuple per row.
    blocks = [
        _block(REMOVE, STEP_CLEANUP, _links_of(removed), None, removed[A_ISSUE]),
    ]
    new_owner = pair_by_user.loc[repointed[L_USER]]
    blocks.append(_block(UPDATE, STEP_RESOLVE, _links_of(repointed),
                         _links_of(repointed, owner=new_owner[L_OWNER],
                                   a_email=new_owner[L_A_EMAIL],
                                   h_email=new_owner[L_H_EMAIL], method=METHOD_EMAIL),
                         repointed[A_ISSUE]))
    refresh = kept[kept[A_ISSUE] == "emails_changed"]
    blocks.append(_block(UPDATE, STEP_RESOLVE, _links_of(refresh),
                         _links_of(refresh, a_email=refresh["_a_email"],
                                   h_email=refresh["_h_email"]),
                         "emails_changed"))
    blocks.append(_block(ADD, STEP_MATCH, None, _links_of(adds, method=METHOD_EMAIL),
                         REASON_EMAIL_MATCH))

    # Built in step order (removals first: they free ids that adds use); _restrict keeps it.
    changes = ChangeTable(blocks)
    if only is not None:
        changes = ChangeTable.from_changes(_restrict(list(changes), result, only))
    return Plan(changes=changes, store_revision=int(store_revision),
                fingerprint=fingerprint, current_links=int(len(lk)), created_at=created_at,
                force=bool(force), only=only, store_id=str(store_id))


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (zip over columns: faster than to_dict)."""
    if not len(df):
        return []
    cols = list(df.columns)
    return [dict(zip(cols, row)) for row in zip(*(df[c].tolist() for c in cols))]


def _strings(values, n: int) -> list[str]:
    """A column (or one value for every row) as a list of strings, "" for missing."""
    if isinstance(values, str):
        return [values] * n
    out = values.tolist()
    if not set(map(type, out)) <= {str}:  # (C speed; str values cannot be missing)
        out = ["" if v is None or v != v else str(v) for v in out]
    return out


def _links_of(df: pd.DataFrame, *, owner=None, a_email=None, h_email=None, method=None
              ) -> dict[str, list]:
    """The link columns (LINK_FIELDS) of the rows of ``df``, with some fields replaced."""
    n = len(df)
    return dict(zip(LINK_FIELDS, (
        _strings(df[L_USER], n),
        _strings(df[L_OWNER] if owner is None else owner, n),
        _strings(df[L_A_EMAIL] if a_email is None else a_email, n),
        _strings(df[L_H_EMAIL] if h_email is None else h_email, n),
        _strings(df[L_METHOD] if method is None else method, n))))


def _block(action: str, step: str, before, after, reason) -> ChangeBlock:
    """A block of changes; the change's user and owner are those of its link after the change
    (or before, for a removal), so the block shares those columns with it (one list each:
    the plan file converts a column once)."""
    side = after if after is not None else before
    users, owners = side[L_USER], side[L_OWNER]
    return ChangeBlock(action, step, users, owners, before, after,
                       reason if isinstance(reason, str) else _strings(reason, len(users)))


def _restrict(changes: list[Change], result: Audit, only: str) -> list[Change]:
    """The fix of one issue: the changes that touch its link's user or owner."""
    from ..errors import InputError
    m = result.mapped
    hit = m[m["issue_id"] == only]
    if hit.empty:
        raise InputError(f"no issue {only!r} in this audit (see errors.csv for the ids)",
                         column="--only")
    user, owner = hit.iloc[0][L_USER], hit.iloc[0][L_OWNER]
    return [c for c in changes if c.aloware_user_id == user or c.hubspot_owner_id == owner
            or (c.before or {}).get(L_OWNER) == owner]


# --- views --------------------------------------------------------------------------------
def plan_frame(plan: Plan) -> pd.DataFrame:
    """One row per change: step, action, reason, ids, before/after owner (for notebooks)."""
    return pd.DataFrame([{
        "step": c.step, "action": c.action, "reason": c.reason,
        L_USER: c.aloware_user_id, L_OWNER: c.hubspot_owner_id,
        "before_owner": (c.before or {}).get(L_OWNER, ""),
        "after_owner": (c.after or {}).get(L_OWNER, ""),
        "aloware_email": ((c.after or c.before) or {}).get(L_A_EMAIL, ""),
        "hubspot_email": ((c.after or c.before) or {}).get(L_H_EMAIL, ""),
    } for c in plan.changes], columns=["step", "action", "reason", L_USER, L_OWNER,
                                       "before_owner", "after_owner", "aloware_email",
                                       "hubspot_email"])


def describe(plan: Plan) -> str:
    """A short human description of a plan."""
    n = plan.counts()
    if not len(plan):
        return f"plan: no changes (store revision {plan.store_revision})"
    lines = [f"plan: {n['add']} to add, {n['update']} to update, {n['remove']} to remove "
             f"(store revision {plan.store_revision}; removal limit {plan.removal_limit})"]
    for key, count in reason_counts(plan.changes).items():
        lines.append(f"  {count:>7}  {key}")
    if plan.exceeds_guard:
        lines.append(f"  the plan removes more than {plan.removal_limit} links: it needs --force")
    return "\n".join(lines)


# --- undo ---------------------------------------------------------------------------------
def undo_plan(journal: pd.DataFrame, links: pd.DataFrame, *, store_revision: int, run_id: str,
              created_at: str = "", store_id: str = "") -> Plan:
    """The inverse of an applied run, as a plan; refused if the store moved on in ways that
    conflict (a link that run wrote was changed since, or an id it freed was taken)."""
    from ..errors import InputError, SafetyError
    if journal.empty:
        raise InputError(f"no applied run {run_id!r} with changes in this store", column="RUN_ID")
    current = links.set_index(L_USER) if len(links) else None
    owners_now = set(links[L_OWNER]) if len(links) else set()
    changes, conflicts = [], []
    reason = f"{REASON_UNDO}:{run_id}"
    # owners the run's links hold now are freed by the undo itself, so restoring them is fine
    # before/after are JSON text or missing (None, or NaN when pandas infers string columns)
    def _link(v):
        return json.loads(v) if isinstance(v, str) and v else None
    freed = {_link(a)[L_OWNER] for a in journal["after"] if _link(a)}
    for r in reversed(_records(journal)):
        before, after = _link(r["before"]), _link(r["after"])
        # the link to restore keeps its original mapped_at, so an undo leaves no trace in it
        b = {k: before[k] for k in LINK_FIELDS + (L_MAPPED_AT,)} if before else None
        a = {k: after[k] for k in LINK_FIELDS} if after else None
        user = r[L_USER]
        now = None
        if current is not None and user in current.index:
            row = current.loc[user]
            now = {L_USER: user, **{k: str(row[k]) for k in LINK_FIELDS if k != L_USER}}
        if a is not None and now != a:
            conflicts.append(f"{user}: the link is no longer as run {run_id} left it")
        if a is None and now is not None:
            conflicts.append(f"{user}: linked again since run {run_id}")
        if b is not None and b[L_OWNER] in owners_now - freed and (
                now is None or now[L_OWNER] != b[L_OWNER]):
            conflicts.append(f"{user}: owner {b[L_OWNER]} is linked to another user now")
        action = ADD if a is None else REMOVE if b is None else UPDATE
        owner = (b or a)[L_OWNER]
        step = {ADD: STEP_MATCH, REMOVE: STEP_CLEANUP, UPDATE: STEP_RESOLVE}[action]
        changes.append(Change(action, user, owner, a, b, reason, step))
    if conflicts:
        raise SafetyError(f"cannot undo run {run_id}: the store moved on since "
                          f"({len(conflicts)} conflicts), e.g. " + "; ".join(conflicts[:5]))
    order = {STEP_CLEANUP: 0, STEP_RESOLVE: 1, STEP_MATCH: 2}
    changes.sort(key=lambda c: order[c.step])
    return Plan(changes=ChangeTable.from_changes(changes), store_revision=store_revision,
                fingerprint=f"undo:{run_id}", current_links=int(len(links)),
                created_at=created_at, force=False, only=None, meta={"undo_of": run_id},
                store_id=str(store_id))
