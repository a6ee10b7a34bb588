// A Worker on `hyperbatch/slim`: the host imports the .wasm itself (workerd compiles it as a
// CompiledWasm module, a WebAssembly.Module) and passes it to init() before the first Batcher.
import { Batcher, init } from "hyperbatch/slim";
import wasm from "hyperbatch/hyperbatch_bg.wasm";
import { miniAssert, runChecks } from "../contract.js";

export default {
  async fetch() {
    let before;
    try {
      new Batcher({ transport: async (b) => b.items });
      before = "no error";
    } catch (e) {
      before = e.code;
    }
    await init(wasm);
    const results = await runChecks(Batcher, miniAssert);
    results.unshift({ name: "new Batcher() before init() throws E_CONFIG", ok: before === "E_CONFIG", error: before, ms: 0 });
    return Response.json({ runtime: "workerd (hyperbatch/slim)", results });
  },
};
