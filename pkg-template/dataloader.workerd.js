// hyperbatch/dataloader for Cloudflare Workers: index.workerd.js loads the wasm first.
import "./index.workerd.js";

export { DataLoader, default } from "./dataloader.js";
