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
const BATCH_END = 6, ADMITTED = 7, KEY_RELEASED = 8, FLUSHED = 9, ABANDONED = 10;
const CODES = ["E_CONFIG", "E_CLOSED", "E_FULL", "E_TOO_LARGE", "E_ABORTED", "E_DEADLINE", "E_TIMEOUT",
  "E_TRANSPORT", "E_RESULT_SHAPE", "E_FAIL_FAST", "E_ATOMIC", "E_ROUTE"];
const UNROUTED = 0, DEFAULT_KEY = 1;
const MAX_TIMER_MS = 2147483647;

// Options: name → [index in the numeric vector the engine decodes (src/wasm/mod.rs), kind].
// Kinds: "n" number, "n?" number or null, "b" boolean, an array: one of those strings,
// FN a function, or a nested table.
const FN = "function";
const BUDGET = { maxTokens: [17, "n"], tokenRatio: [18, "n"] };
const RETRY = {
  maxAttempts: [10, "n"], baseDelayMs: [11, "n"], maxDelayMs: [12, "n"], multiplier: [13, "n"],
  jitter: [14, ["full", "equal", "none"]], maxRetryAfterMs: [15, "n"], classify: FN, budget: BUDGET,
};
const OPTIONS = {
  transport: FN, maxBatchSize: [0, "n"], maxWaitMs: [1, "n"], maxBatchWeight: [2, "n?"], weigh: FN, keyOf: FN,
  resolveKeys: FN, dedupeBy: FN, maxQueued: [3, "n"], whenFull: [4, ["reject", "wait"]], maxInFlight: [5, "n"],
  maxInFlightPerKey: [6, "n?"], timeoutMs: [7, "n?"], errorMode: [8, ["partial", "fail_fast", "atomic"]],
  retry: RETRY, bisect: [9, "b"], onBatchStart: FN, onBatchEnd: FN,
};
const PARAM_COUNT = 19, BUDGET_OFF = 16;
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
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return v === null ? "null" : typeof v;
}

function isError(v) {
  return v instanceof Error || Object.prototype.toString.call(v) === "[object Error]";
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

/** Check names and types against `table`, writing numbers into `params`. */
function readOptions(obj, prefix, table, params) {
  for (const name of Object.keys(obj)) {
    if (name === "__proto__") continue; // an own "__proto__" key (JSON.parse) is ignored, never assigned
    const path = prefix + name, spec = table[name], v = obj[name];
    if (spec === undefined) {
      const near = Object.keys(table).find((k) => editDistance(k.toLowerCase(), name.toLowerCase()) <= 2);
      throw configError(path, `is not an option${near ? ` (did you mean \`${prefix}${near}\`?)` : ""}`);
    }
    if (v === undefined) continue;
    if (spec === FN) {
      if (typeof v !== "function") throw configError(path, `must be a function, got ${describe(v)}`);
    } else if (!Array.isArray(spec)) {
      if (spec === BUDGET && typeof v === "boolean") {
        if (!v) params[BUDGET_OFF] = 0;
      } else if (v === null || typeof v !== "object") {
        throw configError(path, `must be an object${spec === BUDGET ? " or false" : ""}, got ${describe(v)}`);
      } else {
        readOptions(v, path + ".", spec, params);
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

/** The engine's numeric options, after every name and type is checked. */
function engineParams(options) {
  if (options === null || typeof options !== "object") {
    throw configError("options", "must be an object with a `transport` function");
  }
  const params = new Float64Array(PARAM_COUNT).fill(NaN);
  readOptions(options, "", OPTIONS, params);
  if (typeof options.transport !== "function") throw configError("transport", "is required and must be a function");
  return params;
}

/** The engine refused a value ("option\trule"): a RangeError naming the option and the value. */
function rangeError(problem, options) {
  const [option, rule] = problem.split("\t");
  const value = option.split(".").reduce((o, k) => (o == null ? undefined : o[k]), options);
  return configError(option, `must be ${rule}, got ${String(value)}`, RangeError);
}

/** A stable engine key name for a key value (strings and numbers are distinct keys). */
function keyName(k) {
  if (typeof k === "string") return "s" + k;
  if (typeof k === "number" && !Number.isNaN(k)) return "n" + k;
  return undefined;
}

function retryAfterMs(err) {
  if (typeof err.retryAfterMs === "number") return err.retryAfterMs;
  const headers = err.response && err.response.headers;
  if (!headers) return NaN;
  const h = typeof headers.get === "function" ? headers.get("retry-after") : headers["retry-after"];
  if (h === null || h === undefined) return NaN;
  const s = Number(h);
  if (!Number.isNaN(s)) return s * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? NaN : Math.max(0, at - Date.now());
}

/** The transport's `batch`. `signal` is made on first use: most transports never read it. */
class Batch {
  #controller;
  #reason;
  constructor(id, key, items, attempt, deadline) {
    this.id = id;
    this.key = key;
    this.items = items;
    this.attempt = attempt;
    this.deadline = deadline;
  }
  get signal() {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
  static abort(batch, reason) {
    batch.#reason = reason;
    if (batch.#controller !== undefined) batch.#controller.abort(reason);
  }
}

function callHook(hook, info) {
  try {
    const r = hook(info);
    if (r !== null && typeof r === "object" && typeof r.then === "function") r.then(undefined, () => {});
  } catch {
    // A hook that throws (or rejects) changes no outcome.
  }
}

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
    const params = engineParams(options);
    try {
      this.core = new bindings.Core(params, Math.floor(Math.random() * 2 ** 52));
    } catch (e) {
      throw typeof e === "string" ? rangeError(e, options) : e;
    }
    this.memory = bindings.memory;
    this.transport = options.transport;
    this.keyOf = options.keyOf;
    this.weigh = options.weigh;
    this.resolveKeys = options.resolveKeys;
    this.dedupeBy = options.dedupeBy;
    this.onBatchStart = options.onBatchStart;
    this.onBatchEnd = options.onBatchEnd;
    this.classify = options.retry ? options.retry.classify : undefined;
    this.timeoutMs = options.timeoutMs;
    // Per item id: resolve, reject, value, AbortSignal.
    this.res = [];
    this.rej = [];
    this.vals = [];
    this.signals = [];
    this.listeners = [];
    this.keyIds = new Map(); // key value → engine key id
    this.keyVals = []; // engine key id → key value
    this.calls = new Map(); // batch id → Batch, while in flight
    this.jobs = [];
    this.runningJobs = false;
    this.flushes = new Map(); // flush id → resolve
    this.cur = undefined; // the results / error / route error the outputs being drained refer to
    this.plain = this.keyOf === undefined && this.weigh === undefined && this.dedupeBy === undefined
      && this.resolveKeys === undefined;
    this.clock = 0;
    this.clearClock = () => {
      this.clock = 0;
    };
    this.tickQueued = false;
    this.timer = undefined;
    this.timerAt = NaN;
    this.onTick = () => {
      this.tickQueued = false;
      this.core.handle_time(Date.now());
      this.drain();
    };
    this.onTimer = () => {
      this.timer = undefined;
      this.timerAt = NaN;
      this.core.handle_time(Date.now());
      this.drain();
    };
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
      // The common case: one queue, weight 1, no per-add options.
      return this.track(this.core.add(DEFAULT_KEY, 1, NaN, this.now()), item, undefined, 1);
    }
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
        throw configError("weight", `must be a finite number >= 0, got ${String(weight)}`, RangeError);
      }
      if (this.dedupeBy !== undefined) {
        const d = this.dedupeBy(item);
        if (d !== undefined) dedupe = keyName(d) ?? "j" + JSON.stringify(d);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(signal.reason));
    const now = this.now();
    const r = dedupe === undefined
      ? this.core.add(key, weight, deadline, now)
      : this.core.add_dedupe(key, weight, deadline, dedupe, now);
    return this.track(r, item, signal, weight);
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
    if (signal !== undefined) {
      const listener = () => {
        if (this.core.cancel(id, Date.now())) this.drain();
      };
      this.signals[id] = signal;
      this.listeners[id] = listener;
      signal.addEventListener("abort", listener, { once: true });
    }
    if (r & 1) this.drain();
    return p;
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
    const n = this.core.drain();
    if (n === 0) {
      this.rearm();
      return;
    }
    const buf = new Float64Array(this.memory.buffer, this.core.buf_ptr(), n);
    // Transport, resolveKeys and hook calls run after the buffer is read (they may re-enter
    // the engine), in the order the engine asked for them, across nested drains too.
    const jobs = this.jobs;
    for (let i = 0; i < n;) {
      switch (buf[i]) {
        case TICK:
          i += 1;
          if (!this.tickQueued) {
            this.tickQueued = true;
            queueMicrotask(this.onTick);
          }
          break;
        case SETTLE: {
          const id = buf[i + 1], kind = buf[i + 2], arg = buf[i + 3];
          if (buf[i + 4] === 1) this.vals[id] = undefined;
          i += 5;
          const resolve = this.res[id], reject = this.rej[id], signal = this.signals[id];
          this.res[id] = this.rej[id] = undefined;
          if (signal !== undefined) {
            signal.removeEventListener("abort", this.listeners[id]);
            this.signals[id] = this.listeners[id] = undefined;
          }
          if (kind === 0) resolve(this.cur.results[arg]);
          else reject(this.outcomeError(kind, arg, signal));
          break;
        }
        case DISPATCH: {
          const m = buf[i + 6];
          const items = new Array(m);
          for (let j = 0; j < m; j++) items[j] = this.vals[buf[i + 7 + j]];
          const keyId = buf[i + 2], deadline = buf[i + 4];
          const batch = new Batch(buf[i + 1], keyId === DEFAULT_KEY ? undefined : this.keyVals[keyId], items,
            buf[i + 3], Number.isNaN(deadline) ? undefined : deadline);
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
              failed: buf[i + 8], error: buf[i + 9] === 1 ? this.cur.error : undefined,
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
    this.rearm();
    if (this.runningJobs) return; // an outer drain is running jobs: it runs these after its own
    this.runningJobs = true;
    try {
      for (let j = 0; j < jobs.length; j++) {
        const job = jobs[j];
        if (job.batch !== undefined) this.call(job.batch, job.weight);
        else if (job.timedOut !== undefined) this.timedOut(job.timedOut);
        else if (job.abandoned !== undefined) this.abandoned(job.abandoned);
        else if (job.end !== undefined) callHook(this.onBatchEnd, job.end);
        else this.route(job.route, job.items);
      }
    } finally {
      jobs.length = 0;
      this.runningJobs = false;
    }
  }

  outcomeError(kind, arg, signal) {
    const cur = this.cur;
    switch (kind) {
      case 1: return cur.results[arg];
      case 2: {
        const err = hbError("E_TRANSPORT",
          `hyperbatch: transport failed after ${arg} attempt${arg === 1 ? "" : "s"}: ${cur.error && cur.error.message || String(cur.error)}`,
          cur.error);
        err.attempts = arg;
        return err;
      }
      case 3: return cur.error;
      case 4: return hbError("E_FAIL_FAST", "hyperbatch: another item of the batch failed (fail_fast)", cur.results[arg]);
      case 5: return hbError("E_ATOMIC", "hyperbatch: the atomic batch failed", cur.results[arg]);
      default: {
        const code = CODES[arg];
        if (code === "E_ABORTED") return abortError(signal && signal.reason);
        if (code === "E_DEADLINE") return hbError(code, "hyperbatch: the item's deadline passed");
        if (code === "E_ROUTE") {
          return cur && cur.routeError !== undefined
            ? hbError(code, `hyperbatch: resolveKeys failed: ${cur.routeError && cur.routeError.message || String(cur.routeError)}`, cur.routeError)
            : hbError(code, "hyperbatch: resolveKeys returned no key for this item");
        }
        return hbError(code, `hyperbatch: ${code}`);
      }
    }
  }

  /** Arm the one host timer at the engine's next wake-up (none when idle). */
  rearm() {
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
    this.calls.set(batch.id, batch);
    if (this.onBatchStart !== undefined) {
      callHook(this.onBatchStart, { id: batch.id, key: batch.key, size: batch.items.length, weight, attempt: batch.attempt });
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
    if (this.calls.get(batch.id) !== batch) return; // timed out already: a late answer is ignored
    const n = batch.items.length;
    if (!Array.isArray(v) || v.length !== n) {
      const err = hbError("E_RESULT_SHAPE", `hyperbatch: transport must return an array of ${n} entries, got ${describe(v)}`);
      this.failure(batch, err, 2);
      return;
    }
    let codes, after;
    for (let i = 0; i < n; i++) {
      const x = v[i];
      if (x !== null && typeof x === "object" && isError(x)) {
        if (codes === undefined) {
          codes = new Uint8Array(n);
          after = new Float64Array(n).fill(NaN);
        }
        codes[i] = x.retryable === true ? 2 : 1;
        if (typeof x.retryAfterMs === "number") after[i] = x.retryAfterMs;
      }
    }
    this.calls.delete(batch.id);
    this.cur = { results: v, error: undefined };
    if (codes === undefined) this.core.complete_ok(batch.id, n, Date.now());
    else this.core.complete(batch.id, codes, after, Date.now());
    this.drain();
  }

  /** kind: 0 thrown/rejected, 1 timeout, 2 result shape. */
  failure(batch, err, kind) {
    if (this.calls.get(batch.id) !== batch) return;
    this.calls.delete(batch.id);
    const facts = err !== null && typeof err === "object" ? err : {};
    const retryable = facts.retryable === true ? 2 : facts.retryable === false ? 1 : 0;
    const status = typeof facts.status === "number" ? facts.status : NaN;
    let cls = 0;
    if (this.classify !== undefined) {
      try {
        cls = CLASSES[this.classify(err)] ?? 0;
      } catch {
        cls = 0; // a classify that throws falls back to the default rule
      }
    }
    this.cur = { results: undefined, error: err };
    this.core.fail(batch.id, kind, retryable, status, retryAfterMs(facts), cls, Date.now());
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
    let p;
    try {
      p = Promise.resolve(this.resolveKeys(items));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then((keys) => {
      if (!Array.isArray(keys) || keys.length !== items.length) {
        throw hbError("E_ROUTE", `hyperbatch: resolveKeys must return an array of ${items.length} keys, got ${describe(keys)}`);
      }
      const ids = new Uint32Array(keys.length);
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        ids[i] = k === undefined || k === null ? UNROUTED : Math.max(UNROUTED, this.internKey(k));
      }
      this.cur = { routeError: undefined };
      this.core.route_done(routeId, ids, Date.now());
      this.drain();
    }).catch((err) => {
      this.cur = { routeError: err };
      this.core.route_failed(routeId, Date.now());
      this.drain();
    });
  }

  flush(closing) {
    const id = closing ? this.core.close(Date.now()) : this.core.flush(Date.now());
    const p = new Promise((resolve) => this.flushes.set(id, resolve));
    this.drain();
    return p;
  }

  stats() {
    const s = this.core.stats();
    return {
      queued: s[0], inFlightBatches: s[1], inFlightItems: s[2], batches: s[3], items: s[4],
      succeeded: s[5], failed: s[6], retries: s[7], bisects: s[8], throttled: s[9],
    };
  }
}

/**
 * Batches `add(item)` calls into `transport(batch)` calls. See the package README and
 * CONTRACT.md for every option.
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
    if (!Array.isArray(items)) return Promise.reject(configError("addMany items", "must be an array"));
    return Promise.allSettled(items.map((item) => this.#runner.add(item, opts)));
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
}

if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(Batcher.prototype, Symbol.asyncDispose, {
    value: function () { return this.close(); }, writable: true, configurable: true,
  });
}

export { Batcher, setBindings };
