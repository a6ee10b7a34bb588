// The package itself — the contract "Package": the built pkg/ as Node sees it (exports
// conditions, types, `hyperbatch/slim` + init(source), `npm pack ./pkg`). The other runtimes
// named there (Deno, workerd, Vite, plain browser page) are exercised by their own suites.
import test from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esm from "hyperbatch";

const PKG = realpathSync(fileURLToPath(new URL("../node_modules/hyperbatch/", import.meta.url)));
const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const manifest = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));

/** Every file path under the package (no node_modules), relative to it. */
function listFiles(dir = PKG) {
  return readdirSync(dir).flatMap((name) => {
    if (name === "node_modules") return [];
    const full = join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full) : [relative(PKG, full)];
  });
}

/** All condition names used anywhere under an exports entry. */
function conditionsOf(entry, acc = new Set()) {
  if (entry && typeof entry === "object" && !Array.isArray(entry)) {
    for (const [k, v] of Object.entries(entry)) {
      if (!k.startsWith(".")) acc.add(k);
      conditionsOf(v, acc);
    }
  }
  return acc;
}

/** All target paths under an exports entry. */
function targetsOf(entry, acc = []) {
  if (typeof entry === "string") acc.push(entry);
  else if (Array.isArray(entry)) entry.forEach((e) => targetsOf(e, acc));
  else if (entry && typeof entry === "object") Object.values(entry).forEach((e) => targetsOf(e, acc));
  return acc;
}

const mainExport = () => (typeof manifest.exports === "object" && "." in manifest.exports ? manifest.exports["."] : manifest.exports);

test('package: npm name is "hyperbatch"', () => {
  assert.equal(manifest.name, "hyperbatch");
});

test('package: `import { Batcher } from "hyperbatch"` works in Node ESM with no init call', async () => {
  assert.equal(typeof esm.Batcher, "function");
  const b = new esm.Batcher({ transport: async (batch) => batch.items.map((x) => x * 10), maxWaitMs: 0 });
  assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [10, 20]);
  await b.close();
});

/** Runs `code` as an ES module in a fresh Node process; resolves its stdout's last line as JSON. */
function runModule(code) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", code], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`child failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").pop()));
    });
  });
}

const ENTRY = JSON.stringify(join(PKG, "index.node.js"));
const ADD_TWO = `const b = new Batcher({ transport: (batch) => batch.items.map((x) => x * 10), maxWaitMs: 0 });
  const results = await Promise.all([b.add(1), b.add(2)]);
  await b.close();`;

// Cold start: `import "node:fs"` builds fs's ESM namespace, which loads its streams module (3-12 ms
// of a fresh process). The entry reads the .wasm through process.getBuiltinModule instead.
test("package: the Node ESM entry does not load fs streams (cold start)", async () => {
  const out = await runModule(`const { Batcher } = await import(${ENTRY});
  ${ADD_TWO}
  console.log(JSON.stringify({ results, streams: process.moduleLoadList.includes("NativeModule internal/fs/streams") }));`);
  assert.deepEqual(out, { results: [10, 20], streams: false });
});

// Cold start: reading globalThis.performance loads Node's perf_hooks (about 1 ms of a fresh
// process); the Node entries give the engine process.hrtime as its clock instead.
test("package: the Node entries (ESM, older-Node ESM, require) do not load perf_hooks (cold start)", async () => {
  const out = await runModule(`const seen = [];
  const perfHooks = () => process.moduleLoadList.includes("NativeModule perf_hooks");
  const { createRequire } = await import("node:module");
  for (const load of [() => import(${ENTRY}), () => import(${JSON.stringify(join(PKG, "index.node-compat.js"))}),
    async () => createRequire(import.meta.url)(${JSON.stringify(join(PKG, "index.cjs"))})]) {
    const { Batcher } = await load();
    ${ADD_TWO}
    seen.push(results, perfHooks());
  }
  console.log(JSON.stringify(seen));`);
  assert.deepEqual(out, [[10, 20], false, [10, 20], false, [10, 20], false]);
});

test("package: the Node ESM entry for older Node loads where process.getBuiltinModule is missing (Node < 20.16)", async () => {
  const out = await runModule(`delete process.getBuiltinModule;
  const { Batcher } = await import(${JSON.stringify(join(PKG, "index.node-compat.js"))});
  ${ADD_TWO}
  console.log(JSON.stringify({ results, missing: process.getBuiltinModule === undefined }));`);
  assert.deepEqual(out, { results: [10, 20], missing: true });
});

// Cold start: Node from 20.19 / 22.10 reads the `module-sync` condition and gets index.node.js,
// which imports no builtin (a static `import "node:module"` cost 0.33 ms of a fresh process);
// older Node and Bun get index.node-compat.js.
test("package: Node resolves import \"hyperbatch\" to the entry that imports no builtin; the others load the same engine", async () => {
  const resolved = await new Promise((resolve, reject) => {
    const code = `console.log(JSON.stringify([import.meta.resolve("hyperbatch"), import.meta.resolve("hyperbatch/dataloader")]))`;
    execFile(process.execPath, ["--input-type=module", "-e", code], { cwd: HERE, timeout: 15_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split("\n").pop())));
  });
  // Node turns the `module-sync` condition on with require(esm): 20.19 / 22.12 on.
  const moduleSync = process.features.require_module === true;
  assert.deepEqual(resolved.map((u) => u.split("/").pop()),
    moduleSync ? ["index.node.js", "dataloader.node.js"] : ["index.node-compat.js", "dataloader.node-compat.js"]);
  const source = readFileSync(join(PKG, "index.node.js"), "utf8");
  assert.deepEqual(source.match(/^import .*$/gm), [`import { loadSync } from "./core.js";`], "index.node.js imports only core.js");
  for (const entry of ["index.node.js", "index.node-compat.js", "dataloader.node.js", "dataloader.node-compat.js"]) {
    const out = await runModule(`const m = await import(${JSON.stringify(join(PKG, entry))});
    const Batcher = m.Batcher ?? (await import(${JSON.stringify(join(PKG, "index.node.js"))})).Batcher;
    ${ADD_TWO}
    const isLoader = typeof m.default === "function" && "prime" in m.default.prototype;
    console.log(JSON.stringify({ results, isLoader }));`);
    assert.deepEqual(out, { results: [10, 20], isLoader: entry.startsWith("dataloader") }, entry);
  }
});

// The dual-package hazard: npm dataloader is CommonJS only, so a program that requires it in one
// file and imports it in another has one class. Where Node has require(esm), `require` takes the
// ES module too (`module-sync`); older Node, or require(esm) turned off, takes the .cjs twins,
// which must work as well. Run from a file under js-tests/ (a CommonJS program), in a fresh process.
const MIXED = `const DL = require("hyperbatch/dataloader");
const { Batcher } = require("hyperbatch");
(async () => {
  const esm = await import("hyperbatch/dataloader");
  const main = await import("hyperbatch");
  const loader = new DL(async (keys) => keys.map((k) => k * 2));
  const b = new Batcher({ transport: (batch) => batch.items.map((x) => x + 1), maxWaitMs: 0 });
  const values = [await loader.load(21), await b.add(1)];
  await b.close();
  console.log(JSON.stringify({
    values, names: [DL.name, Batcher.name, esm.default.name, main.Batcher.name, loader.constructor.name],
    statics: [DL.default === DL, DL.DataLoader === DL],
    same: [esm.default === DL, esm.DataLoader === DL, main.Batcher === Batcher, loader instanceof esm.default],
    requireModule: process.features.require_module === true,
  }));
})();`;

function runMixed(execArgv) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...execArgv, "-e", MIXED], { cwd: HERE, timeout: 15_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`child failed: ${err.message}\n${stderr}`)) : resolve({ out: JSON.parse(stdout.trim().split("\n").pop()), stderr }));
  });
}

test("package: require and import give one DataLoader and one Batcher class where Node has require(esm), and no warning", async () => {
  const { out, stderr } = await runMixed([]);
  assert.equal(out.requireModule, true, "Node 20.19+ / 22.12+ has require(esm)");
  assert.deepEqual(out.values, [42, 2]);
  assert.deepEqual(out.names, ["DataLoader", "Batcher", "DataLoader", "Batcher", "DataLoader"]);
  assert.deepEqual(out.statics, [true, true], "require() gives the class itself, with default and DataLoader on it");
  assert.deepEqual(out.same, [true, true, true, true]);
  assert.equal(stderr, "", "no ExperimentalWarning from require(esm)");
});

test("package: without require(esm), require takes the CommonJS twins, which work alone", async () => {
  const { out } = await runMixed(["--no-experimental-require-module"]);
  assert.equal(out.requireModule, false);
  assert.deepEqual(out.values, [42, 2]);
  assert.deepEqual(out.names, ["DataLoader", "Batcher", "DataLoader", "Batcher", "DataLoader"]);
  assert.deepEqual(out.statics, [true, true]);
  assert.deepEqual(out.same, [false, false, false, false], "a second copy of the module: the dual-package hazard of older Node");
});

test("package: exports uses the node, deno, workerd, browser, import, require and types conditions", () => {
  assert.equal(typeof manifest.exports, "object", "package.json has an exports map");
  const conditions = conditionsOf(mainExport());
  for (const c of ["node", "deno", "workerd", "browser", "import", "require", "types"]) {
    assert.ok(conditions.has(c), `exports["."] lacks the "${c}" condition (has ${[...conditions]})`);
  }
  for (const target of targetsOf(manifest.exports)) {
    if (target.includes("*")) continue;
    assert.ok(existsSync(join(PKG, target)), `exports target ${target} is missing`);
  }
});

test("package: TypeScript types ship, and declare a Batcher generic in item and result types", () => {
  const typeTargets = [];
  (function walk(entry, underTypes) {
    if (typeof entry === "string") {
      if (underTypes) typeTargets.push(entry);
    } else if (entry && typeof entry === "object") {
      for (const [k, v] of Object.entries(entry)) walk(v, underTypes || k === "types");
    }
  })(mainExport(), false);
  if (manifest.types) typeTargets.push(manifest.types);
  if (manifest.typings) typeTargets.push(manifest.typings);
  assert.ok(typeTargets.length > 0, "no types condition / types field");
  const text = [...new Set(typeTargets)].map((p) => readFileSync(join(PKG, p), "utf8")).join("\n");
  // Follow one level of re-exports (`export * from "./x"`), which is how entry .d.ts files often look.
  const more = [...text.matchAll(/from\s+["'](\.[^"']+)["']/g)].map((m) => m[1]);
  const all = [text];
  for (const rel of more) {
    for (const base of typeTargets) {
      for (const ext of ["", ".d.ts", ".d.mts", ".d.cts"]) {
        const p = join(dirname(join(PKG, base)), rel.replace(/\.(m|c)?js$/, "") + ext);
        try {
          if (statSync(p).isFile()) all.push(readFileSync(p, "utf8"));
        } catch {}
      }
    }
  }
  const types = all.join("\n");
  assert.match(types, /(class|interface)\s+Batcher\s*<[^>]*,[^>]*>/, "Batcher<I, O> with two type parameters");
  for (const member of ["add", "addMany", "flush", "close", "stats", "asyncDispose", "BatcherOptions", "AddOptions"]) {
    assert.ok(types.includes(member), `the types do not mention ${member}`);
  }
});

test("package: `npm pack ./pkg` gives a tarball holding the wasm, the entries and the types", { timeout: 60_000 }, async () => {
  const out = await new Promise((resolve, reject) =>
    execFile("npm", ["pack", "--dry-run", "--json", PKG], { cwd: PKG, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  const [info] = JSON.parse(out);
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes("package.json"));
  assert.ok(files.some((f) => f.endsWith(".wasm")), `no .wasm in the tarball: ${files}`);
  assert.ok(files.some((f) => f.endsWith(".d.ts") || f.endsWith(".d.mts")), "no type declarations in the tarball");
  for (const target of targetsOf(manifest.exports)) {
    if (target.includes("*")) continue;
    assert.ok(files.includes(target.replace(/^\.\//, "")), `exports target ${target} is not in the tarball`);
  }
});

// ----------------------------------------------------------------------------- hyperbatch/slim

function runSlim(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["slim-init.mjs", ...args], { cwd: FIXTURES, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

const wasmFile = () => {
  const wasm = listFiles().filter((f) => f.endsWith(".wasm"));
  assert.ok(wasm.length >= 1, "the package holds no .wasm file");
  return join(PKG, wasm.find((f) => f.endsWith("_bg.wasm")) ?? wasm[0]);
};

for (const kind of ["module", "bytes", "arraybuffer", "response"]) {
  test(`slim: init(${kind}) then the same Batcher API`, { timeout: 20_000 }, async () => {
    const r = await runSlim([kind, wasmFile()]);
    assert.equal(r.code, 0, `child failed: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()), { ok: true, kind, results: [2, 3] });
  });
}

test("slim: new Batcher() before init() throws E_CONFIG naming init, and works once init() is done", { timeout: 20_000 }, async () => {
  const r = await runSlim(["before-init", wasmFile()]);
  assert.equal(r.code, 0, `child failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split("\n").pop());
  assert.deepEqual(out.before, { name: out.before.name, code: "E_CONFIG", mentionsInit: true });
  assert.deepEqual(out.results, [2, 3]);
});

test("slim: init(URL) fetches the .wasm over HTTP", { timeout: 20_000 }, async () => {
  const path = wasmFile();
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/wasm" });
    res.end(readFileSync(path));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const url = `http://127.0.0.1:${server.address().port}/hyperbatch_bg.wasm`;
    const r = await runSlim(["url", path, url]);
    assert.equal(r.code, 0, `child failed: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop()), { ok: true, kind: "url", results: [2, 3] });
  } finally {
    server.closeAllConnections?.();
    await new Promise((r) => server.close(r));
  }
});
