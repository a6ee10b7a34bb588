// hyperbatch/dataloader for browsers and bundlers: index.browser.js loads the wasm first.
import "./index.browser.js";

export { DataLoader, default } from "./dataloader.js";
