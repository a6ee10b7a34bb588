// For hosts that load the .wasm themselves: call `await init(source)` before `new Batcher()`.
// `source`: a WebAssembly.Module, bytes, a Response (or a promise of one), or a URL.
import { load } from "./core.js";

export { Batcher } from "./core.js";

let ready;

export function init(source) {
  if (source === undefined || source === null) {
    return Promise.reject(Object.assign(new TypeError("hyperbatch/slim: init(source) needs a Module, bytes, a Response or a URL"), { code: "E_CONFIG" }));
  }
  ready ??= load(source).catch((err) => {
    ready = undefined; // a failed init (a network error, a wrong URL, bad bytes) can be tried again
    // Read guarded: a source may reject with anything (a Proxy whose traps throw, a null-prototype object).
    let Ctor = Error, text = typeof err;
    try {
      if (err !== null && typeof err === "object" && err.code === "E_CONFIG") return Promise.reject(err); // ours already (a failed fetch)
      if (err instanceof TypeError) Ctor = TypeError;
      text = err instanceof Error ? err.message : String(err);
    } catch {
      // what could be read stands
    }
    throw Object.assign(new Ctor(`hyperbatch/slim: init(source) failed: ${text}`, { cause: err }), { code: "E_CONFIG" });
  });
  return ready;
}
