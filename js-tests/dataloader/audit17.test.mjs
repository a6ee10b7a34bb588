// Audit 17 (aud17b): where hyperbatch/dataloader still differed from DataLoader 2.2.3, each
// checked against the npm `dataloader` on the same program (calls, outcomes, order of settling).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import Hyper from "hyperbatch/dataloader";

const Upstream = createRequire(import.meta.url)("dataloader");
const macrotask = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Hyper with `extras` on every loader (a loader that owns a Batcher), or Hyper itself. */
function withExtras(extras) {
  if (extras === undefined) return Hyper;
  return class DataLoader extends Hyper {
    constructor(batchLoadFn, options) {
      super(batchLoadFn, { ...extras, ...options });
    }
  };
}
const FLAVOURS = [undefined, { maxInFlight: 1000 }, { retry: { maxAttempts: 1 } }];

/**
 * Runs `program(DataLoader, log, track)` and returns what it logged: batchLoadFn calls and each
 * tracked load's outcome, in the order they happened; then how many tracked loads never settled.
 */
async function observe(DataLoader, program) {
  const log = [];
  let tracked = 0, settled = 0;
  const track = (name, promise) => {
    tracked++;
    promise.then((v) => log.push(`${name}=${v}`), (e) => log.push(`${name}!${e instanceof Error ? e.message : e}`))
      .finally(() => settled++);
  };
  await program(DataLoader, log, track);
  for (let i = 0; i < 4; i++) await macrotask();
  log.push(`pending ${tracked - settled}`);
  return log;
}

async function sameAsDataLoader(program, flavours = FLAVOURS) {
  const expected = await observe(Upstream, program);
  for (const extras of flavours) {
    const actual = await observe(withExtras(extras), program);
    // With extras, loads settle later than DataLoader's (through the engine): compare the sets.
    if (extras === undefined) assert.deepEqual(actual, expected, "without extras");
    else assert.deepEqual([...actual].sort(), [...expected].sort(), `extras ${JSON.stringify(extras)}`);
  }
  return expected;
}

test("a falsy cacheMap (false, 0, \"\") is accepted and caches nothing, as DataLoader's check lets it through", async () => {
  for (const cacheMap of [false, 0, ""]) {
    const expected = await sameAsDataLoader(async (DataLoader, log, track) => {
      const loader = new DataLoader((keys) => {
        log.push(`call ${keys}`);
        return Promise.resolve(keys.map((k) => `v${k}`));
      }, { cacheMap });
      track("a", loader.load(1));
      track("b", loader.load(1));
      loader.prime(2, "primed").clear(1).clearAll();
      track("c", loader.load(2));
    });
    assert.deepEqual(expected, ["call 1,1,2", "a=v1", "b=v1", "c=v2", "pending 0"], `cacheMap ${JSON.stringify(cacheMap)}`);
  }
});

test("DataLoader's five methods are enumerable, in its order: Object.keys(prototype) and for…in list them", () => {
  const listed = (Base, DataLoader = Base) => {
    const loader = new DataLoader(async (keys) => keys, { name: "n" });
    const forIn = [];
    for (const key in loader) if (!key.startsWith("_")) forIn.push(key); // DataLoader's own `_batch`, … are private
    return { proto: Object.keys(Base.prototype), forIn };
  };
  const expected = listed(Upstream);
  assert.deepEqual(expected, { proto: ["load", "loadMany", "clear", "clearAll", "prime"], forIn: ["name", "load", "loadMany", "clear", "clearAll", "prime"] });
  for (const extras of FLAVOURS) assert.deepEqual(listed(Hyper, withExtras(extras)), expected, JSON.stringify(extras));
  // Still methods of the class: a subclass overrides them, and they are not own properties of a loader.
  assert.equal(Object.hasOwn(new Hyper(async (k) => k), "load"), false);
});

