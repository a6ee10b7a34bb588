// The peer libraries, bundled by esbuild into dist/peers.js (run.mjs does it) so that Node, Deno
// and Chromium all run the very same code of each.
export { default as DataLoader } from "dataloader";
export { Batcher as PromiseBatcher } from "promise-batcher";
export * as batshit from "@yornaath/batshit";
