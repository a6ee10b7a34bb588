// The contract audited from outside, eleventh round: hostile or ordinary use a caller can make of
// the public API, each test written against a defect found by probing the built package (see
// audit.test.mjs and audit10.test.mjs for the earlier rounds). Each asserts what the contract says
// or, where it is silent, what a user of DataLoader, the Fetch API and AbortSignal would expect.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import { test } from "./_helpers.mjs";

// ---------------------------------------------------------------------------------------------
// hyperbatch/slim: "`source` is a `WebAssembly.Module`, bytes, a `Response`, or a URL", and the
// reference's own example is `init(new URL("./hyperbatch_bg.wasm", import.meta.url))`. In Node
// that URL is a file: URL, which Node's fetch refuses ("fetch failed"): init() must read it.

const wasmPath = join(dirname(createRequire(import.meta.url).resolve("hyperbatch/package.json")), "hyperbatch_bg.wasm");

/** Runs `code` (an ES module) in a child Node process next to this suite; its last stdout line, parsed. */
function child(code) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: import.meta.dirname, stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("exit", (status) => {
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()));
      } catch {
        reject(new Error(`child exited ${status}: ${err || out}`));
      }
    });
  });
}

for (const [what, source] of [
  ["a file: URL object", `new URL(${JSON.stringify(pathToFileURL(wasmPath).href)})`],
  ["a file: URL string", JSON.stringify(pathToFileURL(wasmPath).href)],
]) {
  test(`audit11: slim init() with ${what} reads the .wasm in Node`, async () => {
    const out = await child(`
      const { Batcher, init } = await import("hyperbatch/slim");
      let result;
      try {
        await init(${source});
        const b = new Batcher({ maxWaitMs: 0, transport: (batch) => batch.items.map((x) => x * 2) });
        result = { ok: await Promise.all([b.add(1), b.add(2)]) };
        await b.close();
      } catch (e) {
        result = { code: e?.code, message: String(e?.message) };
      }
      console.log(JSON.stringify(result));
    `);
    assert.deepEqual(out, { ok: [2, 4] });
  });
}

test("audit11: slim init() with a file: URL that does not exist rejects with E_CONFIG, and can be tried again", async () => {
  const out = await child(`
    const { Batcher, init } = await import("hyperbatch/slim");
    const result = {};
    try {
      await init(new URL("./no-such-file.wasm", ${JSON.stringify(pathToFileURL(wasmPath).href)}));
      result.first = "resolved";
    } catch (e) {
      result.first = { code: e?.code, hasCause: e?.cause !== undefined };
    }
    await init(new URL(${JSON.stringify(pathToFileURL(wasmPath).href)}));
    const b = new Batcher({ maxWaitMs: 0, transport: (batch) => batch.items });
    result.after = await b.add(7);
    console.log(JSON.stringify(result));
  `);
  assert.deepEqual(out, { first: { code: "E_CONFIG", hasCause: true }, after: 7 });
});

// slim.d.ts types `source` as a BufferSource among others, which a DataView is ("bytes" in the
// contract); V8's WebAssembly.compile refuses a DataView ("Argument 0 must be a buffer source").
test("audit11: slim init() with a DataView of the bytes (an offset one too) loads the .wasm", async () => {
  const out = await child(`
    import { readFileSync } from "node:fs";
    const { Batcher, init } = await import("hyperbatch/slim");
    const bytes = readFileSync(${JSON.stringify(wasmPath)});
    const padded = new Uint8Array(bytes.length + 16);
    padded.set(bytes, 8);
    let result;
    try {
      await init(new DataView(padded.buffer, 8, bytes.length));
      const b = new Batcher({ maxWaitMs: 0, transport: (batch) => batch.items.map((x) => x + 1) });
      result = { ok: await b.add(1) };
    } catch (e) {
      result = { code: e?.code, message: String(e?.message) };
    }
    console.log(JSON.stringify(result));
  `);
  assert.deepEqual(out, { ok: 2 });
});

// ---------------------------------------------------------------------------------------------
// "`await using b = new Batcher(...)`  // Symbol.asyncDispose calls close()". Where the host has
// no Symbol.asyncDispose (browsers before it, reached "through Vite"; Node 20 and 22's vm
// contexts), `await using` only runs transpiled, and esbuild (Vite, wrangler) and Babel then look
// up Symbol.for("Symbol.asyncDispose"): a Batcher must answer to that key there.

test("audit11: without a host Symbol.asyncDispose, await using as esbuild and Babel lower it closes the batcher", async (t) => {
  const context = vm.createContext({ setTimeout, clearTimeout, queueMicrotask, TextEncoder, performance });
  if (vm.runInContext("typeof Symbol.asyncDispose", context) === "symbol") {
    t.skip("this Node's vm contexts have Symbol.asyncDispose (the built-in key is checked by flush.test.mjs)");
    return;
  }
  // The package's CommonJS core in that realm, its .wasm loaded as index.cjs loads it.
  const module = { exports: {} };
  vm.runInContext(`(function (exports, module) {${readFileSync(join(dirname(wasmPath), "core.cjs"), "utf8")}\n})`, context)(module.exports, module);
  const core = module.exports;
  core.loadSync(readFileSync(wasmPath));
  // esbuild's lowering of `await using b = new Batcher(...)` (its __knownSymbol): Symbol[name] or Symbol.for("Symbol." + name).
  const knownSymbol = vm.runInContext('(name) => Symbol[name] ?? Symbol.for("Symbol." + name)', context);
  const sent = [];
  const b = new core.Batcher({ maxWaitMs: 60_000, transport: (batch) => (sent.push(...batch.items), batch.items) });
  const dispose = b[knownSymbol("asyncDispose")];
  assert.equal(typeof dispose, "function", "the Batcher has no method under Symbol.for(\"Symbol.asyncDispose\")");
  const p = b.add(1);
  await dispose.call(b); // close(): flushes, waits, then refuses adds
  assert.equal(await p, 1);
  assert.deepEqual(sent, [1]);
  await assert.rejects(b.add(2), (e) => e.code === "E_CLOSED");
});
