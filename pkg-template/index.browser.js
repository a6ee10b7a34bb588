// Browsers (plain <script type="module"> and bundlers such as Vite): the wasm is fetched
// relative to this file. Vite emits the asset because of this literal `new URL(...)`.
import { load } from "./core.js";

await load(new URL("./hyperbatch_bg.wasm", import.meta.url));

export { Batcher } from "./core.js";
