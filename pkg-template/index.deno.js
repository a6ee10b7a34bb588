// Deno: the wasm is read next to this file (needs read access to the package, e.g. node_modules).
import * as glue from "./hyperbatch.js";
import { setBindings } from "./core.js";

const url = new URL("./hyperbatch_bg.wasm", import.meta.url);
setBindings(glue, glue.initSync({ module: await Deno.readFile(url) }).memory);

export { Batcher } from "./core.js";
