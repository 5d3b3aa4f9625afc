// The search box's text as API parameters: QUERY-style `key=value` tokens separated by
// spaces (a value in double quotes may hold spaces and commas, `\"` is a quote inside),
// and bare words as keywords. Also the words to highlight in results.

export function tokenize(text) {
  const tokens = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && text[i] === " ") i++;
    if (i >= n) break;
    let key = null;
    let value = "";
    let raw = "";
    const start = i;
    while (i < n && text[i] !== " " && text[i] !== "=" && text[i] !== '"') i++;
    if (i < n && text[i] === "=" && i > start) {
      key = text.slice(start, i);
      i++;
    } else {
      i = start;
    }
    // the value (or a bare word): runs of plain text and quoted parts up to a space
    while (i < n && text[i] !== " ") {
      if (text[i] === '"') {
        i++;
        while (i < n && text[i] !== '"') {
          if (text[i] === "\\" && i + 1 < n) i++;
          value += text[i];
          i++;
        }
        i++; // the closing quote (or the end)
      } else {
        value += text[i];
        i++;
      }
    }
    raw = text.slice(start, i);
    tokens.push({ key, value, raw });
  }
  return tokens;
}

// [[key, value], ...] for URLSearchParams; bare words become `keywords`.
export function toParams(text) {
  const out = [];
  for (const t of tokenize(text)) {
    if (t.key === null) {
      if (t.value) out.push(["keywords", t.value]);
    } else {
      out.push([t.key.toLowerCase() === "keyword" ? "keywords" : t.key, t.value]);
    }
  }
  return out;
}

// Terms to highlight: keywords (split on commas, as the server does) and a regex.
export function highlights(text) {
  const words = [];
  let regex = null;
  for (const [key, value] of toParams(text)) {
    const k = key.toLowerCase();
    if (k === "keywords") {
      for (const w of value.split(",")) if (w) words.push(w);
    } else if (k === "regex") {
      regex = jsRegex(value);
    }
  }
  return { words, regex };
}

// RE2 syntax mostly is JavaScript syntax; inline (?i) flags are not: lift them out.
function jsRegex(pattern) {
  let flags = "g";
  let p = pattern;
  if (p.includes("(?i)")) {
    p = p.split("(?i)").join("");
    flags += "i";
  }
  try {
    return new RegExp(p, flags);
  } catch {
    return null;
  }
}

// The query text with `key` set to the comma list `values` (removed when empty).
export function setFilter(text, key, values) {
  const kept = tokenize(text).filter((t) => t.key === null || t.key.toLowerCase() !== key);
  const parts = kept.map((t) => t.raw);
  if (values.length) parts.push(`${key}=${values.join(",")}`);
  return parts.join(" ");
}

// The values of `key` in the query text (upper case for level).
export function filterValues(text, key) {
  const out = [];
  for (const t of tokenize(text)) {
    if (t.key !== null && t.key.toLowerCase() === key) {
      for (const v of t.value.split(",")) if (v) out.push(key === "level" ? v.toUpperCase() : v);
    }
  }
  return out;
}
