// Builds pkg/: wasm-pack (cargo + wasm-bindgen) for each target named in wasm-pack.toml,
// wasm-opt from the npm binaryen package, the files of pkg-template/, and a size check.
// Usage: node scripts/build.mjs
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { transformSync } from "esbuild";
import { parse } from "smol-toml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const profile = parse(readFileSync(join(root, "wasm-pack.toml"), "utf8"));
const bin = join(root, "node_modules", ".bin");
// The npm binaryen comes first on PATH: never Debian's wasm-opt.
const env = { ...process.env, PATH: `${bin}:${process.env.HOME}/.cargo/bin:${process.env.PATH}` };

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, env, ...opts });
}

const { profile: cargoProfile, targets } = profile.build;
if (cargoProfile !== "release") throw new Error(`wasm-pack.toml: build.profile must be "release" (got ${cargoProfile})`);
const outDirs = { web: pkg, nodejs: join(pkg, "cjs") };

rmSync(pkg, { recursive: true, force: true });
for (const target of targets) {
  const out = outDirs[target];
  if (!out) throw new Error(`wasm-pack.toml: unknown target ${target} (known: ${Object.keys(outDirs)})`);
  run("wasm-pack", ["build", "--release", "--no-pack", "--no-typescript", "--target", target,
    "--out-dir", out, "--out-name", "hyperbatch"]);
  const wasm = join(out, "hyperbatch_bg.wasm");
  run(join(bin, "wasm-opt"), [...profile["wasm-opt"].flags, wasm, "-o", wasm]);
  rmSync(join(out, ".gitignore"), { force: true }); // wasm-pack's `*` would empty `npm pack`
}
// The nodejs glue is CommonJS inside a "type": "module" package.
writeFileSync(join(outDirs.nodejs, "package.json"), '{ "type": "commonjs" }\n');

cpSync(join(root, "pkg-template"), pkg, { recursive: true });
// core.js has no imports and one export line: its CommonJS twin is a one-line change.
const core = readFileSync(join(pkg, "core.js"), "utf8");
const exportLine = /^export \{ ([\w, ]+) \};$/m;
if (!exportLine.test(core)) throw new Error("pkg-template/core.js must end with one `export { … };` line");
writeFileSync(join(pkg, "core.cjs"), `"use strict";\n${core.replace(exportLine, "module.exports = { $1 };")}`);
// dataloader.js imports Batcher and exports the class: its CommonJS twin is the `require` entry,
// which gets Batcher from index.cjs (that loads the wasm) and is the class itself, like
// require("dataloader").
const dataloader = readFileSync(join(pkg, "dataloader.js"), "utf8");
const dlImport = /^import \{ Batcher, addSettling \} from "\.\/core\.js";$/m;
const dlExport = /^export \{ DataLoader, DataLoader as default \};$/m;
if (!dlImport.test(dataloader) || !dlExport.test(dataloader)) {
  throw new Error("pkg-template/dataloader.js must import Batcher from ./core.js and end with its export line");
}
writeFileSync(join(pkg, "dataloader.cjs"), `"use strict";\n${dataloader
  .replace(dlImport, 'const { Batcher } = require("./index.cjs");\nconst { addSettling } = require("./core.cjs");')
  .replace(dlExport, "module.exports = DataLoader;\nDataLoader.default = DataLoader;\nDataLoader.DataLoader = DataLoader;")}`);
// timeline.js (hyperbatch/timeline) imports nothing and ends with one export line, like core.js.
const timeline = readFileSync(join(pkg, "timeline.js"), "utf8");
if (!exportLine.test(timeline)) throw new Error("pkg-template/timeline.js must end with one `export { … };` line");
writeFileSync(join(pkg, "timeline.cjs"), `"use strict";\n${timeline.replace(exportLine, "module.exports = { $1 };")}`);
cpSync(join(root, "README.md"), join(pkg, "README.md"));
cpSync(join(root, "docs"), join(pkg, "docs"), { recursive: true }); // the README links into docs/

// Shipped JS is minified (the readable source is pkg-template/); entry files stay as written.
for (const f of profile.minify.files) {
  const file = join(pkg, f);
  const code = transformSync(readFileSync(file, "utf8"), { minify: true, target: "es2022" }).code;
  writeFileSync(file, code);
}

// Every file package.json lists must exist, and nothing else ships by accident.
const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
for (const f of manifest.files) {
  if (!existsSync(join(pkg, f))) throw new Error(`pkg/${f} is listed in package.json "files" but was not built`);
}

// Size: what the Node ESM entry loads.
const loaded = ["index.node.js", "core.js", "hyperbatch.js", "hyperbatch_bg.wasm"];
let total = 0;
for (const f of loaded) {
  const gz = gzipSync(readFileSync(join(pkg, f)), { level: 9 }).length;
  total += gz;
  console.log(`  ${f.padEnd(22)} ${String(gz).padStart(6)} B gzip`);
}
const budget = profile.budget.gzip_bytes;
console.log(`  ${"total".padEnd(22)} ${String(total).padStart(6)} B gzip (budget ${budget})`);
// A report, not a gate: size goals are tracked by the benchmark (bench/), like speed.
if (total > budget) console.warn(`  over the size budget by ${total - budget} B gzip (wasm-pack.toml [budget])`);
mkdirSync(pkg, { recursive: true });
console.log(`built ${pkg}: ${readdirSync(pkg).length} entries`);
