// The .wasm as a WebAssembly.Module through a source phase import: Deno reads it as part of the
// module graph, which needs no read permission. A Deno without this syntax fails to load this file.
import source wasm from "./hyperbatch_bg.wasm";

export default wasm;
