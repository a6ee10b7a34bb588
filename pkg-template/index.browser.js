// Browsers (plain <script type="module"> and bundlers such as Vite): the wasm is fetched
// relative to this file. Vite emits the asset because of this literal `new URL(...)`.
import initWasm, * as glue from "./hyperbatch.js";
import { setBindings } from "./core.js";

const wasm = await initWasm({ module_or_path: new URL("./hyperbatch_bg.wasm", import.meta.url) });
setBindings(glue, wasm.memory);

export { Batcher } from "./core.js";
