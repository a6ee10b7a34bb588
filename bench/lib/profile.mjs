// Where the per-item cost of the cases the keys and signal targets compare goes: a V8 CPU profile
// of the timed rounds only (node:inspector, in process), each sample's self time put in one
// category. For the closing note of issue #10 ("for any target missed: by how much, and the
// profile that shows why"); not part of the benchmark's pass/fail.
//
//   node --expose-gc bench/lib/profile.mjs [--functions] [case …]   (default: every case; any Node ≥ 20)
//
// Cases (bench/lib/contenders.js's, the same options and transports): "plain", "keys1",
// "keys10000" (1e6 items added before one await, item i to key i % K), "floor", "floorKeys10000",
// and per-item options over 5e4 items: "optPlain", "signal", "floorOpt", "floorSignal",
// "deadline". Each case runs in a fresh process (HYPERBATCH_PKG or pkg/). Prints, per case,
// ns per item (median of the timed rounds) and each category's share of the profiled time and its
// ns per item, so two cases' rows subtract: where the extra cost of 10,000 keys or a signal each is.
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join, resolve } from "node:path";
import { Session } from "node:inspector/promises";
import { keyContenders, optionContenders } from "./contenders.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const CASES = {
  plain: ["keys", "plain"], keys1: ["keys", "keys1"], keys10000: ["keys", "keys10000"], floor: ["keys", "floor"],
  floorKeys10000: ["keys", "floorKeys10000"], optPlain: ["options", "plain"], signal: ["options", "signal"],
  floorOpt: ["options", "floor"], floorSignal: ["options", "floorSignal"], deadline: ["options", "deadline"],
  sharedSignal: ["options", "sharedSignal"],
};
const N = { keys: 1e6, options: 5e4 };
const ROUNDS = { keys: 5, options: 15 };

/** The category of a profile node's own time. */
function category(frame) {
  const { functionName: fn, url } = frame;
  if (fn === "(garbage collector)") return "GC";
  if (fn === "(program)" || fn === "(idle)" || fn === "(root)") return "V8 (program)";
  if (url.startsWith("wasm://")) return "hyperbatch .wasm";
  if (/\/pkg\/|hyperbatch/.test(url) && !/bench\/lib/.test(url)) return "hyperbatch JS";
  if (/event_target|abort_controller/.test(url)) return "EventTarget (Node's JS)";
  if (/bench\/lib\/contenders/.test(url)) return "floor / transport (bench)";
  if (/bench\/lib\/profile/.test(url)) return "driver loop (bench)";
  if (url === "") return `builtins: ${/^(resolve|reject|Promise|then|all|PromiseResolveThenableJob|RunMicrotasks|runMicrotasks)$/.test(fn) ? "promises" : "other"}`;
  return "other";
}

async function child(name) {
  const [section, key] = CASES[name];
  const n = N[section];
  const pkg = process.env.HYPERBATCH_PKG ? resolve(process.env.HYPERBATCH_PKG) : join(root, "pkg");
  const { Batcher } = await import(pathToFileURL(join(pkg, "index.node.js")).href);
  const libs = { Batcher };
  const list = section === "keys" ? keyContenders(libs, [1, 100, 10000]) : optionContenders(libs, n);
  const c = list.find((x) => x.key === key);
  const target = c.create(n);
  const extra = c.extra;
  // The bench's loop (suite.js compileLoop) in short: add n items, one await, check by position.
  const run = new Function("target", "extra", "n", `return (async () => {
    const ps = new Array(n);
    for (let i = 0; i < n; i++) ps[i] = ${c.callExpr};
    const vs = await Promise.all(ps);
    for (let i = 0; i < n; i++) if (vs[i] !== i * 2) throw new Error("item " + i + " resolved to " + vs[i]);
  })();`);
  for (let w = 0; w < 3; w++) await run(target, extra, n);
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 50 });
  const times = [];
  const self = new Map(), fns = new Map();
  let total = 0;
  for (let r = 0; r < ROUNDS[section]; r++) {
    globalThis.gc?.(); // outside the profile: the bench times each run after a forced gc() too
    await session.post("Profiler.start");
    const t0 = process.hrtime.bigint();
    await run(target, extra, n);
    times.push(Number(process.hrtime.bigint() - t0) / n);
    const { profile } = await session.post("Profiler.stop");
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    // A sample's delta is the time since the one before: the first one's is the profiler's start-up.
    for (let i = 1; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i];
      const frame = byId.get(profile.samples[i]).callFrame;
      const cat = category(frame);
      self.set(cat, (self.get(cat) ?? 0) + dt);
      const fn = `${cat} :: ${frame.functionName || "(anonymous)"}`;
      fns.set(fn, (fns.get(fn) ?? 0) + dt);
      total += dt;
    }
  }
  await c.dispose?.(target);
  times.sort((a, b) => a - b);
  const nsPerItem = times[times.length >> 1];
  const items = n * ROUNDS[section];
  const cats = [...self].sort((a, b) => b[1] - a[1]).map(([cat, us]) => ({ cat, share: us / total, nsPerItem: (us * 1000) / items }));
  const top = [...fns].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([fn, us]) => ({ fn, share: us / total, nsPerItem: (us * 1000) / items }));
  process.stdout.write(JSON.stringify({ name, nsPerItem, cats, top }));
}

function main() {
  const names = process.argv.slice(2).filter((x) => !x.startsWith("--"));
  const wanted = names.length ? names : Object.keys(CASES);
  for (const name of wanted) {
    if (!CASES[name]) throw new Error(`unknown case ${name}; cases: ${Object.keys(CASES).join(", ")}`);
    const r = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", name], { encoding: "utf8", env: process.env });
    if (r.status !== 0) throw new Error(`${name}: exit ${r.status}\n${r.stderr}`);
    const { nsPerItem, cats, top } = JSON.parse(r.stdout);
    console.log(`${name} (${process.version}): ${nsPerItem.toFixed(0)} ns/item (median of the timed rounds); profiled self time per item:`);
    for (const { cat, share, nsPerItem: ns } of cats) if (share >= 0.005) console.log(`  ${cat.padEnd(28)} ${(share * 100).toFixed(1).padStart(5)} %  ${ns.toFixed(0).padStart(5)} ns`);
    if (process.argv.includes("--functions")) {
      console.log("  top functions:");
      for (const { fn, share, nsPerItem: ns } of top) console.log(`    ${fn.slice(0, 60).padEnd(60)} ${(share * 100).toFixed(1).padStart(5)} %  ${ns.toFixed(0).padStart(5)} ns`);
    }
  }
}

if (process.argv.includes("--child")) await child(process.argv[process.argv.indexOf("--child") + 1]);
else main();
