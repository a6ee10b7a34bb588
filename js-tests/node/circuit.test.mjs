// circuitBreaker — the contract's "Circuit breaker": per key, consecutive calls that fail at batch
// level (retries count) open the key's circuit at failureThreshold; its queued items, items waiting
// to retry and later adds reject with E_CIRCUIT_OPEN (cause = the last batch-level error) without a
// call; after resetMs the key's next batch goes alone as a probe (half-open); the probe's verdict
// closes the circuit or opens it again for resetMs. onCircuitChange and stats().circuitsOpen.
import assert from "node:assert/strict";
import {
  Batcher, FAST_RETRY, LONG, assertCode, deferred, macrotask, open, rejectsWith, sleep, test, track, waitFor,
} from "./_helpers.mjs";

const down = (n) => Object.assign(new Error(`instance down (${n})`), { status: 503 });

/** A transport whose calls the test answers one by one; `changes` records onCircuitChange. */
function controlled(t, options) {
  const calls = [], changes = [];
  let ending = false;
  t.after(() => {
    ending = true;
    for (const c of calls) c.d.resolve(c.items);
  });
  const b = open(t, {
    maxWaitMs: 0,
    onCircuitChange: (info) => changes.push(info),
    ...options,
    transport: (batch) => {
      if (ending) return batch.items;
      const d = deferred();
      calls.push({ key: batch.key, items: [...batch.items], d, ok: () => d.resolve(batch.items), fail: (e) => d.reject(e) });
      return d.promise;
    },
  });
  return { b, calls, changes };
}

const states = (changes) => changes.map((c) => c.state);

test("circuitBreaker: options are checked, nested names too (E_CONFIG naming the path)", () => {
  const transport = (batch) => batch.items;
  new Batcher({ transport, circuitBreaker: {} }).close();
  new Batcher({ transport, circuitBreaker: { failureThreshold: 1, resetMs: 0 }, onCircuitChange: () => {} }).close();
  const cases = [
    [{ failureThreshold: 0 }, "circuitBreaker.failureThreshold", RangeError],
    [{ failureThreshold: 2.5 }, "circuitBreaker.failureThreshold", RangeError],
    [{ resetMs: -1 }, "circuitBreaker.resetMs", RangeError],
    [{ resetMs: "10" }, "circuitBreaker.resetMs", TypeError],
    [{ failureTreshold: 3 }, "circuitBreaker.failureTreshold", TypeError],
    [5, "circuitBreaker", TypeError],
  ];
  for (const [circuitBreaker, option, Ctor] of cases) {
    assert.throws(() => new Batcher({ transport, circuitBreaker }), (e) => {
      assertCode(e, "E_CONFIG");
      assert.ok(e instanceof Ctor, `${option}: ${e.constructor.name}`);
      assert.equal(e.option, option);
      assert.match(e.message, new RegExp(option.replace(".", "\\.")));
      return true;
    });
  }
  assert.throws(() => new Batcher({ transport, circuitBreaker: { failureTreshold: 3 } }), /did you mean `circuitBreaker\.failureThreshold`/);
  assert.throws(() => new Batcher({ transport, onCircuitChange: 1 }), (e) => e.code === "E_CONFIG" && e.option === "onCircuitChange");
});

test("circuitBreaker: consecutive batch-level failures open the key's circuit at failureThreshold; retries count as calls", async (t) => {
  let calls = 0;
  const changes = [];
  const errors = [];
  const b = open(t, {
    maxWaitMs: 0,
    retry: { ...FAST_RETRY, maxAttempts: 5 },
    circuitBreaker: { failureThreshold: 3, resetMs: LONG },
    onCircuitChange: (info) => changes.push(info),
    transport: () => {
      const e = down(++calls);
      errors.push(e);
      throw e;
    },
  });
  assert.equal(b.stats().circuitsOpen, 0);
  const first = await rejectsWith(b.add("x"), "E_CIRCUIT_OPEN", "its third attempt opened the circuit before it could be retried");
  assert.equal(calls, 3, "one item: a call and two retries");
  assert.deepEqual(states(changes), ["open"]);
  assert.equal(changes[0].key, undefined, "the single queue has no key");
  assert.equal(changes[0].error, errors[2], "the hook gets the error that opened it");
  assert.equal(first.cause, errors[2], "cause = the last batch-level error");
  assert.equal(b.stats().circuitsOpen, 1);
});

test("circuitBreaker: a call that returns an array resets the count", async (t) => {
  let n = 0;
  const changes = [];
  const plan = ["fail", "fail", "ok", "fail", "fail", "ok"];
  const b = open(t, {
    maxWaitMs: 0,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 3, resetMs: LONG },
    onCircuitChange: (info) => changes.push(info),
    transport: (batch) => {
      if (plan[n++] === "fail") throw down(n);
      return batch.items.map(() => new Error("an item error is still an array")); // item errors: the call returned an array
    },
  });
  for (let i = 0; i < plan.length; i++) await b.add(i).catch(() => {});
  assert.deepEqual(changes, [], "never three failures in a row");
  assert.equal(b.stats().circuitsOpen, 0);
});

test("circuitBreaker: opening rejects the key's queued items and items waiting to retry, and later adds, without a call", async (t) => {
  const { b, calls, changes } = controlled(t, {
    keyOf: (item) => item.key,
    maxInFlightPerKey: 1,
    retry: { baseDelayMs: LONG, maxDelayMs: LONG, jitter: "none", maxAttempts: 5 },
    circuitBreaker: { failureThreshold: 2, resetMs: LONG },
  });
  const a = track(b.add({ key: "s1", id: "a" }));
  await waitFor(() => calls.length === 1);
  calls[0].fail(down(1)); // a waits LONG to retry
  await macrotask();
  const bItem = track(b.add({ key: "s1", id: "b" }));
  await waitFor(() => calls.length === 2);
  const c = track(b.add({ key: "s1", id: "c" })); // queued behind b (maxInFlightPerKey 1)
  await macrotask();
  assert.equal(calls.length, 2);
  const opener = down(2);
  calls[1].fail(opener);
  await waitFor(() => a.status !== "pending" && bItem.status !== "pending" && c.status !== "pending");
  for (const [name, p] of [["waiting to retry", a], ["its own retry", bItem], ["queued", c]]) {
    assert.equal(p.status, "rejected", name);
    assertCode(p.reason, "E_CIRCUIT_OPEN", name);
    assert.equal(p.reason.cause, opener, `${name}: cause = the last batch-level error`);
  }
  assert.deepEqual(changes.map((c) => [c.key, c.state]), [["s1", "open"]]);
  assert.equal(changes[0].error, opener);
  const later = await rejectsWith(b.add({ key: "s1", id: "d" }), "E_CIRCUIT_OPEN", "a later add");
  assert.equal(later.cause, opener);
  await sleep(20);
  assert.equal(calls.length, 2, "the transport was not called for any of them");
  assert.equal(b.stats().circuitsOpen, 1);
});

test("circuitBreaker: other keys are unaffected", async (t) => {
  const { b, calls, changes } = controlled(t, {
    keyOf: (item) => item.key,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: LONG },
  });
  const bad = track(b.add({ key: "down", id: 1 }));
  await waitFor(() => calls.length === 1);
  calls[0].fail(down(1));
  await waitFor(() => bad.status === "rejected");
  assertCode(bad.reason, "E_TRANSPORT", "the call's own item fails with its error");
  assert.deepEqual(states(changes), ["open"]);
  const ok = b.add({ key: "up", id: 2 });
  await waitFor(() => calls.length === 2);
  assert.equal(calls[1].key, "up");
  calls[1].ok();
  assert.deepEqual(await ok, { key: "up", id: 2 });
  await rejectsWith(b.add({ key: "down", id: 3 }), "E_CIRCUIT_OPEN");
  assert.equal(b.stats().circuitsOpen, 1);
});

test("circuitBreaker: after resetMs the next batch is a lone probe (no timer for the reset); items added meanwhile wait; success closes", async (t) => {
  const { b, calls, changes } = controlled(t, {
    keyOf: (item) => item.key,
    maxBatchSize: 1,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: 40 },
  });
  const first = track(b.add({ key: "s", id: 0 }));
  await waitFor(() => calls.length === 1);
  calls[0].fail(down(1));
  await waitFor(() => first.status === "rejected");
  await sleep(80);
  assert.equal(calls.length, 1, "no call was made for the reset itself");
  assert.deepEqual(states(changes), ["open"], "still open until the next batch is sent");
  assert.equal(b.stats().circuitsOpen, 1);

  const probeItem = b.add({ key: "s", id: 1 });
  await waitFor(() => calls.length === 2);
  assert.deepEqual(states(changes), ["open", "half_open"], "half-open from the moment the probe is sent");
  assert.equal(b.stats().circuitsOpen, 0, "half-open is not open");
  const waiting = [2, 3, 4].map((id) => track(b.add({ key: "s", id })));
  await sleep(30);
  assert.equal(calls.length, 2, "items added while the probe is out wait for it (each a full batch)");
  assert.ok(waiting.every((p) => p.status === "pending"));
  calls[1].ok();
  assert.deepEqual(await probeItem, { key: "s", id: 1 });
  await waitFor(() => calls.length === 5);
  assert.deepEqual(states(changes), ["open", "half_open", "closed"]);
  assert.deepEqual(calls.slice(2).map((c) => c.items[0].id), [2, 3, 4], "they go once it closed");
  for (const c of calls.slice(2)) c.ok();
  await Promise.all(waiting.map((w) => w.promise));
});

test("circuitBreaker: a probe that fails (a wrong-shaped result counts) opens it again for resetMs; what waited rejects", async (t) => {
  const { b, calls, changes } = controlled(t, {
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: 40 },
  });
  b.add(0).catch(() => {});
  await waitFor(() => calls.length === 1);
  calls[0].fail(down(1));
  await sleep(60);
  const probe = track(b.add(1));
  await waitFor(() => calls.length === 2);
  const waited = track(b.add(2));
  await macrotask();
  calls[1].d.resolve(["one", "too", "many"]);
  await waitFor(() => probe.status !== "pending" && waited.status !== "pending");
  assertCode(probe.reason, "E_RESULT_SHAPE", "the probe's own item");
  assertCode(waited.reason, "E_CIRCUIT_OPEN", "the item that waited for the probe");
  assertCode(waited.reason.cause, "E_RESULT_SHAPE", "cause = the probe's failure");
  assert.deepEqual(states(changes), ["open", "half_open", "open"]);
  assertCode(changes[2].error, "E_RESULT_SHAPE");
  await rejectsWith(b.add(3), "E_CIRCUIT_OPEN", "open again");
  await sleep(60);
  const again = b.add(4);
  await waitFor(() => calls.length === 3);
  assert.deepEqual(states(changes).slice(3), ["half_open"], "after another resetMs, a new probe");
  calls[2].ok();
  assert.equal(await again, 4);
  assert.deepEqual(states(changes).slice(3), ["half_open", "closed"]);
});

test("circuitBreaker: a probe waits until no other call of its key is in flight", async (t) => {
  const { b, calls, changes } = controlled(t, {
    maxBatchSize: 1,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: 10 },
  });
  b.add(0).catch(() => {});
  b.add(1).catch(() => {});
  await waitFor(() => calls.length === 2);
  calls[0].fail(down(1)); // opens; call 2 still out
  await sleep(30);
  const p = b.add(2);
  await sleep(20);
  assert.equal(calls.length, 2, "not while the older call is out");
  calls[1].ok();
  await waitFor(() => calls.length === 3);
  assert.deepEqual(states(changes), ["open", "half_open"]);
  calls[2].ok();
  assert.equal(await p, 2);
  assert.deepEqual(states(changes), ["open", "half_open", "closed"]);
});

test("circuitBreaker: a hook that throws changes no outcome", async (t) => {
  let fail = true;
  const b = open(t, {
    maxWaitMs: 0,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: 20 },
    onCircuitChange: () => {
      throw new Error("hook bug");
    },
    transport: (batch) => {
      if (fail) throw down(1);
      return batch.items;
    },
  });
  await rejectsWith(b.add(1), "E_TRANSPORT");
  await rejectsWith(b.add(2), "E_CIRCUIT_OPEN");
  await sleep(40);
  fail = false;
  assert.equal(await b.add(3), 3, "probe ok");
  assert.equal(await b.add(4), 4, "closed");
  assert.equal(b.stats().circuitsOpen, 0);
});

test("circuitBreaker: without the option nothing opens", async (t) => {
  let calls = 0;
  const b = open(t, {
    maxWaitMs: 0,
    retry: { maxAttempts: 1 },
    transport: () => {
      calls++;
      throw down(calls);
    },
  });
  for (let i = 0; i < 8; i++) await rejectsWith(b.add(i), "E_TRANSPORT");
  assert.equal(calls, 8);
  assert.equal(b.stats().circuitsOpen, 0);
});
