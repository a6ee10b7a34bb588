// Node (CommonJS): the wasm is read from disk and instantiated synchronously on require.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const core = require("./core.cjs");

// The engine's clock: process.hrtime, not perf_hooks (see index.node.js).
const clock = typeof process.hrtime === "function" ? { now: () => {
  const t = process.hrtime();
  return t[0] * 1e3 + t[1] / 1e6;
} } : undefined;
core.loadSync(readFileSync(join(__dirname, "hyperbatch_bg.wasm")), clock);
exports.Batcher = core.Batcher;
