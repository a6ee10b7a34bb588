// hyperbatch — the JS face of the wasm engine.
//
// Policy lives in the Rust engine (src/engine): when a queue flushes, retries, bisect, budget,
// backpressure. This file only does what must happen in JS: it keeps each caller's promise and
// item value (by the numeric id the engine gives), calls the transport and hooks, arms the one
// host timer at the engine's next wake-up, and turns engine outcomes into the contract's errors.
// Only numbers cross the boundary; outputs are read from one Float64Array view per drain.
//
// This module has no imports: each runtime entry loads the wasm its own way, then calls
// setBindings(). The build derives core.cjs from it for `require`.

// Output tags and codes: the wire format of src/wasm/mod.rs.
const TICK = 0, DISPATCH = 1, ROUTE = 2, SETTLE = 3, RELEASE = 4, TIMED_OUT = 5;
const BATCH_END = 6, ADMITTED = 7, KEY_RELEASED = 8, FLUSHED = 9, ABANDONED = 10, TURN_END = 11, SUCCEEDED = 12;
const CODES = ["E_CONFIG", "E_CLOSED", "E_FULL", "E_TOO_LARGE", "E_ABORTED", "E_DEADLINE", "E_TIMEOUT",
  "E_TRANSPORT", "E_RESULT_SHAPE", "E_FAIL_FAST", "E_ATOMIC", "E_ROUTE"];
const UNROUTED = 0, DEFAULT_KEY = 1;
const MAX_TIMER_MS = 2147483647;
const RESERVE_MAX = 1024; // the most ids Core.reserve hands out (src/wasm/mod.rs)

// Options: name → [index in the numeric vector the engine decodes (src/wasm/mod.rs), kind].
// Kinds: "n" number, "n?" number or null, "b" boolean, an array: one of those strings,
// FN a function, FLAG a boolean the face reads itself (no index), or a nested table.
const FN = "function", FLAG = "flag";
const BUDGET = { maxTokens: [17, "n"], tokenRatio: [18, "n"] };
const RETRY = {
  maxAttempts: [10, "n"], baseDelayMs: [11, "n"], maxDelayMs: [12, "n"], multiplier: [13, "n"],
  jitter: [14, ["full", "equal", "none"]], maxRetryAfterMs: [15, "n"], classify: FN, budget: BUDGET,
};
const OPTIONS = {
  transport: FN, maxBatchSize: [0, "n"], maxWaitMs: [1, "n"], maxBatchWeight: [2, "n?"], weigh: FN, keyOf: FN,
  resolveKeys: FN, dedupeBy: FN, maxQueued: [3, "n"], whenFull: [4, ["reject", "wait"]], maxInFlight: [5, "n"],
  maxInFlightPerKey: [6, "n?"], timeoutMs: [7, "n?"], errorMode: [8, ["partial", "fail_fast", "atomic"]],
  retry: RETRY, bisect: [9, "b"], onBatchStart: FN, onBatchEnd: FN, adaptive: [19, "b"], flushOnHide: FLAG,
};
const PARAM_COUNT = 20, BUDGET_OFF = 16;
const CLASSES = { retry: 1, bisect: 2, fail: 3 };

let bindings; // { Core, memory } from the wasm-bindgen glue

/** Called once by the runtime entry after the wasm module is instantiated. */
function setBindings(glue) {
  bindings = { Core: glue.Core, memory: glue.linear_memory() };
}

function hbError(code, message, cause, Ctor = Error) {
  const err = cause === undefined ? new Ctor(message) : new Ctor(message, { cause });
  err.code = code;
  return err;
}

function configError(option, message, Ctor = TypeError) {
  const err = hbError("E_CONFIG", `hyperbatch: option \`${option}\` ${message}`, undefined, Ctor);
  err.option = option;
  return err;
}

function abortError(reason) {
  const err = hbError("E_ABORTED", "hyperbatch: the item was aborted", reason);
  err.name = "AbortError";
  return err;
}

function describe(v) {
  try {
    if (Array.isArray(v)) return `an array of ${v.length}`;
  } catch {
    // a revoked Proxy, or a Proxy array whose length getter throws
  }
  return v === null ? "null" : typeof v;
}

/** `String(v)`, or what `v` is when even that throws (null-prototype objects, Proxies). */
function show(v) {
  try {
    return String(v);
  } catch {
    return describe(v);
  }
}

// Reads of user values (thrown errors, result entries) go through these: a getter or Proxy trap
// that throws reads as `undefined`, so that nothing a user value does escapes the library.
function read(obj, name) {
  try {
    return obj[name];
  } catch {
    return undefined;
  }
}

/** An error's text for our messages: its `message`, else `String(err)`, whatever it is. */
function errorText(err) {
  const m = err !== null && (typeof err === "object" || typeof err === "function") ? read(err, "message") : undefined;
  return typeof m === "string" && m !== "" ? m : show(err);
}

function isError(v) {
  try {
    return v instanceof Error || Object.prototype.toString.call(v) === "[object Error]";
  } catch {
    return false; // a Proxy whose traps throw: not recognisably an Error, so a value
  }
}

/** A nested option object: `{…}` or `Object.create(null)`, from any realm; not an array, Map, class instance. */
function isPlainObject(v) {
  if (v === null || typeof v !== "object") return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function editDistance(a, b) {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * Check names and types against `table`, writing numbers into `params` and each value read into
 * `given` (path → value): every option is read once, so a getter cannot change it after the check.
 */
function readOptions(obj, prefix, table, params, given) {
  for (const name of Object.keys(obj)) {
    // Own names only: "constructor", "toString" or an own "__proto__" (JSON.parse) are unknown.
    const path = prefix + name, spec = Object.hasOwn(table, name) ? table[name] : undefined;
    if (spec === undefined) {
      const near = Object.keys(table).find((k) => editDistance(k.toLowerCase(), name.toLowerCase()) <= 2);
      throw configError(path, `is not an option${near ? ` (did you mean \`${prefix}${near}\`?)` : ""}`);
    }
    const v = obj[name];
    given[path] = v;
    if (v === undefined) continue;
    if (spec === FN) {
      if (typeof v !== "function") throw configError(path, `must be a function, got ${describe(v)}`);
    } else if (spec === FLAG) {
      if (typeof v !== "boolean") throw configError(path, `must be a boolean, got ${describe(v)}`);
    } else if (!Array.isArray(spec)) {
      if (spec === BUDGET && typeof v === "boolean") {
        if (!v) params[BUDGET_OFF] = 0;
      } else if (!isPlainObject(v)) {
        const made = v !== null && typeof v === "object" && !Array.isArray(v) && read(Object.getPrototypeOf(v).constructor, "name");
        throw configError(path, `must be a plain object${spec === BUDGET ? " or false" : ""}, got ${made ? `a ${made}` : describe(v)}`);
      } else {
        readOptions(v, path + ".", spec, params, given);
      }
    } else {
      const [i, kind] = spec;
      if (Array.isArray(kind)) {
        const j = kind.indexOf(v);
        if (j < 0) {
          const Ctor = typeof v === "string" ? RangeError : TypeError;
          throw configError(path, `must be one of ${kind.map((k) => JSON.stringify(k)).join(", ")}, got ${typeof v === "string" ? JSON.stringify(v) : describe(v)}`, Ctor);
        }
        params[i] = j;
      } else if (kind === "b") {
        if (typeof v !== "boolean") throw configError(path, `must be a boolean, got ${describe(v)}`);
        params[i] = v ? 1 : 0;
      } else if (!(v === null && kind === "n?")) {
        if (typeof v !== "number") throw configError(path, `must be a number, got ${describe(v)}`);
        if (Number.isNaN(v)) throw configError(path, "must be a number, got NaN", RangeError);
        params[i] = v;
      }
    }
  }
}

/** The engine's numeric options and every option value read (`given`), after names and types are checked. */
function engineParams(options) {
  if (options === null || typeof options !== "object") {
    throw configError("options", "must be an object with a `transport` function");
  }
  const params = new Float64Array(PARAM_COUNT).fill(NaN), given = Object.create(null);
  try {
    readOptions(options, "", OPTIONS, params, given);
  } catch (err) {
    if (err !== null && typeof err === "object" && read(err, "code") === "E_CONFIG") throw err;
    // A Proxy or getter that throws while we read the options.
    throw hbError("E_CONFIG", `hyperbatch: option \`options\` could not be read: ${errorText(err)}`, err, TypeError);
  }
  if (typeof given.transport !== "function") throw configError("transport", "is required and must be a function");
  return { params, given };
}

/** The engine refused a value ("option\trule"): a RangeError naming the option and the value. */
function rangeError(problem, given) {
  const [option, rule] = problem.split("\t");
  return configError(option, `must be ${rule}, got ${show(given[option])}`, RangeError);
}

// Names cross into wasm as UTF-8, where every lone surrogate becomes U+FFFD: such strings go
// JSON-escaped (injective) under their own prefix, so "\uD800" and "\uDC00" stay distinct.
const wellFormed = typeof "".isWellFormed === "function" ? (s) => s.isWellFormed() : (s) => !/[\uD800-\uDFFF]/.test(s);
const stringName = (s) => (wellFormed(s) ? "s" + s : "u" + JSON.stringify(s));

/** A stable engine key name for a key value (strings and numbers are distinct keys). */
function keyName(k) {
  if (typeof k === "string") return stringName(k);
  if (typeof k === "number" && !Number.isNaN(k)) return "n" + k;
  return undefined;
}

/** The error's retry-after hint in ms, NaN for none (or when reading it throws). */
function retryAfterMs(err) {
  try {
    if (typeof err.retryAfterMs === "number") return err.retryAfterMs;
    const headers = err.response && err.response.headers;
    if (!headers) return NaN;
    const h = typeof headers.get === "function" ? headers.get("retry-after") : headers["retry-after"];
    if (h === null || h === undefined) return NaN;
    const s = Number(h);
    if (!Number.isNaN(s)) return s * 1000;
    const at = Date.parse(h);
    return Number.isNaN(at) ? NaN : Math.max(0, at - Date.now());
  } catch {
    return NaN;
  }
}

/** The transport's `batch`. `signal` is made on first use: most transports never read it. */
class Batch {
  #controller;
  #reason;
  #id; // the engine's batch id, item ids, items and their count, kept where a transport that rewrites its batch cannot reach
  #ids;
  #items;
  #size;
  constructor(id, key, ids, items, attempt, deadline, keepalive) {
    this.#id = id;
    this.#ids = ids;
    this.#items = items;
    this.#size = items.length;
    this.id = id;
    this.key = key;
    this.items = items;
    this.attempt = attempt;
    this.deadline = deadline;
    this.keepalive = keepalive;
  }
  get signal() {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
  static idOf(batch) {
    return batch.#id;
  }
  static sizeOf(batch) {
    return batch.#size;
  }
  static itemsOf(batch) {
    return batch.#items;
  }
  static idsOf(batch) {
    return batch.#ids;
  }
  static abort(batch, reason) {
    batch.#reason = reason;
    if (batch.#controller !== undefined) batch.#controller.abort(reason);
  }
}

/** Result entry `i`, or an E_RESULT_SHAPE error when reading it throws (a getter, a Proxy). */
function entry(results, i) {
  try {
    return results[i];
  } catch (err) {
    return entryError(i, err);
  }
}

/** The error entry `i` failed its item with: the transport's own, or ours for an unreadable value. */
function failedEntry(cur, i) {
  const substitute = cur.substitutes === undefined ? undefined : cur.substitutes.get(i);
  return substitute !== undefined ? substitute : entry(cur.results, i);
}

function entryError(i, err) {
  return hbError("E_RESULT_SHAPE", `hyperbatch: reading result entry ${i} threw: ${errorText(err)}`, err);
}

function callHook(hook, info) {
  try {
    const r = hook(info);
    if (r !== null && typeof r === "object" && typeof r.then === "function") r.then(undefined, () => {});
  } catch {
    // A hook that throws (or rejects) changes no outcome.
  }
}

/**
 * Runs `fn` at the end of the current turn, once the promise jobs queued by then have run
 * (DataLoader's schedule, for `maxWaitMs: 0`): process.nextTick from a microtask where there is
 * one (Node, Deno, Bun); a MessageChannel task in browsers; a microtask elsewhere.
 */
const afterPromiseJobs = (() => {
  const proc = globalThis.process;
  if (proc !== null && typeof proc === "object" && typeof proc.nextTick === "function") {
    const nextTick = proc.nextTick;
    return (fn) => queueMicrotask(() => nextTick(fn));
  }
  if (typeof MessageChannel === "function" && typeof document === "object") {
    let channel, waiting = [];
    return (fn) => {
      if (channel === undefined) {
        channel = new MessageChannel();
        channel.port1.onmessage = () => {
          const run = waiting;
          waiting = [];
          for (const f of run) f();
        };
      }
      if (waiting.push(fn) === 1) channel.port2.postMessage(undefined);
    };
  }
  return queueMicrotask;
})();

// One executor for every add's promise: no closure per item.
let capturedResolve, capturedReject;
function capture(resolve, reject) {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** Everything behind one Batcher. */
class Runner {
  constructor(options) {
    if (bindings === undefined) {
      throw hbError("E_CONFIG", "hyperbatch: the wasm module is not loaded; call init() from \"hyperbatch/slim\" first");
    }
    const { params, given } = engineParams(options);
    try {
      this.core = new bindings.Core(params, Math.floor(Math.random() * 2 ** 52));
    } catch (e) {
      throw typeof e === "string" ? rangeError(e, given) : e;
    }
    this.memory = bindings.memory;
    this.transport = given.transport;
    this.keyOf = given.keyOf;
    this.weigh = given.weigh;
    this.resolveKeys = given.resolveKeys;
    this.dedupeBy = given.dedupeBy;
    this.onBatchStart = given.onBatchStart;
    this.onBatchEnd = given.onBatchEnd;
    this.classify = given["retry.classify"];
    this.timeoutMs = given.timeoutMs;
    // Per item id: resolve, reject, value, AbortSignal.
    this.res = [];
    this.rej = [];
    this.vals = [];
    this.signals = [];
    this.listeners = [];
    this.listening = 0; // items with an abort listener
    // Plain adds (default queue, weight 1, no options) take ids the engine reserved and are
    // handed over in bulk (ingest): when the reservation is used up (a queue may be full), at
    // the end of the clock's turn, and before any other engine input, so the engine sees
    // every input in order.
    this.reserved = new Uint32Array(RESERVE_MAX);
    this.reservedLen = 0;
    this.used = 0; // reserved ids taken by plain adds not handed over yet
    this.keyIds = new Map(); // key value → engine key id
    this.keyVals = []; // engine key id → key value
    this.calls = new Map(); // batch id → Batch, while in flight
    this.jobs = [];
    this.runningJobs = false;
    this.flushes = new Map(); // flush id → resolve
    this.closeWaiters = []; // close() resolvers: resolved once the engine is freed
    this.cur = undefined; // the results / error / route error the outputs being drained refer to
    this.reasons = []; // per item id: its signal's reason, read when the abort event fired
    this.live = 0; // callers not settled yet
    this.reading = false; // drain() is reading the output buffer
    this.closing = false; // close() was called: free the engine once nothing is left
    this.lastStats = undefined; // the counters when the engine was freed
    // dedupeBy values that are objects, functions or symbols → { value, token, refs }; a token
    // lives while an unsettled item holds it (refs), so the Map never outgrows the live items.
    this.dedupeIds = new Map();
    this.dedupeHeld = []; // per item id: the entry it holds
    this.dedupeSeq = 0;
    this.plain = this.keyOf === undefined && this.weigh === undefined && this.dedupeBy === undefined
      && this.resolveKeys === undefined;
    this.clock = 0;
    this.clearClock = () => {
      if (this.used !== 0) this.ingest();
      this.reservedLen = 0; // the next turn's adds reserve afresh, and queue their own clearClock
      this.clock = 0;
    };
    this.tickQueued = false;
    this.timer = undefined;
    this.timerAt = NaN;
    this.onTick = () => {
      this.tickQueued = false;
      if (this.core === undefined) return;
      this.sync();
      this.core.handle_time(Date.now());
      this.drain();
    };
    this.turnEndQueued = false;
    this.onTurnEnd = () => {
      this.turnEndQueued = false;
      if (this.core === undefined) return;
      this.sync();
      this.core.handle_time(Date.now());
      this.drain();
    };
    this.onTimer = () => {
      this.timer = undefined;
      this.timerAt = NaN;
      if (this.core === undefined) return;
      this.sync();
      this.core.handle_time(Date.now());
      this.drain();
    };
    this.hiding = false; // the calls being decoded are the page-hide flush's: keepalive
    this.onHide = undefined;
    this.hideTargets = undefined; // [target, event type] pairs listened to
    if (given.flushOnHide === true) this.listenForHide();
  }

  /** flushOnHide: send every queue when the page is hidden, as keepalive calls. Browsers only. */
  listenForHide() {
    const doc = globalThis.document, win = globalThis.window;
    if (doc === null || typeof doc !== "object" || typeof doc.addEventListener !== "function") return;
    this.onHide = (event) => {
      if (this.core === undefined) return; // freed by close()
      if (event.type === "visibilitychange" && doc.visibilityState !== "hidden") return;
      this.sync();
      this.core.flush(Date.now()); // its Flushed output resolves nothing
      // Every call this drain decodes is the flush's: `readOutputs` reads the flag.
      this.hiding = true;
      try {
        this.drain();
      } finally {
        this.hiding = false;
      }
    };
    doc.addEventListener("visibilitychange", this.onHide);
    this.hideTargets = [[doc, "visibilitychange"]];
    if (win !== null && typeof win === "object" && typeof win.addEventListener === "function") {
      win.addEventListener("pagehide", this.onHide);
      this.hideTargets.push([win, "pagehide"]);
    }
  }

  /** close(): the page-hide listeners go. */
  stopListeningForHide() {
    const onHide = this.onHide;
    if (onHide === undefined) return;
    this.onHide = undefined;
    for (const [target, type] of this.hideTargets) target.removeEventListener(type, onHide);
    this.hideTargets = undefined;
  }

  internKey(k) {
    let id = this.keyIds.get(k);
    if (id === undefined) {
      const name = keyName(k);
      if (name === undefined) return -1;
      id = this.core.intern(name);
      this.keyIds.set(k, id);
      this.keyVals[id] = k;
    }
    return id;
  }

  /** Time for adds: read once per turn (a sync loop of adds shares it), never later than real. */
  now() {
    if (this.clock === 0) {
      this.clock = Date.now();
      queueMicrotask(this.clearClock);
    }
    return this.clock;
  }

  add(item, opts) {
    if (opts === undefined && this.plain) {
      // The common case: one queue, weight 1, no per-add options: no engine call per item.
      const id = this.plainId();
      if (id < 0) return this.track(this.core.add(DEFAULT_KEY, 1, NaN, this.now()), item, undefined, 1);
      this.vals[id] = item;
      const p = new Promise(capture);
      this.res[id] = capturedResolve;
      this.rej[id] = capturedReject;
      capturedResolve = capturedReject = undefined; // module state must not keep the last caller alive
      this.live++;
      if (this.used === this.reservedLen) this.ingest();
      return p;
    }
    if (this.core === undefined) return Promise.reject(this.addError(-1)); // closed and freed
    this.sync();
    let key, weight, deadline = NaN, signal, dedupe;
    try {
      if (opts !== undefined && opts !== null) {
        if (typeof opts !== "object") throw configError("add options", "must be an object");
        key = opts.key;
        weight = opts.weight;
        signal = opts.signal;
        if (opts.deadline !== undefined) {
          deadline = opts.deadline;
          if (typeof deadline !== "number" || Number.isNaN(deadline)) {
            throw configError("deadline", `must be an epoch time in ms (a number), got ${describe(deadline)}`);
          }
        }
        if (signal !== undefined && (signal === null || typeof signal.addEventListener !== "function")) {
          throw configError("signal", "must be an AbortSignal");
        }
        if (signal !== undefined && signal.aborted) return Promise.reject(abortError(read(signal, "reason")));
      }
      if (key === undefined && this.keyOf !== undefined) key = this.keyOf(item);
      if (key === undefined) {
        key = this.resolveKeys !== undefined ? UNROUTED : DEFAULT_KEY;
      } else {
        const id = this.internKey(key);
        if (id < 0) throw configError("key", `must be a string or a number, got ${describe(key)}`);
        key = id;
      }
      if (weight === undefined) weight = this.weigh !== undefined ? this.weigh(item) : 1;
      if (typeof weight !== "number" || !(weight >= 0) || weight === Infinity) {
        throw configError("weight", `must be a finite number >= 0, got ${show(weight)}`, RangeError);
      }
      if (this.dedupeBy !== undefined) {
        const d = this.dedupeBy(item);
        if (d !== undefined) dedupe = this.dedupeToken(d);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const now = this.now();
    if (dedupe === undefined) return this.track(this.core.add(key, weight, deadline, now), item, signal, weight);
    if (typeof dedupe === "string") {
      return this.track(this.core.add_dedupe(key, weight, deadline, dedupe, now), item, signal, weight);
    }
    const r = this.core.add_dedupe(key, weight, deadline, dedupe.token, now);
    if (r >= 0) {
      dedupe.refs++;
      this.dedupeHeld[r >>> 1] = dedupe;
    } else if (dedupe.refs === 0) {
      this.dedupeIds.delete(dedupe.value);
    }
    return this.track(r, item, signal, weight);
  }

  /** hyperbatch/dataloader's add: the outcome goes to its load's own resolve/reject (no promise). */
  addSettling(item, resolve, reject) {
    if (this.core === undefined) {
      reject(this.addError(-1)); // closed and freed
      return;
    }
    const id = this.plainId();
    if (id < 0) {
      const r = this.core.add(DEFAULT_KEY, 1, NaN, this.now());
      if (r < 0) {
        this.drain();
        reject(this.addError(r, 1));
        return;
      }
      this.settling(r >>> 1, item, resolve, reject);
      if (r & 1) this.drain();
      return;
    }
    this.settling(id, item, resolve, reject);
    if (this.used === this.reservedLen) this.ingest();
  }

  settling(id, item, resolve, reject) {
    this.vals[id] = item;
    this.res[id] = resolve;
    this.rej[id] = reject;
    this.live++;
  }

  /** A reserved id for a plain add, or -1 when it must go through `core.add` (the engine said no room). */
  plainId() {
    if (this.used === this.reservedLen) {
      this.now(); // its turn-end microtask hands the adds over
      const core = this.core, n = core.reserve();
      this.used = 0;
      this.reservedLen = n;
      if (n === 0) return -1;
      this.reserved.set(new Uint32Array(this.memory.buffer, core.ids_ptr(), n));
    }
    return this.reserved[this.used++];
  }

  /** Hand the plain adds recorded since the last ingest to the engine; the reservation is used up. */
  ingest() {
    const n = this.used;
    this.used = this.reservedLen = 0;
    const r = this.core.add_reserved(n, this.clock);
    if (r === 0) return;
    if (r > 0) {
      this.drain();
      return;
    }
    // Not reached while every other input syncs first; should it be, no caller is left hanging.
    const err = this.addError(r, 1);
    for (let j = 0; j < n; j++) {
      const id = this.reserved[j], reject = this.rej[id];
      this.res[id] = this.rej[id] = this.vals[id] = undefined;
      this.live--;
      reject(err);
    }
    this.drain();
  }

  /** Before any other engine input: the engine must see the plain adds made before it. */
  sync() {
    if (this.used !== 0) this.ingest();
    this.reservedLen = 0; // the input may change the room the reservation counted on
  }

  /**
   * The engine's dedupe key for a `dedupeBy` value: equal keys exactly when the values are equal
   * by SameValueZero. Primitives get a string per value (each type its own prefix, so "1" ≠ 1 ≠
   * 1n; -0 and 0 both print "0", NaN prints "NaN"); objects, functions and symbols get the entry
   * holding their token (see `dedupeIds`).
   */
  dedupeToken(d) {
    switch (typeof d) {
      case "string": return stringName(d);
      case "number": return "n" + d;
      case "bigint": return "b" + d;
      case "boolean": return d ? "t" : "f";
    }
    if (d === null) return "z";
    let entry = this.dedupeIds.get(d);
    if (entry === undefined) {
      entry = { value: d, token: "o" + this.dedupeSeq++, refs: 0 };
      this.dedupeIds.set(d, entry);
    }
    return entry;
  }

  /** An item with an identity dedupe key settled: drop its hold on the token. */
  releaseDedupe(id) {
    const entry = this.dedupeHeld[id];
    if (entry === undefined) return;
    this.dedupeHeld[id] = undefined;
    if (--entry.refs === 0) this.dedupeIds.delete(entry.value);
  }

  /** The engine's answer to an add: a promise for the caller, or the rejection. */
  track(r, item, signal, weight) {
    if (r < 0) {
      this.drain(); // a key made for this add may be released
      return Promise.reject(this.addError(r, weight));
    }
    const id = r >>> 1;
    this.vals[id] = item;
    const p = new Promise(capture);
    this.res[id] = capturedResolve;
    this.rej[id] = capturedReject;
    capturedResolve = capturedReject = undefined; // module state must not keep the last caller alive
    this.live++;
    if (signal !== undefined) this.listen(id, signal);
    if (r & 1) this.drain();
    return p;
  }

  /** Abort the item when `signal` fires. A signal that cannot be listened to aborts it now. */
  listen(id, signal) {
    const listener = () => {
      if (this.core === undefined) return;
      this.reasons[id] = read(signal, "reason");
      this.sync();
      if (this.core.cancel(id, Date.now())) this.drain();
      else this.reasons[id] = undefined;
    };
    this.signals[id] = signal;
    this.listeners[id] = listener;
    this.listening++;
    try {
      signal.addEventListener("abort", listener, { once: true });
    } catch (err) {
      this.signals[id] = this.listeners[id] = undefined;
      this.listening--;
      this.reasons[id] = err;
      this.core.cancel(id, Date.now());
      this.drain();
    }
  }

  addError(r, weight) {
    switch (r) {
      case -1: return hbError("E_CLOSED", "hyperbatch: the batcher is closed");
      case -2: return hbError("E_FULL", "hyperbatch: the queue is full (maxQueued)");
      case -3: return hbError("E_TOO_LARGE", `hyperbatch: item weight ${weight} exceeds maxBatchWeight`);
      case -4: return hbError("E_DEADLINE", "hyperbatch: the item's deadline has already passed");
      default: return configError("add", `was refused (${r})`, RangeError);
    }
  }

  /** Read every pending engine output, settle callers, then run the calls it asked for. */
  drain() {
    const core = this.core;
    if (core === undefined) return;
    if (this.reading) {
      // User code we called while reading (a getter) re-entered: read the rest in a microtask.
      this.queueTick();
      return;
    }
    const n = core.drain();
    if (n === 0) {
      this.rearm();
      if (this.closing && !this.runningJobs) this.maybeFree();
      return;
    }
    const buf = new Float64Array(this.memory.buffer, core.buf_ptr(), n);
    // Transport, resolveKeys and hook calls run after the buffer is read (they may re-enter
    // the engine), in the order the engine asked for them, across nested drains too.
    const jobs = this.jobs, cur = this.cur;
    this.reading = true;
    try {
      this.readOutputs(buf, n, jobs, cur);
    } finally {
      this.reading = false;
    }
    this.rearm();
    if (this.runningJobs) return; // an outer drain is running jobs: it runs these after its own
    this.runningJobs = true;
    try {
      for (let j = 0; j < jobs.length; j++) {
        const job = jobs[j];
        try {
          this.run(job);
        } catch (err) {
          this.jobFailed(job, err);
        }
      }
    } finally {
      jobs.length = 0;
      this.runningJobs = false;
    }
    if (this.closing) this.maybeFree();
  }

  queueTick() {
    if (!this.tickQueued) {
      this.tickQueued = true;
      queueMicrotask(this.onTick);
    }
  }

  queueTurnEnd() {
    if (!this.turnEndQueued) {
      this.turnEndQueued = true;
      afterPromiseJobs(this.onTurnEnd);
    }
  }

  /** One job asked for by the engine: a transport call, a timeout, a hook or a route. */
  run(job) {
    if (job.batch !== undefined) this.call(job.batch, job.weight);
    else if (job.timedOut !== undefined) this.timedOut(job.timedOut);
    else if (job.abandoned !== undefined) this.abandoned(job.abandoned);
    else if (job.end !== undefined) callHook(this.onBatchEnd, job.end);
    else this.route(job.route, job.items);
  }

  /** A job threw (it should not: user code is guarded): fail its call or route, never the others. */
  jobFailed(job, err) {
    try {
      if (job.batch !== undefined) this.failure(job.batch, err, 0);
      else if (job.items !== undefined) this.routeFailed(job.route, err);
    } catch {
      // nothing left to settle through
    }
  }

  /** Decode one output buffer: settle callers, collect jobs. No user code runs here but getters. */
  readOutputs(buf, n, jobs, cur) {
    for (let i = 0; i < n;) {
      switch (buf[i]) {
        case TICK:
          i += 1;
          this.queueTick();
          break;
        case TURN_END:
          i += 1;
          this.queueTurnEnd();
          break;
        case SUCCEEDED: {
          i += 2;
          // Every item of the call resolves with its entry (cur: the call being completed).
          const ids = cur.ids, results = cur.results, res = this.res, rej = this.rej, vals = this.vals;
          const extra = this.listening !== 0 || this.dedupeBy !== undefined;
          for (let j = 0; j < ids.length; j++) {
            const id = ids[j], resolve = res[id], reject = rej[id];
            res[id] = rej[id] = vals[id] = undefined;
            if (extra) this.forget(id);
            try {
              resolve(results[j]);
            } catch (err) {
              reject(entryError(j, err));
            }
          }
          this.live -= ids.length;
          break;
        }
        case SETTLE: {
          const id = buf[i + 1], kind = buf[i + 2], arg = buf[i + 3];
          if (buf[i + 4] === 1) this.vals[id] = undefined;
          i += 5;
          const resolve = this.res[id], reject = this.rej[id];
          this.res[id] = this.rej[id] = undefined;
          this.live--;
          this.forget(id);
          if (kind === 0) {
            try {
              resolve(cur.results[arg]);
            } catch (err) {
              reject(entryError(arg, err));
            }
          } else {
            reject(this.outcomeError(kind, arg, cur, id));
          }
          break;
        }
        case DISPATCH: {
          const m = buf[i + 6], vals = this.vals;
          const ids = new Array(m), items = new Array(m);
          for (let j = 0; j < m; j++) items[j] = vals[ids[j] = buf[i + 7 + j]];
          const keyId = buf[i + 2], deadline = buf[i + 4];
          const batch = new Batch(buf[i + 1], keyId === DEFAULT_KEY ? undefined : this.keyVals[keyId], ids, items,
            buf[i + 3], Number.isNaN(deadline) ? undefined : deadline, this.hiding);
          jobs.push({ batch, weight: buf[i + 5] });
          i += 7 + m;
          break;
        }
        case RELEASE:
          this.vals[buf[i + 1]] = undefined;
          i += 2;
          break;
        case TIMED_OUT:
          jobs.push({ timedOut: buf[i + 1] });
          i += 2;
          break;
        case ABANDONED:
          jobs.push({ abandoned: buf[i + 1] });
          i += 2;
          break;
        case BATCH_END: {
          if (this.onBatchEnd !== undefined) {
            const keyId = buf[i + 2];
            const info = {
              id: buf[i + 1], key: keyId === DEFAULT_KEY ? undefined : this.keyVals[keyId], size: buf[i + 3],
              weight: buf[i + 4], attempt: buf[i + 5], durationMs: buf[i + 6], succeeded: buf[i + 7],
              failed: buf[i + 8], error: buf[i + 9] === 1 ? cur.error : undefined,
              items: cur.items, results: cur.results,
            };
            jobs.push({ end: info });
          }
          i += 10;
          break;
        }
        case ROUTE: {
          const m = buf[i + 2];
          const ids = new Array(m);
          for (let j = 0; j < m; j++) ids[j] = buf[i + 3 + j];
          jobs.push({ route: buf[i + 1], items: ids.map((id) => this.vals[id]) });
          i += 3 + m;
          break;
        }
        case KEY_RELEASED: {
          const k = buf[i + 1];
          this.keyIds.delete(this.keyVals[k]);
          this.keyVals[k] = undefined;
          i += 2;
          break;
        }
        case FLUSHED: {
          const f = buf[i + 1];
          const resolve = this.flushes.get(f);
          this.flushes.delete(f);
          if (resolve !== undefined) resolve();
          i += 2;
          break;
        }
        case ADMITTED:
          i += 2;
          break;
        default:
          throw new Error(`hyperbatch: corrupt engine output (tag ${buf[i]})`);
      }
    }
  }

  /** A caller settled: drop its dedupe hold and its abort listener. */
  forget(id) {
    if (this.dedupeBy !== undefined) this.releaseDedupe(id);
    const signal = this.signals[id];
    if (signal === undefined) return;
    const listener = this.listeners[id];
    this.signals[id] = this.listeners[id] = undefined;
    this.listening--;
    try {
      signal.removeEventListener("abort", listener);
    } catch {
      // a signal-like object whose removeEventListener throws: the listener checks the engine anyway
    }
  }

  /** The error a caller gets; `cur` holds what the outputs refer to, with messages made already. */
  outcomeError(kind, arg, cur, id) {
    switch (kind) {
      case 1: return failedEntry(cur, arg);
      case 2: {
        const err = hbError("E_TRANSPORT",
          `hyperbatch: transport failed after ${arg} attempt${arg === 1 ? "" : "s"}: ${cur.message ?? errorText(cur.error)}`,
          cur.error);
        err.attempts = arg;
        return err;
      }
      case 3: return cur.error;
      case 4: return hbError("E_FAIL_FAST", "hyperbatch: another item of the batch failed (fail_fast)", failedEntry(cur, arg));
      case 5: return hbError("E_ATOMIC", "hyperbatch: the atomic batch failed", failedEntry(cur, arg));
      default: {
        const code = CODES[arg];
        if (code === "E_ABORTED") {
          const reason = this.reasons[id];
          this.reasons[id] = undefined;
          return abortError(reason);
        }
        if (code === "E_DEADLINE") return hbError(code, "hyperbatch: the item's deadline passed");
        if (code === "E_ROUTE") {
          return cur !== undefined && cur.routeFailed === true
            ? hbError(code, `hyperbatch: resolveKeys failed: ${cur.message}`, cur.routeError)
            : hbError(code, "hyperbatch: resolveKeys returned no key for this item");
        }
        return hbError(code, `hyperbatch: ${code}`);
      }
    }
  }

  /** After close(): once nothing is pending, free the engine's wasm memory; later calls use none. */
  maybeFree() {
    if (this.live !== 0 || this.calls.size !== 0 || this.runningJobs || this.reading || this.core === undefined) return;
    const core = this.core;
    this.lastStats = core.stats();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.core = undefined;
    this.plain = false; // add() takes the path that checks for a freed engine
    for (const resolve of this.flushes.values()) resolve(); // nothing is left for them to wait for
    this.flushes.clear();
    for (const resolve of this.closeWaiters) resolve();
    this.closeWaiters = [];
    this.vals = this.res = this.rej = this.signals = this.listeners = this.reasons = this.dedupeHeld = [];
    this.keyIds.clear();
    this.keyVals = [];
    this.dedupeIds.clear();
    core.free();
  }

  /** Arm the one host timer at the engine's next wake-up (none when idle). */
  rearm() {
    if (this.core === undefined) return;
    const at = this.core.next_wake();
    if (at === this.timerAt || (Number.isNaN(at) && Number.isNaN(this.timerAt))) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (!Number.isNaN(at)) {
      this.timer = setTimeout(this.onTimer, Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - Date.now()))));
    }
  }

  call(batch, weight) {
    this.calls.set(Batch.idOf(batch), batch);
    if (this.onBatchStart !== undefined) {
      callHook(this.onBatchStart, {
        id: Batch.idOf(batch), key: batch.key, size: Batch.sizeOf(batch), weight, attempt: batch.attempt,
        items: Batch.itemsOf(batch),
      });
    }
    let r;
    try {
      r = this.transport(batch);
      if (r !== null && typeof r === "object" && typeof r.then === "function") {
        r.then((v) => this.result(batch, v), (e) => this.failure(batch, e, 0));
        return;
      }
    } catch (err) {
      this.failure(batch, err, 0);
      return;
    }
    this.result(batch, r);
  }

  result(batch, v) {
    const id = Batch.idOf(batch);
    if (this.calls.get(id) !== batch) return; // timed out already: a late answer is ignored
    if (this.reading) {
      // A getter we called while reading outputs answered a call: answer it after the read.
      queueMicrotask(() => this.result(batch, v));
      return;
    }
    const n = Batch.sizeOf(batch);
    let codes, after, shapeError, substitutes;
    try {
      if (!Array.isArray(v) || v.length !== n) {
        shapeError = hbError("E_RESULT_SHAPE", `hyperbatch: transport must return an array of ${n} entries, got ${describe(v)}`);
      } else {
        for (let i = 0; i < n; i++) {
          const x = v[i];
          if (x === null || (typeof x !== "object" && typeof x !== "function")) continue;
          let unreadable;
          if (!isError(x)) {
            // Resolving a caller with x reads x.then: a value whose `then` throws cannot be handed
            // over (the caller would get that throw, uncoded), so it fails its item instead.
            try {
              void x.then;
              continue;
            } catch (err) {
              unreadable = entryError(i, err);
            }
          }
          if (codes === undefined) {
            codes = new Uint8Array(n);
            after = new Float64Array(n).fill(NaN);
          }
          if (unreadable !== undefined) {
            (substitutes ??= new Map()).set(i, unreadable);
            codes[i] = 1;
            continue;
          }
          codes[i] = read(x, "retryable") === true ? 2 : 1;
          const ms = read(x, "retryAfterMs");
          if (typeof ms === "number") after[i] = ms;
        }
      }
    } catch (err) {
      // A Proxy or an index getter that throws: the result cannot be read.
      shapeError = hbError("E_RESULT_SHAPE", `hyperbatch: reading the transport's result threw: ${errorText(err)}`, err);
    }
    if (shapeError !== undefined) {
      this.failure(batch, shapeError, 2);
      return;
    }
    this.calls.delete(id);
    this.cur = { results: v, error: undefined, substitutes, items: Batch.itemsOf(batch), ids: Batch.idsOf(batch) };
    this.sync();
    if (codes === undefined) this.core.complete_ok(id, n, Date.now());
    else this.core.complete(id, codes, after, Date.now());
    this.drain();
  }

  /** kind: 0 thrown/rejected, 1 timeout, 2 result shape. */
  failure(batch, err, kind) {
    const id = Batch.idOf(batch);
    if (this.calls.get(id) !== batch) return;
    if (this.reading) {
      queueMicrotask(() => this.failure(batch, err, kind));
      return;
    }
    this.calls.delete(id);
    // Every read of the error is guarded: a getter or Proxy trap that throws reads as absent.
    let retryable = 0, status = NaN, after = NaN;
    if (err !== null && typeof err === "object") {
      const r = read(err, "retryable"), s = read(err, "status");
      retryable = r === true ? 2 : r === false ? 1 : 0;
      if (typeof s === "number") status = s;
      after = retryAfterMs(err);
    }
    let cls = 0;
    if (this.classify !== undefined) {
      try {
        const c = this.classify(err);
        if (typeof c === "string" && Object.hasOwn(CLASSES, c)) cls = CLASSES[c];
      } catch {
        cls = 0; // a classify that throws falls back to the default rule
      }
    }
    this.cur = { results: undefined, error: err, message: errorText(err), items: Batch.itemsOf(batch) };
    this.sync();
    this.core.fail(id, kind, retryable, status, after, cls, Date.now());
    this.drain();
  }

  timedOut(batchId) {
    const batch = this.calls.get(batchId);
    if (batch === undefined) return;
    const err = hbError("E_TIMEOUT", `hyperbatch: the transport call took longer than timeoutMs (${this.timeoutMs} ms)`);
    Batch.abort(batch, err);
    this.failure(batch, err, 1);
  }

  /** Nobody waits for this call any more: abort its signal. Its answer is still reported. */
  abandoned(batchId) {
    const batch = this.calls.get(batchId);
    if (batch === undefined) return;
    const err = hbError("E_ABORTED", "hyperbatch: every item of the call was aborted or passed its deadline");
    err.name = "AbortError";
    Batch.abort(batch, err);
  }

  route(routeId, items) {
    const n = items.length; // before resolveKeys can change the array
    let p;
    try {
      p = Promise.resolve(this.resolveKeys(items));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then((keys) => {
      let ids;
      try {
        ids = this.routeKeys(keys, n);
      } catch (err) {
        this.routeFailed(routeId, err);
        return;
      }
      if (this.core === undefined) return;
      this.cur = { results: undefined, error: undefined };
      this.sync();
      this.core.route_done(routeId, ids, Date.now());
      this.drain();
    }, (err) => this.routeFailed(routeId, err));
  }

  /** Engine key ids for resolveKeys' answer; throws (E_ROUTE, or what a Proxy throws) when it is unusable. */
  routeKeys(keys, n) {
    if (!Array.isArray(keys) || keys.length !== n) {
      throw hbError("E_ROUTE", `hyperbatch: resolveKeys must return an array of ${n} keys, got ${describe(keys)}`);
    }
    const ids = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      ids[i] = k === undefined || k === null ? UNROUTED : Math.max(UNROUTED, this.internKey(k));
    }
    return ids;
  }

  routeFailed(routeId, err) {
    if (this.core === undefined) return;
    this.cur = { results: undefined, error: undefined, routeFailed: true, routeError: err, message: errorText(err) };
    this.sync();
    this.core.route_failed(routeId, Date.now());
    this.drain();
  }

  /**
   * flush(): resolves when the items queued now have settled. close(): when every accepted item
   * has settled and no call is in flight any more (the contract's "wait for in-flight"), which is
   * also when the engine is freed (maybeFree).
   */
  flush(closing) {
    if (closing) {
      this.closing = true;
      this.stopListeningForHide();
    }
    if (this.core === undefined) return Promise.resolve();
    this.sync();
    let p;
    if (closing) {
      p = new Promise((resolve) => this.closeWaiters.push(resolve));
      this.core.close(Date.now()); // its Flushed resolves nothing: maybeFree does
    } else {
      const id = this.core.flush(Date.now());
      p = new Promise((resolve) => this.flushes.set(id, resolve));
    }
    this.drain();
    return p;
  }

  stats() {
    if (this.core !== undefined) this.sync();
    const s = this.core === undefined ? this.lastStats : this.core.stats();
    return {
      queued: s[0], inFlightBatches: s[1], inFlightItems: s[2], batches: s[3], items: s[4],
      succeeded: s[5], failed: s[6], retries: s[7], bisects: s[8], throttled: s[9],
    };
  }
}

/** Internal, for hyperbatch/dataloader: `batcher.add(item)` settling `resolve`/`reject` instead
 * of a new promise (a load already has its promise). Only for a Batcher without keyOf, weigh,
 * dedupeBy or resolveKeys. */
let addSettling;

/**
 * Batches `add(item)` calls into `transport(batch)` calls. See the package README and
 * docs/reference.md for every option.
 */
class Batcher {
  #runner;
  constructor(options) {
    this.#runner = new Runner(options);
  }
  add(item, opts) {
    return this.#runner.add(item, opts);
  }
  addMany(items, opts) {
    let list;
    try {
      if (!Array.isArray(items)) return Promise.reject(configError("addMany items", "must be an array"));
      list = Array.prototype.slice.call(items); // read whole first: a Proxy that throws midway adds nothing
    } catch (err) {
      return Promise.reject(configError("addMany items", `could not be read: ${errorText(err)}`));
    }
    return Promise.allSettled(list.map((item) => this.#runner.add(item, opts)));
  }
  /** Dispatch everything queued now; resolves when those items have settled. */
  flush() {
    return this.#runner.flush(false);
  }
  /** Refuse new adds, flush, and resolve once every accepted item has settled. Idempotent. */
  close() {
    return this.#runner.flush(true);
  }
  stats() {
    return this.#runner.stats();
  }
  static {
    addSettling = (batcher, item, resolve, reject) => batcher.#runner.addSettling(item, resolve, reject);
  }
}

if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(Batcher.prototype, Symbol.asyncDispose, {
    value: function () { return this.close(); }, writable: true, configurable: true,
  });
}

export { Batcher, addSettling, setBindings };
