// Node CommonJS: `require("hyperbatch")` (the `node` + `require` condition) under node:test.
// The checks are ESM, so this adapter loads them with a dynamic import() and registers one
// node:test test per check once they are loaded.
"use strict";
const assert = require("node:assert/strict");
const { test } = require("node:test");
const { Batcher } = require("hyperbatch");
// Like require("dataloader"): the class itself, with its named export on it.
const DataLoader = require("hyperbatch/dataloader");

console.log("runtime: node-cjs", process.version, "entry", require.resolve("hyperbatch"));
const loaded = import("../contract.js");
loaded.then(({ checks }) => {
  for (const { name, fn } of checks(Batcher, assert)) test(name, { timeout: 10_000 }, fn);
});
test("dataloader: require() returns the class itself", () => {
  assert.equal(typeof DataLoader, "function");
});
import("../dataloader-contract.js").then(({ dataloaderChecks }) => {
  const list = dataloaderChecks({ default: DataLoader, DataLoader: DataLoader.DataLoader }, assert);
  test("dataloader: the check list is not empty", () => assert.ok(list.length > 0, "dataloader-contract.js lists no checks"));
  for (const { name, fn } of list) test(name, { timeout: 10_000 }, fn);
});
