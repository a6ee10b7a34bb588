// flushOnHide — the contract's "Page hide": in browsers, hiding the page sends every queue at
// once as keepalive calls; every other call carries keepalive false; without a document the
// option does nothing; close() removes the listeners. (Chromium runs the real thing:
// js-tests/runtimes/browser/flush-on-hide.test.mjs.) Here a stand-in document and window
// (EventTargets) play the browser.
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { Batcher, LONG, assertCode, fakePage, macrotask, open, sleep, test } from "./_helpers.mjs";

function recording(t, options) {
  const calls = [];
  const b = open(t, { ...options, transport: (batch) => (calls.push({ items: [...batch.items], keepalive: batch.keepalive }), batch.items) });
  return { b, calls };
}

test("flushOnHide without a document: accepted and inert; every call carries keepalive false", async (t) => {
  assert.equal(globalThis.document, undefined);
  const { b, calls } = recording(t, { flushOnHide: true, maxWaitMs: 5 });
  assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [1, 2]);
  assert.deepEqual(calls, [{ items: [1, 2], keepalive: false }]);
});

test("ordinary calls carry keepalive false (flushOnHide off)", async (t) => {
  const { b, calls } = recording(t, { maxWaitMs: 0 });
  await b.add(1);
  assert.equal(calls[0].keepalive, false);
});

test("flushOnHide must be a boolean", () => {
  assert.throws(() => new Batcher({ transport: (b) => b.items, flushOnHide: "yes" }), (err) => {
    assertCode(err, "E_CONFIG");
    assert.ok(err instanceof TypeError && /flushOnHide/.test(err.message), err.message);
    return true;
  });
});

test("flushOnHide with a document: visibilitychange to hidden sends every queue as keepalive calls", async (t) => {
  const { document } = fakePage(t);
  const { b, calls } = recording(t, { flushOnHide: true, maxWaitMs: LONG, keyOf: (i) => i.k });
  const ps = [b.add({ k: "a", id: 1 }), b.add({ k: "b", id: 2 })];
  document.dispatchEvent(new Event("visibilitychange")); // still visible: nothing
  await sleep(5);
  assert.deepEqual(calls, []);
  document.visibilityState = "hidden";
  document.dispatchEvent(new Event("visibilitychange"));
  assert.deepEqual(calls.map((c) => [c.items.map((i) => i.id), c.keepalive]), [[[1], true], [[2], true]],
    "sent at once, before the event handler returns");
  await Promise.all(ps);
  // Later calls are ordinary again.
  document.visibilityState = "visible";
  b.add({ k: "a", id: 3 });
  await b.flush();
  assert.deepEqual(calls[2], { items: [{ k: "a", id: 3 }], keepalive: false });
});

test("flushOnHide with a window: pagehide sends every queue as keepalive calls", async (t) => {
  const { window } = fakePage(t);
  const { b, calls } = recording(t, { flushOnHide: true, maxWaitMs: LONG });
  const p = b.add(1);
  window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(calls, [{ items: [1], keepalive: true }]);
  assert.equal(await p, 1);
});

test("flushOnHide off: hiding the page sends nothing", async (t) => {
  const { document } = fakePage(t);
  const { b, calls } = recording(t, { maxWaitMs: LONG });
  b.add(1);
  document.visibilityState = "hidden";
  document.dispatchEvent(new Event("visibilitychange"));
  await macrotask();
  assert.deepEqual(calls, []);
  await b.flush();
});

test("close() removes the listeners: a hide after close (and after the engine is freed) does nothing", async (t) => {
  const { document, window } = fakePage(t);
  let removed = 0;
  for (const target of [document, window]) {
    const remove = target.removeEventListener.bind(target);
    target.removeEventListener = (...args) => (removed++, remove(...args));
  }
  const { b, calls } = recording(t, { flushOnHide: true, maxWaitMs: LONG });
  await Promise.all([b.add(1), b.close()]);
  assert.equal(removed, 2, "visibilitychange and pagehide");
  assert.deepEqual([getEventListeners(document, "visibilitychange").length, getEventListeners(window, "pagehide").length], [0, 0]);
  document.visibilityState = "hidden";
  document.dispatchEvent(new Event("visibilitychange"));
  window.dispatchEvent(new Event("pagehide"));
  assert.deepEqual(calls, [{ items: [1], keepalive: false }], "close's flush is not a page hide");
});
