// Keyed adds with no per-add options (keyOf or `{ key }` alone): the engine queues them as runs
// of one id (`Engine::add_plain`) and their promises keep no reject. What must hold on that path
// is what holds for any add: FIFO per key, order across keys, dispatch timing, backpressure at
// add time, keys released when idle and made again, settles by position.
import assert from "node:assert/strict";
import { LONG, echo, macrotask, open, recorder, rejectsWith, settled, test, track, waitFor } from "./_helpers.mjs";

const keyOfFirst = (x) => x[0];

test("keyed adds: interleaved keys keep FIFO per key, and queues go in the order their oldest items arrived", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0, maxInFlight: 100, keyOf: keyOfFirst });
  // A first turn makes and releases keys in another order, so engine key ids do not follow arrival.
  await Promise.all(["b0", "a0", "c0"].map((x) => b.add(x)));
  calls.length = 0;
  const items = ["c1", "a1", "b1", "a2", "b2", "a3", "c2", "b3", "b4", "a4"];
  const ps = items.map((x) => track(b.add(x)));
  await waitFor(() => ps.every(settled), "every item");
  assert.deepEqual(calls.map((c) => [c.key, c.items]), [
    ["c", ["c1", "c2"]],
    ["a", ["a1", "a2", "a3", "a4"]],
    ["b", ["b1", "b2", "b3", "b4"]],
  ]);
  assert.deepEqual(ps.map((p) => p.value), items.map(echo));
});

test("keyed adds: FIFO per key across many interleaved keys and full batches", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0, maxBatchSize: 7, maxInFlight: 1000, keyOf: (x) => x % 13 });
  const n = 1000;
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(b.add(i));
  const results = await Promise.all(ps);
  assert.deepEqual(results, Array.from({ length: n }, (_, i) => echo(i)));
  const perKey = new Map();
  for (const c of calls) {
    assert.ok(c.items.length <= 7, "maxBatchSize");
    assert.ok(c.items.every((x) => x % 13 === c.key), "one key per call");
    perKey.set(c.key, [...(perKey.get(c.key) ?? []), ...c.items]);
  }
  for (const [k, sent] of perKey) {
    assert.deepEqual(sent, Array.from({ length: n }, (_, i) => i).filter((i) => i % 13 === k), `key ${k} in arrival order`);
  }
});

test("keyed adds: a queue that reaches maxBatchSize dispatches by the next microtask, never inside add()", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 3, keyOf: keyOfFirst });
  const ps = ["a1", "b1", "a2", "a3"].map((x) => track(b.add(x)));
  assert.equal(calls.length, 0, "not called synchronously from add()");
  await Promise.resolve();
  assert.deepEqual(calls.map((c) => [c.key, c.items]), [["a", ["a1", "a2", "a3"]]]);
  await macrotask();
  assert.equal(ps[1].status, "pending", "the other key waits for its window");
  await b.flush();
  assert.deepEqual(ps.map((p) => p.value), ["r:a1", "r:b1", "r:a2", "r:a3"]);
});

test("keyed adds: maxQueued rejects the add that finds no room with E_FULL, at add time", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxQueued: 3, keyOf: keyOfFirst });
  const ok = ["a1", "b1", "c1"].map((x) => track(b.add(x)));
  const full = b.add("d1");
  // Decided inside add(): counted nowhere, while the three before it are queued.
  assert.deepEqual([b.stats().queued, b.stats().items], [3, 3]);
  await rejectsWith(full, "E_FULL");
  await b.flush();
  assert.deepEqual(ok.map((p) => p.value), ["r:a1", "r:b1", "r:c1"]);
  assert.deepEqual(calls.map((c) => c.key).sort(), ["a", "b", "c"]);
});

test("keyed adds: a key released once idle is made again by its next add, over many rounds", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0, maxBatchSize: 4, maxInFlight: 100, keyOf: (x) => x.k });
  for (let round = 0; round < 50; round++) {
    // Keys come and go with their traffic; some of every round's keys are new, some seen before.
    const keys = [`k${round % 7}`, `k${(round * 3) % 11}`, `new${round}`];
    const items = [];
    for (let i = 0; i < 9; i++) items.push({ id: `${round}.${i}`, k: keys[i % 3] });
    const values = await Promise.all(items.map((x) => b.add(x)));
    assert.deepEqual(values, items.map(echo), `round ${round}`);
  }
  for (const c of calls) assert.ok(c.items.every((x) => x.k === c.key), `call ${c.id} holds one key`);
  const s = b.stats();
  assert.equal(s.items, 450);
  assert.equal(s.succeeded, 450);
  assert.equal(s.queued + s.inFlightItems, 0);
});

test("keyed adds: a failed keyed call rejects each caller with its error, in item order", async (t) => {
  // Their promises keep no reject: rejections come through the same road as plain items'.
  const b = open(t, { maxWaitMs: 0, retry: { maxAttempts: 1 }, bisect: false, keyOf: keyOfFirst, transport: (batch) => {
    if (batch.key === "x") throw new Error("down");
    return batch.items.map((v) => (v.endsWith("!") ? new Error(`bad ${v}`) : echo(v)));
  } });
  const log = [];
  const items = ["x1", "a1", "x2", "a2!", "a3"];
  await Promise.all(items.map((v) => b.add(v).then((r) => log.push(`${v} ${r}`), (e) => log.push(`${v} ${e.code ?? e.message}`))));
  assert.deepEqual(log, ["x1 E_TRANSPORT", "x2 E_TRANSPORT", "a1 r:a1", "a2! bad a2!", "a3 r:a3"]);
});
