// Bun: `import { Batcher } from "hyperbatch"` (Bun matches the `node` condition) under `bun test`.
import { test } from "bun:test";
import assert from "node:assert/strict";
import { Batcher } from "hyperbatch";
import { checks } from "../contract.js";

console.log("runtime: bun", Bun.version, "entry", import.meta.resolve("hyperbatch"));
for (const { name, fn } of checks(Batcher, assert)) test(name, fn, 10_000);
