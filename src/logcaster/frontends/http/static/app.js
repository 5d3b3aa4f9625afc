// The LogCaster page: wires the search box, time range, histogram, facets, results list
// and live tail together, and keeps the whole state in the URL
// (/?q=<query text>&from=&to=&tail=1) so that a link reproduces the view.

import { ApiError, getJSON, streamNDJSON } from "./api.js";
import { Histogram, LEVEL_COLORS } from "./chart.js";
import { hideDetail, showDetail } from "./detail.js";
import { deferredFacet, facet, levelFacet } from "./facets.js";
import { VirtualList } from "./list.js";
import { filterValues, highlights, setFilter, toParams } from "./query.js";
import { LiveTail } from "./tail.js";

const FIRST_PAGE = 200; // the newest matches, fetched first
const MAX_ROWS = 100000; // search results fetched and listed
const MAX_TAIL_ROWS = 50000; // the live tail keeps this many, dropping the oldest
const TAIL_BACKFILL = 1000;
const LEVEL_BREAKDOWN_MAX = 250000; // matches counted by level without being asked
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

const list = new VirtualList($("list"), $("spacer"), showLine);
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
  hideDetail(els.detail);
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
    const histogram = loadHistogram(base, signal, gen);
    await Promise.allSettled([histogram, histogram.then((h) => fieldFacetsIfCheap(h, signal, gen))]);
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
    const facets = histogram.then((h) => fieldFacetsIfCheap(h, signal, gen));
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

// Totals first (counted per receive chunk: fast), then the per-level breakdown (one C
// pass per level, seconds over a full ring): over LEVEL_BREAKDOWN_MAX it waits
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

// The host/app facets read every matching line's fields: asked for only when the
// match count is small enough that they cannot keep the server's workers busy.
function fieldFacetsIfCheap(hits, signal, gen) {
  if (!hits || hits.total > LEVEL_BREAKDOWN_MAX) {
    if (gen === generation) {
      fieldFacets = [];
      renderFacets();
    }
    return undefined;
  }
  return loadFacets(signal, gen);
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

function renderFacets() {
  els.facets.textContent = "";
  if (histogramHits) els.facets.append(facetOf(levelFacet(histogramHits)));
  else if (levelsDeferred) els.facets.append(deferredFacet("level", levelsDeferred, setError));
  for (const top of fieldFacets) els.facets.append(facetOf(top));
}

function facetOf(top) {
  return facet(top, filterValues(state.q, top.field), (field, value) => {
    const values = filterValues(state.q, field);
    const next = values.includes(value) ? values.filter((v) => v !== value) : [...values, value];
    state.q = setFilter(state.q, field, next);
    run(true);
  });
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

function showLine(rec) {
  if (rec && rec.line !== undefined) showDetail(els.detail, rec);
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
    hideDetail(els.detail);
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
