// The batcher's one host timer is armed for the engine's next wake-up, not polled: while a lone
// item waits out a long maxWaitMs, the timer's callback runs a bounded number of times (it kills
// core.js rearm's `Math.max(0, …)` → `Math.min(0, …)`, a timer re-armed every millisecond that
// still settles everything the same).
import assert from "node:assert/strict";
import { Batcher, test } from "./_helpers.mjs";

test("timers: a lone item waiting out maxWaitMs 200 wakes the batcher a bounded number of times", async () => {
  const realSetTimeout = globalThis.setTimeout;
  let armed = 0;
  let ran = 0;
  // The batcher looks setTimeout up when it arms its timer, so counting here sees its calls;
  // this test's own waiting uses the real function.
  globalThis.setTimeout = (fn, ms, ...args) => {
    armed += 1;
    return realSetTimeout(
      (...a) => {
        ran += 1;
        return fn(...a);
      },
      ms,
      ...args,
    );
  };
  let sentAt;
  const b = new Batcher({ maxWaitMs: 200, transport: (batch) => ((sentAt = performance.now()), batch.items) });
  try {
    const start = performance.now();
    const result = b.add("x");
    assert.equal(await result, "x");
    assert.ok(sentAt - start >= 150, `sent after ${sentAt - start} ms, before its 200 ms window closed`);
  } finally {
    globalThis.setTimeout = realSetTimeout;
    await b.close();
  }
  assert.ok(armed >= 1, "the batcher armed no timer through setTimeout, so none could be counted");
  // One wake-up at the window's end; a host timer firing a little early may need one more.
  assert.ok(ran <= 3, `the batcher's timer ran ${ran} times (armed ${armed}) while one item waited 200 ms`);
  assert.ok(armed <= 3, `the batcher armed its timer ${armed} times while one item waited 200 ms`);
});

test("timers: a key held by maxInFlightPerKey while its window is past does not spin the timer", async () => {
  // The engine used to report the closed window as a wake-up due now after every handle_time,
  // so core.js re-armed a 0 ms timer until the key's call ended (about 250 callbacks in 300 ms).
  const realSetTimeout = globalThis.setTimeout;
  let armed = 0;
  globalThis.setTimeout = (fn, ms, ...args) => {
    armed += 1;
    return realSetTimeout(fn, ms, ...args);
  };
  const releases = [];
  const sent = [];
  const b = new Batcher({
    maxBatchSize: 2,
    maxInFlightPerKey: 1,
    maxWaitMs: 10,
    transport: (batch) => {
      sent.push([...batch.items]);
      return new Promise((resolve) => releases.push(() => resolve(batch.items)));
    },
  });
  let results;
  try {
    const all = Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.add(x)));
    await new Promise((r) => realSetTimeout(r, 300));
    assert.deepEqual(sent, [[1, 2]], "one call at a time for the key");
    assert.ok(armed <= 5, `the batcher armed its timer ${armed} times in 300 ms while its key waited for a call`);
    for (let i = 0; i < 3; i++) {
      while (releases.length === 0) await new Promise((r) => realSetTimeout(r, 1));
      releases.shift()();
    }
    results = await all;
  } finally {
    globalThis.setTimeout = realSetTimeout;
    await b.close();
  }
  assert.deepEqual(results, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(sent, [[1, 2], [3, 4], [5, 6]], "each call's end sends the next batch");
});
