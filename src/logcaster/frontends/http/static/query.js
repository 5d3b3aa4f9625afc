// The search box's text as API parameters: QUERY-style `key=value` tokens separated by
// spaces (a value in double quotes may hold spaces and commas, `\"` is a quote inside),
// and bare words as keywords. Also the words to highlight in results.

const LIST_KEYS = new Set(["keywords", "level"]); // values that are comma lists
const REST_KEY = "keyword"; // its value is the whole rest of the line

export class QuerySyntaxError extends Error {
  name = "QuerySyntaxError";
}

// The quoted string opening at text[i] and the index after its closing quote:
// inside, \" is a quote and \\ a backslash; any other backslash stays.
function quoted(text, i, key) {
  let out = "";
  let j = i + 1;
  while (j < text.length && text[j] !== '"') {
    if (text[j] === "\\" && (text[j + 1] === '"' || text[j + 1] === "\\")) j++;
    out += text[j];
    j++;
  }
  if (j >= text.length) throw new QuerySyntaxError(`Unterminated quote in value of '${key}'`);
  return [out, j + 1];
}

function itemEnd(text, i, listed) {
  const space = text.indexOf(" ", i);
  let end = space >= 0 ? space : text.length;
  if (listed) {
    const comma = text.slice(i, end).indexOf(",");
    if (comma >= 0) end = i + comma;
  }
  return end;
}

// The line port's QUERY tokenizer (frontends/line/grammar.py `tokenize`), with one
// addition: a word without `=` is a keyword (key null). Returns [{key, items, raw}];
// throws QuerySyntaxError with the line port's message for what it cannot read.
export function tokenize(text) {
  const tokens = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (text[i] === " ") {
      i++;
      continue;
    }
    const start = i;
    const eq = text.indexOf("=", i);
    const space = text.indexOf(" ", i);
    if (eq < 0 || (space >= 0 && space < eq)) {
      // a bare word: up to the next space, or a quoted string
      let word;
      if (text[i] === '"') {
        [word, i] = quoted(text, i, "keywords");
        if (i < n && text[i] !== " ") {
          throw new QuerySyntaxError(
            `Unexpected '${text[i]}' after a closing quote in value of 'keywords'`,
          );
        }
      } else {
        const end = space >= 0 ? space : n;
        word = text.slice(i, end);
        i = end;
      }
      tokens.push({ key: null, items: [word], raw: text.slice(start, i) });
      continue;
    }
    const key = text.slice(i, eq);
    i = eq + 1;
    const lowered = key.toLowerCase();
    if (lowered === REST_KEY) {
      tokens.push({ key, items: [text.slice(i)], raw: text.slice(start) });
      break;
    }
    const listed = LIST_KEYS.has(lowered);
    const items = [];
    for (;;) {
      let item;
      if (text[i] === '"') {
        [item, i] = quoted(text, i, key);
        if (i < n && text[i] !== " " && !(listed && text[i] === ",")) {
          throw new QuerySyntaxError(
            `Unexpected '${text[i]}' after a closing quote in value of '${key}'`,
          );
        }
      } else {
        const end = itemEnd(text, i, listed);
        item = text.slice(i, end);
        i = end;
      }
      items.push(item);
      if (listed && text[i] === ",") {
        i++;
        continue;
      }
      break;
    }
    tokens.push({ key, items, raw: text.slice(start, i) });
  }
  return tokens;
}

// [[key, value], ...] for URLSearchParams: bare words and `keyword=` become
// `keywords`; list items are joined by commas (the HTTP API splits them there).
export function toParams(text) {
  const out = [];
  for (const t of tokenize(text)) {
    if (t.key === null) {
      if (t.items[0]) out.push(["keywords", t.items[0]]);
    } else if (t.key.toLowerCase() === REST_KEY) {
      if (t.items[0]) out.push(["keywords", t.items[0]]);
    } else {
      out.push([t.key, t.items.join(",")]);
    }
  }
  return out;
}

// Terms to highlight: keywords (split on commas, as the server does) and a regex.
export function highlights(text) {
  const words = [];
  let regex = null;
  let params = [];
  try {
    params = toParams(text);
  } catch {
    // shown by the search itself
  }
  for (const [key, value] of params) {
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
  let tokens = [];
  try {
    tokens = tokenize(text);
  } catch {
    return text;
  }
  const kept = tokens.filter((t) => t.key === null || t.key.toLowerCase() !== key);
  const parts = kept.map((t) => t.raw);
  if (values.length) parts.push(`${key}=${values.join(",")}`);
  return parts.join(" ");
}

// The values of `key` in the query text (upper case for level).
export function filterValues(text, key) {
  const out = [];
  let tokens = [];
  try {
    tokens = tokenize(text);
  } catch {
    return out;
  }
  for (const t of tokens) {
    if (t.key !== null && t.key.toLowerCase() === key) {
      for (const v of t.items.join(",").split(",")) {
        if (v) out.push(key === "level" ? v.toUpperCase() : v);
      }
    }
  }
  return out;
}
