// The portable checks of `hyperbatch/dataloader` (the DataLoader 2.2 drop-in of the contract),
// run in every runtime next to contract.js: Node ESM and CJS, Deno, Bun, workerd, and Chromium
// on a plain page and through Vite.
//
// Plain ESM with no imports and no host API beyond timers, promises and Date. Usage:
//
//   import * as dataloader from "hyperbatch/dataloader";
//   import { dataloaderChecks } from "./dataloader-contract.js";
//   for (const { name, fn } of dataloaderChecks(dataloader, assert)) test(name, fn);
//
// `mod` is `{ default, DataLoader }` as the host loaded them (the ESM namespace, or for
// `require` the class with its `.DataLoader`). `assert` is as in contract.js (ok, equal,
// deepEqual, fail). Hosts without a test runner use `runDataloaderChecks`.
import { runEach } from "./contract.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A batchLoadFn that records each call's keys and answers `respond(keys)` (default: "v:" + key). */
function recorder(respond = (keys) => keys.map((k) => `v:${k}`)) {
  const calls = [];
  const batchLoadFn = async (keys) => {
    calls.push([...keys]);
    return respond(keys);
  };
  return { calls, batchLoadFn };
}

/** Settles a promise into `{ ok, value | reason }` without rejecting. */
const settle = (p) => p.then((value) => ({ ok: true, value }), (reason) => ({ ok: false, reason }));

export function dataloaderChecks(mod, assert) {
  const DataLoader = mod && mod.default;
  const list = [];
  const check = (name, fn) => list.push({ name: `dataloader: ${name}`, fn });

  check("the default and the named export are the same class", async () => {
    assert.equal(typeof DataLoader, "function", "default export is not a function");
    assert.equal(mod.DataLoader, DataLoader, "named export DataLoader is not the default export");
    const loader = new DataLoader(async (keys) => keys);
    assert.ok(loader instanceof DataLoader);
    assert.equal(await loader.load(7), 7);
  });

  check("loads made in the same tick share one batchLoadFn call, results in key order", async () => {
    const { calls, batchLoadFn } = recorder();
    const loader = new DataLoader(batchLoadFn);
    const values = await Promise.all([loader.load(1), loader.load(2), loader.load(3)]);
    assert.deepEqual(values, ["v:1", "v:2", "v:3"]);
    assert.deepEqual(calls, [[1, 2, 3]]);
  });

  check("loads made in later promise jobs of the same tick join the batch", async () => {
    const { calls, batchLoadFn } = recorder();
    const loader = new DataLoader(batchLoadFn);
    const a = loader.load("a");
    await Promise.resolve();
    const b = loader.load("b");
    const c = Promise.resolve().then(() => Promise.resolve()).then(() => loader.load("c"));
    assert.deepEqual(await Promise.all([a, b, c]), ["v:a", "v:b", "v:c"]);
    assert.deepEqual(calls, [["a", "b", "c"]]);
    // A load after the batch went out starts a new one.
    assert.equal(await loader.load("d"), "v:d");
    assert.deepEqual(calls, [["a", "b", "c"], ["d"]]);
  });

  check("maxBatchSize splits a tick's loads into batches of at most that many keys", async () => {
    const { calls, batchLoadFn } = recorder();
    const loader = new DataLoader(batchLoadFn, { maxBatchSize: 2 });
    const values = await Promise.all([1, 2, 3, 4, 5].map((k) => loader.load(k)));
    assert.deepEqual(values, ["v:1", "v:2", "v:3", "v:4", "v:5"]);
    assert.deepEqual(calls, [[1, 2], [3, 4], [5]]);
  });

  // DataLoader 2.2 memoizes the first load's promise (the cacheMap holds it); a cache hit returns
  // a new promise that adopts it, so hits keep their place in the batch's schedule.
  check("a cache hit is served from the memoized promise and sends the key once", async () => {
    const { calls, batchLoadFn } = recorder();
    const cacheMap = new Map();
    const loader = new DataLoader(batchLoadFn, { cacheMap });
    const p1 = loader.load("k");
    assert.equal(cacheMap.get("k"), p1, "the cacheMap does not hold the first load's promise");
    const p2 = loader.load("k");
    assert.deepEqual(await Promise.all([p1, p2]), ["v:k", "v:k"]);
    assert.equal(cacheMap.get("k"), p1, "a cache hit replaced the memoized promise");
    assert.equal(await loader.load("k"), "v:k");
    assert.deepEqual(calls, [["k"]]);
    // cache: false: every load is a new promise, and every key is sent.
    const r = recorder();
    const uncached = new DataLoader(r.batchLoadFn, { cache: false });
    const u1 = uncached.load("k");
    const u2 = uncached.load("k");
    assert.ok(u1 !== u2);
    assert.deepEqual(await Promise.all([u1, u2]), ["v:k", "v:k"]);
    assert.deepEqual(r.calls, [["k", "k"]]);
  });

  check("prime fills the cache without a call (never overwrites); clear and clearAll forget", async () => {
    const { calls, batchLoadFn } = recorder();
    const loader = new DataLoader(batchLoadFn);
    assert.equal(loader.prime("p", "primed"), loader, "prime() does not return the loader");
    assert.equal(await loader.load("p"), "primed");
    assert.deepEqual(calls, [], "a primed key was sent");
    loader.prime("p", "other");
    assert.equal(await loader.load("p"), "primed", "prime overwrote a cached key");
    assert.equal(loader.clear("p"), loader, "clear() does not return the loader");
    assert.equal(await loader.load("p"), "v:p");
    assert.deepEqual(calls, [["p"]]);
    await Promise.all([loader.load("x"), loader.load("y")]);
    assert.equal(loader.clearAll(), loader, "clearAll() does not return the loader");
    assert.deepEqual(await Promise.all([loader.load("x"), loader.load("p")]), ["v:x", "v:p"]);
    assert.deepEqual(calls, [["p"], ["x", "y"], ["x", "p"]]);
    // prime with an Error caches a rejection.
    const err = new Error("primed failure");
    loader.prime("e", err);
    const out = await settle(loader.load("e"));
    assert.equal(out.ok, false);
    assert.equal(out.reason, err);
  });

  check("an Error entry rejects only its own load, and that rejection is cached", async () => {
    const bad = new Error("no such key");
    const { calls, batchLoadFn } = recorder((keys) => keys.map((k) => (k === 2 ? bad : `v:${k}`)));
    const loader = new DataLoader(batchLoadFn);
    const outs = await Promise.all([1, 2, 3].map((k) => settle(loader.load(k))));
    assert.deepEqual(outs.map((o) => o.ok), [true, false, true]);
    assert.deepEqual([outs[0].value, outs[2].value], ["v:1", "v:3"]);
    assert.equal(outs[1].reason, bad, "the load did not reject with the batchLoadFn's own Error");
    const again = await settle(loader.load(2));
    assert.equal(again.reason, bad);
    assert.deepEqual(calls, [[1, 2, 3]], "a cached rejection was sent again");
  });

  check("a result of the wrong length rejects every load of the batch with a TypeError", async () => {
    const { calls, batchLoadFn } = recorder((keys) => keys.slice(1).map((k) => `v:${k}`));
    const loader = new DataLoader(batchLoadFn);
    const outs = await Promise.all(["a", "b", "c"].map((k) => settle(loader.load(k))));
    assert.deepEqual(calls, [["a", "b", "c"]]);
    for (const o of outs) {
      assert.equal(o.ok, false, "a load of a wrong-length batch fulfilled");
      assert.ok(o.reason instanceof TypeError, `not a TypeError: ${o.reason}`);
      assert.ok(/same length/.test(o.reason.message), o.reason.message);
    }
    // A batchLoadFn that rejects rejects every load of its batch with its error.
    const boom = new Error("backend down");
    const failing = new DataLoader(async () => {
      throw boom;
    });
    const fails = await Promise.all([settle(failing.load(1)), settle(failing.load(2))]);
    assert.deepEqual(fails.map((o) => o.reason), [boom, boom]);
  });

  check("maxWaitMs (an extra) batches loads made across ticks", async () => {
    const { calls, batchLoadFn } = recorder();
    const loader = new DataLoader(batchLoadFn, { maxWaitMs: 5 });
    const a = loader.load(1);
    await new Promise((resolve) => setTimeout(resolve, 0)); // a later macrotask, inside the window
    const b = loader.load(2);
    assert.deepEqual(await Promise.all([a, b]), ["v:1", "v:2"]); // no flush: the window's timer sends
    assert.deepEqual(calls, [[1, 2]]);
    // Without maxWaitMs the same two loads are two batches (DataLoader's schedule).
    const r = recorder();
    const plain = new DataLoader(r.batchLoadFn);
    const c = plain.load(1);
    await sleep(0);
    const d = plain.load(2);
    await Promise.all([c, d]);
    assert.deepEqual(r.calls, [[1], [2]]);
  });

  check("stats() counts batches and items, settled and failed", async () => {
    const loader = new DataLoader(async (keys) => keys.map((k) => (k < 0 ? new Error(`bad ${k}`) : k * 2)));
    const zero = loader.stats();
    assert.deepEqual([zero.batches, zero.items, zero.succeeded, zero.failed], [0, 0, 0, 0]);
    await Promise.all([1, 2, -3].map((k) => settle(loader.load(k))));
    await loader.load(4);
    await loader.load(1); // a cache hit: no item
    const s = loader.stats();
    assert.deepEqual(
      { batches: s.batches, items: s.items, succeeded: s.succeeded, failed: s.failed, queued: s.queued },
      { batches: 2, items: 4, succeeded: 3, failed: 1, queued: 0 },
    );
    // A loader with extras has a Batcher of its own and counts the same way.
    const extra = new DataLoader(async (keys) => keys, { maxWaitMs: 1, maxInFlight: 2 });
    await Promise.all([extra.load(1), extra.load(2)]);
    const e = extra.stats();
    assert.deepEqual([e.batches, e.items, e.succeeded, e.failed], [1, 2, 2, 0]);
  });

  check("stats().queued counts keys waiting for their dispatch, with and without extras (audit11)", async () => {
    for (const extra of [{}, { retry: { maxAttempts: 2 } }, { maxInFlight: 2 }]) {
      const scheduled = [];
      const loader = new DataLoader(async (keys) => keys, { maxBatchSize: 2, batchScheduleFn: (fn) => scheduled.push(fn), ...extra });
      const loads = [1, 2, 3].map((k) => loader.load(k));
      assert.equal(loader.stats().queued, 3, JSON.stringify(extra));
      for (const fn of scheduled.splice(0)) fn();
      assert.deepEqual(await Promise.all(loads), [1, 2, 3]);
      assert.equal(loader.stats().queued, 0, JSON.stringify(extra));
    }
  });

  // ---------------------------------------------------------------------- hostile callers
  // As DataLoader 2.2 answers them, with and without the extras that put a Batcher behind the loader.
  const variants = [["plain", {}], ["maxWaitMs", { maxWaitMs: 1 }], ["retry", { retry: { maxAttempts: 1 } }]];

  check("hostile: a batch function rejecting with non-Errors rejects every load with that very value, and forgets the keys", async () => {
    const values = [["null", null], ["undefined", undefined], ["a string", "down"], ["a Symbol", Symbol("down")], ["an object", { message: "x" }]];
    for (const [variant, extra] of variants) {
      for (const [what, v] of values) {
        let calls = 0;
        const loader = new DataLoader(async (keys) => {
          calls++;
          if (calls === 1) throw v;
          return keys;
        }, extra);
        const outs = await Promise.all([settle(loader.load(1)), settle(loader.load(2))]);
        for (const o of outs) {
          assert.equal(o.ok, false, `${variant}, ${what}: a load fulfilled`);
          assert.ok(o.reason === v, `${variant}, ${what}: rejected with ${String(o.reason)}`);
        }
        assert.equal(await loader.load(1), 1, `${variant}, ${what}: a failed key is loaded again`);
        assert.equal(calls, 2, `${variant}, ${what}: calls`);
      }
    }
  });

  check("hostile: a batch function that throws synchronously (a non-Error too) or returns no promise rejects every load with a TypeError", async () => {
    const fns = [
      ["throws an Error", () => { throw new Error("sync"); }],
      ["throws null", () => { throw null; }],
      ["returns an array", (keys) => keys],
      ["returns undefined", () => undefined],
    ];
    for (const [variant, extra] of variants) {
      for (const [what, fn] of fns) {
        const loader = new DataLoader(fn, extra);
        const outs = await Promise.all([settle(loader.load("a")), settle(loader.load("b"))]);
        for (const o of outs) {
          assert.equal(o.ok, false, `${variant}, ${what}: a load fulfilled`);
          assert.ok(o.reason instanceof TypeError, `${variant}, ${what}: not a TypeError: ${String(o.reason)}`);
        }
      }
    }
  });

  check("hostile: values that are not an array of one per key reject every load with a TypeError; only Error values reject their own load", async () => {
    const answers = [["null", () => null], ["an object", () => ({})], ["a string", () => "ab"], ["longer", (keys) => [...keys, "extra"]],
      ["sparse, its last entry missing", (keys) => new Array(keys.length)]]; // DataLoader's isArrayLike wants the last index
    for (const [variant, extra] of variants) {
      for (const [what, answer] of answers) {
        const loader = new DataLoader(async (keys) => answer(keys), extra);
        const outs = await Promise.all([settle(loader.load("a")), settle(loader.load("b"))]);
        for (const o of outs) {
          assert.equal(o.ok, false, `${variant}, ${what}: a load fulfilled`);
          assert.ok(o.reason instanceof TypeError, `${variant}, ${what}: not a TypeError: ${String(o.reason)}`);
        }
      }
      const bad = new RangeError("out of range");
      const errorLike = { message: "not an Error" };
      const loader = new DataLoader(async () => [bad, errorLike, null, undefined], extra);
      const outs = await Promise.all([1, 2, 3, 4].map((k) => settle(loader.load(k))));
      assert.ok(!outs[0].ok && outs[0].reason === bad, `${variant}: an Error subclass rejects its load`);
      assert.ok(outs[1].ok && outs[1].value === errorLike, `${variant}: an object that is not an Error is a value`);
      assert.deepEqual(outs.slice(2).map((o) => [o.ok, o.value]), [[true, null], [true, undefined]], variant);
      const holey = new DataLoader(async () => Object.assign(["a"], { 2: "c" }), extra); // index 1 is a hole
      const got = await Promise.all([1, 2, 3].map((k) => settle(holey.load(k))));
      assert.deepEqual(got.map((o) => [o.ok, o.value]), [[true, "a"], [true, undefined], [true, "c"]], `${variant}: a hole before the last entry`);
    }
  });

  check("hostile: a value that throws when read: the loads before it keep their values, the rest reject with what was thrown, every key is forgotten (audit13)", async () => {
    for (const [variant, extra] of [...variants, ["maxInFlight", { maxInFlight: 4 }]]) {
      const thrown = new Error("getter failed");
      let calls = 0;
      const loader = new DataLoader(async (keys) => {
        calls++;
        return Object.defineProperty(keys.map((k) => `v:${k}`), 1, { get: () => { throw thrown; } });
      }, extra);
      const outs = await Promise.all(["a", "b", "c"].map((k) => settle(loader.load(k))));
      assert.deepEqual(outs.map((o) => o.ok), [true, false, false], variant);
      assert.equal(outs[0].value, "v:a", variant);
      assert.ok(outs[1].reason === thrown && outs[2].reason === thrown, `${variant}: rejected with ${String(outs[1].reason)}`);
      await settle(loader.load("a"));
      assert.equal(calls, 2, `${variant}: one call, then the forgotten key again`);
    }
  });

  check("hostile: a cacheKeyFn that throws makes load, loadMany, prime and clear throw it synchronously; other keys are unaffected", async () => {
    const thrown = new Error("cacheKeyFn failed");
    for (const [variant, extra] of variants) {
      const { calls, batchLoadFn } = recorder();
      const loader = new DataLoader(batchLoadFn, { ...extra, cacheKeyFn: (k) => { if (k === "bad") throw thrown; return k; } });
      const ok = loader.load("good");
      for (const [what, call] of [
        ["load", () => loader.load("bad")], ["loadMany", () => loader.loadMany(["good", "bad"])],
        ["prime", () => loader.prime("bad", 1)], ["clear", () => loader.clear("bad")],
      ]) {
        let caught;
        try {
          call();
        } catch (e) {
          caught = e;
        }
        assert.ok(caught === thrown, `${variant}: ${what} did not throw the cacheKeyFn's error synchronously`);
      }
      assert.equal(await ok, "v:good", variant);
      assert.deepEqual(calls.flat().filter((k) => k === "bad"), [], `${variant}: the bad key was sent`);
    }
  });

  check("hostile: load(null | undefined) and loadMany(non-array) throw a TypeError synchronously; the batch function gets the loader as this", async () => {
    for (const [variant, extra] of variants) {
      let self;
      const loader = new DataLoader(async function (keys) {
        self = this;
        return keys;
      }, extra);
      for (const [what, call] of [["load(null)", () => loader.load(null)], ["load(undefined)", () => loader.load(undefined)],
        ["loadMany(5)", () => loader.loadMany(5)], ["loadMany(null)", () => loader.loadMany(null)]]) {
        let caught;
        try {
          call();
        } catch (e) {
          caught = e;
        }
        assert.ok(caught instanceof TypeError, `${variant}: ${what} did not throw a TypeError synchronously`);
      }
      assert.equal(await loader.load(0), 0, `${variant}: a falsy key is a key`);
      assert.ok(self === loader, `${variant}: the batch function's this`);
    }
  });

  return list;
}

/** Runs the checks one by one; returns `[{ name, ok, error?, ms }]` (JSON-able), as contract.js's runChecks. */
export function runDataloaderChecks(mod, assert, { timeoutMs = 10_000 } = {}) {
  return runEach(dataloaderChecks(mod, assert), timeoutMs);
}
