// Requests to the LogCaster HTTP API: the bearer token (asked for once per tab, kept in
// sessionStorage, sent as a header, never in the URL), JSON and streamed NDJSON.

const KEY = "logcaster.token";
let asking = null; // one token prompt at a time

export class ApiError extends Error {
  name = "ApiError";
}

function askToken(message) {
  if (asking) return asking;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  document.getElementById("token-error").textContent = message;
  asking = new Promise((resolve) => {
    const done = (ev) => {
      ev.preventDefault();
      form.removeEventListener("submit", done);
      const token = input.value;
      input.value = "";
      dialog.close();
      asking = null;
      resolve(token);
    };
    form.addEventListener("submit", done);
    dialog.showModal();
    input.focus();
  });
  return asking;
}

function headers(extra) {
  const h = new Headers(extra || {});
  const token = sessionStorage.getItem(KEY);
  if (token) h.set("Authorization", `Bearer ${token}`);
  return h;
}

// fetch() that asks for the token on 401 and tries again with it.
export async function apiFetch(url, opts = {}) {
  let refused = false;
  for (;;) {
    const resp = await fetch(url, { ...opts, headers: headers(opts.headers), credentials: "omit" });
    if (resp.status !== 401) return resp;
    await resp.body?.cancel();
    const had = sessionStorage.getItem(KEY);
    const message = had || refused ? "Token refused: try again." : "";
    refused = true;
    const token = await askToken(message);
    sessionStorage.setItem(KEY, token);
  }
}

async function failure(resp) {
  try {
    const body = await resp.json();
    if (body && typeof body.error === "string") return new ApiError(body.error);
  } catch {
    // not JSON
  }
  return new ApiError(`HTTP ${resp.status}`);
}

export async function getJSON(path, params, signal) {
  const resp = await apiFetch(`${path}?${params}`, { signal });
  if (!resp.ok) throw await failure(resp);
  return resp.json();
}

// Calls onBatch(records) for each chunk of complete NDJSON lines as they arrive.
export async function streamNDJSON(path, params, signal, onBatch, onOpen) {
  const resp = await apiFetch(`${path}?${params}`, {
    signal,
    headers: { Accept: "application/x-ndjson" },
  });
  if (!resp.ok) throw await failure(resp);
  if (onOpen) onOpen();
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = rest + value;
    const cut = text.lastIndexOf("\n");
    if (cut < 0) {
      rest = text;
      continue;
    }
    rest = text.slice(cut + 1);
    const lines = text.slice(0, cut).split("\n");
    const batch = [];
    for (const line of lines) if (line) batch.push(JSON.parse(line));
    if (batch.length) onBatch(batch);
  }
  if (rest.trim()) onBatch([JSON.parse(rest)]);
}
