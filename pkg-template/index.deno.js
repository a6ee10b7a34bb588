// Deno: the wasm is read next to this file (needs read access to the package, e.g. node_modules).
import { loadSync } from "./core.js";

loadSync(await Deno.readFile(new URL("./hyperbatch_bg.wasm", import.meta.url)));

export { Batcher } from "./core.js";
