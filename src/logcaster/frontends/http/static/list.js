// The results list, virtualised: only the rows in view (plus a margin) exist in the
// DOM, so 100 000 rows scroll like 100. Every piece of log text is set with
// textContent; matched terms are wrapped in <mark> elements built the same way.

export const ROW_HEIGHT = 22;
const OVERSCAN = 10;
const LEVEL_WORD =
  /\b(EMERG|ALERT|FATAL|CRITICAL|CRIT|ERROR|ERR|WARNING|WARN|NOTICE|INFO|DEBUG|TRACE)\b/i;
const LEVEL_FIELD = /"?level"?\s*[:=]\s*"?([A-Za-z]+)/i;
const CANONICAL = { ERR: "ERROR", WARNING: "WARN", CRIT: "CRITICAL" };

export function levelOf(line) {
  const m = LEVEL_FIELD.exec(line) || LEVEL_WORD.exec(line);
  if (!m) return "";
  const word = m[1].toUpperCase();
  return CANONICAL[word] || word;
}

// "2026-12-01T19:00:59.917121123Z" as local "2026-12-01 20:00:59.917".
export function localTime(rfc3339) {
  const ms = Date.parse(rfc3339.slice(0, 23) + "Z");
  if (Number.isNaN(ms)) return rfc3339;
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
  );
}

// Fill `el` with `text`, the matches of `hl` wrapped in <mark> (text nodes only).
export function highlight(el, text, hl) {
  el.textContent = "";
  const spans = [];
  if (hl) {
    for (const w of hl.words) {
      let at = text.indexOf(w);
      while (at >= 0 && spans.length < 200) {
        spans.push([at, at + w.length]);
        at = text.indexOf(w, at + w.length);
      }
    }
    if (hl.regex) {
      hl.regex.lastIndex = 0;
      let m;
      while ((m = hl.regex.exec(text)) !== null && spans.length < 400) {
        if (m[0].length === 0) {
          hl.regex.lastIndex++;
          continue;
        }
        spans.push([m.index, m.index + m[0].length]);
      }
    }
  }
  if (!spans.length) {
    el.textContent = text;
    return;
  }
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let pos = 0;
  for (const [s, e] of spans) {
    if (e <= pos) continue;
    const from = Math.max(s, pos);
    if (from > pos) el.append(document.createTextNode(text.slice(pos, from)));
    const mark = document.createElement("mark");
    mark.textContent = text.slice(from, e);
    el.append(mark);
    pos = e;
  }
  if (pos < text.length) el.append(document.createTextNode(text.slice(pos)));
}

export class VirtualList {
  constructor(container, spacer, onSelect) {
    this.el = container;
    this.spacer = spacer;
    this.onSelect = onSelect;
    this.rows = [];
    this.hl = null;
    this.pool = new Map(); // row index -> element
    this.selected = -1;
    this.scheduled = false;
    this.tailing = false; // rows arrive at the bottom (the live tail)
    this.follow = false; // keep the bottom in view: while tailing and not scrolled up
    this.el.addEventListener(
      "scroll",
      () => {
        if (this.tailing) this.follow = this.atBottom();
        this.schedule();
      },
      { passive: true },
    );
    this.el.addEventListener("click", (ev) => {
      const row = ev.target.closest(".row");
      if (row && row.dataset.index !== undefined) this.select(Number(row.dataset.index));
    });
    new ResizeObserver(() => this.schedule()).observe(this.el);
  }

  setRows(rows, hl) {
    this.rows = rows;
    this.hl = hl;
    this.selected = -1;
    this.clear();
    this.el.scrollTop = 0;
    this.schedule();
  }

  // Rows were added at the end (or removed at the start: `dropped` of them).
  changed(dropped = 0) {
    if (dropped) {
      this.clear();
      if (this.selected >= 0) this.selected -= dropped;
    }
    this.schedule();
  }

  atBottom() {
    return this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - ROW_HEIGHT;
  }

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
  }

  clear() {
    for (const node of this.pool.values()) node.remove();
    this.pool.clear();
  }

  select(index) {
    this.selected = index;
    for (const [i, node] of this.pool) node.classList.toggle("selected", i === index);
    this.onSelect(this.rows[index]);
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  render() {
    this.spacer.style.height = `${this.rows.length * ROW_HEIGHT}px`;
    if (this.follow) this.el.scrollTop = this.el.scrollHeight;
    const top = this.el.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(
      this.rows.length,
      Math.ceil((top + this.el.clientHeight) / ROW_HEIGHT) + OVERSCAN,
    );
    for (const [i, node] of this.pool) {
      if (i < first || i >= last) {
        node.remove();
        this.pool.delete(i);
      }
    }
    for (let i = first; i < last; i++) {
      if (this.pool.has(i)) continue;
      const node = this.makeRow(this.rows[i], i);
      this.pool.set(i, node);
      this.spacer.append(node);
    }
  }

  makeRow(rec, i) {
    const row = document.createElement("div");
    row.className = "row";
    row.dataset.index = String(i);
    row.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
    if (rec.skipped !== undefined) {
      row.classList.add("skipped");
      row.textContent = `… ${rec.skipped} lines skipped`;
      return row;
    }
    if (rec.notice !== undefined) {
      row.classList.add("notice");
      row.textContent = rec.notice;
      return row;
    }
    if (i === this.selected) row.classList.add("selected");
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = localTime(rec.time);
    time.title = rec.time;
    const level = rec.level ?? (rec.level = levelOf(rec.line));
    const lvl = document.createElement("span");
    lvl.className = `lvl lvl-${level || "NONE"}`;
    lvl.textContent = level;
    const text = document.createElement("span");
    text.className = "text";
    highlight(text, rec.line, this.hl);
    row.append(time, lvl, text);
    return row;
  }
}
