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

test("a batchLoadFn that pushes to or pops from its keys array: every load settles as DataLoader's does", async () => {
  // DataLoader checks the values' length against the keys array as batchLoadFn left it, and
  // steps through its loads: a popped key's load gets values[n] (undefined), a pushed one is ignored.
  const expected = await sameAsDataLoader(async (DataLoader, log, track) => {
    const shrinks = new DataLoader((keys) => {
      keys.pop();
      return Promise.resolve(keys.map((k) => `v${k}`));
    });
    track("p1", shrinks.load(1));
    track("p2", shrinks.load(2));
    const grows = new DataLoader((keys) => {
      keys.push(99);
      return Promise.resolve(keys.map((k) => `v${k}`));
    });
    track("q1", grows.load(1));
    track("q2", grows.load(2));
    const sorts = new DataLoader((keys) => {
      keys.sort((x, y) => y - x);
      return Promise.resolve(keys.map((k) => `v${k}`));
    });
    track("s1", sorts.load(1));
    track("s3", sorts.load(3));
  });
  assert.deepEqual(expected, ["p1=v1", "p2=undefined", "q1=v1", "q2=v2", "s1=v3", "s3=v1", "pending 0"]);
});

test("a batchLoadFn that changes its keys' length and fails: every load rejects (DataLoader leaves a popped key's load pending)", async () => {
  const program = async (DataLoader, log, track) => {
    const shrinks = new DataLoader((keys) => {
      keys.pop();
      return Promise.reject(new Error("down"));
    });
    track("p1", shrinks.load(1));
    track("p2", shrinks.load(2));
    const wrong = new DataLoader((keys) => {
      keys.pop();
      return Promise.resolve([]); // the wrong length even for the shortened keys
    });
    track("w1", wrong.load(1));
    track("w2", wrong.load(2));
  };
  const upstream = await observe(Upstream, program);
  assert.equal(upstream.at(-1), "pending 2");
  for (const extras of FLAVOURS) {
    const log = await observe(withExtras(extras), program);
    assert.equal(log.at(-1), "pending 0", JSON.stringify(extras));
    assert.deepEqual(log.filter((e) => e.startsWith("p")).sort(), ["p1!down", "p2!down", "pending 0"], JSON.stringify(extras));
    assert.equal(log.filter((e) => e.startsWith("w") && e.includes("!DataLoader must be constructed")).length, 2, JSON.stringify(extras));
  }
  // Without extras the loader's counters come back to rest.
  const loader = new Hyper((keys) => {
    keys.pop();
    return Promise.resolve(keys);
  });
  await Promise.all([loader.load(1), loader.load(2), loader.load(3)]);
  const { inFlightBatches, inFlightItems, succeeded, failed } = loader.stats();
  assert.deepEqual({ inFlightBatches, inFlightItems, succeeded, failed }, { inFlightBatches: 0, inFlightItems: 0, succeeded: 3, failed: 0 });
});

test("a batchScheduleFn that calls back at once, then again later: the loads settle on the second call, with extras too", async () => {
  // The first call dispatches the batch while it is empty (the first load has not joined yet);
  // DataLoader's second call dispatches it again, now with its keys, and settles them.
  const expected = await sameAsDataLoader(async (DataLoader, log, track) => {
    const loader = new DataLoader((keys) => {
      log.push(`call ${keys}`);
      return Promise.resolve(keys.map((k) => `v${k}`));
    }, {
      batchScheduleFn: (dispatch) => {
        dispatch();
        setTimeout(dispatch, 2);
      },
    });
    loader.prime(5, "p5");
    track("a", loader.load(1));
    track("b", loader.load(2));
    track("hit", loader.load(5));
    await sleep(10);
  });
  assert.deepEqual(expected, ["call 1", "a=v1", "call 2", "b=v2", "hit=p5", "pending 0"]);
});

test("a batchScheduleFn that calls back twice: each load settles with whichever call answers first, as in DataLoader, with extras too", async () => {
  const expected = await sameAsDataLoader(async (DataLoader, log, track) => {
    let calls = 0;
    const loader = new DataLoader((keys) => {
      const call = ++calls;
      log.push(`call ${call}: ${keys}`);
      const values = keys.map((k) => (k === 3 && call === 2 ? new Error(`e${k}@${call}`) : `v${k}@${call}`));
      return call === 1 ? sleep(5).then(() => values) : Promise.resolve(values); // the second answers first
    }, {
      batchScheduleFn: (dispatch) => {
        setImmediate(dispatch);
        setImmediate(dispatch);
      },
    });
    track("a", loader.load(1));
    track("b", loader.load(3));
    await sleep(15);
  });
  assert.deepEqual(expected, ["call 1: 1,3", "call 2: 1,3", "a=v1@2", "b!e3@2", "pending 0"]);
});
