// Node ESM: sync. fs via getBuiltinModule: `import "node:fs"` also loads fs streams.
import { createRequire } from "node:module";
import { loadSync } from "./core.js";

const fs = process.getBuiltinModule?.("fs") ?? createRequire(import.meta.url)("fs");
loadSync(fs.readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)));

export { Batcher } from "./core.js";
