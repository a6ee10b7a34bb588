// Node ESM: `import { Batcher } from "hyperbatch"` (the `node` + `import` condition) under node:test.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "hyperbatch";
import { checks } from "../contract.js";

console.log("runtime: node-esm", process.version, "entry", import.meta.resolve("hyperbatch"));
for (const { name, fn } of checks(Batcher, assert)) test(name, { timeout: 10_000 }, fn);
