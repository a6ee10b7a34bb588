// Cloudflare Workers: workerd refuses to compile wasm from bytes, so the module is imported
// (wrangler bundles it as CompiledWasm) and instantiated synchronously.
import wasm from "./hyperbatch_bg.wasm";
import * as glue from "./hyperbatch.js";
import { setBindings } from "./core.js";

setBindings(glue, glue.initSync({ module: wasm }).memory);

export { Batcher } from "./core.js";
