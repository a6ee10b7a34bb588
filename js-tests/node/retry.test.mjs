// Retries — the contract "Outcomes, retries, bisect", "Precise semantics" (batch.attempt, Backoff,
// Budget, Which error reaches the caller) and the `retry` option.
import assert from "node:assert/strict";
import {
  test,
  FAST_RETRY,
  LONG,
  assertCode,
  assertStats,
  deferred,
  echo,
  httpError,
  label,
  open,
  recorder,
  rejectsWith,
  retryable,
  settled,
  sortedBatches,
  track,
  waitFor,
} from "./_helpers.mjs";

/** Gaps (ms) between the starts of successive transport calls. */
const gaps = (calls) => calls.slice(1).map((c, i) => c.at - calls[i].at);

// -------------------------------------------------------------------- retryable item errors

test("item: a retryable item error re-queues that item alone; its batchmates settle at once", async (t) => {
  const { calls, transport } = recorder((batch, i) =>
    batch.items.map((x) => (i === 0 && x === "b" ? retryable() : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const ps = ["a", "b", "c"].map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["a", "b", "c"], 1], [["b"], 2]]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c"]);
  assert.ok(ps[0].at <= ps[1].at && ps[2].at <= ps[1].at, "a and c did not wait for b's retry");
  assertStats(b, { batches: 2, items: 3, succeeded: 3, failed: 0, retries: 1, bisects: 0, throttled: 0 });
  await b.close();
});

test("item: a re-queued item keeps its order among its key's waiting items and shares a batch with new items", async (t) => {
  const gate = deferred();
  const { calls, transport } = recorder(async (batch, i) => {
    if (i === 0) {
      await gate.promise;
      return batch.items.map((x) => (x === "b" ? retryable() : echo(x)));
    }
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxBatchSize: 3, maxWaitMs: 150, retry: { ...FAST_RETRY, baseDelayMs: 5, maxDelayMs: 5 } });
  const ps = ["a", "b", "c"].map((x) => track(b.add(x)));
  await waitFor(() => calls.length === 1, "the first (size) batch");
  ps.push(track(b.add("d"))); // arrives after b, while b's first attempt is in flight
  gate.resolve();
  await waitFor(() => ps.every(settled), "all four");
  // b rejoins its key's queue ahead of d (b arrived first); the batch's attempt is the highest.
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["a", "b", "c"], 1], [["b", "d"], 2]]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
  await b.close();
});

test("item: a retryable item error that never clears reaches its caller as that item's own error after maxAttempts", async (t) => {
  const errors = [];
  const { calls, transport } = recorder((batch) =>
    batch.items.map((x) => {
      if (x !== "bad") return echo(x);
      const e = retryable(`attempt ${batch.attempt}`);
      errors.push(e);
      return e;
    }));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 3 } });
  const ok = track(b.add("ok"));
  const bad = track(b.add("bad"));
  await b.flush();
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["ok", "bad"], 1], [["bad"], 2], [["bad"], 3]]);
  assert.equal(bad.status, "rejected");
  assert.ok(bad.reason === errors[2], "the caller gets the item's own (last) error object, not a wrapper");
  assert.equal(ok.value, "r:ok");
  assertStats(b, { batches: 3, succeeded: 1, failed: 1, retries: 2 });
  await b.close();
});

test("item: default maxAttempts is 3", async (t) => {
  const { calls, transport } = recorder((batch) => batch.items.map(() => retryable()));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { baseDelayMs: 1, maxDelayMs: 2, jitter: "none" } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(calls.length, 3);
  assert.equal(p.status, "rejected");
  assert.equal(p.reason.retryable, true);
  await b.close();
});

test("item: err.retryAfterMs is a floor on the item's next delay", async (t) => {
  const { calls, transport } = recorder((batch, i) =>
    batch.items.map((x) => (i === 0 ? retryable("slow down", { retryAfterMs: 150 }) : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "r:x");
  const [gap] = gaps(calls);
  assert.ok(gap >= 135 && gap < 1500, `retried after ${gap} ms, expected >= 150 ms (retryAfterMs)`);
  await b.close();
});

test("item: retryAfterMs is clamped to maxRetryAfterMs", async (t) => {
  const { calls, transport } = recorder((batch, i) =>
    batch.items.map((x) => (i === 0 ? retryable("later", { retryAfterMs: 100_000 }) : echo(x))));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxRetryAfterMs: 40 } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "r:x");
  const [gap] = gaps(calls);
  assert.ok(gap >= 30 && gap < 1500, `retried after ${gap} ms, expected the 40 ms clamp`);
  await b.close();
});

test("item: only retryable === true retries an item error; truthy non-true values fail it at once", async (t) => {
  for (const flag of [1, "yes", "true", {}]) {
    const bad = Object.assign(new Error("not retryable"), { retryable: flag });
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
    const ps = ["a", "bad"].map((x) => track(b.add(x)));
    await b.flush();
    assert.equal(calls.length, 1, `retryable: ${JSON.stringify(flag)} must not re-send`);
    assert.equal(ps[0].value, "r:a");
    assert.equal(ps[1].reason, bad, "the item's own error");
    assertStats(b, { retries: 0, failed: 1 });
    await b.close();
  }
});

// ----------------------------------------------------------------- batch-level classification

for (const [name, make] of [
  ["a network error (no status)", () => new TypeError("fetch failed")],
  ["HTTP 408", () => httpError(408)],
  ["HTTP 429", () => httpError(429)],
  ["HTTP 500", () => httpError(500)],
  ["HTTP 503", () => httpError(503)],
  ["a rejection with retryable: true", () => Object.assign(new Error("flaky"), { retryable: true })],
]) {
  test(`classify default: ${name} -> "retry" (whole batch resent, no bisect)`, async (t) => {
    const { calls, transport } = recorder((batch, i) => {
      if (i === 0) throw make();
      return batch.items.map(echo);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
    const ps = ["a", "b", "c", "d"].map((x) => track(b.add(x)));
    await b.flush();
    assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["a", "b", "c", "d"], 1], [["a", "b", "c", "d"], 2]]);
    assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d"]);
    assertStats(b, { batches: 2, retries: 4, bisects: 0, succeeded: 4, failed: 0 });
    await b.close();
  });
}

for (const facts of [{ retryable: 0 }, { retryable: "" }, { retryable: null }, { retryable: "false" }, { status: "400" }]) {
  test(`classify default: ${JSON.stringify(facts)} (not retryable false, not a status number) -> "retry", not bisect`, async (t) => {
    const { calls, transport } = recorder((batch, i) => {
      if (i === 0) throw Object.assign(new Error("flaky"), facts);
      return batch.items.map(echo);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
    const ps = ["a", "b"].map((x) => track(b.add(x)));
    await b.flush();
    assert.deepEqual(calls.map((c) => c.items), [["a", "b"], ["a", "b"]]);
    assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"]);
    assertStats(b, { bisects: 0, retries: 2 });
    await b.close();
  });
}

test('classify default: a timeout (E_TIMEOUT) -> "retry"', async (t) => {
  const { calls, transport } = recorder((batch, i) => {
    if (i === 0) return new Promise(() => {}); // hangs past timeoutMs
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, timeoutMs: 20, retry: FAST_RETRY });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["a", "b"], 1], [["a", "b"], 2]]);
  assert.ok(calls[0].signal.aborted, "the timed-out call's signal aborts");
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"]);
  assertStats(b, { bisects: 0, succeeded: 2 });
  await b.close();
});

for (const [name, make] of [
  ["HTTP 400", () => httpError(400)],
  ["HTTP 413", () => httpError(413)],
  ["HTTP 422", () => httpError(422)],
  ["retryable: false", () => Object.assign(new Error("rejected by server"), { retryable: false })],
]) {
  test(`classify default: ${name} -> "bisect"`, async (t) => {
    const { calls, transport } = recorder((batch) => {
      if (batch.items.length > 1) throw make();
      return batch.items.map(echo);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
    const ps = ["a", "b"].map((x) => track(b.add(x)));
    await b.flush();
    assert.deepEqual(sortedBatches(calls), ['["a","b"]', '["a"]', '["b"]']);
    assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"]);
    assertStats(b, { bisects: 1, succeeded: 2, failed: 0 });
    await b.close();
  });
}

test('classify default: E_RESULT_SHAPE -> "fail" (no retry, no bisect)', async (t) => {
  const { calls, transport } = recorder(() => ({ not: "an array" }));
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  await b.flush();
  assert.equal(calls.length, 1);
  ps.forEach((p) => assertCode(p.reason, "E_RESULT_SHAPE"));
  assertStats(b, { batches: 1, retries: 0, bisects: 0, failed: 2 });
  await b.close();
});

test("classify: a custom classify receives the transport's own error and its answer is obeyed", async (t) => {
  const thrown = [];
  const seen = [];
  const plan = { a: "fail", b: "retry", c: "bisect" };
  const { calls, transport } = recorder((batch) => {
    const e = Object.assign(new Error(`boom ${batch.key}`), { status: 400, route: batch.key });
    if (batch.key === "b" && batch.attempt > 1) return batch.items.map(echo);
    if (batch.key === "c" && batch.items.length === 1) return batch.items.map(echo);
    thrown.push(e);
    throw e;
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    keyOf: (x) => x[0],
    retry: {
      ...FAST_RETRY,
      classify: (err) => {
        seen.push(err);
        return plan[err.route];
      },
    },
  });
  const ps = ["a1", "a2", "b1", "b2", "c1", "c2"].map((x) => track(b.add(x)));
  await b.flush();
  assert.ok(seen.length >= 3 && seen.every((e) => thrown.includes(e)), "classify gets the thrown object itself");
  const byKey = (k) => calls.filter((c) => c.key === k).map((c) => c.items);
  assert.deepEqual(byKey("a"), [["a1", "a2"]], '"fail": one call');
  assert.deepEqual(byKey("b"), [["b1", "b2"], ["b1", "b2"]], '"retry": resent whole although 400');
  assert.deepEqual(byKey("c").map((x) => JSON.stringify(x)).sort(), ['["c1","c2"]', '["c1"]', '["c2"]'], '"bisect"');
  const [a1, a2] = ps;
  for (const p of [a1, a2]) {
    assertCode(p.reason, "E_TRANSPORT");
    assert.ok(p.reason.cause === thrown.find((e) => e.route === "a"), "E_TRANSPORT.cause is the transport's error");
    assert.equal(p.reason.attempts, 1);
  }
  assert.deepEqual(ps.slice(2).map((p) => p.value), ["r:b1", "r:b2", "r:c1", "r:c2"]);
  assertStats(b, { bisects: 1 });
  await b.close();
});

test("classify: E_RESULT_SHAPE goes through classify too, so a custom classify may retry it", async (t) => {
  const seen = [];
  const { calls, transport } = recorder((batch, i) => (i === 0 ? "garbage" : batch.items.map(echo)));
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    retry: { ...FAST_RETRY, classify: (err) => (seen.push(err.code), "retry") },
  });
  const p = track(b.add("x"));
  await b.flush();
  assert.deepEqual(seen, ["E_RESULT_SHAPE"]);
  assert.equal(calls.length, 2);
  assert.equal(p.value, "r:x");
  await b.close();
});

// --------------------------------------------------------------------------- retry-after floors

test("batch: err.retryAfterMs on a batch-level failure is a floor on the delay", async (t) => {
  const { calls, transport } = recorder((batch, i) => {
    if (i === 0) throw httpError(503, { retryAfterMs: 150 });
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "r:x");
  const [gap] = gaps(calls);
  assert.ok(gap >= 135 && gap < 1500, `retried after ${gap} ms, expected >= 150 ms`);
  await b.close();
});

test("batch: a Retry-After header on err.response is a floor, clamped to maxRetryAfterMs", async (t) => {
  // Made before the timed calls: Node's first Response/Headers loads fetch (~100 ms or more),
  // which inside the transport would pass for the delay even with the header ignored.
  const response = new Response(null, { status: 503, headers: { "Retry-After": "1" } });
  const { calls, transport } = recorder((batch, i) => {
    if (i === 0) {
      throw httpError(503, { response });
    }
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxRetryAfterMs: 200 } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "r:x");
  const [gap] = gaps(calls);
  // "1" second = 1000 ms, clamped to 200 ms; without the header the delay would be 1 ms.
  assert.ok(gap >= 180 && gap < 900, `retried after ${gap} ms, expected ~200 ms`);
  await b.close();
});

test("batch: a Retry-After header given as an HTTP date is a floor until that date", async (t) => {
  for (const form of ["Headers", "plain object"]) {
    const headers = form === "Headers" ? new Headers() : {}; // made before the timed calls (see above)
    const { calls, transport } = recorder((batch, i) => {
      if (i === 0) {
        // HTTP dates have whole seconds: 1.6 s ahead, truncated, is 0.6 to 1.6 s from now.
        const date = new Date(Date.now() + 1600).toUTCString();
        if (form === "Headers") headers.set("Retry-After", date);
        else headers["retry-after"] = date;
        throw httpError(503, { response: { status: 503, headers } });
      }
      return batch.items.map(echo);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxRetryAfterMs: 5000 } });
    const p = track(b.add("x"));
    await b.flush();
    assert.equal(p.value, "r:x");
    const [gap] = gaps(calls);
    // Without the header the delay is 1 ms; a date read wrongly hits the 5000 ms clamp.
    assert.ok(gap >= 450 && gap < 3000, `${form}: retried after ${gap} ms, expected 600..1600 ms`);
    await b.close();
  }
});

test("batch: a Retry-After date in the past is no floor", async (t) => {
  const headers = new Headers({ "Retry-After": new Date(Date.now() - 60_000).toUTCString() });
  const { calls, transport } = recorder((batch, i) => {
    if (i === 0) {
      throw httpError(503, { response: { headers } });
    }
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxRetryAfterMs: 5000 } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "r:x");
  const [gap] = gaps(calls);
  assert.ok(gap < 2000, `retried after ${gap} ms, expected ~1 ms`);
  await b.close();
});

// ---------------------------------------------------------------------------------- backoff

test("backoff: delay before attempt k+1 is baseDelayMs * multiplier^(k-1) with jitter none", async (t) => {
  const { calls, transport } = recorder(() => {
    throw httpError(503);
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    retry: { maxAttempts: 3, baseDelayMs: 100, multiplier: 3, maxDelayMs: 10_000, jitter: "none", budget: false },
  });
  const p = track(b.add("x"));
  await b.flush();
  const [g1, g2] = gaps(calls);
  // expected 100 then 300 (an off-by-one exponent would give 300 then 900)
  assert.ok(g1 >= 90 && g1 < 280, `first delay ${g1} ms, expected ~100`);
  assert.ok(g2 >= 270 && g2 < 850, `second delay ${g2} ms, expected ~300`);
  assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3]);
  const err = p.reason;
  assertCode(err, "E_TRANSPORT");
  assert.equal(err.attempts, 3);
  await b.close();
});

test("backoff: the delay is capped at maxDelayMs", async (t) => {
  const { calls, transport } = recorder(() => {
    throw httpError(503);
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    retry: { maxAttempts: 3, baseDelayMs: 100, multiplier: 10, maxDelayMs: 150, jitter: "none", budget: false },
  });
  const p = track(b.add("x"));
  await b.flush();
  const [g1, g2] = gaps(calls);
  assert.ok(g1 >= 90 && g1 < 600, `first delay ${g1} ms, expected ~100`);
  assert.ok(g2 >= 135 && g2 < 700, `second delay ${g2} ms, expected 150 (not 1000)`);
  assert.equal(p.status, "rejected");
  await b.close();
});

/**
 * Samples `n` retry delays of one batcher: n single-item batches fail once with a retryable item
 * error, each item draws its own jittered delay; returns the gaps between each item's two calls.
 */
async function jitterSamples(t, jitter, d, n) {
  const { calls, transport } = recorder((batch) =>
    batch.items.map((x) => (calls.filter((c) => c.items[0] === x).length === 1 ? retryable() : echo(x))));
  const b = open(t, {
    transport,
    maxBatchSize: 1,
    maxWaitMs: 0,
    maxInFlight: 1000,
    retry: { baseDelayMs: d, maxDelayMs: d, jitter, budget: false },
  });
  const items = Array.from({ length: n }, (_, i) => i);
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(ps.map((p) => p.value), items.map(echo));
  await b.close();
  return items.map((x) => {
    const [first, second] = calls.filter((c) => c.items[0] === x);
    return second.at - first.at;
  });
}

// 40 independent draws per mode. Timers never fire early (5 ms allows for clock rounding); a busy
// loop only makes them late, so the checks that need a short delay look for one sample among 40:
// P(no full-jitter draw below 0.45 d) = 0.55^40 ~ 4e-11, P(no equal draw below 0.85 d) = 0.3^40.
test('backoff: jitter "full" is uniform in [0, d], "equal" in [d/2, d], "none" exactly d', async (t) => {
  const d = 400, n = 40, slack = 5, late = 1500;
  const [full, equal, none] = await Promise.all(["full", "equal", "none"].map((j) => jitterSamples(t, j, d, n)));
  const show = (xs) => xs.map(Math.round).sort((a, b) => a - b).join(" ");
  for (const [name, xs, low] of [["full", full, 0], ["equal", equal, d / 2], ["none", none, d]]) {
    for (const g of xs) assert.ok(g >= low - slack && g < d + late, `${name}: delay ${g} ms outside [${low}, ${d}]: ${show(xs)}`);
  }
  assert.ok(full.some((g) => g < 0.45 * d), `full: no delay below d/2 among ${n}: ${show(full)}`);
  assert.ok(full.some((g) => g > 0.55 * d), `full: no delay above d/2 among ${n}: ${show(full)}`);
  assert.ok(equal.some((g) => g < 0.85 * d), `equal: every delay near d, as with no jitter: ${show(equal)}`);
});

// ---------------------------------------------------------------------------------- budget

test("budget: failed calls cost a token, retries stop at tokens <= maxTokens/2, successes refund tokenRatio", async (t) => {
  let failing = true;
  const thrown = [];
  const { calls, transport } = recorder((batch) => {
    if (failing) {
      const e = httpError(503);
      thrown.push(e);
      throw e;
    }
    return batch.items.map(echo);
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    maxBatchSize: 1,
    retry: { ...FAST_RETRY, maxAttempts: 10, budget: { maxTokens: 10, tokenRatio: 0.1 } },
  });
  // A: tokens 10 -> 9, 8, 7, 6 (each > 5: retry) -> 5 (not > 5: refused). 5 calls, 1 throttled.
  const A = track(b.add("A"));
  await waitFor(() => settled(A), "A");
  assert.equal(calls.length, 5);
  assertCode(A.reason, "E_TRANSPORT");
  assert.equal(A.reason.attempts, 5);
  assert.ok(A.reason.cause === thrown[4], "a throttled item fails with its last error");
  assertStats(b, { retries: 4, throttled: 1 });
  // B: 5 -> 4, refused at once.
  const B = track(b.add("B"));
  await waitFor(() => settled(B), "B");
  assert.equal(calls.length, 6);
  assert.equal(B.reason.attempts, 1);
  assertStats(b, { retries: 4, throttled: 2 });
  // 25 successes refund 2.5 tokens: 4 -> 6.5.
  failing = false;
  for (let i = 0; i < 25; i++) {
    const ok = track(b.add(`ok${i}`));
    await waitFor(() => settled(ok), "a success");
    assert.equal(ok.value, `r:ok${i}`);
  }
  // C: 6.5 -> 5.5 (> 5: retry) -> 4.5 refused. 2 calls.
  failing = true;
  const C = track(b.add("C"));
  await waitFor(() => settled(C), "C");
  assert.equal(C.reason.attempts, 2);
  assertStats(b, { batches: 33, items: 28, succeeded: 25, failed: 3, retries: 5, throttled: 3 });
  await b.close();
});

test("budget: a retryable item error costs a token too; a refused item fails with its own last error", async (t) => {
  const errors = [];
  const { calls, transport } = recorder((batch) =>
    batch.items.map(() => {
      const e = retryable(`try ${errors.length + 1}`);
      errors.push(e);
      return e;
    }));
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    retry: { ...FAST_RETRY, maxAttempts: 10, budget: { maxTokens: 5, tokenRatio: 0.1 } },
  });
  const p = track(b.add("x"));
  await b.flush();
  // tokens 5 -> 4 (> 2.5) -> 3 (> 2.5) -> 2 refused: 3 calls.
  assert.equal(calls.length, 3);
  assert.ok(p.reason === errors[2], "the item's own last error object");
  assertStats(b, { retries: 2, throttled: 1, failed: 1 });
  await b.close();
});

test("budget: false disables throttling", async (t) => {
  const { calls, transport } = recorder(() => {
    throw httpError(503);
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    maxBatchSize: 1,
    retry: { baseDelayMs: 1, maxDelayMs: 1, jitter: "none", maxAttempts: 5, budget: false },
  });
  // 12 items x 5 attempts = 60 failed calls: a 100-token budget would have throttled after 50.
  for (let i = 0; i < 12; i++) {
    const p = track(b.add(i));
    await waitFor(() => settled(p), `item ${i}`);
    assert.equal(p.reason.attempts, 5);
  }
  assert.equal(calls.length, 60);
  assertStats(b, { batches: 60, retries: 48, throttled: 0, failed: 12 });
  await b.close();
});

test("budget: the default (100 tokens) throttles once 50 tokens are spent", async (t) => {
  const { calls, transport } = recorder(() => {
    throw httpError(503);
  });
  const b = open(t, {
    transport,
    maxWaitMs: LONG,
    maxBatchSize: 1,
    retry: { baseDelayMs: 1, maxDelayMs: 1, jitter: "none", maxAttempts: 4 },
  });
  const ps = [];
  for (let i = 0; i < 14; i++) {
    const p = track(b.add(i));
    ps.push(p);
    await waitFor(() => settled(p), `item ${i}`);
  }
  // Items 0..11 use 4 calls each (48 calls, tokens 100 -> 52). Item 12: call 49 -> 51 (> 50,
  // retry), call 50 -> 50 (refused). Item 13: call 51 -> 49 (refused).
  assert.equal(calls.length, 51);
  assert.deepEqual(ps.map((p) => p.reason.attempts), [...Array(12).fill(4), 2, 1]);
  assertStats(b, { throttled: 2, retries: 37, failed: 14 });
  await b.close();
});

// ------------------------------------------------------------------------- attempts, identity

test("maxAttempts 1: no retry at all; E_TRANSPORT.attempts is 1", async (t) => {
  const e = httpError(503);
  const { calls, transport } = recorder(() => Promise.reject(e));
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 1 } });
  const p = b.add("x");
  await b.flush();
  const err = await rejectsWith(p, "E_TRANSPORT");
  assert.ok(err.cause === e);
  assert.equal(err.attempts, 1);
  assert.equal(calls.length, 1);
  assertStats(b, { retries: 0 });
  await b.close();
});

test("an item is sent as the same value on every attempt (idempotency keys survive)", async (t) => {
  const { calls, transport } = recorder((batch, i) => {
    if (i === 0) throw httpError(503);
    return batch.items.map((x) => (i === 1 && x.id === 2 ? retryable() : echo(x)));
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const items = [1, 2, 3].map((id) => ({ id, idempotencyKey: `key-${id}`, nested: { n: id } }));
  const ps = items.map((x) => track(b.add(x)));
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items.map(label)), [[1, 2, 3], [1, 2, 3], [2]]);
  for (const c of calls) for (const x of c.items) assert.ok(x === items[x.id - 1], "same value each attempt");
  assert.ok(items.every((x) => x.idempotencyKey === `key-${x.id}`));
  assert.deepEqual(ps.map((p) => p.value), ["r:1", "r:2", "r:3"]);
  await b.close();
});

test("batch.attempt counts 1, 2, 3 across batch-level retries; batch.id is new per call", async (t) => {
  const { calls, transport } = recorder((batch, i) => {
    if (i < 2) throw httpError(500);
    return batch.items.map(echo);
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
  const p = track(b.add("x"));
  await b.flush();
  assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3]);
  assert.equal(new Set(calls.map((c) => c.id)).size, 3);
  assert.equal(p.value, "r:x");
  assertStats(b, { batches: 3, retries: 2, succeeded: 1 });
  await b.close();
});

test("E_TRANSPORT after retries: cause is the transport's last error, attempts = calls made", async (t) => {
  // contract silent: with a different error per attempt, `cause` is the last one (the budget line
  // says refused items fail "with their last error").
  const thrown = [];
  const { calls, transport } = recorder(() => {
    const e = httpError(502);
    thrown.push(e);
    throw e;
  });
  const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 4 } });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  await b.flush();
  assert.equal(calls.length, 4);
  for (const p of ps) {
    assertCode(p.reason, "E_TRANSPORT");
    assert.ok(p.reason.cause === thrown[3]);
    assert.equal(p.reason.attempts, 4);
  }
  assertStats(b, { retries: 6, failed: 2 });
  await b.close();
});
