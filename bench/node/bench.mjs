#!/usr/bin/env node
// hyperbatch throughput benchmark (Node >= 20).
//
//   bench/node/run.sh                 # installs if needed, then runs
//   node bench/node/bench.mjs         # after `npm --prefix bench/node install`
//
// Contenders, all with batches of 100 and a synchronous transport that maps
// x => x * 2 (no I/O):
//   raw floor        one promise per item, resolved in groups of 100 from a microtask
//   hyperbatch       new Batcher({ transport, maxBatchSize: 100, maxWaitMs: 0, ... })
//   DataLoader       new DataLoader(fn, { cache: false, maxBatchSize: 100 })
//   promise-batcher  new Batcher({ maxBatchSize: 100, queuingDelay: 0, batchingFunction })
//
// Every contender is driven by the identical loop: add CHUNK items (default
// 10,000) synchronously, `await Promise.all(...)` on those promises, sum the
// results (checked against the expected checksum), repeat until N items.
//
// Environment overrides (all optional):
//   BENCH_NS="1e5,1e6"   item counts
//   BENCH_ROUNDS=n       timed rounds per N (default 5; 15 for N <= 1e5)
//   BENCH_CHUNK=10000    items per await      ("all" = add all N, then one Promise.all)
//   BENCH_WARMUP=3       untimed warm-up runs per contender (at N = 1e5)
//   BENCH_GC=0           do not force a full GC before each timed run
//   HYPERBATCH_PKG=dir   benchmark/measure a hyperbatch build in another directory
//                        (default: import "hyperbatch", i.e. bench/node/node_modules
//                        -> ../../pkg, and measure ../../pkg)

import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import zlib from "node:zlib";
import v8 from "node:v8";
import vm from "node:vm";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- config ---
const BATCH = 100;
const NS = (process.env.BENCH_NS ?? "1e5,1e6").split(",").map((s) => Math.round(Number(s)));
// Timed rounds per N: 5, or 15 for N <= 1e5 (short runs are noisier); BENCH_ROUNDS overrides both.
const roundsFor = (n) => (process.env.BENCH_ROUNDS ? Number(process.env.BENCH_ROUNDS) : n <= 1e5 ? 15 : 5);
const CHUNK_ENV = process.env.BENCH_CHUNK ?? "10000";
const CHUNK_ALL = CHUNK_ENV === "all";
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const REWARM = 50_000; // untimed items (at most N) pushed through after each forced gc()
const WATCHDOG_MS = Number(process.env.BENCH_WATCHDOG_MS ?? 60_000); // a single run taking longer than this = hung contender
const PKG_DIR = path.resolve(process.env.HYPERBATCH_PKG ?? path.join(HERE, "..", "..", "pkg"));
const TARGETS = { hbOverDataLoader: 1.0, hbTimeOverFloor: 1.3, pkgGzipBytes: 20 * 1024 };

for (const n of NS) {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`bad BENCH_NS entry: ${n}`);
}

// -------------------------------------------------------------------- gc ---
let gc = globalThis.gc;
if (process.env.BENCH_GC === "0") {
  gc = undefined;
} else if (typeof gc !== "function") {
  // Not started with --expose-gc: enable it at runtime (works on Node 20).
  try {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc");
  } catch {
    gc = undefined;
  }
}
const collect = () => {
  if (gc) gc();
};

// ------------------------------------------------------------- the loop ----
// Each contender gets its OWN copy of the driver loop (compiled from the same
// source), so V8's inline caches / optimized code for one contender never
// see the others' call targets. `CALL` is the per-item call expression.
const AsyncFunction = (async () => {}).constructor;
function makeDriver(callExpr) {
  const src = `
    let sum = 0;
    const t0 = performance.now();
    for (let base = 0; base < N; base += chunk) {
      const end = base + chunk < N ? base + chunk : N;
      const ps = new Array(end - base);
      for (let i = base; i < end; i++) ps[i - base] = ${callExpr};
      const rs = await Promise.all(ps);
      for (let j = 0; j < rs.length; j++) sum += rs[j];
    }
    const ms = performance.now() - t0;
    return { ms, sum };`;
  return new AsyncFunction("target", "N", "chunk", "performance", src);
}

// --------------------------------------------------------- contenders ----
const double = (x) => x * 2;

const RESOLVED = Promise.resolve();
function floorContender() {
  // The minimum any promise-per-item batcher must do: allocate a promise and
  // keep its resolver per item, and resolve each group of BATCH from a
  // microtask (a .then on a resolved promise — cheaper than queueMicrotask,
  // which allocates an AsyncResource per call in Node) with the mapped values.
  class RawFloor {
    constructor() {
      this.cur = null;
    }
    add(x) {
      let b = this.cur;
      if (b === null) {
        b = this.cur = { items: [], resolvers: [] };
        RESOLVED.then(() => {
          if (this.cur === b) this.cur = null;
          const out = b.items.map(double); // the "transport"
          const rs = b.resolvers;
          for (let i = 0; i < rs.length; i++) rs[i](out[i]);
        });
      }
      b.items.push(x);
      const p = new Promise((resolve) => {
        b.resolvers.push(resolve);
      });
      if (b.items.length === BATCH) this.cur = null;
      return p;
    }
  }
  return {
    name: "raw floor",
    key: "floor",
    callExpr: "target.add(i)",
    create: () => new RawFloor(),
  };
}

function dataLoaderContender() {
  const DataLoader = require("dataloader");
  return {
    name: "DataLoader",
    key: "dataloader",
    version: require("dataloader/package.json").version,
    callExpr: "target.load(i)",
    create: () =>
      new DataLoader((keys) => Promise.resolve(keys.map(double)), {
        cache: false,
        maxBatchSize: BATCH,
      }),
  };
}

function promiseBatcherContender() {
  // promise-batcher 1.x API: { maxBatchSize, queuingDelay, batchingFunction },
  // batcher.getResult(input). (The option is maxBatchSize, not maxBatchLength.)
  const { Batcher } = require("promise-batcher");
  return {
    name: "promise-batcher",
    key: "promise-batcher",
    version: require("promise-batcher/package.json").version,
    callExpr: "target.getResult(i)",
    create: () =>
      new Batcher({
        maxBatchSize: BATCH,
        queuingDelay: 0,
        batchingFunction: (inputs) => inputs.map(double),
      }),
  };
}

// Resolve a package.json "exports" target for the given conditions (ESM import from Node).
const NODE_IMPORT_CONDITIONS = ["node", "import", "default"];
function resolveExportsTarget(t, conds) {
  if (typeof t === "string") return t;
  if (Array.isArray(t)) {
    for (const x of t) {
      const r = resolveExportsTarget(x, conds);
      if (r) return r;
    }
    return null;
  }
  if (t && typeof t === "object") {
    for (const [k, v] of Object.entries(t)) {
      if (conds.includes(k)) {
        const r = resolveExportsTarget(v, conds);
        if (r) return r;
      }
    }
  }
  return null;
}
function nodeEntryOf(pkgDir) {
  const pj = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  let ex = pj.exports;
  let entry = null;
  if (ex !== undefined) {
    if (ex && typeof ex === "object" && !Array.isArray(ex) && Object.keys(ex).some((k) => k.startsWith("."))) {
      ex = ex["."];
    }
    entry = resolveExportsTarget(ex, NODE_IMPORT_CONDITIONS);
  } else {
    entry = pj.main ?? "index.js";
  }
  return { pj, entry: entry ? path.resolve(pkgDir, entry) : null };
}

async function loadHyperbatch() {
  let mod;
  try {
    if (process.env.HYPERBATCH_PKG) {
      const { entry } = nodeEntryOf(PKG_DIR);
      mod = await import(pathToFileURL(entry).href);
    } else {
      mod = await import("hyperbatch");
    }
  } catch (e) {
    const notBuilt =
      !fs.existsSync(path.join(PKG_DIR, "package.json")) ||
      (e?.code === "ERR_MODULE_NOT_FOUND" && /hyperbatch/.test(String(e.message)));
    return { status: notBuilt ? "not built" : `failed to load: ${e?.message ?? e}` };
  }
  // Tolerate an explicit async initializer if the build exposes one.
  if (mod.ready && typeof mod.ready.then === "function") await mod.ready;
  const Batcher = mod.Batcher ?? mod.default?.Batcher;
  if (typeof Batcher !== "function") {
    return { status: `failed to load: no Batcher export (exports: ${Object.keys(mod).join(", ")})` };
  }

  let version = null;
  try {
    version = JSON.parse(fs.readFileSync(path.join(PKG_DIR, "package.json"), "utf8")).version;
  } catch {}

  const transport = (batch) => batch.items.map(double);
  const mkOpts = (N, withInFlight) => {
    const o = { transport, maxBatchSize: BATCH, maxWaitMs: 0, maxQueued: N + 1 };
    if (withInFlight) o.maxInFlight = 1e9;
    return o;
  };
  // Probe the constructor once: is maxInFlight: 1e9 accepted, and what is the
  // per-item method called?
  let useInFlight = true;
  let probe;
  try {
    probe = new Batcher(mkOpts(1000, true));
  } catch (e) {
    if (!(e instanceof RangeError)) {
      return { status: `failed to construct: ${e?.message ?? e}` };
    }
    useInFlight = false;
    try {
      probe = new Batcher(mkOpts(1000, false));
    } catch (e2) {
      return { status: `failed to construct: ${e2?.message ?? e2}` };
    }
  }
  const method = ["add", "load", "submit", "enqueue", "push"].find((m) => typeof probe[m] === "function");
  await disposeHyperbatch(probe);
  if (!method) return { status: "failed: Batcher instance has no add()/load()/submit() method" };

  return {
    status: "ok",
    contender: {
      name: "hyperbatch",
      key: "hyperbatch",
      version,
      config: `maxInFlight ${useInFlight ? "1e9" : "default (1e9 threw RangeError)"}, method .${method}()`,
      callExpr: `target.${method}(i)`,
      create: (N) => new Batcher(mkOpts(N, useInFlight)),
      dispose: disposeHyperbatch,
    },
  };
}
async function disposeHyperbatch(b) {
  // Release the wasm-side object if the build exposes a way to (outside timing).
  try {
    for (const m of ["close", "dispose"]) {
      if (typeof b[m] === "function") {
        await b[m]();
        break;
      }
    }
  } catch {}
  try {
    if (typeof b.free === "function" && b.__wbg_ptr !== 0) b.free();
  } catch {}
}

// ------------------------------------------------------------- running ----
function withWatchdog(p, what) {
  let timer;
  const dog = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no completion after ${WATCHDOG_MS / 1000}s (hung?)`)), WATCHDOG_MS);
  });
  return Promise.race([p, dog]).finally(() => clearTimeout(timer));
}

// One timed pass of N items through `target` (a live instance of contender c).
async function runOnce(c, target, N) {
  const chunk = CHUNK_ALL ? N : Math.min(Number(CHUNK_ENV), N);
  if (gc) {
    collect();
    // A forced full GC also deoptimizes hot code that embeds now-dead objects
    // ("weak objects" deopts in Node's microtask/nextTick/timer internals and in
    // the libraries). Re-warm untimed so the timed pass measures steady state,
    // not re-JIT; the garbage this leaves is young and cheap to scavenge.
    const n = Math.min(N, REWARM);
    await withWatchdog(c.driver(target, n, Math.min(chunk, n), performance), `${c.name} re-warm`);
  }
  const { ms, sum } = await withWatchdog(c.driver(target, N, chunk, performance), `${c.name} N=${N}`);
  const expected = N * (N - 1); // sum of 2*i for i in [0, N)
  if (sum !== expected) throw new Error(`${c.name} N=${N}: wrong results (checksum ${sum}, expected ${expected})`);
  return ms;
}
async function disposeInstance(c) {
  const t = c.inst;
  c.inst = null;
  if (t && c.dispose) await c.dispose(t);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

// ---------------------------------------------------------- formatting ----
const fmtInt = (n) => Math.round(n).toLocaleString("en-US");
const fmtRate = (r) => (r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : `${(r / 1e3).toFixed(1)} k/s`);
const fmtBytes = (b) => (b >= 1024 ? `${(b / 1024).toFixed(2)} KiB` : `${b} B`);
function table(headers, rows, align) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells.map((c, i) => (align[i] === "r" ? String(c).padStart(w[i]) : String(c).padEnd(w[i]))).join("  ");
  return [line(headers), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(line)].join("\n");
}

// -------------------------------------------------------- package size ----
function jsDeps(file) {
  // Relative modules/assets a JS file loads: static/dynamic imports, require(),
  // new URL('x', import.meta.url), and any '*.wasm' string literal
  // (wasm-bindgen's nodejs target reads `${__dirname}/x_bg.wasm`).
  const src = fs.readFileSync(file, "utf8");
  const dir = path.dirname(file);
  const out = new Set();
  const res = [
    /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /new\s+URL\s*\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url/g,
    /["']([^"'\s]+\.wasm)["']/g,
  ];
  for (const re of res) {
    for (const m of src.matchAll(re)) {
      const spec = m[1].replace(/^\.\//, "");
      const p = path.resolve(dir, spec);
      if (fs.existsSync(p) && fs.statSync(p).isFile()) out.add(p);
    }
  }
  return out;
}
function gz(file) {
  const buf = fs.readFileSync(file);
  return { raw: buf.length, gzip: zlib.gzipSync(buf, { level: 9 }).length };
}
function packageSize() {
  if (!fs.existsSync(path.join(PKG_DIR, "package.json"))) return { status: "not built", dir: PKG_DIR };
  const { entry } = nodeEntryOf(PKG_DIR);
  // Everything shipped in pkg/ that is JS or wasm (not .d.ts / maps).
  const all = [];
  const walk = (d) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) {
        if (ent.name !== "node_modules") walk(p);
      } else if (/\.(m?js|cjs|wasm)$/.test(ent.name) && !/\.d\.[mc]?ts$/.test(ent.name)) all.push(p);
    }
  };
  walk(PKG_DIR);
  // Closure of what `import "hyperbatch"` loads in Node, plus every top-level pkg/*.wasm.
  const loaded = new Set();
  if (entry && fs.existsSync(entry)) {
    const stack = [entry];
    while (stack.length) {
      const f = stack.pop();
      if (loaded.has(f)) continue;
      loaded.add(f);
      if (/\.(m?js|cjs)$/.test(f)) for (const d of jsDeps(f)) stack.push(d);
    }
  }
  for (const f of all) if (f.endsWith(".wasm") && path.dirname(f) === PKG_DIR) loaded.add(f);
  const rel = (f) => path.relative(PKG_DIR, f);
  const files = all
    .sort()
    .map((f) => ({ file: rel(f), ...gz(f), nodeLoads: loaded.has(f) }));
  for (const f of loaded) if (!all.includes(f)) files.push({ file: rel(f), ...gz(f), nodeLoads: true });
  const sum = (fs_, k) => fs_.reduce((a, f) => a + f[k], 0);
  const nodeFiles = files.filter((f) => f.nodeLoads);
  return {
    status: "ok",
    dir: PKG_DIR,
    nodeEntry: entry ? rel(entry) : null,
    files,
    nodeLoad: { raw: sum(nodeFiles, "raw"), gzip: sum(nodeFiles, "gzip") },
    allJsWasm: { raw: sum(files, "raw"), gzip: sum(files, "gzip") },
  };
}

// ----------------------------------------------------------------- main ----
async function main() {
  const tStart = performance.now();
  const cpus = os.cpus();
  console.log(
    `hyperbatch bench — Node ${process.version}, ${os.platform()}/${os.arch()}, ` +
      `${cpus.length} x ${cpus[0]?.model?.trim() ?? "?"}`,
  );
  console.log(
    `batch ${BATCH}, sync transport x => x * 2, loop: add ${CHUNK_ALL ? "all N" : fmtInt(Number(CHUNK_ENV))} then await Promise.all, ` +
      `rounds ${NS.map((n) => `${roundsFor(n)} @ ${n.toExponential()}`).join(", ")} round-robin, median; gc between runs: ${gc ? "yes" : "NO (run with --expose-gc)"}`,
  );

  const hb = await loadHyperbatch();
  const contenders = [floorContender()];
  if (hb.status === "ok") contenders.push(hb.contender);
  contenders.push(dataLoaderContender(), promiseBatcherContender());
  console.log(`hyperbatch: ${hb.status === "ok" ? `loaded${hb.contender.version ? ` v${hb.contender.version}` : ""} (${hb.contender.config})` : hb.status}`);
  for (const c of contenders) if (c.version && c.key !== "hyperbatch") console.log(`${c.name}: v${c.version}`);
  for (const c of contenders) c.driver = makeDriver(c.callExpr);

  // Instances are long-lived, as in an application: one per contender per N,
  // reused for every round. (Creating one per run and then forcing gc() lets V8
  // discard the optimized code specialised to the dead instance's closures, so
  // every short run would re-pay JIT warm-up.)
  //
  // Warm-up (untimed): one run at 1e4, then WARMUP runs at 1e5, on a throwaway instance.
  for (const c of contenders) {
    c.error = null;
    try {
      c.inst = c.create(1e5);
      await runOnce(c, c.inst, 1e4);
      for (let i = 0; i < WARMUP; i++) await runOnce(c, c.inst, 1e5);
    } catch (e) {
      c.error = e?.message ?? String(e);
      console.log(`  ${c.name}: ERROR during warm-up: ${c.error}`);
    }
    await disposeInstance(c);
  }

  const results = {};
  for (const N of NS) {
    const samples = Object.fromEntries(contenders.map((c) => [c.key, []]));
    // Fresh instances for this N (maxQueued: N + 1 for hyperbatch), each given one
    // untimed pass so code specialised to the new instance is compiled before timing.
    for (const c of contenders) {
      if (c.error) continue;
      try {
        c.inst = c.create(N);
        await runOnce(c, c.inst, Math.min(N, 1e5));
      } catch (e) {
        c.error = e?.message ?? String(e);
        console.log(`  ${c.name}: ERROR: ${c.error}`);
      }
    }
    for (let r = 0; r < roundsFor(N); r++) {
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length]; // rotate start each round
        if (c.error) continue;
        try {
          samples[c.key].push(await runOnce(c, c.inst, N));
        } catch (e) {
          c.error = e?.message ?? String(e);
          console.log(`  ${c.name}: ERROR: ${c.error}`);
        }
      }
    }
    for (const c of contenders) await disposeInstance(c);
    results[N] = {};
    for (const c of contenders) {
      const s = samples[c.key];
      if (!s.length) {
        results[N][c.key] = { name: c.name, error: c.error };
        continue;
      }
      const ms = median(s);
      results[N][c.key] = {
        name: c.name,
        medianMs: ms,
        itemsPerSec: N / (ms / 1000),
        minMs: Math.min(...s),
        maxMs: Math.max(...s),
        samplesMs: s,
        ...(c.error ? { error: c.error } : {}),
      };
    }
  }

  // ---- report
  const ratios = {};
  for (const N of NS) {
    const R = results[N];
    const floorMs = R.floor?.medianMs;
    console.log(`\nN = ${fmtInt(N)}`);
    const rows = contenders.map((c) => {
      const x = R[c.key];
      if (!x.medianMs) return [c.name, "error", "", "", ""];
      return [
        c.name,
        x.medianMs.toFixed(1),
        fmtRate(x.itemsPerSec),
        `${x.minMs.toFixed(1)} .. ${x.maxMs.toFixed(1)}`,
        floorMs ? `${(x.medianMs / floorMs).toFixed(2)}x` : "",
      ];
    });
    console.log(table(["contender", "median ms", "items/s", "min .. max ms", "time vs floor"], rows, ["l", "r", "r", "r", "r"]));
    const hbR = R.hyperbatch;
    ratios[N] = {
      dataLoaderTimeOverFloor: R.dataloader?.medianMs && floorMs ? R.dataloader.medianMs / floorMs : null,
      promiseBatcherTimeOverFloor: R["promise-batcher"]?.medianMs && floorMs ? R["promise-batcher"].medianMs / floorMs : null,
      hyperbatchOverDataLoaderThroughput: hbR?.itemsPerSec && R.dataloader?.itemsPerSec ? hbR.itemsPerSec / R.dataloader.itemsPerSec : null,
      hyperbatchTimeOverFloor: hbR?.medianMs && floorMs ? hbR.medianMs / floorMs : null,
    };
  }

  console.log("\nRatios (target in brackets)");
  const verdict = (v, ok) => (v == null ? "n/a" : `${v.toFixed(2)}x ${ok ? "PASS" : "FAIL"}`);
  const rrows = NS.map((N) => {
    const q = ratios[N];
    return [
      fmtInt(N),
      q.hyperbatchOverDataLoaderThroughput == null ? (hb.status === "ok" ? "n/a" : `hyperbatch ${hb.status}`) : verdict(q.hyperbatchOverDataLoaderThroughput, q.hyperbatchOverDataLoaderThroughput >= TARGETS.hbOverDataLoader),
      q.hyperbatchTimeOverFloor == null ? "n/a" : verdict(q.hyperbatchTimeOverFloor, q.hyperbatchTimeOverFloor <= TARGETS.hbTimeOverFloor),
      q.dataLoaderTimeOverFloor == null ? "n/a" : `${q.dataLoaderTimeOverFloor.toFixed(2)}x`,
      q.promiseBatcherTimeOverFloor == null ? "n/a" : `${q.promiseBatcherTimeOverFloor.toFixed(2)}x`,
    ];
  });
  console.log(
    table(
      ["N", "hyperbatch/DataLoader items/s [>= 1.0]", "hyperbatch/floor time [<= 1.3]", "DataLoader/floor time", "promise-batcher/floor time"],
      rrows,
      ["r", "r", "r", "r", "r"],
    ),
  );

  const size = packageSize();
  console.log(`\nPackage size (gzip -9, node:zlib) — ${size.dir}`);
  if (size.status !== "ok") {
    console.log("hyperbatch: not built (no pkg/package.json)");
  } else {
    console.log(`node import entry: ${size.nodeEntry ?? "(unresolved)"}`);
    console.log(
      table(
        ["file", "raw", "gzip", "loaded by `import` in Node"],
        size.files.map((f) => [f.file, fmtBytes(f.raw), fmtBytes(f.gzip), f.nodeLoads ? "yes" : ""]),
        ["l", "r", "r", "l"],
      ),
    );
    const ok = size.nodeLoad.gzip <= TARGETS.pkgGzipBytes;
    console.log(
      `node-load total: ${fmtBytes(size.nodeLoad.gzip)} gzip (${fmtBytes(size.nodeLoad.raw)} raw) [<= 20 KiB] ${ok ? "PASS" : "FAIL"}` +
        `; all JS+wasm in pkg/: ${fmtBytes(size.allJsWasm.gzip)} gzip`,
    );
  }

  const out = {
    date: new Date().toISOString(),
    env: {
      node: process.version,
      v8: process.versions.v8,
      platform: `${os.platform()}/${os.arch()}`,
      cpus: cpus.length,
      cpuModel: cpus[0]?.model?.trim() ?? null,
      gcBetweenRuns: !!gc,
    },
    config: { ns: NS, batchSize: BATCH, rounds: Object.fromEntries(NS.map((n) => [n, roundsFor(n)])), warmupRunsAt1e5: WARMUP, chunk: CHUNK_ALL ? "all" : Number(CHUNK_ENV), transport: "sync items.map(x => x * 2)" },
    contenders: contenders.map((c) => ({ key: c.key, name: c.name, version: c.version ?? null, config: c.config ?? null })),
    hyperbatch: hb.status === "ok" ? "ok" : hb.status,
    results,
    ratios,
    targets: {
      hyperbatchOverDataLoaderThroughputMin: TARGETS.hbOverDataLoader,
      hyperbatchTimeOverFloorMax: TARGETS.hbTimeOverFloor,
      packageGzipBytesMax: TARGETS.pkgGzipBytes,
    },
    packageSize: size,
    wallSeconds: (performance.now() - tStart) / 1000,
  };
  const outFile = path.join(HERE, "results.json");
  fs.writeFileSync(outFile, JSON.stringify(out, null, 2) + "\n");
  console.log(`\nwrote ${path.relative(process.cwd(), outFile) || outFile} (${out.wallSeconds.toFixed(1)} s)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
