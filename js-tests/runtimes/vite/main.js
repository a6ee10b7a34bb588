// A Vite app: `import { Batcher } from "hyperbatch"` with no plugin and no init call. Vite picks
// the `browser`/`import` entry and emits the .wasm because of its literal new URL(…, import.meta.url).
import { report } from "../browser/report.js"; // first: it starts listening for CSP violations
import { Batcher } from "hyperbatch";
import * as dataloader from "hyperbatch/dataloader";
import { miniAssert, runChecks } from "../contract.js";
import { runDataloaderChecks } from "../dataloader-contract.js";

report("chromium (vite build)", async () =>
  (await runChecks(Batcher, miniAssert)).concat(await runDataloaderChecks(dataloader, miniAssert)));
