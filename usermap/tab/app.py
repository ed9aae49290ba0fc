"""The User Mapping tab (docs/design.md §9): one anywidget over ``usermap.workflow`` and
``usermap.recording``.

``MappingTab`` is the widget: its page (``widget.js`` + ``widget.css``, shipped in this package)
draws everything from the traitlets below and sends the person's actions back as messages. The
Python side keeps the state (the loaded data, its audit, the plan waiting for **Apply**) and
every step is a call there: ``load``/``fetch``/``audit`` (Refresh), ``make_plan`` (Sync Users,
Fix Issue with ``only``), ``recording.pin_plan`` (Link, Keep link), ``recording.unlink_plan``
(Unlink), ``undo`` (Undo last sync), ``recording.apply_recorded`` (Apply, Force: the run lock, a
run folder with report and notification, as ``usermap run --apply``) and the activities' repair
(design §10). Nothing here decides safety: the plan refuses itself and this says what it said.

Lists are paged (50 rows) and filtered by one search box here, so the page only ever holds
one page of each list. Values travel as values; the page shows them as text.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from dataclasses import replace
from pathlib import Path

import anywidget
import traitlets as T

from .. import labels, recording, workflow
from ..clock import utc_now
from ..config import Config
from ..errors import LockedError, RemovalGuardError, SafetyError, StalePlanError, UsermapError
from ..redact import redact
from ..store.store import Store
from . import rows as R
from .firstview import FirstViewBundle
from .impact import activity_rows, repair_preview
from .words import (apply_words, email_words, error_words, refreshed_words, repair_words,
                    undo_title)

SEARCH_PLACEHOLDER = "Search by name, e-mail or id"
LOCKED_WORDS = ("Another run is applying changes right now: nothing was changed. Try again when "
                "it has finished.")
HERE = Path(__file__).parent
#: set by ``usermap tab``: the URL prefix under which the server serves a run's report
REPORT_URL_ENV = "USERMAP_TAB_REPORT_URL"


class MappingTab(FirstViewBundle, anywidget.AnyWidget):
    """The User Mapping tab. ``config``: a usermap.toml path (or a Config); ``snapshot``: a
    snapshot folder that Refresh re-reads (empty: Refresh fetches both directories from the
    APIs of the config, into ``workdir``); ``store``: the store (default ``[store] path``)."""

    _esm = HERE / "widget.js"
    _css = HERE / "widget.css"

    cards = T.List().tag(sync=True)
    refreshed = T.Unicode("").tag(sync=True)
    lists = T.Dict().tag(sync=True)
    query = T.Unicode("").tag(sync=True)
    preview = T.Dict().tag(sync=True)
    panel = T.Dict().tag(sync=True)
    status = T.Dict().tag(sync=True)
    outcome = T.Dict().tag(sync=True)
    busy = T.Unicode("").tag(sync=True)
    activities = T.List().tag(sync=True)     # impact per person (section 10)
    placeholder = T.Unicode(SEARCH_PLACEHOLDER).tag(sync=True)

    def __init__(self, config=None, *, snapshot: str = "", store: str = "", workdir=None,
                 load: bool = True):
        super().__init__()
        self.config = config if isinstance(config, Config) else Config.load(config or None)
        self.store_path = (Path(store) if store else
                           self.config.resolve(self.config.store.path)).absolute()
        self.snapshot = Path(snapshot).absolute() if snapshot else None
        self._workdir = Path(workdir) if workdir else None
        self._cleanup = None
        self.data = self.result = self.pending = self.pending_repair = self._names = None
        self._fetched: Path | None = None
        self._fetches = 0
        self._urls: dict = {}
        self._frames: dict = {}
        self._hay: dict = {}
        self._idx: dict = {}
        self._page = dict.fromkeys(R.LISTS, 0)
        self._suggestions = False
        self._by_code: list = []
        self.timings: dict[str, float] = {}
        self.lists = {k: {"count": 0, "total": 0, "page": 0, "rows": []} for k in R.LISTS}
        self.cards = R.cards({})
        self.observe(self._on_query, names="query")
        self.on_msg(self._on_msg)
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

    # --- messages from the page ---------------------------------------------------------------
    def _on_msg(self, _widget, msg, _buffers) -> None:
        if not isinstance(msg, dict):
            return
        act, arg = str(msg.get("action", "")), msg
        handlers = {
            "refresh": self.refresh, "sync": self.sync, "undo": self.undo_last,
            "apply": lambda: self.apply(force=False), "force": lambda: self.apply(force=True),
            "cancel": self.cancel, "close_panel": self.close_panel,
            "fix": lambda: self.fix(str(arg.get("issue_id", ""))),
            "link": lambda: self.link(str(arg.get("aid", "")), str(arg.get("oid", ""))),
            "keep": lambda: self.keep(str(arg.get("aid", ""))),
            "unlink": lambda: self.unlink(str(arg.get("aid", ""))),
            "details": lambda: self.details(str(arg.get("aid", ""))),
            "page": lambda: self.go(str(arg.get("list", "")), int(arg.get("step", 0))),
            "tab": lambda: self.open_list(str(arg.get("list", ""))),
            "report": self.send_report, "repair": self.repair,
        }
        fn = handlers.get(act)
        if fn is not None:
            self._guarded(fn, busy=act not in ("page", "tab", "close_panel"))

    def say(self, text: str, kind: str = "") -> None:
        self.status = {"text": text, "kind": kind, "at": time.time()}

    def _guarded(self, fn, busy: bool = True) -> None:
        if busy:
            self.busy = "working"
        try:
            fn()
        except UsermapError as e:
            self.say(self._no_paths(redact(str(e))), "bad")
        except Exception as e:  # noqa: BLE001 - shown in words, never a traceback of values
            self.say(f"Something unexpected went wrong ({type(e).__name__}: "
                     f"{self._no_paths(redact(str(e)))}). Nothing was changed.", "bad")
        finally:
            if busy:
                self.busy = ""

    def _no_paths(self, text: str) -> str:
        """``text`` with the server's own paths named instead of spelled (no server paths on
        the page): the snapshot folder, the fetched snapshots, the store, the runs folder."""
        named = [(self.snapshot, "the snapshot folder"), (self._workdir, "the fetched snapshot"),
                 (self.store_path, "the mapping store"),
                 (self.config.resolve(self.config.runs.dir).absolute(), "the runs folder")]
        for path, name in sorted(((p, n) for p, n in named if p), key=lambda x: -len(str(x[0]))):
            text = text.replace(str(path), name)
        return text

    # --- loading --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch both directories again (or re-read the snapshot folder) and audit them. A
        failure says the fetch's own words and keeps what was shown."""
        t0 = time.perf_counter()
        if self.snapshot is not None:
            snap, info = self.snapshot, None
        else:
            self._fetches += 1
            snap = self.workdir / f"snapshot-{self._fetches}"
            self.say("Fetching Aloware users and HubSpot owners…")
            try:
                info = workflow.fetch(self.config, snap, progress=False)
            except UsermapError as e:
                shutil.rmtree(snap, ignore_errors=True)
                shown = (f" The lists still show the data of {self.refreshed}."
                         if self.data is not None else "")
                self.say(f"Refresh failed: {self._no_paths(error_words(str(e)))}. Nothing was "
                         f"changed.{shown}", "bad")
                return
            if self._fetched is not None and self._fetched != snap:
                shutil.rmtree(self._fetched, ignore_errors=True)
            self._fetched = snap
        self._drop_pending()
        self._load(snap, info)
        self.timings["refresh"] = time.perf_counter() - t0
        self.say(f"Refreshed: {len(self.data.users):,} Aloware users and "
                 f"{len(self.data.owners):,} HubSpot owners.", "good")

    def _load(self, snap, info=None) -> None:
        if not self.store_path.is_file():    # said in words: no path, no command on the page
            raise UsermapError("The mapping store was not found: nothing was loaded and "
                               "nothing was created. Ask your administrator to set it up.")
        data = workflow.load(snap, self.store_path, create=False, fetch_info=info)
        # the suggestions (two thirds of an audit's time) wait until someone looks at them:
        # the unmapped Aloware users' tab, or an apply (the run's report shows them)
        self.result = workflow.audit(data, profile_url=self.config.aloware.profile_url,
                                     suggestions=self._suggestions)
        self.data, self._names = data, None
        self._urls = R.owner_urls(data.owners, self.config.hubspot.portal_id)
        self.refreshed = refreshed_words(utc_now())
        self._show()

    def full_result(self):
        """The audit with the suggestions (computed now if the first view went without)."""
        if not self._suggestions:
            self._suggestions = True
            if self.data is not None:
                self.result = workflow.audit(self.data,
                                             profile_url=self.config.aloware.profile_url)
                self._set_frame("aloware", self.result.unmapped_aloware)
                self._publish("aloware")
        return self.result

    def _show(self) -> None:
        r = self.result
        summary = r.summary()
        self.cards = R.cards(summary)
        self._by_code = [[labels.ISSUE_LABELS.get(c, c), int(n)]
                         for c, n in (summary.get("errors_by_code") or {}).items() if n]
        for name, df in zip(R.LISTS, (r.mapped, r.unmapped_aloware, r.unmapped_hubspot,
                                      r.errors)):
            self._set_frame(name, df)
        self._publish(*R.LISTS)
        self._show_activities()

    def _show_activities(self) -> None:
        self.activities = activity_rows(self.config.resolve(self.config.runs.dir),
                                        self.store_path, self.names if self.data else dict)

    def _set_frame(self, name: str, df) -> None:
        df = df.reset_index(drop=True)
        self._frames[name] = df
        self._hay[name] = R.haystack(df, *R.SEARCH_COLS[name])
        self._idx[name] = R.search(self._hay[name], self.query)

    def _count(self, name: str) -> int:
        idx = self._idx.get(name)
        df = self._frames.get(name)
        return 0 if df is None else len(df) if idx is None else len(idx)

    def _publish(self, *names: str) -> None:
        """Send the current page of these lists to the page."""
        out = dict(self.lists)
        for name in names:
            df, idx, n = self._frames.get(name), self._idx.get(name), self._count(name)
            last = max((n - 1) // R.PAGE_SIZE, 0)
            page = self._page[name] = min(self._page[name], last)
            start = page * R.PAGE_SIZE
            if df is None:
                recs = []
            elif idx is None:
                recs = df.iloc[start:start + R.PAGE_SIZE].to_dict("records")
            else:
                recs = df.iloc[idx[start:start + R.PAGE_SIZE]].to_dict("records")
            out[name] = {"count": n, "total": 0 if df is None else len(df), "page": page,
                         "start": start, "rows": [R.ROW[name](x, self._urls) for x in recs]}
            if name == "errors":
                out[name]["by_code"] = self._by_code
        self.lists = out

    def _on_query(self, change) -> None:
        t0 = time.perf_counter()
        for name in R.LISTS:
            if name in self._hay:
                self._idx[name] = R.search(self._hay[name], change["new"])
            self._page[name] = 0
        self._publish(*R.LISTS)
        self.timings["search"] = time.perf_counter() - t0

    def go(self, name: str, step: int) -> None:
        if name in self._page:
            self._page[name] = max(self._page[name] + (1 if step > 0 else -1), 0)
            self._publish(name)

    def open_list(self, name: str) -> None:
        if name == "aloware":
            self.full_result()

    def _need_data(self) -> None:
        if self.data is None:
            raise UsermapError("Nothing is loaded yet: press Refresh.")

    # --- a person -------------------------------------------------------------------------------
    def details(self, aloware_id: str) -> None:
        """Both records, the link and its journal, for one Aloware user, in the side panel."""
        self._need_data()
        u = self.data.users[self.data.users["id"] == aloware_id]
        person = recording.person(self.store_path, aloware_id)
        oid = (person["link"] or {}).get("hubspot_owner_id")
        o = self.data.owners[self.data.owners["id"] == oid] if oid else self.data.owners.iloc[:0]
        self.panel = R.story(aloware_id, u.iloc[0].to_dict() if len(u) else None,
                             o.iloc[0].to_dict() if len(o) else None, person)

    def close_panel(self) -> None:
        self.panel = {}

    # --- plans ----------------------------------------------------------------------------------
    def names(self) -> dict:
        if self._names is None:
            u = self.data.users
            self._names = dict(zip(u["id"].astype(str), (u["first_name"].fillna("").astype(str)
                                   + " " + u["last_name"].fillna("").astype(str)).str.strip()))
        return self._names

    def _who(self, aid: str) -> str:
        name = self.names().get(aid, "")
        return f"{name} (Aloware user {aid})" if name else f"Aloware user {aid}"

    def sync(self) -> None:
        """The whole plan, grouped by step; nothing changes until Apply."""
        self._need_data()
        plan = workflow.make_plan(self.data, self.result, now=utc_now(), guard=False)
        self._propose(plan, "Sync Users: the whole plan", kind="sync")

    def fix(self, issue_id: str) -> None:
        """The plan restricted to one issue; nothing changes until Apply."""
        self._need_data()
        plan = workflow.make_plan(self.data, self.result, now=utc_now(), guard=False,
                                  only=issue_id)
        code, _, aid = issue_id.partition(":")
        note = R.decide_note(code) if not len(plan) else ""
        self._propose(plan, f"Fix Issue: {labels.ISSUE_LABELS.get(code, code)}, {self._who(aid)}",
                      kind="fix", note=note)

    def link(self, aloware_id: str, owner_id: str) -> None:
        """Ask to pin a suggestion as a manual link (Apply confirms, Cancel drops it)."""
        self._need_data()
        plan = recording.pin_plan(self.data, aloware_id, owner_id, now=utc_now())
        self._propose(plan, f"Link {self._who(aloware_id)} to HubSpot owner {owner_id} as a "
                            f"manual link?", kind="link")

    def _link_of(self, aloware_id: str) -> str:
        links = self.data.links
        cur = links[links["aloware_user_id"] == aloware_id]
        if not len(cur):
            raise UsermapError(f"Aloware user {aloware_id} has no link. Nothing was changed.")
        return str(cur["hubspot_owner_id"].iloc[0])

    def keep(self, aloware_id: str) -> None:
        """Keep an e-mail conflict's link: a pin with both e-mails as they are now."""
        self._need_data()
        oid = self._link_of(aloware_id)
        plan = recording.pin_plan(self.data, aloware_id, oid, now=utc_now())
        self._propose(plan, f"Keep the link of {self._who(aloware_id)} to HubSpot owner {oid}? "
                            f"It becomes a manual link with both e-mails as they are now.",
                      kind="keep")

    def unlink(self, aloware_id: str) -> None:
        """Remove an e-mail conflict's link (after Apply)."""
        self._need_data()
        oid = self._link_of(aloware_id)
        plan = recording.unlink_plan(self.data, aloware_id, now=utc_now())
        self._propose(plan, f"Unlink {self._who(aloware_id)} from HubSpot owner {oid}?",
                      kind="unlink")

    def undo_last(self) -> None:
        """The inverse plan of the newest applied sync, fix or pin not undone yet."""
        run = recording.last_undoable_run(self.store_path)
        if run is None:
            self._drop_pending()
            self.say("Nothing to undo: no sync, fix or link has been applied here yet.", "warn")
            return
        # an undo takes back exactly the run it names, so the removal guard (made for plans
        # computed from fetched data) does not ask for Force here (docs/decisions.md)
        plan = replace(workflow.undo(self.store_path, run["run_id"], now=utc_now()), force=True)
        self._propose(plan, undo_title(run, self.config.resolve(self.config.runs.dir)),
                      kind="undo")

    def _propose(self, plan, title: str, *, kind: str, note: str = "") -> None:
        self.pending = plan
        guard = plan.exceeds_guard and not plan.force
        message = (f"This plan removes {plan.removals:,} links, more than the removal guard "
                   f"allows ({plan.removal_limit:,}). Review the removals under Clean up; Force "
                   f"applies it anyway." if guard else note)
        self.outcome = {}
        self.preview = {**R.plan_preview(plan, self.names() if self.data else {}, title=title),
                        "kind": kind, "can_apply": bool(len(plan)) and not guard,
                        "needs_force": bool(len(plan)) and guard, "message": message,
                        "message_kind": "warn" if message else ""}
        self.say("A plan is waiting: nothing changes until Apply." if len(plan) else
                 "Nothing to apply.", "")

    def repair(self) -> None:
        """Design §10: scan the account's calls and texts now and show what a repair would set
        (the proven ones only); nothing changes until Apply."""
        from ..activities.repair import plan_repair, share_limit
        with Store.open(self.store_path, create=False) as store:
            plan, _ = plan_repair(self.config, store)
        limit = share_limit(plan, self.config.activities.guard_share)
        self.pending = None
        self.pending_repair = plan
        self.outcome = {}
        self.preview = repair_preview(plan, self.names() if self.data else {}, limit)
        n = len(plan["changes"])
        self.say("A repair is waiting: nothing changes until Apply." if n else
                 "Nothing to repair: no call or text is proven to belong to another owner.", "")

    def _apply_repair(self, force: bool) -> dict | None:
        from ..activities.apply import guard
        from ..activities.repair import apply_repair
        plan, self.pending_repair = self.pending_repair, None
        try:
            guard(plan, self.config.activities.guard_share, force)
            with Store.open(self.store_path, create=False) as store:
                out = apply_repair(self.config, store, plan,
                                   names=self.names() if self.data else None)
        except LockedError:
            self.pending_repair = plan
            self._refuse(LOCKED_WORDS)
            return None
        except SafetyError as e:
            self.pending_repair = plan
            self._refuse(f"{error_words(str(e))}. Nothing was changed; Force applies it anyway.")
            self.preview = {**self.preview, "needs_force": True}
            return None
        except UsermapError as e:          # stopped half-way: its report says what was done
            if not getattr(e, "run_record", None):
                raise
            out, text, kind = e.run_record, repair_words(e.run_record, error_words(str(e))), "bad"
        else:
            text, kind = repair_words(out), ""
        self.preview = {}
        self._ran(out, text, kind=kind)
        self._show_activities()     # the state after: what is left on the wrong owner
        return None if kind else out

    def _ran(self, out: dict, text: str, *, kind: str = "") -> None:
        """An applied run's outcome: what it did, View report and the e-mail."""
        base = os.environ.get(REPORT_URL_ENV, "")
        self.outcome = {"text": text, "run_id": out["run_id"], "kind": kind,
                        "report_url": f"{base}{out['run_id']}" if base else "",
                        "email": email_words(out, self.config), "at": time.time()}
        self.status = {}

    def _drop_pending(self) -> None:
        self.pending = None
        self.pending_repair = None
        self.preview = {}

    def cancel(self) -> None:
        self._drop_pending()
        self.say("Cancelled: nothing was changed.")

    def _refuse(self, text: str) -> None:
        self.preview = {**self.preview, "can_apply": False, "needs_force": False,
                        "message": text, "message_kind": "bad"}
        self.say(text, "bad")

    def _snapshot_moved(self, plan) -> bool:
        """True when the snapshot folder's files are no longer those the plan was made from
        (an undo is made from the store alone)."""
        if plan.meta.get("undo_of"):
            return False
        from ..sources.snapshot import fingerprint
        try:
            return fingerprint(self.data.snapshot) != plan.fingerprint
        except (OSError, UsermapError):
            return True

    def apply(self, *, force: bool = False) -> dict | None:
        """Apply the waiting plan as a recorded run (lock, run folder, report, notification)."""
        if self.pending_repair is not None:
            return self._apply_repair(force)
        plan = self.pending
        if plan is None:
            self.say("No plan is waiting: nothing was changed.", "warn")
            return None
        if self._snapshot_moved(plan):
            self._refuse("The snapshot folder changed since this plan was made: nothing was "
                         "changed. Press Refresh, then plan again.")
            return None
        try:
            out = recording.apply_recorded(self.config, self.data, self.full_result(), plan,
                                          store_path=self.store_path, now=utc_now(), force=force)
        except StalePlanError:
            self._refuse("The store changed since this plan was made: nothing was changed. "
                         "Press Refresh, then plan again.")
            return None
        except LockedError:
            self._refuse(LOCKED_WORDS)
            return None
        except RemovalGuardError:
            self._refuse(f"This plan removes {plan.removals:,} links, more than the removal "
                         f"guard allows: nothing was changed. Force applies it anyway.")
            self.preview = {**self.preview, "needs_force": True}
            return None
        self._drop_pending()
        self._load(self.data.snapshot)
        self._ran(out, apply_words(plan, out))
        return out

    def send_report(self) -> None:
        """The last applied run's report, sent to the page (JupyterLab: no server to link to)."""
        rid = self.outcome.get("run_id")
        if not rid:
            return
        path = self.config.resolve(self.config.runs.dir).absolute() / rid / workflow.REPORT_FILE
        self.send({"report_html": path.read_text(encoding="utf-8")})

    # --- the end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the widget and remove the fetched snapshots (a workdir this tab made)."""
        super().close()
        if self._cleanup is not None:
            self._cleanup()
