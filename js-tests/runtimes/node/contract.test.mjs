// Node ESM: `import { Batcher } from "hyperbatch"` (the `node` + `import` condition) under node:test.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "hyperbatch";
import * as dataloader from "hyperbatch/dataloader";
import { checks } from "../contract.js";
import { dataloaderChecks } from "../dataloader-contract.js";

console.log("runtime: node-esm", process.version, "entry", import.meta.resolve("hyperbatch"));
for (const { name, fn } of checks(Batcher, assert)) test(name, { timeout: 10_000 }, fn);

// hyperbatch/dataloader: one test per check; the first says the list is not empty.
const dlChecks = dataloaderChecks(dataloader, assert);
test("dataloader: the check list is not empty", () => assert.ok(dlChecks.length > 0, "dataloader-contract.js lists no checks"));
for (const { name, fn } of dlChecks) test(name, { timeout: 10_000 }, fn);
