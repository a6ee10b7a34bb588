// Node (ESM): the wasm is read from disk and instantiated synchronously, so no top-level await.
import { readFileSync } from "node:fs";
import { loadSync } from "./core.js";

loadSync(readFileSync(new URL("./hyperbatch_bg.wasm", import.meta.url)));

export { Batcher } from "./core.js";
