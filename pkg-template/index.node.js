// Node ESM from 20.19 / 22.10 (the `module-sync` condition; all have process.getBuiltinModule):
// no builtin import, sync. `import "node:module"` alone cost 0.33 ms. Older: index.node-compat.js.
import { loadSync } from "./core.js";

loadSync(process.getBuiltinModule("fs").readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)));

export { Batcher } from "./core.js";
