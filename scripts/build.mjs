// Builds pkg/: wasm-pack (cargo + wasm-bindgen) for each target named in wasm-pack.toml,
// wasm-opt from the npm binaryen package, the files of pkg-template/, and a size check.
// Usage: node scripts/build.mjs
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { minify } from "terser";
import { parse } from "smol-toml";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = join(root, "pkg");
const profile = parse(readFileSync(join(root, "wasm-pack.toml"), "utf8"));
const bin = join(root, "node_modules", ".bin");
// The npm binaryen comes first on PATH: never Debian's wasm-opt.
const env = { ...process.env, PATH: `${bin}:${process.env.HOME}/.cargo/bin:${process.env.PATH}` };

// The files an ES module in pkg/ loads: its relative static imports and re-exports, followed
// recursively, and the assets it names with `new URL("./…", import.meta.url)` (the .wasm).
function loadedBy(entry) {
  const seen = new Set();
  const visit = (f) => {
    if (seen.has(f)) return;
    seen.add(f);
    if (!f.endsWith(".js")) return;
    const src = readFileSync(join(pkg, f), "utf8");
    const refs = [
      ...src.matchAll(/\b(?:import|export)\s*(?:[\w*{}\s,$]*?\s*from\s*)?["'](\.\/[^"']+)["']/g),
      ...src.matchAll(/new URL\(\s*["'](\.\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g),
    ];
    for (const [, ref] of refs) visit(join(dirname(f), ref).replace(/^\.\//, ""));
  };
  visit(entry);
  return [...seen];
}

function run(cmd, args, opts = {}) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, env, ...opts });
}

const { profile: cargoProfile, targets, cargo_args: cargoArgs = [], rustflags = [] } = profile.build;
// Only the wasm32 build: host builds (proc macros) keep their own flags.
if (rustflags.length) env.CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS = rustflags.join(" ");
if (cargoProfile !== "release") throw new Error(`wasm-pack.toml: build.profile must be "release" (got ${cargoProfile})`);
const outDirs = { web: pkg, nodejs: join(pkg, "cjs") };

rmSync(pkg, { recursive: true, force: true });
for (const target of targets) {
  const out = outDirs[target];
  if (!out) throw new Error(`wasm-pack.toml: unknown target ${target} (known: ${Object.keys(outDirs)})`);
  run("wasm-pack", ["build", "--release", "--no-pack", "--no-typescript", "--target", target,
    "--out-dir", out, "--out-name", "hyperbatch", "--", ...cargoArgs]);
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
// terser with its default (safe) compress, two passes: 3% smaller gzip than esbuild --minify.
for (const f of profile.minify.files) {
  const file = join(pkg, f);
  const module = !(f.endsWith(".cjs") || f.startsWith("cjs/"));
  const { code } = await minify(readFileSync(file, "utf8"), { module, ecma: 2022, compress: { passes: 2 } });
  writeFileSync(file, code);
}

// Every file package.json lists must exist, and nothing else ships by accident.
const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
for (const f of manifest.files) {
  if (!existsSync(join(pkg, f))) throw new Error(`pkg/${f} is listed in package.json "files" but was not built`);
}

// Size, a gate: gzip -9 of what each entry loads (its module graph and the .wasm it names).
const { gzip_bytes: budget, gate_gzip_bytes: gate } = profile.budget;
const over = [];
for (const entry of ["index.browser.js", "index.node.js"]) {
  const files = loadedBy(entry);
  let total = 0;
  console.log(`  ${entry} loads:`);
  for (const f of files) {
    const gz = gzipSync(readFileSync(join(pkg, f)), { level: 9 }).length;
    total += gz;
    console.log(`    ${f.padEnd(22)} ${String(gz).padStart(6)} B gzip`);
  }
  const goal = total > budget ? `${total - budget} B above the goal of ${budget}` : `goal ${budget} met`;
  console.log(`    ${"total".padEnd(22)} ${String(total).padStart(6)} B gzip (gate ${gate}; ${goal})`);
  if (total > gate) over.push(`${entry}: ${total} B gzip, ${total - gate} B over`);
}
if (over.length) throw new Error(`over the size gate (wasm-pack.toml [budget] gate_gzip_bytes = ${gate}): ${over.join("; ")}`);
mkdirSync(pkg, { recursive: true });
console.log(`built ${pkg}: ${readdirSync(pkg).length} entries`);
