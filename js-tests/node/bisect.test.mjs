// Bisect — the contract `bisect` option, "Outcomes, retries, bisect" and "Which error reaches
// the caller" (a poison item isolated by bisect fails with E_TRANSPORT, cause = its single call's error).
import assert from "node:assert/strict";
import {
  test,
  FAST_RETRY,
  LONG,
  assertCode,
  assertStats,
  echo,
  httpError,
  open,
  recorder,
  settled,
  sortedBatches,
  track,
  waitFor,
} from "./_helpers.mjs";

/**
 * A transport that rejects any batch holding a poison item with a fresh HTTP 400 (classified
 * "bisect" by default) and answers the rest; `failures` records [items, error] per failed call.
 */
function poisoned(isPoison, make = () => httpError(400)) {
  const failures = [];
  const rec = recorder((batch) => {
    if (batch.items.some(isPoison)) {
      const e = make();
      failures.push([[...batch.items], e]);
      throw e;
    }
    return batch.items.map(echo);
  });
  return { ...rec, failures };
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

test("bisect: one poison item among 8 is isolated by recursive halving and fails alone", async (t) => {
  const { calls, transport, failures } = poisoned((x) => x === 5);
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const ps = range(8).map((i) => track(b.add(i)));
  await b.flush();
  await waitFor(() => ps.every(settled), "all items");
  assert.deepEqual(
    sortedBatches(calls),
    [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5], [6, 7], [4], [5]].map((x) => JSON.stringify(x)).sort(),
    "halves of halves, each in original order",
  );
  ps.forEach((p, i) => {
    if (i !== 5) assert.equal(p.value, `r:${i}`, `item ${i} gets its own entry`);
  });
  const err = ps[5].reason;
  assertCode(err, "E_TRANSPORT");
  const single = failures.find(([items]) => items.length === 1);
  assert.deepEqual(single[0], [5]);
  assert.ok(err.cause === single[1], "cause is the error of the poison item's single-item call");
  assert.ok(Number.isInteger(err.attempts) && err.attempts >= 1, "E_TRANSPORT carries attempts");
  assertStats(b, { batches: 7, bisects: 3, succeeded: 7, failed: 1 });
  await b.close();
});

test("bisect: two poison items both fail alone; every other item succeeds", async (t) => {
  const { calls, transport, failures } = poisoned((x) => x === 1 || x === 6);
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const ps = range(8).map((i) => track(b.add(i)));
  await b.flush();
  await waitFor(() => ps.every(settled), "all items");
  assert.deepEqual(
    sortedBatches(calls),
    [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3], [4, 5, 6, 7],
      [0, 1], [2, 3], [4, 5], [6, 7],
      [0], [1], [6], [7],
    ].map((x) => JSON.stringify(x)).sort(),
  );
  for (const poison of [1, 6]) {
    assertCode(ps[poison].reason, "E_TRANSPORT");
    const [, single] = failures.find(([items]) => items.length === 1 && items[0] === poison);
    assert.ok(ps[poison].reason.cause === single);
  }
  assert.deepEqual(ps.filter((p) => p.status === "fulfilled").length, 6);
  assertStats(b, { batches: 11, bisects: 5, succeeded: 6, failed: 2 });
  await b.close();
});

test("bisect: splits into equal halves and keeps item order inside each half", async (t) => {
  const items = ["a", "b", "c", "d"].map((id) => ({ id }));
  const { calls, transport } = poisoned((x) => x.id === "d");
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  const halves = calls.filter((c) => c.items.length === 2).map((c) => c.items);
  assert.equal(halves.length, 2);
  const first = halves.find((h) => h[0] === items[0]);
  const second = halves.find((h) => h[0] === items[2]);
  assert.ok(first && first[1] === items[1], "first half is [a, b], as the same objects");
  assert.ok(second && second[1] === items[3], "second half is [c, d]");
  assert.deepEqual(ps.slice(0, 3).map((p) => p.value), ["r:a", "r:b", "r:c"]);
  assertCode(ps[3].reason, "E_TRANSPORT");
  assertStats(b, { bisects: 2 });
  await b.close();
});

test('bisect: a "bisect" failure of a single-item batch fails that item at once (nothing to split)', async (t) => {
  const { calls, transport, failures } = poisoned(() => true);
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const p = track(b.add("only"));
  await b.flush();
  assert.equal(calls.length, 1);
  assertCode(p.reason, "E_TRANSPORT");
  assert.ok(p.reason.cause === failures[0][1]);
  assertStats(b, { bisects: 0, failed: 1 });
  await b.close();
});

test("bisect: retryable: false and a custom classify -> \"bisect\" both isolate the poison", async (t) => {
  for (const [name, make, retry] of [
    ["retryable:false", () => Object.assign(new Error("invalid"), { retryable: false }), FAST_RETRY],
    ["classify", () => httpError(503), { ...FAST_RETRY, classify: () => "bisect" }],
  ]) {
    const { transport, failures } = poisoned((x) => x === "p", make);
    const b = open(t, { transport, maxWaitMs: LONG, retry });
    const ps = ["a", "p", "c", "d"].map((x) => track(b.add(x)));
    await b.flush();
    assert.deepEqual(ps.map((p) => p.status), ["fulfilled", "rejected", "fulfilled", "fulfilled"], name);
    assertCode(ps[1].reason, "E_TRANSPORT", name);
    assert.ok(ps[1].reason.cause === failures.find(([items]) => items.length === 1)[1], name);
    assertStats(b, { bisects: 2 }, name);
    await b.close();
  }
});

test("bisect: false -> a \"bisect\"-classified failure fails the whole batch, unsplit", async (t) => {
  // contract silent: with bisect off, a failure classified "bisect" fails every item of the batch
  // with E_TRANSPORT (it is not retried: a 400 will not heal).
  const { calls, transport, failures } = poisoned((x) => x === 2);
  const b = open(t, { transport, maxWaitMs: LONG, bisect: false, retry: FAST_RETRY });
  const ps = range(4).map((i) => track(b.add(i)));
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [[0, 1, 2, 3]]);
  for (const p of ps) {
    assertCode(p.reason, "E_TRANSPORT");
    assert.ok(p.reason.cause === failures[0][1]);
    assert.equal(p.reason.attempts, 1);
  }
  assertStats(b, { batches: 1, bisects: 0, failed: 4, succeeded: 0 });
  await b.close();
});

test("bisect: halves of different keys stay on their key", async (t) => {
  const { calls, transport } = poisoned((x) => x === "a3");
  const b = open(t, { transport, maxWaitMs: LONG, keyOf: (x) => x[0], retry: FAST_RETRY });
  const ps = ["a1", "b1", "a2", "b2", "a3", "a4"].map((x) => track(b.add(x)));
  await b.flush();
  assert.ok(calls.every((c) => c.items.every((x) => x[0] === c.key)), "every sub-batch keeps batch.key");
  assert.deepEqual(calls.filter((c) => c.key === "b").map((c) => c.items), [["b1", "b2"]]);
  assert.deepEqual(ps.map((p) => p.status), ["fulfilled", "fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled"]);
  assertStats(b, { bisects: 2 });
  await b.close();
});
