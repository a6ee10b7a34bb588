// The hostile catalogue: values a caller's code can hand the library (transport errors, item
// errors, keys, dedupe keys, weights, resolveKeys answers, hook and classify behaviour).
// A case is plain data (indices into these tables), so fast-check prints and shrinks it; the
// values are made fresh per use. Entries carry tags so a run can leave a family out
// (`--exclude getters,proxy`) while a defect in it is being fixed; the default uses all.

/** A Proxy on which every trap throws: typeof "object", yet reading anything throws. */
export function trapEverything(target = {}) {
  const trap = (name) => () => {
    // Marked: a promise resolved with such a Proxy rejects with this (reading its `then` throws),
    // so it is what an async transport "rejected with".
    throw Object.assign(new Error(`hostile proxy: ${name} trap`), { fromTrap: true });
  };
  const handler = {};
  for (const name of ["get", "set", "has", "deleteProperty", "ownKeys", "getOwnPropertyDescriptor", "defineProperty",
    "getPrototypeOf", "setPrototypeOf", "isExtensible", "preventExtensions", "apply", "construct"]) {
    handler[name] = trap(name);
  }
  return new Proxy(target, handler);
}

/** `obj` with the named properties turned into getters that throw. */
export function throwingGetters(obj, names) {
  for (const name of names) {
    Object.defineProperty(obj, name, {
      get() {
        throw new Error(`hostile getter: ${name}`);
      },
      configurable: true,
    });
  }
  return obj;
}

const err = (message, extra) => Object.assign(new Error(message), extra);

/** What a transport throws or rejects with. */
export const REASONS = [
  { name: "Error", make: () => new Error("boom") },
  { name: "string", make: () => "boom" },
  { name: "number", make: () => 42 },
  { name: "null", make: () => null },
  { name: "undefined", make: () => undefined },
  { name: "symbol", make: () => Symbol("boom") },
  { name: "bigint", make: () => 7n },
  { name: "null-prototype object", tags: ["null-proto"], make: () => Object.create(null) },
  { name: "null-prototype object with status", tags: ["null-proto"], make: () => Object.assign(Object.create(null), { status: 503 }) },
  { name: "status 400", make: () => err("HTTP 400", { status: 400 }) },
  { name: "status 408", make: () => err("HTTP 408", { status: 408 }) },
  { name: "status 413", make: () => err("HTTP 413", { status: 413 }) },
  { name: "status 422", make: () => err("HTTP 422", { status: 422 }) },
  { name: "status 429 + retryAfterMs", make: () => err("HTTP 429", { status: 429, retryAfterMs: 3 }) },
  { name: "status 503", make: () => err("HTTP 503", { status: 503 }) },
  { name: "retryable true", make: () => err("flaky", { retryable: true }) },
  { name: "retryable false", make: () => err("poison", { retryable: false }) },
  { name: "Retry-After header (Headers)", make: () => err("HTTP 503", { status: 503, response: { headers: new Headers({ "retry-after": "0" }) } }) },
  { name: "Retry-After header (date)", make: () => err("HTTP 503", { status: 503, response: { headers: { "retry-after": new Date(Date.now() + 2).toUTCString() } } }) },
  { name: "Retry-After garbage", make: () => err("HTTP 503", { response: { headers: { "retry-after": "soon" } } }) },
  { name: "frozen object", make: () => Object.freeze({ status: 503 }) },
  { name: "frozen Error 400", make: () => Object.freeze(err("HTTP 400", { status: 400 })) },
  { name: "Error claiming a library code", make: () => err("not ours", { code: "E_TIMEOUT" }) },
  { name: "Error, throwing message getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["message"]) },
  { name: "Error, throwing status getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["status"]) },
  { name: "Error, throwing retryable getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["retryable"]) },
  { name: "Error, throwing retryAfterMs getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["retryAfterMs"]) },
  { name: "Error, throwing response getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["response"]) },
  { name: "Proxy, every trap throws", tags: ["proxy"], make: () => trapEverything() },
];

/** An entry the transport returns in place of an item's result. */
export const ITEM_ERRORS = [
  { name: "Error", make: () => new Error("item failed") },
  { name: "retryable Error", make: () => err("item busy", { retryable: true }) },
  { name: "retryable Error + retryAfterMs", make: () => err("item busy", { retryable: true, retryAfterMs: 2 }) },
  { name: "Error with retryable false", make: () => err("no such item", { retryable: false, status: 404 }) },
  { name: "Object.create(Error.prototype), retryable", make: () => Object.assign(Object.create(Error.prototype), { retryable: true }) },
  { name: "DOMException", make: () => new DOMException("gone", "NotFoundError") },
  { name: "Error, throwing retryable getter", tags: ["getters"], make: () => throwingGetters(new Error("x"), ["retryable"]) },
  { name: "Error, throwing retryAfterMs getter", tags: ["getters"], make: () => throwingGetters(err("x", { retryable: true }), ["retryAfterMs"]) },
  { name: "Proxy of an Error, every trap throws", tags: ["proxy"], make: () => trapEverything(new Error("x")) },
];

/**
 * An entry that is a promise or a thenable (a transport of `batch.items.map(async …)`): the call
 * ends once it has settled. `h` is the transport's helper for one entry: `h.value` the plain
 * value entry of its item, `h.later(fn)` runs fn after the behaviour's delay (a real timer, not
 * the batcher's), `h.valueOf(v)` registers v as a value of that item (an Error a promise fulfils
 * with is a value), `h.reason(r)` registers r as what that item's caller may be rejected with, as
 * is. `needsTimeout`: never settles, so only used when the case has timeoutMs.
 */
export const PROMISE_ENTRIES = [
  { name: "resolves now to a value", make: (h) => Promise.resolve(h.value) },
  { name: "resolves later to a value", make: (h) => new Promise((resolve) => h.later(() => resolve(h.value))) },
  { name: "async function", make: (h) => (async () => {
    await null;
    return h.value;
  })() },
  { name: "resolves now to an Error", make: (h) => Promise.resolve(h.valueOf(new Error("a value, not a failure"))) },
  { name: "resolves later to an Error", make: (h) => new Promise((resolve) => h.later(() => resolve(h.valueOf(err("a late value", { retryable: true }))))) },
  { name: "rejects now with an Error", make: (h) => Promise.reject(h.reason(new Error("entry failed"))) },
  { name: "rejects later with an Error", make: (h) => new Promise((_, reject) => h.later(() => reject(h.reason(new Error("entry failed late"))))) },
  { name: "rejects with a retryable Error", make: (h) => new Promise((_, reject) => h.later(() => reject(h.reason(err("entry busy", { retryable: true, retryAfterMs: 1 }))))) },
  { name: "rejects with a string", make: (h) => Promise.reject(h.reason("entry rejected")) },
  { name: "rejects with a number", make: (h) => new Promise((_, reject) => h.later(() => reject(h.reason(17)))) },
  { name: "rejects with undefined", make: (h) => Promise.reject(h.reason(undefined)) },
  { name: "never settles", needsTimeout: true, make: () => new Promise(() => {}) },
  { name: "a non-native thenable, sync", make: (h) => ({ then: (resolve) => resolve(h.value) }) },
  { name: "a non-native thenable, later", make: (h) => ({ then: (resolve) => h.later(() => resolve(h.value)) }) },
  { name: "a non-native thenable rejecting", make: (h) => ({ then: (_, reject) => h.later(() => reject(h.reason(err("thenable failed", { retryable: true })))) }) },
  { name: "a thenable that settles twice", make: (h) => ({
    then(resolve, reject) {
      resolve(h.value);
      reject(new Error("second settle"));
      resolve(h.value);
    },
  }) },
  { name: "a promise of a thenable", make: (h) => Promise.resolve({ then: (resolve) => resolve(h.value) }) },
  { name: "a thenable whose then throws", make: (h) => ({ then() {
    throw h.reason(new Error("then threw"));
  } }) },
  { name: "a thenable whose then getter throws", tags: ["getters"], make: () => throwingGetters({}, ["then"]) },
];
for (const e of PROMISE_ENTRIES) e.tags = ["promise-entries", ...(e.tags ?? [])];

/** What a transport returns instead of an array of the right length. */
export const GARBAGE = [
  { name: "null", make: () => null },
  { name: "undefined", make: () => undefined },
  { name: "string", make: () => "ok" },
  { name: "object", make: () => ({ results: [] }) },
  { name: "array-like", make: (n) => ({ length: n }) },
  { name: "one short", make: (n, ok) => ok.slice(1) },
  { name: "one long", make: (n, ok) => [...ok, { extra: true }] },
  { name: "Proxy of the right array, every trap throws", tags: ["proxy"], make: (n, ok) => trapEverything(ok) },
];

/** Compatibility keys: good ones (string and number, 0 and -0, "1" and 1 distinct) and bad. */
export const KEYS = ["a", "b", 1, 2, "1"];
export const BAD_KEYS = [
  { name: "NaN", make: () => NaN },
  { name: "Symbol", make: () => Symbol("k") },
  { name: "object", make: () => ({}) },
  { name: "-0", make: () => -0 },
  { name: "0", make: () => 0 },
];

/**
 * Dedupe keys. Equality is Map-key equality (SameValueZero): distinct Symbols and distinct
 * objects are distinct keys even when they print alike, equal strings are one key.
 */
const SHARED_OBJECT = { shared: true };
export const DEDUPE = [
  { name: "'a'", make: () => "a" },
  { name: "'b'", make: () => "b" },
  { name: "1", make: () => 1 },
  { name: "'1'", make: () => "1" },
  { name: "NaN", tags: ["dedupe-identity"], make: () => NaN }, // JSON.stringify(NaN) is "null"
  { name: "null", make: () => null },
  { name: "true", make: () => true },
  { name: "0", make: () => 0 },
  { name: "-0", make: () => -0 },
  { name: "Symbol.for('s')", make: () => Symbol.for("s") },
  { name: "one shared object", make: () => SHARED_OBJECT },
  { name: "undefined (no dedupe)", make: () => undefined },
  { name: "a fresh Symbol", tags: ["dedupe-identity"], make: () => Symbol("d") },
  { name: "a fresh {x: 1}", tags: ["dedupe-identity"], make: () => ({ x: 1 }) },
  { name: "a fresh []", tags: ["dedupe-identity"], make: () => [] },
  { name: "a BigInt", tags: ["dedupe-bigint"], make: () => 10n },
];

/** Weights (`weigh(item)` or `opts.weight`): fine, too large for the cap, or invalid. */
export const WEIGHTS = [
  { name: "1", make: () => 1 },
  { name: "0", make: () => 0 },
  { name: "2", make: () => 2 },
  { name: "0.5", make: () => 0.5 },
  { name: "5", make: () => 5 },
  { name: "cap + 1", make: (cap) => (cap ?? 10) + 1 },
  { name: "NaN", make: () => NaN },
  { name: "-1", make: () => -1 },
  { name: "Infinity", make: () => Infinity },
  { name: "'3'", make: () => "3" },
];

/** Transport behaviours, one per call (the case holds a list used round-robin). */
export const BEHAVIOURS = [
  "ok", "ok-async", "ok-late", "item-errors", "item-errors-late", "garbage", "garbage-async",
  "throw", "reject", "reject-late", "hang", "hang-until-abort", "thenable-twice",
  "thenable-then-throws", "thenable-then-getter-throws", "reentrant",
];
/** Behaviours answering with entries that are promises (PROMISE_ENTRIES): the array now or later. */
export const PROMISE_BEHAVIOURS = ["promise-entries", "promise-entries-late"];
/** Behaviours that never answer unless the call times out: only used when timeoutMs is set. */
export const NEEDS_TIMEOUT = new Set(["hang"]);

/** What hooks, transports and classify may do to the batcher from inside. */
export const REENTRY = ["add", "addMany", "flush", "stats", "close"];

export const HOOKS = [
  "noop", "throw", "throw-proxy", "reject", "return-proxy", "reentrant", "check-info",
];

export const CLASSIFY = [
  "retry", "bisect", "fail", "garbage", "undefined", "throw", "reads-status", "object-with-toString",
];

export const RESOLVE_KEYS = [
  "sync", "async", "late", "throws", "rejects", "wrong-length", "not-array", "garbage-keys",
  "null-keys", "proxy-result",
];
export const RESOLVE_KEYS_TAGS = { "proxy-result": ["proxy"] };

/** Option names that are not options (some live on Object.prototype). */
export const UNKNOWN_OPTIONS = [
  { name: "maxBatchSise" }, { name: "timeout" }, { name: "constructor", tags: ["proto-options"] },
  { name: "toString", tags: ["proto-options"] }, { name: "hasOwnProperty", tags: ["proto-options"] },
  { name: "valueOf", tags: ["proto-options"] }, { name: "__defineGetter__", tags: ["proto-options"] },
  { name: "isPrototypeOf", tags: ["proto-options"] },
];
export const UNKNOWN_VALUES = [{}, 1, () => 0, "x"];
