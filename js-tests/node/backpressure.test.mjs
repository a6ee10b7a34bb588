// Backpressure and concurrency — the contract maxQueued/whenFull, maxInFlight/maxInFlightPerKey,
// "Precise semantics: Backpressure" and "Stats".
import assert from "node:assert/strict";
import {
  test,
  LONG,
  STAT_KEYS,
  assertCode,
  assertStats,
  deferred,
  echo,
  macrotask,
  open,
  recorder,
  rejectsWith,
  settled,
  sleep,
  stats,
  track,
  waitFor,
} from "./_helpers.mjs";

/** A transport whose every call waits for its own gate; `open(i)` releases call i. */
function gatedTransport() {
  const gates = [];
  const rec = recorder(async (batch, i) => {
    gates[i] ??= deferred();
    await gates[i].promise;
    return batch.items.map(echo);
  });
  const release = (i) => (gates[i] ??= deferred()).resolve();
  return { ...rec, release };
}

// ------------------------------------------------------------------------------ maxQueued

test('maxQueued with whenFull "reject" (the default): adds beyond it fail with E_FULL', async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxQueued: 3 });
  const ok = ["a", "b", "c"].map((x) => track(b.add(x)));
  const full = [b.add("d"), b.add("e")];
  // Checked in the same tick: a full queue dispatches at its end (backpressure flush).
  assertStats(b, { queued: 3, items: 3 });
  for (const p of full) await rejectsWith(p, "E_FULL");
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["a", "b", "c"]]);
  assert.deepEqual(ok.map((p) => p.value), ["r:a", "r:b", "r:c"]);
  const later = track(b.add("f")); // room again once the queue has drained
  await b.flush();
  assert.equal(later.value, "r:f");
  await b.close();
});

test("maxQueued default is 10000", async (t) => {
  const { transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 100_000 });
  const ps = Array.from({ length: 10_000 }, (_, i) => b.add(i));
  const full = b.add("one too many");
  assertStats(b, { queued: 10_000, items: 10_000 });
  await rejectsWith(full, "E_FULL");
  await b.flush();
  const res = await Promise.all(ps);
  assert.equal(res[9_999], "r:9999");
  await b.close();
});

test("in-flight items are not counted in queued, so they free room for new adds", async (t) => {
  const { calls, transport, release } = gatedTransport();
  const b = open(t, { transport, maxWaitMs: LONG, maxQueued: 3 });
  const first = ["a", "b", "c"].map((x) => track(b.add(x)));
  const f1 = b.flush();
  await waitFor(() => calls.length === 1, "the first call");
  assertStats(b, { queued: 0, inFlightBatches: 1, inFlightItems: 3 });
  const second = ["d", "e", "f"].map((x) => track(b.add(x)));
  const full = b.add("g");
  assertStats(b, { queued: 3, inFlightItems: 3 });
  await rejectsWith(full, "E_FULL");
  release(0);
  release(1);
  await f1;
  await b.flush();
  assert.deepEqual([...first, ...second].map((p) => p.value), ["r:a", "r:b", "r:c", "r:d", "r:e", "r:f"]);
  await b.close();
});

test('whenFull "wait": add waits for room, in order; waiting adds are not counted, so queued <= maxQueued', async (t) => {
  let maxSeen = 0;
  let b;
  const sample = () => (maxSeen = Math.max(maxSeen, b.stats().queued));
  const { calls, transport } = recorder(async (batch) => {
    await sleep(2);
    return batch.items.map(echo);
  });
  b = open(t, { transport, maxWaitMs: 10, maxQueued: 2, whenFull: "wait" });
  const ps = [];
  for (let i = 1; i <= 7; i++) {
    ps.push(track(b.add(i)));
    sample();
  }
  // contract silent on whether a waiting add already counts in stats.items; only queued is checked.
  assertStats(b, { queued: 2 }, "only two admitted so far; five adds wait, uncounted");
  assert.deepEqual(ps.map((p) => p.status), Array(7).fill("pending"));
  const timer = setInterval(sample, 1);
  try {
    await waitFor(() => ps.every(settled), "all seven adds");
  } finally {
    clearInterval(timer);
  }
  assert.ok(maxSeen <= 2, `queued reached ${maxSeen} > maxQueued 2`);
  assert.deepEqual(ps.map((p) => p.value), [1, 2, 3, 4, 5, 6, 7].map((i) => `r:${i}`));
  assert.deepEqual(calls.flatMap((c) => c.items), [1, 2, 3, 4, 5, 6, 7], "FIFO across waiting adds");
  assert.ok(calls.every((c) => c.items.length <= 2));
  assertStats(b, { items: 7, succeeded: 7, queued: 0 });
  await b.close();
});

test('whenFull "wait": an add aborted while waiting for room rejects with E_ABORTED and is never sent', async (t) => {
  // contract silent: the signal applies to an add that is still waiting for room.
  // A call in flight and maxInFlight 1 keep "a" queued, so the queue stays full (a full queue
  // otherwise dispatches at the end of the tick, which admits the waiting add).
  const { calls, transport, release } = gatedTransport();
  const b = open(t, { transport, maxWaitMs: LONG, maxQueued: 1, maxInFlight: 1, whenFull: "wait" });
  const x = track(b.add("x"));
  const fx = b.flush();
  await waitFor(() => calls.length === 1, "the call holding maxInFlight");
  const a = track(b.add("a"));
  const ac = new AbortController();
  const w = track(b.add("w", { signal: ac.signal }));
  await macrotask();
  assert.equal(w.status, "pending", "waiting for room");
  assertStats(b, { queued: 1 });
  ac.abort();
  await waitFor(() => settled(w), "the aborted waiting add");
  assertCode(w.reason, "E_ABORTED");
  release(0);
  await fx;
  await waitFor(() => calls.length === 2, "a's call");
  release(1);
  await b.flush();
  assert.deepEqual(calls.flatMap((c) => c.items), ["x", "a"]);
  assert.equal(x.value, "r:x");
  assert.equal(a.value, "r:a");
  await b.close();
});

// ---------------------------------------------------------------------------- maxInFlight

test("maxInFlight bounds concurrent transport calls across keys; the rest wait queued", async (t) => {
  const { calls, transport, release } = gatedTransport();
  let live = 0;
  let maxLive = 0;
  const counted = async (batch) => {
    live += 1;
    maxLive = Math.max(maxLive, live);
    try {
      return await transport(batch);
    } finally {
      live -= 1;
    }
  };
  const b = open(t, { transport: counted, maxWaitMs: LONG, maxInFlight: 2, keyOf: (x) => x });
  const ps = ["a", "b", "c", "d", "e"].map((x) => track(b.add(x)));
  const flushed = b.flush();
  await waitFor(() => calls.length === 2, "two calls");
  await sleep(20);
  assert.equal(calls.length, 2, "a third call started while two were in flight");
  assertStats(b, { inFlightBatches: 2, inFlightItems: 2, queued: 3 });
  for (let i = 0; i < 5; i++) {
    release(i);
    await waitFor(() => calls.length >= Math.min(5, i + 3), `call ${i + 3}`);
  }
  await flushed;
  assert.equal(maxLive, 2);
  assert.deepEqual(calls.map((c) => c.key).sort(), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d", "r:e"]);
  assertStats(b, { inFlightBatches: 0, inFlightItems: 0, queued: 0, batches: 5 });
  await b.close();
});

test("maxInFlight default is 4", async (t) => {
  const { calls, transport, release } = gatedTransport();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x });
  const ps = ["a", "b", "c", "d", "e", "f"].map((x) => track(b.add(x)));
  const flushed = b.flush();
  await waitFor(() => calls.length === 4, "four calls");
  await sleep(20);
  assert.equal(calls.length, 4);
  assertStats(b, { inFlightBatches: 4 });
  for (let i = 0; i < 6; i++) release(i);
  await flushed;
  assert.ok(ps.every((p) => p.status === "fulfilled"));
  await b.close();
});

test("maxInFlightPerKey 1: strict per-key ordering while other keys run in parallel", async (t) => {
  const { calls, transport, release } = gatedTransport();
  const liveByKey = {};
  const order = [];
  const overlaps = [];
  const checked = async (batch) => {
    liveByKey[batch.key] = (liveByKey[batch.key] ?? 0) + 1;
    if (liveByKey[batch.key] > 1) overlaps.push(batch.items[0]);
    try {
      return await transport(batch);
    } finally {
      order.push(batch.items[0]);
      liveByKey[batch.key] -= 1;
    }
  };
  const b = open(t, { transport: checked, maxWaitMs: LONG, maxBatchSize: 1, maxInFlightPerKey: 1, keyOf: (x) => x[0] });
  const ps = ["a1", "a2", "b1", "a3", "b2"].map((x) => track(b.add(x)));
  await waitFor(() => calls.length === 2, "a1 and b1 in parallel");
  await sleep(20);
  const key = (i) => calls[i].items[0];
  assert.deepEqual([key(0), key(1)].sort(), ["a1", "b1"]);
  assertStats(b, { inFlightBatches: 2, queued: 3 });
  release(calls.findIndex((c) => c.items[0] === "a1"));
  await waitFor(() => calls.length === 3, "a2 after a1");
  assert.equal(key(2), "a2");
  await sleep(10);
  assert.equal(calls.length, 3, "b2 must wait for b1; a3 for a2");
  release(calls.findIndex((c) => c.items[0] === "b1"));
  await waitFor(() => calls.length === 4, "b2 after b1");
  assert.equal(key(3), "b2");
  release(2);
  await waitFor(() => calls.length === 5, "a3 after a2");
  assert.equal(key(4), "a3");
  release(3);
  release(4);
  await waitFor(() => ps.every(settled), "all");
  assert.deepEqual(ps.map((p) => p.value), ["r:a1", "r:a2", "r:b1", "r:a3", "r:b2"]);
  assert.deepEqual(overlaps, [], "two calls of one key overlapped");
  assert.deepEqual(order.filter((x) => x[0] === "a"), ["a1", "a2", "a3"]);
  assert.deepEqual(order.filter((x) => x[0] === "b"), ["b1", "b2"]);
  await b.close();
});

// ---------------------------------------------------------------------------------- stats

test("stats(): every field is present and zero on a new batcher", async (t) => {
  const { transport } = recorder();
  const b = open(t, { transport });
  const s = b.stats();
  for (const k of STAT_KEYS) assert.equal(typeof s[k], "number", `stats().${k}`);
  assert.deepEqual(stats(b), Object.fromEntries(STAT_KEYS.map((k) => [k, 0])));
  await b.close();
});

test("stats(): counters follow a run with successes, item failures, a retry and an abort", async (t) => {
  const { calls, transport, release } = gatedTransport();
  const failing = new Error("nope");
  const wrapped = async (batch) => {
    const i = calls.length;
    await transport(batch);
    return batch.items.map((x) =>
      x === "bad" ? failing : x === "retry" && i === 0 ? Object.assign(new Error("again"), { retryable: true }) : echo(x));
  };
  const b = open(t, { transport: wrapped, maxWaitMs: LONG, retry: { baseDelayMs: 1, maxDelayMs: 1, jitter: "none" } });
  const ac = new AbortController();
  const ps = ["ok1", "bad", "retry", "ok2"].map((x) => track(b.add(x)));
  const aborted = track(b.add("aborted", { signal: ac.signal }));
  assertStats(b, { queued: 5, inFlightBatches: 0, inFlightItems: 0, items: 5, failed: 0 });
  ac.abort();
  await macrotask();
  assertStats(b, { queued: 4, items: 5, failed: 1 }, "an abort counts as failed and leaves the queue");
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "first call");
  assertStats(b, { queued: 0, inFlightBatches: 1, inFlightItems: 4, batches: 1 });
  release(0);
  await waitFor(() => calls.length === 2, "the retry");
  release(1);
  await flushed;
  assert.deepEqual(calls.map((c) => c.items), [["ok1", "bad", "retry", "ok2"], ["retry"]]);
  assert.deepEqual(ps.map((p) => p.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"]);
  assertCode(aborted.reason, "E_ABORTED");
  assert.deepEqual(stats(b), {
    queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: 2, items: 5, succeeded: 3,
    failed: 2, retries: 1, bisects: 0, throttled: 0, circuitsOpen: 0,
  });
  await b.close();
});

test("stats(): counts the adds of the current turn at once (plain adds, read in the same turn)", async (t) => {
  const b = open(t, { transport: (batch) => batch.items, maxWaitMs: LONG });
  const ps = [1, 2, 3].map((x) => b.add(x));
  const s = b.stats();
  assert.deepEqual([s.queued, s.items], [3, 3]);
  await b.flush();
  assert.deepEqual(await Promise.all(ps), [1, 2, 3]);
});
