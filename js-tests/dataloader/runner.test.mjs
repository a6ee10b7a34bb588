// The internal interface hyperbatch/dataloader takes from core.js: `runnerOf(batcher)` and the
// Runner's `startCall()` / `finishCall(id)`, with which every loader without extras runs its
// batches as calls of one shared Batcher (the loader makes each call itself). Checked here
// through that Batcher's stats(), which the facade never shows.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Batcher } from "hyperbatch";

// core.js is not an export of the package; it is the module the entries load.
const { runnerOf } = await import(new URL("./core.js", import.meta.resolve("hyperbatch")));

// The shared Batcher's options (dataloader.js batcherOptions without extras).
const SHARED = {
  maxWaitMs: 0, maxQueued: 4294967295, maxInFlight: 4294967295, retry: { maxAttempts: 1, budget: false }, bisect: false,
};
const neverCalled = () => {
  throw new Error("the transport of a Batcher fed by startCall is never called");
};
const macrotask = () => new Promise((resolve) => setImmediate(resolve));

function counts(b) {
  const s = b.stats();
  return { batches: s.batches, items: s.items, inFlightBatches: s.inFlightBatches, inFlightItems: s.inFlightItems,
    succeeded: s.succeeded, failed: s.failed, queued: s.queued };
}

test("startCall puts one call of one item in flight and returns its id; finishCall(id) ends that call as succeeded", async () => {
  const b = new Batcher({ transport: neverCalled, ...SHARED });
  const runner = runnerOf(b);
  const first = runner.startCall();
  assert.deepEqual(counts(b), { batches: 1, items: 1, inFlightBatches: 1, inFlightItems: 1, succeeded: 0, failed: 0, queued: 0 });
  const second = runner.startCall();
  const third = runner.startCall();
  assert.equal(new Set([first, second, third]).size, 3, `distinct ids: ${[first, second, third]}`);
  assert.deepEqual(counts(b), { batches: 3, items: 3, inFlightBatches: 3, inFlightItems: 3, succeeded: 0, failed: 0, queued: 0 });
  // in any order, each id ends its own call (and only once)
  runner.finishCall(second);
  runner.finishCall(second);
  assert.deepEqual(counts(b), { batches: 3, items: 3, inFlightBatches: 2, inFlightItems: 2, succeeded: 1, failed: 0, queued: 0 });
  runner.finishCall(third);
  runner.finishCall(first);
  assert.deepEqual(counts(b), { batches: 3, items: 3, inFlightBatches: 0, inFlightItems: 0, succeeded: 3, failed: 0, queued: 0 });
  await b.close();
});

test("startCall refused: throws the add's coded error and starts nothing (E_FULL, E_TOO_LARGE, E_CLOSED)", async () => {
  const full = new Batcher({ transport: neverCalled, ...SHARED, maxInFlight: 1 });
  const runner = runnerOf(full);
  const id = runner.startCall();
  assert.throws(() => runner.startCall(), (err) => err instanceof Error && err.code === "E_FULL");
  assert.deepEqual(counts(full), { batches: 1, items: 1, inFlightBatches: 1, inFlightItems: 1, succeeded: 0, failed: 0, queued: 0 });
  runner.finishCall(id);
  runner.finishCall(runner.startCall()); // room again
  assert.equal(full.stats().succeeded, 2);
  await full.close();

  const heavy = new Batcher({ transport: neverCalled, ...SHARED, maxBatchWeight: 0.5 });
  assert.throws(() => runnerOf(heavy).startCall(), (err) => err instanceof Error && err.code === "E_TOO_LARGE");
  assert.equal(heavy.stats().batches, 0);
  await heavy.close();

  const closed = new Batcher({ transport: neverCalled, ...SHARED });
  await closed.close(); // nothing pending: the engine is freed
  assert.throws(() => runnerOf(closed).startCall(), (err) => err instanceof Error && err.code === "E_CLOSED");
});

test("finishCall frees room at once: an add waiting behind maxInFlight is sent before any timer", async () => {
  const sent = [];
  const b = new Batcher({
    transport: (batch) => {
      sent.push([...batch.items]);
      return batch.items.map((x) => x * 10);
    },
    ...SHARED,
    maxWaitMs: 60_000,
    maxBatchSize: 1,
    maxInFlight: 1,
  });
  const runner = runnerOf(b);
  const id = runner.startCall();
  const added = b.add(4);
  await macrotask();
  assert.deepEqual(sent, [], "no room while the started call is in flight");
  runner.finishCall(id);
  await macrotask();
  assert.deepEqual(sent, [[4]]);
  assert.equal(await added, 40);
  await b.close();
});

test("with timeoutMs, a call finished before its timeout succeeded", async () => {
  const b = new Batcher({ transport: neverCalled, ...SHARED, timeoutMs: 5_000 });
  const runner = runnerOf(b);
  const ids = [runner.startCall(), runner.startCall()];
  for (const id of ids) runner.finishCall(id);
  assert.deepEqual(counts(b), { batches: 2, items: 2, inFlightBatches: 0, inFlightItems: 0, succeeded: 2, failed: 0, queued: 0 });
  await b.close();
});

test("close() while a started call is in flight waits for finishCall(id), then the call counts as succeeded", async () => {
  const b = new Batcher({ transport: neverCalled, ...SHARED });
  const runner = runnerOf(b);
  const id = runner.startCall();
  let closed = false;
  const closing = b.close().then(() => (closed = true));
  await macrotask();
  assert.equal(closed, false, "close() resolved while a started call was in flight");
  assert.deepEqual(counts(b), { batches: 1, items: 1, inFlightBatches: 1, inFlightItems: 1, succeeded: 0, failed: 0, queued: 0 });
  runner.finishCall(id);
  await closing;
  assert.deepEqual(counts(b), { batches: 1, items: 1, inFlightBatches: 0, inFlightItems: 0, succeeded: 1, failed: 0, queued: 0 });
  runner.finishCall(id); // finished twice, after the engine is freed: nothing happens
  assert.throws(() => runner.startCall(), (err) => err.code === "E_CLOSED");
});

test("close() with two started calls resolves after the second finishCall, not the first (an id finished twice counts once)", async () => {
  const b = new Batcher({ transport: neverCalled, ...SHARED });
  const runner = runnerOf(b);
  const [a, c] = [runner.startCall(), runner.startCall()];
  let closed = false;
  const closing = b.close().then(() => (closed = true));
  runner.finishCall(a);
  runner.finishCall(a);
  await macrotask();
  assert.equal(closed, false, "close() resolved with a started call still in flight");
  runner.finishCall(c);
  await closing;
  assert.equal(b.stats().succeeded, 2);
});
