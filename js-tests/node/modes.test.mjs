// errorMode "partial" | "fail_fast" | "atomic" — the contract `errorMode` row and
// "Precise semantics" (fail_fast, atomic).
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
  retryable,
  settled,
  track,
  waitFor,
} from "./_helpers.mjs";

const ITEMS = ["a", "b", "c", "d"];

/** Runs ITEMS (or `items`) through one flush and returns calls and trackers. */
async function runBatch(t, options, respond, items = ITEMS) {
  const rec = recorder(respond);
  const b = open(t, { transport: rec.transport, maxWaitMs: LONG, retry: FAST_RETRY, ...options });
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  await waitFor(() => ps.every(settled), "every item");
  return { b, calls: rec.calls, ps };
}

// -------------------------------------------------------------------------------- partial

test("partial (default): each item settles on its own outcome", async (t) => {
  const errB = new Error("b failed");
  const errD = retryable("d later");
  const { b, calls, ps } = await runBatch(t, {}, (batch, i) =>
    batch.items.map((x) => (x === "b" ? errB : x === "d" && i === 0 ? errD : echo(x))));
  assert.deepEqual(calls.map((c) => c.items), [["a", "b", "c", "d"], ["d"]]);
  assert.equal(ps[0].value, "r:a");
  assert.ok(ps[1].reason === errB);
  assert.equal(ps[2].value, "r:c");
  assert.equal(ps[3].value, "r:d", "partial retries a retryable item alone");
  assertStats(b, { succeeded: 3, failed: 1, retries: 1 });
  await b.close();
});

test('partial: errorMode "partial" given explicitly behaves the same', async (t) => {
  const err = new Error("x");
  const { b, ps } = await runBatch(t, { errorMode: "partial" }, (batch) =>
    batch.items.map((x) => (x === "c" ? err : echo(x))));
  assert.deepEqual(ps.map((p) => p.status), ["fulfilled", "fulfilled", "rejected", "fulfilled"]);
  assert.ok(ps[2].reason === err);
  await b.close();
});

// ------------------------------------------------------------------------------ fail_fast

test("fail_fast: the failing item gets its own error, every other item E_FAIL_FAST with cause = it, values included", async (t) => {
  const errB = new Error("b failed");
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch) =>
    batch.items.map((x) => (x === "b" ? errB : echo(x))));
  assert.equal(calls.length, 1);
  assert.ok(ps[1].reason === errB, "the failing item rejects with its own error object");
  for (const i of [0, 2, 3]) {
    assertCode(ps[i].reason, "E_FAIL_FAST", `item ${i}`);
    assert.ok(ps[i].reason.cause === errB, `item ${i}: cause is the first failing entry`);
  }
  assertStats(b, { succeeded: 0, failed: 4, retries: 0, bisects: 0 });
  await b.close();
});

test("fail_fast: with two failing entries, cause is the first", async (t) => {
  const e1 = new Error("first");
  const e2 = new Error("second");
  const { b, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch) =>
    batch.items.map((x) => (x === "b" ? e1 : x === "d" ? e2 : echo(x))));
  assert.ok(ps[1].reason === e1);
  for (const i of [0, 2]) {
    assertCode(ps[i].reason, "E_FAIL_FAST");
    assert.ok(ps[i].reason.cause === e1);
  }
  // contract silent: the second failing item may get its own error or E_FAIL_FAST (cause e1).
  const d = ps[3].reason;
  assert.ok(d === e2 || (d?.code === "E_FAIL_FAST" && d.cause === e1), `item d got ${d}`);
  await b.close();
});

test("fail_fast: no per-item retry — a retryable item error fails the batch at once", async (t) => {
  const errC = retryable("c later");
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch) =>
    batch.items.map((x) => (x === "c" ? errC : echo(x))));
  assert.equal(calls.length, 1, "no resend");
  assert.ok(ps[2].reason === errC);
  for (const i of [0, 1, 3]) {
    assertCode(ps[i].reason, "E_FAIL_FAST");
    assert.ok(ps[i].reason.cause === errC);
  }
  assertStats(b, { retries: 0, failed: 4 });
  await b.close();
});

test("fail_fast: only the failing batch is affected", async (t) => {
  const errB = new Error("b");
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast", maxBatchSize: 2 }, (batch) =>
    batch.items.map((x) => (x === "b" ? errB : echo(x))));
  assert.deepEqual(calls.map((c) => c.items), [["a", "b"], ["c", "d"]]);
  assertCode(ps[0].reason, "E_FAIL_FAST");
  assert.ok(ps[1].reason === errB);
  assert.deepEqual([ps[2].value, ps[3].value], ["r:c", "r:d"]);
  await b.close();
});

test("fail_fast: a batch-level failure is retried as usual (whole batch)", async (t) => {
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch, i) => {
    if (i === 0) throw httpError(503);
    return batch.items.map(echo);
  });
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[ITEMS, 1], [ITEMS, 2]]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
  await b.close();
});

test("fail_fast: a batch-level failure that never clears fails every item after maxAttempts", async (t) => {
  const thrown = [];
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast" }, () => {
    const e = httpError(503);
    thrown.push(e);
    throw e;
  });
  assert.deepEqual(calls.map((c) => c.items), [ITEMS, ITEMS, ITEMS]);
  for (const p of ps) {
    assertCode(p.reason, "E_TRANSPORT");
    assert.ok(p.reason.cause === thrown[2]);
    assert.equal(p.reason.attempts, 3);
  }
  await b.close();
});

test("fail_fast: a batch-level failure is never bisected", async (t) => {
  const thrown = [];
  const { b, calls, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch) => {
    if (batch.items.includes("c")) {
      const e = httpError(400);
      thrown.push(e);
      throw e;
    }
    return batch.items.map(echo);
  });
  assert.ok(calls.length >= 1 && calls.every((c) => c.items.length === 4), "never split");
  for (const p of ps) {
    assertCode(p.reason, "E_TRANSPORT");
    assert.ok(thrown.includes(p.reason.cause));
  }
  assertStats(b, { bisects: 0, failed: 4 });
  await b.close();
});

test("fail_fast: a batch with no failure resolves normally", async (t) => {
  const { b, ps } = await runBatch(t, { errorMode: "fail_fast" }, (batch) => batch.items.map(echo));
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
  await b.close();
});

// --------------------------------------------------------------------------------- atomic

test("atomic: any item error rejects every item (the failing one too) with E_ATOMIC, cause = that entry", async (t) => {
  const errC = new Error("c invalid");
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch) =>
    batch.items.map((x) => (x === "c" ? errC : echo(x))));
  assert.equal(calls.length, 1);
  for (const [i, p] of ps.entries()) {
    assertCode(p.reason, "E_ATOMIC", `item ${i}`);
    assert.ok(p.reason.cause === errC, `item ${i}`);
  }
  assertStats(b, { succeeded: 0, failed: 4, bisects: 0, retries: 0 });
  await b.close();
});

test("atomic: cause is the first failing entry", async (t) => {
  const e1 = new Error("first");
  const e2 = new Error("second");
  const { b, ps } = await runBatch(t, { errorMode: "atomic" }, (batch) =>
    batch.items.map((x) => (x === "b" ? e1 : x === "d" ? e2 : echo(x))));
  for (const p of ps) {
    assertCode(p.reason, "E_ATOMIC");
    assert.ok(p.reason.cause === e1);
  }
  await b.close();
});

test("atomic: a retryable first failing entry resends the whole batch as a unit", async (t) => {
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch, i) =>
    batch.items.map((x) => (i === 0 && x === "b" ? retryable() : `${echo(x)}@${batch.attempt}`)));
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[ITEMS, 1], [ITEMS, 2]]);
  assert.ok(calls[1].items.every((x, i) => x === calls[0].items[i]));
  assert.deepEqual(ps.map((p) => p.value), ["r:a@2", "r:b@2", "r:c@2", "r:d@2"], "values of the committed attempt");
  assertStats(b, { retries: 4, succeeded: 4, failed: 0, bisects: 0 });
  await b.close();
});

test("atomic: a retryable entry behind a non-retryable first failure does not resend", async (t) => {
  const hard = new Error("hard");
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch) =>
    batch.items.map((x) => (x === "a" ? hard : x === "c" ? retryable() : echo(x))));
  assert.equal(calls.length, 1);
  for (const p of ps) {
    assertCode(p.reason, "E_ATOMIC");
    assert.ok(p.reason.cause === hard);
  }
  await b.close();
});

test("atomic: a retryable entry that never clears fails the batch after maxAttempts whole resends", async (t) => {
  const errs = [];
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch) =>
    batch.items.map((x) => {
      if (x !== "b") return echo(x);
      const e = retryable(`b ${batch.attempt}`);
      errs.push(e);
      return e;
    }));
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[ITEMS, 1], [ITEMS, 2], [ITEMS, 3]]);
  for (const i of [0, 2, 3]) {
    assertCode(ps[i].reason, "E_ATOMIC");
    assert.ok(ps[i].reason.cause === errs[2], "cause = the last attempt's failing entry");
  }
  // contract silent: the failing item itself gets E_ATOMIC (atomic rule) or its own error
  // ("a retryable item error that never clears reaches its caller as that item's own error").
  const r = ps[1].reason;
  assert.ok(r === errs[2] || (r?.code === "E_ATOMIC" && r.cause === errs[2]), `item b got ${r}`);
  assertStats(b, { failed: 4, succeeded: 0 });
  await b.close();
});

test("atomic: a batch-level failure is retried whole and never bisected", async (t) => {
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch, i) => {
    throw httpError(i === 0 ? 500 : 400);
  });
  // 500 -> retry (whole). 400 -> "bisect", which atomic never does: the batch fails (whether or
  // not it is retried first: contract silent, so any number of whole resends is accepted).
  assert.ok(calls.every((c) => c.items.length === 4), "never split");
  assert.deepEqual(calls.map((c) => c.attempt).slice(0, 2), [1, 2]);
  for (const p of ps) assertCode(p.reason, "E_TRANSPORT");
  assertStats(b, { bisects: 0, failed: 4 });
  await b.close();
});

test("atomic: a batch that fully succeeds resolves every item", async (t) => {
  const { b, calls, ps } = await runBatch(t, { errorMode: "atomic" }, (batch) => batch.items.map(echo));
  assert.equal(calls.length, 1);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
  await b.close();
});
