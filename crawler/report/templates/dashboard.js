// linkcheck dashboard: renders the problem table from the embedded JSON.
// Card data reaches the DOM only as text (textContent, text nodes), never as markup; only http(s)
// URLs become links or images, and images are created only when a card's detail opens.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const timings = { start: performance.now() };
  const DATA = JSON.parse($("dashboard-data").textContent);
  timings.parsed = performance.now();
  // failing pages with no archive lookup yet (the budget was spent or the archive unreachable)
  const ARCHIVE_PENDING = new Set(DATA.archive_pending || []);
  // URLs arrive as arrays (fields named in url_fields, host as an index into hosts)
  const URLS = DATA.urls.map((values) => {
    const info = {};
    DATA.url_fields.forEach((name, i) => {
      if (values[i] !== undefined && values[i] !== null) info[name] = values[i];
    });
    info.h = info.h === undefined ? "" : DATA.hosts[info.h];
    return info;
  });
  // a problem repeats its URL's HTTP status and final URL only where they differ
  const httpStatus = (p, info) => ("c" in p ? p.c : info ? info.c : undefined);
  const finalUrl = (p, info) => ("fu" in p ? p.fu : info ? info.f : undefined);
  const ROWS = DATA.rows;
  const RANK = Object.fromEntries(DATA.statuses.map((s, i) => [s, i]));
  const NONE = "(none)";
  const CARD_FIELD = "(card)";
  const SIZES = [50, 100, 250, 1000];
  const DEFAULTS = {
    q: "", status: "", kind: "", provider: "", host: "", field: "", severity: "", change: "",
    sort: "status", dir: "desc", page: 1, size: 100, card: "",
  };
  const FILTERS = ["status", "kind", "provider", "host", "field", "severity", "change"];
  // the severity filter's value for "a broken or rotted problem" (crawler/report/triage.py)
  const SEVERITY_GROUPS = new Map([["failing", new Set(["broken", "rotted"])]]);
  const FIRST_DIR = { title: "asc", provider: "asc", published: "desc", status: "desc", kinds: "asc", since: "asc" };
  const CSV_COLUMNS = [
    "path", "title", "provider", "published", "status", "field", "url", "kind", "severity",
    "http_status", "final_url", "detail",
  ];

  // -- prepare the rows once ----------------------------------------------------------------
  const byPath = new Map();
  const counts = { status: new Map(), kind: new Map(), provider: new Map(), host: new Map(), field: new Map() };
  const kindSeverity = new Map();
  const bump = (map, key) => map.set(key, (map.get(key) || 0) + 1);
  ROWS.forEach((row, i) => {
    row.i = i;
    row.vKey = row.v || NONE;
    byPath.set(row.p, row);
    const kinds = [];
    const hosts = new Set();
    const fields = new Set();
    const hay = [row.t || "", row.p, row.v || ""];
    let since = row.ff || "";
    for (const p of row.pr) {
      const info = p.u === undefined ? null : URLS[p.u];
      p.host = info && info.h ? info.h : "";
      p.fKey = p.f || CARD_FIELD;
      if (!kinds.includes(p.k)) kinds.push(p.k);
      kindSeverity.set(p.k, p.s);
      if (p.host) hosts.add(p.host);
      fields.add(p.fKey);
      if (info) hay.push(info.u);
      if (p.ff && (!since || p.ff < since)) since = p.ff;
    }
    row.kinds = kinds;
    row.kindText = kinds.join(", ");
    row.since = since;
    row.hay = hay.join("\n").toLowerCase();
    bump(counts.status, row.s);
    bump(counts.provider, row.vKey);
    kinds.forEach((k) => bump(counts.kind, k));
    hosts.forEach((h) => bump(counts.host, h));
    fields.forEach((f) => bump(counts.field, f));
  });

  timings.prepared = performance.now();

  // -- small DOM helpers (text only) ------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function isHttp(url) {
    if (typeof url !== "string") return false;
    try {
      const protocol = new URL(url).protocol;
      return protocol === "http:" || protocol === "https:";
    } catch (_) {
      return false;
    }
  }
  function linkOrText(url) {
    if (isHttp(url)) {
      const a = el("a", "url-text", url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.referrerPolicy = "no-referrer";
      return a;
    }
    return el("span", "url-text", url);
  }
  function badge(status) {
    return el("span", "badge st-" + status, status);
  }
  const fmt = new Intl.NumberFormat("en");
  const runs = (n) => n + (n === 1 ? " run" : " runs");
  const day = (iso) => (iso ? String(iso).slice(0, 10) : "");
  function when(iso) {
    if (!iso) return "";
    const text = String(iso);
    return text.length > 16 ? text.slice(0, 10) + " " + text.slice(11, 16) + " UTC" : text;
  }

  // -- state <-> URL fragment -------------------------------------------------------------
  let state = readHash(location.hash);
  let lastHash = null;

  function readHash(fragment) {
    const params = new URLSearchParams(fragment.replace(/^#/, ""));
    const s = Object.assign({}, DEFAULTS);
    for (const key of Object.keys(DEFAULTS)) {
      if (params.has(key)) s[key] = params.get(key);
    }
    s.page = Math.max(1, parseInt(s.page, 10) || 1);
    s.size = SIZES.includes(Number(s.size)) ? Number(s.size) : DEFAULTS.size;
    if (!(s.sort in FIRST_DIR)) s.sort = DEFAULTS.sort;
    if (s.dir !== "asc" && s.dir !== "desc") s.dir = FIRST_DIR[s.sort];
    return s;
  }
  function hashOf(s) {
    const params = new URLSearchParams();
    for (const key of Object.keys(DEFAULTS)) {
      if (String(s[key]) !== String(DEFAULTS[key])) params.set(key, String(s[key]));
    }
    const text = params.toString();
    return text ? "#" + text : "";
  }
  function writeHash() {
    const next = hashOf(state);
    lastHash = next;
    if (next === location.hash || (!next && !location.hash)) return;
    const target = next || location.pathname + location.search;
    try {
      history.replaceState(null, "", target);
    } catch (_) {
      location.hash = next;
    }
  }
  window.addEventListener("hashchange", () => {
    if (location.hash === lastHash) return;
    state = readHash(location.hash);
    syncControls();
    render();
    syncDetail();
  });

  // -- controls -------------------------------------------------------------------------------
  const controls = {
    q: $("q"), status: $("f-status"), kind: $("f-kind"), provider: $("f-provider"),
    host: $("f-host"), field: $("f-field"), severity: $("f-severity"), change: $("f-change"),
    size: $("size"),
  };
  function fillSelect(select, map, order) {
    const keys = Array.from(map.keys());
    keys.sort(order || ((a, b) => (map.get(b) - map.get(a)) || (a < b ? -1 : a > b ? 1 : 0)));
    const frag = document.createDocumentFragment();
    for (const key of keys) {
      const option = el("option", null, key + " (" + fmt.format(map.get(key)) + ")");
      option.value = key;
      frag.appendChild(option);
    }
    select.appendChild(frag);
  }
  fillSelect(controls.status, counts.status, (a, b) => RANK[b] - RANK[a]);
  // kinds as the overview lists them: the worst severity first, then the most cards
  fillSelect(controls.kind, counts.kind, (a, b) => (RANK[kindSeverity.get(b)] - RANK[kindSeverity.get(a)])
    || (counts.kind.get(b) - counts.kind.get(a)) || (a < b ? -1 : a > b ? 1 : 0));
  fillSelect(controls.provider, counts.provider);
  fillSelect(controls.host, counts.host);
  fillSelect(controls.field, counts.field);

  function setSelect(select, value) {
    if (!select) return;
    value = String(value);
    if (value && !Array.from(select.options).some((o) => o.value === value)) {
      const option = el("option", null, value + " (0)");
      option.value = value;
      select.appendChild(option);
    }
    select.value = value;
  }
  function syncControls() {
    if (controls.q.value !== state.q) controls.q.value = state.q;
    for (const name of FILTERS) setSelect(controls[name], state[name]);
    setSelect(controls.size, state.size);
  }

  for (const name of FILTERS) {
    const select = controls[name];
    if (!select) continue;
    select.addEventListener("change", () => {
      state[name] = select.value;
      state.page = 1;
      render();
    });
  }
  let typing = 0;
  controls.q.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.q = controls.q.value;
      state.page = 1;
      render();
    }, 120);
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  controls.size.addEventListener("change", () => {
    state.size = Number(controls.size.value);
    state.page = 1;
    render();
  });
  $("reset").addEventListener("click", () => {
    state = Object.assign({}, DEFAULTS, { sort: state.sort, dir: state.dir, size: state.size });
    syncControls();
    render();
  });
  $("prev").addEventListener("click", () => { state.page -= 1; render(); });
  $("next").addEventListener("click", () => { state.page += 1; render(); });
  $("csv").addEventListener("click", downloadCsv);

  // tiles, hosts, providers: a click shows the table with just that filter; a view link (Fix
  // first, kinds) with the filters its fragment names, so that it can be copied and shared
  function showView(filters) {
    state = Object.assign({}, DEFAULTS, { sort: state.sort, dir: state.dir, size: state.size }, filters);
    syncControls();
    render();
    $("problems").focus({ preventScroll: true });
    $("problems").scrollIntoView({ block: "start" });
  }
  for (const button of document.querySelectorAll("[data-filter]")) {
    button.addEventListener("click", () => showView({ [button.dataset.filter]: button.dataset.value }));
  }
  for (const link of document.querySelectorAll("a.view-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const view = readHash(link.getAttribute("href"));
      showView(Object.fromEntries(FILTERS.map((name) => [name, view[name]])));
    });
  }

  // -- sorting and filtering ----------------------------------------------------------------
  const sortKeys = {
    title: (r) => (r.t || "").toLowerCase(),
    provider: (r) => (r.v || "").toLowerCase(),
    published: (r) => r.d || "",
    status: (r) => RANK[r.s],
    kinds: (r) => r.kindText,
    since: (r) => r.since,
  };
  let sorted = null;
  let sortedBy = "";
  function sortedRows() {
    const by = state.sort + ":" + state.dir;
    if (sortedBy !== by) {
      const keyOf = sortKeys[state.sort];
      const keys = ROWS.map(keyOf);
      const sign = state.dir === "asc" ? 1 : -1;
      sorted = ROWS.slice().sort((a, b) => {
        const x = keys[a.i];
        const y = keys[b.i];
        if (x === y) return a.i - b.i;
        if (x === "") return 1; // unknown values last, whatever the direction
        if (y === "") return -1;
        return x < y ? -sign : sign;
      });
      sortedBy = by;
    }
    return sorted;
  }
  function severityMatches(p) {
    const group = SEVERITY_GROUPS.get(state.severity);
    return group ? group.has(p.s) : p.s === state.severity;
  }
  function problemMatches(p) {
    return (!state.kind || p.k === state.kind)
      && (!state.host || p.host === state.host)
      && (!state.field || p.fKey === state.field)
      && (!state.severity || severityMatches(p));
  }
  function filteredRows() {
    const terms = state.q.toLowerCase().split(/\s+/).filter(Boolean);
    const byProblem = Boolean(state.kind || state.host || state.field || state.severity);
    const out = [];
    for (const row of sortedRows()) {
      if (state.status && row.s !== state.status) continue;
      if (state.provider && row.vKey !== state.provider) continue;
      if (state.change === "new" && !row.n) continue;
      if (byProblem && !row.pr.some(problemMatches)) continue;
      if (terms.length && !terms.every((t) => row.hay.includes(t))) continue;
      out.push(row);
    }
    return out;
  }

  // -- the table ------------------------------------------------------------------------------
  const tbody = $("rows");
  const table = $("table");
  let shown = [];
  let renders = 0;

  function rowElement(row) {
    const tr = el("tr");
    tr.tabIndex = 0;
    tr.dataset.index = String(row.i);
    const title = el("td", "col-title");
    title.appendChild(el("div", "title", row.t || "(no title)"));
    title.appendChild(el("div", "path", row.p));
    const status = el("td", "col-status");
    status.appendChild(badge(row.s));
    if (row.n) status.appendChild(el("span", "badge new", "new"));
    const kinds = el("td", "col-kinds");
    for (const kind of row.kinds) kinds.appendChild(el("span", "chip", kind));
    const since = el("td", "col-since", day(row.since));
    if (row.tr) since.appendChild(el("span", "trend", row.tr + (row.cf ? " · " + runs(row.cf) : "")));
    tr.append(
      title,
      el("td", "col-provider", row.v || "—"),
      el("td", "col-published", day(row.d)),
      status,
      kinds,
      since,
    );
    return tr;
  }

  function render() {
    const rows = filteredRows();
    const pages = Math.max(1, Math.ceil(rows.length / state.size));
    state.page = Math.min(Math.max(1, state.page), pages);
    const start = (state.page - 1) * state.size;
    const page = rows.slice(start, start + state.size);
    const frag = document.createDocumentFragment();
    for (const row of page) frag.appendChild(rowElement(row));
    if (!page.length) {
      const tr = el("tr");
      const td = el("td", "empty", ROWS.length ? "No card matches these filters." : "Every card is fine.");
      td.colSpan = 6;
      tr.appendChild(td);
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    shown = rows;

    const count = $("count");
    count.dataset.count = String(rows.length);
    count.replaceChildren();
    count.append(el("strong", null, fmt.format(rows.length)));
    count.append(rows.length === ROWS.length
      ? " card" + (rows.length === 1 ? "" : "s")
      : " of " + fmt.format(ROWS.length) + " cards match");
    if (rows.length > page.length) {
      count.append(" · showing " + fmt.format(start + 1) + "–" + fmt.format(start + page.length));
    }
    $("pageinfo").textContent = "page " + fmt.format(state.page) + " of " + fmt.format(pages);
    $("prev").disabled = state.page <= 1;
    $("next").disabled = state.page >= pages;
    for (const th of table.tHead.rows[0].cells) {
      const active = th.dataset.key === state.sort;
      th.setAttribute("aria-sort", active ? (state.dir === "asc" ? "ascending" : "descending") : "none");
    }
    renders += 1;
    table.dataset.renders = String(renders);
    writeHash();
  }

  for (const th of table.tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.key;
      if (state.sort === key) state.dir = state.dir === "asc" ? "desc" : "asc";
      else {
        state.sort = key;
        state.dir = FIRST_DIR[key];
      }
      state.page = 1;
      render();
    });
  }
  function rowOf(node) {
    const tr = node && node.closest ? node.closest("tr[data-index]") : null;
    return tr ? tr : null;
  }
  tbody.addEventListener("click", (event) => {
    const tr = rowOf(event.target);
    if (tr) openDetail(ROWS[Number(tr.dataset.index)], tr);
  });
  tbody.addEventListener("keydown", (event) => {
    const tr = rowOf(event.target);
    if (!tr || event.target !== tr) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      openDetail(ROWS[Number(tr.dataset.index)], tr);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const next = event.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
      if (next && next.dataset.index !== undefined) {
        event.preventDefault();
        next.focus();
      }
    }
  });

  // -- a card's detail ------------------------------------------------------------------------
  const dialog = $("detail");
  const body = $("detail-body");
  let opener = null;

  function addFact(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", null, label));
    const dd = el("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = String(value);
    dl.appendChild(dd);
  }
  function fill(parent, template, values) {
    for (const part of template.split(/(\{\w+\})/)) {
      const match = /^\{(\w+)\}$/.exec(part);
      if (!match) {
        if (part) parent.append(part);
        continue;
      }
      const value = String(values[match[1]]);
      parent.append(match[1].endsWith("url") ? linkOrText(value) : value);
    }
  }
  function realSize(p, info) {
    if (info && info.w) return [info.w, info.ht];
    const match = /real (\d+)x(\d+)/.exec(p.x || "");
    return match ? [Number(match[1]), Number(match[2])] : [null, null];
  }
  function hint(p, info) {
    const texts = DATA.hints[p.k];
    if (!texts) return null;
    const [width, height] = realSize(p, info);
    const values = {
      final_url: finalUrl(p, info) || null,
      width: width,
      height: height,
      archive_url: p.ar || null,
    };
    let template = texts[0];
    const names = Array.from(template.matchAll(/\{(\w+)\}/g), (m) => m[1]);
    if (names.some((name) => values[name] === null || values[name] === undefined)) template = texts[1];
    const out = el("p", "hint");
    out.appendChild(el("strong", null, "How to fix: "));
    fill(out, template, values);
    if (p.ar && !names.includes("archive_url")) {
      out.append(" ");
      fill(out, DATA.archive_hint, values);
    }
    return out;
  }
  // What `linkcheck fix` would do for a problem: the diff of its edit, or why a person is needed.
  // `problem` is null for a step no problem of the card names.
  function fixElement(step, problem) {
    const box = el("div", "fix");
    if (step.by) {
      box.dataset.fix = "covered";
      box.appendChild(el("p", "fix-head", "linkcheck fix: the " + step.by + " edit of this card covers " + step.f + "."));
    } else if (step.d) {
      box.dataset.fix = "correction";
      const head = el("p", "fix-head");
      head.appendChild(el("strong", null, "linkcheck fix would change the card"));
      const notes = [];
      if (!problem || step.f !== problem.f) notes.push(step.f);
      if (step.o) notes.push("if the card has this field");
      if (notes.length) head.append(" (" + notes.join(", ") + ")");
      const diff = el("pre", "diff");
      for (const line of step.d) {
        diff.appendChild(el("span", line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "same", line));
      }
      box.append(head, diff);
    } else {
      box.dataset.fix = "person";
      const text = el("p");
      text.append(el("strong", null, "Needs a person: "), step.r);
      box.appendChild(text);
    }
    return box;
  }
  function problemElement(p, steps) {
    const info = p.u === undefined ? null : URLS[p.u];
    const box = el("article", "problem st-" + p.s);
    const head = el("h3");
    head.append(badge(p.s), el("span", null, p.k), el("span", "field", p.f || "card"));
    box.appendChild(head);
    const dl = el("dl");
    if (info) addFact(dl, "URL", linkOrText(info.u));
    addFact(dl, "HTTP status", httpStatus(p, info));
    const final = finalUrl(p, info);
    if (final && (!info || final !== info.u)) addFact(dl, "final URL", linkOrText(final));
    if (info && info.r && info.r.length) {
      const ol = el("ol");
      for (const [status, from, to] of info.r) {
        const li = el("li");
        li.append(String(status) + " ", linkOrText(from), " → ", linkOrText(to));
        ol.appendChild(li);
      }
      addFact(dl, "redirects", ol);
    }
    if (info && info.a !== undefined) addFact(dl, "attempts", info.a);
    addFact(dl, "detail", p.x);
    if (p.ff) addFact(dl, "failing since", when(p.ff));
    if (p.tr) addFact(dl, "trend", p.tr + (p.cf ? " (" + runs(p.cf) + " failing in a row)" : ""));
    if (p.ar) addFact(dl, "archived copy", linkOrText(p.ar));
    else if (info && ARCHIVE_PENDING.has(info.u)) addFact(dl, "archived copy", "no archive lookup yet");
    box.appendChild(dl);
    for (const step of steps) box.appendChild(fixElement(step, p));
    const help = steps.some((step) => step.d || step.by) ? null : hint(p, info);
    if (help) box.appendChild(help);
    return box;
  }
  // Two boxes drawn to one scale: the frame the card declares, and the image at its real size.
  function sizeBoxes(field, info, declaredW, declaredH) {
    const set = el("div", "image-set");
    set.appendChild(el("p", "field", field));
    const realW = info.w || null;
    const realH = info.ht || null;
    const MAX = 220;
    const biggest = Math.max(declaredW || 0, declaredH || 0, realW || 0, realH || 0) || 1;
    const scale = Math.min(1, MAX / biggest);
    const px = (n) => Math.max(2, Math.round(n * scale)) + "px";
    const sizes = el("div", "sizes");
    const mismatch = declaredW && realW && (declaredW !== realW || declaredH !== realH);
    if (declaredW && declaredH) {
      const fig = el("figure", mismatch ? "mismatch" : null);
      const frame = el("div", "frame");
      frame.style.width = px(declaredW);
      frame.style.height = px(declaredH);
      fig.append(frame, el("figcaption", null, "declared " + declaredW + " × " + declaredH));
      sizes.appendChild(fig);
    }
    const fig = el("figure");
    const real = el("div", realW ? "real" : "real unknown");
    if (realW && realH) {
      real.style.width = px(realW);
      real.style.height = px(realH);
    }
    if (isHttp(info.u)) {
      const img = document.createElement("img");
      img.alt = "the image of " + field;
      img.decoding = "async";
      img.referrerPolicy = "no-referrer";
      img.addEventListener("error", () => img.replaceWith(el("span", "failed", "could not load")));
      img.src = info.u;
      real.appendChild(img);
    }
    fig.append(real, el("figcaption", null, realW ? "real " + realW + " × " + realH : "real size unknown"));
    sizes.appendChild(fig);
    set.appendChild(sizes);
    return set;
  }
  function imagesElement(row) {
    if (!row.im || !row.im.length) return null;
    const withProblem = new Set(row.pr.filter((p) => p.u !== undefined).map((p) => p.u));
    const main = row.im.find((link) => !link[0].startsWith("provider.")) || row.im[0];
    const picked = row.im.filter((link) => link === main || withProblem.has(link[1]));
    const box = el("section", "images");
    box.appendChild(el("h3", null, "Images, declared and real, to scale"));
    for (const [field, index, w, h] of picked) box.appendChild(sizeBoxes(field, URLS[index], w, h));
    return box;
  }

  function openDetail(row, from) {
    if (!row) return;
    opener = from || null;
    $("detail-title").textContent = row.t || "(no title)";
    body.replaceChildren();
    const meta = el("dl", "meta");
    const where = el("span");
    where.append(el("span", "mono", row.p));
    where.append(el("span", "muted", "  in " + DATA.run.cards_root));
    addFact(meta, "file", where);
    const status = el("span");
    status.append(badge(row.s));
    if (row.n) status.append(el("span", "badge new", "new since run #" + DATA.previous_run));
    addFact(meta, "status", status);
    addFact(meta, "provider", row.v || "—");
    addFact(meta, "published", when(row.d) || "—");
    if (row.since) addFact(meta, "failing since", when(row.since));
    if (row.tr) addFact(meta, "trend", row.tr + (row.cf ? " (" + runs(row.cf) + " failing in a row)" : ""));
    body.appendChild(meta);
    const cols = el("div", "detail-cols");
    const list = el("section", "problem-list");
    list.appendChild(el("h3", "sr", "Problems"));
    const steps = row.fx || [];
    row.pr.forEach((p, i) => list.appendChild(problemElement(p, steps.filter((step) => step.i === i))));
    const loose = steps.filter((step) => step.i < 0);
    if (loose.length) {
      const box = el("article", "problem fix-only");
      box.appendChild(el("h3", null, "Other edits"));
      for (const step of loose) box.appendChild(fixElement(step, null));
      list.appendChild(box);
    }
    cols.appendChild(list);
    const images = imagesElement(row);
    if (images) cols.appendChild(images);
    body.appendChild(cols);
    if (!dialog.open) dialog.showModal();
    body.scrollTop = 0;
    state.card = row.p;
    writeHash();
  }
  dialog.addEventListener("close", () => {
    body.replaceChildren(); // drops the images
    state.card = "";
    writeHash();
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
  $("detail-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  function syncDetail() {
    const row = state.card ? byPath.get(state.card) : null;
    if (row) openDetail(row, null);
    else if (dialog.open) dialog.close();
  }

  // -- CSV of the rows shown --------------------------------------------------------------------
  function csvCell(value) {
    let text = value === undefined || value === null ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text; // no formula when opened in a spreadsheet
    return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }
  function downloadCsv() {
    const lines = [CSV_COLUMNS.join(",")];
    for (const row of shown) {
      for (const p of row.pr) {
        if (!problemMatches(p)) continue;
        const info = p.u === undefined ? null : URLS[p.u];
        lines.push([
          row.p, row.t, row.v, row.d, row.s, p.f, info ? info.u : "", p.k, p.s,
          httpStatus(p, info), finalUrl(p, info), p.x,
        ].map(csvCell).join(","));
      }
    }
    const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "problems-run" + DATA.run.id + (hashOf(state) ? "-filtered" : "") + ".csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 30000);
  }

  syncControls();
  render();
  syncDetail();
  timings.ready = performance.now();
  document.documentElement.dataset.timings = JSON.stringify(timings, (k, v) => (k ? Math.round(v) : v));
  document.documentElement.dataset.ready = String(Math.round(timings.ready));
})();
