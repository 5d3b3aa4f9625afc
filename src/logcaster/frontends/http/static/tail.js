// The live tail: /api/v1/tail as a streamed NDJSON fetch. When the stream ends or fails
// (a proxy timeout, a network hiccup, a server restart) it reconnects with backoff and
// asks for the lines since the last receive time it saw; the overlap is dropped.

import { streamNDJSON } from "./api.js";

const BACKOFF_MS = [250, 500, 1000, 2000, 5000];

// Unix seconds (as text) a millisecond before an RFC 3339 time: the `since` to resume
// from (the server's time parsing is not exact to the nanosecond).
function before(rfc3339) {
  return ((Date.parse(rfc3339.slice(0, 23) + "Z") - 1) / 1000).toFixed(3);
}

export class LiveTail {
  // onRecords(records) gets lines and {skipped: N} markers, in order;
  // onState(text) describes the connection.
  constructor(onRecords, onState, reconnectLimit) {
    this.onRecords = onRecords;
    this.reconnectLimit = reconnectLimit;
    this.onState = onState;
    this.controller = null;
    this.running = false;
    this.lastTime = "";
    this.atLast = new Set(); // lines seen with receive time lastTime
  }

  start(params, since) {
    this.stop();
    this.running = true;
    this.lastTime = "";
    this.atLast = new Set();
    this.loop(params, since);
  }

  stop() {
    this.running = false;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  // Drop what was already shown: older than the last time seen, or seen at it.
  fresh(records) {
    const out = [];
    for (const rec of records) {
      if (rec.skipped !== undefined) {
        out.push(rec);
        continue;
      }
      if (rec.time < this.lastTime) continue;
      if (rec.time === this.lastTime) {
        if (this.atLast.has(rec.line)) continue;
      } else {
        this.lastTime = rec.time;
        this.atLast = new Set();
      }
      this.atLast.add(rec.line);
      out.push(rec);
    }
    return out;
  }

  async loop(params, since) {
    let attempt = 0;
    while (this.running) {
      const controller = new AbortController();
      this.controller = controller;
      const query = new URLSearchParams(params);
      const from = this.lastTime ? before(this.lastTime) : since;
      if (from) query.set("since", from);
      // a reconnection's backfill is every line missed, up to what the list keeps
      if (this.lastTime) query.set("limit", String(this.reconnectLimit));
      this.onState(attempt ? "reconnecting…" : "connecting…");
      try {
        await streamNDJSON(
          "/api/v1/tail",
          query,
          controller.signal,
          (batch) => {
            const recs = this.fresh(batch);
            if (recs.length) this.onRecords(recs);
          },
          () => {
            attempt = 0;
            this.onState("live");
          },
        );
      } catch (err) {
        if (!this.running || controller.signal.aborted) return;
        if (err && err.name === "ApiError") {
          this.onState(`error: ${err.message}`);
          this.running = false;
          return;
        }
      }
      if (!this.running) return;
      const wait = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt++;
      this.onState(`connection lost, reconnecting in ${wait} ms`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
