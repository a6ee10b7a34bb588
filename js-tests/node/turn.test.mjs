// maxWaitMs 0 — the contract's "`0` = at the end of the current tick (DataLoader-style)", and
// "Dispatch timing": a size flush still goes on the next microtask at the latest.
import assert from "node:assert/strict";
import { LONG, open, test } from "./_helpers.mjs";

function recording(t, options) {
  const calls = [];
  const b = open(t, { ...options, transport: (batch) => (calls.push([...batch.items]), batch.items) });
  return { b, calls };
}

test("maxWaitMs 0: adds made in later promise jobs of the same turn join the batch", async (t) => {
  const { b, calls } = recording(t, { maxWaitMs: 0 });
  const ps = [b.add(1)];
  await Promise.resolve();
  ps.push(b.add(2));
  await Promise.resolve().then(() => {}).then(() => {});
  ps.push(b.add(3));
  assert.deepEqual(calls, [], "nothing is sent while promise jobs of the turn are still running");
  assert.deepEqual(await Promise.all(ps), [1, 2, 3]);
  assert.deepEqual(calls, [[1, 2, 3]], "one call at the end of the turn");
});

test("maxWaitMs 0: the next turn starts a new batch", async (t) => {
  const { b, calls } = recording(t, { maxWaitMs: 0 });
  const first = b.add("a");
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, [["a"]], "sent by the end of its turn");
  await first;
  await b.add("b");
  assert.deepEqual(calls, [["a"], ["b"]]);
});

test("maxWaitMs 0 and a full queue: the size flush goes on the next microtask, not at the end of the turn", async (t) => {
  const { b, calls } = recording(t, { maxWaitMs: 0, maxBatchSize: 2 });
  const ps = [b.add(1), b.add(2), b.add(3)];
  await Promise.resolve();
  assert.deepEqual(calls[0], [1, 2], "the full batch is out after one microtask");
  await Promise.all(ps);
  assert.deepEqual(calls, [[1, 2], [3]], "the rest follows by the end of the turn");
});

test("a long window and a full queue: the size flush goes on the next microtask", async (t) => {
  const { b, calls } = recording(t, { maxWaitMs: LONG, maxBatchSize: 2 });
  const ps = [b.add(1), b.add(2)];
  assert.deepEqual(calls, [], "never from inside add()");
  await Promise.resolve();
  assert.deepEqual(calls, [[1, 2]]);
  await Promise.all(ps);
});
