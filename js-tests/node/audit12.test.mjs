// The contract audited from outside, twelfth round: hostile or ordinary use a caller can make of
// the public API, each test written against a defect found by probing the built package (see
// audit.test.mjs, audit10.test.mjs and audit11.test.mjs for the earlier rounds). Each asserts what
// the contract says or, where it is silent, what a user of DataLoader, the Fetch API and
// AbortSignal would expect.
import assert from "node:assert/strict";
import { Batcher, deferred, fakePage, LONG, macrotask, sleep, test, track } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// "Every accepted item settles exactly once: no lost, duplicated or forever-pending promise,
// whatever the transport does (… hangs past `timeoutMs` …)". A `resolveKeys` that never answered
// held its items, flush() and close() forever, timeoutMs or not: it bounded transport calls only.
// Read: with `timeoutMs`, a resolveKeys call past it fails its items with E_ROUTE (the routing
// failed), whose cause is an E_TIMEOUT error (why), as a resolveKeys that throws fails them with
// E_ROUTE caused by what it threw.

test("audit12: a resolveKeys that never answers fails its items with E_ROUTE (cause E_TIMEOUT) after timeoutMs; flush() and close() resolve", async (t) => {
  const sent = [];
  const b = new Batcher({
    transport: (batch) => {
      sent.push(...batch.items);
      return batch.items.map((x) => `r:${x}`);
    },
    keyOf: (x) => (x === "keyed" ? "k" : undefined),
    resolveKeys: () => new Promise(() => {}),
    timeoutMs: 40,
    maxWaitMs: 0,
  });
  t.after(() => b.close());
  const t0 = performance.now();
  const a = track(b.add("a")), c = track(b.add("c")), keyed = b.add("keyed");
  const flushed = track(b.flush());
  assert.equal(await keyed, "r:keyed", "an item keyOf routes is unaffected");
  for (let i = 0; i < 100 && (a.status === "pending" || flushed.status === "pending"); i++) await sleep(10);
  const waited = performance.now() - t0;
  for (const s of [a, c]) {
    assert.equal(s.status, "rejected", "a hung resolveKeys must not hold its items forever");
    assert.equal(s.reason.code, "E_ROUTE");
    assert.ok(s.reason instanceof Error);
    assert.equal(s.reason.cause?.code, "E_TIMEOUT");
    assert.ok(s.reason.cause instanceof Error);
    assert.match(s.reason.message, /timeoutMs/);
  }
  assert.notEqual(a.reason, c.reason, "each caller gets its own error object");
  assert.ok(waited >= 35, `failed after ${waited} ms: not before timeoutMs`);
  assert.equal(flushed.status, "fulfilled", "flush() resolves once the items it covers settled");
  assert.deepEqual(sent, ["keyed"], "the unrouted items are never sent");
  const s = b.stats();
  assert.equal(s.queued, 0);
  assert.equal(s.failed, 2);
  assert.equal(s.succeeded, 1);
  assert.equal(s.items, 3);
  await b.close();
});

test("audit12: close() with a hung resolveKeys resolves after timeoutMs, every item settled", async () => {
  const b = new Batcher({
    transport: (batch) => batch.items,
    resolveKeys: () => new Promise(() => {}),
    timeoutMs: 30,
    maxWaitMs: LONG,
  });
  const items = [1, 2, 3].map((x) => track(b.add(x)));
  const closed = track(b.close());
  for (let i = 0; i < 100 && closed.status === "pending"; i++) await sleep(10);
  assert.equal(closed.status, "fulfilled", "close() must not wait forever on a hung resolveKeys");
  for (const s of items) assert.equal(s.reason?.code, "E_ROUTE");
  assert.equal(b.stats().failed, 3);
});

test("audit12: a resolveKeys answer after timeoutMs is ignored; later adds route again", async (t) => {
  const answers = [];
  const sent = [];
  const b = new Batcher({
    transport: (batch) => {
      sent.push([batch.key, ...batch.items]);
      return batch.items.map((x) => `r:${x}`);
    },
    resolveKeys: (items) => {
      const d = deferred();
      answers.push(() => d.resolve(items.map((x) => `k${x}`)));
      return d.promise;
    },
    timeoutMs: 30,
    maxWaitMs: 0,
  });
  t.after(() => b.close());
  const late = track(b.add(1));
  await b.flush();
  assert.equal(late.reason?.code, "E_ROUTE");
  answers[0](); // the late answer
  await macrotask();
  await sleep(5);
  assert.deepEqual(sent, [], "a late answer sends nothing");
  assert.equal(late.count, 1, "settled once");
  const next = b.add(2);
  await macrotask();
  answers[1]();
  assert.equal(await next, "r:2");
  assert.deepEqual(sent, [["k2", 2]]);
  assert.deepEqual(
    (({ queued, inFlightBatches, inFlightItems, items, succeeded, failed }) => ({ queued, inFlightBatches, inFlightItems, items, succeeded, failed }))(b.stats()),
    { queued: 0, inFlightBatches: 0, inFlightItems: 0, items: 2, succeeded: 1, failed: 1 },
  );
});

test("audit12: a route timeout frees room for adds waiting (whenFull \"wait\")", async (t) => {
  let calls = 0;
  const b = new Batcher({
    transport: (batch) => batch.items,
    resolveKeys: (items) => (calls++ === 0 ? new Promise(() => {}) : items.map(() => "k")),
    timeoutMs: 30,
    maxWaitMs: 0,
    maxQueued: 2,
    whenFull: "wait",
  });
  t.after(() => b.close());
  const first = [track(b.add(1)), track(b.add(2))];
  const waiting = b.add(3);
  assert.ok(b.stats().queued <= 2);
  assert.equal(await waiting, 3, "the waiting add is admitted once the timed-out route's items leave");
  for (const s of first) assert.equal(s.reason?.code, "E_ROUTE");
});

test("audit12: without timeoutMs, items being routed still settle through their own signal or deadline", async (t) => {
  const b = new Batcher({ transport: (batch) => batch.items, resolveKeys: () => new Promise(() => {}), maxWaitMs: 0 });
  const ac = new AbortController();
  const aborted = track(b.add(1, { signal: ac.signal }));
  const expired = track(b.add(2, { deadline: Date.now() + 20 }));
  await macrotask();
  ac.abort();
  for (let i = 0; i < 50 && expired.status === "pending"; i++) await sleep(5);
  assert.equal(aborted.reason?.code, "E_ABORTED");
  assert.equal(expired.reason?.code, "E_DEADLINE");
  assert.equal(b.stats().queued, 0);
  await b.close();
});

// ---------------------------------------------------------------------------------------------
// "Every error the library makes is an Error with a string code"; the constructor reads options
// a Proxy or getter cannot give as E_CONFIG ("option `options` could not be read", cause kept),
// and addMany a list it cannot read the same way. add()'s own options rejected with the raw
// error of the trap or getter instead, uncoded.

test("audit12: add options whose reads throw (Proxy traps, a getter, a revoked Proxy) reject with E_CONFIG naming them, cause kept", async (t) => {
  const b = new Batcher({ transport: (batch) => batch.items, maxWaitMs: 0 });
  t.after(() => b.close());
  const boom = new Error("boom");
  const revocable = Proxy.revocable({}, {});
  revocable.revoke();
  const cases = [
    ["ownKeys trap", new Proxy({}, { ownKeys() { throw boom; } }), boom],
    ["get trap", new Proxy({}, { get() { throw boom; } }), boom],
    ["getOwnPropertyDescriptor trap", new Proxy({ key: "a" }, { getOwnPropertyDescriptor() { throw boom; } }), boom],
    ["signal getter", { get signal() { throw boom; } }, boom],
    ["revoked Proxy", revocable.proxy, undefined],
  ];
  for (const [what, opts, cause] of cases) {
    let p;
    assert.doesNotThrow(() => { p = b.add(1, opts); }, what);
    const err = await p.then(() => assert.fail(`${what}: must reject`), (e) => e);
    assert.ok(err instanceof Error, what);
    assert.equal(err.code, "E_CONFIG", `${what}: ${err.message}`);
    assert.match(err.message, /add options/, what);
    assert.equal(err.option, "add options", what);
    if (cause !== undefined) assert.equal(err.cause, cause, `${what}: cause is what the read threw`);
    else assert.ok(err.cause instanceof TypeError, what);
  }
  // A user function's own throw still reaches its caller as it is; a bad value stays E_CONFIG.
  const own = new Error("keyOf failed");
  const k = new Batcher({ transport: (batch) => batch.items, maxWaitMs: 0, keyOf: () => { throw own; } });
  t.after(() => k.close());
  await assert.rejects(k.add(1), (e) => e === own);
  await assert.rejects(b.add(1, { weight: -1 }), { code: "E_CONFIG" });
  assert.equal(await b.add(2, {}), 2, "the batcher goes on");
  assert.equal(b.stats().items, 1, "no refused add was accepted");
});

// ---------------------------------------------------------------------------------------------
// flushOnHide: "when the page is hidden, every queue dispatches at once … and those calls carry
// batch.keepalive = true". Only calls made in the very drain of the hide event carried it: the
// hide flush's items that went out later (held back by maxInFlight, still being routed by
// resolveKeys, or waiting to retry) went with keepalive false, and a page going away cancels
// such a request. Read: every call made until the items the hide flush covers have settled is
// that flush's, and carries keepalive true; calls after that carry false again.

function hidable(t) {
  const { document } = fakePage(t);
  return () => {
    document.visibilityState = "hidden";
    document.dispatchEvent(new Event("visibilitychange"));
  };
}

test("audit12: flushOnHide: the hide flush's items held back by maxInFlight go out as keepalive calls", async (t) => {
  const hide = hidable(t);
  const calls = [];
  const release = deferred();
  const b = new Batcher({
    flushOnHide: true, maxInFlight: 1, maxWaitMs: LONG,
    transport: async (batch) => {
      calls.push([batch.items.join("+"), batch.keepalive]);
      if (batch.items[0] === 1) await release.promise;
      return batch.items;
    },
  });
  t.after(() => b.close());
  const first = b.add(1);
  b.flush();
  await macrotask();
  const rest = [b.add(2), b.add(3)];
  hide();
  await macrotask();
  release.resolve();
  await Promise.all([first, ...rest]);
  assert.deepEqual(calls, [["1", false], ["2+3", true]]);
  const late = b.add(5);
  await b.flush();
  await late;
  assert.equal(calls.at(-1)[1], false, "a call after the hide flush settled carries keepalive false");
});

test("audit12: flushOnHide: items still being routed by resolveKeys at the hide go out as keepalive calls", async (t) => {
  const hide = hidable(t);
  const calls = [];
  const b = new Batcher({
    flushOnHide: true, maxWaitMs: LONG,
    resolveKeys: async (items) => {
      await sleep(5);
      return items.map(() => "k");
    },
    transport: (batch) => {
      calls.push([batch.items.join("+"), batch.keepalive]);
      return batch.items;
    },
  });
  t.after(() => b.close());
  const items = [b.add(1), b.add(2)];
  hide();
  assert.deepEqual(await Promise.all(items), [1, 2]);
  assert.deepEqual(calls, [["1+2", true]]);
});

test("audit12: flushOnHide: an item waiting to retry at the hide is resent as a keepalive call", async (t) => {
  const hide = hidable(t);
  const calls = [];
  const b = new Batcher({
    flushOnHide: true, maxWaitMs: LONG, retry: { baseDelayMs: 20, jitter: "none" },
    transport: (batch) => {
      calls.push([batch.items.join("+"), batch.keepalive]);
      if (calls.length === 1) throw Object.assign(new Error("unavailable"), { status: 503 });
      return batch.items;
    },
  });
  t.after(() => b.close());
  const item = b.add(1);
  b.flush();
  await macrotask();
  hide();
  assert.equal(await item, 1);
  assert.deepEqual(calls, [["1", false], ["1", true]]);
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/timeline (not in the contract; its own guide, docs/timeline.md): a width that is no
// finite number (a string from a form field, NaN) drew NaN coordinates into the SVG, and `null`
// options (as a caller passes "no options") threw a raw TypeError where `undefined` gave defaults.

test("audit12: timeline: a width that is no finite number draws at the default width; null options are no options", async (t) => {
  const { Timeline } = await import("hyperbatch/timeline");
  let clock = 0;
  const tl = new Timeline({ now: () => clock });
  const hooks = tl.hooks("b");
  hooks.onBatchStart({ id: 1, key: undefined, size: 1, attempt: 1, items: [1] });
  clock = 5;
  hooks.onBatchEnd({ id: 1, key: undefined, size: 1, attempt: 1, durationMs: 5, succeeded: 1, failed: 0, items: [1], results: [1] });
  const plain = tl.svg();
  for (const width of [NaN, "800", Infinity, null, {}]) {
    const svg = tl.svg({ width });
    assert.ok(!svg.includes("NaN"), `width ${String(width)}: no NaN drawn`);
    assert.equal(svg, plain, `width ${String(width)}: the default width`);
  }
  assert.equal(tl.svg(null), plain);
  assert.ok(tl.html(null).includes(plain));
  assert.equal(new Timeline(null).limit, new Timeline().limit);
  const attached = tl.attach(null, "x");
  assert.equal(typeof attached.onBatchStart, "function");
});
