export * from "./index.js";

/** What `init` accepts: the compiled module, its bytes, a fetch Response, or where to fetch it. */
export type WasmSource =
  | WebAssembly.Module
  | BufferSource
  | Response
  | Promise<Response>
  | URL
  | string;

/** Load the wasm module. Call (and await) once before `new Batcher()`. */
export function init(source: WasmSource): Promise<void>;
