// require("hyperbatch/dataloader") in Node with require(esm) (the `module-sync` condition: Node
// 20.19 / 22.12 on) and in Bun: the ES module itself, so `require` and `import` share one
// DataLoader class (and one Batcher and engine), and `instanceof` holds in a program that mixes
// both. require() returns the "module.exports" export: the class itself, like require("dataloader"),
// with `default` and `DataLoader` on it, as dataloader.cjs (older Node) has them.
import DataLoader from "./dataloader.node.js";

DataLoader.default = DataLoader;
DataLoader.DataLoader = DataLoader;

export { DataLoader as "module.exports" };
