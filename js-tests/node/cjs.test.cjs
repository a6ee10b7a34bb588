// CommonJS: `require("hyperbatch")` — the contract "Package" ("`require("hyperbatch")` from
// CommonJS too"). The same API as the ESM entry, loaded synchronously.
"use strict";
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { Batcher } = require("hyperbatch");

const echo = (x) => `r:${x}`;

function recorder() {
  const calls = [];
  const transport = async (batch) => {
    calls.push({ key: batch.key, items: [...batch.items], attempt: batch.attempt });
    return batch.items.map((x) => (x === "bad" ? new Error("bad item") : echo(x)));
  };
  return { calls, transport };
}

test("require('hyperbatch') returns the Batcher class synchronously", () => {
  assert.equal(typeof Batcher, "function");
  const b = new Batcher({ transport: async (batch) => batch.items });
  assert.equal(typeof b.add, "function");
  assert.equal(typeof b.addMany, "function");
  assert.equal(typeof b.flush, "function");
  assert.equal(typeof b.close, "function");
  assert.equal(typeof b.stats, "function");
  assert.equal(typeof b[Symbol.asyncDispose], "function");
  return b.close();
});

test("CommonJS: add + flush sends one batch and maps results by position", async () => {
  const { calls, transport } = recorder();
  const b = new Batcher({ transport, maxWaitMs: 60_000 });
  const ps = ["a", "b", "c"].map((x) => b.add(x));
  assert.equal(calls.length, 0);
  await b.flush();
  assert.deepEqual(await Promise.all(ps), ["r:a", "r:b", "r:c"]);
  // The default queue's batch.key is not stated by the contract; keyed batches are checked below.
  assert.deepEqual(calls.map((c) => [c.items, c.attempt]), [[["a", "b", "c"], 1]]);
  const s = b.stats();
  assert.deepEqual([s.batches, s.items, s.succeeded, s.failed], [1, 3, 3, 0]);
  await b.close();
});

test("CommonJS: batch.key is the keyOf key (or AddOptions.key) of the queue it came from", async () => {
  const { calls, transport } = recorder();
  const b = new Batcher({ transport, maxWaitMs: 60_000, keyOf: (x) => (x.startsWith("a") ? "shard-a" : 7) });
  const ps = [b.add("a1"), b.add("b1"), b.add("a2"), b.add("c1", { key: "other" })];
  await b.flush();
  assert.deepEqual(await Promise.all(ps), ["r:a1", "r:b1", "r:a2", "r:c1"]);
  const byKey = new Map(calls.map((c) => [c.key, c.items]));
  assert.equal(calls.length, 3);
  assert.deepEqual(byKey.get("shard-a"), ["a1", "a2"]);
  assert.deepEqual(byKey.get(7), ["b1"], "a number key reaches the transport as that number");
  assert.deepEqual(byKey.get("other"), ["c1"]);
  await b.close();
});

test("CommonJS: addMany, item errors and a size flush", async () => {
  const { calls, transport } = recorder();
  const b = new Batcher({ transport, maxWaitMs: 60_000, maxBatchSize: 2 });
  const many = b.addMany(["x", "bad"]);
  const res = await many; // maxBatchSize 2 dispatches without flush()
  assert.equal(res[0].status, "fulfilled");
  assert.equal(res[0].value, "r:x");
  assert.equal(res[1].status, "rejected");
  assert.equal(res[1].reason.message, "bad item");
  assert.deepEqual(calls.map((c) => c.items), [["x", "bad"]]);
  await b.close();
});

test("CommonJS: errors carry codes (E_CONFIG from the constructor, E_CLOSED after close)", async () => {
  assert.throws(() => new Batcher({ transport: async (batch) => batch.items, maxBatchSize: 0 }), (e) => {
    assert.equal(e.code, "E_CONFIG");
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /maxBatchSize/);
    return true;
  });
  const b = new Batcher({ transport: async (batch) => batch.items });
  await b.close();
  await assert.rejects(b.add(1), (e) => e instanceof Error && e.code === "E_CLOSED");
});

// hyperbatch/slim from CommonJS (audit16b): slim.js has no top-level await, so Node 20.19+'s
// require of ESM loads it, and its types have a .d.cts twin (js-tests/runtimes/typescript).
test("CommonJS: require('hyperbatch/slim') gives init and a Batcher that works once init resolved", async () => {
  const { readFileSync } = require("node:fs");
  const slim = require("hyperbatch/slim");
  assert.deepEqual(Object.keys(slim).sort(), ["Batcher", "init"]);
  await slim.init(readFileSync(require.resolve("hyperbatch/hyperbatch_bg.wasm")));
  const b = new slim.Batcher({ transport: async (batch) => batch.items.map(echo) });
  assert.equal(await b.add("x"), "r:x");
  await b.close();
});
