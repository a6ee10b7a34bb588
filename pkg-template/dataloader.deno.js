// hyperbatch/dataloader for Deno: index.deno.js loads the wasm first.
import "./index.deno.js";

export { DataLoader, default } from "./dataloader.js";
