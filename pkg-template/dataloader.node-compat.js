// hyperbatch/dataloader for Node (ESM) before 20.19 / 22.10: index.node-compat.js loads the wasm first.
import "./index.node-compat.js";

export { DataLoader, default } from "./dataloader.js";
