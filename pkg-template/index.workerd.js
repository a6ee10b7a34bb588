// Cloudflare Workers: workerd refuses to compile wasm from bytes, so the module is imported
// (wrangler bundles it as CompiledWasm) and instantiated synchronously.
import wasm from "./hyperbatch_bg.wasm";
import * as glue from "./hyperbatch.js";
import { setBindings } from "./core.js";

glue.initSync({ module: wasm });
setBindings(glue);

export { Batcher } from "./core.js";
