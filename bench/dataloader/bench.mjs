#!/usr/bin/env node
// hyperbatch/dataloader against DataLoader 2.2.3 (npm), in one process, same workloads, the two
// contenders alternating inside every round. Prints median ms per workload and the time ratio
// hyperbatch / DataLoader (below 1 = hyperbatch faster). A report, not a test.
//
//   bench/dataloader/run.sh            # installs if needed, then runs
//   BENCH_ROUNDS=11 BENCH_N=200000 bench/dataloader/run.sh
//
// Workloads (batchLoadFn maps keys to values synchronously inside a resolved promise: no I/O, so
// what is measured is the loaders' own cost):
//   cache off     one loader, { cache: false, maxBatchSize: 100 }, N distinct loads, 10,000 per await
//   cache on      one fresh loader per round, N loads over N/2 keys (every key twice), 10,000 per await
//   per request   N/5 fresh loaders (cache on) each making 5 loads, 2 of them repeats, one await each
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import Hyper from "hyperbatch/dataloader";

const Upstream = createRequire(import.meta.url)("dataloader");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const N = Number(process.env.BENCH_N ?? 100000);
const CHUNK = 10000;
const gc = globalThis.gc ?? (() => {});

const batchLoadFn = (keys) => Promise.resolve(keys.map((k) => k * 2));

async function drive(loader, n, keyOf) {
  let sum = 0;
  for (let start = 0; start < n; start += CHUNK) {
    const loads = [];
    for (let i = start; i < Math.min(n, start + CHUNK); i++) loads.push(loader.load(keyOf(i)));
    for (const v of await Promise.all(loads)) sum += v;
  }
  return sum;
}

const WORKLOADS = {
  "cache off": (DataLoader) => drive(new DataLoader(batchLoadFn, { cache: false, maxBatchSize: 100 }), N, (i) => i),
  "cache on": (DataLoader) => drive(new DataLoader(batchLoadFn), N, (i) => i % (N / 2)),
  "per request": async (DataLoader) => {
    let sum = 0;
    for (let r = 0; r < N / 5; r++) {
      const loader = new DataLoader(batchLoadFn);
      const values = await Promise.all([loader.load(r), loader.load(r + 1), loader.load(r), loader.load(r + 2), loader.load(r + 1)]);
      for (const v of values) sum += v;
    }
    return sum;
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(fn) {
  gc();
  const t = performance.now();
  const checksum = await fn();
  return { ms: performance.now() - t, checksum };
}

console.log(`node ${process.version}, N = ${N}, ${ROUNDS} rounds (medians), DataLoader 2.2.3 vs hyperbatch/dataloader`);
console.log(`${"workload".padEnd(14)}${"DataLoader ms".padStart(15)}${"hyperbatch ms".padStart(15)}${"ratio".padStart(8)}`);
const results = {};
for (const [name, run] of Object.entries(WORKLOADS)) {
  await run(Upstream); // warm-up
  await run(Hyper);
  const times = { upstream: [], hyper: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first, so neither always runs on a heap the other just left.
    const order = round % 2 === 0 ? ["upstream", "hyper"] : ["hyper", "upstream"];
    const checks = {};
    for (const who of order) {
      const { ms, checksum } = await timed(() => run(who === "upstream" ? Upstream : Hyper));
      times[who].push(ms);
      checks[who] = checksum;
    }
    if (checks.upstream !== checks.hyper) throw new Error(`${name}: checksums differ (${checks.upstream} vs ${checks.hyper})`);
  }
  const up = median(times.upstream), hb = median(times.hyper);
  results[name] = { dataloaderMs: up, hyperbatchMs: hb, ratio: hb / up };
  console.log(`${name.padEnd(14)}${up.toFixed(1).padStart(15)}${hb.toFixed(1).padStart(15)}${(hb / up).toFixed(2).padStart(8)}`);
}
if (process.env.BENCH_JSON) console.log(JSON.stringify(results));
