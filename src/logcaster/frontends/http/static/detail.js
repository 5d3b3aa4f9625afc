// A line opened from the results: its receive time, its text and its fields (the JSON
// object in the line, or its key=value pairs), all set as text.

import { levelOf } from "./list.js";

// The fields of a line, as [name, value] strings.
export function parseFields(line) {
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

export function showDetail(d, rec) {
  if (!rec || rec.line === undefined) return;
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
  close.addEventListener("click", () => hideDetail(d));
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

export function hideDetail(d) {
  d.hidden = true;
  d.textContent = "";
}
