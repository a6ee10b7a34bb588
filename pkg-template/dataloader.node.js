// hyperbatch/dataloader for Node (ESM): index.node.js loads the wasm first.
import "./index.node.js";

export { DataLoader, default } from "./dataloader.js";
