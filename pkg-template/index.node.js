// Node (ESM): sync, no top-level await. fs through getBuiltinModule: `import "node:fs"` builds
// fs's ESM namespace, which loads fs streams too: 3–12 ms of a fresh process's start.
import { createRequire } from "node:module";
import { loadSync } from "./core.js";

const fs = process.getBuiltinModule?.("fs") ?? createRequire(import.meta.url)("fs");
loadSync(fs.readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)));

export { Batcher } from "./core.js";
