// The histogram above the results: hits per time bucket from /api/v1/hits, stacked by
// level (uPlot bars, drawn as cumulative series from the top of the stack down), and
// drag-to-zoom, which reports the selected time range.

import uPlot from "./vendor/uplot/uPlot.esm.js";

export const LEVEL_COLORS = {
  EMERG: "#7f1d1d",
  ALERT: "#991b1b",
  FATAL: "#b91c1c",
  CRITICAL: "#dc2626",
  ERROR: "#ef4444",
  WARN: "#f59e0b",
  NOTICE: "#14b8a6",
  INFO: "#3b82f6",
  DEBUG: "#8b5cf6",
  TRACE: "#a3a3a3",
  NONE: "#94a3b8",
};

const COMPACT = new Intl.NumberFormat("en", { notation: "compact" });

export class Histogram {
  constructor(el, onZoom) {
    this.el = el;
    this.onZoom = onZoom;
    this.plot = null;
    new ResizeObserver(() => {
      if (this.plot) this.plot.setSize(this.size());
    }).observe(el);
  }

  size() {
    return { width: Math.max(200, this.el.clientWidth), height: 150 };
  }

  // `hits`: the /api/v1/hits answer with by=level.
  show(hits) {
    const buckets = hits.buckets;
    const xs = buckets.map((b) => Date.parse(b.time.slice(0, 23) + "Z") / 1000);
    // Without a breakdown, one series of totals ("matches").
    const levels = hits.by ? [] : ["matches"];
    for (const b of buckets) {
      for (const name of Object.keys(b.by || {})) if (!levels.includes(name)) levels.push(name);
    }
    const order = Object.keys(LEVEL_COLORS);
    levels.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    // raw[k][i]: hits of level k in bucket i; stack[k][i]: levels k.. stacked
    const raw = hits.by
      ? levels.map((name) => buckets.map((b) => (b.by && b.by[name]) || 0))
      : [buckets.map((b) => b.count)];
    const stack = raw.map(() => new Array(buckets.length).fill(0));
    for (let i = 0; i < buckets.length; i++) {
      let sum = 0;
      for (let k = levels.length - 1; k >= 0; k--) {
        sum += raw[k][i];
        stack[k][i] = sum;
      }
    }
    const bars = uPlot.paths.bars({ size: [0.9, 40], align: 1 });
    const series = [{ value: (u, v) => (v == null ? "" : new Date(v * 1000).toLocaleString()) }];
    levels.forEach((name, k) => {
      const color = LEVEL_COLORS[name] || "#6366f1";
      series.push({
        label: name,
        fill: color,
        stroke: color,
        width: 0,
        paths: bars,
        points: { show: false },
        value: (u, v, si, idx) => (idx == null ? "" : String(raw[k][idx])),
      });
    });
    if (this.plot) this.plot.destroy();
    this.el.textContent = "";
    this.el.dataset.buckets = String(buckets.length);
    this.el.dataset.levels = levels.join(",");
    this.el.dataset.by = hits.by || "";
    const step = hits.step_ns / 1e9;
    const opts = {
      ...this.size(),
      series,
      legend: { show: levels.length > 0 },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      scales: {
        x: {
          time: true,
          range: (u, min, max) => [min, max + step],
        },
        y: { range: (u, min, max) => [0, Math.max(1, max)] },
      },
      axes: [
        { stroke: "#64748b", grid: { stroke: "#e2e8f0" } },
        {
          stroke: "#64748b",
          grid: { stroke: "#e2e8f0" },
          size: 56,
          values: (u, ticks) => ticks.map((v) => COMPACT.format(v)),
        },
      ],
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const from = u.posToVal(u.select.left, "x");
            const to = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
            this.onZoom(from, to);
          },
        ],
      },
    };
    // uPlot draws series in order: the whole stack first, the lowest level last on top
    this.plot = new uPlot(opts, [xs, ...stack], this.el);
  }

  clear() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.el.textContent = "";
    this.el.dataset.buckets = "0";
  }
}
