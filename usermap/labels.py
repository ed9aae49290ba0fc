"""Plain labels for people: every issue code, reason, plan step and action in words (docs/design.md
§8 "for people"), with what a person should do. The codes stay the keys (and are shown in a
legend); the words come from the tables of docs/design.md §4.3-§4.5.

One table, for every view that shows codes to people: the report, the e-mail, the notebooks and the
User Mapping tab. Pure: standard library and the engine's vocabulary only.
"""

from __future__ import annotations

from .engine.models import (
    ALOWARE_REASONS, CONFLICT_ICON, EMAIL_CONFLICT_CODES, HUBSPOT_REASONS, ISSUE_CODES,
    METHOD_MANUAL,
)

__all__ = ["ISSUE_LABELS", "ISSUE_ADVICE", "ALOWARE_REASON_LABELS", "HUBSPOT_REASON_LABELS",
           "ALOWARE_REASON_ADVICE", "HUBSPOT_REASON_ADVICE", "NEEDS_PERSON_ISSUES",
           "NEEDS_PERSON_ALOWARE", "NEEDS_PERSON_HUBSPOT", "FOR_INFORMATION_HUBSPOT", "KEEP_WITHOUT_OWNER", "DONE_LABELS",
           "STEP_LABELS", "ACTION_LABELS", "issue_label", "advice_for", "aloware_reason_label",
           "hubspot_reason_label", "legend", "fetch_note", "ACTIVITY_REASON_LABELS",
           "REFUSED_OWNER"]

# Why an activity is graded as it is: the reason codes activities.rules sets (design §10), with
# the words the report, the tab and the CLI use.
ACTIVITY_REASON_LABELS = {
    "export_names_user": "the Aloware export names the user; it landed on another owner",
    "stale_link": "logged by the integration through a link that was in error then",
    "owner_changed_since": "a person or a workflow changed the owner since it was logged",
    "no_valid_link_since": "the user has had no valid link since; nobody to give it to",
    "not_set_by_integration": "the owner was not set by Aloware's integration",
    "unassigned": "logged without an owner; only an Aloware export can say whose it is",
    "owner_not_linked": "logged to an owner linked to no Aloware user then (a default owner)",
}
# The skip reason of an activity whose intended owner HubSpot refused: written to the activities
# journal by activities.apply and counted as failed by the repair run's report.
REFUSED_OWNER = "skipped: HubSpot refused the owner (not a valid owner)"

ISSUE_LABELS = {
    "aloware_user_not_found": "Aloware user not found",
    "aloware_user_deleted": "Aloware user deleted",
    "aloware_user_inactive": "Aloware user inactive or suspended",
    "aloware_not_full_user": "Not a full Aloware user (extension or call destination)",
    "hubspot_owner_not_found": "HubSpot owner not found",
    "hubspot_owner_deactivated": "HubSpot owner deactivated",
    "hubspot_email_changed": "HubSpot e-mail changed",
    "aloware_email_changed": "Aloware e-mail changed",
    "emails_changed": "Both e-mails changed (still matching)",
}
ISSUE_ADVICE = {
    "aloware_user_not_found": "Nothing: the sync removes the link. If the user should exist, "
                              "check Aloware and the admin export.",
    "aloware_user_deleted": "Nothing: the sync removes the link.",
    "aloware_user_inactive": "Nothing: the sync removes the link. Reactivate the user in "
                             "Aloware if that was a mistake.",
    "aloware_not_full_user": "Nothing: such accounts are never mapped; the sync removes the "
                             "link.",
    "hubspot_owner_not_found": "Nothing: the sync removes the link, or re-points it to an "
                               "active owner with the user's e-mail.",
    "hubspot_owner_deactivated": "Nothing: the sync re-points the link to an active owner with "
                                 "the same e-mail if there is one, else removes it. Reactivate "
                                 "the HubSpot user if the person still works here.",
    "hubspot_email_changed": "E-mail links: the sync removes the link and matches the user "
                             "again. Manual links stay: decide (pin again, or unlink).",
    "aloware_email_changed": "Decide: fix the e-mail in Aloware, pin the link again, or unlink. "
                             "The sync leaves the link alone.",
    "emails_changed": "Nothing: the sync records the new e-mails.",
}
ALOWARE_REASON_LABELS = {
    "not_eligible": "Not eligible (status or kind)",
    "missing_email": "No e-mail",
    "invalid_email": "Invalid e-mail",
    "owner_mapped_elsewhere": "Owner with this e-mail is linked to another user",
    "duplicate_email_aloware": "Another Aloware user has the same e-mail",
    "duplicate_email_hubspot": "Several HubSpot owners have this e-mail",
    "owner_inactive": "Only deactivated HubSpot owners have this e-mail",
    "no_matching_owner": "No HubSpot owner has this e-mail",
    "match_pending": "The next sync links this user",
}
HUBSPOT_REASON_LABELS = {
    "queue_owner": "A queue, never matched",
    "missing_email": "No e-mail",
    "invalid_email": "Invalid e-mail",
    "user_mapped_elsewhere": "User with this e-mail is linked to another owner",
    "duplicate_email_hubspot": "Several HubSpot owners have this e-mail",
    "duplicate_email_aloware": "Several Aloware users have this e-mail",
    "user_not_eligible": "Only ineligible Aloware users have this e-mail",
    "no_matching_user": "No Aloware user has this e-mail",
    "match_pending": "The next sync links this owner",
}
# What to do about an unmapped user or owner: who acts, and where (docs/design.md §4.4, §4.5).
ALOWARE_REASON_ADVICE = {
    "not_eligible": "Nothing, unless the status or kind is wrong in Aloware.",
    "missing_email": "An Aloware admin adds the e-mail on the user's Aloware profile; or pin "
                     "one of the suggested owners.",
    "invalid_email": "An Aloware admin corrects the e-mail on the user's Aloware profile; or "
                     "pin one of the suggested owners.",
    "owner_mapped_elsewhere": "Look at the other Aloware user linked to this HubSpot owner: one "
                              "of the two has the wrong e-mail in Aloware.",
    "duplicate_email_aloware": "An Aloware admin gives each Aloware user their own e-mail, or "
                               "pins the right one to the HubSpot owner.",
    "duplicate_email_hubspot": "A HubSpot admin deactivates the duplicate HubSpot user (Settings "
                               "> Users), or the right owner is pinned.",
    "owner_inactive": "A HubSpot admin reactivates the HubSpot user (Settings > Users) if the "
                      "person should log calls and SMS.",
    "no_matching_owner": "A HubSpot admin creates the HubSpot user or fixes its e-mail; see "
                         "the suggested owners.",
    "match_pending": "Nothing: the next sync links this user.",
}
HUBSPOT_REASON_ADVICE = {
    "queue_owner": "Nothing: queues are never linked.",
    "missing_email": "A HubSpot admin adds the e-mail to the HubSpot user (Settings > Users).",
    "invalid_email": "A HubSpot admin corrects the HubSpot user's e-mail (Settings > Users).",
    "user_mapped_elsewhere": "One of the two HubSpot owners with this e-mail is a duplicate: a "
                             "HubSpot admin deactivates it.",
    "duplicate_email_hubspot": "A HubSpot admin deactivates the duplicate HubSpot user, or the "
                               "right owner is pinned.",
    "duplicate_email_aloware": "An Aloware admin gives each Aloware user their own e-mail, or "
                               "the right one is pinned.",
    "user_not_eligible": "Nothing, unless the Aloware user's status or kind is wrong.",
    "no_matching_user": "Nothing, unless this person should use Aloware: then an Aloware admin "
                        "creates the user with the same e-mail.",
    "match_pending": "Nothing: the next sync links this owner.",
}
# What the sync never fixes on its own and a person must act on: the "Needs a person" list.
NEEDS_PERSON_ISSUES = ("aloware_email_changed", "hubspot_email_changed")  # the latter: manual
NEEDS_PERSON_ALOWARE = ("owner_mapped_elsewhere", "duplicate_email_aloware",
                        "duplicate_email_hubspot", "owner_inactive", "missing_email",
                        "invalid_email", "no_matching_owner")
NEEDS_PERSON_HUBSPOT = ("user_mapped_elsewhere", "duplicate_email_hubspot",
                        "duplicate_email_aloware", "missing_email", "invalid_email")
# For information: owners whose advice is "Nothing, unless ...". Nobody must act, but someone
# may want to know (a person missing from Aloware, an Aloware account that was closed). Listed
# apart from "Needs a person" and never counted in it (design §8). Aloware users that are not
# eligible are not repeated here: they are the ordinary closed accounts of the unmapped list.
FOR_INFORMATION_HUBSPOT = ("no_matching_user", "user_not_eligible")
# A decision on a link with no owner id to name: keeping a link is said in words (a placeholder
# such as OWNER_ID would be refused by `usermap map`); follows the unlink command.
KEEP_WITHOUT_OWNER = ("keep a link: look up the HubSpot owner id of the person (HubSpot > "
                      "Settings > Users), then pin it with usermap map")

# This run's changes in words (an applied run: done; a dry run: what a sync would do).
DONE_LABELS = {"add": "Linked", "update": "Updated", "remove": "Removed"}
TODO_LABELS = {"add": "Would link", "update": "Would update", "remove": "Would remove"}

STEP_LABELS = {"match": "Match", "resolve": "Resolve", "cleanup": "Clean up",
               "manual": "Manual pin"}
STEP_ORDER = ("match", "resolve", "cleanup", "manual")
ACTION_LABELS = {"add": "link", "update": "update", "remove": "remove"}

assert set(ISSUE_LABELS) == set(ISSUE_CODES) == set(ISSUE_ADVICE)
assert set(ALOWARE_REASON_LABELS) == set(ALOWARE_REASONS) == set(ALOWARE_REASON_ADVICE)
assert set(HUBSPOT_REASON_ADVICE) == set(HUBSPOT_REASONS)
assert set(HUBSPOT_REASON_LABELS) == set(HUBSPOT_REASONS)
# "Needs a person" holds only advice that asks someone to act; information says "Nothing".
assert not any(ALOWARE_REASON_ADVICE[r].startswith("Nothing") for r in NEEDS_PERSON_ALOWARE)
assert not any(HUBSPOT_REASON_ADVICE[r].startswith("Nothing") for r in NEEDS_PERSON_HUBSPOT)
assert all(HUBSPOT_REASON_ADVICE[r].startswith("Nothing, unless")
           for r in FOR_INFORMATION_HUBSPOT)


def issue_label(code: str) -> str:
    """The plain label of an issue code, with the conflict icon for e-mail conflicts."""
    if not code:
        return ""
    label = ISSUE_LABELS.get(code, code)
    return f"{CONFLICT_ICON} {label}" if code in EMAIL_CONFLICT_CODES else label


def advice_for(code: str, method: str) -> str:
    """What a person should do about an issue, in words (ISSUE_ADVICE, the pinned (manual)
    case of a HubSpot e-mail change told apart): the report, the notebooks and the tab say the
    same."""
    if code == "hubspot_email_changed":
        if method == METHOD_MANUAL:
            return ("Decide: this pinned link stays until a person acts. Fix the e-mail in "
                    "HubSpot (Settings > Users), keep the link as it is, or unlink it.")
        return ("Nothing: the sync removes the link and links the user again to an owner with "
                "the same e-mail, if there is one.")
    return ISSUE_ADVICE.get(code, "")


def aloware_reason_label(reason: str) -> str:
    return ALOWARE_REASON_LABELS.get(reason, reason)


def hubspot_reason_label(reason: str) -> str:
    return HUBSPOT_REASON_LABELS.get(reason, reason)


def reason_label(reason: str) -> str:
    """A plan change's reason in words (issue codes, email_match, manual_pin, undo:<run>)."""
    if reason == "email_match":
        return "Same e-mail"
    if reason == "manual_pin":
        return "Manual pin"
    if reason == "manual_unlink":
        return "Unlinked by hand"
    if reason.startswith("undo:"):
        return f"Undo of run {reason[5:]}"
    return ISSUE_LABELS.get(reason, reason)


def legend() -> list[tuple[str, str, str]]:
    """(section, code, label) for every code shown in words."""
    return ([("issue", c, ISSUE_LABELS[c]) for c in ISSUE_CODES]
            + [("unmapped Aloware user", r, ALOWARE_REASON_LABELS[r]) for r in ALOWARE_REASONS]
            + [("unmapped HubSpot owner", r, HUBSPOT_REASON_LABELS[r]) for r in HUBSPOT_REASONS])


# --- a fetch in words ------------------------------------------------------------------------
_CAUSES = {"rate_limit": "rate limiting (HTTP 429)", "server_error": "server errors (HTTP 5xx)",
           "connection": "cut or timed-out connections",
           "migration": "an account migration (HTTP 477)"}


def fetch_note(info: dict) -> str:
    """What a fetch took (its fetch.json as a dict): requests, and the retries by cause, so a
    report says when a run got through 429s, server errors or cut connections; "" when the
    dict is not a fetch's."""
    try:
        counts = info["counts"]
        text = (f"Fetched {int(counts['aloware_users']):,} Aloware users and "
                f"{int(counts['hubspot_owners']):,} HubSpot owners in "
                f"{int(info['requests']):,} requests ({float(info['seconds']):g} s)")
        retries = int(info.get("retries") or 0)
        causes = {str(k): int(v) for k, v in (info.get("retries_by_cause") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    if not retries:
        return text + ", without retries."
    why = ", ".join(f"{n} after {_CAUSES.get(k, k)}" for k, n in sorted(causes.items()))
    return text + f", with {retries} retries: {why}" + _waits_note(info) + "."


def _waits_note(info: dict) -> str:
    """"; waited 12.5 s in all, longest 10 s (HubSpot owners (active), page 3: HTTP 429 …)"
    from fetch.json's ``seconds_waited`` and ``waits``; "" when it has neither."""
    try:
        total = float(info.get("seconds_waited") or 0)
        waits = [w for w in (info.get("waits") or []) if isinstance(w, dict)]
        longest = max(waits, key=lambda w: float(w.get("seconds") or 0), default=None)
    except (TypeError, ValueError, AttributeError):
        return ""
    if not total:
        return ""
    note = f"; waited {total:g} s in all"
    if longest is not None:
        detail = str(longest.get("detail") or "")[:80]
        note += (f", longest {float(longest.get('seconds') or 0):g} s "
                 f"({longest.get('request', '')}: {detail})")
    return note
