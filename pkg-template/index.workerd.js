// Cloudflare Workers: workerd refuses to compile wasm from bytes, so the module is imported
// (wrangler bundles it as CompiledWasm) and instantiated synchronously.
import wasm from "./hyperbatch_bg.wasm";
import { loadSync } from "./core.js";

loadSync(wasm);

export { Batcher } from "./core.js";
