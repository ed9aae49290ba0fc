"""The User Mapping tab (docs/design.md §9): one ipywidgets application over ``usermap.workflow``.

``MappingTab`` holds the widgets and the state (the loaded data, its audit, the plan waiting for
**Apply**); every step is a workflow call: ``load``/``fetch``/``audit`` (Refresh), ``make_plan``
(Sync Users, Fix Issue with ``only``), ``pin_plan`` (Link), ``undo`` (Undo last sync), and
``apply_recorded`` (Apply, Force): the run lock, a run folder with report and notification,
exactly like ``usermap run --apply``. Nothing here decides safety: the plan refuses itself and
this module shows what it said.

Lists are paged (50 rows; a fixed pool of row widgets whose values change, so no widget ever
renders all rows) and filtered by one search box. Every value is shown as text (``views``).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from functools import partial
from pathlib import Path

import ipywidgets as W
import numpy as np

from .. import labels, recording, workflow
from ..clock import utc_now
from ..config import Config
from ..errors import LockedError, RemovalGuardError, StalePlanError, UsermapError
from ..redact import redact
from . import views

SEARCH_PLACEHOLDER = "Search by name, e-mail or id"


def _button(description: str, tooltip: str, **kw) -> W.Button:
    """A button whose accessible name is exactly ``description`` (no icon in the text)."""
    return W.Button(description=description, tooltip=tooltip, icon="", **kw)


class PagedList:
    """A list of rows, 50 a page, with Next / Previous and up to ``max_actions`` buttons a row.

    ``render(row) -> html`` draws a row; ``actions(row) -> [(description, tooltip, callback)]``
    gives its buttons. The row widgets are made once and reused for every page."""

    def __init__(self, cols, render, actions=None, *, max_actions: int = 0,
                 page_size: int = views.PAGE_SIZE, on_action=None, active: bool = True):
        self.render_row, self.actions, self.page_size = render, actions, page_size
        self.max_actions, self.active = max_actions, active
        self.on_action = on_action or (lambda cb: cb())
        self.header = W.HTML(views.header(cols))
        self._slots: list | None = None
        self.callbacks: list = []
        self.body = W.VBox()
        self.info = W.HTML()
        self.prev = _button("Previous", "Previous page")
        self.next = _button("Next", "Next page")
        self.prev.on_click(lambda _: self.go(-1))
        self.next.on_click(lambda _: self.go(1))
        self.widget = W.VBox([self.header, self.body,
                              W.HBox([self.prev, self.info, self.next],
                                     layout=W.Layout(align_items="center"))])
        self.df, self.hay, self.idx, self.page = None, np.array([], dtype=object), None, 0

    @property
    def slots(self) -> list:
        """The page's row widgets: (row box, cell, buttons) x 50, made on first use (a list in
        a tab not yet opened costs nothing in the page). Cells and buttons share their layout
        and style, so a page is about four widget models a row."""
        if self._slots is None:
            cell_layout = W.Layout(flex="1 1 auto", width="auto")
            from ipywidgets.widgets.widget_string import HTMLStyle
            html_style = HTMLStyle()
            button_style = W.ButtonStyle()
            shared = W.Layout(width="auto") if self.max_actions == 1 else None
            self._slots, self.callbacks = [], []
            for i in range(self.page_size):
                cell = W.HTML(layout=cell_layout, style=html_style)
                buttons = []
                for j in range(self.max_actions):
                    b = W.Button(description="", icon="", style=button_style,
                                 layout=shared or W.Layout(display="none", width="auto"))
                    b.on_click(partial(self._click, i, j))
                    buttons.append(b)
                box = W.HBox([cell, *buttons], layout=W.Layout(display="none", width="100%",
                                                               align_items="center"))
                self._slots.append((box, cell, buttons))
                self.callbacks.append([None] * self.max_actions)
            self.body.children = [s[0] for s in self._slots]
        return self._slots

    def activate(self) -> None:
        """Its tab was opened: make the rows and show the current page."""
        if not self.active:
            self.active = True
            self.render()

    def set_data(self, df, hay, query: str = "") -> None:
        self.df, self.hay = df.reset_index(drop=True), hay
        self.filter(query)

    def filter(self, query: str) -> None:
        self.idx = views.search(self.hay, query)
        self.page = 0
        self.render()

    @property
    def count(self) -> int:
        if self.df is None:
            return 0
        return len(self.df) if self.idx is None else len(self.idx)

    def go(self, step: int) -> None:
        last = max((self.count - 1) // self.page_size, 0)
        self.page = min(max(self.page + step, 0), last)
        self.render()

    def rows(self) -> list[dict]:
        """The rows of the current page, as dicts."""
        if self.df is None:
            return []
        start = self.page * self.page_size
        if self.idx is None:
            sub = self.df.iloc[start:start + self.page_size]
        else:
            sub = self.df.iloc[self.idx[start:start + self.page_size]]
        return sub.to_dict("records")

    def render(self) -> None:
        rows = self.rows()
        for i, (box, cell, buttons) in enumerate(self.slots if self.active else ()):
            if i >= len(rows):
                box.layout.display = "none"
                continue
            cell.value = self.render_row(rows[i])
            acts = self.actions(rows[i]) if self.actions else []
            for j, b in enumerate(buttons):
                if j < len(acts):
                    b.description, b.tooltip, _ = acts[j]
                    self.callbacks[i][j] = acts[j][2]
                    if self.max_actions > 1:
                        b.layout.display = None
                else:
                    self.callbacks[i][j] = None
                    if self.max_actions > 1:
                        b.layout.display = "none"
            box.layout.display = None
        n, start = self.count, self.page * self.page_size
        self.info.value = (f'<span class="um-info">Rows {start + 1:,}–{start + len(rows):,} '
                           f'of {n:,}</span>' if n else '<span class="um-info">No rows</span>')
        self.prev.disabled = self.page == 0
        self.next.disabled = start + self.page_size >= n

    def _click(self, i: int, j: int, _button=None) -> None:
        cb = self.callbacks[i][j]
        if cb is not None:
            self.on_action(cb)


class MappingTab:
    """The User Mapping tab. ``config``: a usermap.toml path (or a Config); ``snapshot``: a
    snapshot folder that Refresh re-reads (empty: Refresh fetches both directories from the
    APIs of the config, into ``workdir``); ``store``: the store (default ``[store] path``)."""

    def __init__(self, config=None, *, snapshot: str = "", store: str = "", workdir=None,
                 load: bool = True):
        self.config = config if isinstance(config, Config) else Config.load(config or None)
        self.store_path = (Path(store) if store else
                           self.config.resolve(self.config.store.path)).absolute()
        self.snapshot = Path(snapshot).absolute() if snapshot else None
        self._workdir = Path(workdir) if workdir else None
        self._cleanup = None
        self.data = self.result = self.pending = self._names = None
        self._fetched: Path | None = None
        self._fetches = 0
        self.timings: dict[str, float] = {}
        self._build()
        if load:    # a failed first load is said on the page (status line), not raised
            self._guarded(self.refresh)

    @property
    def workdir(self) -> Path:
        """Where fetched snapshots go: ``workdir``, or a private temporary folder made on the
        first fetch and removed by ``close`` or when the kernel exits."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="usermap-tab-"))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._workdir), True)
        return self._workdir

    # --- widgets ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.title = W.HTML(views.STYLE + "<h2>User Mapping</h2>")
        self.cards = W.HTML(views.cards({}))
        how = ("Read the snapshot folder again" if self.snapshot else
               "Fetch both directories again from Aloware and HubSpot")
        self.refresh_button = _button("Refresh", how)
        self.sync_button = _button("Sync Users", "Show the whole sync plan; nothing changes "
                                                 "until Apply")
        self.undo_button = _button("Undo last sync", "Show the inverse plan of the last applied "
                                                     "run; nothing changes until Apply")
        self.refresh_button.on_click(self._on(self.refresh))
        self.sync_button.on_click(self._on(self.sync))
        self.undo_button.on_click(self._on(self.undo_last))
        self.progress = W.Output()
        self.status = W.HTML()
        # the plan waiting for Apply
        self.plan_view = W.HTML()
        self.plan_message = W.HTML()
        self.apply_button = _button("Apply", "Apply this plan to the store, as a recorded run",
                                    button_style="primary")
        self.force_button = _button("Force", "Apply although the plan removes more links than "
                                             "the removal guard allows", button_style="danger")
        self.cancel_button = _button("Cancel", "Leave everything as it is")
        self.apply_button.on_click(self._on(lambda: self.apply(force=False)))
        self.force_button.on_click(self._on(lambda: self.apply(force=True)))
        self.cancel_button.on_click(self._on(self.cancel))
        self.plan_panel = W.VBox([self.plan_view, self.plan_message,
                                  W.HBox([self.apply_button, self.force_button,
                                          self.cancel_button])],
                                 layout=W.Layout(display="none", border="1px solid #98a2b3",
                                                 padding="4px 12px"))
        self.search = W.Text(placeholder=SEARCH_PLACEHOLDER, continuous_update=True,
                             layout=W.Layout(width="420px"))
        self.search.observe(self._on_search, names="value")
        self.mapped = PagedList(views.MAPPED_COLS, views.mapped_row,
                                lambda r: [("Details", f"Everything about Aloware user "
                                            f"{r['aloware_user_id']}",
                                            partial(self.details, str(r["aloware_user_id"])))],
                                max_actions=1, on_action=self._guarded)
        self.aloware = PagedList(views.ALOWARE_COLS, views.aloware_row, self._link_actions,
                                 max_actions=3, on_action=self._guarded, active=False)
        self.hubspot = PagedList(views.HUBSPOT_COLS, views.hubspot_row, active=False)
        self.errors_summary = W.HTML()
        self.errors = PagedList(views.ERROR_COLS, views.error_row,
                                lambda r: [("Fix Issue", f"Show the plan that fixes "
                                            f"{r['issue_id']}; nothing changes until Apply",
                                            partial(self.fix, str(r["issue_id"])))],
                                max_actions=1, on_action=self._guarded, active=False)
        self.legend = W.HTML(views.legend_html())
        self.tabs = W.Tab(children=[self.mapped.widget, self.aloware.widget, self.hubspot.widget,
                                    W.VBox([self.errors_summary, self.errors.widget]),
                                    self.legend])
        self._titles()
        self.tabs.observe(self._on_tab, names="selected_index")
        self.story = W.HTML()
        self.widget = W.VBox([self.title, self.cards,
                              W.HBox([self.refresh_button, self.sync_button, self.undo_button]),
                              self.progress, self.status, self.plan_panel, self.search,
                              self.tabs, self.story])

    def _titles(self) -> None:
        n = [self.mapped.count, self.aloware.count, self.hubspot.count, self.errors.count]
        self.tabs.titles = (f"Mapped users ({n[0]:,})", f"Unmapped Aloware users ({n[1]:,})",
                            f"Unmapped HubSpot owners ({n[2]:,})", f"Errors ({n[3]:,})",
                            "Legend")

    def _on_tab(self, change) -> None:
        lists = (self.mapped, self.aloware, self.hubspot, self.errors)
        if change["new"] == 1 and self.result is not None:
            self._guarded(self.full_result)
        if change["new"] is not None and change["new"] < len(lists):
            self._guarded(lists[change["new"]].activate)

    def _repr_mimebundle_(self, **kw):
        return self.widget._repr_mimebundle_(**kw)

    def _link_actions(self, r: dict) -> list:
        sugg = r.get("suggestions")
        if not isinstance(sugg, list):
            return []
        aid = str(r["aloware_user_id"])
        return [("Link", f"Link Aloware user {aid} to {s.get('name', '')} "
                         f"<{s.get('email', '')}> (a manual pin, after a confirmation)",
                 partial(self.link, aid, str(s["hubspot_owner_id"]))) for s in sugg[:3]]

    # --- errors and busy state -------------------------------------------------------------
    def say(self, text: str, kind: str = "") -> None:
        self.status.value = views.message(text, kind)

    def _guarded(self, fn) -> None:
        buttons = (self.refresh_button, self.sync_button, self.undo_button, self.apply_button,
                   self.force_button, self.cancel_button)
        was = [b.disabled for b in buttons]
        for b in buttons:
            b.disabled = True
        try:
            fn()
        except UsermapError as e:
            self.say(f"{type(e).__name__}: {redact(str(e))}", "bad")
        except Exception as e:  # noqa: BLE001 - shown, never a traceback full of values
            self.say(f"Unexpected error: {type(e).__name__}: {redact(str(e))}", "bad")
        finally:
            for b, w in zip(buttons, was):
                b.disabled = w

    def _on(self, fn):
        return lambda _button=None: self._guarded(fn)

    # --- loading -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch both directories again (or re-read the snapshot folder) and audit them."""
        t0 = time.perf_counter()
        self._drop_pending()
        if self.snapshot is not None:
            snap, info = self.snapshot, None
            self.say("Reading the snapshot folder…")
        else:
            self._fetches += 1
            snap = self.workdir / f"snapshot-{self._fetches}"
            self.say("Fetching Aloware users and HubSpot owners…")
            self.progress.clear_output()
            with self.progress:
                info = workflow.fetch(self.config, snap, progress=True)
            self.progress.clear_output()
            if self._fetched is not None and self._fetched != snap:
                shutil.rmtree(self._fetched, ignore_errors=True)
            self._fetched = snap
        self._load(snap, info)
        self.timings["refresh"] = time.perf_counter() - t0
        self.say(f"{self.data!r}. " + (workflow.fetch_note(snap) or f"Snapshot {snap}."))

    def _load(self, snap, info=None) -> None:
        data = workflow.load(snap, self.store_path, create=False, fetch_info=info)
        # the suggestions (two thirds of an audit's time) wait until someone looks at them:
        # the unmapped Aloware users' tab, or an apply (the run's report shows them)
        self.result = workflow.audit(data, profile_url=self.config.aloware.profile_url,
                                     suggestions=self.aloware.active)
        self.data, self._names = data, None
        self._show()

    def full_result(self):
        """The audit with the suggestions (computed now if the first view went without)."""
        if not self.result.suggestions:
            self.result = workflow.audit(self.data, profile_url=self.config.aloware.profile_url)
            ua = self.result.unmapped_aloware
            self.aloware.set_data(ua, views.haystack(ua, ("first_name", "last_name"), (
                "email", "aloware_user_id")), self.search.value)
        return self.result

    def _show(self) -> None:
        r, q = self.result, self.search.value
        self.summary = r.summary()
        self.cards.value = views.cards(self.summary)
        m, ua, uh, er = r.mapped, r.unmapped_aloware, r.unmapped_hubspot, r.errors
        self.mapped.set_data(m, views.haystack(m, ("first_name", "last_name"), (
            "email", "hubspot_email", "aloware_user_id", "hubspot_owner_id")), q)
        self.aloware.set_data(ua, views.haystack(ua, ("first_name", "last_name"), (
            "email", "aloware_user_id")), q)
        self.hubspot.set_data(uh, views.haystack(uh, ("first_name", "last_name"), (
            "email", "hubspot_owner_id")), q)
        self.errors.set_data(er, views.haystack(er, ("name",), (
            "email", "hubspot_email", "aloware_user_id", "hubspot_owner_id", "issue_id")), q)
        by = self.summary.get("errors_by_code", {})
        self.errors_summary.value = (
            f"<p><b>{self.summary['errors']:,} errors</b>"
            + ("".join(f"<br>{views.esc(labels.issue_label(c))}: {n:,}" for c, n in by.items()))
            + "</p>")
        self._titles()

    def _on_search(self, change) -> None:
        t0 = time.perf_counter()
        for lst in (self.mapped, self.aloware, self.hubspot, self.errors):
            lst.filter(change["new"])
        self._titles()
        self.timings["search"] = time.perf_counter() - t0

    def _need_data(self) -> None:
        if self.data is None:
            raise UsermapError("nothing loaded yet: press Refresh")

    # --- a person -------------------------------------------------------------------------------
    def details(self, aloware_id: str) -> None:
        """Both records, the link and its journal, for one Aloware user."""
        self._need_data()
        u = self.data.users[self.data.users["id"] == aloware_id]
        story = recording.person(self.store_path, aloware_id)
        oid = (story["link"] or {}).get("hubspot_owner_id")
        o = self.data.owners[self.data.owners["id"] == oid] if oid else self.data.owners.iloc[:0]
        self.story.value = views.story_html(aloware_id, u.iloc[0].to_dict() if len(u) else None,
                                            o.iloc[0].to_dict() if len(o) else None, story)

    # --- plans ----------------------------------------------------------------------------------
    def names(self) -> dict:
        if self._names is None:
            u = self.data.users
            self._names = dict(zip(u["id"].astype(str), (u["first_name"].fillna("").astype(str)
                                   + " " + u["last_name"].fillna("").astype(str)).str.strip()))
        return self._names

    def sync(self) -> None:
        """The whole plan, grouped by step; nothing changes until Apply."""
        self._need_data()
        plan = workflow.make_plan(self.data, self.result, now=utc_now(), guard=False)
        self._propose(plan, "Sync Users: the whole plan")

    def fix(self, issue_id: str) -> None:
        """The plan restricted to one issue; nothing changes until Apply."""
        self._need_data()
        plan = workflow.make_plan(self.data, self.result, now=utc_now(), guard=False,
                                  only=issue_id)
        code = issue_id.split(":", 1)[0]
        note = "" if len(plan) else f" {labels.ISSUE_ADVICE.get(code, '')}"
        self._propose(plan, f"Fix Issue {issue_id}: {labels.issue_label(code)}", note)

    def link(self, aloware_id: str, owner_id: str) -> None:
        """Ask to pin a suggestion as a manual link (Apply confirms, Cancel drops it)."""
        self._need_data()
        plan = recording.pin_plan(self.data, aloware_id, owner_id, now=utc_now())
        self._propose(plan, f"Link Aloware user {aloware_id} to HubSpot owner {owner_id} as a "
                            f"manual link?")

    def undo_last(self) -> None:
        """The inverse plan of the last applied run that was not undone yet."""
        run = recording.last_undoable_run(self.store_path)
        if run is None:
            self.say("Nothing to undo: no applied run with changes.")
            return
        plan = workflow.undo(self.store_path, run["run_id"], now=utc_now())
        self._propose(plan, f"Undo last sync: run {run['run_id']} ({run['changes']} changes)")

    def _propose(self, plan, title: str, note: str = "") -> None:
        self.pending = plan
        self.plan_view.value = views.plan_html(plan, self.names() if self.data else {},
                                               title=title)
        guard = plan.exceeds_guard and not plan.force
        self.apply_button.layout.display = None if len(plan) and not guard else "none"
        self.force_button.layout.display = None if len(plan) and guard else "none"
        if guard:
            self.plan_message.value = views.message(
                f"This plan removes {plan.removals:,} links, more than the removal guard allows "
                f"({plan.removal_limit:,}). Review the removals under Clean up; Force applies "
                f"it anyway.", "warn")
        else:
            self.plan_message.value = views.message(note.strip(), "warn") if note else ""
        self.plan_panel.layout.display = None
        self.say("A plan is waiting: nothing changes until Apply." if len(plan) else
                 "Nothing to apply.")

    def _drop_pending(self) -> None:
        self.pending = None
        self.plan_panel.layout.display = "none"
        self.plan_view.value = self.plan_message.value = ""

    def cancel(self) -> None:
        self._drop_pending()
        self.say("Cancelled: nothing was changed.")

    def apply(self, *, force: bool = False) -> dict | None:
        """Apply the waiting plan as a recorded run (lock, run folder, report, notification)."""
        plan = self.pending
        if plan is None:
            self.say("No plan to apply.", "warn")
            return None
        try:
            out = recording.apply_recorded(self.config, self.data, self.full_result(), plan,
                                          store_path=self.store_path, now=utc_now(), force=force)
        except StalePlanError as e:
            self.apply_button.layout.display = self.force_button.layout.display = "none"
            self.plan_message.value = views.message(
                f"The store changed since this plan was made: nothing was changed. Press "
                f"Refresh, then plan again. ({redact(str(e))})", "bad")
            self.say("Refused: stale plan; nothing was changed.", "bad")
            return None
        except LockedError as e:
            self.plan_message.value = views.message(
                f"Another run holds the lock: nothing was changed. Try again when it has "
                f"finished. ({redact(str(e))})", "bad")
            self.say("Refused: another run holds the lock; nothing was changed.", "bad")
            return None
        except RemovalGuardError as e:
            self.plan_message.value = views.message(redact(str(e)), "warn")
            self.say("Refused by the removal guard; nothing was changed.", "bad")
            return None
        self._drop_pending()
        self._load(self.data.snapshot)
        told = ("sent" if out.get("sent") else f"not sent: {out['send_error']}"
                if out.get("send_error") else "written, not sent: no [smtp] host")
        self.say(f"Applied {out['changes']:,} changes as run {out['run_id']}; the store is now "
                 f"at revision {out['revision']}. Report: {out['report']}. Notification: "
                 f"{out['notification']} ({told}).", "good")
        return out

    # --- the end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widgets and remove the fetched snapshots (a workdir this tab made)."""
        self.widget.close()
        if self._cleanup is not None:
            self._cleanup()
