// Node (CommonJS): the wasm is read from disk and instantiated synchronously on require.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const core = require("./core.cjs");

core.loadSync(readFileSync(join(__dirname, "hyperbatch_bg.wasm")));
exports.Batcher = core.Batcher;
