// adaptive: true — the contract's "Adaptive flush": maxWaitMs is a ceiling; a key with no call in
// flight sends at the end of the tick; while a call of the key is out, its queue gathers and is
// sent when one of those calls ends, when it is full, or maxWaitMs after its first item.
import assert from "node:assert/strict";
import { Batcher, LONG, assertCode, deferred, macrotask, now, open, sleep, test } from "./_helpers.mjs";

/** A transport whose calls stay out until the test answers them. */
function held(t, options) {
  const calls = [];
  let ending = false; // the test is over: answer every call, so that close() can finish
  t.after(() => {
    ending = true;
    calls.forEach((c) => c.answer());
  });
  const b = open(t, {
    ...options,
    transport: (batch) => {
      if (ending) return batch.items;
      const d = deferred();
      calls.push({ items: [...batch.items], at: now(), answer: () => d.resolve(batch.items) });
      return d.promise;
    },
  });
  return { b, calls };
}

test("adaptive: a lone item costs one tick, not maxWaitMs", async (t) => {
  const calls = [];
  const b = open(t, { adaptive: true, maxWaitMs: LONG, transport: (batch) => (calls.push([...batch.items]), batch.items) });
  const t0 = now();
  const p = b.add(1);
  assert.deepEqual(calls, [], "never from inside add()");
  await macrotask();
  assert.deepEqual(calls, [[1]], "sent by the end of the tick");
  assert.equal(await p, 1);
  assert.ok(now() - t0 < 1000, `settled after ${now() - t0} ms`);

  // The same batcher without adaptive waits for its window.
  const fixedCalls = [];
  const fixed = open(t, { maxWaitMs: LONG, transport: (batch) => (fixedCalls.push(batch.items), batch.items) });
  fixed.add(1);
  await sleep(20);
  assert.deepEqual(fixedCalls, [], "a fixed window holds the item");
});

test("adaptive: adds in later promise jobs of the same turn join the batch", async (t) => {
  const calls = [];
  const b = open(t, { adaptive: true, maxWaitMs: LONG, transport: (batch) => (calls.push([...batch.items]), batch.items) });
  const ps = [b.add(1)];
  await Promise.resolve();
  ps.push(b.add(2));
  assert.deepEqual(await Promise.all(ps), [1, 2]);
  assert.deepEqual(calls, [[1, 2]]);
});

test("adaptive: while a call is out the queue gathers, and goes when that call ends", async (t) => {
  const { b, calls } = held(t, { adaptive: true, maxWaitMs: LONG });
  const ps = [b.add(0)];
  await macrotask();
  assert.equal(calls.length, 1, "the first item goes at once");
  for (let i = 1; i <= 5; i++) {
    ps.push(b.add(i));
    await sleep(2);
  }
  await sleep(20);
  assert.equal(calls.length, 1, "nothing more is sent while the first call is out");
  const ended = now();
  calls[0].answer();
  await macrotask();
  assert.equal(calls.length, 2, "the call's end sends what gathered");
  assert.deepEqual(calls[1].items, [1, 2, 3, 4, 5]);
  assert.ok(calls[1].at - ended < 50, `sent ${calls[1].at - ended} ms after the call ended`);
  calls[1].answer();
  assert.deepEqual(await Promise.all(ps), [0, 1, 2, 3, 4, 5]);
});

test("adaptive: a full queue goes at once even with a call out", async (t) => {
  const { b, calls } = held(t, { adaptive: true, maxWaitMs: LONG, maxBatchSize: 3 });
  b.add(0);
  await macrotask();
  b.add(1), b.add(2), b.add(3);
  await Promise.resolve();
  assert.deepEqual(calls.map((c) => c.items), [[0], [1, 2, 3]]);
});

test("adaptive: never later than maxWaitMs, though the call in flight has not ended", async (t) => {
  const { b, calls } = held(t, { adaptive: true, maxWaitMs: 60 });
  b.add(0);
  await macrotask();
  const added = now();
  const p = b.add(1);
  await sleep(30);
  assert.equal(calls.length, 1, "gathering behind the call in flight");
  await sleep(60);
  assert.equal(calls.length, 2, "sent by its maxWaitMs window");
  assert.deepEqual(calls[1].items, [1]);
  const waited = calls[1].at - added;
  assert.ok(waited >= 55 && waited < 60 + 40, `sent after ${waited} ms, maxWaitMs 60`);
  calls[1].answer();
  assert.equal(await p, 1);
});

test("adaptive: keys are independent (a call out on one key holds only that key)", async (t) => {
  const { b, calls } = held(t, { adaptive: true, maxWaitMs: LONG, keyOf: (item) => item.k });
  b.add({ k: "a", id: 0 });
  await macrotask();
  b.add({ k: "a", id: 1 });
  b.add({ k: "b", id: 2 });
  await macrotask();
  assert.deepEqual(calls.map((c) => c.items.map((i) => i.id)), [[0], [2]], "key b had nothing out");
});

test("adaptive must be a boolean", () => {
  const transport = (batch) => batch.items;
  assert.throws(() => new Batcher({ transport, adaptive: 1 }), (err) => {
    assertCode(err, "E_CONFIG");
    assert.ok(err instanceof TypeError && /adaptive/.test(err.message), err.message);
    return true;
  });
  new Batcher({ transport, adaptive: false }).close();
});
