// Node (CommonJS): the wasm is read from disk and instantiated synchronously on require.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");
const core = require("./core.cjs");

// globalThis.process is a getter, called at each read even by optimised code: read it once.
// hrtime is still read per call (fake timers replace it).
const host = process;
const clock = host.hrtime && { now: () => (([s, ns]) => s * 1e3 + ns / 1e6)(host.hrtime()) }; // ms
core.loadSync(readFileSync(join(__dirname, "hyperbatch_bg.wasm")), clock);
exports.Batcher = core.Batcher;
