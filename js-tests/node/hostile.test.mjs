// Hostile input: whatever user code throws or returns (null-prototype objects, throwing getters,
// Proxies whose traps throw, revoked Proxies, thenables whose `then` throws), nothing escapes the
// library, every accepted item settles exactly once and other batches are unaffected
// (the contract "Guarantees"). Also: dedupe keys compare by SameValueZero, options are looked up
// as own names only and nested option objects must be plain objects.
import assert from "node:assert/strict";
import { runInNewContext } from "node:vm";
import {
  test,
  Batcher,
  FAST_RETRY,
  LONG,
  assertCode,
  assertStats,
  echo,
  label,
  open,
  recorder,
  rejectsWith,
  settled,
  track,
  waitFor,
} from "./_helpers.mjs";

const boom = (what) => () => {
  throw new Error(`${what} throws`);
};

/** An Error whose property `name` is a getter that throws. */
function throwingGetter(name, base = new Error("hostile")) {
  Object.defineProperty(base, name, { get: boom(`the ${name} getter`), configurable: true });
  return base;
}

/** A Proxy whose every trap throws. */
function trapProxy(target = new Error("proxied")) {
  const trap = boom("a Proxy trap");
  return new Proxy(target, {
    get: trap, has: trap, getPrototypeOf: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, apply: trap,
    defineProperty: trap, set: trap,
  });
}

function revoked() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Values a transport may throw or reject with that reading them (status, message, …) breaks. */
const HOSTILE_ERRORS = [
  ["a null-prototype object", () => Object.create(null)],
  ["an Error whose message getter throws", () => throwingGetter("message")],
  ["an Error whose status getter throws", () => throwingGetter("status")],
  ["an Error whose retryable getter throws", () => throwingGetter("retryable")],
  ["an Error whose retryAfterMs getter throws", () => throwingGetter("retryAfterMs")],
  ["an Error whose response getter throws", () => throwingGetter("response")],
  ["an Error whose response.headers getter throws",
    () => Object.assign(new Error("h"), { response: throwingGetter("headers", {}) })],
  ["an Error whose response.headers.get throws",
    () => Object.assign(new Error("h"), { response: { headers: { get: boom("headers.get") } } })],
  ["a Proxy whose traps throw", () => trapProxy()],
  ["a revoked Proxy", () => revoked()],
  ["a Symbol", () => Symbol("thrown")],
  // a message that is not a string: the library's messages must not put it in a template
  ["an Error whose message is a Symbol", () => Object.assign(new Error("m"), { message: Symbol("message") })],
  ["an Error whose message's toString throws", () => Object.assign(new Error("m"), { message: { toString: boom("toString") } })],
];

for (const [what, make] of HOSTILE_ERRORS) {
  for (const how of ["throws", "rejects with"]) {
    test(`hostile: a transport that ${how} ${what}: every item of 20 keys settles, close() resolves`, async (t) => {
      const thrown = make();
      let calls = 0;
      const b = new Batcher({
        keyOf: (x) => x,
        maxWaitMs: 0,
        retry: { ...FAST_RETRY, maxAttempts: 2 },
        transport: (batch) => {
          calls++;
          if (batch.key !== 0) return batch.items.map(echo);
          if (how === "throws") throw thrown;
          return Promise.reject(thrown);
        },
      });
      t.after(() => b.close());
      const s = Array.from({ length: 20 }, (_, i) => track(b.add(i)));
      await waitFor(() => s.every(settled), "every item to settle");
      const err = s[0].reason;
      assertCode(err, "E_TRANSPORT", "key 0");
      assert.ok(err.cause === thrown, "cause is the thrown value itself");
      assert.equal(err.attempts, 2);
      assert.equal(typeof err.message, "string");
      for (let i = 1; i < 20; i++) assert.deepEqual([s[i].status, s[i].value], ["fulfilled", echo(i)], `key ${i}`);
      await b.close();
      assert.ok(s.every((x) => x.count === 1), "settled exactly once");
      assertStats(b, { queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: calls, items: 20, succeeded: 19, failed: 1 });
    });
  }
}

test("hostile: a hostile thrown value with classify and bisect still settles every item", async (t) => {
  for (const [what, make] of HOSTILE_ERRORS) {
    const thrown = make();
    const b = open(t, {
      maxBatchSize: 4, maxWaitMs: LONG, retry: { ...FAST_RETRY, classify: () => "bisect" },
      transport: (batch) => {
        if (batch.items.includes(2)) throw thrown;
        return batch.items.map(echo);
      },
    });
    const s = [1, 2, 3, 4].map((i) => track(b.add(i)));
    await b.close();
    assert.ok(s.every((x) => x.count === 1), what);
    assertCode(s[1].reason, "E_TRANSPORT", what);
    assert.deepEqual([s[0].value, s[2].value, s[3].value], [echo(1), echo(3), echo(4)], what);
  }
});

/** Result entries whose inspection (instanceof, retryable, retryAfterMs) throws. */
const HOSTILE_ENTRIES = [
  ["an Error whose retryable getter throws", () => throwingGetter("retryable"), "rejected"],
  ["an Error whose retryAfterMs getter throws", () => throwingGetter("retryAfterMs", Object.assign(new Error("r"), { retryable: true })), "rejected"],
  // Resolving a promise with these would read their `then`, which throws: such an entry fails
  // its item with E_RESULT_SHAPE (cause: the throw) and counts as failed, never as a success.
  ["a Proxy of an Error whose traps throw", () => trapProxy(), "rejected"],
  ["a revoked Proxy", () => revoked(), "rejected"],
  ["a null-prototype object", () => Object.create(null), "fulfilled"],
];

for (const [what, make, expected] of HOSTILE_ENTRIES) {
  test(`hostile: a result entry that is ${what} settles its item once; batchmates unaffected`, async (t) => {
    const entry = make();
    const b = open(t, {
      maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 2 },
      transport: (batch) => batch.items.map((x) => (x === 1 ? entry : echo(x))),
    });
    const s = [0, 1, 2].map((i) => track(b.add(i)));
    await b.close();
    assert.ok(s.every((x) => x.count === 1));
    assert.deepEqual([s[0].value, s[2].value], [echo(0), echo(2)]);
    if (expected !== undefined) assert.equal(s[1].status, expected);
    const outcome = s[1].status === "fulfilled" ? s[1].value : s[1].reason;
    if (what.includes("Proxy")) {
      assert.equal(outcome.code, "E_RESULT_SHAPE", "an entry whose `then` cannot be read fails its item, coded");
      assert.ok(outcome.cause instanceof Error, "cause: what reading the entry threw");
    } else assert.ok(outcome === entry, "the caller gets the entry itself");
    const failed = s.filter((x) => x.status === "rejected").length;
    assertStats(b, { inFlightBatches: 0, queued: 0, succeeded: 3 - failed, failed });
  });
}

test("hostile: a result array whose reads throw (Proxy, index getter) fails the batch with E_RESULT_SHAPE", async (t) => {
  // Its `then` reads as absent (else it would be a transport that rejects), everything else throws.
  const proxied = (n) => new Proxy(Array.from({ length: n }, (_, i) => i), {
    get: (target, name) => (name === "then" ? undefined : boom("a Proxy get")()),
  });
  const getter = (n) => {
    const a = Array.from({ length: n }, (_, i) => i);
    Object.defineProperty(a, 1, { get: boom("index 1") });
    return a;
  };
  for (const make of [proxied, getter]) {
    const b = open(t, { maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: (batch) => make(batch.items.length) });
    const s = [0, 1, 2].map((i) => track(b.add(i)));
    await b.close();
    for (const x of s) {
      assert.equal(x.count, 1);
      assertCode(x.reason, "E_RESULT_SHAPE");
    }
    assertStats(b, { inFlightBatches: 0, failed: 3 });
  }
});

test("hostile: thenables from the transport whose then throws, or calls back twice, settle once", async (t) => {
  const thenGetter = throwingGetter("then", {});
  const twice = { then(ok, bad) { ok(["a", "b"]); bad(new Error("late")); ok(["c", "d"]); throw new Error("after"); } };
  const hostileThen = { then: boom("then") };
  for (const [answer, expect] of [[thenGetter, "E_TRANSPORT"], [hostileThen, "E_TRANSPORT"], [twice, null]]) {
    const b = open(t, { maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: () => answer });
    const s = [0, 1].map((i) => track(b.add(i)));
    await b.close();
    assert.ok(s.every((x) => x.count === 1));
    if (expect) for (const x of s) assertCode(x.reason, expect);
    else assert.deepEqual(s.map((x) => x.value), ["a", "b"]);
  }
});

test("result entries null, undefined and other primitives are values; a function entry whose then throws fails its item", async (t) => {
  const fnThen = function entry() {};
  Object.defineProperty(fnThen, "then", { get() { throw new Error("no then"); } });
  const plainFn = () => "kept";
  const answer = [null, undefined, 0, "", false, NaN, plainFn, fnThen];
  const b = open(t, { maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: () => answer });
  const s = answer.map((_, i) => track(b.add(i)));
  await b.flush();
  await waitFor(() => s.every(settled), "every item");
  assert.deepEqual(s.slice(0, 7).map((x) => x.status), Array(7).fill("fulfilled"));
  assert.deepEqual(s.slice(0, 6).map((x) => x.value), [null, undefined, 0, "", false, NaN]);
  assert.ok(s[6].value === plainFn, "a function entry is the value");
  assertCode(s[7].reason, "E_RESULT_SHAPE", "a function entry whose then getter throws");
  await b.close();
});

test("an Error entry from another realm (node:vm) fails its item like any Error, as the same object", async (t) => {
  // Errors made in another realm (vm context, iframe, worker-made structured clones aside) are
  // not `instanceof Error` here; they are still item errors.
  const foreign = runInNewContext('new Error("other realm")');
  assert.ok(!(foreign instanceof Error), "the entry is from another realm");
  const b = open(t, { maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: () => ["r:0", foreign] });
  const s = [0, 1].map((i) => track(b.add(i)));
  await b.flush();
  await waitFor(() => s.every(settled), "both items");
  assert.equal(s[0].value, "r:0");
  assert.equal(s[1].status, "rejected");
  assert.ok(s[1].reason === foreign, "the caller gets the entry itself");
  assertStats(b, { succeeded: 1, failed: 1 });
  await b.close();
});

test("an entry getter that gives an Error once, then throws: its item fails with E_RESULT_SHAPE", async (t) => {
  // The error entry is read again when its caller is settled: that read throws.
  const b = open(t, { maxWaitMs: LONG, retry: { ...FAST_RETRY, maxAttempts: 1 }, transport: () => {
    const results = ["r:0"];
    let reads = 0;
    Object.defineProperty(results, 1, {
      enumerable: true,
      get() {
        if (reads++ === 0) return new Error("item 1 failed");
        throw new Error("gone");
      },
    });
    return results;
  } });
  const s = [0, 1].map((i) => track(b.add(i)));
  await b.flush();
  await waitFor(() => s.every(settled), "both items");
  assert.equal(s[0].value, "r:0");
  assertCode(s[1].reason, "E_RESULT_SHAPE");
  assert.equal(s[1].reason.cause.message, "gone");
  await b.close();
});

test("hostile: a transport that rewrites batch.id or empties batch.items still gets its answer mapped", async (t) => {
  const b = open(t, {
    maxWaitMs: 0,
    transport: (batch) => {
      const n = batch.items.length;
      batch.id = 12345;
      batch.items.length = 0;
      return Array.from({ length: n }, (_, i) => `r${i}`);
    },
  });
  assert.deepEqual(await Promise.all([b.add("a"), b.add("b")]), ["r0", "r1"]);
  const hung = open(t, {
    maxWaitMs: 0, timeoutMs: 20, retry: { maxAttempts: 1 },
    transport: (batch) => {
      batch.id = "x";
      batch.items = [];
      return new Promise(() => {});
    },
  });
  await rejectsWith(hung.add(1), "E_TIMEOUT");
});

test("hostile: classify returning prototype names, objects or throwing falls back to the default rule", async (t) => {
  for (const answer of ["toString", "constructor", "__proto__", Object.create(null), trapProxy({}), boom("classify")]) {
    const classify = typeof answer === "function" ? answer : () => answer;
    let calls = 0;
    const b = open(t, {
      maxWaitMs: 0, retry: { ...FAST_RETRY, maxAttempts: 2, classify },
      transport: () => {
        calls++;
        throw new Error("down");
      },
    });
    await rejectsWith(b.add(1), "E_TRANSPORT", String(typeof answer));
    assert.equal(calls, 2, "the default rule retries a plain error");
  }
});

test("hostile: hooks that throw hostile values or return hostile thenables change no outcome", async (t) => {
  const hooks = [
    () => {
      throw Object.create(null);
    },
    () => throwingGetter("then", {}),
    () => ({ then: boom("then") }),
    () => trapProxy({}),
  ];
  for (const hook of hooks) {
    const b = open(t, { maxWaitMs: 0, onBatchStart: hook, onBatchEnd: hook, transport: (batch) => batch.items.map(echo) });
    assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [echo(1), echo(2)]);
    await b.close();
  }
});

test("hostile: keyOf, weigh and dedupeBy returning hostile values reject that add with a coded error", async (t) => {
  const bad = [Object.create(null), revoked(), trapProxy({}), Symbol("k")];
  for (const v of bad) {
    const b = open(t, { maxWaitMs: 0, keyOf: (x) => (x === 1 ? v : "k"), transport: (batch) => batch.items.map(echo) });
    await rejectsWith(b.add(1), "E_CONFIG", "keyOf");
    assert.equal(await b.add(2), echo(2));
  }
  for (const v of bad) {
    const b = open(t, { maxWaitMs: 0, weigh: (x) => (x === 1 ? v : 1), transport: (batch) => batch.items.map(echo) });
    await rejectsWith(b.add(1), "E_CONFIG", "weigh");
    assert.equal(await b.add(2), echo(2));
  }
  // A function that throws: the add rejects with what it threw; the batcher goes on.
  const thrown = Object.create(null);
  for (const name of ["keyOf", "weigh", "dedupeBy"]) {
    const b = open(t, {
      maxWaitMs: 0, [name]: (x) => {
        if (x === 1) throw thrown;
        return name === "weigh" ? 1 : x;
      }, transport: (batch) => batch.items.map(echo),
    });
    await assert.rejects(b.add(1), (e) => e === thrown);
    assert.equal(await b.add(2), echo(2));
  }
});

test("hostile: resolveKeys that throws hostile values, returns hostile thenables or arrays rejects with E_ROUTE", async (t) => {
  const answers = [
    () => {
      throw Object.create(null);
    },
    () => Promise.reject(throwingGetter("message")),
    () => throwingGetter("then", {}),
    () => ({ then: boom("then") }),
    (items) => trapProxy(items.map(() => "k")),
    () => revoked(),
    (items) => items.map(() => Object.create(null)),
    (items) => {
      items.push("extra"); // then answers for the array it grew
      return items.map(() => "k");
    },
  ];
  for (const resolveKeys of answers) {
    const b = open(t, { maxWaitMs: 0, keyOf: () => undefined, resolveKeys, transport: (batch) => batch.items.map(echo) });
    const s = [1, 2].map((i) => track(b.add(i)));
    await b.close();
    for (const x of s) {
      assert.equal(x.count, 1);
      assertCode(x.reason, "E_ROUTE");
      assert.equal(typeof x.reason.message, "string");
    }
  }
});

test("hostile: add options, signals and addMany lists whose reads throw reject instead of throwing", async (t) => {
  const b = open(t, { maxWaitMs: 0, transport: (batch) => batch.items.map(echo) });
  const fakeSignal = (props) => Object.assign({ addEventListener() {}, removeEventListener() {} }, props);
  const hostile = [
    trapProxy({}),
    revoked(),
    { signal: throwingGetter("aborted", fakeSignal({})) },
    { signal: trapProxy(fakeSignal({})) },
    { signal: fakeSignal({ addEventListener: boom("addEventListener") }) },
    throwingGetter("key", {}),
    { deadline: Object.create(null) },
  ];
  for (const opts of hostile) {
    let p;
    assert.doesNotThrow(() => {
      p = b.add(1, opts);
    });
    const s = track(p);
    await waitFor(() => settled(s), "the add to settle");
    assert.equal(s.count, 1);
  }
  for (const list of [trapProxy([1, 2]), revoked(), "ab", 5, { length: 2, 0: "x", 1: "y" }]) {
    let p;
    assert.doesNotThrow(() => {
      p = b.addMany(list);
    });
    const err = await rejectsWith(p, "E_CONFIG");
    assert.ok(err.message.includes("`addMany items`"), err.message);
  }
  assert.equal(await b.add(2), echo(2), "the batcher goes on");
});

test("hostile: an aborted fake signal whose reason getter throws still rejects with E_ABORTED", async (t) => {
  let fire;
  const signal = {
    aborted: false,
    get reason() {
      throw new Error("reason getter");
    },
    addEventListener(_type, listener) {
      fire = listener;
    },
    removeEventListener() {
      throw Object.create(null);
    },
  };
  const b = open(t, { maxWaitMs: LONG, transport: (batch) => batch.items.map(echo) });
  const s = track(b.add(1, { signal }));
  const other = track(b.add(2));
  fire();
  await waitFor(() => settled(s));
  assertCode(s.reason, "E_ABORTED");
  await b.close();
  assert.equal(other.value, echo(2));
});

// ---------------------------------------------------------------------- dedupe by SameValueZero

/** Adds `a` then `b` (as dedupe values) in one window; returns the transport's items and results. */
async function dedupePair(t, a, b) {
  const { calls, transport } = recorder((batch) => batch.items.map((x) => `r:${x.id}`));
  const bat = open(t, { maxWaitMs: LONG, dedupeBy: (x) => x.d, transport });
  const p = [bat.add({ id: 1, d: a }), bat.add({ id: 2, d: b })];
  await bat.flush();
  return { sent: calls.flatMap((c) => c.items.map(label)), results: await Promise.all(p) };
}

const DISTINCT = [
  ["two Symbols with one description", Symbol("s"), Symbol("s")],
  ["two functions with one source", () => 1, () => 1],
  ["two Maps", new Map(), new Map()],
  ["two Sets", new Set([1]), new Set([1])],
  ["two empty objects", {}, {}],
  ["two equal arrays", [1], [1]],
  ["NaN and null", NaN, null],
  ["the string \"1\" and the number 1", "1", 1],
  ["1n and 1", 1n, 1],
  ["1n and \"1\"", 1n, "1"],
  ["true and \"true\"", true, "true"],
  ["1n and true", 1n, true],
  ["0n and false", 0n, false],
  ["null and \"null\"", null, "null"],
  ["an object and \"[object Object]\"", {}, "[object Object]"],
  // UTF-8 turns every lone surrogate into U+FFFD: these must not meet in the engine.
  ["two lone surrogates", "\uD800", "\uDC00"],
  ["a lone surrogate and U+FFFD", "\uD800", "\uFFFD"],
];

for (const [what, a, b] of DISTINCT) {
  test(`dedupe: ${what} are different dedupe keys (two slots, each caller its own result)`, async (t) => {
    const { sent, results } = await dedupePair(t, a, b);
    assert.deepEqual(sent, [1, 2]);
    assert.deepEqual(results, ["r:1", "r:2"]);
  });
}

const cyclic = {};
cyclic.self = cyclic;
const sym = Symbol("same");
const SAME = [
  ["NaN and NaN", NaN, NaN],
  ["0 and -0", 0, -0],
  ["1n and 1n", 1n, 1n],
  ["one object twice", cyclic, cyclic],
  ["one Symbol twice", sym, sym],
  ["one revoked Proxy twice", ...(() => {
    const r = revoked();
    return [r, r];
  })()],
  ["equal strings", "a", "a"],
  ["false and false", false, false],
];

for (const [what, a, b] of SAME) {
  test(`dedupe: ${what} are one dedupe key (one slot, one outcome)`, async (t) => {
    const { sent, results } = await dedupePair(t, a, b);
    assert.deepEqual(sent, [1]);
    assert.deepEqual(results, ["r:1", "r:1"]);
  });
}

test("dedupe: an object key is released when its slot settles (a later window shares nothing stale)", async (t) => {
  const { calls, transport } = recorder((batch) => batch.items.map((x) => `r:${x.id}`));
  const b = open(t, { maxWaitMs: LONG, dedupeBy: (x) => x.d, transport });
  const key = {};
  const first = [b.add({ id: 1, d: key }), b.add({ id: 2, d: key })];
  await b.flush();
  assert.deepEqual(await Promise.all(first), ["r:1", "r:1"]);
  const second = [b.add({ id: 3, d: key }), b.add({ id: 4, d: {} })];
  await b.flush();
  assert.deepEqual(await Promise.all(second), ["r:3", "r:4"]);
  assert.deepEqual(calls.map((c) => c.items.map(label)), [[1], [3, 4]]);
});

test("keys: strings with lone surrogates are distinct keys, each with its own batch.key", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { maxWaitMs: 0, keyOf: (x) => x.k, transport });
  const keys = ["\uD800", "\uDC00", "\uFFFD", "\uD800\uDC00"];
  const results = await Promise.all(keys.map((k, i) => b.add({ id: i, k })));
  assert.deepEqual(results, keys.map((_, i) => echo({ id: i })));
  assert.deepEqual(calls.map((c) => [c.key, c.items.map(label)]).sort((x, y) => x[1][0] - y[1][0]),
    keys.map((k, i) => [k, [i]]));
});

// ---------------------------------------------------------------------------- E_CONFIG: names

const transport = (batch) => batch.items.map(echo);

/** [label, options, the option path the error must name] */
const BAD_NAMES = [
  ["constructor: {}", { transport, constructor: {} }, "constructor"],
  ["toString: {}", { transport, toString: {} }, "toString"],
  ["hasOwnProperty: 1", { transport, hasOwnProperty: 1 }, "hasOwnProperty"],
  ["constructor: { caller: 1 }", { transport, constructor: { caller: 1 } }, "constructor"],
  ["retry: { constructor: {} }", { transport, retry: { constructor: {} } }, "retry.constructor"],
  ["retry: { budget: { valueOf: 1 } }", { transport, retry: { budget: { valueOf: 1 } } }, "retry.budget.valueOf"],
  ["retry: []", { transport, retry: [] }, "retry"],
  ["retry: new Map()", { transport, retry: new Map() }, "retry"],
  ["retry: a class instance", { transport, retry: new (class RetryOptions { maxAttempts = 2; })() }, "retry"],
  ["retry.budget: []", { transport, retry: { budget: [] } }, "retry.budget"],
  ["retry.budget: new Map()", { transport, retry: { budget: new Map() } }, "retry.budget"],
  // a function is not an options object, even with no prototype (it would read as empty)
  ["retry: a null-prototype function", { transport, retry: Object.setPrototypeOf(() => {}, null) }, "retry"],
  // An own "__proto__" key (as JSON.parse makes) is an unknown option, never merged or ignored.
  ["JSON __proto__", { transport, ...JSON.parse('{"__proto__": {"maxBatchSize": 0}}') }, "__proto__"],
  ["nested JSON __proto__", { transport, retry: JSON.parse('{"__proto__": {"maxAttempts": 2}}') }, "retry.__proto__"],
];

for (const [what, options, path] of BAD_NAMES) {
  test(`config: ${what} throws E_CONFIG naming \`${path}\``, () => {
    assert.throws(() => new Batcher(options), (e) => {
      assertCode(e, "E_CONFIG");
      assert.ok(e instanceof TypeError || e instanceof RangeError, e.constructor.name);
      assert.ok(e.message.includes(`\`${path}\``), e.message);
      return true;
    });
  });
}

test("config: options whose reads throw (Proxy, getter) throw E_CONFIG, not the raw error", () => {
  const getter = Object.defineProperty({ transport }, "maxWaitMs", { get: boom("maxWaitMs"), enumerable: true });
  for (const options of [trapProxy({ transport }), revoked(), getter, { transport, retry: trapProxy({}) }]) {
    assert.throws(() => new Batcher(options), (e) => {
      assertCode(e, "E_CONFIG");
      return true;
    });
  }
});

test("config: each function option is read once (a getter cannot swap it after the check)", async () => {
  let reads = 0;
  const options = {
    get transport() {
      reads++;
      return reads === 1 ? (batch) => batch.items.map(echo) : 42;
    },
    maxWaitMs: 0,
  };
  const b = new Batcher(options);
  assert.equal(await b.add(1), echo(1));
  await b.close();
  assert.equal(reads, 1);
});

test("config: a budget whose maxTokens is below the default tokenRatio names maxTokens and its value", () => {
  assert.throws(() => new Batcher({ transport, retry: { budget: { maxTokens: 0.05 } } }), (e) => {
    assertCode(e, "E_CONFIG");
    assert.ok(e instanceof RangeError);
    assert.match(e.message, /`retry\.budget\.maxTokens`/);
    assert.match(e.message, /got 0\.05/);
    return true;
  });
  assert.throws(() => new Batcher({ transport, retry: { budget: { tokenRatio: 500 } } }), (e) => {
    assertCode(e, "E_CONFIG");
    assert.match(e.message, /`retry\.budget\.tokenRatio`.*got 500/);
    return true;
  });
  assert.throws(() => new Batcher({ transport, retry: { budget: { maxTokens: 2, tokenRatio: 3 } } }), (e) => {
    assert.match(e.message, /`retry\.budget\.tokenRatio`.*got 3/);
    return true;
  });
});

test("config: nested options may be null-prototype objects, and take effect", async (t) => {
  const bare = (o) => Object.assign(Object.create(null), o);
  let calls = 0;
  const b = open(t, {
    maxWaitMs: LONG,
    transport: () => {
      calls++;
      throw Object.assign(new Error("down"), { retryable: true });
    },
    retry: bare({ ...FAST_RETRY, maxAttempts: 2, budget: bare({ maxTokens: 10, tokenRatio: 0.5 }) }),
    circuitBreaker: bare({ failureThreshold: 5, resetMs: 1000 }),
  });
  const p = track(b.add("x"));
  await b.flush();
  await waitFor(() => settled(p), "the item");
  assertCode(p.reason, "E_TRANSPORT");
  assert.equal(calls, 2, "retry.maxAttempts 2 from a null-prototype `retry`");
  await b.close();
});

// ------------------------------------------------------------------------- close() frees

test("close: after close() resolves, add rejects E_CLOSED, flush/close resolve, stats keep the last counters", async () => {
  const b = new Batcher({ maxWaitMs: 0, transport: (batch) => batch.items.map(echo) });
  assert.deepEqual(await Promise.all([b.add(1), b.add(2), b.add(3)]), [echo(1), echo(2), echo(3)]);
  await b.close();
  const last = b.stats();
  assert.deepEqual([last.items, last.succeeded, last.batches, last.queued], [3, 3, 1, 0]);
  for (let i = 0; i < 3; i++) {
    await rejectsWith(b.add(4), "E_CLOSED");
    await rejectsWith(b.add(4, { key: "k" }), "E_CLOSED");
    const many = await b.addMany([5, 6]);
    for (const r of many) assertCode(r.reason, "E_CLOSED");
    await b.flush();
    await b.close();
    await b[Symbol.asyncDispose]?.();
  }
  assert.deepEqual(b.stats(), last);
  // the last counters are a copy: a batcher made and used after the free leaves them alone
  const other = new Batcher({ maxWaitMs: 0, transport: (batch) => batch.items.map(echo) });
  await Promise.all(Array.from({ length: 9_000 }, (_, i) => other.add(i)));
  await other.close();
  assert.deepEqual(b.stats(), last);
});

test("close: waits for an in-flight call whose items were all aborted, then frees the engine without harm", async (t) => {
  let answer;
  let signal;
  const b = new Batcher({
    maxWaitMs: 0,
    transport: (batch) => new Promise((resolve) => {
      signal = batch.signal; // a transport that ignores its signal: the call stays out
      answer = () => resolve(batch.items.map(echo));
    }),
  });
  const ac = new AbortController();
  const s = track(b.add(1, { signal: ac.signal }));
  await waitFor(() => answer !== undefined, "the call");
  ac.abort();
  const closed = track(b.close());
  await new Promise((r) => setTimeout(r, 20));
  assertCode(s.reason, "E_ABORTED");
  assert.equal(signal.aborted, true, "nobody waits for the call: its signal aborted");
  assert.equal(closed.status, "pending", "close() waits for the call still in flight");
  assert.equal(b.stats().inFlightBatches, 1);
  answer(); // its answer settles nothing (the item is settled) and lets close() finish
  await waitFor(() => closed.status === "fulfilled", "close()");
  await rejectsWith(b.add(2), "E_CLOSED");
  assert.equal(b.stats().inFlightBatches, 0);
  t.diagnostic(JSON.stringify(b.stats()));
});
