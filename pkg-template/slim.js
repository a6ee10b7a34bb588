// For hosts that load the .wasm themselves: call `await init(source)` before `new Batcher()`.
// `source`: a WebAssembly.Module, bytes, a Response (or a promise of one), or a URL.
import { load } from "./core.js";

export { Batcher } from "./core.js";

let ready;

/**
 * What load() takes for `source`. A DataView (a BufferSource, as slim.d.ts says) as the bytes it
 * views: V8's WebAssembly.compile refuses one. A file: URL (a `URL` or a string) where there is a
 * Node `fs` (Node, Bun, Deno's compat): its bytes read from disk, since Node's fetch takes no
 * file: URL. Anything else as it is (load says what is wrong with it).
 */
function sourceOf(source) {
  const proc = globalThis.process;
  let url;
  try {
    if (source instanceof DataView) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    url = source instanceof URL ? source : typeof source === "string" && /^file:/i.test(source) ? new URL(source) : undefined;
  } catch {
    return source; // a Proxy whose traps throw, a string that is no URL
  }
  if (url === undefined || url.protocol !== "file:" || typeof proc?.versions?.node !== "string") return source;
  // getBuiltinModule: Node 20.16 / 22.3 on, Bun, Deno. No import() fallback for older Nodes: a
  // specifier computed at run time fails workerd's bundling (Miniflare: ERR_MODULE_DYNAMIC_SPEC),
  // and a literal one would be resolved by browser bundlers. There, the URL goes to fetch as before.
  const fs = proc.getBuiltinModule?.("fs");
  return fs ? fs.promises.readFile(url) : source;
}

export function init(source) {
  if (source === undefined || source === null) {
    return Promise.reject(Object.assign(new TypeError("hyperbatch/slim: init(source) needs a Module, bytes, a Response or a URL"), { code: "E_CONFIG" }));
  }
  ready ??= load(sourceOf(source)).catch((err) => {
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
