// The LogCaster page: wires the search box, time range, histogram, facets, results list
// and live tail together, and keeps the whole state in the URL
// (/?q=<query text>&from=&to=&tail=1) so that a link reproduces the view.

import { ApiError, getJSON, streamNDJSON } from "./api.js";
import { Histogram, LEVEL_COLORS } from "./chart.js";
import { VirtualList, levelOf } from "./list.js";
import { filterValues, highlights, setFilter, toParams } from "./query.js";
import { LiveTail } from "./tail.js";

const FIRST_PAGE = 200; // the newest matches, fetched first
const MAX_ROWS = 100000; // search results fetched and listed
const MAX_TAIL_ROWS = 50000; // the live tail keeps this many, dropping the oldest
const TAIL_BACKFILL = 1000;
const LEVEL_BREAKDOWN_MAX = 250000; // matches classified by level without being asked
const FACETS = ["level", "host", "app"];

const $ = (id) => document.getElementById(id);
const els = {
  q: $("q"),
  form: $("search-form"),
  from: $("from"),
  to: $("to"),
  tail: $("tail"),
  pause: $("pause"),
  status: $("status"),
  error: $("error"),
  facets: $("facets"),
  detail: $("detail"),
  help: $("help"),
  helpButton: $("help-button"),
};

const state = { q: "", from: "", to: "", tail: false };
const unknownFacets = new Set(); // fields the server does not know
let generation = 0;
let controller = null;
let rows = [];
let paused = false;
let pending = [];
let pendingSkipped = 0;
let started = 0; // when the current search began (performance.now())
let counted = null; // its match count, once known
let listed = false; // its rows all fetched
let levelsDeferred = null; // loads the level breakdown on request
let histogramHits = null; // the last histogram: its level counts are the level facet
let fieldFacets = []; // the other facets' /api/v1/top answers

const list = new VirtualList($("list"), $("spacer"), showDetail);
const chart = new Histogram($("chart"), (from, to) => {
  state.from = new Date(from * 1000).toISOString();
  state.to = new Date(to * 1000).toISOString();
  run(true);
});
const live = new LiveTail(
  onTailRecords,
  (text) => {
    document.body.dataset.tail = text;
    if (state.tail) setStatus(paused ? `live tail paused (${text})` : `live tail: ${text}`);
  },
  MAX_TAIL_ROWS,
);

// ------------------------------------------------------------------ state and URL
function readURL() {
  const p = new URLSearchParams(location.search);
  state.q = p.get("q") || "";
  state.from = p.get("from") || "";
  state.to = p.get("to") || "";
  state.tail = p.get("tail") === "1";
  els.q.value = state.q;
  els.from.value = state.from;
  els.to.value = state.to;
  els.tail.checked = state.tail;
}

function writeURL(push) {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.from) p.set("from", state.from);
  if (state.to) p.set("to", state.to);
  if (state.tail) p.set("tail", "1");
  const url = p.toString() ? `/?${p}` : "/";
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function takeInputs() {
  state.q = els.q.value.trim();
  state.from = els.from.value.trim();
  state.to = els.to.value.trim();
  state.tail = els.tail.checked;
}

// The query's filters as URL parameters, the From/To boxes included; `without` drops
// the filters on one field (for its facet's counts).
function filters(without) {
  const params = new URLSearchParams();
  for (const [k, v] of toParams(state.q)) if (k.toLowerCase() !== without) params.append(k, v);
  if (state.from && !params.has("time_from")) params.set("time_from", state.from);
  if (state.to && !params.has("time_to")) params.set("time_to", state.to);
  return params;
}

function setStatus(text) {
  els.status.textContent = text;
}

function setError(err) {
  els.error.textContent = err ? (err instanceof Error ? err.message : String(err)) : "";
}

// ------------------------------------------------------------------ search
// A search asks for a first page of the newest matches (shown at once), then for the
// histogram (whose per-level counts are also the level facet), the other facets and
// the rest of the list, so slow aggregations never delay the first lines.
async function run(push) {
  writeURL(push);
  els.q.value = state.q;
  els.from.value = state.from;
  els.to.value = state.to;
  els.pause.hidden = !state.tail;
  markRanges();
  const gen = ++generation;
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  live.stop();
  setError("");
  hideDetail();
  document.body.dataset.state = "searching";
  delete document.body.dataset.total;
  started = performance.now();
  counted = null;
  listed = false;
  histogramHits = null;
  levelsDeferred = null;
  const hl = highlights(state.q);
  rows = [];
  list.tailing = state.tail;
  list.follow = state.tail;
  list.setRows(rows, hl);
  let base;
  try {
    base = filters();
  } catch (err) {
    setError(err);
    setStatus("");
    chart.clear();
    document.body.dataset.state = "error";
    return;
  }
  if (state.tail) {
    setStatus("live tail: connecting…");
    paused = false;
    els.pause.textContent = "Pause";
    const params = new URLSearchParams(base);
    params.set("limit", String(TAIL_BACKFILL));
    live.start(params, state.from || "-15m");
    await Promise.allSettled([loadHistogram(base, signal, gen), loadFacets(signal, gen)]);
    if (gen === generation) document.body.dataset.state = "live";
    return;
  }
  setStatus("Searching…");
  try {
    const page = await fetchRows(base, FIRST_PAGE, signal);
    if (gen !== generation) return;
    rows = page;
    list.rows = page;
    list.changed();
    performance.mark("first-results");
    document.body.dataset.firstResultsMs = String(Math.round(performance.now() - started));
    const more = page.length === FIRST_PAGE;
    setStatus(`${page.length.toLocaleString()}${more ? "+" : ""} lines…`);
    const histogram = loadHistogram(base, signal, gen);
    const facets = loadFacets(signal, gen);
    if (more) {
      const all = await fetchRows(base, MAX_ROWS, signal);
      if (gen !== generation) return;
      rows = all; // the first page is its start: what is in view stays in place
      list.rows = all;
      list.changed();
    }
    listed = true;
    setCounted(counted);
    await Promise.all([histogram, facets]);
    if (gen === generation) document.body.dataset.state = "done";
  } catch (err) {
    if (signal.aborted || gen !== generation) return;
    setError(err);
    setStatus("");
    document.body.dataset.state = "error";
  }
}

// The status line once the match count is known: the count, how many are listed, and
// how long the search took (counting and listing both done).
function setCounted(total) {
  if (total === null || state.tail) return;
  counted = total;
  document.body.dataset.total = String(total);
  let text = `${total.toLocaleString()} ${total === 1 ? "match" : "matches"}`;
  if (!listed) {
    setStatus(`${text} · listing…`);
    return;
  }
  if (rows.length < total) text += ` (newest ${rows.length.toLocaleString()} listed)`;
  setStatus(`${text} · ${Math.round(performance.now() - started)} ms`);
}

// The newest `limit` matches, newest first.
async function fetchRows(base, limit, signal) {
  const params = new URLSearchParams(base);
  params.set("order", "desc");
  params.set("limit", String(limit));
  const out = [];
  await streamNDJSON("/api/v1/query", params, signal, (batch) => {
    for (const rec of batch) out.push(rec);
  });
  return out;
}

// Totals first (counted per receive chunk: fast), then the per-level breakdown, which
// classifies each matching line: over more than LEVEL_BREAKDOWN_MAX matches it waits
// for a click on "Count levels" rather than keeping the server's workers busy.
async function loadHistogram(base, signal, gen) {
  const params = new URLSearchParams(base);
  params.set("step", "auto");
  let hits = null;
  try {
    hits = await getJSON("/api/v1/hits", params, signal);
    if (gen !== generation) return hits;
    chart.show(hits);
    setCounted(hits.total);
    if (hits.total > LEVEL_BREAKDOWN_MAX) {
      levelsDeferred = () => loadLevels(params, signal, gen);
      renderFacets();
      return hits;
    }
    return (await loadLevels(params, signal, gen)) || hits;
  } catch (err) {
    if (!signal.aborted && gen === generation) {
      if (!hits) chart.clear();
      setError(err);
    }
    return hits;
  }
}

async function loadLevels(params, signal, gen) {
  levelsDeferred = null;
  const by = new URLSearchParams(params);
  by.set("by", "level");
  const byLevel = await getJSON("/api/v1/hits", by, signal);
  if (gen !== generation) return null;
  histogramHits = byLevel;
  chart.show(byLevel);
  renderFacets();
  return byLevel;
}

// Level counts from the histogram; the other fields from /api/v1/top, where the
// server knows them.
async function loadFacets(signal, gen) {
  const fields = FACETS.filter((f) => f !== "level" && !unknownFacets.has(f));
  const answers = await Promise.all(
    fields.map(async (field) => {
      const params = filters(field);
      params.set("field", field);
      params.set("limit", "20");
      try {
        return await getJSON("/api/v1/top", params, signal);
      } catch (err) {
        if (err instanceof ApiError && err.message.startsWith("Unknown field")) {
          unknownFacets.add(field);
        }
        return null;
      }
    }),
  );
  if (gen !== generation) return;
  fieldFacets = answers.filter(Boolean);
  renderFacets();
}

function levelFacet(hits) {
  const counts = new Map();
  for (const b of hits.buckets) {
    for (const [name, n] of Object.entries(b.by || {})) counts.set(name, (counts.get(name) || 0) + n);
  }
  const values = [...counts].map(([value, count]) => ({ value, count }));
  values.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
  return { field: "level", values };
}

function renderFacets() {
  els.facets.textContent = "";
  if (histogramHits) els.facets.append(facet(levelFacet(histogramHits)));
  else if (levelsDeferred) els.facets.append(deferredFacet("level", levelsDeferred));
  for (const top of fieldFacets) els.facets.append(facet(top));
}

function deferredFacet(field, load) {
  const box = document.createElement("section");
  box.className = "facet";
  box.dataset.field = field;
  const h = document.createElement("h3");
  h.textContent = field;
  const b = document.createElement("button");
  b.type = "button";
  b.id = `count-${field}`;
  b.textContent = `Count ${field}s`;
  b.title = "Classifies every matching line: can take a while over a full ring";
  b.addEventListener("click", () => {
    b.disabled = true;
    b.textContent = "Counting…";
    load().catch((err) => setError(err));
  });
  box.append(h, b);
  return box;
}

function facet(top) {
  const box = document.createElement("section");
  box.className = "facet";
  box.dataset.field = top.field;
  const h = document.createElement("h3");
  h.textContent = top.field;
  box.append(h);
  const active = filterValues(state.q, top.field);
  if (!top.values.length) {
    const none = document.createElement("p");
    none.className = "empty";
    none.textContent = "no matches";
    box.append(none);
  }
  for (const { value, count } of top.values) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "facet-value";
    b.dataset.value = value;
    const on = active.includes(value);
    b.classList.toggle("active", on);
    b.setAttribute("aria-pressed", String(on));
    const dot = document.createElement("span");
    dot.className = `dot lvl-${top.field === "level" ? value : "NONE"}`;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = value;
    const n = document.createElement("span");
    n.className = "count";
    n.textContent = count.toLocaleString();
    b.append(dot, name, n);
    b.addEventListener("click", () => {
      const values = filterValues(state.q, top.field);
      const next = values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
      state.q = setFilter(state.q, top.field, next);
      run(true);
    });
    box.append(b);
  }
  return box;
}

// ------------------------------------------------------------------ live tail
function onTailRecords(recs) {
  if (paused) {
    for (const rec of recs) {
      if (pending.length < MAX_TAIL_ROWS) pending.push(rec);
      else pendingSkipped += rec.skipped ?? 1;
    }
    setStatus(`live tail paused: ${(pending.length + pendingSkipped).toLocaleString()} new`);
    return;
  }
  append(recs);
}

function append(recs) {
  if (!rows.length && !performance.getEntriesByName("first-tail").length) {
    performance.mark("first-tail");
  }
  for (const rec of recs) {
    const last = rows[rows.length - 1];
    if (rec.skipped !== undefined && last && last.skipped !== undefined) {
      last.skipped += rec.skipped; // one marker for consecutive gaps
    } else {
      rows.push(rec);
    }
  }
  let dropped = 0;
  if (rows.length > MAX_TAIL_ROWS) {
    dropped = rows.length - MAX_TAIL_ROWS;
    rows.splice(0, dropped);
  }
  list.changed(dropped);
  document.body.dataset.rows = String(rows.length);
}

function togglePause() {
  paused = !paused;
  els.pause.textContent = paused ? "Resume" : "Pause";
  if (!paused) {
    const recs = pending;
    if (pendingSkipped) recs.push({ skipped: pendingSkipped });
    pending = [];
    pendingSkipped = 0;
    if (recs.length) append(recs);
    list.follow = true;
    setStatus(`live tail: ${document.body.dataset.tail || ""}`);
  } else {
    setStatus("live tail paused");
  }
}

// ------------------------------------------------------------------ line details
function parseFields(line) {
  const open = line.indexOf("{");
  const close = line.lastIndexOf("}");
  if (open >= 0 && close > open) {
    try {
      const obj = JSON.parse(line.slice(open, close + 1));
      if (obj && typeof obj === "object" && !Array.isArray(obj)) {
        return Object.entries(obj).map(([k, v]) => [
          k,
          typeof v === "string" ? v : JSON.stringify(v),
        ]);
      }
    } catch {
      // not JSON: try key=value pairs
    }
  }
  const out = [];
  const pair = /([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|[^\s]+)/g;
  let m;
  while ((m = pair.exec(line)) !== null) {
    let v = m[2];
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v);
      } catch {
        v = v.slice(1, -1);
      }
    }
    out.push([m[1], v]);
  }
  return out;
}

function showDetail(rec) {
  if (!rec || rec.line === undefined) return;
  const d = els.detail;
  d.textContent = "";
  const head = document.createElement("div");
  head.className = "detail-head";
  const t = document.createElement("span");
  t.textContent = rec.time;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "icon";
  close.textContent = "×";
  close.title = "Close";
  close.addEventListener("click", hideDetail);
  head.append(t, close);
  const pre = document.createElement("pre");
  pre.textContent = rec.line;
  const table = document.createElement("table");
  const parsed = parseFields(rec.line);
  const fields = parsed.some(([k]) => k.toLowerCase() === "level")
    ? parsed
    : [["level", levelOf(rec.line) || "—"], ...parsed];
  for (const [k, v] of fields) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = k;
    const td = document.createElement("td");
    td.textContent = v;
    tr.append(th, td);
    table.append(tr);
  }
  d.append(head, pre, table);
  d.hidden = false;
}

function hideDetail() {
  els.detail.hidden = true;
  els.detail.textContent = "";
}

// ------------------------------------------------------------------ controls
function markRanges() {
  for (const b of document.querySelectorAll("[data-range]")) {
    b.classList.toggle("active", b.dataset.range === state.from && !state.to);
  }
}

function toggleHelp(show) {
  const open = show ?? els.help.hidden;
  els.help.hidden = !open;
  els.helpButton.setAttribute("aria-expanded", String(open));
}

els.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  performance.mark("enter");
  takeInputs();
  run(true);
});
for (const input of [els.from, els.to]) {
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      takeInputs();
      run(true);
    }
  });
}
for (const b of document.querySelectorAll("[data-range]")) {
  b.addEventListener("click", () => {
    takeInputs();
    state.from = b.dataset.range;
    state.to = "";
    run(true);
  });
}
els.tail.addEventListener("change", () => {
  takeInputs();
  run(true);
});
els.pause.addEventListener("click", togglePause);
els.helpButton.addEventListener("click", () => toggleHelp());
document.addEventListener("keydown", (ev) => {
  const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
  if (ev.key === "/" && !typing) {
    ev.preventDefault();
    els.q.focus();
    els.q.select();
  } else if (ev.key === "Escape") {
    toggleHelp(false);
    hideDetail();
  }
});
window.addEventListener("popstate", () => {
  readURL();
  run(false);
});

for (const [name, color] of Object.entries(LEVEL_COLORS)) {
  document.documentElement.style.setProperty(`--lvl-${name}`, color);
}
readURL();
performance.mark("ui-ready");
document.body.dataset.readyMs = String(Math.round(performance.now()));
run(false);
