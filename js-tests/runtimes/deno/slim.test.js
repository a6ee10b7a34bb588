// Deno 2: `hyperbatch/slim` — the host loads the .wasm itself and calls init(source) before the
// first Batcher. Run in its own `deno test` process: the default entry would load the wasm too.
import assert from "node:assert/strict";
import { Batcher, init } from "hyperbatch/slim";
import { checks, withTimeout } from "../contract.js";

console.log("runtime: deno (hyperbatch/slim)", Deno.version.deno);

Deno.test("slim: new Batcher() before init() throws E_CONFIG; init() without a source rejects", async () => {
  assert.throws(() => new Batcher({ transport: async (b) => b.items }), (e) => e.code === "E_CONFIG");
  await assert.rejects(init(), (e) => e.code === "E_CONFIG");
});

Deno.test("slim: init(WebAssembly.Module) from bytes read next to the package", async () => {
  const wasmUrl = new URL("./hyperbatch_bg.wasm", import.meta.resolve("hyperbatch/slim"));
  const module = await WebAssembly.compile(await Deno.readFile(wasmUrl));
  await init(module);
  await init(module); // a second call is harmless
  const b = new Batcher({ transport: async (batch) => batch.items.map((x) => x * 2), maxWaitMs: 0 });
  assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), [2, 4]);
  await b.close();
});

for (const { name, fn } of checks(Batcher, assert)) Deno.test(`slim: ${name}`, withTimeout(fn));
