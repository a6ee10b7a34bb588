// Deno 2: `import { Batcher } from "hyperbatch"` resolved from node_modules (this folder has a
// package.json, so Deno uses it; no deno.json), the `deno` condition, under `deno test`.
import assert from "node:assert/strict";
import { Batcher } from "hyperbatch";
import * as dataloader from "hyperbatch/dataloader";
import { checks, withTimeout } from "../contract.js";
import { dataloaderChecks } from "../dataloader-contract.js";

console.log("runtime: deno", Deno.version.deno, "entry", import.meta.resolve("hyperbatch"));
// Run with no permission: the package loaded its .wasm anyway (as a module, not with Deno.readFile).
Deno.test("deno: hyperbatch loaded with no read permission", () => {
  assert.notEqual(Deno.permissions.querySync({ name: "read" }).state, "granted", "this suite must run without --allow-read");
  assert.equal(typeof Batcher, "function");
});
for (const { name, fn } of checks(Batcher, assert)) Deno.test(name, withTimeout(fn));

const dlChecks = dataloaderChecks(dataloader, assert);
Deno.test("dataloader: the check list is not empty", () => assert.ok(dlChecks.length > 0, "dataloader-contract.js lists no checks"));
for (const { name, fn } of dlChecks) Deno.test(name, withTimeout(fn));
