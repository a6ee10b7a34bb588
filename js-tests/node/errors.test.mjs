// Every error code of the contract "Errors", the config checks, AddOptions signal/deadline,
// timeouts, result shape, item error identity and the onBatchStart/onBatchEnd hooks.
import assert from "node:assert/strict";
import {
  test,
  Batcher,
  FAST_RETRY,
  LONG,
  assertCode,
  assertStats,
  deferred,
  echo,
  httpError,
  macrotask,
  open,
  recorder,
  rejectsWith,
  retryable,
  settled,
  sleep,
  track,
  waitFor,
} from "./_helpers.mjs";

const transport = async (batch) => batch.items.map(echo);

// ------------------------------------------------------------------------------- E_CONFIG

/** [label, options, expected class or null for "TypeError or RangeError", text the message names] */
const BAD_CONFIGS = [
  ["no options at all", undefined, TypeError, ""],
  ["transport missing", {}, TypeError, "transport"],
  ["transport not a function", { transport: 42 }, TypeError, "transport"],
  ["unknown option", { transport, maxBatchSise: 10 }, null, "maxBatchSise"],
  ["maxBatchSize 0", { transport, maxBatchSize: 0 }, RangeError, "maxBatchSize"],
  ["maxBatchSize 100001", { transport, maxBatchSize: 100_001 }, RangeError, "maxBatchSize"],
  ["maxBatchSize 2.5", { transport, maxBatchSize: 2.5 }, null, "maxBatchSize"],
  ["maxBatchSize as a string", { transport, maxBatchSize: "10" }, TypeError, "maxBatchSize"],
  ["maxWaitMs -1", { transport, maxWaitMs: -1 }, RangeError, "maxWaitMs"],
  ["maxWaitMs NaN", { transport, maxWaitMs: NaN }, null, "maxWaitMs"],
  ["maxBatchWeight -1", { transport, maxBatchWeight: -1 }, RangeError, "maxBatchWeight"],
  ["weigh not a function", { transport, weigh: "bytes" }, TypeError, "weigh"],
  ["keyOf not a function", { transport, keyOf: 1 }, TypeError, "keyOf"],
  ["resolveKeys not a function", { transport, resolveKeys: {} }, TypeError, "resolveKeys"],
  ["dedupeBy not a function", { transport, dedupeBy: true }, TypeError, "dedupeBy"],
  ["maxQueued -1", { transport, maxQueued: -1 }, RangeError, "maxQueued"],
  ["whenFull unknown", { transport, whenFull: "drop" }, null, "whenFull"],
  ["maxInFlight 0", { transport, maxInFlight: 0 }, RangeError, "maxInFlight"],
  ["maxInFlightPerKey 0", { transport, maxInFlightPerKey: 0 }, RangeError, "maxInFlightPerKey"],
  ["timeoutMs -5", { transport, timeoutMs: -5 }, RangeError, "timeoutMs"],
  ["errorMode unknown", { transport, errorMode: "all_or_nothing" }, null, "errorMode"],
  ["retry not an object", { transport, retry: 5 }, TypeError, "retry"],
  ["retry null", { transport, retry: null }, TypeError, "retry"],
  ["retry true", { transport, retry: true }, TypeError, "retry"],
  ["retry false (only budget may be false)", { transport, retry: false }, TypeError, "retry"],
  ["circuitBreaker true", { transport, circuitBreaker: true }, TypeError, "circuitBreaker"],
  ["options null", null, TypeError, "options"],
  ["retry.maxAttempts 0", { transport, retry: { maxAttempts: 0 } }, RangeError, "maxAttempts"],
  ["retry.maxAtempts (typo)", { transport, retry: { maxAtempts: 3 } }, null, "maxAtempts"],
  ["retry.baseDelayMs -1", { transport, retry: { baseDelayMs: -1 } }, RangeError, "baseDelayMs"],
  ["retry.maxDelayMs -1", { transport, retry: { maxDelayMs: -1 } }, RangeError, "maxDelayMs"],
  ["retry.multiplier -1", { transport, retry: { multiplier: -1 } }, RangeError, "multiplier"],
  ["retry.jitter unknown", { transport, retry: { jitter: "lots" } }, null, "jitter"],
  ["retry.maxRetryAfterMs -1", { transport, retry: { maxRetryAfterMs: -1 } }, RangeError, "maxRetryAfterMs"],
  ["retry.classify not a function", { transport, retry: { classify: "retry" } }, TypeError, "classify"],
  ["retry.budget.maxTokens -1", { transport, retry: { budget: { maxTokens: -1 } } }, RangeError, "maxTokens"],
  ["retry.budget.tokenRatio -0.1", { transport, retry: { budget: { tokenRatio: -0.1 } } }, RangeError, "tokenRatio"],
  ["retry.budget unknown field", { transport, retry: { budget: { maxToken: 5 } } }, null, "maxToken"],
  ["bisect not a boolean", { transport, bisect: "yes" }, TypeError, "bisect"],
  ["onBatchStart not a function", { transport, onBatchStart: 1 }, TypeError, "onBatchStart"],
  ["onBatchEnd not a function", { transport, onBatchEnd: {} }, TypeError, "onBatchEnd"],
  // Number options: a value of another type is a TypeError, NaN a RangeError, at any depth.
  ["maxWaitMs null", { transport, maxWaitMs: null }, TypeError, "maxWaitMs"],
  ["maxBatchWeight as a string", { transport, maxBatchWeight: "1" }, TypeError, "maxBatchWeight"],
  ["timeoutMs NaN", { transport, timeoutMs: NaN }, RangeError, "timeoutMs"],
  ["retry.maxAttempts as a string", { transport, retry: { maxAttempts: "3" } }, TypeError, "retry.maxAttempts"],
  ["retry.budget.tokenRatio as a bigint", { transport, retry: { budget: { tokenRatio: 1n } } }, TypeError, "retry.budget.tokenRatio"],
  ["circuitBreaker.resetMs null", { transport, circuitBreaker: { resetMs: null } }, TypeError, "circuitBreaker.resetMs"],
  ["adaptive not a boolean", { transport, adaptive: 1 }, TypeError, "adaptive"],
];

for (const [name, options, cls, names] of BAD_CONFIGS) {
  test(`E_CONFIG: ${name} throws synchronously from the constructor, naming "${names}"`, () => {
    // Wrong types -> TypeError, out-of-range numbers -> RangeError (as Web APIs do); where either
    // reading is natural (unknown names, bad enum strings, non-integers) either class is accepted.
    let error;
    assert.throws(() => new Batcher(options), (e) => {
      error = e;
      return true;
    });
    assertCode(error, "E_CONFIG");
    if (cls) assert.ok(error instanceof cls, `expected ${cls.name}, got ${error.constructor?.name}: ${error.message}`);
    else assert.ok(error instanceof TypeError || error instanceof RangeError, `got ${error.constructor?.name}`);
    assert.ok(error.message.includes(names), `message "${error.message}" does not name ${names}`);
  });
}

test("E_CONFIG: an unknown option's message suggests the known name within two edits, none further away", () => {
  // contract silent: the hint's wording is free; the name it offers is checked.
  const suggestion = (options) => {
    try {
      new Batcher({ transport, ...options });
    } catch (e) {
      assertCode(e, "E_CONFIG");
      return /did you mean `([^`]+)`/.exec(e.message)?.[1] ?? null;
    }
    assert.fail("accepted");
  };
  assert.equal(suggestion({ maxBatchSise: 1 }), "maxBatchSize", "one substitution");
  assert.equal(suggestion({ maxbatchsize: 1 }), "maxBatchSize", "case is ignored");
  assert.equal(suggestion({ maxWaitMsXY: 1 }), "maxWaitMs", "two insertions");
  assert.equal(suggestion({ axWaitM: 1 }), "maxWaitMs", "two deletions");
  assert.equal(suggestion({ maxWaitMsXYZ: 1 }), null, "three insertions");
  assert.equal(suggestion({ abcdefghi: 1 }), null, "as long as maxWaitMs, nothing alike");
  assert.equal(suggestion({ retry: { maxAtempts: 3 } }), "retry.maxAttempts", "nested, with its path");
});

test("E_CONFIG: bad AddOptions reject that add with E_CONFIG naming the option; weight 0 and null options are accepted", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG });
  // The class as for the constructor's options: a value of the wrong type is a TypeError, a
  // number out of range (NaN too) a RangeError; a name AddOptions lacks is refused (a typo would
  // otherwise drop the deadline or signal silently), with the likely name.
  const bad = [
    [5, "add options", TypeError], ["x", "add options", TypeError], [true, "add options", TypeError],
    [{ weight: -1 }, "weight", RangeError], [{ weight: Infinity }, "weight", RangeError],
    [{ weight: NaN }, "weight", RangeError], [{ weight: "3" }, "weight", TypeError, /got string/],
    [{ deadline: "soon" }, "deadline", TypeError], [{ deadline: NaN }, "deadline", RangeError, /got NaN/],
    [{ signal: {} }, "signal", TypeError], [{ signal: 5 }, "signal", TypeError],
    [{ key: {} }, "key", TypeError], [{ key: NaN }, "key", RangeError, /got NaN/],
    [{ deadLine: Date.now() + 1000 }, "deadLine", TypeError, /not an add option \(did you mean `deadline`\?\)/],
    [{ signals: new AbortController().signal }, "signals", TypeError, /did you mean `signal`/],
    [{ key: "k", priority: 1 }, "priority", TypeError, /is not an add option$/],
  ];
  for (const [opts, option, cls, text] of bad) {
    const name = String(JSON.stringify(opts));
    const err = await rejectsWith(b.add("x", opts), "E_CONFIG", name);
    assert.equal(err.option, option, `${name}: err.option`);
    assert.ok(err.message.includes(`\`${option}\``), `the message names the option: ${err.message}`);
    assert.ok(err instanceof cls, `${name}: a ${cls.name}, got ${err.constructor.name}: ${err.message}`);
    if (text) assert.match(err.message, text, name);
  }
  // Inherited names are not the add's own options (a polluted Object.prototype changes nothing).
  const inherited = Object.create({ extra: 1 });
  inherited.weight = 2;
  const fromProto = track(b.add("proto", inherited));
  // contract silent: null options mean none, as undefined does; a null signal is none, as in
  // fetch's RequestInit (audit16)
  const ok = [track(b.add("zero", { weight: 0 })), track(b.add("null", null)), fromProto, track(b.add("nosignal", { signal: null }))];
  await b.flush();
  assert.deepEqual(ok.map((p) => p.value), ["r:zero", "r:null", "r:proto", "r:nosignal"]);
  assert.equal(calls.length, 1);
  await b.close();
});

test("E_CONFIG: valid edge values and every enum value are accepted", async () => {
  const good = [
    { maxBatchSize: 1 },
    { maxBatchSize: 100_000 },
    { maxWaitMs: 0 },
    { maxBatchWeight: 1, weigh: () => 1 },
    { whenFull: "reject" },
    { whenFull: "wait" },
    { errorMode: "partial" },
    { errorMode: "fail_fast" },
    { errorMode: "atomic" },
    { bisect: false },
    { maxInFlight: 1, maxInFlightPerKey: 1 },
    { timeoutMs: 1000 },
    { retry: {} },
    { retry: { budget: false } },
    { retry: { jitter: "full" } },
    { retry: { jitter: "equal" } },
    { retry: { jitter: "none" } },
    {
      retry: {
        maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0, multiplier: 1, maxRetryAfterMs: 0,
        classify: () => "fail", budget: { maxTokens: 10, tokenRatio: 0.5 },
      },
    },
    // contract silent: an option set to undefined means "use the default" (like fetch's init).
    { keyOf: undefined, timeoutMs: undefined, retry: undefined },
  ];
  for (const extra of good) {
    const b = new Batcher({ transport, ...extra });
    await b.close();
  }
});

test("E_CONFIG: null for maxBatchWeight, maxInFlightPerKey or timeoutMs is accepted and means none", async (t) => {
  // The reference: "`null` or absent = no weight cap / only maxInFlight applies / no timeout".
  for (const option of ["maxBatchWeight", "maxInFlightPerKey", "timeoutMs"]) {
    const b = new Batcher({ transport, [option]: null });
    await b.close();
  }
  const { calls, transport: recording } = recorder();
  const b = open(t, { transport: recording, maxWaitMs: LONG, maxBatchWeight: null, maxInFlightPerKey: null, timeoutMs: null });
  const heavy = track(b.add("heavy", { weight: 1e12 }));
  await b.flush();
  assert.equal(heavy.value, "r:heavy", "no weight cap");
  assert.deepEqual(calls.map((c) => c.items), [["heavy"]]);
});

// ------------------------------------------------------------------------------- E_CLOSED

test("E_CLOSED: add and addMany after close()", async (t) => {
  const b = open(t, { transport });
  await b.close();
  const err = await rejectsWith(b.add("x"), "E_CLOSED");
  assert.ok(err instanceof Error);
  // contract silent: addMany after close either rejects with E_CLOSED or resolves with every
  // entry rejected with E_CLOSED.
  const many = b.addMany(["a", "b"]);
  try {
    const res = await many;
    assert.equal(res.length, 2);
    for (const r of res) {
      assert.equal(r.status, "rejected");
      assertCode(r.reason, "E_CLOSED");
    }
  } catch (e) {
    assertCode(e, "E_CLOSED");
  }
  assertStats(b, { items: 0, batches: 0 });
});

// --------------------------------------------------------------------------------- E_FULL

test("E_FULL: an add beyond maxQueued (whenFull reject) fails; accepted items are unaffected", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: LONG, maxQueued: 2 });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  const full = b.add("c");
  // Checked in the same tick: a full queue dispatches at its end (backpressure flush).
  assertStats(b, { queued: 2, items: 2 });
  await rejectsWith(full, "E_FULL");
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["a", "b"]]);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"]);
  await b.close();
});

// ---------------------------------------------------------------------------- E_TOO_LARGE

test("E_TOO_LARGE: an item heavier than maxBatchWeight alone (weigh or AddOptions.weight)", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: LONG, maxBatchWeight: 100, weigh: (x) => x.length });
  const big = "x".repeat(101);
  await rejectsWith(b.add(big), "E_TOO_LARGE");
  await rejectsWith(b.add("small", { weight: 1000 }), "E_TOO_LARGE");
  const ok = track(b.add("fine"));
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["fine"]], "a too-large item is never sent");
  assert.equal(ok.value, "r:fine");
  await b.close();
});

// ------------------------------------------------------------------------------ E_ABORTED

test("E_ABORTED: aborting a queued item rejects it at once (AbortError, cause = signal.reason) and removes it", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  const ac = new AbortController();
  const reason = new Error("user navigated away");
  const a = track(b.add("a", { signal: ac.signal }));
  const keep = track(b.add("b"));
  ac.abort(reason);
  await macrotask();
  assert.equal(a.status, "rejected", "rejects at once, not at the next flush");
  assertCode(a.reason, "E_ABORTED");
  assert.equal(a.reason.name, "AbortError");
  assert.ok(a.reason.cause === reason, "cause is signal.reason");
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["b"]], "an aborted queued item is not sent");
  assert.equal(keep.value, "r:b");
  assertStats(b, { items: 2, succeeded: 1, failed: 1, queued: 0 });
  await b.close();
});

test("E_ABORTED: a signal already aborted at add() rejects with its default reason and is never sent", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  const signal = AbortSignal.abort();
  const err = await rejectsWith(b.add("x", { signal }), "E_ABORTED");
  assert.equal(err.name, "AbortError");
  assert.ok(err.cause === signal.reason);
  await b.flush();
  assert.equal(calls.length, 0);
  await b.close();
});

test("E_ABORTED: aborting an item in flight rejects it at once; its result is ignored and batchmates are unaffected", async (t) => {
  const gate = deferred();
  const { calls, transport: tr } = recorder(async (batch) => {
    await gate.promise;
    return batch.items.map(echo);
  });
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  const ac = new AbortController();
  const a = track(b.add("a", { signal: ac.signal }));
  const c = track(b.add("c"));
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "the call");
  assertStats(b, { inFlightItems: 2, inFlightBatches: 1 });
  const reason = { why: "not an Error, still the cause" };
  ac.abort(reason);
  await macrotask();
  assert.equal(a.status, "rejected", "an in-flight abort rejects before the transport answers");
  assertCode(a.reason, "E_ABORTED");
  assert.equal(a.reason.name, "AbortError");
  assert.ok(a.reason.cause === reason);
  assert.equal(c.status, "pending");
  gate.resolve();
  await flushed;
  assert.equal(c.value, "r:c");
  assert.equal(a.count, 1, "the late result does not settle the aborted item again");
  assertStats(b, { succeeded: 1, failed: 1, batches: 1 });
  await b.close();
});

// ----------------------------------------------------------------------------- E_DEADLINE

test("E_DEADLINE: a deadline already passed at add() rejects and the item is never sent", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  await rejectsWith(b.add("x", { deadline: Date.now() - 1 }), "E_DEADLINE");
  await b.flush();
  assert.equal(calls.length, 0);
  await b.close();
});

test("E_DEADLINE: a queued item whose deadline passes (queue blocked by maxInFlight) rejects and is never sent", async (t) => {
  const gate = deferred();
  const { calls, transport: tr } = recorder(async (batch) => {
    await gate.promise;
    return batch.items.map(echo);
  });
  const b = open(t, { transport: tr, maxWaitMs: LONG, maxInFlight: 1, keyOf: (x) => x });
  const first = track(b.add("first"));
  const f1 = b.flush();
  await waitFor(() => calls.length === 1, "the blocking call");
  const late = track(b.add("late", { deadline: Date.now() + 30 }));
  await waitFor(() => settled(late), "the deadline", 2000);
  assertCode(late.reason, "E_DEADLINE");
  gate.resolve();
  await f1;
  await b.flush();
  assert.deepEqual(calls.map((c) => c.items), [["first"]], "an expired queued item is never sent");
  assert.equal(first.value, "r:first");
  assertStats(b, { failed: 1, succeeded: 1 });
  await b.close();
});

test("deadline: its queue dispatches no later than the deadline; batch.deadline is the earliest", async (t) => {
  // maxWaitMs is 60 s, so only the deadlines can trigger this dispatch. On an overloaded machine
  // the batcher's timer may fire after a deadline, and then that item has rightly expired unsent;
  // so two items carry deadlines and the scenario gets three tries.
  for (let round = 1; ; round++) {
    const { calls, transport: tr } = recorder();
    const b = open(t, { transport: tr, maxWaitMs: LONG });
    const t0 = Date.now();
    const early = t0 + 300;
    const late = t0 + 600;
    const ps = [track(b.add("a", { deadline: late })), track(b.add("b", { deadline: early })), track(b.add("c"))];
    await waitFor(() => calls.length > 0 || (settled(ps[0]) && settled(ps[1])), "dispatch by a deadline", 3000);
    if (calls.length === 0 && round < 3) {
      await b.close();
      continue;
    }
    assert.ok(calls.length > 0, "the queue was not dispatched by its items' deadlines");
    const sent = calls[0].items;
    assert.ok(sent.includes("a") && sent.includes("c"), `sent ${sent}`);
    assert.deepEqual(sent, ["a", "b", "c"].filter((x) => sent.includes(x)), "arrival order");
    const expected = sent.includes("b") ? early : late;
    assert.equal(calls[0].deadline, expected, "batch.deadline = the earliest deadline among the batch's items");
    if (!sent.includes("b")) assertCode(ps[1].reason, "E_DEADLINE");
    await waitFor(() => ps.every(settled), "all");
    assert.equal(ps[2].value, "r:c");
    await b.close();
    break;
  }
});

test("E_DEADLINE: a deadline that passes while the item is in flight rejects it at once; batchmates are unaffected", async (t) => {
  const gate = deferred();
  const { calls, transport: tr } = recorder(async (batch) => {
    await gate.promise;
    return batch.items.map(echo);
  });
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  const d = track(b.add("d", { deadline: Date.now() + 40 }));
  const other = track(b.add("o"));
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "the call");
  await waitFor(() => settled(d), "the in-flight deadline", 2000);
  assertCode(d.reason, "E_DEADLINE");
  assert.equal(other.status, "pending");
  gate.resolve();
  await flushed;
  assert.equal(other.value, "r:o");
  assert.equal(d.count, 1);
  assertStats(b, { succeeded: 1, failed: 1 });
  await b.close();
});

// ------------------------------------------------------------------------------ E_TIMEOUT

test("E_TIMEOUT: a call past timeoutMs aborts batch.signal and fails with E_TIMEOUT as is", async (t) => {
  const { calls, transport: tr } = recorder(
    (batch) =>
      new Promise((_, reject) => batch.signal.addEventListener("abort", () => reject(batch.signal.reason))),
  );
  const b = open(t, { transport: tr, maxWaitMs: LONG, timeoutMs: 20, retry: { ...FAST_RETRY, maxAttempts: 1 } });
  const ps = ["a", "b"].map((x) => track(b.add(x)));
  await b.flush();
  assert.equal(calls.length, 1);
  assert.ok(calls[0].signal.aborted, "batch.signal is aborted on timeout");
  for (const p of ps) assertCode(p.reason, "E_TIMEOUT");
  assertStats(b, { failed: 2, batches: 1 });
  await b.close();
});

test("E_TIMEOUT: a transport that ignores the signal and answers late has its answer ignored", async (t) => {
  const { calls, transport: tr } = recorder(async (batch, i) => {
    if (i === 0) {
      await sleep(120);
      return batch.items.map(() => "late");
    }
    return batch.items.map(() => "fresh");
  });
  const b = open(t, { transport: tr, maxWaitMs: LONG, timeoutMs: 20, retry: { ...FAST_RETRY, maxAttempts: 2 } });
  const p = track(b.add("x"));
  await b.flush();
  assert.equal(p.value, "fresh");
  await sleep(150); // the late answer arrives now and must change nothing
  assert.equal(p.count, 1);
  assert.equal(calls.length, 2);
  await b.close();
});

test("E_TIMEOUT: batch.signal read for the first time after the call timed out is already aborted", async (t) => {
  // Not the recorder: it reads batch.signal at once, and this test is about a transport that
  // reads it late (the signal may be made on first use).
  const batches = [];
  const gotLate = deferred();
  const tr = async (batch) => {
    batches.push(batch);
    await sleep(80); // well past timeoutMs, without ever touching batch.signal
    const { signal } = batch;
    gotLate.resolve({ aborted: signal.aborted, reason: signal.reason });
    return batch.items.map(echo);
  };
  const b = open(t, { transport: tr, maxWaitMs: LONG, timeoutMs: 15, retry: { ...FAST_RETRY, maxAttempts: 1 } });
  const p = track(b.add("x"));
  await b.flush();
  assertCode(p.reason, "E_TIMEOUT");
  const late = await gotLate.promise;
  assert.equal(late.aborted, true, "a signal first read after the timeout must be aborted");
  assertCode(late.reason, "E_TIMEOUT", "signal.reason");
  assert.equal(batches.length, 1);
  await b.close();
});

test("E_TIMEOUT: after maxAttempts timeouts the caller gets E_TIMEOUT", async (t) => {
  const { calls, transport: tr } = recorder(() => new Promise(() => {}));
  const b = open(t, { transport: tr, maxWaitMs: LONG, timeoutMs: 15, retry: { ...FAST_RETRY, maxAttempts: 2 } });
  const p = track(b.add("x"));
  await b.flush();
  assertCode(p.reason, "E_TIMEOUT");
  assert.equal(calls.length, 2);
  assert.ok(calls.every((c) => c.signal.aborted));
  await b.close();
});

test("E_TIMEOUT: a later call of several times out on its own (each call's timer finds its call)", async (t) => {
  // The first two calls answer; the third never does: only it times out, after timeoutMs.
  const { calls, transport: tr } = recorder((batch, i) => (i < 2 ? batch.items.map(echo) : new Promise(() => {})));
  const b = open(t, { transport: tr, maxWaitMs: LONG, maxBatchSize: 1, timeoutMs: 20, retry: { ...FAST_RETRY, maxAttempts: 1 } });
  const ok = [track(b.add("a")), track(b.add("b"))];
  await waitFor(() => ok.every(settled), "the first two calls");
  const late = track(b.add("c"));
  await waitFor(() => settled(late), "the third call's timeout", 3000);
  assert.deepEqual(ok.map((p) => p.value), ["r:a", "r:b"]);
  assertCode(late.reason, "E_TIMEOUT");
  assert.equal(calls.length, 3);
  assert.ok(calls[2].signal.aborted && !calls[0].signal.aborted && !calls[1].signal.aborted, "only the third call's signal");
  await b.close();
});

// ---------------------------------------------------------------------------- E_TRANSPORT

test("E_TRANSPORT: wraps what the transport threw (sync), rejected with, or a non-Error value; attempts = calls", async (t) => {
  const thrownSync = httpError(500);
  const rejected = new TypeError("fetch failed");
  for (const [name, tr, expectedCause] of [
    ["sync throw", () => { throw thrownSync; }, thrownSync],
    ["rejection", async () => { throw rejected; }, rejected],
    ["non-Error rejection", () => Promise.reject("boom"), "boom"],
    ["rejection with null", () => Promise.reject(null), null],
    ["throw of undefined", () => { throw undefined; }, undefined],
  ]) {
    let count = 0;
    const b = open(t, {
      transport: (batch) => {
        count += 1;
        return tr(batch);
      },
      maxWaitMs: LONG,
      retry: { ...FAST_RETRY, maxAttempts: 2 },
    });
    const p = track(b.add("x"));
    await b.flush();
    assertCode(p.reason, "E_TRANSPORT", name);
    assert.ok(p.reason.cause === expectedCause, `${name}: cause is the transport's value`);
    assert.equal(p.reason.attempts, 2, name);
    assert.equal(count, 2, name);
    await b.close();
  }
});

// ------------------------------------------------------------------------- E_RESULT_SHAPE

test("E_RESULT_SHAPE: a non-array result or a wrong length fails the batch, as is, without retry", async (t) => {
  for (const [name, answer, sync] of [
    ["undefined", () => undefined],
    ["null", () => null],
    // contract: the transport "returns (or resolves to)" its array: a sync answer too.
    ["sync null", () => null, "sync"],
    ["sync undefined", () => undefined, "sync"],
    ["object", () => ({ 0: "r:a", 1: "r:b", length: 2 })],
    ["string", () => "r:a,r:b"],
    ["too short", (batch) => batch.items.slice(1).map(echo)],
    ["too long", (batch) => [...batch.items.map(echo), "extra"]],
  ]) {
    const rec = recorder(answer);
    const { calls } = rec;
    // the recorder's transport is async; a sync transport hands its answer back as is
    const tr = sync ? (batch) => (rec.transport(batch), answer(batch)) : rec.transport;
    const b = open(t, { transport: tr, maxWaitMs: LONG, retry: FAST_RETRY });
    const ps = ["a", "b"].map((x) => track(b.add(x)));
    await b.flush();
    for (const p of ps) assertCode(p.reason, "E_RESULT_SHAPE", name);
    assert.equal(calls.length, 1, `${name}: not retried`);
    assertStats(b, { failed: 2, succeeded: 0, bisects: 0 }, name);
    await b.close();
  }
});

// ---------------------------------------------------------------- E_FAIL_FAST, E_ATOMIC (codes)

test("E_TRANSPORT: its message carries the thrown value's message, else what String() makes of it", async (t) => {
  // contract silent: the wording is free; what the message takes from the thrown value is checked.
  const named = Object.assign(() => {}, { message: "a function's own message" });
  for (const [name, thrown, text] of [
    ["an Error", new Error("socket hang up"), "socket hang up"],
    ["a function with a message", named, "a function's own message"],
    ["an Error with an empty message", new RangeError(""), "RangeError"],
    ["a string", "boom", "boom"],
  ]) {
    const b = open(t, { transport: () => { throw thrown; }, maxWaitMs: LONG, retry: { maxAttempts: 1 } });
    const p = track(b.add("x"));
    await b.flush();
    assertCode(p.reason, "E_TRANSPORT", name);
    assert.ok(p.reason.message.endsWith(`: ${text}`), `${name}: ${p.reason.message}`);
    await b.close();
  }
});

test("E_CONFIG: the message says what was given (null, a number, an array and its length, an object String() cannot print)", async (t) => {
  // contract silent: the wording is free; the description of the bad value is checked.
  const given = (options) => {
    try {
      new Batcher({ transport, ...options });
    } catch (e) {
      assertCode(e, "E_CONFIG");
      return / got (.*)$/.exec(e.message)?.[1];
    }
    assert.fail("accepted");
  };
  assert.equal(given({ keyOf: null }), "null");
  assert.equal(given({ keyOf: 5 }), "number");
  assert.equal(given({ keyOf: [1, 2] }), "an array of 2");
  assert.equal(given({ keyOf: {} }), "object");
  const b = open(t, { transport, maxWaitMs: LONG });
  const err = await rejectsWith(b.add("x", { weight: Object.create(null) }), "E_CONFIG");
  assert.ok(err.message.endsWith("got object"), err.message);
});

test("E_FAIL_FAST and E_ATOMIC are Errors with their codes and the failing entry as cause", async (t) => {
  for (const [errorMode, code] of [["fail_fast", "E_FAIL_FAST"], ["atomic", "E_ATOMIC"]]) {
    const bad = new Error("row 2 invalid");
    const { transport: tr } = recorder((batch) => batch.items.map((x) => (x === "b" ? bad : echo(x))));
    const b = open(t, { transport: tr, maxWaitMs: LONG, errorMode });
    const a = track(b.add("a"));
    track(b.add("b"));
    await b.flush();
    assertCode(a.reason, code, errorMode);
    assert.ok(a.reason.cause === bad, errorMode);
    await b.close();
  }
});

// -------------------------------------------------------------------------------- E_ROUTE

test("E_ROUTE: resolveKeys throwing or returning the wrong number of keys rejects those items", async (t) => {
  // contract silent: E_ROUTE is the code for a routing failure; items keyed by keyOf are unaffected.
  const down = new Error("directory down");
  for (const [name, resolveKeys] of [
    ["throws", async () => { throw down; }],
    ["throws synchronously", () => { throw down; }],
    ["wrong length", async (items) => items.slice(1).map(() => "k")],
  ]) {
    const { calls, transport: tr } = recorder();
    const b = open(t, { transport: tr, maxWaitMs: 5, keyOf: (x) => x.k, resolveKeys });
    const routed = [track(b.add({ id: 1 })), track(b.add({ id: 2 }))];
    const keyed = track(b.add({ id: 3, k: "k" }));
    await waitFor(() => [...routed, keyed].every(settled), name);
    for (const p of routed) assertCode(p.reason, "E_ROUTE", name);
    // contract silent: like E_TRANSPORT, the cause is what resolveKeys threw.
    if (name.startsWith("throws")) for (const p of routed) assert.equal(p.reason.cause, down, "E_ROUTE cause");
    assert.equal(keyed.value, "r:3", name);
    assert.deepEqual(calls.map((c) => c.items.map((x) => x.id)), [[3]], `${name}: unrouted items are not sent`);
    await b.close();
  }
});

test("E_ROUTE: an item resolveKeys gives no usable key (undefined, NaN, an object) rejects alone, saying what a key is", async (t) => {
  const { calls, transport: tr } = recorder();
  const b = open(t, { transport: tr, maxWaitMs: 5, resolveKeys: async (items) => items.map((x) => x.k) });
  const ps = [{ id: 1, k: "a" }, { id: 2, k: undefined }, { id: 3, k: NaN }, { id: 4, k: {} }].map((x) => track(b.add(x)));
  await waitFor(() => ps.every(settled), "every item");
  assert.equal(ps[0].value, "r:1");
  for (const p of ps.slice(1)) {
    assertCode(p.reason, "E_ROUTE");
    assert.match(p.reason.message, /no string or number key/, p.reason.message);
  }
  assert.deepEqual(calls.map((c) => c.items.map((x) => x.id)), [[1]], "only the routed item is sent");
  await b.close();
});

// ---------------------------------------------------------------------- item error identity

test("an item error returned by the transport reaches its caller as the same object", async (t) => {
  class NotFound extends Error {
    constructor(id) {
      super(`no ${id}`);
      this.name = "NotFound";
      this.id = id;
    }
  }
  const errs = { b: new NotFound("b"), d: Object.assign(new RangeError("bad"), { status: 404 }) };
  const { transport: tr } = recorder((batch) => batch.items.map((x) => errs[x] ?? echo(x)));
  const b = open(t, { transport: tr, maxWaitMs: LONG });
  const ps = ["a", "b", "c", "d"].map((x) => track(b.add(x)));
  await b.flush();
  assert.ok(ps[1].reason === errs.b && ps[1].reason instanceof NotFound);
  assert.ok(ps[3].reason === errs.d);
  assert.deepEqual([ps[0].value, ps[2].value], ["r:a", "r:c"]);
  assertStats(b, { succeeded: 2, failed: 2, batches: 1, retries: 0 });
  await b.close();
});

test("library errors are Error instances with a string code", async (t) => {
  const b = open(t, { transport, maxWaitMs: LONG, maxQueued: 1, maxBatchWeight: 1 });
  const errors = [await rejectsWith(b.add("x", { weight: 2 }), "E_TOO_LARGE")];
  const ok = track(b.add("ok"));
  errors.push(await rejectsWith(b.add("y"), "E_FULL"));
  await b.close();
  errors.push(await rejectsWith(b.add("z"), "E_CLOSED"));
  for (const e of errors) {
    assert.ok(e instanceof Error && typeof e.message === "string" && e.message.length > 0);
    // contract silent: with nothing behind it an error has no `cause` at all (a log shows none)
    assert.ok(!Object.hasOwn(e, "cause"), `${e.code}: no own cause`);
  }
  assert.equal(ok.value, "r:ok");
});

// ---------------------------------------------------------------------------------- hooks

const snap = (i) => ({
  id: i.id, key: i.key, size: i.size, weight: i.weight, attempt: i.attempt,
  durationMs: i.durationMs, succeeded: i.succeeded, failed: i.failed, error: i.error,
});

test("hooks: called once per transport call (not per item) with id, key, size, weight, attempt; end adds durationMs, succeeded, failed", async (t) => {
  const starts = [];
  const ends = [];
  let startsWhenCalled = [];
  const bad = new Error("bad");
  const gate = deferred();
  const { calls, transport: tr } = recorder(async (batch) => {
    startsWhenCalled.push(starts.length);
    await gate.promise;
    return batch.items.map((x) => (x.id === "c" ? bad : echo(x)));
  });
  const b = open(t, {
    transport: tr,
    maxWaitMs: LONG,
    keyOf: () => "k1",
    weigh: (x) => x.w,
    onBatchStart: (info) => starts.push(snap(info)),
    onBatchEnd: (info) => ends.push(snap(info)),
  });
  const ps = [{ id: "a", w: 2 }, { id: "b", w: 3 }, { id: "c", w: 4 }].map((x) => track(b.add(x)));
  const flushed = b.flush();
  await waitFor(() => calls.length === 1, "the call");
  setTimeout(() => gate.resolve(), 30);
  await flushed;
  await waitFor(() => ps.every(settled) && ends.length === 1, "the end hook");
  assert.deepEqual(startsWhenCalled, [1], "onBatchStart runs before the transport is called");
  assert.equal(starts.length, 1);
  const start = starts[0];
  assert.deepEqual(
    { id: start.id, key: start.key, size: start.size, weight: start.weight, attempt: start.attempt },
    { id: calls[0].id, key: "k1", size: 3, weight: 9, attempt: 1 },
  );
  const end = ends[0];
  assert.deepEqual(
    { id: end.id, key: end.key, size: end.size, weight: end.weight, attempt: end.attempt, succeeded: end.succeeded, failed: end.failed, error: end.error },
    { id: calls[0].id, key: "k1", size: 3, weight: 9, attempt: 1, succeeded: 2, failed: 1, error: undefined },
  );
  assert.equal(typeof end.durationMs, "number");
  assert.ok(end.durationMs >= 20 && end.durationMs < 5000, `durationMs ${end.durationMs}`);
  await b.close();
});

test("hooks: info.attempt follows retries and info.error is the batch-level error as the caller sees it", async (t) => {
  const thrown = httpError(503);
  const ends = [];
  const starts = [];
  const { transport: tr } = recorder((batch, i) => {
    if (i === 0) throw thrown;
    if (i === 1) return "garbage";
    return new Promise(() => {});
  });
  const b = open(t, {
    transport: tr,
    maxWaitMs: LONG,
    timeoutMs: 20,
    retry: { ...FAST_RETRY, maxAttempts: 3, classify: () => "retry" },
    onBatchStart: (info) => starts.push(snap(info)),
    onBatchEnd: (info) => ends.push(snap(info)),
  });
  const p = track(b.add("x"));
  await b.flush();
  await waitFor(() => ends.length === 3, "three end hooks");
  assert.deepEqual(starts.map((s) => s.attempt), [1, 2, 3]);
  assert.deepEqual(ends.map((e) => e.attempt), [1, 2, 3]);
  assert.ok(ends[0].error === thrown, "the transport's own error, not an E_TRANSPORT wrapper");
  assertCode(ends[1].error, "E_RESULT_SHAPE");
  assertCode(ends[2].error, "E_TIMEOUT");
  assertCode(p.reason, "E_TIMEOUT");
  await b.close();
});

test("hooks: hooks that throw (or reject) change no outcome", async (t) => {
  async function run(hooks) {
    const { calls, transport: tr } = recorder((batch, i) =>
      batch.items.map((x) => (x === "r" && i === 0 ? retryable() : x === "e" ? new Error("e") : echo(x))));
    const b = open(t, { transport: tr, maxWaitMs: LONG, maxBatchSize: 3, retry: FAST_RETRY, ...hooks });
    const ps = ["a", "r", "e", "b", "c"].map((x) => track(b.add(x)));
    await b.flush();
    await b.close();
    return {
      calls: calls.map((c) => [c.items, c.attempt]),
      outcomes: ps.map((p) => (p.status === "fulfilled" ? p.value : p.reason.message)),
      stats: b.stats().succeeded + "/" + b.stats().failed + "/" + b.stats().retries,
    };
  }
  const baseline = await run({});
  const boom = () => {
    throw new Error("hook bug");
  };
  // contract silent: a hook returning a rejected promise is treated like one that throws.
  const asyncBoom = async () => {
    throw new Error("async hook bug");
  };
  assert.deepEqual(await run({ onBatchStart: boom, onBatchEnd: boom }), baseline);
  assert.deepEqual(await run({ onBatchStart: asyncBoom, onBatchEnd: asyncBoom }), baseline);
  assert.deepEqual(baseline.outcomes, ["r:a", "r:r", "e", "r:b", "r:c"]);
});
