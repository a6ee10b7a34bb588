// Node (ESM): the wasm is read from disk and instantiated synchronously, so no top-level await.
import { readFileSync } from "node:fs";
import * as glue from "./hyperbatch.js";
import { setBindings } from "./core.js";

const wasm = glue.initSync({ module: readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)) });
setBindings(glue, wasm.memory);

export { Batcher } from "./core.js";
