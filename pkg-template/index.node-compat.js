// Node (ESM) before 20.19 / 22.10, and runtimes that read the `node` condition but not
// `module-sync` (Bun): sync, no top-level await. fs through getBuiltinModule where there is one
// (`import "node:fs"` builds fs's ESM namespace, which loads fs streams too: 3–12 ms of a fresh
// process), else through createRequire (Node < 20.16).
import { createRequire } from "node:module";
import { loadSync } from "./core.js";

const fs = process.getBuiltinModule?.("fs") ?? createRequire(import.meta.url)("fs");
// The engine's clock: process.hrtime, not perf_hooks (see index.node.js).
const clock = typeof process.hrtime === "function" ? { now: () => {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
} } : undefined;
loadSync(fs.readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)), clock);

export { Batcher } from "./core.js";
