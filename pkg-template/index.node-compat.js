// Node (ESM) before 20.19 / 22.10, and runtimes other than Bun that read the `node` condition
// but not `module-sync` (Bun has its own condition and takes index.node.js): sync, no top-level await. fs through getBuiltinModule where there is one
// (`import "node:fs"` builds fs's ESM namespace, which loads fs streams too: 3–12 ms of a fresh
// process), else through createRequire (Node < 20.16).
import { createRequire } from "node:module";
import { loadSync } from "./core.js";

const fs = process.getBuiltinModule?.("fs") ?? createRequire(import.meta.url)("fs");
// globalThis.process is a getter, called at each read even by optimised code: read it once.
// hrtime is still read per call (fake timers replace it).
const host = process;
const clock = host.hrtime && { now: () => (([s, ns]) => s * 1e3 + ns / 1e6)(host.hrtime()) }; // ms
loadSync(fs.readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)), clock);

export { Batcher } from "./core.js";
