// Node (CommonJS): wasm-bindgen's nodejs glue instantiates synchronously on require.
"use strict";
const glue = require("./cjs/hyperbatch.js");
const core = require("./core.cjs");

core.setBindings(glue, glue.memory); // the build adds `memory` to the nodejs glue's exports
exports.Batcher = core.Batcher;
