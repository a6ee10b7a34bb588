// Names the built .wasm's exports back to the names the readable pkg-template/core.js calls
// (build.mjs shortens them and gives minified core.js the same short names; it writes the
// renaming to target/export-names.json). Usage: node scripts/mutants/name-exports.mjs pkg/hyperbatch_bg.wasm
import { readFileSync, writeFileSync } from "node:fs";
import { renameExports } from "../wasm-edit.mjs";

const file = process.argv[2];
const names = JSON.parse(readFileSync(new URL("../../target/export-names.json", import.meta.url), "utf8"));
const back = new Map(Object.entries(names).map(([js, short]) => [short, js]));
writeFileSync(file, renameExports(readFileSync(file), (n) => back.get(n) ?? n));
