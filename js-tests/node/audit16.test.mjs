// The sixteenth audit from outside: ordinary and hostile use of the public API, one test per
// defect found by probing the built package (the earlier rounds: audit.test.mjs, audit10..15).
// Each asserts what the contract says or, where it is silent, what a user of DataLoader, the
// Fetch API and AbortSignal would expect.
import assert from "node:assert/strict";
import { Batcher, FAST_RETRY, LONG, httpError, open, recorder, settled, test, track, waitFor } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// Retry: "`err.retryAfterMs` (or a `Retry-After` header on `err.response`) is a floor on the
// delay". HTTP header names are case-insensitive (a fetch `Headers` finds "Retry-After" under
// any spelling); a plain object of headers written by hand, or by a client that keeps the
// server's spelling, has it as "Retry-After", which was read as no header at all. And the
// header's value is delay-seconds (RFC 9110: digits) or an HTTP date (each of its three forms
// has an hh:mm:ss): "0x3c" and "Infinity" are neither, but read as a number through Number(),
// and Date.parse guesses a date in "soon 2030", so each held the retry for maxRetryAfterMs.

test("audit16: a Retry-After header in a plain object is found whatever the spelling of its name", async (t) => {
  for (const name of ["Retry-After", "RETRY-AFTER", "retry-after"]) {
    const { calls, transport } = recorder((batch, i) => {
      if (i === 0) throw httpError(503, { response: { status: 503, headers: { "Content-Type": "text/plain", [name]: "1" } } });
      return batch.items.map((x) => `r:${x}`);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: { ...FAST_RETRY, maxRetryAfterMs: 300 } });
    const p = track(b.add("x"));
    await b.flush();
    assert.equal(p.value, "r:x");
    // 1 s clamped to 300 ms; without the header the delay is 1 ms.
    const gap = calls[1].at - calls[0].at;
    assert.ok(gap >= 250, `${name}: retried after ${gap} ms, expected the 300 ms floor`);
    await b.close();
  }
});

test("audit16: a Retry-After value that is neither digits nor an HTTP date is no floor", async (t) => {
  // Each was read as 60 s or more: a floor that held the retry for maxRetryAfterMs (60 s).
  for (const value of ["0x3c", "Infinity", "soon 2030", "x 3000"]) {
    const { calls, transport } = recorder((batch, i) => {
      if (i === 0) throw httpError(503, { response: { status: 503, headers: new Headers({ "Retry-After": value }) } });
      return batch.items.map((x) => `r:${x}`);
    });
    const b = open(t, { transport, maxWaitMs: LONG, retry: FAST_RETRY });
    const p = track(b.add("x"));
    b.flush();
    await waitFor(() => settled(p), `the retry after a Retry-After of ${JSON.stringify(value)}`, 8000);
    assert.equal(p.value, "r:x");
    await b.close();
  }
});

// ---------------------------------------------------------------------------------------------
// AddOptions `signal`: "rejects the item with `E_ABORTED` ... and removes it from its queue if
// not yet sent". A signal aborted while `add` itself was running (by the `keyOf`, `weigh` or
// `dedupeBy` it calls) went unheard: the aborted check came before those calls and the listener
// after them, so the item was sent and fulfilled.

for (const option of ["keyOf", "weigh", "dedupeBy"]) {
  test(`audit16: a signal aborted by ${option} during add rejects the item with E_ABORTED; it is never sent`, async (t) => {
    const controller = new AbortController();
    const { calls, transport } = recorder();
    const b = open(t, {
      transport,
      maxWaitMs: 0,
      [option]: () => {
        controller.abort("changed my mind");
        return option === "weigh" ? 1 : "k";
      },
    });
    const p = track(b.add("x", { signal: controller.signal }));
    await b.flush();
    await waitFor(() => settled(p), "the add to settle");
    assert.equal(p.status, "rejected");
    assert.equal(p.reason.code, "E_ABORTED");
    assert.equal(p.reason.name, "AbortError");
    assert.equal(p.reason.cause, "changed my mind");
    assert.equal(calls.length, 0, "an aborted item is never sent");
    await b.close();
    const s = b.stats();
    assert.equal(s.items, s.succeeded + s.failed);
  });
}

// ---------------------------------------------------------------------------------------------
// AddOptions `signal`, as Fetch's RequestInit has it (`signal: AbortSignal | null`): `null` is no
// signal, so `add(item, { signal: request.signal ?? null })` works as `fetch` does with it. It
// was refused with E_CONFIG "must be an AbortSignal".

test("audit16: add with signal null works as with no signal, as fetch(url, { signal: null }) does", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  assert.deepEqual(await Promise.all([b.add(1, { signal: null }), b.add(2, { signal: null, deadline: Date.now() + LONG })]), ["r:1", "r:2"]);
  assert.deepEqual(calls.map((c) => c.items), [[1, 2]]);
  const settledAll = await b.addMany([3, 4], { signal: null });
  assert.deepEqual(settledAll.map((s) => s.value), ["r:3", "r:4"]);
});
