// The numbers-only boundary between core.js and the wasm shell, through the public API: stats()
// read from a hook while core.js is still reading one drain of engine outputs, and a refused
// option (its reason crosses as numbers, not as a thrown string).
import assert from "node:assert/strict";
import { test, open, recorder, LONG, Batcher } from "./_helpers.mjs";

test("stats() from the hooks and the transport does not disturb the outputs being read", async (t) => {
  // maxBatchSize 2 and one flush(): three dispatches come out of one drain, and every hook asks
  // for stats in between.
  let b;
  const seen = [];
  const { calls, transport } = recorder((batch) => {
    seen.push(b.stats().inFlightBatches);
    return batch.items.map((item) => item * 10);
  });
  b = open(t, {
    transport,
    maxBatchSize: 2,
    maxWaitMs: LONG,
    onBatchStart: () => seen.push(b.stats().queued),
    onBatchEnd: () => seen.push(b.stats().batches),
  });
  const ps = [1, 2, 3, 4, 5, 6].map((n) => b.add(n));
  await b.flush();
  assert.deepEqual(await Promise.all(ps), [10, 20, 30, 40, 50, 60]);
  assert.deepEqual(calls.map((c) => c.items), [[1, 2], [3, 4], [5, 6]]);
  assert.equal(seen.length, 9, `three hooks per batch: ${seen}`);
  const s = b.stats();
  assert.deepEqual([s.queued, s.inFlightBatches, s.batches, s.items, s.succeeded], [0, 0, 3, 6, 6]);
});

/**
 * A batcher whose transport throws an error with a `message` getter that calls `onRead(b)`:
 * "a" is in flight; "b", "c", "d" wait behind maxInFlight and are refused together (one drain,
 * E_CIRCUIT_OPEN, whose message reads the getter) once a's failure opens the circuit.
 */
function refusedTogether(t, onRead) {
  let b;
  class Down extends Error {
    get message() {
      onRead(b);
      return "down";
    }
  }
  b = open(t, {
    transport: async () => {
      throw new Down();
    },
    maxBatchSize: 1,
    maxInFlight: 1,
    retry: { maxAttempts: 1 },
    circuitBreaker: { failureThreshold: 1, resetMs: LONG },
  });
  const first = b.add("a");
  const rest = ["b", "c", "d"].map((item) => b.add(item));
  return { b, first, rest };
}

test("stats() from user code that runs while core.js reads a drain (an error's message getter)", async (t) => {
  // E_CIRCUIT_OPEN's message reads the cause's message while the settles of one drain are being
  // read: stats() from that getter must leave the rest of the drain intact.
  let reads = 0;
  const { b, first, rest } = refusedTogether(t, (b) => {
    reads++;
    b.stats();
  });
  await assert.rejects(first, (err) => err.code === "E_TRANSPORT");
  const results = await Promise.allSettled(rest);
  assert.ok(reads >= 3, `the getter ran while reading: ${reads}`);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.equal(r.reason.code, "E_CIRCUIT_OPEN");
    assert.equal(r.reason.message, "hyperbatch: the key's circuit is open: down");
  }
  assert.equal(b.stats().failed, 4);
});

test("a refused option is a RangeError naming it and the value, every time", () => {
  for (let i = 0; i < 3; i++) {
    assert.throws(
      () => new Batcher({ transport: async (b) => b.items, maxBatchSize: 0 }),
      (err) =>
        err instanceof RangeError &&
        err.code === "E_CONFIG" &&
        err.option === "maxBatchSize" &&
        err.message === "hyperbatch: option `maxBatchSize` must be an integer from 1 to 100000, got 0",
    );
  }
  assert.throws(
    () => new Batcher({ transport: async (b) => b.items, circuitBreaker: { failureThreshold: 0.5 } }),
    (err) => err instanceof RangeError && err.option === "circuitBreaker.failureThreshold" && / got 0\.5$/.test(err.message),
  );
});

test("flush() and add() from user code that runs while core.js reads a drain: the drain is finished first", async (t) => {
  // The same getter, now calling flush() and add(): those feed the engine and would read its
  // outputs into the buffer the outer drain is still reading. They must wait for it instead.
  const flushes = [];
  const late = [];
  const { b, first, rest } = refusedTogether(t, (b) => {
    // each refused late add reads this message again: stop after three
    if (late.length < 3) {
      flushes.push(b.flush());
      late.push(b.add(`late${late.length}`).catch((err) => err.code));
    }
  });
  await assert.rejects(first, (err) => err.code === "E_TRANSPORT");
  const results = await Promise.allSettled(rest);
  assert.deepEqual(results.map((r) => r.reason?.code), ["E_CIRCUIT_OPEN", "E_CIRCUIT_OPEN", "E_CIRCUIT_OPEN"]);
  await Promise.all(flushes);
  // the circuit is open for LONG: every add made from the getter is refused too, none is lost
  assert.equal(late.length, 3, "the getter ran while reading");
  assert.deepEqual(new Set(await Promise.all(late)), new Set(["E_CIRCUIT_OPEN"]));
  const s = b.stats();
  assert.deepEqual([s.queued, s.inFlightBatches, s.failed], [0, 0, 4 + late.length]);
});

/**
 * A batcher with maxBatchSize 1 whose call for "b" returns a bare thenable (its callbacks kept)
 * and whose call for "a" answers with an array whose entry getter, on its second read (core.js
 * reading the drain that settles "a"), answers "b" through `answerB(ok, fail)`.
 */
function answeredWhileReading(t, answerB) {
  let ok, fail;
  let reads = 0;
  const b = open(t, {
    maxBatchSize: 1,
    maxWaitMs: LONG,
    retry: { maxAttempts: 1 },
    transport: (batch) => {
      if (batch.items[0] === "b") return { then: (resolve, reject) => ([ok, fail] = [resolve, reject]) };
      const results = [];
      Object.defineProperty(results, 0, {
        enumerable: true,
        get() {
          if (++reads === 2) answerB(ok, fail);
          return "r:a";
        },
      });
      return new Promise((resolve) => setTimeout(() => resolve(results), 5));
    },
  });
  return { b, reads: () => reads };
}

test("a call answered from user code while core.js reads a drain (a result getter) is taken after the read", async (t) => {
  const { b, reads } = answeredWhileReading(t, (ok) => ok(["r:b"]));
  const results = await Promise.allSettled([b.add("a"), b.add("b")]);
  assert.ok(reads() >= 2, "the getter ran while reading");
  assert.deepEqual(results, [{ status: "fulfilled", value: "r:a" }, { status: "fulfilled", value: "r:b" }]);
  const s = b.stats();
  assert.deepEqual([s.inFlightBatches, s.succeeded, s.failed], [0, 2, 0]);
});

test("a call failed from user code while core.js reads a drain (a result getter) is taken after the read", async (t) => {
  const boom = new Error("b failed");
  const { b, reads } = answeredWhileReading(t, (ok, fail) => fail(boom));
  const [a, bb] = await Promise.allSettled([b.add("a"), b.add("b")]);
  assert.ok(reads() >= 2, "the getter ran while reading");
  assert.deepEqual(a, { status: "fulfilled", value: "r:a" });
  assert.equal(bb.status, "rejected");
  assert.equal(bb.reason.code, "E_TRANSPORT");
  assert.ok(bb.reason.cause === boom, "the transport's error is the cause");
  const s = b.stats();
  assert.deepEqual([s.inFlightBatches, s.succeeded, s.failed], [0, 1, 1]);
});

test("flush() from a result getter during a closing batcher's last drain: the engine is freed and nothing escapes", async (t) => {
  // The getter's flush() re-enters while that drain is read, so it is read in a microtask; the
  // drain then settles the last item and frees the engine before that microtask runs.
  const escaped = [];
  const onUncaught = (err) => escaped.push(err);
  process.on("uncaughtException", onUncaught);
  t.after(() => process.off("uncaughtException", onUncaught));
  let b, reads = 0, flushed;
  b = open(t, {
    maxWaitMs: LONG,
    transport: async (batch) => {
      const results = [];
      Object.defineProperty(results, 0, {
        enumerable: true,
        get() {
          if (++reads === 2) flushed = b.flush(); // the second read: core.js reading the drain
          return `r:${batch.items[0]}`;
        },
      });
      return results;
    },
  });
  const p = b.add("a");
  const closed = b.close();
  assert.equal(await p, "r:a");
  await closed;
  assert.equal(reads, 2, "the getter ran while reading");
  await flushed;
  await new Promise((resolve) => setImmediate(resolve)); // the queued read has run
  assert.deepEqual(escaped.map(String), []);
  await assert.rejects(b.add("late"), (err) => err.code === "E_CLOSED");
  const s = b.stats();
  assert.deepEqual([s.queued, s.inFlightBatches, s.succeeded], [0, 0, 1]);
});

for (const [kind, extra] of [["plain", {}], ["keyed", { keyOf: () => "k" }]]) test(`${kind} add()s from a result entry's getter, while core.js reads the drain settling that call, wait for the read`, async (t) => {
  // The drain settling [1, 2, 3] is being read when the getter of entry 0 runs (its second read:
  // the first is the shape check). Adds made there must not take ids before the read is over:
  // the call's ids are free in the engine by then, and one handed out again would have its
  // caller's resolver overwritten before that drain resolves it.
  let b, reads = 0;
  const late = [];
  b = open(t, {
    transport: (batch) => {
      const out = batch.items.map((x) => x * 10);
      if (batch.items[0] === 1) {
        Object.defineProperty(out, 0, {
          get() {
            if (++reads === 2) for (let i = 1; i <= 12; i++) late.push(b.add(100 * i));
            return 10;
          },
          enumerable: true,
        });
      }
      return out;
    },
    maxBatchSize: 3,
    maxWaitMs: 0,
    ...extra,
  });
  const ps = [1, 2, 3].map((x) => b.add(x));
  assert.deepEqual(await Promise.all(ps), [10, 20, 30]);
  assert.equal(reads, 2, "the getter ran while reading");
  assert.deepEqual(await Promise.all(late), Array.from({ length: 12 }, (_, i) => 1000 * (i + 1)));
});
