// The portable contract checks: one set of checks of the contract (docs/reference.md) that every runtime runs
// (Node ESM and CJS, Deno, Bun, workerd, headless Chromium on a plain page and through Vite).
//
// Plain ESM with no imports and no host API beyond what every runtime has (setTimeout,
// Promise, AbortController, Date). Usage:
//
//   import { checks } from "./contract.js";
//   for (const { name, fn } of checks(Batcher, assert)) test(name, fn);
//
// `assert` is `node:assert/strict` where the host has it, or `miniAssert` below (browsers,
// workerd). Only assert.ok, assert.equal (===), assert.deepEqual (strict, structural) and
// assert.fail are used. Hosts without a test runner use `runChecks`, which returns plain,
// JSON-able results.

/** A maxWaitMs that never fires within a check: dispatch then comes from size or flush(). */
export const LONG = 60_000;
/** Retry options for quick, exact checks: tiny delays, no jitter. */
const FAST_RETRY = Object.freeze({ baseDelayMs: 1, maxDelayMs: 5, jitter: "none" });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const echo = (x) => `r:${x !== null && typeof x === "object" ? x.id : x}`;

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Watches a promise without awaiting it; `count` says how many times it settled. */
function track(promise) {
  const s = { status: "pending", value: undefined, reason: undefined, count: 0 };
  promise.then(
    (value) => Object.assign(s, { status: "fulfilled", value, count: s.count + 1 }),
    (reason) => Object.assign(s, { status: "rejected", reason, count: s.count + 1 }),
  );
  return s;
}
const settled = (s) => s.status !== "pending";

/** A transport that records each call and answers `respond(batch, index)` (default: echo). */
function recorder(respond = (batch) => batch.items.map(echo)) {
  const calls = [];
  const transport = async (batch) => {
    calls.push({
      id: batch.id, key: batch.key, items: [...batch.items], attempt: batch.attempt,
      deadline: batch.deadline, signal: batch.signal, at: Date.now(),
    });
    return respond(batch, calls.length - 1);
  };
  return { calls, transport };
}

const httpError = (status) => Object.assign(new Error(`HTTP ${status}`), { status });

/**
 * The contract checks. Returns `[{ name, fn }]`; each `fn` is async, creates its own batchers
 * and closes them, and throws (through `assert`) on a contract violation.
 */
export function checks(Batcher, assert) {
  async function waitFor(predicate, what, timeoutMs = 5000) {
    const end = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(2);
    }
  }

  function assertCode(err, code, where = "") {
    assert.ok(err instanceof Error, `${where} expected an Error with code ${code}, got ${String(err)}`);
    assert.equal(typeof err.code, "string", `${where} error.code must be a string`);
    assert.equal(err.code, code, `${where} ${err.message}`);
  }

  async function rejectsWith(promise, code, where = "") {
    assert.equal(typeof promise?.then, "function", "expected a promise");
    let error, ok = false;
    try {
      await promise;
      ok = true;
    } catch (e) {
      error = e;
    }
    if (ok) assert.fail(`${where} expected a rejection with ${code}, but it resolved`);
    assertCode(error, code, where);
    return error;
  }

  function throwsConfig(options, names, Ctor) {
    let error;
    try {
      new Batcher(options);
    } catch (e) {
      error = e;
    }
    assert.ok(error !== undefined, `new Batcher(${names}) must throw synchronously`);
    assertCode(error, "E_CONFIG", names);
    if (Ctor) assert.ok(error instanceof Ctor, `expected ${Ctor.name}, got ${error.constructor?.name}`);
    else assert.ok(error instanceof TypeError || error instanceof RangeError, `got ${error.constructor?.name}`);
    assert.ok(error.message.includes(names), `the message names \`${names}\`: ${error.message}`);
  }

  /** Runs `body(open)`; every batcher made by `open` is closed afterwards (bounded wait). */
  const withBatchers = (body) => async () => {
    const made = [];
    const open = (options) => {
      const b = new Batcher(options);
      made.push(b);
      return b;
    };
    try {
      await body(open);
    } finally {
      // bounded, so that a close() that never resolves cannot hang the run after a failure;
      // the guard timer is cleared, so no host (Deno's sanitizers, node:test) sees it leak
      let timer;
      await Promise.race([
        Promise.allSettled(made.map((b) => b.close())),
        new Promise((resolve) => { timer = setTimeout(resolve, 2000); }),
      ]);
      clearTimeout(timer);
    }
  };

  const list = [];
  const check = (name, body) => list.push({ name, fn: withBatchers(body) });

  // ---------------------------------------------------------------------------------- flushes

  check("size: a queue dispatches as soon as it holds maxBatchSize items; results map by position", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxBatchSize: 3, maxWaitMs: LONG });
    const first = ["a", "b", "c"].map((x) => b.add(x));
    assert.equal(calls.length, 0, "the transport is never called from inside add()");
    assert.deepEqual(await Promise.all(first), ["r:a", "r:b", "r:c"]);
    assert.deepEqual(calls.map((c) => c.items), [["a", "b", "c"]]);
    const d = track(b.add("d"));
    await sleep(20);
    assert.equal(calls.length, 1, "one item under the size cap waits (maxWaitMs is long)");
    assert.equal(d.status, "pending");
    await b.flush();
    assert.equal(d.value, "r:d");
  });

  check("interval: a lone item is dispatched maxWaitMs after it arrived (timers work)", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxWaitMs: 30 });
    const t0 = Date.now();
    const p = b.add("x");
    await sleep(5);
    assert.equal(calls.length, 0, "not before maxWaitMs");
    assert.equal(await p, "r:x");
    assert.equal(calls.length, 1);
    const waited = calls[0].at - t0;
    assert.ok(waited >= 20 && waited < 2000, `dispatched after ${waited} ms (maxWaitMs 30)`);
  });

  check("tick: maxWaitMs 0 sends a synchronous loop of adds as one batch at the end of the tick", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxWaitMs: 0 });
    const ps = [];
    for (let i = 0; i < 5; i++) {
      ps.push(b.add(i));
      assert.equal(calls.length, 0, "nothing is sent while the loop runs");
    }
    await sleep(0);
    assert.deepEqual(calls.map((c) => c.items), [[0, 1, 2, 3, 4]]);
    assert.deepEqual(await Promise.all(ps), ["r:0", "r:1", "r:2", "r:3", "r:4"]);
  });

  // aud14: workerd (its MessageChannel delivers before the promise jobs, its nodejs_compat
  // nextTick is a microtask) and browser workers sent one call per promise job here.
  check("tick: maxWaitMs 0 and adaptive, DataLoader-style: adds made in later promise jobs of the same tick join the batch", async (open) => {
    for (const options of [{ maxWaitMs: 0 }, { adaptive: true, maxWaitMs: LONG }]) {
      const { calls, transport } = recorder();
      const b = open({ transport, ...options });
      const ps = [b.add(1)];
      await Promise.resolve();
      ps.push(b.add(2));
      await Promise.resolve().then(() => {}).then(() => {});
      ps.push(b.add(3));
      assert.equal(calls.length, 0, `${JSON.stringify(options)}: nothing is sent while the tick's promise jobs run`);
      assert.deepEqual(await Promise.all(ps), ["r:1", "r:2", "r:3"]);
      assert.deepEqual(calls.map((c) => c.items), [[1, 2, 3]], `${JSON.stringify(options)}: one call at the end of the tick`);
    }
  });

  check("keys: one queue per keyOf key, batch.key names it, AddOptions.key overrides keyOf", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxWaitMs: LONG, keyOf: (x) => x.k });
    const ps = [
      b.add({ id: "a1", k: "A" }),
      b.add({ id: "b1", k: "B" }),
      b.add({ id: "a2", k: "A" }),
      b.add({ id: "c1", k: "A" }, { key: "C" }),
    ];
    await b.flush();
    assert.deepEqual(await Promise.all(ps), ["r:a1", "r:b1", "r:a2", "r:c1"]);
    const byKey = Object.fromEntries(calls.map((c) => [c.key, c.items.map((x) => x.id)]));
    assert.deepEqual(byKey, { A: ["a1", "a2"], B: ["b1"], C: ["c1"] });
    assert.equal(calls.length, 3);
  });

  check("item error: an Error entry fails that item alone, reaching its caller as the same object", async (open) => {
    const bad = new Error("no such user");
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open({ transport, maxWaitMs: 0 });
    const ps = ["a", "bad", "c"].map((x) => track(b.add(x)));
    await b.flush();
    assert.equal(ps[0].value, "r:a");
    assert.equal(ps[1].status, "rejected");
    assert.ok(ps[1].reason === bad, "the transport's own error object");
    assert.equal(ps[2].value, "r:c");
    assert.equal(calls.length, 1, "a plain item error is not retried");
    const s = b.stats();
    assert.deepEqual([s.succeeded, s.failed], [2, 1]);
  });

  check("item retry: a retryable item error re-queues that item alone", async (open) => {
    let failedOnce = false;
    const { calls, transport } = recorder((batch) =>
      batch.items.map((x) => {
        if (x === "x" && !failedOnce) {
          failedOnce = true;
          return Object.assign(new Error("busy"), { retryable: true });
        }
        return echo(x);
      }));
    const b = open({ transport, maxWaitMs: 0, retry: FAST_RETRY });
    const ps = [b.add("w"), b.add("x")];
    assert.deepEqual(await Promise.all(ps), ["r:w", "r:x"]);
    assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["w", "x"], 1], [["x"], 2]]);
    assert.equal(b.stats().retries, 1);
  });

  check("batch retry: a transport that keeps failing → E_TRANSPORT with cause and attempts", async (open) => {
    const down = new TypeError("network down");
    const { calls, transport } = recorder(() => {
      throw down;
    });
    const b = open({ transport, maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 3 } });
    const err = await rejectsWith(b.add("a"), "E_TRANSPORT");
    assert.ok(err.cause === down, "cause = the transport's error");
    assert.equal(err.attempts, 3);
    assert.deepEqual(calls.map((c) => c.attempt), [1, 2, 3]);
    const s = b.stats();
    assert.deepEqual([s.batches, s.retries, s.failed], [3, 2, 1]);
  });

  check("circuitBreaker: failures open the key's circuit (E_CIRCUIT_OPEN, no call); after resetMs a probe closes it", async (open) => {
    let up = false;
    const down = new TypeError("instance down");
    const changes = [];
    const { calls, transport } = recorder((batch) => {
      if (!up) throw down;
      return batch.items.map(echo);
    });
    const b = open({
      transport, maxWaitMs: 0, keyOf: (x) => x.k, retry: { maxAttempts: 1 },
      circuitBreaker: { failureThreshold: 2, resetMs: 30 }, onCircuitChange: (info) => changes.push([info.key, info.state]),
    });
    await rejectsWith(b.add({ k: "s1", id: 1 }), "E_TRANSPORT");
    await rejectsWith(b.add({ k: "s1", id: 2 }), "E_TRANSPORT");
    const refused = await rejectsWith(b.add({ k: "s1", id: 3 }), "E_CIRCUIT_OPEN");
    assert.ok(refused.cause === down, "cause = the last batch-level error");
    assert.equal(calls.length, 2, "no call for the refused add");
    assert.equal(b.stats().circuitsOpen, 1);
    up = true;
    assert.equal(await b.add({ k: "s2", id: 4 }), "r:4", "other keys are unaffected");
    await sleep(40);
    assert.equal(await b.add({ k: "s1", id: 5 }), "r:5", "the probe");
    assert.deepEqual(changes, [["s1", "open"], ["s1", "half_open"], ["s1", "closed"]]);
    assert.equal(b.stats().circuitsOpen, 0);
  });

  check("bisect: a 400 splits the batch until the poison item fails alone", async (open) => {
    const thrown = [];
    const { calls, transport } = recorder((batch) => {
      if (batch.items.includes("p5")) {
        const e = httpError(400);
        thrown.push({ items: [...batch.items], e });
        throw e;
      }
      return batch.items.map(echo);
    });
    const b = open({ transport, maxWaitMs: LONG, maxBatchSize: 8, retry: FAST_RETRY });
    const items = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    const ps = items.map((x) => track(b.add(x)));
    await waitFor(() => ps.every(settled), "every item");
    for (const [i, p] of ps.entries()) {
      if (items[i] === "p5") continue;
      assert.equal(p.value, `r:${items[i]}`, `${items[i]} succeeds`);
    }
    const poison = ps[5].reason;
    assertCode(poison, "E_TRANSPORT", "the poison item");
    const single = thrown.find((t) => t.items.length === 1);
    assert.ok(single && poison.cause === single.e, "cause = the error of its single-item call");
    assert.equal(b.stats().bisects, 3, "8 → 4 → 2 → 1");
    assert.ok(calls.length >= 7);
  });

  check("E_RESULT_SHAPE: a non-array or wrong-length result fails the batch, without retry", async (open) => {
    for (const answer of ["not an array", ["one entry"]]) {
      const { calls, transport } = recorder(() => answer);
      const b = open({ transport, maxWaitMs: 0, retry: FAST_RETRY });
      const ps = [b.add("a"), b.add("b")];
      for (const p of ps) await rejectsWith(p, "E_RESULT_SHAPE", JSON.stringify(answer));
      assert.equal(calls.length, 1, "E_RESULT_SHAPE is classified \"fail\"");
    }
  });

  check("E_TIMEOUT: a call past timeoutMs aborts batch.signal and fails with E_TIMEOUT", async (open) => {
    const { calls, transport } = recorder((batch) => new Promise((_, reject) => {
      batch.signal.addEventListener("abort", () => reject(batch.signal.reason));
    }));
    const b = open({ transport, maxWaitMs: 0, timeoutMs: 30, retry: { ...FAST_RETRY, maxAttempts: 1 } });
    const ps = [b.add("a"), b.add("b")];
    for (const p of ps) await rejectsWith(p, "E_TIMEOUT");
    assert.equal(calls.length, 1);
    assert.equal(calls[0].signal.aborted, true, "batch.signal is aborted");
  });

  check("abort: a signal rejects its item with E_ABORTED (AbortError, cause = reason) and unqueues it", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxWaitMs: LONG });
    const ac = new AbortController();
    const p = b.add("gone", { signal: ac.signal });
    const kept = b.add("kept");
    const reason = new Error("user navigated away");
    ac.abort(reason);
    const err = await rejectsWith(p, "E_ABORTED");
    assert.equal(err.name, "AbortError");
    assert.ok(err.cause === reason, "cause = signal.reason");
    await rejectsWith(b.add("late", { signal: AbortSignal.abort() }), "E_ABORTED", "an already aborted signal");
    await b.flush();
    assert.equal(await kept, "r:kept");
    assert.deepEqual(calls.map((c) => c.items), [["kept"]], "the aborted items are never sent");
  });

  check("deadline: E_DEADLINE when passed (at add, and in flight); batch.deadline is set", async (open) => {
    const { calls, transport } = recorder(async (batch) => {
      await sleep(300);
      return batch.items.map(echo);
    });
    const b = open({ transport, maxWaitMs: 0 });
    await rejectsWith(b.add("past", { deadline: Date.now() - 1 }), "E_DEADLINE", "a past deadline");
    const deadline = Date.now() + 40;
    const d = track(b.add("d", { deadline }));
    const o = track(b.add("o"));
    await waitFor(() => settled(d), "the in-flight deadline", 3000);
    assertCode(d.reason, "E_DEADLINE");
    assert.equal(o.status, "pending", "its batchmate is unaffected");
    await b.flush();
    assert.equal(o.value, "r:o");
    assert.deepEqual(calls.map((c) => c.items), [["d", "o"]], "the past-deadline item is never sent");
    assert.equal(calls[0].deadline, deadline, "batch.deadline = the earliest item deadline");
    assert.equal(d.count, 1);
  });

  check("E_FULL: maxQueued rejects the add over the limit", async (open) => {
    const { transport } = recorder();
    const b = open({ transport, maxWaitMs: LONG, maxQueued: 2 });
    const ps = [b.add("a"), b.add("b")];
    const over = b.add("c");
    // Checked in the same tick: a full queue is also a flush trigger (backpressure flush).
    assert.equal(b.stats().queued, 2);
    await rejectsWith(over, "E_FULL");
    await b.flush();
    assert.deepEqual(await Promise.all(ps), ["r:a", "r:b"]);
  });

  check("E_CONFIG: bad options throw synchronously, naming the option (nested too)", async () => {
    const transport = async (batch) => batch.items;
    throwsConfig({}, "transport", TypeError);
    throwsConfig({ transport, maxBatchSise: 10 }, "maxBatchSise");
    throwsConfig({ transport, maxBatchSize: 0 }, "maxBatchSize", RangeError);
    throwsConfig({ transport, maxWaitMs: -1 }, "maxWaitMs", RangeError);
    throwsConfig({ transport, errorMode: "yolo" }, "errorMode");
    throwsConfig({ transport, retry: { maxAtempts: 3 } }, "maxAtempts");
    throwsConfig({ transport, retry: { maxAttempts: 0 } }, "maxAttempts", RangeError);
    throwsConfig({ transport, keyOf: "id" }, "keyOf", TypeError);
  });

  // ------------------------------------------------------------------------------ error modes

  check("fail_fast: the failing item gets its error, its batchmates E_FAIL_FAST with that cause", async (open) => {
    const bad = new Error("row 2 invalid");
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open({ transport, maxWaitMs: 0, errorMode: "fail_fast" });
    const ps = ["a", "bad", "c"].map((x) => track(b.add(x)));
    await b.flush();
    await waitFor(() => ps.every(settled), "every item");
    assert.ok(ps[1].reason === bad);
    for (const p of [ps[0], ps[2]]) {
      assertCode(p.reason, "E_FAIL_FAST");
      assert.ok(p.reason.cause === bad, "cause = the first failing entry");
    }
    assert.equal(calls.length, 1);
  });

  check("atomic: any item error rejects the whole batch with E_ATOMIC", async (open) => {
    const bad = new Error("constraint violated");
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open({ transport, maxWaitMs: 0, errorMode: "atomic" });
    const ps = ["a", "bad", "c"].map((x) => track(b.add(x)));
    await b.flush();
    await waitFor(() => ps.every(settled), "every item");
    for (const p of ps) {
      assertCode(p.reason, "E_ATOMIC");
      assert.ok(p.reason.cause === bad, "cause = the first failing entry");
    }
    assert.equal(calls.length, 1);
  });

  // ------------------------------------------------------------------------------ the methods

  check("flush(), close() and stats(): flush settles what is queued; close drops nothing, then E_CLOSED", async (open) => {
    const { calls, transport } = recorder();
    const b = open({ transport, maxWaitMs: LONG });
    const ps = ["a", "b"].map((x) => track(b.add(x)));
    let s = b.stats();
    assert.deepEqual([s.queued, s.items, s.batches], [2, 2, 0]);
    await b.flush();
    assert.ok(ps.every(settled), "flush() resolves once its items settled");
    assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b"]);
    const c = track(b.add("c"));
    await b.close();
    assert.equal(c.value, "r:c", "close() sends what is queued and waits for it");
    await rejectsWith(b.add("d"), "E_CLOSED");
    await b.close(); // idempotent
    s = b.stats();
    for (const k of ["queued", "inFlightBatches", "inFlightItems", "batches", "items", "succeeded",
      "failed", "retries", "bisects", "throttled"]) {
      assert.equal(typeof s[k], "number", `stats().${k}`);
    }
    assert.deepEqual(
      [s.queued, s.inFlightBatches, s.inFlightItems, s.batches, s.items, s.succeeded, s.failed],
      [0, 0, 0, 2, 3, 3, 0],
    );
    assert.equal(calls.length, 2);
    // `await using`: the host's Symbol.asyncDispose, or where there is none the key esbuild
    // (Vite, wrangler) and Babel look up when they transpile it (audit11).
    const b2 = open({ transport, maxWaitMs: LONG });
    const e = track(b2.add("e"));
    const dispose = b2[Symbol.asyncDispose ?? Symbol.for("Symbol.asyncDispose")];
    assert.equal(typeof dispose, "function", "a Batcher has an asyncDispose method");
    await dispose.call(b2);
    assert.equal(e.value, "r:e", "Symbol.asyncDispose closes");
  });

  check("addMany: Promise.allSettled shape, in input order", async (open) => {
    const bad = new Error("bad");
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open({ transport, maxWaitMs: 0 });
    const res = await b.addMany(["a", "bad", "c"]);
    assert.deepEqual(res.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
    assert.equal(res[0].value, "r:a");
    assert.ok(res[1].reason === bad);
    assert.equal(res[2].value, "r:c");
    assert.equal(calls.length, 1);
  });

  check("hooks: onBatchStart/onBatchEnd once per call with info; throwing hooks change nothing", async (open) => {
    const starts = [];
    const ends = [];
    const bad = new Error("bad");
    const { calls, transport } = recorder((batch) => batch.items.map((x) => (x === "bad" ? bad : echo(x))));
    const b = open({
      transport, maxWaitMs: LONG, keyOf: () => "k",
      onBatchStart: (i) => starts.push({ ...i }),
      onBatchEnd: (i) => ends.push({ ...i }),
    });
    const ps = ["a", "bad", "c"].map((x) => track(b.add(x)));
    await b.flush();
    await waitFor(() => ps.every(settled) && ends.length === 1, "the end hook");
    assert.equal(starts.length, 1);
    const st = starts[0];
    assert.deepEqual([st.id, st.key, st.size, st.weight, st.attempt], [calls[0].id, "k", 3, 3, 1]);
    const en = ends[0];
    assert.deepEqual([en.id, en.key, en.size, en.succeeded, en.failed], [calls[0].id, "k", 3, 2, 1]);
    assert.ok(typeof en.durationMs === "number" && en.durationMs >= 0, `durationMs ${en.durationMs}`);

    const b2 = open({
      transport, maxWaitMs: 0,
      onBatchStart: () => { throw new Error("hook bug"); },
      onBatchEnd: () => Promise.reject(new Error("async hook bug")),
    });
    assert.deepEqual(await Promise.all([b2.add("x"), b2.add("y")]), ["r:x", "r:y"]);
  });

  check("hooks carry the batch: info.items and info.results are the transport's own arrays, once per call (retry, bisect too)", async (open) => {
    const seen = []; // per call: the items array the transport got and the array it returned
    const starts = [];
    const ends = [];
    let n = 0;
    const b = open({
      maxWaitMs: LONG,
      retry: { ...FAST_RETRY, maxAttempts: 2 },
      transport: async (batch) => {
        const call = { id: batch.id, items: batch.items };
        seen.push(call);
        n++;
        if (n === 1) throw httpError(503); // retried as a whole
        if (batch.items.includes("poison")) throw httpError(400); // bisected
        call.results = batch.items.map((x) => (x === "bad" ? new Error("bad") : echo(x)));
        return call.results;
      },
      onBatchStart: (info) => starts.push(info),
      onBatchEnd: (info) => ends.push(info),
    });
    const ps = ["a", "bad", "poison", "d"].map((x) => track(b.add(x)));
    await b.flush();
    await waitFor(() => ps.every(settled) && ends.length === seen.length, "every end hook");
    assert.equal(starts.length, seen.length, "onBatchStart once per call");
    for (const call of seen) {
      const st = starts.find((i) => i.id === call.id);
      const en = ends.find((i) => i.id === call.id);
      assert.ok(st && en, `hooks for call ${call.id}`);
      assert.ok(st.items === call.items && en.items === call.items, "info.items is the array the transport got");
      if (call.results === undefined) assert.equal(en.results, undefined, "no results after a batch-level failure");
      else assert.ok(en.results === call.results, "info.results is the array the transport returned");
    }
    assert.equal(ends[0].error !== undefined && ends[0].results, undefined, "the 503 call: an error, no results");
    assert.ok(ends.some((e) => e.items.length === 1 && e.items[0] === "poison"), "the poison item's own call");
    const partial = ends.find((e) => e.results !== undefined && e.items.includes("bad"));
    assert.ok(partial && partial.results[partial.items.indexOf("bad")] instanceof Error, "a hook sees which item failed");
  });

  check("exactly once: a faulty transport (throws, item errors, retryable errors); every item settles once", async (open) => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const itemErrors = new Map();
    const { transport } = recorder((batch) => {
      const r = rand();
      if (r < 0.2) throw httpError(503);
      return batch.items.map((x) => {
        const q = rand();
        if (q < 0.1) {
          const e = new Error(`item ${x}`);
          itemErrors.set(x, e);
          return e;
        }
        if (q < 0.2) return Object.assign(new Error(`retry ${x}`), { retryable: true });
        return echo(x);
      });
    });
    const b = open({ transport, maxWaitMs: 1, maxBatchSize: 7, retry: { ...FAST_RETRY, budget: false } });
    const ps = [];
    for (let i = 0; i < 120; i++) {
      ps.push(track(b.add(i)));
      if (i % 10 === 9) await sleep(1);
    }
    await b.close();
    await sleep(20);
    for (const [i, p] of ps.entries()) {
      assert.equal(p.count, 1, `item ${i} settled once`);
      if (p.status === "fulfilled") assert.equal(p.value, `r:${i}`);
      else if (itemErrors.get(i) !== p.reason) {
        assert.ok(p.reason instanceof Error, `item ${i}: ${p.reason}`);
        assert.ok(p.reason.code === "E_TRANSPORT" || p.reason.message.startsWith("retry ") ||
          p.reason.message.startsWith("item "), `item ${i}: ${p.reason.message}`);
      }
    }
    const s = b.stats();
    assert.equal(s.succeeded + s.failed, 120);
    assert.equal(s.items, 120);
    assert.equal(s.queued + s.inFlightItems, 0);
  });

  // ------------------------------------------------------------------------ hostile callers
  // What a user can do to the public API that the checks above never do: values that are not
  // Errors, foreign thenables, re-entrant calls, aborts at every stage. Every runtime must answer
  // them as Node does (the contract, or where it is silent, what `await`, DataLoader and
  // AbortSignal users expect).

  /** Values a transport may throw or reject with that are not Errors (each read defensively). */
  const strangeValues = () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const getters = {};
    for (const name of ["message", "retryable", "status", "response", "retryAfterMs", "name", "stack", "code"]) {
      Object.defineProperty(getters, name, { get() { throw new Error(`getter ${name}`); }, enumerable: true });
    }
    return [
      ["null", null], ["undefined", undefined], ["a Symbol", Symbol("boom")], ["a number", 42], ["a string", "down"],
      ["an object whose getters throw", getters],
      ["an object whose toString throws", { toString() { throw new Error("toString"); }, [Symbol.toPrimitive]() { throw new Error("prim"); } }],
      ["a null-prototype object", Object.create(null)],
      ["a revoked Proxy", revoked.proxy],
    ];
  };

  /** After close(): every tracked promise settled exactly once, and the stats add up. */
  async function allSettledOnce(b, tracked, where = "") {
    await b.close();
    await sleep(5); // a second settle would show up here
    for (const [i, s] of tracked.entries()) assert.equal(s.count, 1, `${where} item ${i} settled ${s.count} times`);
    const st = b.stats();
    assert.deepEqual([st.queued, st.inFlightBatches, st.inFlightItems], [0, 0, 0], `${where} nothing left after close()`);
    assert.equal(st.succeeded + st.failed, st.items, `${where} succeeded + failed = items`);
  }

  check("hostile: a transport throwing or rejecting non-Errors (null, undefined, a Symbol, getters that throw, a revoked Proxy) → E_TRANSPORT with an own cause", async (open) => {
    for (const how of ["throws", "rejects"]) {
      const values = strangeValues();
      const b = open({
        maxWaitMs: 0, maxBatchSize: 1, maxInFlight: 16, retry: { ...FAST_RETRY, maxAttempts: 2 },
        transport: (batch) => {
          const v = values[batch.items[0]][1];
          if (how === "throws") throw v;
          return Promise.reject(v);
        },
      });
      const ps = values.map((_, i) => track(b.add(i)));
      await allSettledOnce(b, ps, how);
      for (const [i, [what, v]] of values.entries()) {
        const err = ps[i].reason;
        assertCode(err, "E_TRANSPORT", `${how} ${what}:`);
        assert.ok(Object.prototype.hasOwnProperty.call(err, "cause"), `${how} ${what}: an own cause`);
        assert.ok(err.cause === v, `${how} ${what}: cause is the very value`);
        assert.equal(err.attempts, 2, `${how} ${what}: attempts (retried by the default classify)`);
        assert.equal(typeof err.message, "string");
      }
    }
  });

  check("hostile: a transport's foreign thenable is adopted as await would (nested thenables, a callable thenable, a then getter that throws)", async (open) => {
    const boom = new Error("then getter");
    const answers = [
      ["a thenable", (items) => ({ then: (ok) => ok(items.map(echo)) }), "ok"],
      ["a thenable resolving with a thenable", (items) => ({ then: (ok) => ok({ then: (ok2) => ok2(items.map(echo)) }) }), "ok"],
      ["a thenable resolving with a promise", (items) => ({ then: (ok) => ok(Promise.resolve(items.map(echo))) }), "ok"],
      ["a thenable answering twice", (items) => ({ then: (ok, bad) => { ok(items.map(echo)); bad(new Error("late")); ok(["x"]); } }), "ok"],
      ["a thenable throwing after it answered", (items) => ({ then: (ok) => { ok(items.map(echo)); throw new Error("after"); } }), "ok"],
      ["a callable thenable", (items) => Object.assign(() => {}, { then: (ok) => ok(items.map(echo)) }), "ok"],
      ["a thenable whose then throws", () => ({ then() { throw boom; } }), "E_TRANSPORT"],
      ["an object whose then getter throws", () => ({ get then() { throw boom; } }), "E_TRANSPORT"],
      ["a thenable rejecting with undefined", () => ({ then: (_, bad) => bad(undefined) }), "E_TRANSPORT"],
      ["a thenable resolving with a thenable that rejects", () => ({ then: (ok) => ok({ then: (_, bad) => bad(boom) }) }), "E_TRANSPORT"],
      ["a thenable resolving with a non-array", () => ({ then: (ok) => ok({ then: (ok2) => ok2("nope") }) }), "E_RESULT_SHAPE"],
    ];
    for (const [what, answer, want] of answers) {
      const b = open({ maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: (batch) => answer(batch.items) });
      const ps = [0, 1].map((i) => track(b.add(i)));
      await allSettledOnce(b, ps, what);
      if (want === "ok") {
        assert.deepEqual(ps.map((s) => s.value), [echo(0), echo(1)], what);
      } else {
        for (const s of ps) assertCode(s.reason, want, `${what}:`);
        if (what.includes("throws") || what.includes("that rejects")) assert.ok(ps[0].reason.cause === boom, `${what}: cause`);
      }
    }
  });

  check("hostile: results that are not one entry per item → E_RESULT_SHAPE for the whole batch, never retried", async (open) => {
    const lengthThrows = new Proxy([1, 2], { get(t, k) { if (k === "length") throw new Error("length"); return t[k]; } });
    const indexThrows = ["ok", "ok"];
    Object.defineProperty(indexThrows, 1, { get() { throw new Error("index getter"); } });
    const answers = [
      ["null", () => null], ["undefined", () => undefined], ["a string", () => "ab"], ["a number", () => 2],
      ["an array-like object", () => ({ length: 2, 0: "a", 1: "b" })], ["a Set", (n) => new Set(Array.from({ length: n }, (_, i) => i))],
      ["too short", (n) => new Array(n - 1).fill("x")], ["too long", (n) => new Array(n + 1).fill("x")],
      ["a sparse array of the wrong length", (n) => { const a = []; a[n] = "x"; return a; }],
      ["an array whose length throws", () => lengthThrows], ["an array whose index getter throws", () => indexThrows],
    ];
    for (const [what, answer] of answers) {
      const { calls, transport } = recorder((batch) => answer(batch.items.length));
      const b = open({ transport, maxWaitMs: 0, retry: FAST_RETRY });
      const ps = [0, 1].map((i) => track(b.add(i)));
      await allSettledOnce(b, ps, what);
      for (const s of ps) assertCode(s.reason, "E_RESULT_SHAPE", `${what}:`);
      assert.equal(calls.length, 1, `${what}: not retried`);
    }
  });

  check("hostile: item entries: any Error (subclass, DOMException, odd getters) fails its item as the same object; other values, thenables included, are values", async (open) => {
    const typeErr = new TypeError("bad type");
    const domErr = AbortSignal.abort().reason; // a DOMException where the host has one
    const oddErr = new Error("odd");
    Object.defineProperty(oddErr, "retryable", { get() { throw new Error("retryable getter"); } });
    Object.defineProperty(oddErr, "retryAfterMs", { get() { throw new Error("retryAfterMs getter"); } });
    const rejecting = new Error("from a thenable entry");
    const errorLike = { message: "not an Error", code: "E_NOPE" };
    const entries = [
      typeErr, domErr, oddErr, errorLike, null, undefined, 0, "",
      { then: (ok) => ok("adopted") }, { then: (_, bad) => bad(rejecting) },
      { get then() { throw new Error("then getter"); } },
    ];
    const { calls, transport } = recorder((batch) => batch.items.map((i) => entries[i]));
    const b = open({ transport, maxWaitMs: 0, retry: FAST_RETRY });
    const ps = entries.map((_, i) => track(b.add(i)));
    await allSettledOnce(b, ps);
    assert.ok(ps[0].reason === typeErr, "a TypeError entry");
    // workerd's own errors carry `retryable: true`: such an entry is retried, then reaches its caller as itself.
    if (domErr instanceof Error) assert.ok(ps[1].reason === domErr, `a DOMException entry (an Error here): ${ps[1].status}`);
    assert.ok(ps[2].reason === oddErr, "an Error whose getters throw");
    assert.ok(ps[3].value === errorLike, "an object that is not an Error is a value");
    assert.deepEqual(ps.slice(4, 8).map((s) => s.value), [null, undefined, 0, ""]);
    assert.equal(ps[8].value, "adopted", "a thenable entry is adopted by its caller");
    assert.ok(ps[9].reason === rejecting, "a rejecting thenable entry rejects its caller with its reason");
    assertCode(ps[10].reason, "E_RESULT_SHAPE", "an entry whose then getter throws:");
    assert.equal(calls.length, domErr.retryable === true ? 3 : 1, "only a retryable entry is sent again (maxAttempts 3)");
  });

  check("hostile: every user callback (transport, keyOf, weigh, dedupeBy, resolveKeys, classify, hooks) is called with this undefined", async (open) => {
    const seen = {};
    const b = open({
      maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1, classify() { seen.classify = this; return "fail"; } },
      circuitBreaker: { failureThreshold: 1, resetMs: LONG },
      keyOf() { seen.keyOf = this; return undefined; },
      resolveKeys(items) { seen.resolveKeys = this; return items.map(() => "k"); },
      weigh() { seen.weigh = this; return 1; },
      dedupeBy(x) { seen.dedupeBy = this; return x; },
      transport() { seen.transport = this; throw new Error("down"); },
      onBatchStart() { seen.onBatchStart = this; },
      onBatchEnd() { seen.onBatchEnd = this; },
      onCircuitChange() { seen.onCircuitChange = this; },
    });
    const s = track(b.add(1));
    await allSettledOnce(b, [s]);
    assertCode(s.reason, "E_TRANSPORT");
    const names = ["classify", "keyOf", "resolveKeys", "weigh", "dedupeBy", "transport", "onBatchStart", "onBatchEnd", "onCircuitChange"];
    assert.deepEqual(Object.keys(seen).sort(), [...names].sort(), "every callback ran");
    for (const name of names) assert.equal(seen[name], undefined, `${name}'s this`);
  });

  check("hostile: add, flush and close called from inside the transport, the hooks, keyOf and a result getter: every item settles once", async (open) => {
    let b;
    const extra = [];
    let nested = false;
    b = open({
      maxWaitMs: 0, keyOf: (x) => {
        if (x === "k" && !nested) {
          nested = true;
          extra.push(track(b.add("from-keyOf")));
        }
        return undefined;
      },
      onBatchStart: (info) => {
        if (info.items.includes("a")) {
          extra.push(track(b.add("from-start")));
          b.flush();
        }
      },
      onBatchEnd: (info) => {
        if (info.items.includes("from-start")) extra.push(track(b.add("from-end")));
      },
      transport: (batch) => {
        const r = batch.items.map(echo);
        if (batch.items.includes("a")) {
          extra.push(track(b.add("from-transport")));
          b.flush();
          let once = false; // the library may read an entry more than once
          Object.defineProperty(r, 0, {
            get() {
              if (!once) extra.push(track(b.add("from-getter")));
              once = true;
              return "got";
            },
            enumerable: true,
          });
        }
        if (batch.items.includes("from-end")) b.close(); // closes with its own call in flight
        return r;
      },
    });
    const first = ["a", "k", "b"].map((x) => track(b.add(x)));
    await waitFor(() => first.every(settled) && extra.length === 5 && extra.every(settled), "every item, nested ones too");
    await allSettledOnce(b, [...first, ...extra]);
    assert.deepEqual(first.map((s) => s.value), ["got", echo("k"), echo("b")]);
    for (const s of extra) assert.equal(s.status, "fulfilled", `a nested add: ${s.reason}`);
    assert.deepEqual(extra.map((s) => s.value).sort(),
      ["from-end", "from-getter", "from-keyOf", "from-start", "from-transport"].map(echo).sort());
    await rejectsWith(b.add("late"), "E_CLOSED");
  });

  check("hostile: abort at every stage: queued, in flight (at once, result ignored), from inside the transport, after settling; any reason is the cause", async (open) => {
    const gate = deferred();
    const signals = [];
    const acs = { queued: new AbortController(), flight: new AbortController(), inside: new AbortController(), after: new AbortController() };
    const { calls, transport } = recorder(async (batch) => {
      signals.push(batch.signal);
      if (batch.items.includes("inside")) acs.inside.abort("string reason");
      await gate.promise;
      return batch.items.map(echo);
    });
    const b = open({ transport, maxWaitMs: LONG });
    const sym = Symbol("why");
    const q = track(b.add("queued", { signal: acs.queued.signal }));
    acs.queued.abort(sym); // before it is sent
    const f = track(b.add("flight", { signal: acs.flight.signal }));
    const i = track(b.add("inside", { signal: acs.inside.signal }));
    const mate = track(b.add("mate"));
    const flushed = b.flush();
    await waitFor(() => calls.length === 1, "the call");
    acs.flight.abort(); // the default reason, a DOMException where the host has it
    acs.flight.abort(new Error("again")); // a second abort changes nothing
    await waitFor(() => settled(f) && settled(i), "the aborted items, while the call is still out");
    assert.equal(mate.status, "pending", "the batchmate waits for the call");
    assert.equal(signals[0].aborted, false, "batch.signal stays live while an item still waits");
    gate.resolve();
    await flushed;
    const a = track(b.add("after", { signal: acs.after.signal }));
    await b.flush();
    acs.after.abort(new Error("too late"));
    await allSettledOnce(b, [q, f, i, mate, a]);
    for (const [s, cause, what] of [[q, sym, "queued"], [f, acs.flight.signal.reason, "in flight"], [i, "string reason", "inside"]]) {
      const err = s.reason;
      assertCode(err, "E_ABORTED", `${what}:`);
      assert.equal(err.name, "AbortError", what);
      assert.ok(err.cause === cause, `${what}: cause = signal.reason`);
    }
    assert.deepEqual(calls.map((c) => c.items), [["flight", "inside", "mate"], ["after"]], "the queued abort is never sent");
    assert.equal(mate.value, echo("mate"));
    assert.equal(a.value, echo("after"), "an abort after settling changes nothing");
  });

  check("hostile: when every item of a call in flight is aborted, batch.signal aborts with an E_ABORTED reason", async (open) => {
    const ac = new AbortController();
    const { calls, transport } = recorder((batch) => new Promise((resolve) => {
      batch.signal.addEventListener("abort", () => resolve(batch.items.map(echo)));
    }));
    const b = open({ transport, maxWaitMs: 0 });
    const ps = ["x", "y"].map((x) => track(b.add(x, { signal: ac.signal })));
    await waitFor(() => calls.length === 1, "the call");
    ac.abort(new Error("leaving"));
    await waitFor(() => calls[0].signal.aborted, "batch.signal");
    const reason = calls[0].signal.reason;
    assertCode(reason, "E_ABORTED", "batch.signal.reason:");
    await allSettledOnce(b, ps);
    for (const s of ps) assertCode(s.reason, "E_ABORTED");
  });

  check("hostile: deadlines: past, -Infinity or 0 → E_DEADLINE never sent; Infinity is none; passing while queued behind maxInFlight; due soon under a long window → sent", async (open) => {
    const gate = deferred();
    const { calls, transport } = recorder(async (batch) => {
      if (batch.items.includes("blocker")) await gate.promise;
      return batch.items.map(echo);
    });
    const b = open({ transport, maxWaitMs: 10_000, maxInFlight: 1 });
    const past = [Date.now() - 1, -Infinity, 0].map((deadline) => track(b.add("past", { deadline })));
    const bad = track(b.add("bad", { deadline: "soon" }));
    const blocker = track(b.add("blocker"));
    const flushed = b.flush();
    await waitFor(() => calls.length === 1, "the blocking call");
    const stuck = track(b.add("stuck", { deadline: Date.now() + 30 }));
    await waitFor(() => settled(stuck), "the deadline while queued", 3000);
    assertCode(stuck.reason, "E_DEADLINE", "queued behind maxInFlight:");
    gate.resolve();
    await flushed;
    const inf = track(b.add("inf", { deadline: Infinity }));
    const soon = track(b.add("soon", { deadline: Date.now() + 150 }));
    await waitFor(() => settled(soon), "the item due soon", 3000);
    assert.equal(soon.value, echo("soon"), "deadline-aware dispatch: sent before its deadline under a 10 s window");
    await b.flush();
    await allSettledOnce(b, [...past, bad, blocker, stuck, inf, soon]);
    for (const s of past) assertCode(s.reason, "E_DEADLINE");
    assertCode(bad.reason, "E_CONFIG", "a deadline that is not a number:");
    assert.equal(inf.value, echo("inf"));
    assert.ok(calls.every((c) => !c.items.includes("past") && !c.items.includes("stuck")), "expired items are never sent");
  });

  check("hostile: close() twice (and more) while a call is in flight: every close waits for it; flush and stats after close work", async (open) => {
    const gate = deferred();
    const { transport } = recorder(async (batch) => {
      await gate.promise;
      return batch.items.map(echo);
    });
    const b = open({ transport, maxWaitMs: LONG });
    const ps = ["a", "b"].map((x) => track(b.add(x)));
    const c1 = track(b.close());
    const c2 = track(b.close());
    const refused = track(b.add("c"));
    await sleep(10);
    assert.equal(c1.status, "pending", "close() waits for the call in flight");
    assert.equal(c2.status, "pending", "so does the second close()");
    gate.resolve();
    await waitFor(() => settled(c1) && settled(c2), "both closes");
    assert.deepEqual(ps.map((s) => s.value), ["r:a", "r:b"], "close() dropped nothing");
    assert.equal(c1.status, "fulfilled");
    assert.equal(c2.status, "fulfilled");
    assertCode(refused.reason, "E_CLOSED");
    await b.close();
    await b.flush();
    const st = b.stats();
    assert.deepEqual([st.items, st.succeeded, st.queued, st.inFlightBatches], [2, 2, 0, 0]);
    const idle = open({ transport, maxWaitMs: LONG });
    await Promise.all([idle.close(), idle.close()]); // never used
  });

  check("hostile: adds waiting for room (whenFull \"wait\") aborted, expiring, or still waiting when close() comes: each settles once", async (open) => {
    const { calls, transport } = recorder(async (batch) => {
      await sleep(10);
      return batch.items.map(echo);
    });
    const b = open({ transport, maxQueued: 1, whenFull: "wait", maxInFlight: 1, maxWaitMs: LONG });
    const ac = new AbortController();
    const ps = [
      track(b.add(1)), track(b.add(2)), track(b.add(3, { signal: ac.signal })),
      track(b.add(4, { deadline: Date.now() + 5 })), track(b.add(5)),
    ];
    ac.abort("gone");
    const closed = track(b.close());
    await allSettledOnce(b, ps);
    assert.equal(closed.status, "fulfilled");
    assert.equal(ps[0].value, echo(1), "close() sends what is queued");
    // Adds still waiting for room when close() begins may be sent or rejected with E_CLOSED.
    for (const i of [1, 4]) {
      if (ps[i].status === "fulfilled") assert.equal(ps[i].value, echo(i + 1));
      else assertCode(ps[i].reason, "E_CLOSED", `add ${i + 1}, waiting when close() began:`);
    }
    assertCode(ps[2].reason, "E_ABORTED", "aborted while waiting:");
    assert.ok(ps[2].reason.cause === "gone");
    assertCode(ps[3].reason, "E_DEADLINE", "expired while waiting:");
    assert.ok(calls.every((c) => !c.items.includes(3) && !c.items.includes(4)), "neither was sent");
  });

  check("hostile: resolveKeys throwing non-Errors or answering badly → E_ROUTE (cause kept), a thenable answer adopted; classify answering garbage or throwing → the default rule", async (open) => {
    const answers = [
      ["throws null", () => { throw null; }, "cause", null],
      ["rejects with undefined", () => Promise.reject(undefined), "cause", undefined],
      ["returns a string", () => "k", "E_ROUTE"], ["returns too few keys", (items) => items.slice(1).map(() => "k"), "E_ROUTE"],
      ["returns object keys", (items) => items.map(() => ({})), "E_ROUTE"], ["returns NaN keys", (items) => items.map(() => NaN), "E_ROUTE"],
      ["returns a callable thenable", (items) => Object.assign(() => {}, { then: (ok) => ok(items.map(() => "k")) }), "ok"],
    ];
    for (const [what, resolveKeys, want, cause] of answers) {
      const { calls, transport } = recorder((batch) => batch.items.map((x) => `${batch.key}:${x}`));
      const b = open({ transport, maxWaitMs: 0, keyOf: () => undefined, resolveKeys });
      const ps = [1, 2].map((x) => track(b.add(x)));
      await allSettledOnce(b, ps, what);
      if (want === "ok") {
        assert.deepEqual(ps.map((s) => s.value), ["k:1", "k:2"], what);
        continue;
      }
      for (const s of ps) {
        assertCode(s.reason, "E_ROUTE", `resolveKeys ${what}:`);
        if (want === "cause") {
          assert.ok(Object.prototype.hasOwnProperty.call(s.reason, "cause") && s.reason.cause === cause, `${what}: cause`);
        }
      }
      assert.equal(calls.length, 0, `${what}: unrouted items are never sent`);
    }
    for (const [what, classify] of [["returns 5", () => 5], ["throws null", () => { throw null; }],
      ["returns a promise", () => Promise.resolve("fail")], ["returns an object", () => ({ toString: () => "fail" })]]) {
      const { calls, transport } = recorder(() => { throw new Error("down"); });
      const b = open({ transport, maxWaitMs: 0, retry: { ...FAST_RETRY, classify } });
      const s = track(b.add(1));
      await allSettledOnce(b, [s], what);
      assertCode(s.reason, "E_TRANSPORT", `classify ${what}:`);
      assert.equal(calls.length, 3, `classify ${what}: the default rule retries a plain error (maxAttempts 3)`);
    }
  });

  check("hostile: add() never throws: odd options, keys, weights, a keyOf that throws; addMany with a non-array; a constructor given a throwing Proxy", async (open) => {
    const thrown = new Error("keyOf failed");
    const b = open({ transport: (batch) => batch.items.map(echo), maxWaitMs: 0, keyOf: (x) => { if (x === "kt") throw thrown; return undefined; } });
    const tries = [
      ["options 5", () => b.add(1, 5), "E_CONFIG"], ["options a string", () => b.add(1, "x"), "E_CONFIG"],
      ["a signal that is not one", () => b.add(1, { signal: {} }), "E_CONFIG"],
      ["a key object", () => b.add(1, { key: {} }), "E_CONFIG"], ["a key Symbol", () => b.add(1, { key: Symbol("k") }), "E_CONFIG"],
      ["weight -1", () => b.add(1, { weight: -1 }), "E_CONFIG"], ["weight NaN", () => b.add(1, { weight: NaN }), "E_CONFIG"],
      ["weight a string", () => b.add(1, { weight: "1" }), "E_CONFIG"],
      ["addMany 5", () => b.addMany(5), "E_CONFIG"],
      ["addMany of a Proxy that throws", () => b.addMany(new Proxy([1], { get() { throw new Error("trap"); } })), "E_CONFIG"],
      ["a keyOf that throws", () => b.add("kt"), thrown],
    ];
    const ps = [];
    for (const [what, call] of tries) {
      let p;
      try {
        p = call();
      } catch (e) {
        assert.fail(`${what}: add() threw synchronously: ${e}`);
      }
      ps.push(track(p));
    }
    const ok = track(b.add(1, null)); // null options are no options
    await allSettledOnce(b, [...ps, ok]);
    for (const [i, [what, , want]] of tries.entries()) {
      if (typeof want === "string") assertCode(ps[i].reason, want, `${what}:`);
      else assert.ok(ps[i].reason === want, `${what}: rejects with what keyOf threw`);
    }
    assert.equal(ok.value, echo(1));
    for (const options of [null, undefined, "x", new Proxy({}, { ownKeys() { throw new Error("trap"); } })]) {
      let err;
      try {
        new Batcher(options);
      } catch (e) {
        err = e;
      }
      assertCode(err, "E_CONFIG", `new Batcher(${typeof options}):`);
    }
  });

  check("hostile: exactly once under a transport doing everything wrong at random (non-Errors, thenables, bad shapes, hangs past timeoutMs, late answers), with aborts and deadlines", async (open) => {
    let seed = 987654321;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const own = new Set(); // item errors the transport returned
    const late = [];
    const transport = (batch) => {
      const r = rand(), n = batch.items.length;
      const entries = () => batch.items.map((x) => {
        const q = rand();
        if (q < 0.1) {
          const e = new Error(`item ${x}`);
          own.add(e);
          return e;
        }
        if (q < 0.15) return Object.assign(new Error(`again ${x}`), { retryable: true });
        return echo(x);
      });
      if (r < 0.08) throw strangeValues()[Math.floor(rand() * 9)][1];
      if (r < 0.16) return Promise.reject(null);
      if (r < 0.24) return { then: (ok) => ok(entries()) };
      if (r < 0.30) return new Array(n + 1).fill(0);
      if (r < 0.34) return "garbage";
      if (r < 0.40) {
        return new Promise((resolve) => {
          late.push(setTimeout(() => resolve(entries()), 40)); // past timeoutMs: ignored when it comes
        });
      }
      return Promise.resolve(entries());
    };
    const b = open({ transport, maxWaitMs: 1, maxBatchSize: 5, timeoutMs: 15, retry: { ...FAST_RETRY, budget: false } });
    const ps = [];
    const acs = [];
    for (let i = 0; i < 80; i++) {
      const opts = {};
      if (i % 7 === 3) {
        const ac = new AbortController();
        acs.push(ac);
        opts.signal = ac.signal;
      }
      if (i % 11 === 5) opts.deadline = Date.now() + 5;
      ps.push(track(b.add(i, opts)));
      if (i % 10 === 9) {
        acs.shift()?.abort();
        await sleep(1);
      }
    }
    await allSettledOnce(b, ps);
    await sleep(50); // the late answers arrive after close(): nothing changes
    for (const t of late) clearTimeout(t);
    const codes = new Set(["E_TRANSPORT", "E_RESULT_SHAPE", "E_TIMEOUT", "E_ABORTED", "E_DEADLINE"]);
    for (const [i, s] of ps.entries()) {
      assert.equal(s.count, 1, `item ${i} settled once`);
      if (s.status === "fulfilled") assert.equal(s.value, echo(i));
      else if (!own.has(s.reason) && !(s.reason instanceof Error && s.reason.message === `again ${i}`)) {
        assert.ok(s.reason instanceof Error && codes.has(s.reason.code), `item ${i}: ${s.reason && s.reason.message}`);
      }
    }
  });

  check("hostile: a hole in the result array is no entry → E_RESULT_SHAPE; an explicit undefined is a value; addMany adds a hole as undefined", async (open) => {
    for (const answer of [(n) => new Array(n), (n) => Object.assign(new Array(n), { 0: "a" })]) {
      const { calls, transport } = recorder((batch) => answer(batch.items.length));
      const b = open({ transport, maxWaitMs: 0, retry: FAST_RETRY });
      const ps = [0, 1].map((i) => track(b.add(i)));
      await allSettledOnce(b, ps, String(answer));
      for (const s of ps) assertCode(s.reason, "E_RESULT_SHAPE", `${answer}:`);
      assert.equal(calls.length, 1, "not retried");
    }
    const { calls, transport } = recorder((batch) => batch.items.map(() => undefined));
    const b = open({ transport, maxWaitMs: 0 });
    const list = await b.addMany([1, , 3]); // eslint-disable-line no-sparse-arrays
    assert.deepEqual(list.map((s) => s.status), ["fulfilled", "fulfilled", "fulfilled"]);
    assert.deepEqual(calls.flatMap((c) => c.items), [1, undefined, 3], "the hole is sent as undefined");
    assert.equal(b.stats().items, 3);
  });

  check("hostile: a Proxy-wrapped AbortSignal: its item rejects with E_ABORTED (at once where the host refuses the Proxy, else on abort), never resolves", async (open) => {
    const { transport } = recorder();
    const b = open({ transport, maxWaitMs: LONG });
    const ac = new AbortController();
    const s = track(b.add(1, { signal: new Proxy(ac.signal, {}) }));
    await sleep(5);
    ac.abort("gone");
    await waitFor(() => settled(s), "the item to settle");
    assert.equal(s.status, "rejected");
    assertCode(s.reason, "E_ABORTED");
    assert.equal(s.reason.name, "AbortError");
    await b.flush();
    assert.equal(b.stats().batches, 0, "never sent");
  });

  check("hostile: an infinite retry-after hint (batch or item) is a floor of maxRetryAfterMs, not ignored", async (open) => {
    const fails = [
      () => { throw Object.assign(new Error("busy"), { retryAfterMs: Infinity }); },
      () => [Object.assign(new Error("busy"), { retryable: true, retryAfterMs: Infinity })],
    ];
    for (const fail of fails) {
      const at = [];
      const b = open({
        maxWaitMs: 0, retry: { ...FAST_RETRY, maxRetryAfterMs: 40, budget: false },
        transport: (batch) => (at.push(Date.now()), at.length === 1 ? fail() : batch.items.map(echo)),
      });
      assert.equal(await b.add(1), echo(1));
      assert.equal(at.length, 2);
      assert.ok(at[1] - at[0] >= 35, `retried after ${at[1] - at[0]} ms, not maxRetryAfterMs (40)`);
    }
  });

  check("hostile: baseDelayMs 0 retries without delay on every attempt, also where multiplier^(k-1) overflows (0 · Infinity)", async (open) => {
    const at = [];
    const b = open({
      maxWaitMs: 0, retry: { baseDelayMs: 0, multiplier: 1000, maxAttempts: 106, maxDelayMs: 1000, jitter: "none", budget: false },
      transport: () => {
        at.push(Date.now());
        throw new Error("down");
      },
    });
    const err = await rejectsWith(b.add(1), "E_TRANSPORT");
    assert.equal(err.attempts, 106);
    const gaps = at.slice(1).map((x, i) => x - at[i]);
    assert.ok(Math.max(...gaps) < 500, `a retry waited ${Math.max(...gaps)} ms`);
  });

  // ---------------------------------------------- contract lines only Node's suites ran (aud14)

  check("retry-after: a Retry-After header on err.response, a real Response of this runtime, is a floor on the delay", async (open) => {
    const at = [];
    const b = open({
      maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 2 },
      transport: (batch) => {
        at.push(Date.now());
        if (at.length > 1) return batch.items.map(echo);
        const response = new Response(null, { status: 429, headers: { "Retry-After": "0.2" } });
        throw Object.assign(new Error("HTTP 429"), { status: 429, response });
      },
    });
    assert.equal(await b.add(1), echo(1));
    assert.ok(at[1] - at[0] >= 180, `retried after ${at[1] - at[0]} ms, not the header's 200`);
  });

  check("dedupeBy, resolveKeys, weights: shared slots, routing in one call, a weight cap that splits and E_TOO_LARGE", async (open) => {
    const calls = [], routed = [];
    const b = open({
      maxWaitMs: 5, maxBatchWeight: 10, weigh: (x) => x.w, dedupeBy: (x) => x.id,
      keyOf: () => undefined, resolveKeys: async (items) => (routed.push(items.map((x) => x.id)), items.map((x) => x.id % 2 ? "odd" : "even")),
      transport: async (batch) => (calls.push([batch.key, batch.items.map((x) => x.id)]), batch.items.map((x) => `r:${x.id}`)),
    });
    const ps = [{ id: 1, w: 4 }, { id: 2, w: 4 }, { id: 1, w: 4 }, { id: 3, w: 4 }, { id: 5, w: 4 }].map((x) => b.add(x));
    await rejectsWith(b.add({ id: 7, w: 11 }), "E_TOO_LARGE");
    assert.deepEqual(await Promise.all(ps), ["r:1", "r:2", "r:1", "r:3", "r:5"]);
    assert.deepEqual(routed, [[1, 2, 1, 3, 5]], "one resolveKeys call for the items added together");
    const odd = calls.filter((c) => c[0] === "odd").map((c) => c[1]);
    assert.deepEqual(odd, [[1, 3], [5]], "id 1 shares one slot; the cap of 10 holds two items of 4");
    assert.deepEqual(calls.filter((c) => c[0] === "even").map((c) => c[1]), [[2]]);
  });

  check("order and limits: oldest queue first at the end of a tick; maxInFlightPerKey 1 keeps a key's calls one at a time, in order", async (open) => {
    const order = [];
    const b = open({ maxWaitMs: 0, keyOf: (x) => x[0], transport: async (batch) => (order.push(batch.key), batch.items) });
    await Promise.all(["b1", "a1", "c1", "a2", "b2"].map((x) => b.add(x)));
    assert.deepEqual(order, ["b", "a", "c"]);
    let inFlight = 0, most = 0;
    const seen = [];
    const c = open({
      maxBatchSize: 1, maxWaitMs: 0, maxInFlightPerKey: 1,
      transport: async (batch) => {
        most = Math.max(most, ++inFlight);
        await sleep(3);
        seen.push(batch.items[0]);
        inFlight--;
        return batch.items;
      },
    });
    await Promise.all([1, 2, 3, 4].map((x) => c.add(x)));
    assert.equal(most, 1);
    assert.deepEqual(seen, [1, 2, 3, 4]);
  });

  check("backpressure flush: maxQueued 10, maxWaitMs 2000, whenFull \"wait\": twelve adds in one tick are all sent at once", async (open) => {
    const b = open({ maxQueued: 10, maxWaitMs: 2000, whenFull: "wait", transport: async (batch) => batch.items });
    const t0 = Date.now();
    const ps = [];
    for (let i = 0; i < 12; i++) ps.push(b.add(i));
    assert.ok(b.stats().queued <= 10, "queued <= maxQueued");
    assert.deepEqual(await Promise.all(ps), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.ok(Date.now() - t0 < 1000, `sent after ${Date.now() - t0} ms, not after the 2000 ms windows`);
  });

  check("one timer: at most one setTimeout live per batcher (keys, windows, retry delays, per-call timeouts)", async (open) => {
    await null; // a runner's own guard timer (withTimeout) is made once this check first yields: not counted
    const realSet = globalThis.setTimeout, realClear = globalThis.clearTimeout, live = new Set();
    let most = 0;
    globalThis.setTimeout = (fn, ms, ...args) => {
      const id = realSet(() => {
        live.delete(id);
        fn(...args);
      }, ms);
      live.add(id);
      most = Math.max(most, live.size);
      return id;
    };
    globalThis.clearTimeout = (id) => {
      live.delete(id);
      realClear(id);
    };
    try {
      let n = 0;
      const b = open({
        maxWaitMs: 5, timeoutMs: 500, keyOf: (x) => x % 3, retry: { ...FAST_RETRY, budget: false },
        transport: (batch) => (++n < 3 ? Promise.reject(new Error("down")) : Promise.resolve(batch.items.map(echo))),
      });
      assert.deepEqual(await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.add(x))), [1, 2, 3, 4, 5, 6].map(echo));
      await b.close();
    } finally {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    }
    assert.ok(most <= 1, `${most} timers live at once`);
  });

  check("AbortSignal.timeout() and AbortSignal.any() as add signals: E_ABORTED with the runtime's own reason", async (open) => {
    const b = open({ transport: async (batch) => batch.items, maxWaitMs: LONG });
    const timedOut = await rejectsWith(b.add(1, { signal: AbortSignal.timeout(10) }), "E_ABORTED");
    assert.equal(timedOut.name, "AbortError");
    assert.equal(timedOut.cause?.name, "TimeoutError");
    if (typeof AbortSignal.any === "function") {
      const c = new AbortController();
      const p = b.add(2, { signal: AbortSignal.any([new AbortController().signal, c.signal]) });
      c.abort("why");
      assert.equal((await rejectsWith(p, "E_ABORTED")).cause, "why");
    }
    assert.equal(b.stats().queued, 0, "aborted items leave their queue");
  });

  return list;
}

/** `fn` bounded by `timeoutMs`, for runners without a per-test timeout (its timer is cleared). */
export function withTimeout(fn, timeoutMs = 10_000) {
  return async () => {
    let timer;
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}

/** Runs the checks one by one; returns `[{ name, ok, error?, ms }]` (JSON-able). */
export function runChecks(Batcher, assert, { filter, timeoutMs = 10_000 } = {}) {
  return runEach(checks(Batcher, assert).filter(({ name }) => !filter || filter(name)), timeoutMs);
}

/** Runs `[{ name, fn }]` one by one, each bounded by `timeoutMs`; returns JSON-able results. */
export async function runEach(list, timeoutMs = 10_000) {
  const results = [];
  for (const { name, fn } of list) {
    const t0 = Date.now();
    try {
      await withTimeout(fn, timeoutMs)();
      results.push({ name, ok: true, ms: Date.now() - t0 });
    } catch (e) {
      results.push({ name, ok: false, error: e && e.stack ? String(e.stack) : String(e), ms: Date.now() - t0 });
    }
  }
  return results;
}

class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = "AssertionError";
  }
}

function show(v) {
  try {
    return typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

/** The subset of `node:assert/strict` the checks use, for hosts without it. */
export const miniAssert = {
  ok(value, message) {
    if (!value) throw new AssertionError(message || `expected a truthy value, got ${show(value)}`);
  },
  equal(actual, expected, message) {
    if (!Object.is(actual, expected)) {
      throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
    }
  },
  deepEqual(actual, expected, message) {
    if (!deepEqual(actual, expected)) {
      throw new AssertionError(`${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`);
    }
  },
  fail(message) {
    throw new AssertionError(message);
  },
};
