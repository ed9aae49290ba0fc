"""What the notebooks display (docs/design.md §7): the overview as text and as a small frame, and
searchable, paginated tables (itables, offline mode) of the audit's views and of the plan.

Every value from Aloware or HubSpot is escaped before it reaches HTML; only the profile link and
the suggestions are markup, made here. Takes engine results (Audit, Plan) and returns frames or
displays them; the fix commands come in ready-made (``output.FixCommands``).

Must not import store, sources, workflow, report, notify or runner, and writes no files. itables
and IPython are imported inside the functions that need them.
"""

from __future__ import annotations

import html

import pandas as pd

from .engine.models import CONFLICT_ICON, EMAIL_CONFLICT_CODES, ISSUE_CODES

__all__ = [
    "DISPLAY_MAX_BYTES", "overview_text", "overview_table", "init_display", "show",
    "mapped_frame", "show_mapped", "show_conflicts", "show_unmapped_aloware",
    "show_unmapped_hubspot", "errors_by_code", "errors_frame", "show_errors", "describe_plan",
    "plan_by_step", "show_plan",
]

DISPLAY_MAX_BYTES = "2MB"   # itables embeds at most this much of a table, then shows a sample


# --- the overview -----------------------------------------------------------------------------
def overview_text(result) -> str:
    """The overview numbers (§4.1) as text: stable, so nbval can compare it."""
    s = result.summary()
    lines = [f"mapped:                  {s['mapped']:>7,}",
             f"  synced:                {s['synced']:>7,}",
             f"  with issues:           {s['errors']:>7,}"]
    for code, n in s["errors_by_code"].items():
        icon = f" {CONFLICT_ICON}" if code in EMAIL_CONFLICT_CODES else ""
        lines.append(f"    {code + icon:<30}{n:>5,}")
    lines.append(f"unmapped Aloware users:  {s['unmapped_aloware']:>7,}")
    for r, n in s["unmapped_aloware_by_reason"].items():
        lines.append(f"    {r:<30}{n:>5,}")
    lines.append(f"unmapped HubSpot owners: {s['unmapped_hubspot']:>7,}")
    for r, n in s["unmapped_hubspot_by_reason"].items():
        lines.append(f"    {r:<30}{n:>5,}")
    return "\n".join(lines)


def overview_table(result) -> pd.DataFrame:
    """The overview as a small frame (what, count, share of mapped)."""
    s = result.summary()
    rows = [("mapped", s["mapped"]), ("synced", s["synced"]), ("with issues", s["errors"]),
            (f"e-mail conflicts {CONFLICT_ICON}", s.get("email_conflicts", 0)),
            ("unmapped Aloware users", s["unmapped_aloware"]),
            ("unmapped HubSpot owners (active)", s["unmapped_hubspot"]),
            ("Aloware users", s.get("aloware_users", 0)),
            ("HubSpot owners", s.get("hubspot_owners", 0))]
    df = pd.DataFrame(rows, columns=["", "count"]).set_index("")
    if s["mapped"]:
        df["share of mapped"] = [f"{100 * n / s['mapped']:.1f} %" if i < 4 else ""
                                 for i, n in enumerate(df["count"])]
    return df


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
    from itables import show as _show
    kw = dict(caption=caption, maxBytes=DISPLAY_MAX_BYTES, pageLength=10,
              lengthMenu=[10, 25, 50, 100, 500], classes="display compact",
              showIndex=False)
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
    return f"{CONFLICT_ICON} {code}" if code in EMAIL_CONFLICT_CODES else code


def mapped_frame(result) -> pd.DataFrame:
    m = result.mapped
    return pd.DataFrame({
        "first name": m["first_name"], "last name": m["last_name"],
        "Aloware id": m["aloware_user_id"], "HubSpot id": m["hubspot_owner_id"],
        "e-mail": m["email"], "HubSpot e-mail": m["hubspot_email"], "method": m["method"],
        "status": m["status"], "issue": m["issue"].map(_issue_label),
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
    ua = result.unmapped_aloware
    df = pd.DataFrame({
        "first name": ua["first_name"], "last name": ua["last_name"],
        "Aloware id": ua["aloware_user_id"], "e-mail": ua["email"], "status": ua["status"],
        "kind": ua["kind"], "reason": ua["reason"],
        "profile": [_link(u, "profile") for u in ua["profile_url"]],
        "suggested owners": [_suggestions_html(x) for x in ua["suggestions"]],
    })
    show(df, "Unmapped Aloware users", html_columns=("profile", "suggested owners"))


def show_unmapped_hubspot(result) -> None:
    """§4.5: active HubSpot owners without a link, with their reason."""
    uh = result.unmapped_hubspot
    df = pd.DataFrame({"first name": uh["first_name"], "last name": uh["last_name"],
                       "HubSpot id": uh["hubspot_owner_id"], "e-mail": uh["email"],
                       "type": uh["type"], "reason": uh["reason"]})
    show(df, "Unmapped HubSpot owners")


def _detail(code: str) -> str:
    from .engine import reconcile
    return getattr(reconcile, "_DETAILS", {}).get(code, code)



def errors_by_code(result, commands) -> pd.DataFrame:
    """§4.6: the errors per code, what each means and how a sync treats it (``commands``: the
    ``output.FixCommands`` of the snapshot and store)."""
    e = result.errors
    counts = e["code"].value_counts()
    rows = []
    for code in ISSUE_CODES:
        n = int(counts.get(code, 0))
        if not n:
            continue
        first = e[e["code"] == code].iloc[0]
        rows.append({"code": _issue_label(code), "errors": n, "meaning": _detail(code),
                     "fix (e.g. the first one)": commands.for_issue(
                         first["issue_id"], code, first["aloware_user_id"], first["method"])})
    return pd.DataFrame(rows, columns=["code", "errors", "meaning", "fix (e.g. the first one)"])


def errors_frame(result, commands) -> pd.DataFrame:
    """Every error with its detail and its fix command (the plan restricted to it)."""
    e = result.errors
    return pd.DataFrame({
        "issue": e["code"].map(_issue_label), "name": e["name"],
        "Aloware id": e["aloware_user_id"], "HubSpot id": e["hubspot_owner_id"],
        "detail": e["detail"],
        "fix": [commands.for_issue(i, c, u, m) for i, c, u, m in
                zip(e["issue_id"], e["code"], e["aloware_user_id"], e["method"])],
    })


def show_errors(result, commands) -> None:
    show(errors_frame(result, commands), "Errors and their fix")


# --- the plan ---------------------------------------------------------------------------------
def describe_plan(plan) -> str:
    from .engine.plan import describe
    return describe(plan)


_STEP_ORDER = {"match": 0, "resolve": 1, "cleanup": 2}


def plan_by_step(plan) -> pd.DataFrame:
    """Changes counted by step (match, resolve, clean up), reason and action."""
    from .engine.plan import plan_frame
    f = plan_frame(plan)
    if f.empty:
        return pd.DataFrame(columns=["step", "reason", "action", "changes"])
    g = f.groupby(["step", "reason", "action"]).size().rename("changes").reset_index()
    g["_o"] = g["step"].map(_STEP_ORDER).fillna(9)
    g = g.sort_values(["_o", "changes"], ascending=[True, False]).drop(columns="_o")
    g["step"] = g["step"].replace({"cleanup": "clean up"})
    g["reason"] = g["reason"].map(_issue_label)
    return g.set_index(["step", "reason", "action"])


def show_plan(plan) -> None:
    from .engine.plan import plan_frame
    f = plan_frame(plan)
    f["reason"] = f["reason"].map(_issue_label)
    show(f, "The plan: every change")
