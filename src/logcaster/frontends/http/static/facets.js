// The facets beside the results: per-value match counts of a field, each a button that
// toggles that value's filter (`active`: the values the query filters on now). Values
// are set as text.

// The level facet from a by=level histogram: its per-level totals.
export function levelFacet(hits) {
  const counts = new Map();
  for (const b of hits.buckets) {
    for (const [name, n] of Object.entries(b.by || {})) counts.set(name, (counts.get(name) || 0) + n);
  }
  const values = [...counts].map(([value, count]) => ({ value, count }));
  values.sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
  return { field: "level", values };
}

export function deferredFacet(field, load, onError) {
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
    load().catch(onError);
  });
  box.append(h, b);
  return box;
}

export function facet(top, active, onToggle) {
  const box = document.createElement("section");
  box.className = "facet";
  box.dataset.field = top.field;
  const h = document.createElement("h3");
  h.textContent = top.field;
  box.append(h);
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
    b.addEventListener("click", () => onToggle(top.field, value));
    box.append(b);
  }
  return box;
}
