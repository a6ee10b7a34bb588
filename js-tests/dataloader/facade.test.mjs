// hyperbatch/dataloader beyond DataLoader's own suite (upstream/): the exports, what holds
// without extras (no retries, DataLoader's raw errors, per-loader stats), and each extra option
// with its Batcher meaning — the contract's "`hyperbatch/dataloader`" section.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import DataLoader, { DataLoader as Named } from "hyperbatch/dataloader";

const require = createRequire(import.meta.url);
const here = fileURLToPath(new URL(".", import.meta.url));
const macrotask = () => new Promise((resolve) => setImmediate(resolve));

function recording(fn) {
  const calls = [];
  const loader = (options) => new DataLoader(async (keys) => {
    calls.push([...keys]);
    return fn(keys, calls.length);
  }, options);
  return { calls, loader };
}

test("default and named exports are the class; require() returns the class itself", async () => {
  assert.equal(Named, DataLoader);
  const Cjs = require("hyperbatch/dataloader");
  assert.equal(typeof Cjs, "function");
  assert.equal(Cjs.default, Cjs);
  assert.equal(Cjs.DataLoader, Cjs);
  const loader = new Cjs(async (keys) => keys.map((k) => k * 2));
  assert.deepEqual(await loader.loadMany([1, 2]), [2, 4]);
});

test("without extras a failed batch is never retried and callers get batchLoadFn's own error", async () => {
  const boom = new Error("down");
  boom.retryable = true; // a Batcher would retry this; DataLoader never does
  const { calls, loader } = recording(() => {
    throw boom;
  });
  const l = loader();
  const [a, b] = await Promise.allSettled([l.load(1), l.load(2)]);
  assert.equal(a.reason, boom);
  assert.equal(b.reason, boom);
  assert.deepEqual(calls, [[1, 2]]);
  // DataLoader drops a failed batch's keys from the cache: the next load calls again.
  await assert.rejects(l.load(1), boom);
  assert.deepEqual(calls, [[1, 2], [1]]);
});

test("a rejection that is not an Error reaches the caller as it is", async () => {
  const l = new DataLoader(() => Promise.reject("no such table")); // eslint-disable-line prefer-promise-reject-errors
  await assert.rejects(l.load(1), (e) => e === "no such table");
  const l2 = new DataLoader(() => Promise.reject(undefined)); // eslint-disable-line prefer-promise-reject-errors
  await assert.rejects(l2.load(1), (e) => e === undefined);
});

test("a retryable item Error fails that load once, without a second call", async () => {
  const { calls, loader } = recording((keys) => keys.map((k) => (k === 2 ? Object.assign(new Error("two"), { retryable: true }) : k)));
  const l = loader();
  assert.deepEqual((await l.loadMany([1, 2, 3])).map((v) => (v instanceof Error ? v.message : v)), [1, "two", 3]);
  assert.deepEqual(calls, [[1, 2, 3]]);
});

test("stats() counts the loader's own calls and loads, not other loaders'", async () => {
  const a = new DataLoader(async (keys) => keys.map((k) => (k < 0 ? new Error("neg") : k)));
  const b = new DataLoader(async (keys) => keys);
  await b.loadMany([1, 2, 3, 4]);
  await a.loadMany([1, -1, 1]);
  await a.load(5);
  assert.deepEqual(a.stats(), {
    queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: 2, items: 3, succeeded: 2, failed: 1,
    retries: 0, bisects: 0, throttled: 0, circuitsOpen: 0,
  });
  assert.equal(b.stats().batches, 1);
  assert.equal(b.stats().items, 4);
});

test("stats() of a loader without extras: queued until dispatched, then in flight", async () => {
  let release;
  const l = new DataLoader((keys) => new Promise((resolve) => {
    release = () => resolve(keys);
  }));
  const loads = l.loadMany([1, 2]);
  const now = () => { const s = l.stats(); return [s.queued, s.inFlightBatches, s.inFlightItems]; };
  assert.deepEqual(now(), [2, 0, 0]);
  await macrotask();
  assert.deepEqual(now(), [0, 1, 2]);
  release();
  assert.deepEqual(await loads, [1, 2]);
  assert.deepEqual(now(), [0, 0, 0]);
});

test("stats().queued counts the keys of every batch not dispatched yet, full ones and the open one", async () => {
  // maxBatchSize 2, five loads: two full batches and an open one wait for their dispatch; a cache
  // hit is no key. A custom schedule holds them until it runs them.
  const scheduled = [];
  const l = new DataLoader(async (keys) => keys, { maxBatchSize: 2, batchScheduleFn: (fn) => scheduled.push(fn) });
  const loads = [1, 2, 3, 4, 5].map((k) => l.load(k));
  const cached = l.load(1);
  assert.equal(l.stats().queued, 5);
  scheduled.shift()(); // the first full batch goes
  assert.equal(l.stats().queued, 3);
  scheduled.pop()(); // the open one
  assert.equal(l.stats().queued, 2);
  scheduled.shift()();
  assert.equal(l.stats().queued, 0);
  assert.deepEqual(await Promise.all([...loads, cached]), [1, 2, 3, 4, 5, 1]);
  assert.equal(l.stats().queued, 0);
  assert.equal(l.stats().items, 5);
});

// audit11: a loader with extras (its own Batcher) but DataLoader's schedule keeps the keys of its
// batches in the loader until they dispatch, as a loader without extras does: `queued` ("items
// waiting (not in flight)", as Batcher.stats()) counted them there and 0 here.
for (const [what, extras] of [["retry", { retry: { maxAttempts: 2 } }], ["maxInFlight", { maxInFlight: 2 }], ["timeoutMs", { timeoutMs: 10_000 }], ["onBatchStart", { onBatchStart() {} }]]) {
  test(`audit11: stats().queued of a loader with ${what} counts the keys of batches not dispatched yet, as without extras`, async () => {
    const scheduled = [];
    const l = new DataLoader(async (keys) => keys, { maxBatchSize: 2, batchScheduleFn: (fn) => scheduled.push(fn), ...extras });
    const loads = [1, 2, 3].map((k) => l.load(k));
    assert.equal(l.stats().queued, 3);
    scheduled.shift()(); // the full batch goes: its keys are the engine's now (queued there, or in flight)
    assert.equal(l.stats().queued + l.stats().inFlightItems, 3);
    scheduled.shift()();
    assert.deepEqual(await Promise.all(loads), [1, 2, 3]);
    assert.equal(l.stats().queued, 0);
    assert.equal(l.stats().items, 3);
  });
}

test("a batch over the engine's 100,000-key ceiling is one call without extras (as DataLoader), calls of 100,000 with them", async () => {
  const keys = Array.from({ length: 100001 }, (_, i) => i);
  for (const [options, sizes] of [[{ cache: false }, [100001]], [{ cache: false, maxInFlight: 4 }, [100000, 1]]]) {
    const { calls, loader } = recording((keys) => keys);
    const values = await loader(options).loadMany(keys);
    assert.equal(values.length, 100001);
    assert.equal(values[100000], 100000);
    assert.deepEqual(calls.map((c) => c.length), sizes);
  }
});

test("retry: a batch that fails once is sent again and its loads resolve", async () => {
  const { calls, loader } = recording((keys, n) => {
    if (n === 1) throw new Error("flaky");
    return keys;
  });
  const l = loader({ retry: { maxAttempts: 3, baseDelayMs: 1, jitter: "none" } });
  assert.deepEqual(await Promise.all([l.load("a"), l.load("b")]), ["a", "b"]);
  assert.deepEqual(calls, [["a", "b"], ["a", "b"]]);
  assert.equal(l.stats().retries, 2);
});

test("retry: once attempts run out, loads reject with batchLoadFn's error and leave the cache", async () => {
  const errors = [];
  const { calls, loader } = recording(() => {
    errors.push(new Error(`fail ${errors.length + 1}`));
    throw errors.at(-1);
  });
  const l = loader({ retry: { maxAttempts: 2, baseDelayMs: 1, jitter: "none" } });
  await assert.rejects(l.load("a"), (e) => e === errors[1]);
  assert.equal(calls.length, 2);
  await assert.rejects(l.load("a"), (e) => e === errors[3]); // not cached: called again
  assert.equal(calls.length, 4);
});

test("timeoutMs: a call that hangs fails its loads with E_TIMEOUT and leaves the cache", async () => {
  let calls = 0;
  const l = new DataLoader((keys) => {
    calls++;
    return calls === 1 ? new Promise(() => {}) : Promise.resolve(keys);
  }, { timeoutMs: 20 });
  await assert.rejects(l.load(1), (e) => e.code === "E_TIMEOUT");
  assert.equal(await l.load(1), 1);
  assert.equal(calls, 2);
});

test("maxInFlight bounds concurrent batchLoadFn calls", async () => {
  let live = 0, peak = 0;
  const l = new DataLoader(async (keys) => {
    peak = Math.max(peak, ++live);
    await new Promise((resolve) => setTimeout(resolve, 5));
    live--;
    return keys;
  }, { maxBatchSize: 1, maxInFlight: 2 });
  assert.deepEqual(await l.loadMany([1, 2, 3, 4, 5]), [1, 2, 3, 4, 5]);
  assert.equal(peak, 2);
});

test("bisect: a poison key fails alone with batchLoadFn's error, its batchmates resolve", async () => {
  const poison = new Error("bad key 3");
  poison.status = 400;
  const { calls, loader } = recording((keys) => {
    if (keys.includes(3)) throw poison;
    return keys;
  });
  const l = loader({ bisect: true });
  const out = await l.loadMany([1, 2, 3, 4]);
  assert.deepEqual(out, [1, 2, poison, 4]);
  assert.deepEqual(calls[0], [1, 2, 3, 4]);
  assert.ok(calls.some((c) => c.length === 1 && c[0] === 3));
  assert.ok(l.stats().bisects >= 1);
});

test("onBatchStart / onBatchEnd are called once per batchLoadFn call", async () => {
  const starts = [], ends = [];
  const l = new DataLoader(async (keys) => keys, {
    maxBatchSize: 2,
    onBatchStart: (info) => starts.push(info.size),
    onBatchEnd: (info) => ends.push([info.size, info.succeeded]),
  });
  await l.loadMany([1, 2, 3]);
  assert.deepEqual(starts, [2, 1]);
  assert.deepEqual(ends, [[2, 2], [1, 1]]);
});

test("maxWaitMs: the engine's window gathers loads from several macrotasks into one call", async () => {
  const { calls, loader } = recording((keys) => keys);
  const l = loader({ maxWaitMs: 30 });
  const p1 = l.load(1);
  await macrotask();
  const p2 = l.load(2);
  await macrotask();
  const p1again = l.load(1); // cached
  assert.deepEqual(await Promise.all([p1, p2, p1again]), [1, 2, 1]);
  assert.deepEqual(calls, [[1, 2]]);
});

test("maxWaitMs with maxBatchSize: the engine sends a full batch at once", async () => {
  const { calls, loader } = recording((keys) => keys);
  const l = loader({ maxWaitMs: 10000, maxBatchSize: 2 });
  const started = Date.now();
  assert.deepEqual(await Promise.all([l.load(1), l.load(2)]), [1, 2]);
  assert.ok(Date.now() - started < 1000);
  assert.deepEqual(calls, [[1, 2]]);
});

test("extras are checked by the constructor, with the Batcher's E_CONFIG errors", () => {
  const fn = async (keys) => keys;
  assert.throws(() => new DataLoader(fn, { maxWaitMs: 5, batchScheduleFn: (cb) => cb() }),
    (e) => e instanceof TypeError && e.code === "E_CONFIG");
  assert.throws(() => new DataLoader(fn, { timeoutMs: -1 }), (e) => e instanceof RangeError && e.code === "E_CONFIG");
  assert.throws(() => new DataLoader(fn, { retry: { maxAtempts: 2 } }), (e) => e.code === "E_CONFIG" && /maxAttempts/.test(e.message));
  // DataLoader's own options and unknown names are not the Batcher's business.
  assert.doesNotThrow(() => new DataLoader(fn, { somethingElse: 1, name: "x" }));
});

test("DataLoader's schedule reads process.nextTick at each batch, not once at load (fake timers replace it)", () => {
  // In a process of its own: until the stub's ticks are run, no batch may be dispatched.
  const script = `
    import DataLoader from "hyperbatch/dataloader";
    const realNextTick = process.nextTick, ticks = [];
    let calls = 0;
    const loader = new DataLoader(async (keys) => (calls++, keys.map((k) => k * 2)));
    process.nextTick = (fn, ...args) => ticks.push(() => fn(...args));
    const loads = Promise.all([loader.load(1), loader.load(2)]);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a real tick would have dispatched by now
    process.nextTick = realNextTick;
    const before = calls;
    for (const tick of ticks) tick();
    console.log(JSON.stringify({ before, ticks: ticks.length, values: await loads, after: calls }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: here, encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), { before: 0, ticks: 1, values: [2, 4], after: 1 });
});
