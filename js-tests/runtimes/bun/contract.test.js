// Bun: `import { Batcher } from "hyperbatch"` (the `bun` condition: index.node.js) under `bun test`.
import { test } from "bun:test";
import assert from "node:assert/strict";
import { Batcher } from "hyperbatch";
import * as dataloader from "hyperbatch/dataloader";
import { checks } from "../contract.js";
import { dataloaderChecks } from "../dataloader-contract.js";

console.log("runtime: bun", Bun.version, "entry", import.meta.resolve("hyperbatch"));
for (const { name, fn } of checks(Batcher, assert)) test(name, fn, 10_000);

const dlChecks = dataloaderChecks(dataloader, assert);
test("dataloader: the check list is not empty", () => assert.ok(dlChecks.length > 0, "dataloader-contract.js lists no checks"));
for (const { name, fn } of dlChecks) test(name, fn, 10_000);

// The `bun` condition sends `require` to the ES modules too: one class for both module systems.
test("package: require and import give one DataLoader and one Batcher class", () => {
  const DL = require("hyperbatch/dataloader");
  assert.equal(DL, dataloader.default);
  assert.equal(DL.DataLoader, DL);
  assert.equal(require("hyperbatch").Batcher, Batcher);
  assert.deepEqual([DL.name, Batcher.name], ["DataLoader", "Batcher"]);
});
