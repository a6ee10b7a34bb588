// Deno: the wasm comes in as a module (wasm.deno.js), with no permission needed; a Deno 2 without
// source phase imports reads it next to this file instead (needs read access to the package).
import { loadSync } from "./core.js";

let wasm;
try {
  wasm = (await import("./wasm.deno.js")).default;
} catch {
  wasm = await Deno.readFile(new URL("./hyperbatch_bg.wasm", import.meta.url));
}
loadSync(wasm);

export { Batcher } from "./core.js";
