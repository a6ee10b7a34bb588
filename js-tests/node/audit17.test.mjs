// The seventeenth audit from outside: ordinary and hostile use of the public API, one test per
// defect found by probing the built package (the earlier rounds: audit.test.mjs, audit10..16b).
// Each asserts what the contract says or, where it is silent, what a user of DataLoader, the
// Fetch API and AbortSignal would expect.
import assert from "node:assert/strict";
import { FAST_RETRY, LONG, assertCode, open, settled, sleep, stats, test, track } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// Result entries that are promises: `transport: (batch) => batch.items.map(async (x) => …)`, a
// transport that forgot its Promise.all. The caller adopted each entry (resolving a promise with
// a promise), but the engine had counted every item as succeeded when the array came back: an
// entry that rejected was a rejected caller counted in `succeeded` (and in onBatchEnd's), and
// an entry that never settled left its caller pending forever, after close() had resolved and
// past timeoutMs. The contract: "every accepted item settles exactly once: no ... forever-pending
// promise, whatever the transport does (... hangs past timeoutMs, returns garbage)", and
// "close() drops nothing". Now the call ends when its entries have settled, as if the transport
// had awaited them: a rejection fails its item with the reason as is (an Error's `retryable`
// retries it alone), and timeoutMs still bounds the call.

test("audit17: entries that are promises settle their callers as adopted, and the stats and hooks count them so", async (t) => {
  const ends = [];
  const reason = new Error("no such user");
  const value = new Error("a value");
  const b = open(t, {
    maxWaitMs: LONG,
    transport: (batch) => batch.items.map(async (x) => {
      await sleep(5);
      if (x === 2) throw reason;
      if (x === 3) throw "a string";
      if (x === 4) return value; // an Error the promise fulfils with: its caller adopts it as a value
      return `r:${x}`;
    }),
    onBatchEnd: (info) => ends.push(info),
  });
  const [p1, p2, p3, p4] = [1, 2, 3, 4].map((x) => track(b.add(x)));
  await b.flush();
  assert.equal(p1.value, "r:1");
  assert.equal(p2.reason, reason, "the rejection reason reaches its caller as the same object");
  assert.equal(p3.reason, "a string", "a non-Error reason too");
  assert.equal(p4.value, value, "a promise fulfilled with an Error gives its caller that value, as adopting it does");
  assert.deepEqual(stats(b, ["succeeded", "failed", "items"]), { succeeded: 2, failed: 2, items: 4 });
  assert.equal(ends.length, 1);
  assert.deepEqual([ends[0].succeeded, ends[0].failed], [2, 2], "onBatchEnd counts the items as they settled");
  assert.equal(ends[0].results.length, 4);
  assert.ok(ends[0].results.every((r) => r instanceof Promise), "info.results is the array the transport returned");
});

test("audit17: a promise entry that never settles fails at timeoutMs, and close() waits for it", async (t) => {
  const b = open(t, {
    maxWaitMs: 0,
    timeoutMs: 40,
    retry: { maxAttempts: 1 },
    transport: (batch) => batch.items.map((x) => (x === "hang" ? new Promise(() => {}) : Promise.resolve(`r:${x}`))),
  });
  const ok = track(b.add("a"));
  const hung = track(b.add("hang"));
  await b.close();
  assert.ok(settled(hung), "close() resolved with a caller still pending");
  assert.equal(ok.status, "rejected", "the call timed out as a whole");
  assertCode(hung.reason, "E_TIMEOUT");
  assert.deepEqual(stats(b, ["succeeded", "failed"]), { succeeded: 0, failed: 2 });
});

test("audit17: a promise entry that rejects with a retryable error is retried alone", async (t) => {
  const sends = [];
  const b = open(t, {
    maxWaitMs: 0,
    retry: FAST_RETRY,
    transport: (batch) => {
      sends.push([...batch.items]);
      return batch.items.map(async (x) => {
        if (x === "flaky" && sends.length === 1) throw Object.assign(new Error("busy"), { retryable: true });
        return `r:${x}`;
      });
    },
  });
  const r = await b.addMany(["a", "flaky"]);
  assert.deepEqual(r.map((x) => x.value), ["r:a", "r:flaky"]);
  assert.deepEqual(sends, [["a", "flaky"], ["flaky"]]);
  assert.deepEqual(stats(b, ["succeeded", "failed", "retries"]), { succeeded: 2, failed: 0, retries: 1 });
});

test("audit17: promise entries beside values, Errors and an entry whose then getter throws: each settles as its own", async (t) => {
  const thenThrows = { get then() { throw new Error("then getter"); } };
  const itemError = new Error("item");
  const entries = [Promise.resolve("a"), thenThrows, itemError, 7, { then: (ok) => ok("thenable") }, null];
  const b = open(t, { maxWaitMs: 0, transport: (batch) => batch.items.map((i) => entries[i]) });
  const r = await b.addMany(entries.map((_, i) => i));
  assert.equal(r[0].value, "a");
  assertCode(r[1].reason, "E_RESULT_SHAPE", "an entry whose then getter throws:");
  assert.equal(r[2].reason, itemError, "an Error entry beside promises is still an item error");
  assert.deepEqual([r[3].value, r[4].value, r[5].value], [7, "thenable", null]);
  assert.deepEqual(stats(b, ["succeeded", "failed"]), { succeeded: 4, failed: 2 });
});

// ---------------------------------------------------------------------------------------------
// "Unknown option names and out-of-range values ... E_CONFIG whose message names the option." A
// `keyOf` that returns null (or an object) rejected the add with "option `key` must be a string
// or a number", `option` = "key", and a `weigh` that returns undefined with "option `weight`":
// names of AddOptions the caller never passed. The message and `option` now name the function
// that returned the value; a key or weight given in AddOptions is still named as such.

test("audit17: a bad key from keyOf or weight from weigh names keyOf or weigh, not the AddOptions", async (t) => {
  const b = open(t, { maxWaitMs: 0, keyOf: (x) => x.k, weigh: (x) => x.w ?? 1, transport: (batch) => batch.items });
  const cases = [
    [{ k: null }, undefined, "keyOf", TypeError, /keyOf.*null/],
    [{ k: {} }, undefined, "keyOf", TypeError, /keyOf.*object/],
    [{ k: NaN }, undefined, "keyOf", RangeError, /keyOf.*NaN/],
    [{ w: "3" }, undefined, "weigh", TypeError, /weigh.*string/],
    [{ w: -1 }, undefined, "weigh", RangeError, /weigh.*-1/],
    [{}, { key: null }, "key", TypeError, /`key`.*null/],
    [{}, { weight: -1 }, "weight", RangeError, /`weight`.*-1/],
  ];
  for (const [item, opts, option, Ctor, message] of cases) {
    const err = await b.add(item, opts).then(() => assert.fail("accepted"), (e) => e);
    assertCode(err, "E_CONFIG");
    assert.equal(err.option, option, err.message);
    assert.ok(err instanceof Ctor, `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, message);
  }
  const item = { k: "a" };
  assert.equal(await b.add(item), item, "a good add after the refusals");
});

// ---------------------------------------------------------------------------------------------
// Found by the JS-face fuzzer once it learnt promise entries (js-tests/fuzz/, fuzz17). An answer
// the batcher does not use (it came after timeoutMs had failed the call, or it is of the wrong
// shape) was dropped unread, so its entries that reject were unhandled rejections, which end a
// Node process, though the caller had long been told (E_TIMEOUT, E_RESULT_SHAPE). The transport's
// own late rejection was already handled; a promise entry handed over is now so too.

test("audit17: promise entries of an answer the call does not use (after timeoutMs, of the wrong shape) are no unhandled rejections", async (t) => {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  t.after(() => process.off("unhandledRejection", onUnhandled));
  const late = open(t, {
    maxWaitMs: 0,
    timeoutMs: 10,
    retry: { maxAttempts: 1 },
    transport: async (batch) => {
      await sleep(30);
      return batch.items.map(async () => {
        throw new Error("late entry");
      });
    },
  });
  const timedOut = await late.add("a").then(() => assert.fail("fulfilled"), (e) => e);
  assertCode(timedOut, "E_TIMEOUT");
  const short = open(t, {
    maxWaitMs: 0,
    retry: { maxAttempts: 1 },
    transport: (batch) => [...batch.items, "extra"].map(() => Promise.reject(new Error("entry of a long answer"))),
  });
  const shape = await short.add("b").then(() => assert.fail("fulfilled"), (e) => e);
  assertCode(shape, "E_RESULT_SHAPE");
  await sleep(60);
  assert.deepEqual(unhandled.map((e) => e?.message), []);
});
