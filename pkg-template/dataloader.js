// hyperbatch/dataloader — DataLoader 2.2 (graphql/dataloader, MIT) on the hyperbatch engine.
//
// The public behaviour is DataLoader's, line for line: which loads share a batch (the first load
// of a batch schedules its dispatch with batchScheduleFn; cache hits don't count towards
// maxBatchSize), the promise cache, the error messages. What happens once a batch is due is the
// engine's: each batch's keys are added to a Batcher and flushed at once, so the engine makes the
// call to batchLoadFn (the transport), maps results by position, and, when asked for with the
// extra options, limits concurrency, times calls out, retries and bisects.
//
// Loaders without extra options share one Batcher: a per-request loader (created, used a few
// times, dropped) then costs no engine of its own, so memory stays flat however many are made.
// Without extras a batch is never retried, bisected, limited or timed out, so it is one item of
// that Batcher, which the engine puts in flight at once in a call of its own (startCall: the
// engine admits, counts and starts it; finishCall ends it); the loader makes that call itself
// (one batchLoadFn call: DataLoader's dispatchBatch), and it settles the loads as DataLoader
// does, in the same promise jobs. The engine's work is two calls per batch, not per key: a
// per-key engine item, or a Batch and a promise step per batch, cost more than DataLoader's
// whole load.
// A loader with extras gets a Batcher of its own; with `maxWaitMs` the engine's window replaces
// DataLoader's schedule: loads go straight to the Batcher and it decides when a batch is due.
//
// This module needs only core.js (`Batcher`, and its internal `runnerOf`); each runtime entry
// (dataloader.node.js, …) loads the wasm first.
import { Batcher, runnerOf } from "./core.js";

const ENGINE_MAX_BATCH = 100000; // the engine's largest maxBatchSize
const UNLIMITED = 4294967295; // the engine's largest maxQueued / maxInFlight
const EXTRAS = ["maxWaitMs", "retry", "timeoutMs", "maxInFlight", "bisect", "onBatchStart", "onBatchEnd"];
const CONTRACT = "DataLoader must be constructed with a function which accepts Array<key> and returns Promise<Array<value>>";

// DataLoader's enqueuePostPromiseJob: after the current promise jobs (Node: process.nextTick
// from a resolved promise), else the next macrotask. Chosen once, when the module loads.
// A loader on this default schedule with process.nextTick asks for the same promise job and tick
// with long-lived functions, not a closure per batch (a closure's optimised code is dropped by a
// full GC once its batches are gone; V8 then compiles it again): the tick carries the batch as an
// argument; promise jobs run in the order they were asked for, so each takes the oldest due batch.
// The due batches are a list linked through `nextDue`, not an array: emptying an array (`length =
// 0`) is a runtime call and frees its store, which the next push then grows again, once per batch
// when every tick has one batch (a loader per request).
// `process` read once: in Node, globalThis.process is a getter, which optimised code calls at each
// read. Its nextTick is still read per call, as DataLoader does (fake timers replace it).
const host = typeof process === "object" && process !== null && typeof process.nextTick === "function" ? process : undefined;
const NODE_TICKS = host !== undefined;
let dueFirst = null; // the oldest batch waiting for its promise job
let dueLast = null; // the newest
let resolvedPromise;
/** The promise whose `then` asks for a job after the current ones (made on first use, as DataLoader does). */
function afterPromiseJobs() {
  if (!resolvedPromise) resolvedPromise = Promise.resolve();
  return resolvedPromise;
}
const enqueuePostPromiseJob =
  NODE_TICKS
    ? function (fn) {
      afterPromiseJobs().then(() => {
        host.nextTick(fn);
      });
    }
    : typeof setImmediate === "function"
      ? function (fn) {
        setImmediate(fn);
      }
      : function (fn) {
        setTimeout(fn);
      };

function isArrayLike(x) {
  return typeof x === "object" && x !== null && typeof x.length === "number"
    && (x.length === 0 || (x.length > 0 && Object.prototype.hasOwnProperty.call(x, x.length - 1)));
}

/**
 * Calls batchLoadFn on `loader` (its `this`) as DataLoader 2.2.3 does: `{ promise }`, or
 * `{ error }` (its TypeError) when the function throws or returns no promise.
 */
function callLoadFn(loader, batchLoadFn, keys) {
  let promise;
  try {
    promise = Reflect.apply(batchLoadFn, loader, [keys]);
  } catch (e) {
    return { error: new TypeError(`${CONTRACT}, but the function errored synchronously: ${String(e)}.`) };
  }
  if (!promise || typeof promise.then !== "function") {
    return { error: new TypeError(`${CONTRACT}, but the function did not return a Promise: ${String(promise)}.`) };
  }
  return { promise };
}

/** DataLoader 2.2.3's TypeError for batch values that are not an array of one value per key, else undefined. */
function valuesError(keys, values) {
  if (!isArrayLike(values)) {
    return new TypeError(`${CONTRACT}, but the function did not return a Promise of an Array: ${String(values)}.`);
  }
  if (values.length !== keys.length) {
    return new TypeError(`${CONTRACT}, but the function did not return a Promise of an Array `
      + `of the same length as the Array of keys.\n\nKeys:\n${String(keys)}\n\nValues:\n${String(values)}`);
  }
  return undefined;
}

/** What the engine counts as an item error (core.js `isError`: a tag that throws when read is none). */
function engineSeesError(v) {
  try {
    return v instanceof Error || Object.prototype.toString.call(v) === "[object Error]";
  } catch {
    return false;
  }
}

/** values[0..n), read by index as DataLoader reads them (not `length`, not an iterator). */
function valuesBefore(values, n) {
  return Array.from({ length: n }, (_, i) => values[i]);
}

function noop() {}

function identity(key) {
  return key;
}

// A cache hit's promise: one executor for all (no closure per hit). A `const` arrow, so that
// V8 inlines it where the promise is made (a function declaration measured slower).
let capturedResolve;
const capture = (resolve) => {
  capturedResolve = resolve;
};

// A load's promise: one executor for all, pushing `resolve, reject` into `pairsOf`, the batch's
// flat `callbacks` (no closure and no {resolve, reject} record per load, DataLoader's).
let pairsOf;
const pushPair = (resolve, reject) => {
  pairsOf.push(resolve, reject);
};

function keyError(key) {
  return new TypeError(`The loader.load() function must be called with a value, but got: ${String(key)}.`);
}

/** A cache hit: resolved with its batch's loads, as DataLoader does. */
function cacheHit(batch, cached) {
  const hits = batch.cacheHits || (batch.cacheHits = []);
  const hit = new Promise(capture);
  hits.push(capturedResolve, cached);
  return hit;
}

/**
 * One entry per key that makes the engine settle every load of the batch with `error`, as
 * DataLoader's failedDispatch does: an Error is an item error (the same object reaches every
 * caller); anything else rides in a rejected promise that the caller's promise adopts.
 */
function failEvery(n, error) {
  let entry = error;
  if (!engineSeesError(error)) {
    entry = Promise.reject(error);
    entry.catch(noop);
  }
  return new Array(n).fill(entry);
}

function resolveCacheHits(batch) {
  const hits = batch.cacheHits;
  if (hits === undefined) return;
  batch.cacheHits = undefined;
  for (let i = 0; i < hits.length; i += 2) hits[i](hits[i + 1]);
}

function getValidMaxBatchSize(options) {
  if (options && options.batch === false) return 1;
  const maxBatchSize = options && options.maxBatchSize;
  if (maxBatchSize === undefined) return Infinity;
  if (typeof maxBatchSize !== "number" || maxBatchSize < 1) {
    throw new TypeError(`maxBatchSize must be a positive number: ${maxBatchSize}`);
  }
  return maxBatchSize;
}

function getValidBatchScheduleFn(options) {
  const batchScheduleFn = options && options.batchScheduleFn;
  if (batchScheduleFn === undefined) return enqueuePostPromiseJob;
  if (typeof batchScheduleFn !== "function") {
    throw new TypeError(`batchScheduleFn must be a function: ${batchScheduleFn}`);
  }
  return batchScheduleFn;
}

function getValidCacheKeyFn(options) {
  const cacheKeyFn = options && options.cacheKeyFn;
  if (cacheKeyFn === undefined) return identity;
  if (typeof cacheKeyFn !== "function") throw new TypeError(`cacheKeyFn must be a function: ${cacheKeyFn}`);
  return cacheKeyFn;
}

function getValidCacheMap(options) {
  if (options && options.cache === false) return null;
  const cacheMap = options && options.cacheMap;
  if (cacheMap === undefined) return new Map();
  // Checked only when truthy, as DataLoader's check: a falsy cacheMap (null, false, 0, "") passes, and caches nothing.
  if (cacheMap) {
    const missing = ["get", "set", "delete", "clear"].filter((fn) => typeof cacheMap[fn] !== "function");
    if (missing.length !== 0) throw new TypeError("Custom cacheMap missing methods: " + missing.join(", "));
  }
  return cacheMap;
}

/** The extra options given, as the Batcher takes them; undefined when none is (nothing allocated). */
function extrasOf(options) {
  let given;
  if (options) for (const name of EXTRAS) if (options[name] !== undefined) (given ??= {})[name] = options[name];
  if (given === undefined) return undefined;
  if (given.maxWaitMs !== undefined && options.batchScheduleFn !== undefined) {
    throw Object.assign(new TypeError("hyperbatch/dataloader: give either `maxWaitMs` or `batchScheduleFn`, not both"),
      { code: "E_CONFIG" });
  }
  return given;
}

/** The Batcher's options: DataLoader never retries, bisects or limits concurrency unless asked. */
function batcherOptions(extras, maxBatchSize, transport) {
  const windowed = extras.maxWaitMs !== undefined;
  return {
    transport,
    // NaN (accepted by DataLoader) makes batches of one key there.
    maxBatchSize: windowed ? (isNaN(maxBatchSize) ? 1 : Math.min(ENGINE_MAX_BATCH, Math.ceil(maxBatchSize))) : ENGINE_MAX_BATCH,
    maxWaitMs: 0, // without `maxWaitMs` every batch is flushed as soon as its keys are added
    maxQueued: UNLIMITED,
    maxInFlight: UNLIMITED,
    retry: { maxAttempts: 1, budget: false },
    bisect: false,
    ...extras,
  };
}

class DataLoader {
  #batchLoadFn;
  #maxBatchSize;
  #batchScheduleFn;
  #cacheKeyFn;
  #cacheMap;
  #batch = null; // the batch loads join until it dispatches or fills (DataLoader's `_batch`)
  #batcher; // its own Batcher, when extras are given; else #shared
  #counts; // stats() of a loader on #shared, counted here
  #parked = 0; // keys of full batches not dispatched yet (with the open batch's: stats().queued)
  #windowed; // `maxWaitMs` given: the engine's window decides when a batch goes
  #engineFailures; // retry / timeoutMs / bisect given: a rejected batch is the engine's to handle

  constructor(batchLoadFn, options) {
    if (typeof batchLoadFn !== "function") {
      throw new TypeError(`${CONTRACT}, but got: ${batchLoadFn}.`);
    }
    this.#batchLoadFn = batchLoadFn;
    this.#maxBatchSize = getValidMaxBatchSize(options);
    this.#batchScheduleFn = getValidBatchScheduleFn(options);
    this.#cacheKeyFn = getValidCacheKeyFn(options);
    this.#cacheMap = getValidCacheMap(options);
    this.name = options && options.name ? options.name : null;
    const extras = extrasOf(options);
    this.#windowed = extras !== undefined && extras.maxWaitMs !== undefined;
    this.#engineFailures = extras !== undefined
      && (extras.retry !== undefined || extras.timeoutMs !== undefined || extras.bisect === true);
    if (extras !== undefined) {
      this.#batcher = new Batcher(batcherOptions(extras, this.#maxBatchSize, (batch) => this.#transport(batch.items)));
    } else {
      this.#counts = { queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: 0, items: 0, succeeded: 0, failed: 0,
        retries: 0, bisects: 0, throttled: 0, circuitsOpen: 0 };
    }
  }

  static #shared; // the Runner of the Batcher every loader without extras shares, made on first use

  static #sharedRunner() {
    // Its transport is never called: each of its calls is started by startCall and made by #load.
    DataLoader.#shared ??= runnerOf(new Batcher(batcherOptions({}, Infinity, noop)));
    return DataLoader.#shared;
  }

  // The common path is kept small enough for V8 to inline it into the caller's loop.
  load(key) {
    if (key === null || key === undefined) throw keyError(key);
    if (this.#windowed) return this.#loadWindowed(key);
    let batch = this.#batch;
    // `!(length < max)`, as DataLoader's test reads: a maxBatchSize of NaN makes batches of one key.
    if (batch === null || batch.hasDispatched || !(batch.keys.length < this.#maxBatchSize)) batch = this.#newBatch();
    const cacheMap = this.#cacheMap;
    let cacheKey;
    if (cacheMap) {
      cacheKey = this.#cacheKeyFn(key);
      const cached = cacheMap.get(cacheKey);
      if (cached) return cacheHit(batch, cached);
    }
    batch.keys.push(key);
    // Its `resolve` and `reject` kept, as DataLoader's: a load settles in the promise job
    // DataLoader's would, an Error value's too (keeping only `resolve` and rejecting through a
    // thenable, as core.js does, measured no faster here and settled errors a job later).
    const callbacks = batch.callbacks;
    if (pairsOf !== callbacks) pairsOf = callbacks; // written once per batch: an old module slot
    const promise = new Promise(pushPair);
    if (cacheMap) cacheMap.set(cacheKey, promise);
    return promise;
  }

  /** A load when the engine's window decides when a batch goes (`maxWaitMs`). */
  #loadWindowed(key) {
    const cacheMap = this.#cacheMap;
    let cacheKey;
    if (cacheMap) {
      cacheKey = this.#cacheKeyFn(key);
      const cached = cacheMap.get(cacheKey);
      if (cached) return new Promise((resolve) => resolve(cached));
    }
    const promise = this.#send(key);
    if (cacheMap) cacheMap.set(cacheKey, promise);
    return promise;
  }

  loadMany(keys) {
    if (!isArrayLike(keys)) {
      throw new TypeError(`The loader.loadMany() function must be called with Array<key> but got: ${keys}.`);
    }
    const loads = [];
    for (let i = 0; i < keys.length; i++) loads.push(this.load(keys[i]).catch((error) => error));
    return Promise.all(loads);
  }

  clear(key) {
    const cacheMap = this.#cacheMap;
    if (cacheMap) cacheMap.delete(this.#cacheKeyFn(key));
    return this;
  }

  clearAll() {
    const cacheMap = this.#cacheMap;
    if (cacheMap) cacheMap.clear();
    return this;
  }

  prime(key, value) {
    const cacheMap = this.#cacheMap;
    if (cacheMap) {
      const cacheKey = this.#cacheKeyFn(key);
      if (cacheMap.get(cacheKey) === undefined) {
        let promise;
        if (value instanceof Error) {
          promise = Promise.reject(value);
          // Priming an error is intentional: only a load of it may be an unhandled rejection.
          promise.catch(noop);
        } else {
          promise = Promise.resolve(value);
        }
        cacheMap.set(cacheKey, promise);
      }
    }
    return this;
  }

  /** The engine's counters, as `Batcher.stats()`. */
  stats() {
    // Keys wait in the batches not dispatched yet (counted here, not per load), with extras too
    // (under DataLoader's schedule their keys reach the Batcher when their batch dispatches).
    const open = this.#batch, s = this.#batcher !== undefined ? this.#batcher.stats() : { ...this.#counts };
    s.queued += this.#parked + (open !== null && !open.hasDispatched ? open.keys.length : 0);
    return s;
  }

  /** DataLoader's getCurrentBatch when the open batch is gone or full: a new one whose dispatch is scheduled. */
  #newBatch() {
    const full = this.#batch;
    if (full !== null && !full.hasDispatched) this.#parked += full.keys.length; // it takes no more keys
    const batch = { hasDispatched: false, keys: [], callbacks: [], cacheHits: undefined, loader: this, call: 0,
      answered: false, readThrew: false, nextDue: null };
    this.#batch = batch;
    if (NODE_TICKS && this.#batchScheduleFn === enqueuePostPromiseJob) {
      if (dueLast === null) dueFirst = batch;
      else dueLast.nextDue = batch;
      dueLast = batch;
      afterPromiseJobs().then(DataLoader.#postJob);
    } else {
      // A custom batchScheduleFn; or a timer (no process.nextTick): `setTimeout(fn, undefined,
      // batch)` measured slower in Chromium than DataLoader's closure (facade, cache off 0.54-0.69x
      // against 0.78-0.88x).
      this.#batchScheduleFn(() => {
        this.#dispatch(batch);
      });
    }
    return batch;
  }

  /** enqueuePostPromiseJob's promise job, for the oldest due batch: its tick. */
  static #postJob() {
    const batch = dueFirst;
    dueFirst = batch.nextDue;
    if (dueFirst === null) dueLast = null;
    batch.nextDue = null;
    host.nextTick(DataLoader.#dispatchDue, batch);
  }

  /** The batch's tick has come. */
  static #dispatchDue(batch) {
    batch.loader.#dispatch(batch);
  }

  /** The batch is due: the engine starts its call now (batchLoadFn is called synchronously). */
  #dispatch(batch) {
    const again = batch.hasDispatched; // a batchScheduleFn that calls back twice: dispatched twice, as in DataLoader
    batch.hasDispatched = true;
    if (this.#batch === batch) this.#batch = null; // a long-lived loader keeps no settled batch
    else if (!again) this.#parked -= batch.keys.length;
    if (pairsOf === batch.callbacks) pairsOf = undefined; // no load joins it now: don't keep its promises
    const keys = batch.keys;
    if (keys.length === 0) {
      resolveCacheHits(batch);
      return;
    }
    const engine = this.#batcher;
    if (engine === undefined) {
      // The whole batch is one engine item in a call of its own; #load makes it.
      const shared = DataLoader.#sharedRunner();
      let call;
      try {
        call = shared.startCall();
      } catch (error) {
        this.#failedDispatch(batch, error, undefined, undefined, 0); // not reached: the shared Batcher has no limits
        return;
      }
      // Dispatched again: a call of its own, with its own record of it (the first call's, still
      // in flight, must end too), over the same keys and loads.
      this.#load(again ? { ...batch, answered: false, readThrew: false } : batch, shared, call);
      return;
    }
    // Each load takes the first answer to settle: a batch dispatched again (a batchScheduleFn
    // that calls back twice) is sent again, and, as in DataLoader, its load settles with whichever
    // call answers first; a load that joined after a first dispatch that found the batch empty (a
    // batchScheduleFn calling back at once) settles with the second.
    const callbacks = batch.callbacks;
    for (let i = 0; i < keys.length; i++) this.#send(keys[i]).then(callbacks[2 * i], callbacks[2 * i + 1]);
    const flushed = engine.flush();
    if (batch.cacheHits !== undefined) flushed.then(() => resolveCacheHits(batch));
  }

  /**
   * DataLoader's dispatchBatch, as the call `call` of the shared Runner: one batchLoadFn call, its
   * checks, cache hits resolved first, an Error value rejecting its load only. Ends the engine's
   * call once the loads are settled.
   */
  #load(batch, shared, call) {
    const counts = this.#counts, keys = batch.keys, loads = keys.length;
    counts.batches++;
    counts.items += loads;
    const { promise: batchPromise, error } = callLoadFn(this, this.#batchLoadFn, keys);
    if (error !== undefined) {
      this.#failedDispatch(batch, error, shared, call, 0);
      return;
    }
    counts.inFlightBatches++;
    counts.inFlightItems += loads; // not keys.length: batchLoadFn may have changed the array it was given
    batch.call = call;
    // DataLoader's `.then(…).catch(…)`, its handlers bound to the batch rather than closures made
    // per batch: a closure's optimised code is dropped by a full GC once its batches are settled
    // (the feedback vector holds it weakly), so each GC made V8 compile the settle loop again; a
    // bound function runs the one long-lived #settle, whose code stays.
    batchPromise.then(DataLoader.#settle.bind(batch)).catch(DataLoader.#settleFailed.bind(batch));
  }

  /**
   * The batch's values (`this` is the batch): cache hits first, then each load, in order. Loads
   * are counted by their callbacks, as DataLoader steps through them: a batchLoadFn that pushes to
   * or pops from its keys array changes the length check, not which loads settle.
   */
  static #settle(values) {
    const batch = this, loader = batch.loader, counts = loader.#counts, callbacks = batch.callbacks, loads = callbacks.length >> 1;
    batch.answered = true;
    counts.inFlightBatches--;
    counts.inFlightItems -= loads;
    const wrong = valuesError(batch.keys, values);
    if (wrong !== undefined) throw wrong;
    resolveCacheHits(batch);
    let i = 0, failed = 0;
    try {
      for (; i < loads; i++) {
        const value = values[i];
        if (value instanceof Error) {
          failed++;
          callbacks[2 * i + 1](value);
        } else {
          callbacks[2 * i](value);
        }
      }
    } catch (error) {
      // A value that throws when read: DataLoader has settled the loads before it, and
      // failedDispatch rejects the rest.
      batch.readThrew = true;
      counts.failed += failed;
      counts.succeeded += i - failed;
      loader.#failedDispatch(batch, error, DataLoader.#shared, batch.call, i);
      return;
    }
    counts.failed += failed;
    counts.succeeded += loads - failed;
    DataLoader.#shared.finishCall(batch.call);
  }

  /** The batch function rejected, or its values were wrong (`this` is the batch). */
  static #settleFailed(error) {
    const batch = this, loader = batch.loader;
    if (batch.readThrew) throw error; // the cacheKeyFn threw while failing the batch: unhandled, as in DataLoader
    if (!batch.answered) {
      const counts = loader.#counts;
      counts.inFlightBatches--;
      counts.inFlightItems -= batch.callbacks.length >> 1;
    }
    loader.#failedDispatch(batch, error, DataLoader.#shared, batch.call, 0);
  }

  /**
   * DataLoader's failedDispatch: cache hits resolve, the batch's keys leave the cache, its loads
   * from `from` on reject. Then the engine's call (if any) ends: settled by the loader, it
   * succeeded. A cacheKeyFn that throws here, or a batchLoadFn that changed the length of its
   * keys array (DataLoader then leaves loads pending, or throws), still lets every load settle.
   */
  #failedDispatch(batch, error, shared, call, from) {
    const keys = batch.keys, callbacks = batch.callbacks, loads = callbacks.length >> 1;
    try {
      resolveCacheHits(batch);
      for (let i = 0; i < keys.length; i++) this.clear(keys[i]);
    } finally {
      for (let i = from; i < loads; i++) callbacks[2 * i + 1](error);
      this.#counts.failed += loads - from;
      if (shared !== undefined) shared.finishCall(call);
    }
  }

  /** A load in a loader with its own Batcher (`maxWaitMs`, or retries to unwrap). */
  #send(key) {
    const added = this.#batcher.add(key);
    if (!this.#engineFailures) return added;
    return added.then(undefined, (error) => {
      // A batch that failed after the engine's retries: forget its keys as DataLoader does, and
      // give the caller what batchLoadFn rejected with, not the engine's wrapper.
      if (error !== null && typeof error === "object") {
        if (error.code === "E_TRANSPORT" || error.code === "E_TIMEOUT") this.#forget([key]);
        if (error.code === "E_TRANSPORT" && "cause" in error) throw error.cause;
      }
      throw error;
    });
  }

  /** The Batcher's transport (a loader with extras): DataLoader's dispatchBatch around one batchLoadFn call. */
  #transport(keys) {
    const loads = keys.length; // batchLoadFn may change its keys array: the engine still waits for this many entries
    const { promise: batchPromise, error } = callLoadFn(this, this.#batchLoadFn, keys);
    if (error !== undefined) return this.#failed(keys, error, 0, loads);
    return Promise.resolve(batchPromise).then(
      (values) => this.#entries(keys, values, loads),
      (error) => {
        if (this.#engineFailures) throw error; // retried, timed out or bisected by the engine
        return this.#failed(keys, error, 0, loads);
      },
    );
  }

  /**
   * The engine's entries for batchLoadFn's values, each read once, as DataLoader's `.then` reads
   * them: an `instanceof Error` fails its load. Values the engine would read otherwise go in a
   * copy: an Error of another realm (an item error to the engine, a value to DataLoader), a hole
   * (undefined to DataLoader, no entry to the engine), an array-like's. When reading throws, the
   * loads before keep their values and DataLoader's failedDispatch fails the rest. `loads` entries
   * (one per load, values[i] as DataLoader reads it), though batchLoadFn may have pushed to or
   * popped from `keys`, whose length the values must match.
   */
  #entries(keys, values, loads) {
    let entries = values, i = 0;
    try {
      const wrong = valuesError(keys, values);
      if (wrong !== undefined) throw wrong;
      const resized = keys.length !== loads;
      for (; i < loads; i++) {
        const v = values[i];
        const entry = v !== null && typeof v === "object" && !(v instanceof Error) && engineSeesError(v) ? Promise.resolve(v) : v;
        if (entries === values && (entry !== v || resized || !Array.isArray(values) || (v === undefined && !(i in values)))) {
          entries = valuesBefore(values, i);
        }
        if (entries !== values) entries[i] = entry;
      }
      return entries;
    } catch (error) {
      if (entries === values) entries = valuesBefore(values, i);
      return entries.concat(this.#failed(keys, error, i, loads));
    }
  }

  /** DataLoader's failedDispatch: the batch's keys leave the cache and its `loads` from `from` on reject. */
  #failed(keys, error, from, loads) {
    this.#forget(keys);
    return failEvery(loads - from, error);
  }

  /**
   * Clears `keys` from the cache. A cacheKeyFn or cacheMap that throws here leaves the loads their
   * batch's outcome and its error unhandled, as a loader without extras does (#failedDispatch).
   */
  #forget(keys) {
    try {
      for (let i = 0; i < keys.length; i++) this.clear(keys[i]);
    } catch (error) {
      Promise.reject(error);
    }
  }
}

// DataLoader's methods are enumerable (assigned to its prototype, not declared in a class): a
// program that lists them (`for…in`, Object.keys(DataLoader.prototype)) sees the same five, in
// DataLoader's order (re-added in it: a minifier may reorder a class's methods).
for (const method of ["load", "loadMany", "clear", "clearAll", "prime"]) {
  const fn = DataLoader.prototype[method];
  delete DataLoader.prototype[method];
  Object.defineProperty(DataLoader.prototype, method, { value: fn, writable: true, enumerable: true, configurable: true });
}

export { DataLoader, DataLoader as default };
