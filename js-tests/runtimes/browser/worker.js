// A dedicated module worker: the package's browser entry (it fetches its .wasm next to itself),
// then the contract and dataloader checks; posts the results to the page.
import { miniAssert, runChecks } from "../contract.js";
import { runDataloaderChecks } from "../dataloader-contract.js";

let results;
try {
  const { Batcher } = await import("/hyperbatch/index.browser.js");
  const dataloader = await import("/hyperbatch/dataloader.browser.js");
  results = (await runChecks(Batcher, miniAssert)).concat(await runDataloaderChecks(dataloader, miniAssert));
} catch (e) {
  results = [{ name: "worker setup", ok: false, error: String(e && e.stack || e), ms: 0 }];
}
postMessage(results);
