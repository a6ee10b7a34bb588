// Node (CommonJS): wasm-bindgen's nodejs glue instantiates synchronously on require.
"use strict";
const glue = require("./cjs/hyperbatch.js");
const core = require("./core.cjs");

core.setBindings(glue);
exports.Batcher = core.Batcher;
