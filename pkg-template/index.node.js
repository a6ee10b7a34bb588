// Node ESM from 20.19 / 22.10 (the `module-sync` condition; all have process.getBuiltinModule):
// no builtin import, sync. `import "node:module"` alone cost 0.33 ms. Older: index.node-compat.js.
// The engine's clock is process.hrtime, the monotonic clock performance.now() reads too:
// globalThis.performance would load Node's perf_hooks, about 1 ms of a fresh process (so in
// index.node-compat.js and index.cjs too). Read per batch and per turn of adds, never per item.
import { loadSync } from "./core.js";

const clock = typeof process.hrtime === "function" ? { now: () => {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
} } : undefined;
loadSync(process.getBuiltinModule("fs").readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)), clock);

export { Batcher } from "./core.js";
