// Node ESM from 20.19 / 22.10 (the `module-sync` condition; all have process.getBuiltinModule):
// no builtin import, sync. `import "node:module"` alone cost 0.33 ms. Older: index.node-compat.js.
// The engine's clock is process.hrtime, the monotonic clock performance.now() reads too:
// globalThis.performance would load Node's perf_hooks, about 1 ms of a fresh process (so in
// index.node-compat.js and index.cjs too). Read per batch and per turn of adds, never per item.
import { loadSync } from "./core.js";

// globalThis.process is a getter, called at each read even by optimised code: read it once.
// hrtime is still read per call (fake timers replace it).
const host = process;
const clock = host.hrtime && { now: () => (([s, ns]) => s * 1e3 + ns / 1e6)(host.hrtime()) }; // ms
loadSync(process.getBuiltinModule("fs").readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)), clock);

export { Batcher } from "./core.js";
