// Node only, one fresh process per sample: `node --expose-gc cold.mjs CONTENDER HYPERBATCH_ENTRY`.
// Prints { coldMs, bytesPerItem }: the time from importing the library to its first settled item,
// then the heap (+ external, which holds wasm memory) per item queued: 1e5 adds made
// synchronously, so nothing has been sent yet, measured between two forced GCs.
// Every library is imported by its name, as a user's `import { Batcher } from "hyperbatch"`:
// resolving a package name (node_modules, its package.json) is part of the cold start, about
// 1 ms of a fresh Node 24 process against a relative file's import. For that, bench/node_modules/
// hyperbatch is made a copy of the package HYPERBATCH_ENTRY belongs to (cold-link.mjs), before the clock starts.
// The clock is process.hrtime: `performance` would load Node's perf_hooks before the import, about
// 1 ms that a library reading it would otherwise pay itself.
import { throughputContenders } from "./contenders.js";
import { callerOf } from "./suite.js";
import { installPackage } from "./cold-link.mjs";

const N = 100_000;
const [which, entry] = process.argv.slice(2);
const benchDir = process.getBuiltinModule("path").join(process.argv[1], "..", "..");
const installed = which === "hyperbatch" ? installPackage(entry, benchDir) : undefined;
const IMPORTS = {
  floor: async () => ({}),
  hyperbatch: async () => ({ Batcher: (await import("hyperbatch")).Batcher }),
  dataloader: async () => ({ DataLoader: (await import("dataloader")).default }),
  "promise-batcher": async () => ({ PromiseBatcher: (await import("promise-batcher")).Batcher }),
  batshit: async () => ({ batshit: await import("@yornaath/batshit") }),
};

const now = () => Number(process.hrtime.bigint()) / 1e6;
const t0 = now();
const libs = await IMPORTS[which]();
const c = throughputContenders(libs, "sync").find((x) => x.key === which);
const call = callerOf(c);
const inst = c.create(N);
const first = await call(inst, 1);
const coldMs = now() - t0;
if (first !== 2) throw new Error(`${which}: first item resolved to ${first}`);
if (which === "hyperbatch" && import.meta.resolve("hyperbatch") !== installed) {
  throw new Error(`"hyperbatch" resolved to ${import.meta.resolve("hyperbatch")}, not ${installed}`);
}

const mem = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const hold = new Array(N).fill(null);
globalThis.gc();
globalThis.gc();
const m0 = mem();
for (let i = 0; i < N; i++) hold[i] = call(inst, i);
globalThis.gc();
const bytesPerItem = (mem() - m0) / N;
const values = await Promise.all(hold);
for (let i = 0; i < N; i++) if (values[i] !== i * 2) throw new Error(`${which}: item ${i} resolved to ${values[i]}`);
process.stdout.write(`${JSON.stringify({ coldMs, bytesPerItem })}\n`, () => process.exit(0));
