// The User Mapping tab's page (docs/design.md §9): drawn from the widget's traitlets, every
// value from Aloware, HubSpot or the store put in the DOM as text (textContent), never as markup.
// Actions go back to Python as messages ({action, ...}); Python keeps the state.

const LISTS = [
  { key: "mapped", title: "Mapped users" },
  { key: "aloware", title: "Unmapped Aloware users" },
  { key: "hubspot", title: "Unmapped HubSpot owners" },
  { key: "errors", title: "Errors" },
  { key: "activities", title: "Activities" },
];
const CONFLICT = "\u26a0";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function safeUrl(u) {
  const s = String(u || "");
  return /^https?:\/\//i.test(s) ? s : "";
}

function extLink(url, text, label) {
  const u = safeUrl(url);
  if (!u) return document.createTextNode(text || "");
  return el("a", { href: u, target: "_blank", rel: "noopener noreferrer", title: label }, text);
}

function fmt(n) {
  return Number(n || 0).toLocaleString("en-US");
}

// The page `usermap tab` serves shows a static picture of the first view (usermap/tab/firstview.py)
// until this front end has drawn; it goes in the same task as this view becomes visible, so the
// page never shows both nor neither.
function dropFirstView(root) {
  const drop = () => {
    if (!root.isConnected || !root.getClientRects().length) return false;
    for (const f of document.querySelectorAll(".um-first")) f.remove();
    return true;
  };
  if (!document.querySelector(".um-first") || drop()) return;
  const watch = new MutationObserver(() => { if (drop()) watch.disconnect(); });
  watch.observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["style", "class", "hidden"] });
}

function render({ model, el: root }) {
  const state = { tab: "mapped", timer: null };
  const uid = Math.random().toString(36).slice(2, 10);   // ids unique on a page of several tabs
  const send = (msg) => model.send(msg);
  const btn = (name, action, extra) =>
    el("button", { type: "button", class: "um-btn", "data-action": action, onclick: () => send({ action, ...(extra || {}) }) }, name);

  const box = el("div", { class: "um" });
  // --- the top: title, one line, cards, toolbar
  const cards = el("div", { class: "um-cards", role: "list" });
  const refreshed = el("span", { class: "um-refreshed" });
  const working = el("span", { class: "um-working", hidden: true }, "Working…");
  const toolbar = el("div", { class: "um-toolbar" },
    btn("Refresh", "refresh"), refreshed, working,
    el("span", { class: "um-grow" }),
    btn("Sync Users", "sync"), btn("Undo last sync", "undo"));
  const status = el("div", { class: "um-status", role: "status", "aria-live": "polite" });
  const outcome = el("div", { class: "um-outcome", role: "status", hidden: true });
  const search = el("input", {
    type: "search", class: "um-search", placeholder: model.get("placeholder"),
    "aria-label": model.get("placeholder"),
  });
  search.value = model.get("query") || "";
  search.addEventListener("input", () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => { model.set("query", search.value); model.save_changes(); }, 150);
  });
  const tablist = el("div", { class: "um-tabs", role: "tablist", "aria-label": "Lists" });
  const panelBox = el("div", { class: "um-tabpanel", role: "tabpanel", id: "um-tabpanel-" + uid });
  const side = el("aside", { class: "um-side", hidden: true, role: "dialog", "aria-label": "Details", tabindex: "-1" });
  const preview = el("section", { class: "um-preview", hidden: true, role: "dialog", "aria-label": "Preview", tabindex: "-1" });
  box.append(
    el("header", { class: "um-head" },
      el("h1", { class: "um-title" }, "User Mapping"),
      el("p", { class: "um-lede" }, "Each Aloware user is linked to a HubSpot owner so that the calls and texts Aloware logs land on the right person in HubSpot. Review the links, fix what is wrong and sync them here; nothing changes until you press Apply.")),
    cards, toolbar, status, outcome, search, tablist, panelBox, side, preview);
  root.append(box);

  // --- the overview
  function drawCards() {
    cards.replaceChildren(...(model.get("cards") || []).map((c) =>
      el("div", { class: "um-card" + (c.bad ? " um-bad" : ""), role: "listitem", "data-key": c.key, "data-value": c.value },
        el("div", { class: "um-n" }, fmt(c.value)), el("div", { class: "um-label" }, c.label))));
    const r = model.get("refreshed");
    refreshed.textContent = r ? `Last refreshed at ${r}` : "Not refreshed yet";
  }

  function drawStatus() {
    const s = model.get("status") || {};
    status.className = "um-status" + (s.kind ? " um-" + s.kind : "");
    status.textContent = s.text || "";
    status.hidden = !s.text;
  }

  function drawOutcome() {
    const o = model.get("outcome") || {};
    if (!o.text) { outcome.hidden = true; outcome.replaceChildren(); return; }
    const link = o.report_url
      ? el("a", { href: o.report_url, target: "_blank", rel: "noopener", class: "um-report" }, "View report")
      : el("a", { href: "#", class: "um-report", onclick: (e) => { e.preventDefault(); send({ action: "report" }); } }, "View report");
    outcome.replaceChildren(el("span", {}, o.text), " ", link, " · ", el("span", { class: "um-mail" }, o.email || ""));
    outcome.className = "um-outcome" + (o.kind === "bad" ? " um-bad" : "");
    outcome.hidden = false;
  }

  function drawBusy() {
    const busy = !!model.get("busy");
    box.setAttribute("aria-busy", busy ? "true" : "false");
    working.hidden = !busy;
    for (const b of box.querySelectorAll("button[data-action]")) {
      if (b.dataset.always !== "1") b.disabled = busy || b.dataset.off === "1";
    }
  }

  // --- the lists
  function count(key) {
    if (key === "activities") return (model.get("activities") || []).length;
    return ((model.get("lists") || {})[key] || {}).count || 0;
  }

  // the tab buttons are made once and only their words change, so a click never lands on a
  // button that a redraw has just replaced
  const tabButtons = LISTS.map((t) => el("button", {
    type: "button", role: "tab", class: "um-tab", id: `um-tab-${uid}-${t.key}`, "data-key": t.key,
    "aria-controls": "um-tabpanel-" + uid,
    onclick: () => { state.tab = t.key; send({ action: "tab", list: t.key }); drawTabs(); drawList(); },
  }));
  tablist.append(...tabButtons);

  function drawTabs() {
    LISTS.forEach((t, i) => {
      tabButtons[i].textContent = `${t.title} (${fmt(count(t.key))})`;
      tabButtons[i].setAttribute("aria-selected", state.tab === t.key ? "true" : "false");
    });
  }

  function cellText(v, cls) { return el("td", { class: cls }, v); }

  // first and last name, in two cells; with a link, each name opens the page (a new tab)
  function nameCells(first, last, url, what) {
    const cell = (v) => el("td", { class: "um-name" }, url && v ? extLink(url, v, what) : v);
    if (url && !first && !last) return [el("td", { class: "um-name" }, extLink(url, "(no name)", what)), el("td", { class: "um-name" })];
    return [cell(first), cell(last)];
  }

  function pill(r) {
    const ok = r.status === "Synced";
    const td = el("td", { class: "um-status-cell" },
      el("span", { class: "um-pill " + (ok ? "um-ok" : "um-err") }, r.status));
    if (r.conflict) td.append(" ", el("span", { class: "um-conflict", title: "E-mail conflict", "aria-label": "E-mail conflict", role: "img" }, CONFLICT));
    return td;
  }

  function actions(...buttons) { return el("td", { class: "um-actions" }, ...buttons); }

  const COLS = {
    mapped: ["First name", "Last name", "Aloware id", "HubSpot id", "E-mail", "Status", "Issue", ""],
    aloware: ["First name", "Last name", "Aloware id", "E-mail", "Reason", "Suggestions"],
    hubspot: ["First name", "Last name", "HubSpot id", "E-mail", "Reason"],
    errors: ["Issue", "Name", "Aloware id", "HubSpot id", "What happened", ""],
  };

  function rowOf(key, r) {
    if (key === "mapped") {
      return [...nameCells(r.first, r.last), cellText(r.aid, "um-id"),
        el("td", { class: "um-id" }, r.owner_url ? extLink(r.owner_url, r.oid, "HubSpot user page") : r.oid),
        cellText(r.email, "um-email"), pill(r), cellText(r.issue, "um-issue"),
        actions(btn("Details", "details", { aid: r.aid }))];
    }
    if (key === "aloware") {
      const sug = el("td", { class: "um-sugg" });
      if (!r.suggestions.length) sug.append(el("span", { class: "um-muted" }, "none"));
      for (const s of r.suggestions) {
        sug.append(el("div", { class: "um-suggestion" },
          el("span", {}, s.owner_url ? extLink(s.owner_url, s.name, "HubSpot user page") : s.name),
          " ", el("span", { class: "um-email" }, s.email), " ",
          el("span", { class: "um-muted" }, `(owner ${s.oid}, score ${Number(s.score).toFixed(2)})`), " ",
          btn("Link", "link", { aid: r.aid, oid: s.oid })));
      }
      return [...nameCells(r.first, r.last, r.profile_url, "Aloware profile (new tab)"), cellText(r.aid, "um-id"),
        cellText(r.email, "um-email"), cellText(r.reason), sug];
    }
    if (key === "hubspot") {
      return [...nameCells(r.first, r.last, r.owner_url, "HubSpot user page (new tab)"), cellText(r.oid, "um-id"),
        cellText(r.email, "um-email"), cellText(r.reason)];
    }
    const issue = el("td", { class: "um-issue" }, r.issue);
    if (r.conflict) issue.append(" ", el("span", { class: "um-conflict", title: "E-mail conflict", "aria-label": "E-mail conflict", role: "img" }, CONFLICT));
    const acts = [btn("Fix Issue", "fix", { issue_id: r.issue_id })];
    if (r.decide) acts.push(btn("Keep link", "keep", { aid: r.aid }), btn("Unlink", "unlink", { aid: r.aid }));
    acts.push(btn("Details", "details", { aid: r.aid }));
    return [issue, cellText(r.name, "um-name"), cellText(r.aid, "um-id"),
      el("td", { class: "um-id" }, r.owner_url ? extLink(r.owner_url, r.oid, "HubSpot user page") : r.oid),
      cellText(r.detail, "um-detail"), actions(...acts)];
  }

  function table(cols, rows, caption) {
    const head = el("tr", {}, ...cols.map((c) => el("th", { scope: "col" }, c || el("span", { class: "um-sr" }, "Actions"))));
    const body = rows.map((cells) => {
      cells.forEach((td, i) => td.setAttribute("data-label", cols[i] || "Actions"));
      return el("tr", {}, ...cells);
    });
    return el("table", { class: "um-table" }, el("caption", { class: "um-sr" }, caption), el("thead", {}, head), el("tbody", {}, ...body));
  }

  function drawActivities() {
    const acts = model.get("activities") || [];
    const repair = el("button", { type: "button", class: "um-btn", "data-action": "repair", "data-off": acts.length ? "0" : "1", disabled: !acts.length, onclick: () => send({ action: "repair" }) }, "Repair");
    if (!acts.length) {
      panelBox.replaceChildren(el("div", { class: "um-empty" },
        el("p", {}, "No activity data yet. When calls and texts are read in, this tab lists, for each person, the activities logged to the wrong HubSpot owner, and Repair shows what it would move."),
        repair));
      return;
    }
    const cols = Object.keys(acts[0]);
    panelBox.replaceChildren(repair, table(cols, acts.map((a) => cols.map((c) => cellText(a[c]))), "Activities"));
  }

  function drawList() {
    panelBox.setAttribute("aria-labelledby", `um-tab-${uid}-${state.tab}`);
    if (state.tab === "activities") { drawActivities(); drawBusy(); return; }
    const L = (model.get("lists") || {})[state.tab] || { rows: [], count: 0, total: 0, page: 0, start: 0 };
    const parts = [];
    if (state.tab === "errors") {
      parts.push(el("p", { class: "um-count" }, `${fmt(L.total)} error${L.total === 1 ? "" : "s"}`));
      if ((L.by_code || []).length) {
        parts.push(el("ul", { class: "um-bycode" }, ...L.by_code.map(([label, n]) => el("li", {}, `${label}: ${fmt(n)}`))));
      }
    }
    const title = LISTS.find((t) => t.key === state.tab).title;
    if (L.rows.length) {
      parts.push(el("div", { class: "um-scroll" }, table(COLS[state.tab], L.rows.map((r) => rowOf(state.tab, r)), title)));
    } else {
      parts.push(el("p", { class: "um-empty" }, L.total ? "No rows match the search." : "Nothing here."));
    }
    const first = L.count ? L.start + 1 : 0;
    const last = L.start + L.rows.length;
    const prev = btn("Previous", "page", { list: state.tab, step: -1 });
    const next = btn("Next", "page", { list: state.tab, step: 1 });
    prev.dataset.off = L.start <= 0 ? "1" : "0";
    next.dataset.off = last >= L.count ? "1" : "0";
    parts.push(el("nav", { class: "um-pager", "aria-label": "Pages" }, prev,
      el("span", { class: "um-info" }, L.count ? `Rows ${fmt(first)}–${fmt(last)} of ${fmt(L.count)}` : "No rows"), next));
    panelBox.replaceChildren(...parts);
    drawBusy();
  }

  // --- the side panel (Details)
  function drawSide() {
    const p = model.get("panel") || {};
    if (!p.aid) { side.hidden = true; side.replaceChildren(); return; }
    const close = el("button", { type: "button", class: "um-btn", "data-always": "1", onclick: () => send({ action: "close_panel" }) }, "Close");
    const sections = (p.sections || []).map((s) => el("section", {},
      el("h3", {}, s.title),
      s.rows.length ? el("table", { class: "um-kv" }, el("tbody", {}, ...s.rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v)))))
        : el("p", { class: "um-muted" }, "none")));
    const jcols = ["When", "Run", "Action", "Owner", "Why"];
    const journal = (p.journal || []).length
      ? el("div", { class: "um-scroll" }, table(jcols, p.journal.map((j) => [j.at, j.run, j.action, j.owner, j.why].map((v) => cellText(v))), "Journal"))
      : el("p", { class: "um-muted" }, "No changes recorded.");
    side.replaceChildren(el("div", { class: "um-side-head" }, el("h2", {}, p.title), close),
      ...sections, el("section", {}, el("h3", {}, "Journal"), journal));
    side.hidden = false;
    side.focus({ preventScroll: true });
  }

  // --- the preview and its bar
  function drawPreview() {
    const p = model.get("preview") || {};
    if (!p.title) { preview.hidden = true; preview.replaceChildren(); box.classList.remove("um-has-preview"); return; }
    const body = el("div", { class: "um-preview-body" }, el("h2", {}, p.title),
      el("p", {}, p.total
        ? `${fmt(p.total)} change${p.total === 1 ? "" : "s"}: ${[[p.add, "to link"], [p.update, "to update"], [p.remove, "to remove"]].filter(([n]) => n).map(([n, w]) => fmt(n) + " " + w).join(", ")}. Nothing changes until you press Apply.`
        : "Nothing to apply: this changes no link."));
    if (p.message) body.append(el("p", { class: "um-msg um-" + (p.message_kind || "warn") }, p.message));
    for (const s of p.steps || []) {
      body.append(el("h3", { "data-step": s.step }, `${s.label}: ${fmt(s.count)}`));
      body.append(el("div", { class: "um-scroll" }, table(["Action", "Aloware id", "Name", "HubSpot owner", "E-mail", "Why"],
        s.rows.map((r) => [r.action, r.aid, r.name, r.owner, r.email, r.why].map((v, i) => cellText(v, i === 4 ? "um-email" : i === 1 || i === 3 ? "um-id" : ""))), s.label)));
      if (s.more) body.append(el("p", { class: "um-muted" }, `… and ${fmt(s.more)} more`));
    }
    const apply = btn("Apply", "apply"); apply.classList.add("um-primary");
    const force = btn("Force", "force"); force.classList.add("um-danger");
    const cancel = btn("Cancel", "cancel");
    apply.hidden = !p.can_apply; force.hidden = !p.needs_force;
    const bar = el("div", { class: "um-bar" }, el("span", { class: "um-bar-text" }, p.total ? `${fmt(p.total)} change${p.total === 1 ? "" : "s"} waiting` : "Nothing to apply"), apply, force, cancel);
    preview.replaceChildren(body, bar);
    preview.hidden = false;
    box.classList.add("um-has-preview");
    preview.scrollTop = 0;
    drawBusy();
  }

  function onReport(msg) {
    if (msg && typeof msg.report_html === "string") {
      const url = URL.createObjectURL(new Blob([msg.report_html], { type: "text/html" }));
      window.open(url, "_blank", "noopener");
    }
  }

  drawCards(); drawStatus(); drawOutcome(); drawTabs(); drawList(); drawSide(); drawPreview(); drawBusy();
  dropFirstView(root);
  const on = (name, fn) => model.on("change:" + name, fn);
  on("cards", drawCards); on("refreshed", drawCards);
  on("status", drawStatus); on("outcome", drawOutcome); on("busy", drawBusy);
  on("lists", () => { drawTabs(); drawList(); });
  on("activities", () => { drawTabs(); if (state.tab === "activities") drawList(); });
  on("panel", drawSide); on("preview", drawPreview);
  on("query", () => { if (search.value !== model.get("query")) search.value = model.get("query"); });
  model.on("msg:custom", onReport);
  return () => { clearTimeout(state.timer); model.off("msg:custom", onReport); };
}

export default { render };
