"""The vocabulary of usermap: records, codes and the column names of every table.

Pure: imports only the standard library and ``usermap.errors`` (the plan's safety policy raises
its SafetyErrors). Nothing here touches the network, files, clock or
environment. The engine works on pandas frames whose columns are the constants below; the frozen
dataclasses are the record form of one row, for callers that want objects (notebooks, tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..errors import ForeignPlanError, RemovalGuardError, StalePlanError

# --- Aloware users -------------------------------------------------------------------------
USER_STATUSES = ("active", "paused", "inactive", "suspended", "deleted")
USER_KINDS = ("user", "extension", "call_destination")
ELIGIBLE_STATUSES = ("active", "paused")  # paused users still place outbound calls and send SMS

# Columns of the users frame (and of aloware_users.csv; more columns are allowed in the file).
U_ID, U_FIRST, U_LAST, U_EMAIL, U_STATUS, U_KIND, U_ROLE = (
    "id", "first_name", "last_name", "email", "status", "kind", "role")
USER_CSV_COLUMNS = (U_ID, U_FIRST, U_LAST, U_EMAIL, U_STATUS, U_KIND)

# --- HubSpot owners ------------------------------------------------------------------------
OWNER_TYPES = ("PERSON", "QUEUE")
# Columns of the owners frame (flattened from the Owners API objects; snake_case inside usermap).
O_ID, O_EMAIL, O_FIRST, O_LAST, O_USER_ID, O_USER_ID_ALL, O_TYPE, O_ARCHIVED = (
    "id", "email", "first_name", "last_name", "user_id", "user_id_including_inactive", "type",
    "archived")
# The API's own field names, for reading and writing hubspot_owners.json.
API_OWNER_FIELDS = {
    O_ID: "id", O_EMAIL: "email", O_FIRST: "firstName", O_LAST: "lastName", O_USER_ID: "userId",
    O_USER_ID_ALL: "userIdIncludingInactive", O_TYPE: "type", O_ARCHIVED: "archived",
}

# --- Links (the mapping store and the mappings CSV) -----------------------------------------
L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD, L_MAPPED_AT, L_UPDATED_AT = (
    "aloware_user_id", "hubspot_owner_id", "aloware_email", "hubspot_email", "method",
    "mapped_at", "updated_at")
LINK_COLUMNS = (L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD, L_MAPPED_AT, L_UPDATED_AT)
MAPPINGS_CSV_COLUMNS = (L_USER, L_OWNER, L_A_EMAIL, L_H_EMAIL, L_METHOD, L_MAPPED_AT)
METHOD_EMAIL, METHOD_MANUAL = "email", "manual"
METHODS = (METHOD_EMAIL, METHOD_MANUAL)

# --- Audit vocabulary (docs/design.md §4) ----------------------------------------------------------
STATUS_SYNCED, STATUS_ERROR = "synced", "error"

# Issue codes of a mapping, in the order they are tested: the first that applies wins.
ISSUE_CODES = (
    "aloware_user_not_found",
    "aloware_user_deleted",
    "aloware_user_inactive",
    "aloware_not_full_user",
    "hubspot_owner_not_found",
    "hubspot_owner_deactivated",
    "hubspot_email_changed",
    "aloware_email_changed",
    "emails_changed",
)
EMAIL_CONFLICT_CODES = ("hubspot_email_changed", "aloware_email_changed", "emails_changed")
CONFLICT_ICON = "\u26a0"  # ⚠, shown beside every e-mail conflict in every view

ALOWARE_REASONS = (
    "not_eligible",
    "missing_email",
    "invalid_email",
    "owner_mapped_elsewhere",
    "duplicate_email_aloware",
    "duplicate_email_hubspot",
    "owner_inactive",
    "no_matching_owner",
    "match_pending",
)
HUBSPOT_REASONS = (
    "queue_owner",
    "missing_email",
    "invalid_email",
    "user_mapped_elsewhere",
    "duplicate_email_hubspot",
    "duplicate_email_aloware",
    "user_not_eligible",
    "no_matching_user",
    "match_pending",
)

# --- Plan vocabulary (docs/design.md §5) -----------------------------------------------------------
# The two files of a snapshot folder (snapshot.py reads them, fetch.py writes them).
USERS_FILE, OWNERS_FILE = "aloware_users.csv", "hubspot_owners.json"

ADD, UPDATE, REMOVE = "add", "update", "remove"
ACTIONS = (ADD, UPDATE, REMOVE)
STEP_MATCH, STEP_RESOLVE, STEP_CLEANUP = "match", "resolve", "cleanup"
REASON_EMAIL_MATCH = "email_match"  # the reason of every add: one owner, one user, same e-mail key
REASON_UNDO = "undo"                # prefix of the reason of every change in an undo plan

# Columns of the audit frames.
A_ISSUE, A_STATUS, A_CONFLICT, A_ISSUE_ID, A_REASON, A_DETAIL = (
    "issue", "status", "conflict", "issue_id", "reason", "detail")


class Change(NamedTuple):
    """One change of a plan. ``before``/``after`` are link dicts (LINK_COLUMNS) or None.

    A NamedTuple rather than a frozen dataclass: plans of a million users carry hundreds of
    thousands of changes, and a tuple is built several times faster. Immutable all the same.
    """

    action: str
    aloware_user_id: str
    hubspot_owner_id: str
    before: dict | None
    after: dict | None
    reason: str
    step: str

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(frozen=True)
class Plan:
    """A sync plan: the changes, what they were computed from, and its own safety policy.

    The policy (octoDNS style) lives here and nowhere else: a plan refuses itself when the store
    moved on since it was made (``raise_if_stale``) or when it removes more links than the
    removal guard allows without force (``raise_if_unsafe``); ``check`` does both. The plan
    step and the apply step of ``usermap.workflow`` call ``check``; nothing else decides it.
    """

    changes: "ChangeTable"   # usermap.engine.changes: the one representation of the changes
    store_revision: int
    fingerprint: str
    current_links: int
    created_at: str = ""
    force: bool = False
    only: str | None = None
    meta: dict = field(default_factory=dict)
    store_id: str = ""           # the id of the store the plan was made on ("" in old plans)

    def __post_init__(self) -> None:
        if not hasattr(self.changes, "blocks"):
            raise TypeError("a plan's changes are a ChangeTable (ChangeTable.from_changes)")

    # The removal guard: at most max(GUARD_MIN_REMOVALS, GUARD_PERCENT % of current links).
    GUARD_MIN_REMOVALS = 10
    GUARD_PERCENT = 20

    @property
    def removals(self) -> int:
        return self.counts()[REMOVE]

    @property
    def removal_limit(self) -> int:
        """The most removals a plan may carry without --force: max(10, 20% of current links)."""
        return max(self.GUARD_MIN_REMOVALS, (self.current_links * self.GUARD_PERCENT) // 100)

    @property
    def exceeds_guard(self) -> bool:
        return self.removals > self.removal_limit

    def raise_if_unsafe(self, *, force: bool = False) -> None:
        """RemovalGuardError when the plan exceeds the removal guard and ``force`` is false
        (the plan's own ``force`` is not consulted here; ``check`` adds it)."""
        if self.exceeds_guard and not force:
            undo = self.meta.get("undo_of")
            review = (f"This plan undoes run {undo}: its removals take back the links that run "
                      f"made. Review them in the plan file (each change with its before and "
                      f"after)" if undo else
                      "Review the removals first (`usermap audit SNAPSHOT_DIR --store DB --out "
                      "DIR` lists why each link goes, in errors.csv)")
            raise RemovalGuardError(
                f"the plan removes {self.removals} of {self.current_links} links, more than the "
                f"limit of {self.removal_limit} (max({self.GUARD_MIN_REMOVALS}, "
                f"{self.GUARD_PERCENT}% of current links)); nothing was changed. {review}; if "
                f"they are right, add --force to go ahead")

    def raise_if_stale(self, revision: int) -> None:
        """StalePlanError when the store's ``revision`` is not the one the plan was made at."""
        if self.store_revision != revision:
            raise StalePlanError(
                f"the store is at revision {revision} but the plan was made at revision "
                f"{self.store_revision}: the store changed since; nothing was changed. Make a new "
                f"plan with `usermap plan SNAPSHOT_DIR --store DB --out PLAN.json` and apply "
                f"that one")

    def raise_if_foreign(self, store_id: str) -> None:
        """ForeignPlanError when the plan was made on another store than the one whose id is
        ``store_id``, or records no store id (a plan file from before store ids)."""
        if not self.store_id:
            raise ForeignPlanError(
                f"the plan records no store id (made by an older usermap), so it cannot be "
                f"checked against this store ({store_id}); nothing was changed. Make a new plan "
                f"with `usermap plan SNAPSHOT_DIR --store DB --out PLAN.json`")
        if self.store_id != store_id:
            raise ForeignPlanError(
                f"the plan was made on store {self.store_id}, not on this store ({store_id}); "
                f"nothing was changed. Check --store (is it the store the plan was made with?), or "
                f"make a plan against this store with `usermap plan SNAPSHOT_DIR --store DB "
                f"--out PLAN.json`")

    def check(self, *, force: bool = False, revision: int | None = None,
              store_id: str | None = None) -> None:
        """The whole policy: made on the store whose id is ``store_id`` (when given), not stale
        against ``revision`` (when given), and within the removal guard unless ``force`` or the
        plan was made with force."""
        if store_id is not None:
            self.raise_if_foreign(store_id)
        if revision is not None:
            self.raise_if_stale(revision)
        self.raise_if_unsafe(force=force or self.force)

    def counts(self) -> dict[str, int]:
        return self.changes.action_counts()

    def __len__(self) -> int:
        return len(self.changes)


# --- what people copy: profile links and suggested commands ------------------------------------
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def url_segment(value: object) -> str:
    """``value`` percent-encoded as one URL path segment: ``urllib.parse.quote(value, safe="")``
    (written out here because the pure core imports no urllib). A hostile id such as
    ``../../admin?x=1`` stays one segment: ``..%2F..%2Fadmin%3Fx%3D1``."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}"
                   for b in str(value).encode("utf-8"))


def profile_link(template: str | None, user_id: object) -> str:
    """The Aloware profile link of ``user_id`` from ``[aloware] profile_url`` (``{id}`` is
    replaced by the URL-encoded id); "" without a template. The one place profile links are
    made: the audit's tables, the CSVs, the notebooks and the report all take it from here."""
    return template.replace("{id}", url_segment(user_id)) if template else ""


def fill_command(template: str, **values: object) -> str:
    """A suggested command: ``{name}`` in ``template`` replaced by the shell-quoted value
    (``shlex.quote``), so an id like ``1; rm -rf ~`` is one argument and runs nothing. The one
    place fix and decide commands get their ids."""
    import re
    import shlex
    # one pass: a value holding "{code}" is never filled in a second time
    return re.sub(r"\{(\w+)\}", lambda m: shlex.quote(str(values[m.group(1)]))
                  if m.group(1) in values else m.group(0), template)
