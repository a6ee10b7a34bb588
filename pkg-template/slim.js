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
    if (err !== null && typeof err === "object" && err.code === "E_CONFIG") throw err; // ours already (a failed fetch)
    const Ctor = err instanceof TypeError ? TypeError : Error;
    throw Object.assign(new Ctor(`hyperbatch/slim: init(source) failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err }),
      { code: "E_CONFIG" });
  });
  return ready;
}
