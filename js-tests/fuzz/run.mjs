// Property-based fuzzing of the built package's JS face (see README.md).
//
//   node js-tests/fuzz/run.mjs --seconds 60 [--seed N] [--runs N] [--path P] [--exclude tag,tag]
//
// Host timers and process-level error events are watched before hyperbatch is imported, so the
// batcher's own timers are counted per case and an exception escaping it fails the case.
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { parseArgs } from "node:util";
import fc from "fast-check";
// Imported before the timers are patched: the fuzzer's own waiting is not counted.
import { caseArbitrary, catalogueTags, coverage, runCase, show, FaceViolation, realTimers } from "./face.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    seed: { type: "string" },
    runs: { type: "string" },
    path: { type: "string" },
    exclude: { type: "string", default: "" },
    "shrink-seconds": { type: "string", default: "30" },
    "no-leak-check": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});

// ---------------------------------------------------------------------- host timers, per case

const real = {
  setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval, clearInterval: globalThis.clearInterval,
};
const als = new AsyncLocalStorage();
let current; // the context of the case running now
let thrownBy; // the context whose timer callback threw last
const owner = new Map(); // live handle → its case context
const idOf = (h) => (h !== null && typeof h === "object" ? Number(h) : h);

function arm(kind, fn, ms, rest) {
  const ctx = als.getStore() ?? current;
  let handle;
  const wrapped = function (...a) {
    if (kind === "timeout") release(handle);
    try {
      return typeof fn === "function" ? fn.apply(this, a) : undefined;
    } catch (e) {
      thrownBy = ctx;
      throw e;
    }
  };
  handle = real[kind === "timeout" ? "setTimeout" : "setInterval"](wrapped, ms, ...rest);
  if (ctx !== undefined) {
    ctx.live.add(idOf(handle));
    ctx.maxLive = Math.max(ctx.maxLive, ctx.live.size);
    owner.set(idOf(handle), ctx);
  }
  return handle;
}
function release(h) {
  const id = idOf(h);
  const ctx = owner.get(id);
  if (ctx !== undefined) ctx.live.delete(id);
  owner.delete(id);
}
function disarm(kind, h) {
  if (h === undefined || h === null) return;
  release(h);
  real[kind === "timeout" ? "clearTimeout" : "clearInterval"](h);
}
const patched = {
  setTimeout: (fn, ms, ...rest) => arm("timeout", fn, ms, rest),
  setInterval: (fn, ms, ...rest) => arm("interval", fn, ms, rest),
  clearTimeout: (h) => disarm("timeout", h),
  clearInterval: (h) => disarm("interval", h),
};
Object.assign(globalThis, patched);
Object.assign(createRequire(import.meta.url)("node:timers"), patched);
syncBuiltinESMExports();

const escaped = []; // process-level errors seen outside any case
process.on("uncaughtException", (e) => {
  const ctx = thrownBy ?? current;
  thrownBy = undefined;
  (ctx?.errors ?? escaped).push(["uncaught exception", e]);
});
process.on("unhandledRejection", (e) => {
  (current?.errors ?? escaped).push(["unhandled rejection", e]);
});

// The wasm's linear memory, to see whether closed batchers give theirs back.
let wasmMemory;
const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = new Proxy(RealInstance, {
  construct(target, argv, newTarget) {
    const instance = Reflect.construct(target, argv, newTarget);
    for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) wasmMemory = v;
    return instance;
  },
});

const { Batcher } = await import("hyperbatch");
WebAssembly.Instance = RealInstance;

// ---------------------------------------------------------------------- one case, watched

const harness = {
  exclude: undefined,
  startCase() {},
  endCase(w) {
    const ctx = als.getStore();
    if (ctx.maxLive > 1) w.violate("one host timer", `${ctx.maxLive} host timers were live at once`);
    if (ctx.live.size > 0) w.violate("no idle timer", `${ctx.live.size} host timer(s) still armed after close() resolved`);
    for (const [what, e] of ctx.errors) w.violate("no escaping exceptions", `${what}: ${show(e)}${e instanceof Error ? `\n    at ${String(e.stack).split("\n").slice(1, 4).map((l) => l.trim().replace(/^at /, "")).join(" / ")}` : ""}`);
    ctx.errors.length = 0;
  },
};

let passed = 0;
let failed = 0;
let shrinkTarget; // while shrinking: only a violation of this invariant counts as a failure
async function property(c) {
  const ctx = { live: new Set(), maxLive: 0, errors: [] };
  current = ctx;
  try {
    await als.run(ctx, () => runCase(Batcher, c, harness));
    passed += 1;
  } catch (e) {
    failed += 1;
    if (!(e instanceof FaceViolation)) throw new Error(`fuzzer error: ${e?.stack ?? e}`);
    if (shrinkTarget !== undefined && e.invariant !== shrinkTarget) return;
    throw e;
  } finally {
    current = undefined;
  }
}

// ---------------------------------------------------------------------- leak probe

/**
 * Closed batchers must give their wasm memory back: building and closing many batchers that
 * each held a few hundred items may not grow the linear memory by more than a few of them hold.
 */
async function leakProbe() {
  if (wasmMemory === undefined) {
    console.log("leak probe: skipped (the wasm memory was not found)");
    return true;
  }
  const transport = (batch) => batch.items;
  const round = async (n) => {
    const b = new Batcher({ transport, maxWaitMs: 0, maxBatchSize: 1000, keyOf: (x) => x % 7 });
    const ps = [];
    for (let i = 0; i < n; i++) ps.push(b.add(i));
    await Promise.all(ps);
    await b.close();
  };
  for (let i = 0; i < 20; i++) await round(500); // warm up the allocator
  const before = wasmMemory.buffer.byteLength;
  const rounds = 400;
  for (let i = 0; i < rounds; i++) await round(500);
  const grown = wasmMemory.buffer.byteLength - before;
  const ok = grown <= 2 * 1024 * 1024;
  console.log(`leak probe: ${rounds} batchers of 500 items built and closed, wasm memory ${before} → ${before + grown} bytes (+${(grown / 1024).toFixed(0)} KiB): ${ok ? "ok" : "LEAK: close() does not free the engine"}`);
  return ok;
}

// ---------------------------------------------------------------------- the run

const exclude = new Set(args.exclude.split(",").filter(Boolean));
harness.exclude = exclude;
for (const t of exclude) {
  if (!catalogueTags().includes(t)) {
    console.error(`unknown tag ${t}; tags: ${catalogueTags().join(", ")}`);
    process.exit(2);
  }
}
const seconds = Number(args.seconds);
const seed = args.seed !== undefined ? Number(args.seed) : Math.floor(Math.random() * 2 ** 31);
const arbitrary = caseArbitrary(exclude);
const prop = fc.asyncProperty(arbitrary, property);
const runs = args.runs !== undefined ? Number(args.runs) : 1_000_000_000;

console.log(`fuzz: seed ${seed}, ${args.path ? `path ${args.path}, ` : ""}${seconds} s${args.runs ? `, at most ${runs} runs` : ""}${exclude.size ? `, without ${[...exclude].join(",")}` : ""}`);
const leakOk = args["no-leak-check"] || args.path !== undefined ? true : await leakProbe();
const started = Date.now();

// Search without shrinking under the time budget, then shrink the failure under its own budget.
let details = await fc.check(prop, {
  seed, path: args.path, numRuns: runs, endOnFailure: true, verbose: args.verbose,
  plugins: args.path ? [] : [fc.interruptAfterTimeLimit(seconds * 1000)],
});
const searched = passed + failed;
if (details.failed) {
  const found = { path: details.counterexamplePath, error: details.errorInstance };
  console.log(`\nfuzz: case ${searched} failed (seed ${seed}, path ${found.path}):\n  ${found.error?.message ?? found.error}`);
  const shrinkMs = Number(args["shrink-seconds"]) * 1000;
  if (shrinkMs > 0) {
    shrinkTarget = found.error?.invariant;
    console.log(`fuzz: shrinking for at most ${shrinkMs / 1000} s, keeping the broken invariant (${shrinkTarget}) …`);
    const shrunk = await fc.check(prop, {
      seed, path: found.path, numRuns: runs, plugins: [fc.interruptAfterTimeLimit(shrinkMs)],
    });
    if (shrunk.failed) details = shrunk;
  }
  console.log(`\nfuzz: counterexample (seed ${details.seed}, path ${details.counterexamplePath}):`);
  console.log(fc.stringify(details.counterexample?.[0]));
  console.log(`\nbroken: ${details.errorInstance?.message ?? details.errorInstance}`);
  console.log(`\nreplay: node js-tests/fuzz/run.mjs --seed ${details.seed} --path ${details.counterexamplePath}${exclude.size ? ` --exclude ${[...exclude].join(",")}` : ""}`);
}
console.log(`fuzz: exercised ${[...coverage].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ")}`);
if (escaped.length > 0) console.log(`fuzz: ${escaped.length} process-level error(s) outside any case, first: ${show(escaped[0][1])}`);
const minutes = (Date.now() - started) / 60000; // search and shrinking, not the leak probe
console.log(`fuzz: ${searched - (details.failed ? 1 : 0)} passed, ${details.failed ? 1 : 0} failed (${searched} cases in ${(minutes * 60).toFixed(1)} s, ${(searched / minutes).toFixed(0)} per minute; seed ${seed}${leakOk ? "" : "; leak probe FAILED"})`);
realTimers.setTimeout(() => process.exit(details.failed || !leakOk || escaped.length > 0 ? 1 : 0), 0);
