// The .wasm loaders every entry goes through (core.js `loadSync` and `load`): Node, Deno and
// workerd bind a Module or bytes with loadSync; browsers load a URL; `hyperbatch/slim`'s
// init(source) hands its source to load. Here in one process (package.test.mjs runs the slim
// entry in child processes): each call binds a new instance, and Batchers made after it run on
// that instance's memory, those made before keep theirs.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { test, Batcher } from "./_helpers.mjs";

// core.js is not an export of the package; it is the module every entry loads.
const pkgEntry = import.meta.resolve("hyperbatch");
const { load, loadSync, runnerOf } = await import(new URL("./core.js", pkgEntry));
const bytes = readFileSync(new URL("./hyperbatch_bg.wasm", pkgEntry));

/** A Batcher made now: its wasm memory, and a function that checks it still batches. */
function made() {
  const b = new Batcher({ transport: (batch) => batch.items.map((x) => x + 1), maxWaitMs: 0 });
  return {
    memory: runnerOf(b).memory,
    async works() {
      assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [2, 3]);
    },
    close: () => b.close(),
  };
}

/** `bind()` binds a new instance: a Batcher made after it is on new memory; one made before still works. */
async function bindsAnew(bind) {
  const old = made();
  await bind();
  const fresh = made();
  assert.ok(fresh.memory instanceof WebAssembly.Memory);
  assert.notEqual(fresh.memory, old.memory, "a new instance is bound");
  await fresh.works();
  await old.works();
  await Promise.all([old.close(), fresh.close()]);
}

/** An HTTP server for the .wasm at /hyperbatch_bg.wasm (404 elsewhere), closed after the test. */
async function serve(t) {
  const server = createServer((req, res) => {
    if (req.url !== "/hyperbatch_bg.wasm") {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not here");
      return;
    }
    res.writeHead(200, { "content-type": "application/wasm" });
    res.end(bytes);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections?.();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${server.address().port}`;
}

test("loadSync binds a WebAssembly.Module or the .wasm's bytes", async () => {
  await bindsAnew(() => loadSync(new WebAssembly.Module(bytes)));
  await bindsAnew(() => loadSync(new Uint8Array(bytes)));
});

test("load binds a Module, bytes, an ArrayBuffer, a Response or a promise of one", async () => {
  await bindsAnew(() => load(new WebAssembly.Module(bytes)));
  await bindsAnew(() => load(new Uint8Array(bytes)));
  await bindsAnew(() => load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  await bindsAnew(() => load(new Response(bytes, { headers: { "content-type": "application/wasm" } })));
  await bindsAnew(() => load(Promise.resolve(new Response(bytes))));
});

test("load fetches a URL, a URL string or a Request", async (t) => {
  const base = await serve(t);
  await bindsAnew(() => load(new URL("/hyperbatch_bg.wasm", base)));
  await bindsAnew(() => load(`${base}/hyperbatch_bg.wasm`));
  await bindsAnew(() => load(new Request(`${base}/hyperbatch_bg.wasm`)));
});

test("load of a failed fetch rejects with an Error naming the status, and binds nothing", async (t) => {
  const base = await serve(t);
  const before = made();
  await assert.rejects(load(`${base}/missing.wasm`), (err) => {
    assert.ok(err instanceof Error && !(err instanceof WebAssembly.CompileError), `not the compiler's error: ${err}`);
    assert.match(err.message, /404/);
    return true;
  });
  const after = made();
  assert.equal(after.memory, before.memory, "the instance bound before is still the one used");
  await after.works();
  await Promise.all([before.close(), after.close()]);
});
