// Flush triggers (size, interval, weight, tick), keys and fan-out, resolveKeys, dedupe,
// addMany, flush(), close() and Symbol.asyncDispose — the contract "Batcher" and "Options".
import assert from "node:assert/strict";
import {
  test,
  Batcher,
  FAST_RETRY,
  LONG,
  assertCode,
  assertStats,
  deferred,
  echo,
  label,
  macrotask,
  now,
  open,
  recorder,
  rejectsWith,
  retryable,
  settled,
  sleep,
  sortedBatches,
  track,
  waitFor,
} from "./_helpers.mjs";

// ---------------------------------------------------------------------------------- size

test("size: a queue dispatches as soon as it holds maxBatchSize items, never synchronously from add()", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxBatchSize: 3, maxWaitMs: LONG });
  const ps = [1, 2, 3, 4, 5, 6, 7].map((i) => track(b.add(i)));
  assert.equal(calls.length, 0, "the transport was called synchronously from inside add()");
  await macrotask(); // "a size flush dispatches on the next microtask at the latest"
  assert.deepEqual(calls.map((c) => c.items), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(calls.map((c) => c.attempt), [1, 1]);
  await waitFor(() => ps.slice(0, 6).every(settled), "the two full batches to settle");
  assert.deepEqual(ps.slice(0, 6).map((p) => p.value), ["r:1", "r:2", "r:3", "r:4", "r:5", "r:6"]);
  assert.equal(ps[6].status, "pending", "the 7th item must wait for its queue's timer or flush()");
  assertStats(b, { queued: 1, batches: 2, items: 7, succeeded: 6, failed: 0 });
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [[1, 2, 3], [4, 5, 6], [7]]);
  assert.equal(ps[6].value, "r:7");
  assertStats(b, {
    queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: 3, items: 7, succeeded: 7, failed: 0,
    retries: 0, bisects: 0, throttled: 0,
  });
  await b.close();
});

test("size: default maxBatchSize is 100", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  const ps = Array.from({ length: 250 }, (_, i) => track(b.add(i)));
  await macrotask();
  assert.deepEqual(calls.map((c) => c.items.length), [100, 100]);
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items.length), [100, 100, 50]);
  assert.deepEqual(calls.flatMap((c) => c.items), Array.from({ length: 250 }, (_, i) => i));
  assert.ok(ps.every((p, i) => p.value === `r:${i}`), "results map by position");
  await b.close();
});

test("size: maxBatchSize 1 sends every item alone, in arrival order", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxBatchSize: 1, maxWaitMs: LONG });
  const ps = ["a", "b", "c"].map((x) => track(b.add(x)));
  assert.equal(calls.length, 0);
  await waitFor(() => ps.every(settled), "all three");
  assert.deepEqual(calls.map((c) => c.items), [["a"], ["b"], ["c"]]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c"]);
  await b.close();
});

// ------------------------------------------------------------------------------ interval

test("interval: a lone item is dispatched maxWaitMs after it arrived (20 ms -> >= 15 ms, < 1000 ms)", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 20 });
  const t0 = now();
  const p = track(b.add("x"));
  await macrotask();
  assert.equal(calls.length, 0, "dispatched before maxWaitMs elapsed");
  await waitFor(() => settled(p), "the interval flush");
  assert.equal(calls.length, 1);
  const waited = calls[0].at - t0;
  assert.ok(waited >= 15 && waited < 1000, `dispatched after ${waited} ms`);
  assert.equal(p.value, "r:x");
  await b.close();
});

test("interval: default maxWaitMs is 10 ms", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport });
  const t0 = now();
  const p = track(b.add("x"));
  await waitFor(() => settled(p), "the default interval flush");
  const waited = calls[0].at - t0;
  assert.ok(waited >= 5 && waited < 1000, `dispatched after ${waited} ms`);
  await b.close();
});

test("interval: the wait counts from the queue's first item, it is not reset by later items", async (t) => {
  // A steady trickle (an item every ~5 ms for ~300 ms) with maxWaitMs 40: a debounce would send
  // nothing until the trickle stops; the contract ("at most this long after its first item")
  // sends several batches while it runs.
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 40 });
  const ps = [];
  const t0 = now();
  while (now() - t0 < 300) {
    ps.push(track(b.add(ps.length)));
    await sleep(5);
  }
  const sentDuringTrickle = calls.length;
  await b.flush();
  await waitFor(() => ps.every(settled), "every item");
  assert.ok(sentDuringTrickle >= 3, `only ${sentDuringTrickle} batches were sent during a 300 ms trickle`);
  assert.deepEqual(calls.flatMap((c) => c.items), ps.map((_, i) => i), "FIFO: arrival order");
  assert.ok(ps.every((p, i) => p.value === `r:${i}`));
  await b.close();
});

// --------------------------------------------------------------------- tick (maxWaitMs: 0)

test("tick: with maxWaitMs 0 a synchronous loop of adds is one batch sent after the loop", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  const ps = [];
  for (let i = 0; i < 5; i++) {
    ps.push(track(b.add(i)));
    assert.equal(calls.length, 0, "nothing may be sent while the synchronous loop still runs");
  }
  await macrotask();
  assert.deepEqual(calls.map((c) => c.items), [[0, 1, 2, 3, 4]]);
  await waitFor(() => ps.every(settled), "the tick batch");
  assert.deepEqual(ps.map((p) => p.value), ["r:0", "r:1", "r:2", "r:3", "r:4"]);
  await b.close();
});

test("tick: with maxWaitMs 0 adds in different macrotasks go in different batches", async (t) => {
  // contract silent: DataLoader-style "end of the current tick" — an add after a macrotask
  // boundary starts a new batch.
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  const p1 = track(b.add("a"));
  await macrotask();
  const p2 = track(b.add("b"));
  await macrotask();
  await waitFor(() => settled(p1) && settled(p2), "both");
  assert.deepEqual(calls.map((c) => c.items), [["a"], ["b"]]);
  await b.close();
});

test("tick: with maxWaitMs 0 maxBatchSize still splits a synchronous loop", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0, maxBatchSize: 100 });
  const ps = Array.from({ length: 250 }, (_, i) => track(b.add(i)));
  assert.equal(calls.length, 0);
  await waitFor(() => ps.every(settled), "all 250");
  assert.deepEqual(calls.map((c) => c.items.length), [100, 100, 50]);
  assert.deepEqual(calls.flatMap((c) => c.items), ps.map((_, i) => i));
  await b.close();
});

// -------------------------------------------------------------------------------- weight

test("weight: a queue dispatches before the next item would push its weight over maxBatchWeight", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchWeight: 10, weigh: (x) => x.w });
  const items = [{ id: "a", w: 4 }, { id: "b", w: 4 }, { id: "c", w: 4 }, { id: "d", w: 3 }];
  const ps = items.map((x) => track(b.add(x)));
  await macrotask();
  // a+b = 8; c would make 12 > 10, so [a, b] goes; c+d = 7 stays queued.
  assert.deepEqual(calls.map((c) => c.items.map(label)), [["a", "b"]]);
  assertStats(b, { queued: 2 });
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items.map(label)), [["a", "b"], ["c", "d"]]);
  assert.ok(calls[0].items[0] === items[0], "the transport receives the very item objects");
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
  await b.close();
});

test("weight: a queue whose weight reaches maxBatchWeight exactly is full and goes at once, not at its window", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchWeight: 10, weigh: (x) => x.w });
  const ps = [track(b.add({ id: "a", w: 4 })), track(b.add({ id: "b", w: 6 })), track(b.add({ id: "c", w: 1 }))];
  await macrotask();
  assert.deepEqual(calls.map((c) => c.items.map(label)), [["a", "b"]], "4 + 6 = 10: a full batch");
  assertStats(b, { queued: 1 });
  // Plain items (weight 1, no weigh) the same: three of a cap of 3 go without waiting for the window.
  const plain = recorder();
  const p = open(t, { transport: plain.transport, maxWaitMs: LONG, maxBatchWeight: 3 });
  const qs = ["x", "y", "z"].map((x) => track(p.add(x)));
  await macrotask();
  assert.deepEqual(plain.calls.map((c) => c.items), [["x", "y", "z"]]);
  await waitFor(() => qs.every(settled), "the plain items");
  await b.flush();
  assert.deepEqual(ps.map((q) => q.value), ["r:a", "r:b", "r:c"]);
  await Promise.all([b.close(), p.close()]);
});

test("weight: AddOptions.weight overrides weigh() for that item", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchWeight: 10, weigh: () => 1 });
  const ps = [track(b.add("a", { weight: 6 })), track(b.add("b", { weight: 6 })), track(b.add("c"))];
  await macrotask();
  assert.deepEqual(calls.map((c) => c.items), [["a"]], "6 + 6 > 10 must dispatch [a] first");
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["a"], ["b", "c"]]);
  await waitFor(() => ps.every(settled), "all");
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c"]);
  await b.close();
});

test("weight: an item exactly at the cap is accepted; one heavier than the cap alone is rejected with E_TOO_LARGE and never sent", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchWeight: 10, weigh: (x) => x.w });
  const heavy = b.add({ id: "heavy", w: 11 });
  const exact = track(b.add({ id: "exact", w: 10 }));
  await rejectsWith(heavy, "E_TOO_LARGE");
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items.map(label)), [["exact"]]);
  assert.equal(exact.value, "r:exact");
  await b.close();
});

// ----------------------------------------------------------------------- keys and fan-out

test("keys: one queue per keyOf key; each batch holds one key and batch.key names it", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x.k });
  const items = [
    { id: 1, k: "east" }, { id: 2, k: "west" }, { id: 3, k: "east" }, { id: 4, k: "west" }, { id: 5, k: "east" },
  ];
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  const byKey = Object.fromEntries(calls.map((c) => [c.key, c.items.map(label)]));
  assert.equal(calls.length, 2);
  assert.deepEqual(byKey, { east: [1, 3, 5], west: [2, 4] });
  assert.deepEqual(ps.map((p) => p.value), ["r:1", "r:2", "r:3", "r:4", "r:5"]);
  await b.close();
});

test("keys: queues dispatch independently (a full queue does not flush the others)", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 2, keyOf: (x) => x[0] });
  const ps = ["a1", "b1", "a2"].map((x) => track(b.add(x)));
  await macrotask();
  assert.deepEqual(calls.map((c) => [c.key, c.items]), [["a", ["a1", "a2"]]]);
  assert.equal(ps[1].status, "pending");
  await b.flush();
  assert.deepEqual(calls.map((c) => [c.key, c.items]), [["a", ["a1", "a2"]], ["b", ["b1"]]]);
  await b.close();
});

test("keys: queues of different keys are sent in parallel (fan-out)", async (t) => {
  const gate = deferred();
  const { calls, transport } = recorder(async (batch) => {
    if (batch.key === "slow") await gate.promise;
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x.k });
  const slow = track(b.add({ id: "s", k: "slow" }));
  const fast = track(b.add({ id: "f", k: "fast" }));
  const flushed = b.flush();
  await waitFor(() => settled(fast), "the fast key to settle while the slow key is in flight");
  assert.equal(slow.status, "pending");
  assert.deepEqual(calls.map((c) => c.key).sort(), ["fast", "slow"]);
  gate.resolve();
  await flushed;
  assert.equal(slow.value, "r:s");
  assert.equal(fast.value, "r:f");
  await b.close();
});

test("a transport may return its array synchronously (contract: returns, or resolves to, an array)", async (t) => {
  const seen = [];
  const b = open(t, {
    maxWaitMs: LONG,
    transport: (batch) => {
      seen.push([...batch.items]);
      return batch.items.map((x) => (x === "bad" ? new Error("bad item") : echo(x)));
    },
  });
  const ps = ["a", "bad", "c"].map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(seen, [["a", "bad", "c"]]);
  assert.deepEqual([ps[0].value, ps[2].value], ["r:a", "r:c"]);
  assert.equal(ps[1].reason.message, "bad item");
  assertStats(b, { batches: 1, succeeded: 2, failed: 1, retries: 0 });
  await b.close();
});

test("keys: queues due at the same moment dispatch in the order their oldest items arrived (contract: Order across keys)", async (t) => {
  for (const maxWaitMs of [0, 20]) {
    const { calls, transport } = recorder();
    const b = open(t, { transport, maxWaitMs, maxInFlight: 100, keyOf: (x) => x });
    const ps = ["a", "b", "c", "d"].map((x) => track(b.add(x)));
    await waitFor(() => ps.every(settled), "all items");
    assert.deepEqual(calls.map((c) => c.key), ["a", "b", "c", "d"], `maxWaitMs ${maxWaitMs}`);
    await b.close();
  }
});

test("keys: number and string keys are distinct keys, and reach batch.key as given", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x.k });
  const items = [{ id: 1, k: 1 }, { id: 2, k: "1" }, { id: 3, k: "n1" }, { id: 4, k: 1 }, { id: 5, k: 0 }, { id: 6, k: "s0" }];
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(ps.map((p) => p.value), items.map(echo));
  const byKey = calls.map((c) => [c.key, c.items.map(label)]);
  byKey.sort((x, y) => String(typeof x[0]).localeCompare(typeof y[0]) || String(x[0]).localeCompare(String(y[0])));
  assert.deepEqual(byKey, [[0, [5]], [1, [1, 4]], ["1", [2]], ["n1", [3]], ["s0", [6]]]);
  await b.close();
});

// contract silent: keys are strings or numbers (index.d.ts); anything else is refused.
test("keys: a key that is not a string or a number (or is NaN) rejects that add with E_CONFIG", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x.k });
  const bad = [{}, [], true, NaN, Symbol("s")];
  const ps = bad.map((k) => track(b.add({ id: 1, k })));
  const ok = track(b.add({ id: 2, k: "ok" }));
  await b.flush();
  await macrotask();
  for (const [i, p] of ps.entries()) {
    assert.equal(p.status, "rejected", `key ${String(bad[i])} was accepted`);
    assertCode(p.reason, "E_CONFIG", String(bad[i]));
    assert.match(p.reason.message, /key/);
  }
  assert.equal(ok.value, "r:2");
  assert.deepEqual(calls.map((c) => c.key), ["ok"]);
  await b.close();
});

test("keys: AddOptions.key overrides keyOf for that item", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: () => "default" });
  const ps = [track(b.add("x")), track(b.add("y", { key: "special" })), track(b.add("z"))];
  await b.flush();
  const byKey = Object.fromEntries(calls.map((c) => [c.key, c.items]));
  assert.deepEqual(byKey, { default: ["x", "z"], special: ["y"] });
  assert.deepEqual(ps.map((p) => p.value), ["r:x", "r:y", "r:z"]);
  await b.close();
});

// ------------------------------------------------------------------------------ resolveKeys

test("resolveKeys: items whose keyOf is undefined are routed together by one resolveKeys call", async (t) => {
  const routed = [];
  const { calls, transport } = recorder();
  const b = open(t, {
    transport,
    maxWaitMs: 10,
    keyOf: (x) => x.k,
    resolveKeys: async (items) => {
      routed.push([...items]);
      return items.map((x) => (x.id % 2 ? "x" : "y"));
    },
  });
  const items = [{ id: 1, k: "x" }, { id: 2 }, { id: 3 }, { id: 4, k: "y" }, { id: 5 }];
  const ps = items.map((x) => track(b.add(x)));
  await waitFor(() => ps.every(settled), "all items");
  assert.equal(routed.length, 1, "resolveKeys must not be called once per item when several arrive together");
  assert.deepEqual(routed[0].map(label), [2, 3, 5]);
  assert.ok(routed[0][0] === items[1], "resolveKeys receives the item values themselves");
  const sentByKey = {};
  for (const c of calls) {
    for (const x of c.items) (sentByKey[c.key] ??= []).push(label(x));
  }
  assert.deepEqual(Object.keys(sentByKey).sort(), ["x", "y"]);
  // Sorted copies for membership; the order checks read the arrays as sent.
  assert.deepEqual([...sentByKey.x].sort(), [1, 3, 5]);
  assert.deepEqual([...sentByKey.y].sort(), [2, 4]);
  assert.ok(sentByKey.x.indexOf(3) < sentByKey.x.indexOf(5), `routed items keep arrival order: ${sentByKey.x}`);
  // 1 was queued under "x" before resolveKeys even ran, so it is sent ahead of 3 and 5.
  assert.deepEqual(sentByKey.x, [1, 3, 5], "FIFO within key x");
  assert.deepEqual(ps.map((p) => p.value), ["r:1", "r:2", "r:3", "r:4", "r:5"]);
  await b.close();
});

test("resolveKeys: flush() covers items still waiting for their key (sent once routed, not after maxWaitMs)", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, {
    transport,
    maxWaitMs: 3000,
    resolveKeys: async (items) => items.map(() => "k"),
  });
  const a = track(b.add({ id: 1 }));
  const t0 = now();
  await b.flush();
  const took = now() - t0;
  assert.ok(settled(a), "flush() resolves once the item it covered settled");
  assert.equal(a.value, "r:1");
  assert.ok(took < 1000, `flush() took ${took.toFixed(0)} ms: the routed item waited out maxWaitMs`);
  assert.deepEqual(calls.map((c) => [c.key, c.items.map(label)]), [["k", [1]]]);
  await b.close();
});

test("resolveKeys: items are gathered under the maxBatchSize rule", async (t) => {
  const routed = [];
  const { calls, transport } = recorder();
  const b = open(t, {
    transport,
    maxWaitMs: 10,
    maxBatchSize: 2,
    keyOf: () => undefined,
    resolveKeys: async (items) => {
      routed.push(items.map(label));
      return items.map(() => "k");
    },
  });
  const ps = ["a", "b", "c", "d", "e"].map((id) => track(b.add({ id })));
  await waitFor(() => ps.every(settled), "all items");
  assert.deepEqual(routed, [["a", "b"], ["c", "d"], ["e"]]);
  assert.ok(calls.every((c) => c.key === "k" && c.items.length <= 2));
  assert.deepEqual(calls.flatMap((c) => c.items.map(label)).sort(), ["a", "b", "c", "d", "e"]);
  await b.close();
});

test("resolveKeys: not called for items that keyOf or AddOptions.key already route", async (t) => {
  let routedCalls = 0;
  const { calls, transport } = recorder();
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    keyOf: (x) => x.k,
    resolveKeys: async (items) => {
      routedCalls += 1;
      return items.map(() => "resolved");
    },
  });
  const ps = [track(b.add({ id: 1, k: "a" })), track(b.add({ id: 2 }, { key: "b" }))];
  await b.flush();
  await waitFor(() => ps.every(settled), "both");
  assert.equal(routedCalls, 0);
  assert.deepEqual(calls.map((c) => [c.key, c.items.map(label)]).sort(), [["a", [1]], ["b", [2]]]);
  await b.close();
});

test("resolveKeys alone (no keyOf, weigh or dedupeBy): every add is routed by resolveKeys", async (t) => {
  const { calls, transport } = recorder();
  const routed = [];
  const b = open(t, {
    transport,
    maxWaitMs: 10,
    resolveKeys: (items) => (routed.push([...items]), items.map((x) => (x % 2 ? "odd" : "even"))),
  });
  const ps = [1, 2, 3].map((x) => b.add(x));
  assert.deepEqual(await Promise.all(ps), ["r:1", "r:2", "r:3"]);
  assert.deepEqual(routed, [[1, 2, 3]]);
  assert.deepEqual(calls.map((c) => [c.key, c.items]).sort(), [["even", [2]], ["odd", [1, 3]]]);
  await b.close();
});

// ---------------------------------------------------------------------------------- dedupe

test("dedupe: equal dedupe keys in one queue window share one slot and one outcome", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.id });
  const ps = [{ id: 1 }, { id: 1 }, { id: 2 }, { id: 1 }].map((x) => track(b.add(x)));
  await b.flush();
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].items.map(label), [1, 2], "one slot per dedupe key");
  assert.deepEqual(ps.map((p) => p.value), ["r:1", "r:1", "r:2", "r:1"]);
  assertStats(b, { batches: 1, items: 4 }); // "items = items accepted by add"
  await b.close();
});

test("dedupe: a shared slot's failure reaches every caller as the same error object", async (t) => {
  const boom = new Error("no such user");
  const { transport } = recorder((batch) => batch.items.map((x) => (x.id === 7 ? boom : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.id });
  const ps = [{ id: 7 }, { id: 8 }, { id: 7 }].map((x) => track(b.add(x)));
  await b.flush();
  await waitFor(() => ps.every(settled), "all");
  assert.equal(ps[0].status, "rejected");
  assert.ok(ps[0].reason === boom && ps[2].reason === boom, "both callers get the transport's object");
  assert.equal(ps[1].value, "r:8");
  await b.close();
});

test("dedupe: only within one queue and one window (other keys and later windows send again)", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x.k, dedupeBy: (x) => x.id });
  const first = [track(b.add({ id: 1, k: "a" })), track(b.add({ id: 1, k: "b" }))];
  await b.flush();
  assert.deepEqual(sortedBatches(calls), [JSON.stringify([{ id: 1, k: "a" }]), JSON.stringify([{ id: 1, k: "b" }])]);
  const again = track(b.add({ id: 1, k: "a" }));
  await b.flush();
  assert.equal(calls.length, 3, "a later window sends the same dedupe key again");
  assert.ok([...first, again].every((p) => p.value === "r:1"));
  await b.close();
});

test("dedupe: the first caller of a shared slot aborts; the slot is still sent with its item for the others", async (t) => {
  // The slot carries the first caller's item value; aborting that caller must not drop the value
  // the others still wait on (the engine settles it without releasing the value).
  const { calls, transport } = recorder((batch) => batch.items.map((x) => `r:${x?.id}:${x?.who}`));
  const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.id });
  const controller = new AbortController();
  const first = track(b.add({ id: 1, who: "first" }, { signal: controller.signal }));
  const second = track(b.add({ id: 1, who: "second" }));
  controller.abort();
  await b.flush();
  await waitFor(() => settled(first) && settled(second), "both callers");
  assertCode(first.reason, "E_ABORTED");
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0].items, [{ id: 1, who: "first" }], "the slot goes with the first caller's item");
  assert.equal(second.value, "r:1:first");
  await b.close();
});

test("dedupe: the aborted first caller's item is let go after its slot's call, not another queued item", async (t) => {
  // ids: 0 first caller of slot x (aborted), 1 an item queued under another key, 2 a follower of
  // x, 3 fills key k1's batch. When k1's call ends, item 0's value is let go; item 1 is still
  // queued and must be sent with its own value.
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 2, keyOf: (x) => x.k, dedupeBy: (x) => x.d });
  const controller = new AbortController();
  const first = track(b.add({ id: "first", k: "k1", d: "x" }, { signal: controller.signal }));
  const other = track(b.add({ id: "other", k: "k2", d: "y" }));
  const follower = track(b.add({ id: "follower", k: "k1", d: "x" }));
  controller.abort();
  const fill = track(b.add({ id: "fill", k: "k1", d: "z" }));
  await waitFor(() => settled(follower) && settled(fill), "k1's call");
  assertCode(first.reason, "E_ABORTED");
  assert.deepEqual([follower.value, fill.value], ["r:first", "r:fill"]);
  await b.flush();
  await waitFor(() => settled(other), "k2's call");
  assert.equal(other.value, "r:other");
  assert.deepEqual(calls.map((c) => [c.key, c.items.map(label)]), [["k1", ["first", "fill"]], ["k2", ["other"]]]);
  await b.close();
});

for (const leaving of ["first", "second", "refused"]) {
  test(`dedupe: an object key stays one slot while any of its callers waits (${leaving} caller leaves, a later add still joins)`, async (t) => {
    const { calls, transport } = recorder();
    const key = { user: 1 };
    const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.key });
    const controller = new AbortController();
    const opts = (who) => (who === leaving ? { signal: controller.signal } : undefined);
    const first = track(b.add({ id: "first", key }, opts("first")));
    const second = track(b.add({ id: "second", key }, opts("second")));
    // "refused": an add with the same key whose deadline has passed is refused
    const refused = track(b.add({ id: "refused", key }, { deadline: Date.now() - 1000 }));
    controller.abort();
    await macrotask();
    assertCode(refused.reason, "E_DEADLINE");
    if (leaving !== "refused") assertCode((leaving === "first" ? first : second).reason, "E_ABORTED");
    const third = track(b.add({ id: "third", key }));
    await b.flush();
    const waiting = [first, second, third].filter((p, i) => ["first", "second", "third"][i] !== leaving);
    await waitFor(() => waiting.every(settled), "the slot's callers");
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0].items.map(label), ["first"], "one slot, carried by the first item");
    assert.deepEqual(waiting.map((p) => p.value), waiting.map(() => "r:first"));
    await b.close();
  });
}

test("dedupe: an object key dedupes in every window of a long-lived batcher (item ids reused, adds joining an open window)", async (t) => {
  // Later windows reuse freed item ids, and an add joining a window already armed asks for no
  // drain: the first add of `pair` below gets id 0 with nothing to drain (add()'s `r >= 0`).
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.key });
  const first = [track(b.add({ id: "a", key: {} })), track(b.add({ id: "b", key: {} }))];
  await b.flush();
  assert.deepEqual(first.map((p) => p.value), ["r:a", "r:b"]);
  for (let round = 1; round <= 3; round++) {
    const lead = track(b.add({ id: `lead${round}`, key: {} }));
    await macrotask();
    const key = {};
    const pair = [track(b.add({ id: `x${round}`, key })), track(b.add({ id: `y${round}`, key }))];
    await b.flush();
    await waitFor(() => [lead, ...pair].every(settled), `round ${round}'s callers`);
    assert.deepEqual(calls[round].items.map(label), [`lead${round}`, `x${round}`], `round ${round}: one slot per object key`);
    assert.deepEqual(pair.map((p) => p.value), [`r:x${round}`, `r:x${round}`]);
  }
  await b.close();
});

test("dedupe: items whose dedupeBy is undefined are not deduplicated", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, dedupeBy: (x) => x.d });
  const ps = [{ id: 1 }, { id: 2 }, { id: 3, d: "k" }, { id: 4, d: "k" }].map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(calls[0].items.map(label), [1, 2, 3]);
  assert.deepEqual(ps.map((p) => p.value), ["r:1", "r:2", "r:3", "r:3"]);
  await b.close();
});

// ---------------------------------------------------------------------------------- addMany

test("addMany: resolves in input order with Promise.allSettled-shaped entries; opts apply to every item", async (t) => {
  const bad = new Error("bad item");
  const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "b" ? bad : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: () => "default" });
  const p = track(b.addMany(["a", "b", "c"], { key: "z" }));
  await b.flush();
  await waitFor(() => settled(p), "addMany");
  assert.equal(p.status, "fulfilled", "addMany itself resolves even when some items fail");
  assert.deepEqual(p.value, [
    { status: "fulfilled", value: "r:a" },
    { status: "rejected", reason: bad },
    { status: "fulfilled", value: "r:c" },
  ]);
  assert.ok(p.value[1].reason === bad, "the item error is the transport's own object");
  assert.deepEqual(calls.map((c) => [c.key, c.items]), [["z", ["a", "b", "c"]]]);
  assertStats(b, { items: 3, succeeded: 2, failed: 1 });
  await b.close();
});

// ----------------------------------------------------------------------------------- flush()

test("flush(): dispatches every queue now and resolves once those items settled, failures included", async (t) => {
  const bad = new Error("bad");
  const { calls, transport } = recorder(async (batch) => {
    await sleep(5);
    return batch.items.map((x) => (x === "a2" ? bad : echo(x)));
  });
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x[0] });
  const ps = ["a1", "b1", "a2", "c1"].map((x) => track(b.add(x)));
  await macrotask();
  assert.equal(calls.length, 0);
  const result = await b.flush();
  assert.equal(result, undefined, "flush() resolves to undefined and does not reject on item failures");
  assert.ok(ps.every(settled), "every item queued at flush() time has settled when it resolves");
  assert.deepEqual(ps.map((p) => p.status), ["fulfilled", "fulfilled", "rejected", "fulfilled"]);
  assert.ok(ps[2].reason === bad);
  assert.deepEqual(sortedBatches(calls), ['["a1","a2"]', '["b1"]', '["c1"]']);
  await b.close();
});

test("flush(): with nothing queued resolves without calling the transport", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport });
  await b.flush();
  assert.equal(calls.length, 0);
  assertStats(b, { batches: 0, items: 0 });
  await b.close();
});

test("flush(): waits for items that are retried after a retryable item error", async (t) => {
  const { calls, transport } = recorder((batch, i) =>
    batch.items.map((x) => (i === 0 ? retryable() : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, baseDelayMs: 20, maxDelayMs: 20 } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.status, "fulfilled", "flush() resolved before its item settled");
  assert.equal(p.value, "r:x");
  assert.deepEqual(calls.map((c) => c.attempt), [1, 2]);
  await b.close();
});

// ----------------------------------------------------------------------------------- close()

test("close(): sends what is queued, resolves after it settled, rejects later adds with E_CLOSED, is idempotent", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  const closing = b.close();
  await rejectsWith(b.add("late"), "E_CLOSED");
  assert.equal(await closing, undefined);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"], "close() drops nothing");
  await b.close(); // idempotent
  await Promise.all([b.close(), b.close()]);
  await rejectsWith(b.add("later"), "E_CLOSED");
  assert.deepEqual(calls.map((c) => c.items), [["a", "b"]], "no extra transport calls");
  assertStats(b, { items: 2, succeeded: 2, failed: 0, queued: 0, inFlightBatches: 0, inFlightItems: 0 });
});

test("close(): waits for in-flight transport calls", async (t) => {
  const gate = deferred();
  const { calls, transport } = recorder(async (batch) => {
    await gate.promise;
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG });
  const p = track(b.add("x"));
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "the call to start");
  const closing = track(b.close());
  await sleep(20);
  assert.equal(closing.status, "pending", "close() resolved while a call was in flight");
  gate.resolve();
  await waitFor(() => settled(closing), "close()");
  assert.equal(closing.status, "fulfilled");
  assert.equal(p.value, "r:x");
  await flushed;
});

test("close(): an item waiting for its retry delay when close() is called settles before close() resolves", async (t) => {
  const { calls, transport } = recorder((batch, i) =>
    batch.items.map((x) => (i === 0 ? retryable() : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, baseDelayMs: 40, maxDelayMs: 40 } });
  const p = track(b.add("x"));
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "the first attempt");
  await macrotask();
  await b.close();
  assert.ok(settled(p), "close() dropped an item that was waiting to retry");
  await flushed;
});

test("Symbol.asyncDispose: calls close() (`await using`)", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  assert.equal(typeof b[Symbol.asyncDispose], "function");
  const p = track(b.add("x"));
  await b[Symbol.asyncDispose]();
  assert.equal(p.value, "r:x", "dispose flushed and waited like close()");
  assert.deepEqual(calls.map((c) => c.items), [["x"]]);
  await rejectsWith(b.add("y"), "E_CLOSED");
  await b.close();
});

// --------------------------------------------------------------------------- mapping/identity

test("results map by position and the transport receives the very item values", async (t) => {
  const items = Array.from({ length: 20 }, (_, i) => ({ id: i, payload: { n: i } }));
  const { calls, transport } = recorder((batch) => batch.items.map((x) => ({ from: x })));
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 8 });
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  await waitFor(() => ps.every(settled), "all");
  assert.deepEqual(calls.map((c) => c.items.length), [8, 8, 4]);
  calls.flatMap((c) => c.items).forEach((x, i) => assert.ok(x === items[i], `item ${i} sent as the same value`));
  ps.forEach((p, i) => assert.ok(p.value.from === items[i], `caller ${i} got entry ${i}`));
  const ids = calls.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, "batch.id differs per transport call");
  assert.ok(calls.every((c) => c.deadline === undefined), "batch.deadline is undefined without item deadlines");
  assert.ok(calls.every((c) => c.signal instanceof AbortSignal), "batch.signal is an AbortSignal");
  assert.ok(calls.every((c) => !c.signal.aborted), "batch.signal of a call that did not time out is not aborted");
  await b.close();
});

test("add() may be called from inside the transport and the hooks (re-entrancy)", async (t) => {
  // contract silent: a DataLoader user may enqueue follow-up work from the batch function.
  let b;
  const nested = [];
  const { calls, transport } = recorder((batch) => {
    if (batch.items.includes("parent")) nested.push(track(b.add("child")));
    b.stats();
    return batch.items.map(echo);
  });
  b = open(t, { transport, maxWaitMs: 5, onBatchStart: () => b.stats(), onBatchEnd: () => b.stats() });
  const p = track(b.add("parent"));
  await waitFor(() => settled(p) && nested.length === 1 && settled(nested[0]), "parent and child");
  assert.equal(p.value, "r:parent");
  assert.equal(nested[0].value, "r:child");
  assert.deepEqual(calls.map((c) => c.items), [["parent"], ["child"]]);
  await b.close();
});
