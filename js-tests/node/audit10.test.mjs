// The contract audited from outside, tenth round: hostile input a caller can give the public
// API, each test written against a defect found by probing the built package (see audit.test.mjs
// for the earlier rounds). Each asserts what the contract says or, where it is silent, what a
// user of DataLoader, the Fetch API and AbortSignal would expect (said in a comment).
import assert from "node:assert/strict";
import { Batcher, FAST_RETRY, LONG, assertCode, echo, open, rejectsWith, settled, sleep, test, track, waitFor } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// AddOptions.signal: "rejects the item with E_ABORTED (cause = signal.reason)"

// A signal wrapped in a Proxy (a framework's reactive wrapper, a test spy) is still the signal:
// aborting it aborts the item. The runtime fires the event on the signal behind the Proxy.
test("audit10: a Proxy-wrapped AbortSignal aborts its item (queued and in flight)", async (t) => {
  let release;
  t.after(() => release?.()); // a failing run leaves no call hanging for the tests after it
  const b = open(t, { maxWaitMs: LONG, transport: (batch) => new Promise((r) => (release = () => r(batch.items.map(echo)))) });
  const queued = new AbortController(), sent = new AbortController();
  const q = track(b.add(1, { signal: new Proxy(queued.signal, {}) }));
  const shared = new Proxy(sent.signal, {});
  const s = [track(b.add(2, { signal: shared })), track(b.add(3, { signal: shared }))];
  await sleep(2);
  assert.equal(q.status, "pending", "not aborted before its signal fires");
  queued.abort("gone");
  await waitFor(() => settled(q));
  assertCode(q.reason, "E_ABORTED");
  assert.equal(q.reason.cause, "gone");
  b.flush();
  await waitFor(() => release !== undefined, "the call");
  sent.abort("late");
  await waitFor(() => s.every(settled));
  for (const x of s) {
    assertCode(x.reason, "E_ABORTED");
    assert.equal(x.reason.cause, "late");
  }
  release();
  await b.close();
  assert.deepEqual([b.stats().failed, b.stats().succeeded], [3, 0]);
});

// ---------------------------------------------------------------------------------------------
// flushOnHide: "In runtimes without a document the option does nothing. The listeners are
// removed by close()." A stand-in document that throws must not turn into uncoded throws from
// the constructor, from close(), or from inside the page's event dispatch.

function standIn(t, document, window) {
  globalThis.document = document;
  if (window !== undefined) globalThis.window = window;
  t.after(() => {
    delete globalThis.document;
    delete globalThis.window;
  });
}

const boom = (what) => () => {
  throw new Error(what);
};

for (const [what, make] of [
  ["whose addEventListener throws", () => ({ addEventListener: boom("add"), removeEventListener() {} })],
  ["whose addEventListener getter throws", () => ({ get addEventListener() { throw new Error("getter"); } })],
  ["that is a Proxy whose traps throw", () => new Proxy({}, { get: boom("trap"), has: boom("trap") })],
  ["whose removeEventListener throws", () => ({ addEventListener() {}, removeEventListener: boom("remove") })],
  ["with a window whose addEventListener throws", () => [{ addEventListener() {}, removeEventListener() {} }, { addEventListener: boom("window") }]],
]) {
  test(`audit10: flushOnHide with a stand-in document ${what}: the batcher works and close() resolves`, async (t) => {
    const made = make();
    standIn(t, ...(Array.isArray(made) ? made : [made]));
    let b;
    assert.doesNotThrow(() => {
      b = new Batcher({ flushOnHide: true, maxWaitMs: 0, transport: (batch) => batch.items.map(echo) });
    });
    assert.equal(await b.add(1), echo(1));
    let closed;
    assert.doesNotThrow(() => {
      closed = b.close();
    });
    await closed;
  });
}

test("audit10: flushOnHide: a visibilityState getter that throws, or an event-less call, throws nothing into the dispatch", async (t) => {
  const listeners = {};
  standIn(t, {
    addEventListener: (type, f) => (listeners[type] = f),
    removeEventListener() {},
    get visibilityState() {
      throw new Error("visibilityState");
    },
  });
  const calls = [];
  const b = new Batcher({ flushOnHide: true, maxWaitMs: LONG, transport: (batch) => (calls.push(batch.keepalive), batch.items) });
  const p = b.add(1);
  assert.doesNotThrow(() => listeners.visibilitychange(new Event("visibilitychange")));
  assert.doesNotThrow(() => listeners.visibilitychange());
  await b.close();
  assert.equal(await p, 1);
  assert.ok(calls.length === 1, `one call, got ${calls.length}`);
});

// ---------------------------------------------------------------------------------------------
// transport: "returns an array with one entry per item" / "A transport result that is not an
// array, or whose length differs from items.length, fails the batch with E_RESULT_SHAPE".
// A hole is no entry: `new Array(n)` has the length and none of the entries, so such a result
// is the wrong shape, not n `undefined` values (a transport that fills results by index and
// misses one must not resolve callers with a value nobody sent).

test("audit10: a result array with a hole fails the batch with E_RESULT_SHAPE naming the hole", async (t) => {
  const results = [
    (n) => new Array(n),
    (n) => Object.assign(new Array(n), { 0: "a" }),
    (n) => {
      const a = Array.from({ length: n }, (_, i) => `r${i}`);
      delete a[n - 1];
      return a;
    },
  ];
  for (const make of results) {
    const b = open(t, { maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: (batch) => make(batch.items.length) });
    const s = [1, 2, 3].map((i) => track(b.add(i)));
    await b.close();
    for (const x of s) {
      assertCode(x.reason, "E_RESULT_SHAPE", String(make));
      assert.match(x.reason.message, /hole/);
    }
  }
  // An explicit undefined is an entry, a value like any other.
  const b = open(t, { maxWaitMs: 0, transport: (batch) => batch.items.map(() => undefined) });
  assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [undefined, undefined]);
});

// ---------------------------------------------------------------------------------------------
// addMany: "Promise.allSettled shape, input order": one settled entry per item, each for an
// item that was added. A hole in the list is the item `undefined` (as `items[i]` reads it),
// added and sent like any other, not a `fulfilled` entry for an item never added.

test("audit10: addMany with a hole adds undefined for it: one call per entry, stats count it", async (t) => {
  const sent = [];
  const b = open(t, { maxWaitMs: 0, transport: (batch) => (sent.push(...batch.items), batch.items.map((x) => `r:${x}`)) });
  const settledList = await b.addMany([1, , 3]); // eslint-disable-line no-sparse-arrays
  assert.deepEqual(sent, [1, undefined, 3]);
  assert.deepEqual(settledList.map((s) => s.value), ["r:1", "r:undefined", "r:3"]);
  assert.equal(b.stats().items, 3);
});

// ---------------------------------------------------------------------------------------------
// Backoff: "a retry-after hint is a floor, itself clamped to maxRetryAfterMs". An infinite hint
// (retryAfterMs Infinity, or `Retry-After: 1e308` seconds) is a floor of maxRetryAfterMs, as a
// huge finite one is, not no floor.

test("audit10: an infinite retry-after hint waits maxRetryAfterMs, as a huge finite one does", async (t) => {
  const hints = [
    ["batch retryAfterMs Infinity", (calls) => { if (calls === 1) throw Object.assign(new Error("busy"), { retryAfterMs: Infinity }); }],
    ["Retry-After header 1e308 s", (calls) => { if (calls === 1) throw Object.assign(new Error("busy"), { response: { headers: new Headers({ "retry-after": "1e308" }) } }); }],
    ["item retryAfterMs Infinity", (calls) => calls === 1 ? [Object.assign(new Error("busy"), { retryable: true, retryAfterMs: Infinity })] : undefined],
  ];
  for (const [what, fail] of hints) {
    let calls = 0;
    const at = [];
    const b = open(t, {
      maxWaitMs: 0, retry: { ...FAST_RETRY, maxRetryAfterMs: 60, budget: false },
      transport: (batch) => {
        at.push(performance.now());
        return fail(++calls) ?? batch.items.map(echo);
      },
    });
    assert.equal(await b.add(1), echo(1), what);
    assert.equal(at.length, 2, what);
    assert.ok(at[1] - at[0] >= 55, `${what}: retried after ${at[1] - at[0]} ms, not after maxRetryAfterMs (60)`);
  }
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/timeline records the hooks' info: a transport may throw anything (the contract's
// "whatever the transport does"), and the recorder's calls() and svg() must still work.

test("audit10: timeline: calls() and svg() work after a transport threw a null-prototype object, a value whose getters throw, or a revoked Proxy", async (t) => {
  const { Timeline } = await import("hyperbatch/timeline");
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const hostile = [
    ["a null-prototype object", Object.create(null)],
    ["a value whose getters throw", { get message() { throw new Error("message"); }, get code() { throw new Error("code"); } }],
    ["a revoked Proxy", revoked.proxy],
  ];
  for (const [what, thrown] of hostile) {
    const timeline = new Timeline();
    const b = open(t, timeline.attach({ maxWaitMs: 0, retry: { maxAttempts: 1 }, transport: () => { throw thrown; } }));
    await rejectsWith(b.add(1), "E_TRANSPORT", what);
    await b.close();
    let calls, svg;
    assert.doesNotThrow(() => (calls = timeline.calls()), what);
    assert.doesNotThrow(() => (svg = timeline.svg()), what);
    assert.deepEqual(calls.map((c) => [c.outcome, c.errorCode]), [["failed", undefined]], what);
    assert.match(svg, /error: /, what);
  }
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/slim: init(source) fails with E_CONFIG (as audit.test.mjs checks for bad bytes),
// also when the source rejects with a value that cannot be read or printed.

test("audit10: slim init() whose source rejects with a hostile value rejects with E_CONFIG naming init", async () => {
  const { init } = await import("hyperbatch/slim");
  const trap = new Proxy({}, { get() { throw new Error("get trap"); }, getPrototypeOf() { throw new Error("getPrototypeOf trap"); } });
  const hostile = [
    ["a Proxy whose traps throw", trap],
    ["a null-prototype object", Object.create(null)],
    ["an Error whose message getter throws", Object.defineProperty(new Error("x"), "message", { get() { throw new Error("message getter"); } })],
  ];
  for (const [what, reason] of hostile) {
    const rejection = Promise.reject(reason);
    rejection.catch(() => {});
    const err = await rejectsWith(init(rejection), "E_CONFIG", what);
    assert.match(err.message, /init\(source\) failed/, what);
    assert.equal(err.cause, reason, what);
  }
});

// ---------------------------------------------------------------------------------------------
// Backoff: "min(maxDelayMs, baseDelayMs · multiplier^(k−1))". With baseDelayMs 0 that is 0 for
// every k, also once multiplier^(k−1) overflows to Infinity (1000^103 does, within maxAttempts'
// bound of 1000): 0 · Infinity is NaN, which must not turn into a wait of maxDelayMs.

test("audit10: baseDelayMs 0 retries at once on every attempt, also past the attempt where multiplier^(k-1) overflows", async (t) => {
  const at = [];
  const b = open(t, {
    maxWaitMs: 0, retry: { baseDelayMs: 0, multiplier: 1000, maxAttempts: 106, maxDelayMs: 1000, jitter: "none", budget: false },
    transport: () => {
      at.push(performance.now());
      throw new Error("down");
    },
  });
  const err = await rejectsWith(b.add(1), "E_TRANSPORT");
  assert.equal(err.attempts, 106);
  const gaps = at.slice(1).map((x, i) => x - at[i]);
  assert.ok(Math.max(...gaps) < 500, `a retry waited ${Math.round(Math.max(...gaps))} ms (attempt ${gaps.indexOf(Math.max(...gaps)) + 2})`);
});
