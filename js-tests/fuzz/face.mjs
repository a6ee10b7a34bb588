// The model and the generators of the JS-face fuzzer.
//
// A case is plain data: batcher options, a list of transport behaviours (used round-robin, one
// per call) and a list of caller actions. `runCase` builds a batcher from it, plays the actions
// with small real-time windows, closes it, and checks the contract's guarantees for every item
// accepted on the way. Any broken invariant throws a `FaceViolation` naming it.
import fc from "fast-check";
import * as cat from "./catalogue.mjs";

/** The contract's error codes. */
export const CODES = ["E_CONFIG", "E_CLOSED", "E_FULL", "E_TOO_LARGE", "E_ABORTED", "E_DEADLINE", "E_TIMEOUT",
  "E_TRANSPORT", "E_RESULT_SHAPE", "E_FAIL_FAST", "E_ATOMIC", "E_ROUTE", "E_CIRCUIT_OPEN"];
const CODE_SET = new Set(CODES);
/** Codes an add may be refused with before it is accepted. */
const REFUSAL_CODES = new Set(["E_CONFIG", "E_CLOSED", "E_FULL", "E_TOO_LARGE", "E_DEADLINE", "E_ABORTED"]);

export const CLOSE_BOUND_MS = 2000;

/** What the run has exercised (outcomes by code, stats totals), printed by the runner. */
export const coverage = new Map();
const tally = (what, n = 1) => coverage.set(what, (coverage.get(what) ?? 0) + n);

export class FaceViolation extends Error {
  constructor(invariant, detail) {
    super(`${invariant}: ${detail}`);
    this.name = "FaceViolation";
    this.invariant = invariant;
  }
}

// ------------------------------------------------------------------------------ generators

const withTags = (entries, exclude) => entries.filter((e) => !(e.tags ?? []).some((t) => exclude.has(t)));
const names = (entries, exclude) => withTags(entries, exclude).map((e) => e.name);
const byName = (entries) => new Map(entries.map((e) => [e.name, e]));
const REASON = byName(cat.REASONS), ITEM_ERROR = byName(cat.ITEM_ERRORS), GARBAGE = byName(cat.GARBAGE);
const BAD_KEY = byName(cat.BAD_KEYS), DEDUPE = byName(cat.DEDUPE), WEIGHT = byName(cat.WEIGHTS);
const PROMISE_ENTRY = byName(cat.PROMISE_ENTRIES);

/** `arb` or, with weight `absent` against `present`, undefined (the option's default). */
const maybe = (arb, absent = 1, present = 1) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: arb, weight: present });

/** Every tag the catalogue knows, for `--exclude`. */
export function catalogueTags() {
  const tags = new Set();
  for (const list of [cat.REASONS, cat.ITEM_ERRORS, cat.PROMISE_ENTRIES, cat.GARBAGE, cat.BAD_KEYS, cat.DEDUPE, cat.WEIGHTS, cat.UNKNOWN_OPTIONS]) {
    for (const e of list) for (const t of e.tags ?? []) tags.add(t);
  }
  for (const t of Object.values(cat.RESOLVE_KEYS_TAGS).flat()) tags.add(t);
  tags.add("reentrant");
  // A check, not values: a call whose callers all aborted or expired must see batch.signal
  // abort, and close() waits for it.
  tags.add("abandoned-calls");
  return [...tags].sort();
}

/** The arbitrary of one case; `exclude` is a set of catalogue tags to leave out. */
export function caseArbitrary(exclude = new Set()) {
  const reentry = exclude.has("reentrant") ? cat.REENTRY.filter((r) => r !== "close") : cat.REENTRY;
  const hooks = cat.HOOKS.filter((h) => h !== "reentrant" || !exclude.has("reentrant"));
  const hook = maybe(fc.record({ kind: fc.constantFrom(...hooks), reenter: fc.constantFrom(...reentry) }), 2, 1);
  const resolveKinds = cat.RESOLVE_KEYS.filter((k) => !(cat.RESOLVE_KEYS_TAGS[k] ?? []).some((t) => exclude.has(t)));
  const unknown = names(cat.UNKNOWN_OPTIONS, exclude);

  const retry = fc.record({
    maxAttempts: maybe(fc.integer({ min: 1, max: 4 }), 1, 4),
    baseDelayMs: fc.integer({ min: 0, max: 3 }),
    maxDelayMs: fc.integer({ min: 0, max: 10 }),
    multiplier: maybe(fc.integer({ min: 1, max: 3 })),
    jitter: maybe(fc.constantFrom("full", "equal", "none")),
    maxRetryAfterMs: maybe(fc.integer({ min: 0, max: 10 })),
    classify: maybe(fc.constantFrom(...cat.CLASSIFY), 2, 1),
    budget: maybe(fc.oneof(fc.constant(false), fc.record({
      maxTokens: fc.integer({ min: 1, max: 10 }), tokenRatio: fc.integer({ min: 0, max: 10 }).map((x) => x / 10),
    }))),
  });
  const config = fc.record({
    maxBatchSize: maybe(fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 300 })), 1, 3),
    maxWaitMs: maybe(fc.integer({ min: 0, max: 5 }), 1, 6),
    maxBatchWeight: maybe(fc.integer({ min: 1, max: 12 }), 2, 1),
    weigh: fc.boolean(),
    keyCount: fc.integer({ min: 0, max: 5 }),
    keyOf: fc.boolean(),
    resolveKeys: maybe(fc.constantFrom(...resolveKinds), 3, 1),
    dedupe: fc.boolean(),
    maxQueued: maybe(fc.integer({ min: 1, max: 8 }), 2, 1),
    whenFull: maybe(fc.constantFrom("reject", "wait")),
    maxInFlight: maybe(fc.integer({ min: 1, max: 4 })),
    maxInFlightPerKey: maybe(fc.integer({ min: 1, max: 3 }), 2, 1),
    timeoutMs: maybe(fc.integer({ min: 5, max: 30 })),
    errorMode: maybe(fc.constantFrom("partial", "fail_fast", "atomic")),
    retry: maybe(retry, 1, 3),
    bisect: maybe(fc.boolean()),
    adaptive: maybe(fc.boolean()),
    flushOnHide: maybe(fc.boolean(), 3, 1), // inert in Node: it must change nothing
    circuitBreaker: maybe(fc.record({
      failureThreshold: maybe(fc.integer({ min: 1, max: 3 }), 1, 4), resetMs: maybe(fc.integer({ min: 0, max: 20 }), 1, 4),
    }), 2, 1),
    onCircuitChange: hook,
    onBatchStart: hook,
    onBatchEnd: hook,
    unknownOption: unknown.length === 0 ? fc.constant(undefined)
      : maybe(fc.record({ where: fc.constantFrom("top", "retry", "budget"), name: fc.constantFrom(...unknown),
        value: fc.integer({ min: 0, max: cat.UNKNOWN_VALUES.length - 1 }) }), 30, 1),
  });

  const reasons = names(cat.REASONS, exclude), itemErrors = names(cat.ITEM_ERRORS, exclude);
  const garbage = names(cat.GARBAGE, exclude), promiseEntries = names(cat.PROMISE_ENTRIES, exclude);
  const behaviours = [
    { arbitrary: fc.constantFrom("ok", "ok-async", "ok-late"), weight: 6 },
    { arbitrary: fc.constantFrom("item-errors", "item-errors-late"), weight: 3 },
    { arbitrary: fc.constantFrom(...cat.BEHAVIOURS.filter((b) => b !== "reentrant" || !exclude.has("reentrant"))), weight: 4 },
  ];
  if (promiseEntries.length > 0) behaviours.push({ arbitrary: fc.constantFrom(...cat.PROMISE_BEHAVIOURS), weight: 3 });
  const behaviour = fc.record({
    b: fc.oneof(...behaviours),
    reason: fc.constantFrom(...reasons),
    itemError: fc.constantFrom(...itemErrors),
    // Entry i of a promise-entries call (when it is not a plain value) is of kind
    // promiseEntries[(i + call) % length].
    promiseEntries: promiseEntries.length === 0 ? fc.constant([])
      : fc.array(fc.constantFrom(...promiseEntries), { minLength: 1, maxLength: 3 }),
    every: fc.integer({ min: 1, max: 4 }),
    delay: fc.integer({ min: 0, max: 10 }),
    garbage: fc.constantFrom(...garbage),
    reenter: fc.constantFrom(...reentry),
  });

  const goodKey = fc.integer({ min: 0, max: cat.KEYS.length - 1 });
  const keyChoice = fc.oneof(
    { arbitrary: goodKey.map((i) => ({ good: i })), weight: 8 },
    { arbitrary: fc.constant({ none: true }), weight: 2 },
    { arbitrary: fc.constantFrom(...cat.BAD_KEYS.map((k) => ({ bad: k.name })), { throws: true }), weight: 1 },
  );
  const weightName = fc.oneof(
    { arbitrary: fc.constantFrom("1", "0", "2", "0.5", "5"), weight: 10 },
    { arbitrary: fc.constantFrom(...names(cat.WEIGHTS, exclude)), weight: 1 },
  );
  const dedupeName = fc.constantFrom(...names(cat.DEDUPE, exclude));
  const item = fc.record({ k: keyChoice, w: weightName, d: dedupeName, rk: goodKey });
  const opts = maybe(fc.oneof(
    { arbitrary: fc.record({
      key: maybe(keyChoice, 3, 1),
      weight: maybe(weightName, 3, 1),
      deadline: maybe(fc.oneof(
        { arbitrary: fc.integer({ min: -3, max: 30 }), weight: 10 },
        { arbitrary: fc.constantFrom("far", "NaN", "string"), weight: 1 },
      ), 1, 1),
      signal: maybe(fc.oneof(
        { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 10 },
        { arbitrary: fc.constantFrom("garbage"), weight: 1 },
      ), 1, 1),
    }), weight: 20 },
    { arbitrary: fc.constantFrom("a string", "null", "throwing getter"), weight: 1 },
  ), 1, 1);
  const action = fc.oneof(
    { arbitrary: fc.record({ t: fc.constant("add"), item, opts }), weight: 12 },
    { arbitrary: fc.record({ t: fc.constant("addMany"), items: fc.array(item, { maxLength: 5 }), opts }), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant("abort"), signal: fc.integer({ min: 0, max: 2 }), reason: fc.constantFrom(...reasons) }), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant("flush"), wait: fc.boolean() }), weight: 2 },
    { arbitrary: fc.record({ t: fc.constant("close") }), weight: 1 },
    { arbitrary: fc.record({ t: fc.constant("wait"), ms: fc.integer({ min: 0, max: 5 }) }), weight: 4 },
    { arbitrary: fc.record({ t: fc.constantFrom("microtask", "macrotask", "stats") }), weight: 2 },
  );
  return fc.record({
    config,
    transport: fc.array(behaviour, { minLength: 1, maxLength: 6 }),
    actions: fc.array(action, { maxLength: 24 }),
  });
}

// ------------------------------------------------------------------------------ helpers

export const realTimers = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
const sleep = (ms) => new Promise((r) => realTimers.setTimeout(r, ms));
const macrotask = () => new Promise((r) => setImmediate(r));

/** Reads a property without letting a hostile value throw into the fuzzer. */
function peek(v, name) {
  try {
    return v == null ? undefined : v[name];
  } catch {
    return undefined;
  }
}
function isErrorSafe(v) {
  try {
    return v instanceof Error;
  } catch {
    return false;
  }
}
/** A short description of any value, hostile ones included. */
export function show(v) {
  try {
    if (typeof v === "symbol") return v.toString();
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "string") return JSON.stringify(v);
    if (v === null || typeof v !== "object") return String(v);
    if (isErrorSafe(v)) return `${peek(v, "name")}(code=${show(peek(v, "code"))}, ${JSON.stringify(String(peek(v, "message")))})`;
    return Object.prototype.toString.call(v);
  } catch {
    return "<a value that throws when looked at>";
  }
}

/** The engine-key identity of a compatibility key: strings and numbers distinct, 0 and -0 equal. */
const keyIdentity = (k) => (k === undefined ? "default" : typeof k === "string" ? `s${k}` : `n${String(k)}`);
const keyIsGood = (k) => typeof k === "string" || (typeof k === "number" && !Number.isNaN(k));

// ------------------------------------------------------------------------------ the world

/** One case's batcher, its callers' records and the transport's memory of what it handed out. */
class World {
  constructor(Batcher, c, harness) {
    this.Batcher = Batcher;
    this.c = c;
    this.cfg = c.config;
    this.harness = harness;
    this.b = undefined;
    this.records = []; // one per add() call
    this.manyRecords = [];
    this.seq = 0;
    this.nextItemId = 0;
    this.nestedAccepted = 0;
    this.reentries = 0;
    this.inAdd = 0;
    this.closedAt = Infinity; // seq of the first close() call
    this.controllers = [0, 1, 2].map(() => new AbortController());
    this.sentinels = new Set(); // values thrown by the caller's own functions
    this.thrown = new Set(); // values the transport threw or rejected with
    this.itemErrors = new Set(); // item error entries the transport returned
    this.entryOwner = new Map(); // a value entry the transport returned → its item
    // What a promise entry rejected with (as is, primitives too) → the items it may reach.
    this.entryRejections = new Map();
    this.firstSent = new Set();
    this.lastFirstSend = new Map(); // key identity → seq of the last first-sent item
    this.calls = 0;
    this.callLog = []; // { n, batch, plan, answered, returned (the array it answered with) }
    this.callByItems = new Map(); // batch.items → its callLog entry
    this.starts = 0;
    this.ends = 0;
    this.violations = [];
    this.itemInfo = new Map(); // item → { seq, key (identity) or undefined if routed, weight, d }
  }

  /**
   * The cause of E_FAIL_FAST / E_ATOMIC: the failing entry the transport returned, or, for an
   * entry that cannot even be read (a Proxy whose traps throw), the E_RESULT_SHAPE it failed with.
   */
  entryCause(cause) {
    if (this.itemErrors.has(cause) || this.entryRejections.has(cause)) return true;
    return isErrorSafe(cause) && peek(cause, "code") === "E_RESULT_SHAPE";
  }

  violate(invariant, detail) {
    const v = new FaceViolation(invariant, detail);
    this.violations.push(v);
    return v;
  }

  sentinel(what) {
    const e = new Error(`caller's ${what} threw`);
    this.sentinels.add(e);
    return e;
  }

  // -------------------------------------------------------------------- options

  options() {
    const cfg = this.cfg;
    const o = { transport: (batch) => this.transport(batch) };
    const set = (name, v) => {
      if (v !== undefined) o[name] = v;
    };
    set("maxBatchSize", cfg.maxBatchSize);
    set("maxWaitMs", cfg.maxWaitMs);
    set("maxBatchWeight", cfg.maxBatchWeight);
    if (cfg.weigh) o.weigh = (x) => x.w;
    if (cfg.keyOf) {
      o.keyOf = (x) => {
        if (x.k === "throws") throw this.sentinel("keyOf");
        return x.k;
      };
    }
    if (cfg.resolveKeys !== undefined) o.resolveKeys = (items) => this.resolveKeys(items);
    if (cfg.dedupe) o.dedupeBy = (x) => x.d;
    set("maxQueued", cfg.maxQueued);
    set("whenFull", cfg.whenFull);
    set("maxInFlight", cfg.maxInFlight);
    set("maxInFlightPerKey", cfg.maxInFlightPerKey);
    set("timeoutMs", cfg.timeoutMs);
    set("errorMode", cfg.errorMode);
    set("bisect", cfg.bisect);
    set("adaptive", cfg.adaptive);
    set("flushOnHide", cfg.flushOnHide);
    if (cfg.circuitBreaker !== undefined) {
      o.circuitBreaker = {};
      for (const [k, v] of Object.entries(cfg.circuitBreaker)) if (v !== undefined) o.circuitBreaker[k] = v;
    }
    if (cfg.onCircuitChange !== undefined) o.onCircuitChange = this.hook("onCircuitChange", cfg.onCircuitChange);
    if (cfg.retry !== undefined) {
      const r = {};
      for (const [k, v] of Object.entries(cfg.retry)) if (v !== undefined && k !== "classify" && k !== "budget") r[k] = v;
      r.maxDelayMs = Math.max(r.maxDelayMs, r.baseDelayMs);
      if (cfg.retry.budget !== undefined) r.budget = cfg.retry.budget === false ? false : { ...cfg.retry.budget };
      if (cfg.retry.classify !== undefined) r.classify = this.classifier(cfg.retry.classify);
      o.retry = r;
    }
    if (cfg.onBatchStart !== undefined) o.onBatchStart = this.hook("onBatchStart", cfg.onBatchStart);
    if (cfg.onBatchEnd !== undefined) o.onBatchEnd = this.hook("onBatchEnd", cfg.onBatchEnd);
    const u = cfg.unknownOption;
    if (u !== undefined) {
      const value = cat.UNKNOWN_VALUES[u.value];
      if (u.where === "top") {
        Object.defineProperty(o, u.name, { value, enumerable: true, writable: true, configurable: true });
      } else {
        o.retry = o.retry ?? {};
        let target = o.retry;
        if (u.where === "budget") {
          if (typeof o.retry.budget !== "object") o.retry.budget = {};
          target = o.retry.budget;
        }
        Object.defineProperty(target, u.name, { value, enumerable: true, writable: true, configurable: true });
      }
    }
    return o;
  }

  classifier(kind) {
    return (err) => {
      switch (kind) {
        case "retry": case "bisect": case "fail": return kind;
        case "garbage": return 42;
        case "undefined": return undefined;
        case "throw": throw this.sentinel("classify");
        case "reads-status": return err.status >= 500 ? "retry" : "bisect"; // hostile errors make this throw
        default: return { toString: () => "retry" };
      }
    };
  }

  hook(name, { kind, reenter }) {
    return (info) => {
      if (name === "onBatchStart") this.starts += 1;
      else if (name === "onBatchEnd") {
        this.ends += 1;
        this.checkEndResults(info);
      }
      switch (kind) {
        case "throw": throw this.sentinel(name);
        case "throw-proxy": throw cat.trapEverything();
        case "reject": return Promise.reject(this.sentinel(name));
        case "return-proxy": return cat.trapEverything();
        case "reentrant": this.reenter(reenter); return undefined;
        case "check-info":
          if (name === "onCircuitChange") {
            if (!["open", "half_open", "closed"].includes(info?.state)) this.violate("hook info", `${name} got ${show(info)}`);
          } else if (typeof info?.id !== "number" || typeof info.size !== "number" || !(info.attempt >= 1)) {
            this.violate("hook info", `${name} got ${show(info)} without numeric id/size/attempt`);
          }
          return undefined;
        default: return undefined;
      }
    };
  }

  /**
   * onBatchEnd's `info.results` is the array the transport returned (its promise entries as
   * they were, not what they settled to), for a call that ended on that array.
   */
  checkEndResults(info) {
    const call = this.callByItems.get(peek(info, "items"));
    if (call === undefined || call.returned === undefined) return;
    const results = peek(info, "results");
    if (peek(info, "error") === undefined ? results !== call.returned : results !== undefined && results !== call.returned) {
      this.violate("onBatchEnd info.results", `call #${call.n} returned an array, info.results is ${show(results)} (error ${show(peek(info, "error"))})`);
    }
  }

  /** Calls back into the batcher from a hook, the transport or resolveKeys. */
  reenter(op) {
    const b = this.b;
    // Bounded: a transport that adds an item on every call would otherwise keep the batcher
    // busy forever (a caller's loop, not the library's).
    if (b === undefined || this.reentries++ >= 4) return;
    switch (op) {
      case "add": this.add({ k: { good: 0 }, w: "1", d: "'a'", rk: 0 }, undefined); break;
      case "addMany": this.addMany([{ k: { good: 1 }, w: "1", d: "'b'", rk: 1 }], undefined); break;
      case "flush": this.flush(); break;
      case "stats": this.checkStats(b.stats(), "stats() inside a callback"); break;
      case "close": this.close(); break;
      default: break;
    }
  }

  // -------------------------------------------------------------------- the caller's side

  makeItem(spec) {
    const cfg = this.cfg;
    const key = (choice) => {
      if (choice.none) return undefined;
      if (choice.bad !== undefined) return BAD_KEY.get(choice.bad).make();
      return cfg.keyCount === 0 ? undefined : cat.KEYS[choice.good % cfg.keyCount];
    };
    return {
      id: this.nextItemId++,
      k: spec.k.throws ? "throws" : key(spec.k),
      w: WEIGHT.get(spec.w).make(cfg.maxBatchWeight),
      d: DEDUPE.get(spec.d).make(),
      rk: cat.KEYS[spec.rk % Math.max(1, cfg.keyCount)],
    };
  }

  makeOpts(spec) {
    if (spec === undefined) return undefined;
    if (spec === "a string") return "key=a";
    if (spec === "null") return null;
    if (spec === "throwing getter") {
      const s = this.sentinel("opts.key getter");
      return Object.defineProperty({}, "key", { get() { throw s; }, enumerable: true });
    }
    const o = {};
    if (spec.key !== undefined) o.key = this.makeItem({ k: spec.key, w: "1", d: "'a'", rk: 0 }).k;
    if (spec.weight !== undefined) o.weight = WEIGHT.get(spec.weight).make(this.cfg.maxBatchWeight);
    if (spec.deadline !== undefined) {
      const d = spec.deadline;
      o.deadline = d === "far" ? Date.now() + 60_000 : d === "NaN" ? NaN : d === "string" ? "soon" : Date.now() + d;
    }
    if (spec.signal !== undefined) {
      o.signal = spec.signal === "garbage" ? { aborted: false } : this.controllers[spec.signal].signal;
    }
    return o;
  }

  /** What the model knows of an accepted item: its key (undefined when resolveKeys routes it). */
  describeAccepted(item, opts, seq) {
    let key = opts != null && typeof opts === "object" ? opts.key : undefined;
    if (key === undefined && this.cfg.keyOf) key = item.k;
    let routed = false;
    if (key === undefined && this.cfg.resolveKeys !== undefined) routed = true;
    const weight = opts != null && typeof opts === "object" && opts.weight !== undefined ? opts.weight
      : this.cfg.weigh ? item.w : 1;
    const info = {
      seq, routed, key: routed ? undefined : keyIdentity(key), weight,
      deadline: opts?.deadline, signal: opts?.signal,
    };
    this.itemInfo.set(item, info);
    return info;
  }

  /** add() through the model: counts acceptance by `stats().items`, tracks the promise. */
  add(spec, optsSpec) {
    const item = this.makeItem(spec);
    const opts = this.makeOpts(optsSpec);
    const rec = this.call(() => this.b.add(item, opts), 1, `add(${show(item.id)})`);
    if (rec === undefined) return;
    rec.item = item;
    if (rec.accepted === 1) rec.info = this.describeAccepted(item, opts, rec.seq);
    this.records.push(rec);
    this.watch(rec, rec.promise);
  }

  addMany(specs, optsSpec) {
    const items = specs.map((s) => this.makeItem(s));
    const opts = this.makeOpts(optsSpec);
    const rec = this.call(() => this.b.addMany(items, opts), items.length, `addMany(${items.length})`);
    if (rec === undefined) return;
    rec.items = items;
    this.manyRecords.push(rec);
    rec.state = "pending";
    rec.promise.then((results) => {
      rec.state = "fulfilled";
      rec.results = results;
    }, (reason) => {
      rec.state = "rejected";
      rec.reason = reason;
    });
    // Which of the items were accepted is not visible from outside; the checks use counts.
    if (rec.accepted > 0) for (const x of items) this.describeAccepted(x, opts, rec.seq);
  }

  /** Runs an add-like call, measuring how many items the batcher accepted during it. */
  call(fn, most, what) {
    const b = this.b;
    const seq = ++this.seq;
    const before = b.stats().items;
    const nestedBefore = this.nestedAccepted;
    this.inAdd += 1;
    let promise;
    try {
      promise = fn();
    } catch (e) {
      this.violate("add returns a promise", `${what} threw synchronously: ${show(e)}`);
      return undefined;
    } finally {
      this.inAdd -= 1;
    }
    const accepted = b.stats().items - before - (this.nestedAccepted - nestedBefore);
    this.nestedAccepted += accepted;
    if (typeof promise?.then !== "function") {
      this.violate("add returns a promise", `${what} returned ${show(promise)}`);
      return undefined;
    }
    if (accepted < 0 || accepted > most) this.violate("stats.items", `${what} changed items by ${accepted}`);
    if (accepted > 0 && seq > this.closedAt) this.violate("E_CLOSED", `${what} was accepted after close()`);
    return { seq, promise, accepted, state: "pending", settledAt: undefined, count: 0 };
  }

  watch(rec, promise) {
    promise.then((value) => {
      rec.count += 1;
      rec.state = "fulfilled";
      rec.value = value;
      rec.settledAt = Date.now();
    }, (reason) => {
      rec.count += 1;
      rec.state = "rejected";
      rec.reason = reason;
      rec.settledAt = Date.now();
      if (rec.accepted === 0) this.checkRefusal(rec, reason);
    });
  }

  flush() {
    const seq = ++this.seq;
    // Items queued now (accepted, not yet sent) must have settled when it resolves.
    const strict = this.cfg.whenFull !== "wait" && this.cfg.resolveKeys === undefined;
    // (A dedupe follower is never sent itself: its slot may be in flight, so it is left out.)
    const queued = strict ? this.records.filter((r) => r.accepted === 1 && r.state === "pending"
      && !this.firstSent.has(r.item) && !(this.cfg.dedupe && r.item.d !== undefined)) : [];
    let p;
    try {
      p = this.b.flush();
    } catch (e) {
      this.violate("flush returns a promise", `flush() threw synchronously: ${show(e)}`);
      return Promise.resolve();
    }
    return p.then(() => {
      const left = queued.filter((r) => r.state === "pending");
      if (left.length > 0) {
        this.violate("flush", `flush() #${seq} resolved with ${left.length} of the items queued at its call unsettled`);
      }
    }, (e) => {
      this.violate("flush", `flush() rejected with ${show(e)}`);
    });
  }

  close() {
    if (this.closedAt === Infinity) this.closedAt = this.seq;
    let p;
    try {
      p = this.b.close();
    } catch (e) {
      this.violate("close returns a promise", `close() threw synchronously: ${show(e)}`);
      return new Promise(() => {});
    }
    return p.then(() => {
      const left = this.records.filter((r) => r.accepted === 1 && r.state === "pending");
      if (left.length > 0) {
        this.violate("close drops nothing", `close() resolved with ${left.length} accepted items unsettled (first: item ${left[0].item.id})`);
      }
      return "closed";
    }, (e) => {
      this.violate("close", `close() rejected with ${show(e)}`);
      return "closed";
    });
  }

  // -------------------------------------------------------------------- the transport's side

  transport(batch) {
    const n = this.calls++;
    if (this.inAdd > 0) this.violate("dispatch timing", "the transport was called synchronously from inside add()");
    this.checkBatch(batch);
    const plan = this.c.transport[n % this.c.transport.length];
    const logEntry = { n, batch, plan: plan.b, answered: false, returned: undefined };
    this.callLog.push(logEntry);
    this.callByItems.set(batch.items, logEntry);
    const answer = (results) => (logEntry.returned = results);
    const ok = () => batch.items.map((x) => {
      const entry = { echo: x, call: n };
      this.entryOwner.set(entry, x);
      return entry;
    });
    const withItemErrors = () => ok().map((entry, i) => {
      if ((i + n) % plan.every !== 0) return entry;
      const e = ITEM_ERROR.get(plan.itemError).make();
      this.itemErrors.add(e);
      return e;
    });
    const reason = () => {
      const r = REASON.get(plan.reason).make();
      if (r !== null && (typeof r === "object" || typeof r === "function")) this.thrown.add(r);
      else this.thrown.add(r); // primitives: identity is their value
      return r;
    };
    const late = (fn) => new Promise((resolve, reject) => {
      realTimers.setTimeout(() => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      }, plan.delay);
    });
    const garbage = () => GARBAGE.get(plan.garbage).make(batch.items.length, ok());
    const withPromiseEntries = () => ok().map((entry, i) => {
      if ((i + n) % plan.every !== 0) return entry;
      const x = batch.items[i];
      let kind = PROMISE_ENTRY.get(plan.promiseEntries[(i + n) % plan.promiseEntries.length]);
      if (kind.needsTimeout && this.cfg.timeoutMs === undefined) kind = PROMISE_ENTRY.get("resolves later to a value");
      return kind.make({
        value: entry,
        later: (fn) => realTimers.setTimeout(fn, plan.delay),
        valueOf: (v) => {
          this.entryOwner.set(v, x);
          return v;
        },
        reason: (r) => {
          const owners = this.entryRejections.get(r) ?? new Set();
          this.entryRejections.set(r, owners.add(x));
          return r;
        },
      });
    });
    switch (plan.b) {
      case "ok": return answer(ok());
      case "ok-async": return Promise.resolve().then(() => answer(ok()));
      case "ok-late": return late(() => answer(ok()));
      case "item-errors": return answer(withItemErrors());
      case "item-errors-late": return late(() => answer(withItemErrors()));
      case "promise-entries": return answer(withPromiseEntries());
      case "promise-entries-late": return late(() => answer(withPromiseEntries()));
      case "garbage": return garbage();
      case "garbage-async": return late(garbage);
      case "throw": throw reason();
      case "reject": return Promise.reject(reason());
      case "reject-late": return late(() => {
        throw reason();
      });
      case "hang":
        if (this.cfg.timeoutMs === undefined) return late(ok);
        return new Promise(() => {});
      case "hang-until-abort": {
        const signal = batch.signal;
        const entry = this.callLog[this.callLog.length - 1];
        return new Promise((resolve, reject) => {
          signal.addEventListener("abort", () => {
            entry.answered = true;
          }, { once: true });
          const answer = () => realTimers.setTimeout(() => resolve(ok()), plan.delay + 20);
          if (signal.aborted) reject(signal.reason);
          else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
          if (this.cfg.timeoutMs === undefined) answer();
        });
      }
      case "thenable-twice": {
        const first = ok();
        return {
          then(resolve, reject) {
            resolve(first);
            reject(new Error("second settle"));
            resolve(first);
          },
        };
      }
      case "thenable-then-throws": {
        const r = reason();
        return { then() { throw r; } };
      }
      case "thenable-then-getter-throws": {
        const r = reason();
        return Object.defineProperty({}, "then", { get() { throw r; } });
      }
      case "reentrant":
        this.reenter(plan.reenter);
        return answer(ok());
      default:
        throw new Error(`fuzzer: unknown behaviour ${plan.b}`);
    }
  }

  resolveKeys(items) {
    const kind = this.cfg.resolveKeys;
    const keys = () => items.map((x) => x.rk);
    switch (kind) {
      case "sync": return keys();
      case "async": return Promise.resolve().then(keys);
      case "late": return sleep(2).then(keys);
      case "throws": throw this.sentinel("resolveKeys");
      case "rejects": return Promise.reject(this.sentinel("resolveKeys"));
      case "wrong-length": return keys().slice(1);
      case "not-array": return { 0: "a" };
      case "garbage-keys": return items.map((x, i) => [Symbol("k"), NaN, {}, x.rk][i % 4]);
      case "null-keys": return items.map(() => null);
      case "proxy-result": return cat.trapEverything(keys());
      default: throw new Error(`fuzzer: unknown resolveKeys ${kind}`);
    }
  }

  /** What every call's `batch` must satisfy. */
  checkBatch(batch) {
    const cfg = this.cfg;
    const items = batch.items;
    if (!Array.isArray(items) || items.length === 0) {
      this.violate("batch shape", `batch.items is ${show(items)}`);
      return;
    }
    if (!(Number.isInteger(batch.attempt) && batch.attempt >= 1)) this.violate("batch.attempt", `got ${show(batch.attempt)}`);
    const cap = cfg.maxBatchSize ?? 100;
    if (items.length > cap) this.violate("maxBatchSize", `a batch of ${items.length} with maxBatchSize ${cap}`);
    let weight = 0;
    for (const x of items) {
      const info = this.itemInfo.get(x);
      if (info === undefined) {
        this.violate("batch items", `batch holds ${show(x)}, which no caller added`);
        continue;
      }
      if (typeof info.weight === "number") weight += info.weight;
      if (!info.routed && info.key !== keyIdentity(batch.key)) {
        this.violate("keys", `item ${x.id} of key ${info.key} sent in a batch of key ${keyIdentity(batch.key)}`);
      }
      if (!this.firstSent.has(x)) {
        this.firstSent.add(x);
        if (!info.routed && info.seq !== undefined) {
          const last = this.lastFirstSend.get(info.key) ?? -Infinity;
          if (info.seq < last) {
            this.violate("FIFO per key", `item ${x.id} (add #${info.seq}) first sent after add #${last} of key ${info.key}`);
          }
          this.lastFirstSend.set(info.key, Math.max(last, info.seq));
        }
      }
    }
    if (cfg.maxBatchWeight !== undefined && weight > cfg.maxBatchWeight + 1e-9) {
      this.violate("maxBatchWeight", `a batch of weight ${weight} with maxBatchWeight ${cfg.maxBatchWeight}`);
    }
    if (batch.deadline !== undefined && typeof batch.deadline !== "number") {
      this.violate("batch.deadline", `got ${show(batch.deadline)}`);
    }
  }

  // -------------------------------------------------------------------- checks

  checkStats(s, when) {
    const keys = ["queued", "inFlightBatches", "inFlightItems", "batches", "items", "succeeded", "failed", "retries", "bisects", "throttled"];
    for (const k of keys) {
      if (!(Number.isInteger(s[k]) && s[k] >= 0)) this.violate("stats", `${when}: ${k} = ${show(s[k])}`);
    }
    const maxQueued = this.cfg.maxQueued ?? 10000;
    if (s.queued > maxQueued) this.violate("backpressure", `${when}: queued ${s.queued} > maxQueued ${maxQueued}`);
    const maxInFlight = this.cfg.maxInFlight ?? 4;
    if (s.inFlightBatches > maxInFlight) this.violate("maxInFlight", `${when}: ${s.inFlightBatches} calls in flight > ${maxInFlight}`);
    if (s.succeeded + s.failed > s.items) this.violate("stats", `${when}: succeeded ${s.succeeded} + failed ${s.failed} > items ${s.items}`);
  }

  /** A refused add: a library error with a refusal code, or the caller's own function's error. */
  checkRefusal(rec, reason) {
    if (this.sentinels.has(reason)) return;
    const code = peek(reason, "code");
    tally(`refused ${code}`);
    if (!isErrorSafe(reason) || !CODE_SET.has(code)) {
      this.violate("error codes", `an add was refused with ${show(reason)}, not a library error with a code`);
      return;
    }
    if (!REFUSAL_CODES.has(code)) this.violate("error codes", `an add was refused with ${code}`);
    if (rec.seq > this.closedAt && !["E_CLOSED", "E_CONFIG", "E_ABORTED"].includes(code)) {
      this.violate("E_CLOSED", `an add after close() was refused with ${code}`);
    }
    if (code === "E_FULL" && this.cfg.whenFull === "wait") this.violate("whenFull", "E_FULL with whenFull: \"wait\"");
  }

  /**
   * A call whose every item was aborted or passed its deadline must see its `batch.signal`
   * abort (so that a fetch nobody waits for is cancelled).
   */
  checkAbandonedCalls() {
    // With dedupeBy, callers that joined a slot ride on a call without their item in it: who
    // still waits is not visible from the call's items, so this check needs dedupe off.
    if (this.cfg.dedupe) return;
    const byItem = new Map(this.records.filter((r) => r.accepted === 1).map((r) => [r.item, r]));
    for (const call of this.callLog) {
      if (call.plan !== "hang-until-abort" || call.answered) continue;
      const recs = call.batch.items.map((x) => byItem.get(x));
      if (recs.some((r) => r === undefined || r.state !== "rejected")) continue;
      const codes = recs.map((r) => peek(r.reason, "code"));
      if (codes.every((c) => c === "E_ABORTED" || c === "E_DEADLINE")) {
        this.violate("abandoned call aborts", `call #${call.n} (items ${call.batch.items.map((x) => x.id).join(",")}) lost every caller (${codes.join(",")}) but its batch.signal never aborted`);
      }
    }
  }

  /** A rejection not known to be a refusal or an outcome (addMany's entries): any legal one. */
  checkAnyReason(reason, what) {
    if (this.sentinels.has(reason) || this.itemErrors.has(reason) || this.entryRejections.has(reason)) return;
    if (!isErrorSafe(reason) || !CODE_SET.has(peek(reason, "code")) || this.thrown.has(reason)) {
      this.violate("error codes", `${what} rejected with ${show(reason)}`);
    }
  }

  /** Whether `item` may get the outcome of `owner`'s entry: a dedupe follower of the same key. */
  sharesSlot(item, owner) {
    const info = this.itemInfo.get(item), other = this.itemInfo.get(owner);
    return this.cfg.dedupe && item.d !== undefined && sameValueZero(item.d, owner.d)
      && (info.routed || other.routed || info.key === other.key);
  }

  /** An accepted item's outcome. */
  checkOutcome(rec) {
    const item = rec.item, info = rec.info;
    tally(rec.state === "fulfilled" ? "fulfilled" : this.itemErrors.has(rec.reason) ? "item error"
      : this.entryRejections.has(rec.reason) ? "promise entry rejected" : `${peek(rec.reason, "code")}`);
    if (rec.state === "fulfilled") {
      const owner = this.entryOwner.get(rec.value);
      if (owner === undefined) {
        this.violate("results map by position", `item ${item.id} resolved with ${show(rec.value)}, not an entry the transport returned`);
      } else if (owner !== item) {
        if (!this.sharesSlot(item, owner)) {
          this.violate(this.cfg.dedupe ? "dedupe identity" : "results map by position",
            `item ${item.id} (dedupe ${show(item.d)}) got the entry of item ${owner.id} (dedupe ${show(owner.d)})`);
        }
      }
      return;
    }
    const reason = rec.reason;
    if (this.itemErrors.has(reason)) return;
    const owners = this.entryRejections.get(reason);
    if (owners !== undefined && (owners.has(item) || [...owners].some((o) => this.sharesSlot(item, o)))) return;
    if (this.thrown.has(reason) && !isErrorSafe(reason)) {
      this.violate("E_TRANSPORT wraps", `item ${item.id} rejected with the transport's own ${show(reason)}`);
      return;
    }
    const code = peek(reason, "code");
    if (!isErrorSafe(reason) || typeof code !== "string" || !CODE_SET.has(code)) {
      this.violate("error codes", `item ${item.id} rejected with ${show(reason)}`);
      return;
    }
    if (this.thrown.has(reason)) {
      this.violate("E_TRANSPORT wraps", `item ${item.id} rejected with the transport's own ${show(reason)}`);
      return;
    }
    const cfg = this.cfg;
    const cause = peek(reason, "cause");
    switch (code) {
      case "E_TRANSPORT":
        if (!this.thrown.has(cause) && !(isErrorSafe(cause) && peek(cause, "fromTrap") === true)) this.violate("E_TRANSPORT cause", `item ${item.id}: cause ${show(cause)} is not what the transport threw`);
        if (!(Number.isInteger(reason.attempts) && reason.attempts >= 1)) this.violate("E_TRANSPORT attempts", `got ${show(reason.attempts)}`);
        break;
      case "E_FAIL_FAST":
        if (cfg.errorMode !== "fail_fast") this.violate("error codes", `E_FAIL_FAST in mode ${cfg.errorMode}`);
        if (!this.entryCause(cause)) this.violate("E_FAIL_FAST cause", `item ${item.id}: cause ${show(cause)}`);
        break;
      case "E_ATOMIC":
        if (cfg.errorMode !== "atomic") this.violate("error codes", `E_ATOMIC in mode ${cfg.errorMode}`);
        if (!this.entryCause(cause)) this.violate("E_ATOMIC cause", `item ${item.id}: cause ${show(cause)}`);
        break;
      case "E_ABORTED":
        if (reason.name !== "AbortError") this.violate("E_ABORTED", `name is ${show(reason.name)}`);
        if (!info.signal?.aborted && !cfg.dedupe) this.violate("E_ABORTED", `item ${item.id} had no aborted signal`);
        break;
      case "E_DEADLINE":
        if (typeof info.deadline !== "number" && !cfg.dedupe) this.violate("E_DEADLINE", `item ${item.id} had no deadline`);
        else if (rec.settledAt < info.deadline) this.violate("E_DEADLINE", `item ${item.id} expired ${info.deadline - rec.settledAt} ms early`);
        break;
      case "E_TIMEOUT":
        if (cfg.timeoutMs === undefined) this.violate("E_TIMEOUT", "without timeoutMs");
        break;
      case "E_ROUTE":
        if (cfg.resolveKeys === undefined) this.violate("E_ROUTE", "without resolveKeys");
        break;
      case "E_RESULT_SHAPE":
        break;
      case "E_CIRCUIT_OPEN":
        if (cfg.circuitBreaker === undefined) this.violate("E_CIRCUIT_OPEN", "without circuitBreaker");
        break;
      default:
        this.violate("error codes", `accepted item ${item.id} rejected with ${code}`);
    }
  }
}

function sameValueZero(a, b) {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

// ------------------------------------------------------------------------------ one case

/** Builds, drives, closes and checks one case. Resolves, or rejects with a FaceViolation. */
export async function runCase(Batcher, c, harness) {
  const w = new World(Batcher, c, harness);
  let b;
  try {
    b = new Batcher(w.options());
  } catch (e) {
    const u = c.config.unknownOption;
    if (!isErrorSafe(e) || peek(e, "code") !== "E_CONFIG") throw new FaceViolation("E_CONFIG", `the constructor threw ${show(e)}`);
    if (u === undefined) throw new FaceViolation("E_CONFIG", `valid options refused: ${show(e)}`);
    if (!String(e.message).includes(u.name)) throw new FaceViolation("E_CONFIG", `message does not name \`${u.name}\`: ${e.message}`);
    return;
  }
  if (c.config.unknownOption !== undefined) {
    const u = c.config.unknownOption;
    await b.close();
    throw new FaceViolation("E_CONFIG", `unknown option \`${u.name}\` (in ${u.where}) was accepted`);
  }
  w.b = b;
  harness.startCase(w);
  const pending = []; // flushes the actions started without waiting
  for (const a of c.actions) {
    switch (a.t) {
      case "add": w.add(a.item, a.opts); break;
      case "addMany": w.addMany(a.items, a.opts); break;
      case "abort": {
        const ctl = w.controllers[a.signal];
        if (!ctl.signal.aborted) {
          const r = REASON.get(a.reason).make();
          ctl.abort(r === undefined ? new Error("aborted") : r);
        }
        break;
      }
      case "flush": {
        const p = w.flush();
        if (a.wait) {
          const r = await Promise.race([p.then(() => "flushed"), sleep(CLOSE_BOUND_MS)]);
          if (r !== "flushed") w.violate("flush resolves", `flush() did not resolve within ${CLOSE_BOUND_MS} ms`);
        } else pending.push(p);
        break;
      }
      case "close": pending.push(w.close()); break;
      case "wait": await sleep(a.ms); break;
      case "microtask": await Promise.resolve(); break;
      case "macrotask": await macrotask(); break;
      case "stats": w.checkStats(b.stats(), "stats() between actions"); break;
      default: throw new Error(`fuzzer: unknown action ${a.t}`);
    }
    if (w.violations.length > 0) break;
  }

  const closed = await Promise.race([w.close(), sleep(CLOSE_BOUND_MS).then(() => "timeout")]);
  if (closed === "timeout") {
    const s = b.stats();
    w.violate("close resolves", `close() did not resolve within ${CLOSE_BOUND_MS} ms (stats ${JSON.stringify(s)}, ${w.records.filter((r) => r.accepted && r.state === "pending").length} items pending)`);
  }
  await macrotask();
  await sleep(1);
  await macrotask();
  await Promise.race([Promise.all(pending), sleep(50)]);
  if (harness.exclude?.has("abandoned-calls")) {
    // Leave out "close() waits for calls in flight": let those calls end first.
    for (let i = 0; i < 100 && b.stats().inFlightBatches > 0; i++) await sleep(2);
    await macrotask();
  }
  const s = b.stats();
  harness.endCase(w);
  for (const k of ["batches", "retries", "bisects", "throttled"]) tally(`stats.${k}`, s[k]);

  if (closed !== "timeout") {
    if (s.queued !== 0 || s.inFlightBatches !== 0 || s.inFlightItems !== 0) {
      w.violate("close", `after close(): queued ${s.queued}, inFlightBatches ${s.inFlightBatches}, inFlightItems ${s.inFlightItems}`);
    }
    w.checkStats(s, "after close()");
    const accepted = w.records.filter((r) => r.accepted === 1);
    const manyAccepted = w.manyRecords.reduce((n, r) => n + r.accepted, 0);
    if (s.items !== accepted.length + manyAccepted) {
      w.violate("stats.items", `items ${s.items}, the model counted ${accepted.length + manyAccepted} accepted`);
    }
    for (const r of accepted) if (r.state === "pending") w.violate("settles exactly once", `item ${r.item.id} never settled`);
    for (const r of w.manyRecords) if (r.state === "pending") w.violate("settles exactly once", "an addMany() never settled");
    for (const r of w.records) if (r.count > 1) w.violate("settles exactly once", `item ${r.item.id} settled ${r.count} times`);
    if (w.violations.length === 0) {
      for (const r of accepted) w.checkOutcome(r);
      let fulfilled = accepted.filter((r) => r.state === "fulfilled").length;
      for (const r of w.manyRecords) {
        if (r.state !== "fulfilled" || !Array.isArray(r.results) || r.results.length !== r.items.length) {
          w.violate("addMany", `addMany of ${r.items.length} gave ${show(r.results ?? r.reason)}`);
          continue;
        }
        r.results.forEach((x, i) => {
          if (x.status === "fulfilled") {
            fulfilled += 1;
            w.checkOutcome({ state: "fulfilled", value: x.value, item: r.items[i], info: w.itemInfo.get(r.items[i]) });
          } else {
            w.checkAnyReason(x.reason, `addMany item ${r.items[i].id}`);
          }
        });
      }
      if (s.succeeded !== fulfilled || s.succeeded + s.failed !== s.items) {
        w.violate("stats add up", `succeeded ${s.succeeded} failed ${s.failed} items ${s.items}; callers saw ${fulfilled} fulfilled`);
      }
    }
    if (c.config.onBatchStart !== undefined && w.starts !== s.batches) {
      w.violate("hooks once per call", `onBatchStart ran ${w.starts} times for ${s.batches} calls`);
    }
    if (c.config.onBatchEnd !== undefined && w.ends !== s.batches) {
      w.violate("hooks once per call", `onBatchEnd ran ${w.ends} times for ${s.batches} calls`);
    }
    if (w.calls !== s.batches) w.violate("stats.batches", `batches ${s.batches}, transport called ${w.calls} times`);
    if (!harness.exclude?.has("abandoned-calls")) w.checkAbandonedCalls();
  }
  if (w.violations.length > 0) {
    // Causes before consequences: an escaping exception or an abandoned call explains the rest.
    const rank = (v) => ["no escaping exceptions", "abandoned call aborts"].indexOf(v.invariant) >>> 0;
    w.violations.sort((a, b) => rank(a) - rank(b));
    const [first, ...rest] = w.violations;
    if (rest.length > 0) first.message += ` (+${rest.length} more: ${rest.slice(0, 3).map((v) => v.invariant).join(", ")})`;
    throw first;
  }
}
