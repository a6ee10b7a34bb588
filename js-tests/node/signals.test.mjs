// Items that share an AbortSignal (the common case: one request's signal for all its loads).
// The contract's abort semantics hold for each item, and the batcher keeps one "abort" listener
// per distinct signal, however many items share it: a listener per item costs quadratic time
// (a signal's listener list is walked on every add and remove) and makes Node print
// MaxListenersExceededWarning once 11 items share a signal.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import {
  test,
  LONG,
  assertCode,
  deferred,
  echo,
  macrotask,
  open,
  recorder,
  settled,
  track,
  waitFor,
} from "./_helpers.mjs";

const listeners = (signal) => getEventListeners(signal, "abort").length;

/** Collects the process warnings emitted while the test runs. */
function warnings(t) {
  const seen = [];
  const onWarning = (w) => seen.push(w);
  process.on("warning", onWarning);
  t.after(() => process.off("warning", onWarning));
  return seen;
}

/** A transport whose calls wait until `release(i)` lets call i answer (echo). */
function heldCalls() {
  const gates = [];
  const rec = recorder((batch, i) => {
    gates[i] ??= deferred();
    return gates[i].promise.then(() => batch.items.map(echo));
  });
  const release = (i) => (gates[i] ??= deferred()).resolve();
  return { ...rec, release };
}

test("1,000 items share one signal: one listener while pending, none once settled, no MaxListenersExceededWarning", async (t) => {
  const seen = warnings(t);
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 100 });
  const controller = new AbortController();
  const signal = controller.signal;
  const ps = [];
  for (let i = 0; i < 1000; i++) {
    ps.push(b.add(i, { signal }));
    // pending: the full batches are in flight (the transport answers later), the rest queued
    if (i === 10 || i === 999) assert.equal(listeners(signal), 1, `listeners on the signal after ${i + 1} adds`);
  }
  await b.flush();
  const results = await Promise.all(ps);
  assert.deepEqual(results, ps.map((_, i) => echo(i)));
  assert.equal(calls.length, 10);
  assert.equal(listeners(signal), 0, "every item settled: the listener is removed");
  await macrotask(); // process warnings are emitted on a later tick
  assert.deepEqual(seen.filter((w) => w.name === "MaxListenersExceededWarning").map(String), []);
});

test("aborting a signal shared by 1,000 queued items rejects every one with E_ABORTED, in add order, none sent", async (t) => {
  const seen = warnings(t);
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 2000 });
  const controller = new AbortController();
  const other = track(b.add("other"));
  const order = [];
  const ps = [];
  for (let i = 0; i < 1000; i++) {
    const p = b.add(i, { signal: controller.signal });
    p.catch(() => order.push(i));
    ps.push(track(p));
  }
  assert.equal(listeners(controller.signal), 1);
  const reason = new Error("request cancelled");
  controller.abort(reason);
  await macrotask();
  for (const s of ps) {
    assert.equal(s.status, "rejected");
    assertCode(s.reason, "E_ABORTED");
    assert.equal(s.reason.name, "AbortError");
    assert.equal(s.reason.cause, reason);
  }
  assert.deepEqual(order, ps.map((_, i) => i), "rejections come in add order");
  assert.equal(listeners(controller.signal), 0);
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["other"]], "no aborted item is sent");
  assert.equal(other.value, echo("other"));
  assert.deepEqual(seen.filter((w) => w.name === "MaxListenersExceededWarning").map(String), []);
});

test("a shared signal aborted while its items are in flight: callers reject at once, the call's batch.signal aborts", async (t) => {
  const { calls, transport, release } = heldCalls();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 5 });
  const controller = new AbortController();
  const ps = [1, 2, 3, 4, 5].map((x) => track(b.add(x, { signal: controller.signal })));
  await waitFor(() => calls.length === 1, "the call");
  assert.equal(listeners(controller.signal), 1);
  controller.abort();
  await macrotask();
  for (const s of ps) {
    assertCode(s.reason, "E_ABORTED");
    assert.equal(s.reason.cause, controller.signal.reason);
  }
  assert.equal(calls[0].signal.aborted, true, "nobody waits for the call: its signal aborted");
  assertCode(calls[0].signal.reason, "E_ABORTED");
  release(0);
  await b.flush();
  assert.ok(ps.every((s) => s.count === 1), "the late answer settles nobody twice");
  assert.equal(listeners(controller.signal), 0);
});

test("mixed signals: interleaved shared signals and a signal each keep one listener per signal; an abort reaches its own items only", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 1000 });
  const shared = [new AbortController(), new AbortController(), new AbortController()];
  const own = Array.from({ length: 30 }, () => new AbortController());
  const items = [];
  for (let i = 0; i < 90; i++) items.push({ i, controller: shared[i % 3] });
  for (let i = 0; i < 30; i++) items.splice(i * 4, 0, { i: 100 + i, controller: own[i] });
  for (const item of items) item.s = track(b.add(item.i, { signal: item.controller.signal }));
  for (const c of [...shared, ...own]) assert.equal(listeners(c.signal), 1);
  const reason = new Error("second request gone");
  shared[1].abort(reason);
  own[7].abort();
  await macrotask();
  assert.equal(listeners(shared[1].signal), 0);
  assert.equal(listeners(own[7].signal), 0);
  assert.equal(listeners(shared[0].signal), 1, "the other shared signals keep their listener");
  const aborted = (item) => item.controller === shared[1] || item.controller === own[7];
  for (const item of items.filter(aborted)) {
    assertCode(item.s.reason, "E_ABORTED");
    assert.equal(item.s.reason.cause, item.controller.signal.reason);
  }
  assert.ok(items.filter((item) => !aborted(item)).every((item) => !settled(item.s)));
  await b.flush();
  const sent = calls.flatMap((c) => c.items);
  assert.deepEqual(sent, items.filter((item) => !aborted(item)).map((item) => item.i));
  for (const item of items.filter((item) => !aborted(item))) assert.equal(item.s.value, echo(item.i));
  for (const c of [...shared, ...own]) assert.equal(listeners(c.signal), 0, "all settled: no listener left");
});

test("a shared signal whose items settle out of order (middle batch first) still aborts the rest", async (t) => {
  const { calls, transport, release } = heldCalls();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 10 });
  const controller = new AbortController();
  const ps = Array.from({ length: 30 }, (_, i) => track(b.add(i, { signal: controller.signal })));
  await waitFor(() => calls.length === 3, "three calls");
  release(1);
  await waitFor(() => ps.slice(10, 20).every(settled), "the middle batch");
  assert.equal(listeners(controller.signal), 1);
  controller.abort();
  await macrotask();
  ps.forEach((s, i) => {
    if (i >= 10 && i < 20) assert.equal(s.value, echo(i));
    else assertCode(s.reason, "E_ABORTED", `item ${i}`);
  });
  assert.equal(listeners(controller.signal), 0);
  release(0);
  release(2);
  await b.flush();
  assert.ok(ps.every((s) => s.count === 1));
});

test("a signal reused after its items settled gets its listener back, and aborts only the new items", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 100 });
  const controller = new AbortController();
  const first = [1, 2, 3].map((x) => track(b.add(x, { signal: controller.signal })));
  await b.flush();
  assert.deepEqual(first.map((s) => s.value), [1, 2, 3].map(echo));
  assert.equal(listeners(controller.signal), 0);
  const again = [4, 5, 6].map((x) => track(b.add(x, { signal: controller.signal })));
  assert.equal(listeners(controller.signal), 1);
  controller.abort();
  await macrotask();
  for (const s of again) assertCode(s.reason, "E_ABORTED");
  assert.ok(first.every((s) => s.count === 1 && s.status === "fulfilled"));
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [[1, 2, 3]]);
  // aborted now: later adds reject at once and add no listener
  await assert.rejects(b.add(7, { signal: controller.signal }), (e) => e.code === "E_ABORTED");
  assert.equal(listeners(controller.signal), 0);
});

test("one signal shared by items of two batchers: a listener per batcher, an abort reaches both", async (t) => {
  const b1 = open(t, { transport: recorder().transport, maxWaitMs: LONG });
  const b2 = open(t, { transport: recorder().transport, maxWaitMs: LONG });
  const controller = new AbortController();
  const ps = [];
  for (let i = 0; i < 20; i++) ps.push(track((i % 2 ? b1 : b2).add(i, { signal: controller.signal })));
  assert.equal(listeners(controller.signal), 2);
  controller.abort();
  await macrotask();
  for (const s of ps) assertCode(s.reason, "E_ABORTED");
  assert.equal(listeners(controller.signal), 0);
});

test("one signal, two batchers, the first done before the second's later adds: each keeps one listener, an abort reaches the rest", async (t) => {
  // A batcher's open watch is kept on the signal while no other batcher's is there, else in its
  // own table: the second batcher's must still be found once the first batcher's items settle.
  const one = heldCalls(), two = heldCalls();
  const b1 = open(t, { transport: one.transport, maxWaitMs: LONG });
  const b2 = open(t, { transport: two.transport, maxWaitMs: LONG });
  const controller = new AbortController();
  const { signal } = controller;
  const first = [1, 2].map((x) => track(b1.add(x, { signal })));
  const second = [track(b2.add(3, { signal }))];
  assert.equal(listeners(signal), 2);
  b1.flush();
  one.release(0);
  await waitFor(() => first.every(settled), "the first batcher's items");
  assert.equal(listeners(signal), 1, "the first batcher's listener is removed");
  second.push(track(b2.add(4, { signal })), track(b2.add(5, { signal })));
  const third = [track(b1.add(6, { signal }))];
  assert.equal(listeners(signal), 2, "one listener per batcher, not one per add");
  controller.abort(new Error("gone"));
  await macrotask();
  for (const s of [...second, ...third]) {
    assertCode(s.reason, "E_ABORTED");
    assert.equal(s.reason.cause, signal.reason);
  }
  assert.deepEqual(first.map((s) => s.value), [1, 2].map(echo));
  assert.equal(listeners(signal), 0);
});

test("a frozen signal-like object shared by many items: one listener, removed when they settle; its abort reaches them", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  const added = new Set();
  const make = () =>
    Object.freeze({
      aborted: false,
      reason: "gone",
      addEventListener: (_type, listener) => added.add(listener),
      removeEventListener: (_type, listener) => added.delete(listener),
    });
  const kept = make(), dropped = make();
  const ps = [];
  for (let i = 0; i < 6; i++) ps.push(track(b.add(i, { signal: i % 2 ? dropped : kept })));
  assert.equal(added.size, 2, "one listener per signal");
  const [, fire] = added;
  fire();
  await macrotask();
  ps.forEach((s, i) => {
    if (i % 2) assert.equal(s.reason.cause, "gone");
    else assert.equal(settled(s), false);
  });
  assert.equal(added.size, 1);
  await b.flush();
  assert.deepEqual(calls.flatMap((c) => c.items), [0, 2, 4]);
  assert.equal(added.size, 0, "every item settled: no listener left");
});

test("a signal-like object whose addEventListener throws, shared by several items: each rejects E_ABORTED with that error", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  const thrown = new Error("cannot listen");
  let attempts = 0;
  const signal = {
    aborted: false,
    addEventListener() {
      attempts++;
      throw thrown;
    },
    removeEventListener() {},
  };
  const ps = [1, 2, 3].map((x) => track(b.add(x, { signal })));
  await macrotask();
  for (const s of ps) {
    assertCode(s.reason, "E_ABORTED");
    assert.equal(s.reason.cause, thrown);
  }
  assert.equal(attempts, 3, "every add tries to listen again");
  await b.flush();
  assert.equal(calls.length, 0);
});

test("a signal-like object that fires while not aborted: later adds with it get a listener of their own", async (t) => {
  const b = open(t, { transport: recorder().transport, maxWaitMs: LONG });
  const added = new Set();
  const signal = {
    aborted: false,
    reason: "gone",
    addEventListener(_type, listener) {
      added.add(listener);
    },
    removeEventListener(_type, listener) {
      added.delete(listener);
    },
  };
  const first = [1, 2].map((x) => track(b.add(x, { signal })));
  assert.equal(added.size, 1);
  const [fire] = added;
  fire();
  await macrotask();
  for (const s of first) assert.equal(s.reason.cause, "gone");
  assert.equal(added.size, 0, "the last item out removes the listener");
  const later = track(b.add(3, { signal }));
  assert.equal(added.size, 1);
  fire(); // the old listener: nothing of its own is left
  await macrotask();
  assert.equal(settled(later), false);
  const [fireAgain] = added;
  fireAgain();
  await macrotask();
  assertCode(later.reason, "E_ABORTED");
});

test("an AbortSignal sent an \"abort\" event without aborting: its items abort, and later adds with it still listen", async (t) => {
  const b = open(t, { transport: recorder().transport, maxWaitMs: LONG });
  const controller = new AbortController();
  const signal = controller.signal;
  const first = [1, 2].map((x) => track(b.add(x, { signal })));
  signal.dispatchEvent(new Event("abort"));
  await macrotask();
  for (const s of first) assertCode(s.reason, "E_ABORTED");
  const later = [3, 4].map((x) => track(b.add(x, { signal })));
  assert.equal(listeners(signal), 1);
  controller.abort();
  await macrotask();
  for (const s of later) assertCode(s.reason, "E_ABORTED");
  assert.equal(listeners(signal), 0);
});

test("a primitive whose prototype has addEventListener as its signal: add() still rejects or settles, never throws", async (t) => {
  const b = open(t, { transport: recorder().transport, maxWaitMs: LONG });
  const fires = [];
  Number.prototype.addEventListener = function (_type, listener) {
    fires.push(listener);
  };
  Number.prototype.removeEventListener = function () {};
  t.after(() => {
    delete Number.prototype.addEventListener;
    delete Number.prototype.removeEventListener;
  });
  let p;
  assert.doesNotThrow(() => {
    p = b.add(1, { signal: 5 });
  });
  const s = track(p);
  const q = track(b.add(2, { signal: 5 }));
  fires.forEach((fire) => fire());
  await macrotask();
  assertCode(s.reason, "E_ABORTED");
  assertCode(q.reason, "E_ABORTED");
});

test("a shared signal whose last-added item settles first: items added after that still abort with it", async (t) => {
  // The watch's list loses its tail first; a later item is linked after the new tail.
  const { calls, transport, release } = heldCalls();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 10, keyOf: (x) => x.k });
  const controller = new AbortController();
  const { signal } = controller;
  const a = track(b.add({ id: "a", k: "slow" }, { signal }));
  const tail = track(b.add({ id: "tail", k: "fast" }, { signal }));
  b.flush();
  await waitFor(() => calls.length === 2, "two calls");
  release(calls.findIndex((c) => c.key === "fast"));
  await waitFor(() => settled(tail), "the tail item");
  const later = track(b.add({ id: "later", k: "slow" }, { signal }));
  controller.abort();
  await macrotask();
  assertCode(a.reason, "E_ABORTED");
  assertCode(later.reason, "E_ABORTED", "the item added after the tail settled");
  assert.equal(listeners(signal), 0);
  release(0);
  release(1);
});

test("shared signal: aborting several queued items of a zero window sends none of them (the first abort sends nothing before the others')", async (t) => {
  for (const keyed of [false, true]) {
    const { calls, transport } = recorder();
    const b = open(t, { transport, maxWaitMs: 0, ...(keyed ? { keyOf: () => "k" } : {}) });
    const c = new AbortController();
    const ps = [track(b.add("a", { signal: c.signal })), track(b.add("b", { signal: c.signal })), track(b.add("c", { signal: c.signal }))];
    const other = track(b.add("d"));
    c.abort(new Error("gone"));
    await macrotask();
    await waitFor(() => ps.every(settled) && settled(other), "every item");
    for (const p of ps) assertCode(p.reason, "E_ABORTED");
    assert.deepEqual(calls.map((x) => x.items), [["d"]], `${keyed ? "keyed" : "plain"}: only the item not aborted is sent`);
    assert.equal(b.stats().batches, 1);
    await b.close();
  }
});
