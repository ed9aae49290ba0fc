/* usermap report: draws the long lists from the JSON block, a page at a time.
   Every value is put into the page with textContent (never parsed as HTML), links only when they
   are http(s) URLs. This file is static: it is not a template, and its sha256 is the one
   script the page's Content-Security-Policy allows. */
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var CONFLICT = {};
  DATA.conflict_codes.forEach(function (c) { CONFLICT[c] = true; });
  var ICON = DATA.conflict_icon;
  var LABELS = DATA.labels || {};
  var SAFE_URL = /^https?:\/\/[^\s"'<>]+$/i;
  var PILL = { synced: "ok", error: "bad", add: "ok", update: "warn", remove: "bad" };
  var NON_ASCII = /[^\x00-\x7f]/;
  var MARKS = /[\u0300-\u036f]/g;
  var fmt = function (n) { return n.toLocaleString("en-US"); };
  /* a phone or a narrow window: rows are drawn as cards, 10 to a page */
  var NARROW = !!(window.matchMedia && window.matchMedia("(max-width: 760px)").matches);

  /* a column as the page ships it: a list, {d: distinct values, i: codes}, or {p: prefix, v: rests} */
  function expand(col) {
    var out, k, n;
    if (Array.isArray(col)) { return col; }
    if (col.d) {
      n = col.i.length; out = new Array(n);
      for (k = 0; k < n; k++) { out[k] = col.d[col.i[k]]; }
      return out;
    }
    n = col.v.length; out = new Array(n);
    for (k = 0; k < n; k++) { out[k] = col.p + col.v[k]; }
    return out;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  /* lower case, and accents folded so "bjorn" finds "Björn" */
  function fold(s) {
    s = String(s).toLowerCase();
    return NON_ASCII.test(s) ? s.normalize("NFD").replace(MARKS, "") : s;
  }

  /* An e-mail as one unit (span.email): on a phone one longer than its card may wrap before
     its @ and after its dots, never inside a word; on a wide screen it stays on one line (the
     table scrolls in its box). "before → after" is two of them, free to wrap between. */
  function emailNode(text) {
    var span = el("span", "email"), parts = NARROW ? String(text).split(/(?=@)|(?<=\.)/) : [text], k;
    for (k = 0; k < parts.length; k++) {
      if (k) { span.appendChild(document.createElement("wbr")); }
      span.appendChild(document.createTextNode(parts[k]));
    }
    return span;
  }
  /* A command wraps between its words only ("--store" and a path stay whole). */
  function commandNode(text) {
    var code = el("code", "cmd");
    String(text).split(" ").forEach(function (w, k) {
      if (k) { code.appendChild(document.createTextNode(" ")); }
      if (w) { code.appendChild(el("span", "w", w)); }
    });
    return code;
  }
  function emails(td, v) {
    String(v).split(" \u2192 ").forEach(function (part, k) {
      if (k) { td.appendChild(document.createTextNode(" \u2192 ")); }
      td.appendChild(emailNode(part));
    });
  }

  /* the plain label of a code (usermap.labels), "" when none is known */
  function labelOf(kind, v) {
    var m = kind ? LABELS[kind] : null;
    if (m && Object.prototype.hasOwnProperty.call(m, v)) { return m[v]; }
    m = LABELS.any;
    return kind && m && Object.prototype.hasOwnProperty.call(m, v) ? m[v] : "";
  }

  function Table(root, spec) {
    var self = this;
    this.id = root.getAttribute("data-table");
    this.spec = spec;
    this.cols = spec.columns;
    this.data = spec.data.map(expand);
    this.n = this.data.length ? this.data[0].length : 0;
    this.index = {};
    this.cols.forEach(function (c, i) { self.index[c.key] = i; });
    this.visible = this.cols.filter(function (c) { return !c.hidden; });
    this.searchCols = [];
    this.cols.forEach(function (c, i) { if (c.search) { self.searchCols.push(i); } });
    this.hay = null;
    this.hayPart = null;
    this.hayPos = 0;
    this.rows = null;            /* Int32Array of matching rows, or null for all */
    this.last = { q: "", f: "", rows: null };
    this.page = 0;
    this.body = document.getElementById(this.id + "-body");
    this.input = document.getElementById(this.id + "-search");
    this.facetSel = document.getElementById(this.id + "-facet");
    this.sizeSel = document.getElementById(this.id + "-size");
    this.status = document.getElementById(this.id + "-status");
    this.pageLabel = document.getElementById(this.id + "-page");
    this.buttons = {};
    ["first", "prev", "next", "last"].forEach(function (b) {
      var btn = document.getElementById(self.id + "-" + b);
      self.buttons[b] = btn;
      btn.addEventListener("click", function () { self.go(b); });
    });
    if (NARROW) { this.sizeSel.value = "10"; }
    this.size = parseInt(this.sizeSel.value, 10) || 50;
    this.sizeSel.addEventListener("change", function () {
      self.size = parseInt(self.sizeSel.value, 10) || 50;
      self.page = 0;
      self.draw();
    });
    this.input.addEventListener("input", function () { self.filter(); });
    if (this.facetSel) {
      this.fillFacet();
      this.facetSel.addEventListener("change", function () { self.filter(); });
    }
  }

  Table.prototype.fillFacet = function () {
    var col = this.data[this.index[this.spec.facet]], counts = {}, keys = [], i, v;
    for (i = 0; i < this.n; i++) {
      v = col[i];
      if (counts[v] === undefined) { counts[v] = 0; keys.push(v); }
      counts[v]++;
    }
    keys.sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : a > b ? 1 : 0); });
    var sel = this.facetSel, kind = this.cols[this.index[this.spec.facet]].labels;
    keys.forEach(function (k) {
      var text = k === "" ? "(none)" : (labelOf(kind, k) || k);
      var o = el("option", null, text + " (" + fmt(counts[k]) + ")");
      o.value = k;
      sel.appendChild(o);
    });
  };

  /* The search index: one folded string per row. Built in slices while the page is idle
     (see below), or at once when a search comes first. */
  Table.prototype.buildHay = function (upTo) {
    if (this.hay) { return true; }
    if (!this.hayPart) { this.hayPart = new Array(this.n); }
    var cols = this.searchCols.map(function (i) { return this.data[i]; }, this);
    var end = Math.min(this.n, upTo === undefined ? this.n : upTo), m = cols.length;
    var part = this.hayPart, i, j, s;
    for (i = this.hayPos; i < end; i++) {
      s = "";
      for (j = 0; j < m; j++) { s += cols[j][i] + "\u0001"; }
      part[i] = fold(s);
    }
    this.hayPos = end;
    if (end >= this.n) { this.hay = part; this.hayPart = null; return true; }
    return false;
  };

  Table.prototype.filter = function () {
    var q = fold(this.input.value.trim());
    var f = this.facetSel ? this.facetSel.value : "";
    var terms = q ? q.split(/\s+/) : [];
    if (!terms.length && !f) {
      this.rows = null;
    } else {
      if (terms.length) { this.buildHay(); }
      var fcol = f ? this.data[this.index[this.spec.facet]] : null;
      /* typing more letters narrows the previous result: search only within it */
      var from = (this.last.rows && this.last.f === f && this.last.q && q.indexOf(this.last.q) === 0 &&
                  q.split(/\s+/).length === this.last.q.split(/\s+/).length) ? this.last.rows : null;
      var total = from ? from.length : this.n;
      var out = new Int32Array(total), k = 0, hay = this.hay, nt = terms.length, r, i, t, h;
      outer:
      for (r = 0; r < total; r++) {
        i = from ? from[r] : r;
        if (fcol && fcol[i] !== f) { continue; }
        if (nt) {
          h = hay[i];
          for (t = 0; t < nt; t++) { if (h.indexOf(terms[t]) < 0) { continue outer; } }
        }
        out[k++] = i;
      }
      this.rows = out.subarray(0, k);
    }
    this.last = { q: q, f: f, rows: this.rows };
    this.page = 0;
    this.draw();
  };

  Table.prototype.go = function (where) {
    var pages = this.pages();
    if (where === "first") { this.page = 0; }
    else if (where === "prev") { this.page = Math.max(0, this.page - 1); }
    else if (where === "next") { this.page = Math.min(pages - 1, this.page + 1); }
    else if (where === "last") { this.page = pages - 1; }
    this.draw();
  };

  Table.prototype.count = function () { return this.rows ? this.rows.length : this.n; };
  Table.prototype.pages = function () { return Math.max(1, Math.ceil(this.count() / this.size)); };

  Table.prototype.cell = function (c, i) {
    var v = this.data[this.index[c.key]][i], td = el("td", "k-" + c.kind), a, url, span;
    td.setAttribute("data-label", c.label);
    if (c.kind === "status") {
      td.appendChild(el("span", "pill " + (PILL[v] || ""), labelOf(c.labels, v) || v));
    } else if (c.kind === "code") {
      if (v !== "") {
        var bare = c.labels === "need" ? v.slice(v.indexOf(":") + 1) : v;
        var text = labelOf(c.labels, v);
        if (text) { td.appendChild(el("span", "label", text)); }
        if (CONFLICT[bare] === true) {
          span = el("span", "icon", " " + ICON);
          span.title = "e-mail conflict";
          td.appendChild(span);
        }
        td.appendChild(el("code", "code", bare));
      }
    } else if (c.kind === "link") {
      url = c.link ? this.data[this.index[c.link]][i] : "";
      if (url && SAFE_URL.test(url)) {
        a = el("a", null, v);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        td.appendChild(a);
      } else {
        td.textContent = v;
      }
    } else if (c.kind === "suggestions") {
      (v || []).forEach(function (s) {
        var d = el("span", "sugg");
        d.appendChild(document.createTextNode(s[1] + " "));
        d.appendChild(emailNode("<" + s[2] + ">"));
        d.appendChild(document.createTextNode(" "));
        d.appendChild(el("span", "score", "HubSpot id " + s[0] + ", score " + s[3]));
        td.appendChild(d);
      });
    } else if (c.kind === "command") {
      if (v !== "") { td.appendChild(commandNode(v)); }
    } else if (c.kind === "email") {
      if (v !== "") { emails(td, v); }
    } else {
      td.textContent = v;
    }
    if (!td.firstChild) { td.className += " blank"; }   /* a card leaves out empty cells */
    if (NARROW) {                 /* a card: the column's name, then one box with the value */
      var box = el("div", "v");
      while (td.firstChild) { box.appendChild(td.firstChild); }
      td.appendChild(box);
    }
    return td;
  };

  Table.prototype.draw = function () {
    var total = this.count(), pages = this.pages(), frag = document.createDocumentFragment();
    if (this.page > pages - 1) { this.page = pages - 1; }
    var start = this.page * this.size, end = Math.min(total, start + this.size), r, i, tr, j;
    for (r = start; r < end; r++) {
      i = this.rows ? this.rows[r] : r;
      tr = document.createElement("tr");
      for (j = 0; j < this.visible.length; j++) { tr.appendChild(this.cell(this.visible[j], i)); }
      frag.appendChild(tr);
    }
    if (!total) {
      tr = document.createElement("tr");
      var td = el("td", "empty", this.n ? "No rows match." : this.spec.empty);
      td.colSpan = this.visible.length;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    this.body.replaceChildren(frag);
    this.status.textContent = total ?
      "Rows " + fmt(start + 1) + "–" + fmt(end) + " of " + fmt(total) +
        (this.rows ? " (filtered from " + fmt(this.n) + ")" : "") :
      (this.n ? "0 of " + fmt(this.n) + " rows match" : "0 rows");
    this.pageLabel.textContent = "Page " + fmt(this.page + 1) + " of " + fmt(pages);
    this.buttons.first.disabled = this.buttons.prev.disabled = this.page === 0;
    this.buttons.next.disabled = this.buttons.last.disabled = this.page >= pages - 1;
  };

  var tables = {};
  Array.prototype.forEach.call(document.querySelectorAll("div.tbl[data-table]"), function (root) {
    var id = root.getAttribute("data-table"), spec = DATA.tables[id];
    if (spec) {
      tables[id] = new Table(root, spec);
      tables[id].draw();
    }
  });
  /* One search box for every section: it filters every list with the same words and, when
     they pick out a few people, tells each one's whole story from every list they are in. */
  var STORY_MAX = 5, ROWS_MAX = 400;
  var SECTION = { needs_person: "Needs a person", changes: "This run", fixed_issues: "Fixed by this run",
    new_issues: "New since the previous run", resolved_issues: "Resolved since the previous run",
    activity_users: "Unassigned activities", for_information: "For information", errors: "Errors", mapped: "Mapped users",
    unmapped_aloware: "Aloware users without a link", unmapped_hubspot: "HubSpot owners without a link" };
  var find = document.getElementById("find");
  var findStatus = document.getElementById("find-status");
  var story = document.getElementById("story");
  var findHint = findStatus ? findStatus.textContent : "";

  function val(t, key, i) { var k = t.index[key]; return k === undefined ? "" : t.data[k][i]; }
  function both(a, b) { return a && b ? a + " " + b : a || b; }
  function codeText(t, key, i) {
    var c = t.cols[t.index[key]], v = val(t, key, i);
    var bare = c && c.labels === "need" ? v.slice(v.indexOf(":") + 1) : v;
    var text = c ? labelOf(c.labels, v) : "";
    return (text ? text + " (" + bare + ")" : bare) + (CONFLICT[bare] ? " " + ICON : "");
  }

  /* one line of a person's story from row i of table t */
  function storyLine(id, t, i) {
    var owner = val(t, "hubspot_owner_id", i), user = val(t, "aloware_user_id", i), x;
    if (id === "needs_person" || id === "for_information") {
      return codeText(t, "what", i) + ". " + val(t, "advice", i) + (val(t, "fix", i) ? " " + val(t, "fix", i) : "");
    } else if (id === "changes") {
      x = val(t, "email_change", i);
      return codeText(t, "action", i) + ", because: " + codeText(t, "reason", i) + ". HubSpot owner " +
        (val(t, "before_owner", i) || "none") + " \u2192 " + (val(t, "after_owner", i) || "none") + "." +
        (x ? " E-mail: " + x + "." : "");
    } else if (id === "errors") {
      return codeText(t, "code", i) + ". " + val(t, "detail", i) + " What to do: " + val(t, "advice", i) +
        (val(t, "fix", i) ? " " + val(t, "fix", i) : "");
    } else if (id === "mapped") {
      x = val(t, "hubspot_email", i);
      return "Aloware user " + user + " <" + val(t, "email", i) + "> is linked to HubSpot owner " + owner +
        (x ? " <" + x + ">" : " (same e-mail)") + ", by " + val(t, "method", i) + ": " +
        (val(t, "status", i) === "synced" ? "synced" : "error, " + codeText(t, "issue", i)) + ".";
    } else if (id === "unmapped_aloware") {
      x = (val(t, "suggestions", i) || []).map(function (s) { return s[1] + " <" + s[2] + "> (HubSpot " + s[0] + ")"; });
      return "Aloware user " + user + " <" + val(t, "email", i) + ">, " + val(t, "status", i) + " " + val(t, "kind", i) +
        ": " + codeText(t, "reason", i) + ". " + val(t, "advice", i) + (x.length ? " Suggested owners: " + x.join("; ") + "." : "");
    } else if (id === "unmapped_hubspot") {
      return "HubSpot owner " + owner + " <" + val(t, "email", i) + ">: " + codeText(t, "reason", i) + ". " + val(t, "advice", i);
    } else if (id === "activity_users") {
      return val(t, "total", i) + " activities (" + val(t, "call", i) + " calls, " + val(t, "sms", i) +
        " SMS) logged without a valid link: " + codeText(t, "code", i) + ".";
    }
    return codeText(t, "code", i);
  }

  function findAll() {
    var q = find.value.trim(), found = [], people = {}, order = [], ownerOf = {}, rows = [];
    Object.keys(tables).forEach(function (id) {
      var t = tables[id], n, k, i, a, h, name;
      t.input.value = q;
      t.filter();
      if (!q) { return; }
      n = t.count();
      if (n) { found.push((SECTION[id] || id) + " (" + fmt(n) + ")"); }
      for (k = 0; k < Math.min(n, ROWS_MAX); k++) {
        i = t.rows ? t.rows[k] : k;
        a = val(t, "aloware_user_id", i);
        h = val(t, "hubspot_owner_id", i) || val(t, "after_owner", i) || val(t, "before_owner", i);
        name = val(t, "name", i) || both(val(t, "first_name", i), val(t, "last_name", i));
        if (a && h) { ownerOf[h] = a; }
        rows.push([id, t, i, a, h, name]);
      }
    });
    story.replaceChildren();
    if (!q) { findStatus.textContent = findHint; return; }
    rows.forEach(function (r) {
      var key = r[3] ? "a:" + r[3] : ownerOf[r[4]] ? "a:" + ownerOf[r[4]] : "h:" + r[4];
      if (!people[key]) { people[key] = { name: "", lines: [], url: "", a: "", h: "" }; order.push(key); }
      var p = people[key];
      if (!p.name && r[5]) { p.name = r[5]; }
      if (r[3]) { p.a = r[3]; }
      if (r[4] && !p.h) { p.h = r[4]; }
      if (!p.url) { p.url = val(r[1], "profile_url", r[2]); }
      p.lines.push([SECTION[r[0]] || r[0], storyLine(r[0], r[1], r[2])]);
    });
    findStatus.textContent = found.length ?
      fmt(order.length) + (order.length === 1 ? " person" : " people") + " found in: " + found.join(", ") + "." +
        (order.length > STORY_MAX ? " Type more of a name, e-mail or id to see one person's whole story." : "") :
      "Nobody matches \u201c" + q + "\u201d in any section.";
    if (order.length > STORY_MAX) { return; }
    order.forEach(function (key) {
      var p = people[key], card = el("article", "story"), ul = el("ul"), a;
      card.appendChild(el("h3", null, p.name || "(no name)"));
      var ids = el("p", "small", (p.a ? "Aloware id " + p.a : "No Aloware user") + " \u00b7 " +
                   (p.h ? "HubSpot owner id " + p.h : "no HubSpot owner"));
      if (p.url && SAFE_URL.test(p.url)) {
        a = el("a", null, "Aloware profile");
        a.href = p.url; a.target = "_blank"; a.rel = "noopener noreferrer";
        ids.appendChild(document.createTextNode(" \u00b7 "));
        ids.appendChild(a);
      }
      card.appendChild(ids);
      p.lines.forEach(function (l) {
        var li = el("li");
        li.appendChild(el("strong", null, l[0] + ": "));
        li.appendChild(document.createTextNode(l[1]));
        ul.appendChild(li);
      });
      card.appendChild(ul);
      story.appendChild(card);
    });
  }
  if (find) { find.addEventListener("input", findAll); }

  window.usermapReport = { tables: tables, find: findAll };
  document.documentElement.setAttribute("data-ready", "1");

  /* after the first paint, build the search indexes a slice at a time, so the first search
     on a very large list need not wait for it */
  var queue = Object.keys(tables).map(function (k) { return tables[k]; });
  function idle() {
    var t0 = Date.now();
    while (queue.length && Date.now() - t0 < 12) {
      if (queue[0].buildHay(queue[0].hayPos + 5000)) { queue.shift(); }
    }
    if (queue.length) { setTimeout(idle, 0); }
  }
  setTimeout(idle, 50);
})();
