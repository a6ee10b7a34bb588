// Shared helpers for the `node --test` suites (not a test file: the name matches no test pattern).
// Everything here reads the public API only, exactly as the contract writes it.
import assert from "node:assert/strict";
import nodeTest from "node:test";
import { Batcher } from "hyperbatch";

export { Batcher };

/**
 * `node:test`'s test() with a default timeout, so that a batcher that never settles something
 * fails its test instead of hanging the run.
 */
export function test(name, options, fn) {
  if (typeof options === "function") [options, fn] = [{}, options];
  return nodeTest(name, { timeout: 20_000, ...options }, fn);
}

/** A maxWaitMs that never fires within a test: dispatch then comes from size, weight or flush(). */
export const LONG = 60_000;

/** Retry options for quick, exact tests: tiny delays, no jitter. */
export const FAST_RETRY = Object.freeze({ baseDelayMs: 1, maxDelayMs: 5, jitter: "none" });

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves after every pending microtask has run (and before any timer of >= 1 ms). */
export const macrotask = () => new Promise((resolve) => setImmediate(resolve));

export const now = () => performance.now();

export function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The label an item carries: the item itself for primitives, `item.id` for objects. */
export const label = (item) => (item !== null && typeof item === "object" ? item.id : item);

/** The default transport answer: entry i is derived from items[i] only, so mix-ups show. */
export const echo = (item) => `r:${label(item)}`;

/**
 * Watches a promise without awaiting it (and so without unhandled rejections).
 * `status` is "pending" until it settles; `count` says how many times a handler ran.
 */
export function track(promise) {
  assert.equal(typeof promise?.then, "function", "add()/addMany() must return a promise");
  const s = { status: "pending", value: undefined, reason: undefined, at: undefined, count: 0 };
  promise.then(
    (value) => Object.assign(s, { status: "fulfilled", value, at: now(), count: s.count + 1 }),
    (reason) => Object.assign(s, { status: "rejected", reason, at: now(), count: s.count + 1 }),
  );
  return s;
}

export const settled = (s) => s.status !== "pending";

/** Polls (every ~1 ms) until `predicate()` holds; fails the test after `timeoutMs`. */
export async function waitFor(predicate, what = "condition", timeoutMs = 5000) {
  const end = now() + timeoutMs;
  while (!predicate()) {
    if (now() > end) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

/**
 * A transport that records every call (a snapshot of the batch's fields, read one by one) and
 * answers with `respond(batch, index, call)`; the default answers `echo(item)` per item.
 */
export function recorder(respond = (batch) => batch.items.map(echo)) {
  const calls = [];
  const transport = async (batch) => {
    const call = {
      id: batch.id,
      key: batch.key,
      items: [...batch.items],
      attempt: batch.attempt,
      deadline: batch.deadline,
      signal: batch.signal,
      at: now(),
    };
    calls.push(call);
    return respond(batch, calls.length - 1, call);
  };
  return { calls, transport };
}

/** Creates a batcher that is closed when the test ends, even if an assertion failed first. */
export function open(t, options) {
  const b = new Batcher(options);
  // bounded, so that a close() that never resolves cannot hang the run after a failure
  t.after(() => Promise.race([b.close(), new Promise((r) => setTimeout(r, 2000).unref())]));
  return b;
}

/** Asserts `err` is an Error made by the library with the given string code. */
export function assertCode(err, code, message = "") {
  assert.ok(err instanceof Error, `${message} expected an Error with code ${code}, got ${String(err)}`);
  assert.equal(typeof err.code, "string", `${message} error.code must be a string`);
  assert.equal(err.code, code, `${message} ${err.message}`);
}

/** Awaits a promise that must reject with `code`; returns the error for further checks. */
export async function rejectsWith(promise, code, message = "") {
  assert.equal(typeof promise?.then, "function", "expected a promise");
  let error;
  await assert.rejects(promise, (e) => {
    error = e;
    return true;
  });
  assertCode(error, code, message);
  return error;
}

/** An error as an HTTP client would throw it. */
export const httpError = (status, extra = {}) =>
  Object.assign(new Error(`HTTP ${status}`), { status }, extra);

/** An item error the transport returns for one item, asking for that item to be retried. */
export const retryable = (message = "try again", extra = {}) =>
  Object.assign(new Error(message), { retryable: true }, extra);

export const STAT_KEYS = Object.freeze([
  "queued",
  "inFlightBatches",
  "inFlightItems",
  "batches",
  "items",
  "succeeded",
  "failed",
  "retries",
  "bisects",
  "throttled",
  "circuitsOpen",
]);

/** Reads the named fields of `b.stats()` one by one (works for plain objects and getters). */
export function stats(b, keys = STAT_KEYS) {
  const s = b.stats();
  return Object.fromEntries(keys.map((k) => [k, s[k]]));
}

/** Asserts the given subset of stats. */
export function assertStats(b, expected, message = "stats") {
  assert.deepEqual(stats(b, Object.keys(expected)), expected, message);
}

/** Items of the recorded calls, sorted, for comparing batches whose order is not defined. */
export const sortedBatches = (calls) =>
  calls.map((c) => JSON.stringify(c.items)).sort();

/** A stand-in document and window (EventTargets) for the duration of one test (flushOnHide). */
export function fakePage(t) {
  const document = new EventTarget();
  document.visibilityState = "visible";
  const window = new EventTarget();
  globalThis.document = document;
  globalThis.window = window;
  t.after(() => {
    delete globalThis.document;
    delete globalThis.window;
  });
  return { document, window };
}
