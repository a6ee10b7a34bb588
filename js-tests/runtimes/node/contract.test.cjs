// Node CommonJS: `require("hyperbatch")` (the `node` + `require` condition) under node:test.
// The checks are ESM, so this adapter loads them with a dynamic import() and registers one
// node:test test per check once they are loaded.
"use strict";
const assert = require("node:assert/strict");
const { test } = require("node:test");
const { Batcher } = require("hyperbatch");

console.log("runtime: node-cjs", process.version, "entry", require.resolve("hyperbatch"));
const loaded = import("../contract.js");
loaded.then(({ checks }) => {
  for (const { name, fn } of checks(Batcher, assert)) test(name, { timeout: 10_000 }, fn);
});
