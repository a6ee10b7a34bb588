// The contract audited from outside: hostile uses a caller can make of the public API (odd option
// values, transports answering through foreign thenables, schedules calling back twice), each
// test written against a defect found by probing the built package. Each asserts what the
// contract says or, where it is silent, what a user of DataLoader, the Fetch API and AbortSignal
// would expect (said in a comment).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import DataLoader from "hyperbatch/dataloader";
import { test, Batcher, FAST_RETRY, echo, open, track } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// transport: "returns (or resolves to) an array"

// "Resolves to" as `await` reads it: a thenable that resolves with another thenable (or a
// promise) resolves to what that one resolves to. A foreign thenable's callback may pass a
// promise; the items must get the array, not E_RESULT_SHAPE.
test("audit: a transport whose thenable resolves with a promise or a thenable resolves to the array inside", async (t) => {
  const answers = [
    ["a thenable resolving with a promise", (items) => ({ then: (ok) => ok(Promise.resolve(items.map(echo))) })],
    ["a thenable resolving with a thenable", (items) => ({ then: (ok) => ok({ then: (ok2) => ok2(items.map(echo)) }) })],
    ["an async transport resolving with a thenable", async (items) => ({ then: (ok) => ok(items.map(echo)) })],
  ];
  for (const [what, answer] of answers) {
    const b = open(t, { maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: (batch) => answer(batch.items) });
    const s = [0, 1].map((i) => track(b.add(i)));
    await b.close();
    assert.deepEqual(s.map((x) => [x.status, x.value, x.count]), [["fulfilled", echo(0), 1], ["fulfilled", echo(1), 1]], what);
  }
});

test("audit: a transport whose thenable resolves with a thenable that rejects fails with E_TRANSPORT (cause kept)", async (t) => {
  const boom = new Error("inner rejection");
  const b = open(t, {
    maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 },
    transport: () => ({ then: (ok) => ok({ then: (_, bad) => bad(boom) }) }),
  });
  const s = track(b.add(1));
  await b.close();
  assert.equal(s.status, "rejected");
  assert.equal(s.reason.code, "E_TRANSPORT");
  assert.equal(s.reason.cause, boom);
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/dataloader: "the same semantics as DataLoader 2.2"

// DataLoader 2.2.3 accepts maxBatchSize NaN (`typeof NaN === "number"`, `NaN < 1` is false) and
// a batch takes another key only while `keys.length < maxBatchSize`: never, so every load is a
// batch of its own. The facade must batch the same, with or without the `maxWaitMs` extra.
test("audit: dataloader maxBatchSize NaN gives batches of one key, as DataLoader's does", async () => {
  for (const extra of [{}, { maxWaitMs: 5 }]) {
    const batches = [];
    const l = new DataLoader(async (keys) => {
      batches.push([...keys]);
      return keys;
    }, { maxBatchSize: NaN, ...extra });
    assert.deepEqual(await Promise.all([l.load(1), l.load(2), l.load(3)]), [1, 2, 3]);
    assert.deepEqual(batches, [[1], [2], [3]], JSON.stringify(extra));
  }
});

// A batchScheduleFn that calls back twice dispatches the batch twice in DataLoader (two
// batchLoadFn calls); the facade's extra `stats()` must still never count a negative queue.
test("audit: dataloader batchScheduleFn calling back twice never makes stats().queued negative", async () => {
  const callbacks = [];
  const calls = [];
  const l = new DataLoader(async (keys) => {
    calls.push([...keys]);
    return keys;
  }, { batchScheduleFn: (fn) => callbacks.push(fn) });
  const p = Promise.all([l.load(1), l.load(2)]);
  assert.equal(l.stats().queued, 2);
  callbacks[0]();
  callbacks[0]();
  assert.equal(l.stats().queued, 0);
  assert.deepEqual(await p, [1, 2]);
  assert.deepEqual(calls, [[1, 2], [1, 2]], "dispatched twice, as DataLoader does");
  const s = l.stats();
  assert.equal(s.queued, 0);
  assert.equal(s.inFlightBatches, 0);
});

// ---------------------------------------------------------------------------------------------
// "Every accepted item settles exactly once ... whatever the transport does"

// A result entry's getter runs while core.js reads the engine's outputs; one that calls the
// engine a lot (here 100 000 flush() calls: every flush is an output waiting to be read) grows
// the wasm memory, which detaches the view of the outputs being read. The outputs after that
// entry (other keys' settles, calls to start) must still be read, not lost.
test("audit: a result getter that grows the wasm memory mid-read loses no settle and no call", async (t) => {
  let b;
  const flushes = [];
  b = open(t, {
    maxWaitMs: 1, keyOf: (x) => x % 50,
    transport: (batch) => {
      const r = batch.items.map(echo);
      if (batch.items[0] === 0) {
        Object.defineProperty(r, 0, {
          get() {
            for (let i = 0; i < 100_000; i++) flushes.push(b.flush());
            return "zero";
          },
        });
      }
      return r;
    },
  });
  const s = Array.from({ length: 200 }, (_, i) => track(b.add(i)));
  await Promise.race([b.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
  assert.deepEqual(s.flatMap((x, i) => (x.count === 1 && x.status === "fulfilled" ? [] : [i])), [], "every item settles once");
  assert.equal(s[0].value, "zero");
  assert.deepEqual(s.slice(1).map((x) => x.value), Array.from({ length: 199 }, (_, i) => echo(i + 1)));
  await Promise.all(flushes);
  const st = b.stats();
  assert.equal(st.inFlightBatches, 0);
  assert.equal(st.succeeded, 200);
});

// ---------------------------------------------------------------------------------------------
// Errors name what is wrong

// A NaN deadline or key is refused with E_CONFIG; "must be … a number, got number" would name
// nothing wrong. The message must say NaN.
test("audit: a NaN deadline or key is refused with E_CONFIG whose message says NaN", async (t) => {
  const b = open(t, { maxWaitMs: 0, transport: (batch) => batch.items.map(echo) });
  for (const [what, opts] of [["deadline", { deadline: NaN }], ["key", { key: NaN }]]) {
    const s = track(b.add(1, opts));
    await b.flush();
    assert.equal(s.status, "rejected", what);
    assert.equal(s.reason.code, "E_CONFIG", what);
    assert.ok(s.reason instanceof Error, what);
    assert.match(s.reason.message, new RegExp(`\`${what}\`.*got NaN`), what);
  }
});

// ---------------------------------------------------------------------------------------------
// "close(): reject later adds" — also when the user code an add calls closes the batcher

// keyOf, weigh, dedupeBy, a getter of the add options or of a signal-like object run inside
// add(); one that calls close() on an idle batcher frees it there. The add must then reject with
// E_CLOSED (the batcher is closed), never throw, never reject with an uncoded TypeError.
test("audit: an add whose keyOf, weigh, dedupeBy or option getter closes the batcher rejects with E_CLOSED", async () => {
  const cases = [
    ["keyOf", (close) => ({ keyOf: () => (close(), "k") }), undefined],
    ["weigh", (close) => ({ weigh: () => (close(), 1) }), undefined],
    ["dedupeBy", (close) => ({ dedupeBy: (x) => (close(), x) }), undefined],
    ["a key getter", () => ({}), (close) => ({ get key() { close(); return "k"; } })],
    ["a signal's aborted getter", () => ({}), (close) => ({
      signal: { get aborted() { close(); return false; }, addEventListener() {}, removeEventListener() {} },
    })],
  ];
  for (const [what, options, addOptions] of cases) {
    let b, closed;
    const close = () => {
      closed = b.close();
    };
    b = new Batcher({ maxWaitMs: 1, transport: (batch) => batch.items.map(echo), ...options(close) });
    let s;
    assert.doesNotThrow(() => {
      s = track(b.add(1, addOptions?.(close)));
    }, what);
    await closed;
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(s.status, "rejected", what);
    assert.equal(s.count, 1, what);
    assert.ok(s.reason instanceof Error, what);
    assert.equal(s.reason.code, "E_CLOSED", `${what}: ${s.reason.message}`);
  }
});

// ---------------------------------------------------------------------------------------------
// "close() ... wait for in-flight"; nothing escapes the library

/** Runs `fn`, collecting the uncaught exceptions and unhandled rejections it causes. */
async function escapes(fn) {
  const seen = [];
  const onError = (e) => seen.push(e);
  process.on("uncaughtException", onError);
  process.on("unhandledRejection", onError);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off("uncaughtException", onError);
    process.off("unhandledRejection", onError);
  }
  return seen;
}

/** Adds one item and closes the batcher: nothing escapes the library, the item settles once, no call stays in flight. */
async function addAndClose(b) {
  let s;
  const seen = await escapes(async () => {
    s = track(b.add(1));
    await b.close();
  });
  assert.deepEqual(seen, [], "nothing escapes the library");
  assert.equal(s.count, 1);
  assert.equal(b.stats().inFlightBatches, 0);
  return s;
}

// A call whose every item was aborted is still in flight (close() waits for it). When it then
// fails, the library reads the error (its getters) and calls classify: user code that may call
// close(). That close() must wait for the call's end, not free the engine under it.
for (const how of ["classify", "a getter of the error"]) {
  test(`audit: ${how} calling close() on a failing call whose items were all aborted: close waits, nothing escapes`, async () => {
    let b, closed;
    const ac = new AbortController();
    const close = () => {
      closed ??= b.close();
    };
    const err = how === "classify" ? new Error("down") : { message: "down", get retryable() { close(); return undefined; } };
    let reject;
    b = new Batcher({
      maxWaitMs: 1, retry: { ...FAST_RETRY, maxAttempts: 2, classify: how === "classify" ? () => (close(), "retry") : undefined },
      transport: () => new Promise((_, bad) => {
        reject = bad;
      }),
    });
    const s = track(b.add(1, { signal: ac.signal }));
    const seen = await escapes(async () => {
      while (reject === undefined) await new Promise((r) => setTimeout(r, 1));
      ac.abort("gone");
      await new Promise((r) => setTimeout(r, 1));
      reject(err);
      await closed;
    });
    assert.deepEqual(seen, [], "nothing escapes the library");
    assert.equal(s.reason.code, "E_ABORTED");
    const st = b.stats();
    assert.deepEqual([st.inFlightBatches, st.inFlightItems, st.queued], [0, 0, 0], "close() resolved once the call had ended");
    assert.equal(st.batches, 1, "the aborted item is not retried");
  });
}

// A thenable may keep its callbacks and call them again from user code the library runs while it
// handles the first answer (a result entry's getter). A foreign thenable is adopted through a
// promise, so its second call is a no-op; a Promise whose `then` was replaced gets the library's
// callbacks themselves. Either way one answer settles the items (for the latter the nested one,
// handled first), the other is ignored like a late answer, and nothing throws out of the caller.
for (const [what, make] of [
  ["a thenable", (then) => ({ then })],
  ["a Promise whose then was replaced", (then) => Object.assign(new Promise(() => {}), { then })],
]) {
  test(`audit: ${what} that answers again from inside a result entry's getter: one answer settles the items, nothing escapes`, async (t) => {
    let again;
    const b = open(t, {
      maxWaitMs: 1,
      transport: () => make((ok) => {
        again = ok;
        setTimeout(() => ok([{ get then() { again(["second"]); return undefined; } }]), 1);
      }),
    });
    assert.equal((await addAndClose(b)).status, "fulfilled");
  });
}

test("audit: a Promise whose then was replaced, failing with an error whose getter answers the call again: nothing escapes", async (t) => {
  let ok;
  const b = open(t, {
    maxWaitMs: 1, retry: { ...FAST_RETRY, maxAttempts: 1 },
    transport: () => Object.assign(new Promise(() => {}), {
      then(fulfil, reject) {
        ok = fulfil;
        setTimeout(() => reject({ message: "down", get retryable() { ok(["late"]); return undefined; } }), 1);
      },
    }),
  });
  await addAndClose(b);
});

// ---------------------------------------------------------------------------------------------
// Error objects exactly as the contract names them

// E_TRANSPORT's `cause` is "the transport's error" and E_ABORTED's is `signal.reason`: own
// properties even when that value is undefined (a transport may throw undefined; a signal-like
// object may have no reason), so `"cause" in err` holds as for `new Error(m, { cause })`. The
// facade relies on it to give DataLoader's callers what the batch function rejected with.
test("audit: E_TRANSPORT and E_ABORTED carry an own cause even when it is undefined", async (t) => {
  const b = open(t, { maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: () => Promise.reject(undefined) });
  const s = track(b.add(1));
  let listener;
  const signalLike = { aborted: false, addEventListener: (_, fn) => { listener = fn; }, removeEventListener() {} };
  const c = open(t, { maxWaitMs: 10_000, transport: (batch) => batch.items });
  const a = track(c.add(1, { signal: signalLike }));
  listener();
  await b.close();
  await c.close();
  assert.equal(s.reason.code, "E_TRANSPORT");
  assert.ok(Object.hasOwn(s.reason, "cause"), "E_TRANSPORT has its cause");
  assert.equal(s.reason.cause, undefined);
  assert.equal(a.reason.code, "E_ABORTED");
  assert.ok(Object.hasOwn(a.reason, "cause"), "E_ABORTED has its cause");
  assert.equal(a.reason.cause, undefined);
});

test("audit: E_CIRCUIT_OPEN carries an own cause even when the failures that opened it were undefined", async (t) => {
  const b = open(t, {
    maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, circuitBreaker: { failureThreshold: 1, resetMs: 60_000 },
    transport: () => Promise.reject(undefined),
  });
  const first = track(b.add(1));
  await b.flush();
  const s = track(b.add(2));
  await b.close();
  assert.equal(first.reason.code, "E_TRANSPORT");
  assert.equal(s.reason.code, "E_CIRCUIT_OPEN");
  assert.ok(Object.hasOwn(s.reason, "cause"), "E_CIRCUIT_OPEN has its cause");
  assert.equal(s.reason.cause, undefined);
});

test("audit: dataloader with retry, timeoutMs or bisect: a batch function rejecting with undefined rejects loads with undefined, as DataLoader's", async () => {
  for (const extra of [{ retry: { maxAttempts: 1 } }, { timeoutMs: 1000 }, { bisect: true }]) {
    const l = new DataLoader(async () => {
      throw undefined;
    }, extra);
    let got = "fulfilled";
    await l.load(1).then(undefined, (e) => {
      got = e;
    });
    assert.equal(got, undefined, JSON.stringify(extra));
  }
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/slim: init(source)

// A host that loads the .wasm itself may fail once (a 404, a network error, wrong bytes): the
// rejection is an Error with a code like every error the library makes, and a later init() with
// a good source works (a failed init is not remembered as the module's fate).
test("audit: slim init() that fails rejects with E_CONFIG and can be tried again", { timeout: 20_000 }, async () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const wasm = join(here, "..", "..", "pkg", "hyperbatch_bg.wasm");
  const r = spawnSync(process.execPath, ["slim-retry.mjs", wasm], { cwd: join(here, "fixtures"), encoding: "utf8", timeout: 15_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split("\n").pop());
  assert.deepEqual(out.results, [2, 3], "init with good bytes after two failures works");
  for (const what of ["notFound", "garbage"]) {
    assert.equal(out[what].error, true, what);
    assert.equal(out[what].code, "E_CONFIG", `${what}: ${out[what].message}`);
  }
  assert.match(out.notFound.message, /404/);
});

// ---------------------------------------------------------------------------------------------
// User callbacks and the library's internals

