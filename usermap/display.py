"""What the notebooks display (docs/design.md §7): the overview as text and as a small frame, and
searchable, paginated tables (itables, offline mode) of the audit's views and of the plan.

Every value from Aloware or HubSpot is escaped before it reaches HTML; only the profile link and
the suggestions are markup, made here. Takes engine results (Audit, Plan) and returns frames or
displays them; the fix commands come in ready-made (``output.FixCommands``).

Must not import store, sources, workflow, report, notify or runner, and writes no files. pandas,
itables and IPython are imported inside the functions that need them: a run whose fetch fails
never loads pandas in its kernel.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .engine.models import CONFLICT_ICON, EMAIL_CONFLICT_CODES, ISSUE_CODES
from .labels import (ALOWARE_REASON_ADVICE, HUBSPOT_REASON_ADVICE, advice_for,
                     aloware_reason_label, hubspot_reason_label, issue_label, reason_label)

if TYPE_CHECKING:      # annotations only: the functions import pandas when they run
    import pandas as pd

__all__ = [
    "DISPLAY_MAX_BYTES", "overview_text", "overview_table", "show_overview", "init_display",
    "show",
    "mapped_frame", "show_mapped", "show_conflicts", "show_unmapped_aloware",
    "show_unmapped_hubspot", "errors_by_code", "errors_frame", "show_errors", "describe_plan",
    "plan_by_step", "show_plan",
]

DISPLAY_MAX_BYTES = "2MB"   # itables embeds at most this much of a table, then shows a sample


# --- the overview -----------------------------------------------------------------------------
def overview_text(result) -> str:
    """The overview numbers (§4.1) as text, in the report's words (plain labels, not codes):
    stable, so nbval can compare it."""
    s = result.summary()

    def line(n: int, text: str, depth: int = 0) -> str:
        return f"{n:>7,}  {'  ' * depth}{text}"
    lines = [line(s["mapped"], "links"), line(s["synced"], "correctly linked", 1),
             line(s["errors"], "links with an error", 1)]
    lines += [line(n, issue_label(c), 2) for c, n in s["errors_by_code"].items()]
    lines.append(line(s["unmapped_aloware"], "Aloware users without a link"))
    lines += [line(n, aloware_reason_label(r), 1)
              for r, n in s["unmapped_aloware_by_reason"].items()]
    lines.append(line(s["unmapped_hubspot"], "HubSpot owners without a link"))
    lines += [line(n, hubspot_reason_label(r), 1)
              for r, n in s["unmapped_hubspot_by_reason"].items()]
    return "\n".join(lines)


def overview_table(result) -> pd.DataFrame:
    """The overview as a small frame (what, count, share of mapped)."""
    import pandas as pd
    s = result.summary()
    rows = [("links", s["mapped"]), ("correctly linked", s["synced"]),
            ("links with an error", s["errors"]),
            (f"e-mail conflicts {CONFLICT_ICON}", s.get("email_conflicts", 0)),
            ("Aloware users without a link", s["unmapped_aloware"]),
            ("HubSpot owners without a link", s["unmapped_hubspot"]),
            ("Aloware users", s.get("aloware_users", 0)),
            ("HubSpot owners", s.get("hubspot_owners", 0))]
    df = pd.DataFrame(rows, columns=["", "count"]).set_index("")
    if s["mapped"]:
        df["share of mapped"] = [f"{100 * n / s['mapped']:.1f} %" if i < 4 else ""
                                 for i, n in enumerate(df["count"])]
    return df


def show_overview(result) -> None:
    """The overview frame shown with its words left-aligned (JupyterLab right-aligns every
    table cell) and the numbers right-aligned; ``overview_table`` stays the frame itself."""
    from IPython.display import display
    left = {"selector": "th, td", "props": [("text-align", "left")]}
    display(overview_table(result).style.set_table_styles([left])
            .set_properties(subset=["count"], **{"text-align": "right"}))


# --- tables ------------------------------------------------------------------------------------
def init_display() -> None:
    """itables in offline mode (the DataTables bundle is embedded: no network needed)."""
    import itables
    itables.init_notebook_mode(all_interactive=False, connected=False)


def _esc(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return html.escape(str(v), quote=True)


def _link(url: str, text: str) -> str:
    u = str(url or "")
    if not u.lower().startswith(("https://", "http://")):
        return _esc(u)
    return (f'<a href="{_esc(u)}" target="_blank" rel="noopener noreferrer">'
            f"{_esc(text)}</a>")


def show(df: pd.DataFrame, caption: str | None = None, *, html_columns=(), **options) -> None:
    """A searchable, paginated table. Values are text; the columns in ``html_columns`` carry
    markup this module made (every other cell is escaped before it is marked up)."""
    import pandas as pd
    from itables import show as _show
    # Text columns left-aligned (JupyterLab right-aligns table cells), numbers right-aligned.
    text = [k for k, c in enumerate(df.columns)
            if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]))]
    kw = dict(caption=caption, maxBytes=DISPLAY_MAX_BYTES, pageLength=10,
              lengthMenu=[10, 25, 50, 100, 500], classes="display compact",
              showIndex=False, columnDefs=[{"className": "dt-left", "targets": text}])
    kw.update(options)
    if df.empty:
        from IPython.display import display
        display(f"({caption or 'table'}: none)")
        return
    if html_columns:
        df = df.copy()
        for c in df.columns:   # every text column, whatever its dtype (object, str, category)
            if c not in html_columns and not (pd.api.types.is_numeric_dtype(df[c])
                                              or pd.api.types.is_bool_dtype(df[c])):
                df[c] = df[c].map(_esc).astype(object)
        kw["allow_html"] = True
    _show(df, **kw)


def _issue_label(code: str) -> str:
    """An issue code in the report's words (with ⚠ for an e-mail conflict)."""
    return issue_label(code)


def _change_reason(reason: str) -> str:
    """A plan change's reason in the report's words (with ⚠ for an e-mail conflict)."""
    text = reason_label(reason)
    return f"{CONFLICT_ICON} {text}" if reason in EMAIL_CONFLICT_CODES else text


def mapped_frame(result) -> pd.DataFrame:
    import pandas as pd
    m = result.mapped
    return pd.DataFrame({
        "first name": m["first_name"], "last name": m["last_name"],
        "Aloware id": m["aloware_user_id"], "HubSpot id": m["hubspot_owner_id"],
        "e-mail": m["email"], "HubSpot e-mail": m["hubspot_email"], "method": m["method"],
        "status": m["status"].map({"synced": "Synced", "error": "Error"}).fillna(m["status"]),
        "issue": m["issue"].map(_issue_label),
    })


def show_mapped(result) -> None:
    """§4.2: every link with its integration status; search by name, e-mail or id."""
    show(mapped_frame(result), "Mapped users (integration status)")


def show_conflicts(result) -> None:
    """The e-mail conflicts (the last three issue codes), each with the icon."""
    df = mapped_frame(result)
    df = df[result.mapped["conflict"].to_numpy(bool)]
    show(df, f"E-mail conflicts {CONFLICT_ICON}")


def _suggestions_html(items) -> str:
    return "<br>".join(f"{_esc(x['name'])} &lt;{_esc(x['email'])}&gt; "
                       f"(HubSpot {_esc(x['hubspot_owner_id'])}, {x['score']:.2f})"
                       for x in (items or []))


def show_unmapped_aloware(result) -> None:
    """§4.4: unmapped Aloware users with their reason, profile link and suggested owners."""
    import pandas as pd
    ua = result.unmapped_aloware
    df = pd.DataFrame({
        "first name": ua["first_name"], "last name": ua["last_name"],
        "Aloware id": ua["aloware_user_id"], "e-mail": ua["email"], "status": ua["status"],
        "kind": ua["kind"], "reason": ua["reason"].map(aloware_reason_label),
        "what to do": ua["reason"].map(ALOWARE_REASON_ADVICE).fillna(""),
        "profile": [_link(u, "profile") for u in ua["profile_url"]],
        "suggested owners": [_suggestions_html(x) for x in ua["suggestions"]],
    })
    show(df, "Unmapped Aloware users", html_columns=("profile", "suggested owners"))


def show_unmapped_hubspot(result) -> None:
    """§4.5: active HubSpot owners without a link, with their reason."""
    import pandas as pd
    uh = result.unmapped_hubspot
    df = pd.DataFrame({"first name": uh["first_name"], "last name": uh["last_name"],
                       "HubSpot id": uh["hubspot_owner_id"], "e-mail": uh["email"],
                       "type": uh["type"], "reason": uh["reason"].map(hubspot_reason_label),
                       "what to do": uh["reason"].map(HUBSPOT_REASON_ADVICE).fillna("")})
    show(df, "Unmapped HubSpot owners")


def _detail(code: str) -> str:
    from .engine import reconcile
    return getattr(reconcile, "_DETAILS", {}).get(code, code)



def errors_by_code(result, commands) -> pd.DataFrame:
    """§4.6: the errors per code, what each means and how a sync treats it (``commands``: the
    ``output.FixCommands`` of the snapshot and store)."""
    import pandas as pd
    e = result.errors
    counts = e["code"].value_counts()
    rows = []
    for code in ISSUE_CODES:
        n = int(counts.get(code, 0))
        if not n:
            continue
        first = e[e["code"] == code].iloc[0]
        rows.append({"issue": _issue_label(code), "errors": n, "meaning": _detail(code),
                     "fix (e.g. the first one)": commands.for_issue(
                         first["issue_id"], code, first["aloware_user_id"], first["method"],
                         first["hubspot_owner_id"])})
    return pd.DataFrame(rows, columns=["issue", "errors", "meaning", "fix (e.g. the first one)"])


def errors_frame(result, commands) -> pd.DataFrame:
    """Every error with its detail and its fix command (the plan restricted to it)."""
    import pandas as pd
    e = result.errors
    return pd.DataFrame({
        "issue": e["code"].map(_issue_label), "name": e["name"],
        "Aloware id": e["aloware_user_id"], "HubSpot id": e["hubspot_owner_id"],
        "detail": e["detail"],
        "what to do": [advice_for(c, m) for c, m in zip(e["code"], e["method"])],
        "fix": [commands.for_issue(i, c, u, m, o) for i, c, u, m, o in
                zip(e["issue_id"], e["code"], e["aloware_user_id"], e["method"],
                    e["hubspot_owner_id"])],
    })


def show_errors(result, commands) -> None:
    show(errors_frame(result, commands), "Errors: what to do, and the command")


# --- the plan ---------------------------------------------------------------------------------
def describe_plan(plan) -> str:
    """The plan in the report's words: what a sync would do, then each action and reason
    (stable, so nbval can compare it)."""
    from collections import Counter

    from .labels import TODO_LABELS
    n = plan.counts()
    if not len(plan):
        return (f"Nothing to change: the store is in step with both directories "
                f"(store revision {plan.store_revision}).")
    lines = [f"A sync would link {n['add']:,}, update {n['update']:,} and remove "
             f"{n['remove']:,} (store revision {plan.store_revision}; at most "
             f"{plan.removal_limit:,} removals without force)."]
    by = Counter(f"{c.action}:{c.reason}" for c in plan.changes)
    for key in sorted(by):
        action, _, reason = key.partition(":")
        lines.append(f"{by[key]:>7,}  {TODO_LABELS.get(action, action)}: {_change_reason(reason)}")
    if plan.exceeds_guard:
        lines.append(f"The plan removes more than {plan.removal_limit:,} links: applying it "
                     "needs force.")
    return "\n".join(lines)


_STEP_ORDER = {"match": 0, "resolve": 1, "cleanup": 2}


def plan_by_step(plan) -> pd.DataFrame:
    """Changes counted by step (match, resolve, clean up), reason and action."""
    import pandas as pd
    from .engine.plan import plan_frame
    f = plan_frame(plan)
    if f.empty:
        return pd.DataFrame(columns=["step", "reason", "action", "changes"])
    g = f.groupby(["step", "reason", "action"]).size().rename("changes").reset_index()
    g["_o"] = g["step"].map(_STEP_ORDER).fillna(9)
    g = g.sort_values(["_o", "changes"], ascending=[True, False]).drop(columns="_o")
    g["step"] = g["step"].replace({"cleanup": "clean up"})
    g["reason"] = g["reason"].map(_change_reason)
    return g.set_index(["step", "reason", "action"])


def show_plan(plan) -> None:
    from .engine.plan import plan_frame
    f = plan_frame(plan)
    f["reason"] = f["reason"].map(_change_reason)
    show(f, "The plan: every change")
