// hyperbatch/timeline: records what a Batcher did through its onBatchStart/onBatchEnd hooks and
// draws it as one self-contained SVG (no scripts, no styles: presentation attributes only, so it
// renders under a strict Content-Security-Policy; hover text is SVG <title>). Pure JS, no wasm:
// this module imports nothing. docs/timeline.md is the guide.

const OUTCOMES = ["ok", "partial", "retried", "bisected", "failed", "timeout", "inflight"];
const COLORS = {
  ok: "#3a9d5d",
  partial: "#e3b505",
  retried: "#f0802a",
  bisected: "#7b5cd6",
  failed: "#d43d3d",
  timeout: "#1f6fb2",
  inflight: "#b8c4d0",
};
const LABELS = {
  ok: "ok",
  partial: "partial (some items failed)",
  retried: "retried",
  bisected: "bisected",
  failed: "failed",
  timeout: "timed out",
  inflight: "in flight",
};
// Latency buckets, upper bounds in ms (1-2-5 series); one more bucket holds everything above.
const BOUNDS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000];
const DEFAULT_LIMIT = 1000;
const MAX_ROWS = 8; // rows per lane for overlapping calls; more overlap shares the last row

// Markup characters become entities; characters XML 1.0 forbids (C0 controls but tab, LF and CR;
// lone surrogates; U+FFFE, U+FFFF) become U+FFFD, so that the SVG stays well-formed XML whatever
// a key, a batcher name or an error message holds.
const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s) =>
  String(s).replace(
    /[&<>"']|[\uD800-\uDBFF][\uDC00-\uDFFF]|[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/g,
    (c) => (c.length === 2 ? c : ENTITIES[c] ?? "\uFFFD"), // a surrogate pair stays
  );
const num = (x) => String(Math.round(x * 100) / 100);
const ms = (x) => (x >= 1000 ? `${num(x / 1000)} s` : `${num(x)} ms`);

/** A thrown value's code (a string, else undefined) and text; a getter or Proxy that throws reads as absent. */
function errorParts(err) {
  const get = (name) => {
    try {
      return err[name];
    } catch {
      return undefined;
    }
  };
  const code = err !== null && typeof err === "object" ? get("code") : undefined;
  let text;
  try {
    text = String(err !== null && typeof err === "object" ? get("message") ?? err : err);
  } catch {
    text = typeof err; // a null-prototype object, a revoked Proxy
  }
  return { code: typeof code === "string" ? code : undefined, text };
}

/**
 * A key's text. A Batcher's keys are strings or numbers, but hooks fed by other code may carry any
 * value (TimelineHookInfo.key is `unknown`): one String() cannot convert (a null-prototype object,
 * a toString that throws, a revoked Proxy) reads as its type rather than breaking every drawing.
 */
function keyText(key) {
  try {
    return String(key);
  } catch {
    return `[${typeof key}]`;
  }
}

/** A result entry that re-queued its item (a retryable item error); a getter or Proxy that throws reads as absent. */
function requeued(entry) {
  try {
    return entry instanceof Error && entry.retryable === true;
  } catch {
    return false;
  }
}

/** The caller's own hook, if any; what it returns goes back to the Batcher, which catches a rejection. */
function callHook(fn, info) {
  if (typeof fn === "function") return fn(info);
}

class Timeline {
  /**
   * @param {{ limit?: number, now?: () => number }} [options] `limit`: calls kept (a ring, the
   * oldest are dropped); `now`: the clock in ms (default performance.now), injectable for tests.
   */
  constructor(options) {
    const { limit = DEFAULT_LIMIT, now } = options ?? {};
    if (!Number.isInteger(limit) || limit < 1) {
      throw Object.assign(new RangeError("Timeline: limit must be an integer >= 1"), { code: "E_CONFIG" });
    }
    if (now !== undefined && typeof now !== "function") {
      throw Object.assign(new TypeError("Timeline: now must be a function"), { code: "E_CONFIG" });
    }
    this.limit = limit;
    this.now = now ?? (() => performance.now());
    this.hookSets = 0; // hooks() made: each set's calls are matched by its own number (ids are per batcher)
    this.clear();
  }

  /** Forgets every call and latency recorded so far. */
  clear() {
    // Call records, oldest first: the live ones are ring[first..], at most `limit` (evicting by
    // moving `first`, and compacting once per `limit` evictions, keeps each call O(1); shift()
    // copied the whole ring per call once it was full).
    this.ring = [];
    this.first = 0;
    this.open = new Map(); // `${set}\u0000${id}` (set: the hooks() that recorded it) → record still in flight
    // Per hooks() set (one batcher): item (object or primitive) → the last record that carried
    // it. Per set, not per name: two batchers under one name (or none) never resend each other's items.
    this.lastCall = new Map();
    // Two bounded histograms: add → settle (track()) and call durations; svg() draws the first
    // when anything was tracked, else the second.
    const histogram = () => ({ counts: new Array(BOUNDS.length + 1).fill(0), n: 0, sum: 0, max: 0 });
    this.latency = { adds: histogram(), calls: histogram() };
    this.dropped = 0;
    this.seq = 0;
  }

  /**
   * `{ onBatchStart, onBatchEnd }` recording into this timeline; spread them into Batcher options.
   * `name` labels the lanes when one timeline records several batchers.
   */
  hooks(name) {
    const source = name === undefined ? "" : String(name), set = this.hookSets++;
    return {
      onBatchStart: (info) => this.start(source, info, set),
      onBatchEnd: (info) => this.end(source, info, set),
    };
  }

  /**
   * Batcher options with this timeline's hooks added: the options' own onBatchStart/onBatchEnd
   * still run, after the recording, with the same info. Returns a new object.
   */
  attach(options, name) {
    const mine = this.hooks(name);
    const { onBatchStart, onBatchEnd } = options ?? {};
    return {
      ...options,
      onBatchStart: (info) => {
        mine.onBatchStart(info);
        return callHook(onBatchStart, info);
      },
      onBatchEnd: (info) => {
        mine.onBatchEnd(info);
        return callHook(onBatchEnd, info);
      },
    };
  }

  /**
   * Records add → settle latency: call it with the promise `add()` returned, right away. Returns
   * a promise that settles as that one does; use it in its place (a rejection nobody handles is
   * still reported as unhandled, on the promise returned here).
   */
  track(promise) {
    const t0 = this.now();
    const done = () => record(this.latency.adds, this.now() - t0);
    return Promise.resolve(promise).then(
      (value) => {
        done();
        return value;
      },
      (err) => {
        done();
        throw err;
      },
    );
  }

  /** `batcher.add(item, opts)`, tracked: the promise add() returned. */
  add(batcher, item, opts) {
    return this.track(batcher.add(item, opts));
  }

  start(source, info, set) {
    const items = Array.isArray(info?.items) ? info.items : [];
    const rec = {
      seq: this.seq++,
      source,
      set,
      id: info?.id,
      key: info?.key,
      size: info?.size ?? items.length,
      weight: info?.weight,
      attempt: info?.attempt ?? 1,
      start: this.now(),
      end: undefined,
      durationMs: undefined,
      succeeded: 0,
      failed: 0,
      error: undefined,
      errorParts: undefined, // { code, text } of a batch-level error, read once (see errorParts)
      outcome: "inflight",
      items,
      parents: [], // [{ rec, kind: "retry" | "bisect" }]
    };
    // Its parents: the calls that carried these items before (a resend, a bisect half).
    const seen = new Set();
    const last = this.itemsOf(set);
    for (const item of items) {
      const p = last.get(item);
      if (p !== undefined && !seen.has(p)) {
        seen.add(p);
        const kind = rec.attempt > p.attempt ? "retry" : "bisect";
        rec.parents.push({ rec: p, kind });
        if (p.error !== undefined && p.outcome === "failed") p.outcome = kind === "retry" ? "retried" : "bisected";
      }
      last.set(item, rec);
    }
    this.open.set(`${set}\u0000${rec.id}`, rec);
    this.ring.push(rec);
    if (this.ring.length - this.first > this.limit) {
      const old = this.ring[this.first];
      this.ring[this.first++] = undefined;
      this.evict(old);
      if (this.first >= this.limit) {
        this.ring = this.ring.slice(this.first);
        this.first = 0;
      }
    }
  }

  // Drops from the item index the items of `rec` for which settled(i) holds.
  forget(rec, settled) {
    const last = this.itemsOf(rec.set);
    rec.items.forEach((item, i) => {
      if (settled(i) && last.get(item) === rec) last.delete(item);
    });
  }

  itemsOf(set) {
    let m = this.lastCall.get(set);
    if (m === undefined) this.lastCall.set(set, (m = new Map()));
    return m;
  }

  evict(old) {
    this.dropped++;
    this.open.delete(`${old.set}\u0000${old.id}`);
    this.forget(old, () => true);
    old.items = [];
    old.parents = [];
  }

  end(source, info, set) {
    const k = `${set}\u0000${info?.id}`;
    const rec = this.open.get(k);
    if (rec === undefined) return; // started before recording began, or dropped from the ring
    this.open.delete(k);
    rec.end = this.now();
    rec.durationMs = info?.durationMs;
    rec.succeeded = info?.succeeded ?? 0;
    rec.failed = info?.failed ?? 0;
    rec.error = info?.error;
    if (rec.error !== undefined) {
      rec.errorParts = errorParts(rec.error);
      // A batch-level failure: final when it failed its items; "retried"/"bisected" once a later
      // call carries them (start() above). A timeout stays "timeout" either way.
      rec.outcome = rec.errorParts.code === "E_TIMEOUT" ? "timeout" : "failed";
      if (rec.failed > 0) this.forget(rec, () => true);
    } else {
      rec.outcome = rec.failed > 0 || rec.succeeded < rec.size ? "partial" : "ok";
      // Items settled for good need no link to a later call: drop them from the index.
      const results = Array.isArray(info?.results) ? info.results : [];
      this.forget(rec, (i) => !requeued(results[i]));
    }
    record(this.latency.calls, rec.end - rec.start);
  }

  /** The records kept, oldest first. */
  live() {
    return this.first === 0 ? this.ring : this.ring.slice(this.first);
  }

  /** The recorded calls, oldest first: plain objects (items are not included). */
  calls() {
    return this.live().map((r) => ({
      source: r.source,
      id: r.id,
      key: r.key,
      size: r.size,
      attempt: r.attempt,
      start: r.start,
      end: r.end,
      durationMs: r.durationMs,
      succeeded: r.succeeded,
      failed: r.failed,
      outcome: r.outcome,
      errorCode: r.errorParts?.code,
      parents: r.parents.map((p) => ({ id: p.rec.id, kind: p.kind })),
    }));
  }

  /** The drawing: a self-contained SVG document fragment (string). */
  svg(options) {
    // A null title is none, as an undefined one (not the text "null").
    const { width: w } = options ?? {}, title = options?.title ?? undefined;
    // A width that is no finite number (a string from a form field, NaN) would draw NaN coordinates.
    const width = Math.max(480, Number.isFinite(w) ? w : 960);
    const labelW = 180;
    const padR = 16;
    const plotW = width - labelW - padR;
    const rowH = 14;
    const gap = 3;
    const calls = this.live();
    const inRing = new Set(calls);

    // Time range.
    let t0 = Infinity;
    let t1 = -Infinity;
    const nowT = this.now();
    for (const r of calls) {
      t0 = Math.min(t0, r.start);
      t1 = Math.max(t1, r.end ?? nowT);
    }
    if (!Number.isFinite(t0)) [t0, t1] = [0, 1];
    if (t1 - t0 <= 0) t1 = t0 + 1;
    const x = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;

    // Lanes: one per (batcher name, key), in order of first appearance; rows inside a lane for
    // calls that overlap in time (greedy interval packing).
    const lanes = new Map();
    for (const r of calls) {
      const keyLabel = r.key === undefined ? "default" : keyText(r.key);
      // The batcher's own key identity: no key, the string "1" and the number 1 are three queues
      // (and the string "default" is not the default queue), so three lanes.
      const lid = `${r.source}\u0000${r.key === undefined ? "" : typeof r.key}\u0000${keyLabel}`;
      let lane = lanes.get(lid);
      if (lane === undefined) {
        lane = { source: r.source, key: keyLabel, rowEnds: [], placed: [] };
        lanes.set(lid, lane);
      }
      const end = r.end ?? nowT;
      let row = lane.rowEnds.findIndex((e) => e <= r.start);
      if (row < 0) row = lane.rowEnds.length < MAX_ROWS ? lane.rowEnds.length : MAX_ROWS - 1;
      lane.rowEnds[row] = Math.max(lane.rowEnds[row] ?? -Infinity, end);
      lane.placed.push([r, row]);
    }

    const out = [];
    const top = title === undefined ? 10 : 34;
    let y = top + 22; // below the axis labels
    const pos = new Map(); // record → { x0, x1, yMid }
    const bars = [];
    const laneMarks = [];
    // Lanes of one batcher together, each group where its batcher first appears.
    const order = [...new Set([...lanes.values()].map((l) => l.source))];
    const sorted = [...lanes.values()].sort((a, b) => order.indexOf(a.source) - order.indexOf(b.source));
    for (const lane of sorted) {
      const rows = Math.max(1, lane.rowEnds.length);
      const h = rows * (rowH + gap) + gap;
      const label = lane.source === "" ? lane.key : `${lane.source} · ${lane.key}`;
      laneMarks.push(
        `<g class="lane" data-key="${esc(lane.key)}" data-batcher="${esc(lane.source)}">` +
          `<rect x="0" y="${num(y)}" width="${width}" height="${num(h)}" fill="${laneMarks.length % 2 ? "#ffffff" : "#f3f5f8"}"/>` +
          `<text x="8" y="${num(y + Math.min(h, rowH + gap) / 2 + 4)}" font-size="12" fill="#222">${esc(truncate(label, 26))}<title>${esc(label)}</title></text></g>`,
      );
      for (const [r, row] of lane.placed) {
        const x0 = x(r.start);
        const x1 = Math.max(x0 + 1, x(r.end ?? nowT));
        const by = y + gap + row * (rowH + gap);
        pos.set(r, { x0, x1, yMid: by + rowH / 2 });
        const tip = [
          `${label}: call ${r.id}, ${LABELS[r.outcome]}`,
          `size ${r.size}${r.weight !== undefined && r.weight !== r.size ? `, weight ${r.weight}` : ""}, attempt ${r.attempt}`,
          r.end === undefined ? "in flight" : `duration ${ms(r.end - r.start)}`,
          r.end !== undefined && r.error === undefined ? `succeeded ${r.succeeded}, failed ${r.failed}` : "",
          r.error !== undefined ? `error: ${r.errorParts.code ?? ""} ${r.errorParts.text}`.trim() : "",
        ].filter(Boolean);
        bars.push(
          `<rect class="call" data-id="${esc(r.id)}" data-key="${esc(lane.key)}" data-batcher="${esc(r.source)}" ` +
            `data-outcome="${r.outcome}" data-attempt="${esc(r.attempt)}" data-size="${esc(r.size)}" ` +
            `x="${num(x0)}" y="${num(by)}" width="${num(x1 - x0)}" height="${rowH}" rx="2" fill="${COLORS[r.outcome]}">` +
            `<title>${esc(tip.join("\n"))}</title></rect>`,
        );
      }
      y += h;
    }
    const lanesBottom = y;

    // Links: parent end → child start, for parents still in the ring.
    const links = [];
    for (const r of calls) {
      for (const { rec: p, kind } of r.parents) {
        if (!inRing.has(p)) continue;
        const a = pos.get(p);
        const b = pos.get(r);
        links.push(
          `<line class="link" data-kind="${kind}" data-from="${esc(p.id)}" data-to="${esc(r.id)}" ` +
            `x1="${num(a.x1)}" y1="${num(a.yMid)}" x2="${num(b.x0)}" y2="${num(b.yMid)}" ` +
            `stroke="${kind === "retry" ? COLORS.retried : COLORS.bisected}" stroke-width="1.2" marker-end="url(#hb-arrow-${kind})">` +
            `<title>${kind === "retry" ? "retry" : "bisect half"} of call ${esc(p.id)}</title></line>`,
        );
      }
    }

    // Time axis: ~6 round ticks.
    const axis = [];
    const span = t1 - t0;
    const step = niceStep(span / 6);
    axis.push(`<line x1="${labelW}" y1="${top + 18}" x2="${labelW + plotW}" y2="${top + 18}" stroke="#888"/>`);
    for (let t = 0; t <= span + 1e-9; t += step) {
      const tx = x(t0 + t);
      axis.push(
        `<line x1="${num(tx)}" y1="${top + 14}" x2="${num(tx)}" y2="${num(lanesBottom)}" stroke="#d8dde3" stroke-width="0.5"/>` +
          `<text x="${num(tx)}" y="${top + 10}" font-size="10" text-anchor="middle" fill="#555">${ms(t)}</text>`,
      );
    }

    // Legend, with counts.
    const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
    for (const r of calls) counts[r.outcome]++;
    let ly = lanesBottom + 22;
    const legend = [];
    let lx = 8;
    for (const o of OUTCOMES) {
      if (o === "inflight" && counts[o] === 0) continue;
      const text = `${LABELS[o]} (${counts[o]})`;
      legend.push(
        `<g class="legend" data-outcome="${o}" data-count="${counts[o]}"><rect x="${lx}" y="${ly - 10}" width="12" height="12" rx="2" fill="${COLORS[o]}"/>` +
          `<text x="${lx + 16}" y="${ly}" font-size="11" fill="#222">${esc(text)}</text></g>`,
      );
      lx += 24 + text.length * 6.2;
    }
    for (const [kind, text] of [["retry", "retry"], ["bisect", "bisect half"]]) {
      legend.push(
        `<g class="legend-link" data-kind="${kind}"><line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${kind === "retry" ? COLORS.retried : COLORS.bisected}" marker-end="url(#hb-arrow-${kind})"/>` +
          `<text x="${lx + 24}" y="${ly}" font-size="11" fill="#222">${esc(text)}</text></g>`,
      );
      lx += 34 + text.length * 6.2;
    }
    ly += 12;

    // Histogram.
    const tracked = this.latency.adds.n > 0;
    const h = tracked ? this.latency.adds : this.latency.calls;
    const hTop = ly + 26;
    const hH = 90;
    const what = tracked ? "latency, add → settle" : "latency, call durations (no adds tracked)";
    const hist = [
      `<text class="hist-title" x="8" y="${hTop - 8}" font-size="12" fill="#222">${esc(
        `${what}: ${h.n} samples${h.n ? `, mean ${ms(h.sum / h.n)}, max ${ms(h.max)}` : ""}`,
      )}</text>`,
    ];
    const nb = h.counts.length;
    const bw = plotW / nb;
    const peak = Math.max(1, ...h.counts);
    h.counts.forEach((c, i) => {
      const lo = i === 0 ? 0 : BOUNDS[i - 1];
      const hi = i < BOUNDS.length ? BOUNDS[i] : Infinity;
      const bh = (c / peak) * hH;
      const bx = labelW + i * bw;
      const label = hi === Infinity ? `> ${ms(lo)}` : `≤ ${ms(hi)}`;
      hist.push(
        `<rect class="hist-bar" data-lo="${lo}" data-hi="${hi}" data-count="${c}" x="${num(bx + 2)}" y="${num(hTop + hH - bh)}" ` +
          `width="${num(bw - 4)}" height="${num(bh)}" fill="#5b7fa6"><title>${esc(`${label}: ${c}`)}</title></rect>` +
          `<text x="${num(bx + bw / 2)}" y="${hTop + hH + 12}" font-size="9" text-anchor="middle" fill="#555">${esc(label)}</text>`,
      );
    });
    hist.push(`<line x1="${labelW}" y1="${hTop + hH}" x2="${labelW + plotW}" y2="${hTop + hH}" stroke="#888"/>`);
    const height = hTop + hH + 24;

    const note =
      this.dropped > 0 ? ` (the last ${calls.length}; ${this.dropped} older calls dropped)` : "";
    out.push(
      `<svg xmlns="http://www.w3.org/2000/svg" class="hyperbatch-timeline" width="${width}" height="${num(height)}" ` +
        `viewBox="0 0 ${width} ${num(height)}" font-family="system-ui, sans-serif" role="img">`,
      `<title>${esc(`${title ?? "hyperbatch timeline"}: ${calls.length} calls${note}`)}</title>`,
      `<defs>${["retry", "bisect"]
        .map(
          (k) =>
            `<marker id="hb-arrow-${k}" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto">` +
            `<path d="M0,0 L6,3 L0,6 z" fill="${k === "retry" ? COLORS.retried : COLORS.bisected}"/></marker>`,
        )
        .join("")}</defs>`,
      `<rect x="0" y="0" width="${width}" height="${num(height)}" fill="#ffffff"/>`,
      title === undefined ? "" : `<text x="8" y="20" font-size="15" font-weight="bold" fill="#111">${esc(title)}${esc(note)}</text>`,
      ...laneMarks,
      ...axis,
      ...bars,
      ...links,
      ...legend,
      ...hist,
      "</svg>",
    );
    return out.filter(Boolean).join("\n");
  }

  /**
   * A full HTML page holding the SVG: no scripts, no styles, no external resources, and a
   * Content-Security-Policy meta tag that forbids them. `text` (optional) is shown as
   * preformatted text above the drawing (a run's printed table, say).
   */
  html(options) {
    const { width } = options ?? {}, title = options?.title ?? "hyperbatch timeline", text = options?.text ?? undefined;
    const svg = this.svg({ width });
    const body = text === undefined ? svg : `<pre>${esc(text)}</pre>\n${svg}`;
    return [
      "<!doctype html>",
      '<html lang="en">',
      "<head>",
      '<meta charset="utf-8">',
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'">`,
      '<meta name="viewport" content="width=device-width">',
      `<title>${esc(title)}</title>`,
      "</head>",
      "<body>",
      `<h1>${esc(title)}</h1>`,
      body,
      "</body>",
      "</html>",
      "",
    ].join("\n");
  }
}

function record(h, d) {
  if (!Number.isFinite(d)) return;
  let i = 0;
  while (i < BOUNDS.length && d > BOUNDS[i]) i++;
  h.counts[i]++;
  h.n++;
  h.sum += d;
  if (d > h.max) h.max = d;
}

// Cuts the middle: lane labels differ at their ends (URLs by port, say).
// By code points: a cut between the halves of a surrogate pair would leave a lone surrogate.
function truncate(s, n) {
  const c = [...s];
  return c.length > n ? `${c.slice(0, 10).join("")}…${c.slice(c.length - (n - 11)).join("")}` : s;
}

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

export { Timeline };
