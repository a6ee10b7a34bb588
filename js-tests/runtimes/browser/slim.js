// `hyperbatch/slim`: the page loads the .wasm itself, init(URL) before the first Batcher.
import { report } from "./report.js";
import { miniAssert, runChecks } from "../contract.js";

const { Batcher, init } = await import("/hyperbatch/slim.js");
report("chromium (hyperbatch/slim)", async () => {
  const results = [];
  let code;
  try {
    new Batcher({ transport: async (b) => b.items });
  } catch (e) {
    code = e.code;
  }
  results.push({ name: "slim: new Batcher() before init() throws E_CONFIG", ok: code === "E_CONFIG", error: String(code), ms: 0 });
  await init(new URL("/hyperbatch/hyperbatch_bg.wasm", location.href));
  return results.concat(await runChecks(Batcher, miniAssert));
});
