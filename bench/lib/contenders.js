// The contenders, the same module in every runtime (Node, Deno, Chromium). Each driver hands in
// the libraries it loaded: `libs = { Batcher, HyperDataLoader, DataLoader, PromiseBatcher,
// batshit }` (peers from the esbuild bundle dist/peers.js, hyperbatch from the built package).
//
// Every contender batches by 100 and its transport maps x => x * 2 (no I/O), so what is
// measured is each library's own cost per item. Transports:
//   async: every contender's transport returns a Promise of its results.
//   sync:  those that accept a plain return value get one (hyperbatch, promise-batcher, the
//          floor); DataLoader's batch function and batshit's fetcher must return a Promise, so
//          theirs stays `Promise.resolve(...)`.
// batshit resolves each fetch from the fetcher's result with a resolver; its idiomatic
// indexedResolver needs a record keyed by query, so its fetcher builds `{ [x]: x * 2 }` instead of
// an array (a position lookup would cost O(batch) per item).

export const BATCH = 100;
export const f = (x) => x * 2;
const mapArray = (xs) => {
  const out = new Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = f(xs[i]);
  return out;
};
const mapRecord = (xs) => {
  const out = {};
  for (let i = 0; i < xs.length; i++) out[xs[i]] = f(xs[i]);
  return out;
};
const RESOLVED = Promise.resolve();

/**
 * The raw-promise floor: the least any promise-per-item batcher must do. A promise per item with
 * its resolver kept, resolved in groups of BATCH from one microtask per group (async: after the
 * "transport"'s promise). Given `{ signal }`, it also does the least a batcher honouring that
 * signal must: add an abort listener, and remove it when the item settles.
 */
class RawFloor {
  constructor(async) {
    this.async = async;
    this.cur = null;
  }
  add(x, o) {
    let b = this.cur;
    if (b === null) {
      b = this.cur = { items: [], resolvers: [], listening: null };
      RESOLVED.then(() => {
        if (this.cur === b) this.cur = null;
        const settle = (out) => {
          const rs = b.resolvers;
          for (let i = 0; i < rs.length; i++) rs[i](out[i]);
          const ls = b.listening;
          if (ls !== null) for (let i = 0; i < ls.length; i += 2) ls[i].removeEventListener("abort", ls[i + 1]);
        };
        if (this.async) Promise.resolve(mapArray(b.items)).then(settle);
        else settle(mapArray(b.items));
      });
    }
    b.items.push(x);
    const p = new Promise((resolve) => b.resolvers.push(resolve));
    if (o !== undefined && o.signal !== undefined) {
      const listener = () => {};
      o.signal.addEventListener("abort", listener, { once: true });
      (b.listening ??= []).push(o.signal, listener);
    }
    if (b.items.length === BATCH) this.cur = null;
    return p;
  }
}

/**
 * The raw floor with K keys: item x to queue x % K, a queue resolved as one group when it holds
 * BATCH items (from a microtask) or at the end of the microtask it started in. Its promises settle
 * key by key, not in the order they were made: what any keyed batcher pays in the promises alone.
 */
class RawKeyedFloor {
  constructor(k) {
    this.k = k;
    this.queues = new Map();
    this.armed = false;
  }
  add(x) {
    const key = x % this.k;
    let b = this.queues.get(key);
    if (b === undefined) {
      b = { items: [], resolvers: [] };
      this.queues.set(key, b);
      if (!this.armed) {
        this.armed = true;
        RESOLVED.then(() => {
          this.armed = false;
          const rest = [...this.queues.values()];
          this.queues.clear();
          for (const q of rest) settleGroup(q);
        });
      }
    }
    b.items.push(x);
    const p = new Promise((resolve) => b.resolvers.push(resolve));
    if (b.items.length === BATCH) {
      this.queues.delete(key);
      RESOLVED.then(() => settleGroup(b));
    }
    return p;
  }
}

function settleGroup(b) {
  const out = mapArray(b.items), rs = b.resolvers;
  for (let i = 0; i < rs.length; i++) rs[i](out[i]);
}

/** hyperbatch's options for the throughput runs: batches of 100 sent at the end of the tick. */
export function hyperOptions(transport, queued, extra) {
  return { transport, maxBatchSize: BATCH, maxWaitMs: 0, maxQueued: queued + 1, maxInFlight: 1e9, ...extra };
}

async function closeHyper(b) {
  await b.close();
}

/**
 * Throughput contenders for one transport kind ("sync" | "async"). Each has `callExpr`, the
 * per-item call its driver loop is compiled with (each contender gets its own compiled loop, so
 * V8's inline caches never mix libraries), and `create(queued)`.
 */
export function throughputContenders(libs, kind) {
  const async = kind === "async";
  const arrayT = async ? (xs) => Promise.resolve(mapArray(xs)) : mapArray;
  const list = [
    { key: "floor", name: "raw floor", callExpr: "target.add(i)", create: () => new RawFloor(async) },
    {
      key: "hyperbatch",
      name: "hyperbatch",
      callExpr: "target.add(i)",
      create: (queued) => new libs.Batcher(hyperOptions(async ? (b) => Promise.resolve(mapArray(b.items)) : (b) => mapArray(b.items), queued)),
      dispose: closeHyper,
    },
    {
      key: "dataloader",
      name: "DataLoader",
      callExpr: "target.load(i)",
      create: () => new libs.DataLoader((xs) => Promise.resolve(mapArray(xs)), { cache: false, maxBatchSize: BATCH }),
    },
    {
      key: "promise-batcher",
      name: "promise-batcher",
      callExpr: "target.getResult(i)",
      create: () => new libs.PromiseBatcher({ maxBatchSize: BATCH, queuingDelay: 0, batchingFunction: arrayT }),
    },
    {
      key: "batshit",
      name: "batshit",
      slow: true, // see suite.js: fewer rounds at 1e6
      callExpr: "target.fetch(i)",
      create: () =>
        libs.batshit.create({
          fetcher: (xs) => Promise.resolve(mapRecord(xs)),
          resolver: libs.batshit.indexedResolver(),
          scheduler: libs.batshit.windowedFiniteBatchScheduler({ windowMs: 0, maxBatchSize: BATCH }),
        }),
    },
  ];
  return list;
}

/** hyperbatch with and without onBatchStart/onBatchEnd hooks (issue 16: no per-item cost). */
export function hookContenders(libs) {
  let calls = 0;
  const hook = () => {
    calls++;
  };
  const t = (b) => mapArray(b.items);
  return [
    { key: "plain", name: "hyperbatch", callExpr: "target.add(i)", create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
    {
      key: "hooks",
      name: "hyperbatch + hooks",
      callExpr: "target.add(i)",
      create: (q) => new libs.Batcher(hyperOptions(t, q, { onBatchStart: hook, onBatchEnd: hook })),
      dispose: closeHyper,
      hookCalls: () => calls,
    },
  ];
}

/**
 * hyperbatch with K keys: item i goes to key i % K (every queue live at once); the run adds all
 * N items before awaiting, so with N = 100·K every batch is still full and only the per-key cost
 * differs. "plain" has no keyOf at all. The raw floor with one key and with the most keys shows
 * what settling promises key by key (not in the order they were made) costs by itself.
 */
export function keyContenders(libs, keyCounts) {
  const t = (b) => mapArray(b.items);
  const most = Math.max(...keyCounts);
  return [
    { key: "plain", name: "1 key, no keyOf", callExpr: "target.add(i)", create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
    { key: "floor", name: "raw floor", callExpr: "target.add(i)", create: () => new RawFloor(false) },
    { key: `floorKeys${most}`, name: `raw floor, ${most} keys`, callExpr: "target.add(i)", create: () => new RawKeyedFloor(most) },
    ...keyCounts.map((k) => ({
      key: `keys${k}`,
      name: `${k} key${k === 1 ? "" : "s"} (keyOf)`,
      callExpr: "target.add(i)",
      create: (q) => new libs.Batcher(hyperOptions(t, q, { keyOf: (x) => x % k })),
      dispose: closeHyper,
    })),
  ];
}

/**
 * hyperbatch items with an AbortSignal each (never aborted), one signal shared by every item, or a
 * deadline each (an hour away).
 * The per-item option objects and controllers are made once, outside the timing: only the
 * library's work on them is measured. The floor with a signal each shows what listening costs
 * any batcher that honours per-item signals.
 */
export function optionContenders(libs, n) {
  const t = (b) => mapArray(b.items);
  const signals = new Array(n);
  for (let i = 0; i < n; i++) signals[i] = { signal: new AbortController().signal };
  const shared = new Array(n).fill({ signal: new AbortController().signal });
  const deadlines = new Array(n);
  const far = Date.now() + 3_600_000;
  for (let i = 0; i < n; i++) deadlines[i] = { deadline: far };
  return [
    { key: "floor", name: "raw floor", callExpr: "target.add(i)", create: () => new RawFloor(false) },
    { key: "floorSignal", name: "raw floor, signal each", callExpr: "target.add(i, extra[i])", extra: signals, create: () => new RawFloor(false) },
    { key: "plain", name: "plain", callExpr: "target.add(i)", create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
    { key: "signal", name: "signal each", callExpr: "target.add(i, extra[i])", extra: signals, create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
    { key: "sharedSignal", name: "one signal shared by all", slow: true, callExpr: "target.add(i, extra[i])", extra: shared, create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
    { key: "deadline", name: "deadline each", callExpr: "target.add(i, extra[i])", extra: deadlines, create: (q) => new libs.Batcher(hyperOptions(t, q)), dispose: closeHyper },
  ];
}

/**
 * Interval-flush lateness: each contender with a 'maxWaitMs'-like window of `windowMs`, and
 * `onCall` called when its transport runs. DataLoader has no window of its own; its documented
 * way to get one is `batchScheduleFn: (cb) => setTimeout(cb, ms)`. "setTimeout" is the host
 * timer alone, the floor any timer-based window pays.
 */
export function windowContenders(libs, windowMs, onCall) {
  return [
    {
      key: "setTimeout",
      name: "setTimeout alone",
      create: () => ({ add: (x) => new Promise((r) => setTimeout(() => (onCall(), r(f(x))), windowMs)) }),
      add: (t, x) => t.add(x),
    },
    {
      key: "hyperbatch",
      name: "hyperbatch",
      create: () => new libs.Batcher({ transport: (b) => (onCall(), mapArray(b.items)), maxBatchSize: BATCH, maxWaitMs: windowMs }),
      add: (t, x) => t.add(x),
      dispose: closeHyper,
    },
    {
      key: "dataloader",
      name: "DataLoader (batchScheduleFn)",
      create: () =>
        new libs.DataLoader((xs) => (onCall(), Promise.resolve(mapArray(xs))), {
          cache: false,
          maxBatchSize: BATCH,
          batchScheduleFn: (cb) => setTimeout(cb, windowMs),
        }),
      add: (t, x) => t.load(x),
    },
    {
      key: "promise-batcher",
      name: "promise-batcher",
      create: () => new libs.PromiseBatcher({ maxBatchSize: BATCH, queuingDelay: windowMs, batchingFunction: (xs) => (onCall(), mapArray(xs)) }),
      add: (t, x) => t.getResult(x),
    },
    {
      key: "batshit",
      name: "batshit",
      create: () =>
        libs.batshit.create({
          fetcher: (xs) => (onCall(), Promise.resolve(mapRecord(xs))),
          resolver: libs.batshit.indexedResolver(),
          scheduler: libs.batshit.windowedFiniteBatchScheduler({ windowMs, maxBatchSize: BATCH }),
        }),
      add: (t, x) => t.fetch(x),
    },
  ];
}
