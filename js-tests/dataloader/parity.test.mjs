// Differential test: random programs run against DataLoader 2.2.3 (npm) and hyperbatch/dataloader
// must make the same batchLoadFn calls and settle every load the same way ("a program that
// swaps `dataloader` for `hyperbatch/dataloader` behaves the same").
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import Hyper from "hyperbatch/dataloader";

const Upstream = createRequire(import.meta.url)("dataloader");
const SCENARIOS = Number(process.env.PARITY_SCENARIOS ?? 300);

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const macrotask = () => new Promise((resolve) => setImmediate(resolve));

/**
 * A random program: loader options and a list of operations, the same for both runs. The
 * dimensions added by audit 17 come from a second generator, so the first one's programs stay
 * as they were: a second loader, more schedules (at once and again, twice, process.nextTick), a
 * custom cacheMap, a cacheKeyFn that maps every key to NaN, a batchLoadFn that sorts its keys in
 * place or loads from inside itself, loads made in a `.then` of another load, user microtasks.
 */
function program(seed) {
  const rand = mulberry32(seed);
  const more = mulberry32(seed ^ 0x5eed17);
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const options = {};
  const size = pick([undefined, undefined, 1, 2, 3]);
  if (size !== undefined) options.maxBatchSize = size;
  if (rand() < 0.1) options.batch = false;
  if (rand() < 0.2) options.cache = false;
  if (rand() < 0.2) options.cacheKeyFn = "mod4";
  if (rand() < 0.2) options.batchScheduleFn = "immediate";
  if (more() < 0.15) options.batchScheduleFn = ["nextTick", "twice", "atOnceAndAgain"][Math.floor(more() * 3)];
  if (more() < 0.15) options.cacheMap = "subclass";
  if (more() < 0.05) options.cacheKeyFn = "nan";
  const backendDoes = { sortKeys: more() < 0.15, loadsInside: more() < 0.15 };
  const loaders = more() < 0.3 ? 2 : 1;
  const ops = [];
  for (let i = 0; i < 25; i++) {
    const which = loaders === 2 && more() < 0.4 ? 1 : 0;
    const r2 = more();
    if (r2 < 0.08) ops.push(["loadThen", Math.floor(more() * 10), Math.floor(more() * 10), which]);
    else if (r2 < 0.14) ops.push(["userMicrotask", i]);
    const r = rand();
    const key = Math.floor(rand() * 10);
    if (r < 0.45) ops.push(["load", key]);
    else if (r < 0.55) ops.push(["loadMany", [key, Math.floor(rand() * 10), key]]);
    else if (r < 0.62) ops.push(["prime", key, rand() < 0.3 ? "error" : `primed${key}`]);
    else if (r < 0.68) ops.push(["clear", key]);
    else if (r < 0.70) ops.push(["clearAll"]);
    else ops.push(["wait", pick(["microtask", "promises", "macrotask"])]);
    const last = ops.at(-1);
    if (which === 1 && last[0] !== "wait" && last[0] !== "loadThen") {
      while (last.length < 3) last.push(null);
      last.push(1); // [op, a, b, which loader]
    }
  }
  return { options, ops, loaders, backendDoes };
}

// An Error made in another realm (a vm context, an iframe): a value to DataLoader (`instanceof`).
const FOREIGN_ERROR = vm.runInNewContext("new Error('from another realm')");

/**
 * batchLoadFn's answer depends on the keys and the call number only. `does.sortKeys`: it sorts
 * the keys array it was given, in place, first; `does.loadsInside`: a batch holding key 3 loads
 * key 103 from inside batchLoadFn (through `this`, the loader), handed to `track`.
 */
function backend(calls, name = "", does = {}, track = undefined) {
  return function (keys) {
    if (does.sortKeys) keys.sort((x, y) => y - x);
    calls.push(name === "" ? [...keys] : [name, ...keys]);
    const n = calls.length;
    if (does.loadsInside && keys.includes(3)) track(this.load(103));
    if (keys.includes(7)) return Promise.reject(new Error(`batch ${n} has 7`));
    if (keys.includes(9) && n % 2 === 0) return Promise.resolve(keys.slice(1)); // wrong length
    if (keys.includes(6) && n % 3 === 0) return Promise.reject(`plain rejection ${n}`); // eslint-disable-line prefer-promise-reject-errors
    const values = keys.map((k) => (k === 5 ? new Error(`item ${k} in ${n}`) : k === 8 ? FOREIGN_ERROR : `v${k}@${n}`));
    let p = Promise.resolve(values);
    for (let i = 0; i < n % 3; i++) p = p.then(macrotask).then(() => values);
    return p;
  };
}

function describeOutcome(s) {
  if (s.status === "fulfilled") {
    const v = s.value;
    return Array.isArray(v) ? v.map((x) => (x instanceof Error ? `E:${x.message}` : x)) : v;
  }
  return `rejected:${s.reason instanceof Error ? s.reason.message : String(s.reason)}`;
}

class CacheMap extends Map {}
const SCHEDULES = {
  immediate: (fn) => setImmediate(fn),
  nextTick: (fn) => process.nextTick(fn),
  twice: (fn) => {
    setImmediate(fn);
    setImmediate(fn);
  },
  atOnceAndAgain: (fn) => {
    fn();
    setImmediate(fn);
  },
};

async function run(DataLoader, { options, ops, loaders: count = 1, backendDoes = {} }, extras = {}) {
  const calls = [];
  const loads = [];
  const order = []; // which load settled when, relative to the others and to user microtasks
  const track = (promise) => {
    const n = loads.length;
    promise.then(() => order.push(n), () => order.push(n)); // rejected loads are part of the comparison
    loads.push(promise);
  };
  const loaders = [];
  for (let i = 0; i < count; i++) {
    const opts = { ...options, ...extras };
    if (opts.cacheKeyFn === "mod4") opts.cacheKeyFn = (k) => k % 4;
    if (opts.cacheKeyFn === "nan") opts.cacheKeyFn = () => NaN;
    if (typeof opts.batchScheduleFn === "string") opts.batchScheduleFn = SCHEDULES[opts.batchScheduleFn];
    if (opts.cacheMap === "subclass") opts.cacheMap = new CacheMap();
    loaders.push(new DataLoader(backend(calls, count === 1 ? "" : `L${i}`, backendDoes, track), opts));
  }
  for (const [op, a, b, which = 0] of ops) {
    const loader = loaders[which];
    switch (op) {
      case "load": track(loader.load(a)); break;
      case "loadMany": track(loader.loadMany(a)); break;
      case "loadThen": track(loader.load(a).then(() => loader.load(b), () => loader.load(b))); break;
      case "userMicrotask": queueMicrotask(() => order.push(`user ${a}`)); break;
      case "prime": loader.prime(a, b === "error" ? new Error(`primed error ${a}`) : b); break;
      case "clear": loader.clear(a); break;
      case "clearAll": loader.clearAll(); break;
      case "wait":
        if (a === "microtask") await null;
        else if (a === "promises") await Promise.resolve().then(() => Promise.resolve()).then(() => null);
        else await macrotask();
    }
  }
  let settled = [];
  while (settled.length < loads.length) settled = await Promise.allSettled(loads); // loads made inside batchLoadFn too
  // A schedule that calls back twice calls batchLoadFn again after the loads have settled: let
  // that call happen in this run, not during the next one.
  if (options.batchScheduleFn === "twice" || options.batchScheduleFn === "atOnceAndAgain") await macrotask();
  return { calls, outcomes: settled.map(describeOutcome), order };
}

test(`${SCENARIOS} random programs: same batchLoadFn calls, outcomes and order of settling as DataLoader 2.2.3`, async () => {
  for (let seed = 1; seed <= SCENARIOS; seed++) {
    const p = program(seed);
    const expected = await run(Upstream, p);
    const actual = await run(Hyper, p);
    assert.deepEqual(actual, expected, `seed ${seed}: ${JSON.stringify(p)}`);
  }
});

// Extras that change nothing in these programs (no call is slow or limited): the loads settle as
// DataLoader's do, though in other promise jobs (through the loader's own Batcher). So a load
// made in a `.then` of another may find the cache as DataLoader's would a few jobs later (a failed
// batch's keys already forgotten): these programs leave "loadThen" out.
test(`${SCENARIOS} random programs with extras that change none of them (maxInFlight, timeoutMs): same batchLoadFn calls and outcomes`, async () => {
  for (const extras of [{ maxInFlight: 1000 }, { timeoutMs: 60_000 }]) {
    for (let seed = 1; seed <= SCENARIOS; seed++) {
      const p = program(seed);
      p.ops = p.ops.filter(([op]) => op !== "loadThen");
      const { calls, outcomes } = await run(Upstream, p);
      const actual = await run(Hyper, p, extras);
      assert.deepEqual({ calls: actual.calls, outcomes: actual.outcomes }, { calls, outcomes }, `${JSON.stringify(extras)}, seed ${seed}: ${JSON.stringify(p)}`);
    }
  }
});

/**
 * The promise job in which each load settles, counted from the batchLoadFn call: the same as
 * DataLoader's for a loader without extras (its batch's call is DataLoader's dispatchBatch).
 */
async function settleJobs(Loader, fail) {
  const log = [];
  let job = -1;
  const count = async () => {
    for (job = 0; job < 12; job++) await null;
  };
  const l = new Loader((keys) => {
    count();
    return fail === "reject" ? Promise.reject(new Error("down")) : Promise.resolve(keys.map((k) => (k === "e" ? new Error(k) : k)));
  });
  l.prime("hit", "hit");
  const loads = ["a", "hit", "e", "b"].map((k) => l.load(k).then(() => log.push({ k, ok: true, job }), () => log.push({ k, ok: false, job })));
  await Promise.all(loads);
  return log;
}

test("without extras, loads settle in the same promise job as DataLoader's (values, cache hits, errors, failed batches)", async () => {
  for (const fail of [undefined, "reject"]) {
    const expected = await settleJobs(Upstream, fail);
    assert.deepEqual(await settleJobs(Hyper, fail), expected, `fail: ${fail}`);
  }
});

/**
 * Loader A's dispatch tick is lost (a test's fake `process.nextTick` drops the first one), then
 * loader B loads in the next macrotask: B's batch goes on its own tick, A's never, as with
 * DataLoader's closure per batch. (The facade queues batches for their promise job, not for
 * their tick: a queue position for the tick would have sent A's batch on B's tick.)
 */
async function lostTick(Loader) {
  const calls = [];
  const fn = (name) => (keys) => {
    calls.push(`${name}:${keys.join(",")}`);
    return Promise.resolve(keys);
  };
  const a = new Loader(fn("a")), b = new Loader(fn("b"));
  const nextTick = process.nextTick;
  let dropped = 0;
  process.nextTick = function (...args) {
    // Only a dispatch tick (asked for by the loader's module: DataLoader's index.js, the
    // facade's dataloader.js), not one of Node's or the test runner's.
    const caller = new Error().stack.split("\n")[2];
    if (/[\\/]dataloader(?:[\\/]index)?\.c?js:/.test(caller) && dropped++ === 0) return;
    return nextTick.apply(this, args);
  };
  let aSettled = false;
  try {
    a.load(1).then(() => (aSettled = true));
    await macrotask();
  } finally {
    process.nextTick = nextTick;
  }
  const bValue = await b.load(2);
  await macrotask();
  return { calls, bValue, aSettled };
}

test("a lost dispatch tick loses that batch only; later batches go on their own ticks (as DataLoader)", async () => {
  const expected = await lostTick(Upstream);
  assert.deepEqual(expected, { calls: ["b:2"], bValue: 2, aSettled: false });
  assert.deepEqual(await lostTick(Hyper), expected);
});

/**
 * batchLoadFn answers with an array-like whose value at `throwAt` throws when read: DataLoader
 * settles the loads before it by their values, rejects the rest with that error and forgets every
 * key of the batch. Each value is read once, as DataLoader reads it.
 */
async function throwingValues(Loader, throwAt) {
  const reads = [];
  const loader = new Loader((keys) => Promise.resolve(new Proxy(keys.map((k) => (k === "e" ? new Error(k) : `v${k}`)), {
    get(target, prop, receiver) {
      if (/^\d+$/.test(String(prop))) {
        reads.push(Number(prop));
        if (Number(prop) === throwAt) throw new Error(`getter ${prop}`);
      }
      return Reflect.get(target, prop, receiver);
    },
  })));
  const settled = await Promise.allSettled(["a", "e", "b", "c"].map((k) => loader.load(k)));
  // A key still cached answers from the cache: no second batchLoadFn call.
  let called = false;
  const again = await Promise.allSettled(["a", "c"].map((k) => loader.load(k)));
  const outcomes = settled.map(describeOutcome);
  return { outcomes, reads: reads.sort(), again: again.map(describeOutcome), called };
}

test("a batch value that throws when read: the loads before it settle, the rest reject, every key is forgotten, each value read once (as DataLoader)", async () => {
  for (const throwAt of [0, 1, 2, 3, -1]) {
    const expected = await throwingValues(Upstream, throwAt);
    assert.deepEqual(await throwingValues(Hyper, throwAt), expected, `throwAt ${throwAt}`);
  }
});

test("a cacheKeyFn that throws while a failed batch forgets its keys: every load still settles (DataLoader leaves them pending), the call ends once", () => {
  // In a process of its own: the cacheKeyFn's error is an unhandled rejection, as in DataLoader.
  const run = (which, extras = {}) => JSON.parse(execFileSync(process.execPath, [fileURLToPath(new URL("fixtures/throwing-cache-key.mjs", import.meta.url)), which, JSON.stringify(extras)], { encoding: "utf8" }));
  const upstream = run("dataloader"), hyper = run("hyperbatch/dataloader");
  assert.deepEqual(upstream, { calls: 1, states: ["pending", "pending"], unhandled: ["cacheKeyFn broke"] });
  assert.deepEqual(hyper, { calls: 1, states: ["rejected:down", "rejected:down"], unhandled: ["cacheKeyFn broke"], inFlightBatches: 0 });
  // With extras too (audit13: the loads got the cacheKeyFn's error, wrapped in E_TRANSPORT
  // unless retry, timeoutMs or bisect were given). Unhandled once per batch, or once per load
  // when the engine's retries end each load on its own.
  for (const extras of [{ maxInFlight: 4 }, { retry: { maxAttempts: 2, baseDelayMs: 1 } }, { timeoutMs: 5000 }, { bisect: true }, { maxWaitMs: 1 }]) {
    const out = run("hyperbatch/dataloader", extras);
    assert.deepEqual(out.states, ["rejected:down", "rejected:down"], JSON.stringify(extras));
    assert.ok(out.unhandled.length > 0 && out.unhandled.every((m) => m === "cacheKeyFn broke"), `${JSON.stringify(extras)}: ${JSON.stringify(out)}`);
  }
});
