// Node (CommonJS): the wasm is read from disk and instantiated synchronously on require.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const core = require("./core.cjs");

const clock = process.hrtime && { now: () => (([s, ns]) => s * 1e3 + ns / 1e6)(process.hrtime()) }; // ms
core.loadSync(readFileSync(join(__dirname, "hyperbatch_bg.wasm")), clock);
exports.Batcher = core.Batcher;
