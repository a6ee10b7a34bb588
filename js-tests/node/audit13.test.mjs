// The thirteenth audit from outside: hyperbatch/dataloader given extra options (each "off unless
// given, with their Batcher meaning", so everything else stays DataLoader 2.2.3's), and the 0.2
// additions on the Batcher. One test per defect found by probing the built package against npm
// dataloader@2.2.3; the expected behaviour is DataLoader's, read from its index.js (cited).
import assert from "node:assert/strict";
import vm from "node:vm";
import DataLoader from "hyperbatch/dataloader";
import { test, macrotask } from "./_helpers.mjs";

/** Extra options that must not change what DataLoader does with values and failures. */
const EXTRAS = [{ maxInFlight: 4 }, { retry: { maxAttempts: 2, baseDelayMs: 1 } }, { timeoutMs: 5000 }, { bisect: true }, { maxWaitMs: 1 }];

const outcome = (p) => p.then((v) => ["ok", v], (e) => ["rejected", e]);

// DataLoader rejects a load only for `value instanceof Error`; an Error made in another realm (a
// vm context, an iframe, Jest's sandbox around Node's fetch) is a value there, and so is an object
// whose Symbol.toStringTag getter throws (DataLoader never reads it). With extras the facade
// recursed on the first until the stack overflowed, and the second failed the whole call, every
// load of the batch rejecting.
test("audit13: dataloader with extras: an Error from another realm, or an object whose tag throws, is a value, as DataLoader's instanceof reads it", async () => {
  const foreign = vm.runInNewContext("new Error('from another realm')");
  const tagThrows = new Proxy({}, {
    get: (target, prop) => {
      if (prop === Symbol.toStringTag) throw new Error("tag");
      return undefined;
    },
  });
  for (const extra of EXTRAS) {
    for (const [what, odd] of [["another realm's Error", foreign], ["a throwing tag", tagThrows]]) {
      const l = new DataLoader(async (keys) => keys.map((k) => (k === "x" ? odd : `v${k}`)), extra);
      const [a, x] = await Promise.all([outcome(l.load("a")), outcome(l.load("x"))]);
      const label = `${JSON.stringify(extra)}, ${what}`;
      assert.deepEqual(a, ["ok", "va"], label);
      assert.equal(x[0], "ok", `${label}: ${x[1] instanceof Error ? x[1].message : "rejected"}`);
      assert.ok(x[1] === odd, label);
    }
  }
});

// DataLoader reads `values.length` and then `values[i]` in its `.then`; whatever throws there goes
// to its `.catch` → failedDispatch: the loads before the throwing value keep their values, the
// rest reject with what was thrown (as it is), and every key of the batch leaves the cache. With
// extras the facade's loads all rejected, wrapped in E_TRANSPORT and still cached (or, with
// retry, the call was made again).
test("audit13: dataloader with extras: a batch value that throws when read fails the loads from it on with that error and forgets every key", async () => {
  for (const extra of EXTRAS) {
    for (const throwing of ["1", "length"]) {
      const boom = new Error(`reading ${throwing}`);
      let calls = 0;
      const l = new DataLoader(async (keys) => {
        calls++;
        return new Proxy(keys.map((k) => `v${k}`), {
          get: (target, prop, receiver) => {
            if (prop === throwing) throw boom;
            return Reflect.get(target, prop, receiver);
          },
        });
      }, extra);
      const what = `${JSON.stringify(extra)}, ${throwing}`;
      const got = await Promise.all(["a", "b", "c"].map((k) => outcome(l.load(k))));
      const before = throwing === "1" ? [["ok", "va"]] : [];
      assert.deepEqual(got, [...before, ...Array(3 - before.length).fill(["rejected", boom])], what);
      assert.equal(calls, 1, `${what}: one call, as DataLoader makes`);
      await l.load("a").catch(() => {});
      assert.equal(calls, 2, `${what}: the key was forgotten`);
    }
  }
});

// A batchScheduleFn that calls back twice makes DataLoader dispatch the batch twice; the second
// answer settles nothing (its loads are settled) and leaves no unhandled rejection behind. With
// extras the facade's second dispatch left one rejected promise per failing key unhandled (node:test
// fails a test on an unhandled rejection).
test("audit13: dataloader with extras: a batchScheduleFn calling back twice leaves no unhandled rejection", async () => {
  for (const extra of EXTRAS.filter((e) => e.maxWaitMs === undefined)) {
    const calls = [];
    const l = new DataLoader(async (keys) => {
      calls.push([...keys]);
      return keys.map((k) => (k === 2 ? new Error("two") : k));
    }, { ...extra, batchScheduleFn: (fn) => setTimeout(() => { fn(); fn(); }) });
    const got = await Promise.all([1, 2].map((k) => outcome(l.load(k))));
    assert.deepEqual(got.map(([s, v]) => [s, v instanceof Error ? v.message : v]), [["ok", 1], ["rejected", "two"]]);
    for (let i = 0; i < 3; i++) await macrotask();
    assert.deepEqual(calls, [[1, 2], [1, 2]], JSON.stringify(extra));
  }
});
