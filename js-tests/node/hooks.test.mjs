// Hooks carry the batch — the contract's "Hooks carry the batch" (0.2): `onBatchStart(info)` gets
// `info.items`, `onBatchEnd(info)` gets `info.items` and `info.results` (the transport's own
// array, or undefined after a batch-level failure): the same objects, no copies, once per call.
import assert from "node:assert/strict";
import { FAST_RETRY, LONG, assertCode, echo, open, test } from "./_helpers.mjs";

/**
 * A batcher whose transport answers each call with `answer(batch)`, recording per call the
 * items array it was handed and the array it returned, and every hook call.
 */
function recorded(t, answer, options = {}) {
  const calls = [];
  const starts = [];
  const ends = [];
  const b = open(t, {
    maxWaitMs: LONG,
    retry: { ...FAST_RETRY, maxAttempts: 3 },
    ...options,
    transport: async (batch) => {
      const call = { id: batch.id, items: batch.items, attempt: batch.attempt };
      calls.push(call);
      const result = answer(batch, calls.length);
      call.result = result;
      if (result instanceof Error) throw result;
      return result;
    },
    onBatchStart: (info) => starts.push(info),
    onBatchEnd: (info) => ends.push(info),
  });
  return { b, calls, starts, ends };
}

/** Every call's start and end hook carry exactly that call's items array and result array. */
function assertCarried(calls, starts, ends) {
  assert.equal(starts.length, calls.length, "onBatchStart once per call");
  assert.equal(ends.length, calls.length, "onBatchEnd once per call");
  for (const call of calls) {
    const start = starts.find((s) => s.id === call.id);
    const end = ends.find((e) => e.id === call.id);
    assert.ok(start && end, `hooks for call ${call.id}`);
    assert.ok(start.items === call.items, `onBatchStart info.items is the array the transport got (call ${call.id})`);
    assert.ok(end.items === call.items, `onBatchEnd info.items is the array the transport got (call ${call.id})`);
    assert.equal(start.size, call.items.length);
    if (call.result instanceof Error) {
      assert.equal(end.results, undefined, "no results after a batch-level failure");
      assert.ok(end.error !== undefined, "a batch-level failure sets info.error");
    } else {
      assert.ok(end.results === call.result, `onBatchEnd info.results is the transport's own array (call ${call.id})`);
    }
  }
}

test("hooks carry the batch: a successful call's items and results, the same objects", async (t) => {
  const { b, calls, starts, ends } = recorded(t, (batch) => batch.items.map(echo));
  const items = [{ id: "a" }, { id: "b" }, { id: "c" }];
  const out = Promise.all(items.map((x) => b.add(x)));
  await b.flush();
  assert.deepEqual(await out, items.map(echo));
  assertCarried(calls, starts, ends);
  assert.deepEqual(ends[0].items, items, "in order; the item objects themselves");
  assert.ok(ends[0].items.every((x, i) => x === items[i]));
  assert.deepEqual([ends[0].succeeded, ends[0].failed], [3, 0]);
});

test("hooks carry the batch: partial failure shows which items failed, through info.results", async (t) => {
  const bad = new Error("bad item");
  const { b, calls, starts, ends } = recorded(t, (batch) => batch.items.map((x) => (x === 2 ? bad : echo(x))));
  const ps = [1, 2, 3].map((x) => b.add(x).then((v) => v, (e) => e));
  await b.flush();
  assert.deepEqual(await Promise.all(ps), [echo(1), bad, echo(3)]);
  assertCarried(calls, starts, ends);
  const end = ends[0];
  assert.deepEqual(end.items.filter((_, i) => end.results[i] instanceof Error), [2], "a hook can tell which item failed");
  assert.deepEqual([end.succeeded, end.failed], [2, 1]);
});

test("hooks carry the batch: a batch-level failure has items and results undefined; retries are their own calls", async (t) => {
  const outage = Object.assign(new Error("503"), { status: 503 });
  const { b, calls, starts, ends } = recorded(t, (batch, n) => (n === 1 ? outage : batch.items.map(echo)));
  const ps = ["x", "y"].map((x) => b.add(x));
  await b.flush();
  assert.deepEqual(await Promise.all(ps), ["x", "y"].map(echo));
  assert.equal(calls.length, 2, "the failed call, then its retry");
  assertCarried(calls, starts, ends);
  assert.ok(ends[0].error === outage, "info.error is the transport's own error");
  assert.deepEqual([ends[1].attempt, ends[1].items], [2, ["x", "y"]], "the retry carries its own items and attempt");
});

test("hooks carry the batch: a wrong-shaped result is a batch-level failure (results undefined)", async (t) => {
  const { b, ends } = recorded(t, () => ["only one"], { retry: { ...FAST_RETRY, maxAttempts: 1 } });
  const ps = [1, 2].map((x) => b.add(x).then(() => null, (e) => e));
  await b.flush();
  for (const err of await Promise.all(ps)) assertCode(err, "E_RESULT_SHAPE");
  assert.equal(ends.length, 1);
  assert.deepEqual(ends[0].items, [1, 2]);
  assert.equal(ends[0].results, undefined);
  assertCode(ends[0].error, "E_RESULT_SHAPE");
});

test("hooks carry the batch: bisect calls each carry their own half", async (t) => {
  const poison = Object.assign(new Error("400"), { status: 400 });
  const { b, calls, starts, ends } = recorded(t, (batch) => (batch.items.includes(3) ? poison : batch.items.map(echo)));
  const ps = [1, 2, 3, 4].map((x) => b.add(x).then((v) => v, (e) => e));
  await b.flush();
  const out = await Promise.all(ps);
  assertCode(out[2], "E_TRANSPORT");
  assert.deepEqual([out[0], out[1], out[3]], [1, 2, 4].map(echo));
  assertCarried(calls, starts, ends);
  const sizes = ends.map((e) => e.items.length);
  assert.deepEqual(sizes[0], 4, "the whole batch first");
  assert.ok(ends.some((e) => e.items.length === 1 && e.items[0] === 3 && e.results === undefined), "the poison item alone");
  assert.ok(ends.some((e) => e.items.includes(1) && e.results !== undefined), "a clean half succeeds with its results");
});

test("hooks carry the key: info.key is batch.key for each key's calls, in onBatchStart and onBatchEnd", async (t) => {
  const items = [{ k: "a", v: 1 }, { k: "b", v: 2 }, { k: 7, v: 3 }, { k: "a", v: 4 }];
  const keys = [];
  const { b, calls, starts, ends } = recorded(t, (batch) => {
    keys.push([batch.id, batch.key]);
    return batch.items.map((x) => x.v);
  }, { keyOf: (x) => x.k });
  const ps = items.map((x) => b.add(x));
  await b.flush();
  assert.deepEqual(await Promise.all(ps), [1, 2, 3, 4]);
  assert.equal(calls.length, 3);
  const byId = new Map(keys);
  assert.deepEqual([...byId.values()].sort(), [7, "a", "b"].sort());
  for (const info of [...starts, ...ends]) assert.equal(info.key, byId.get(info.id), `hook info.key of call ${info.id}`);
  assertCarried(calls, starts, ends);
  // the default queue has no key
  const c = recorded(t, (batch) => batch.items);
  await Promise.all([c.b.add(1), c.b.flush()]);
  assert.deepEqual([c.starts[0].key, c.ends[0].key], [undefined, undefined]);
});
