// A plain <script type="module"> page, no bundler: the package's browser entry is loaded from
// where the server mounts the package (/hyperbatch/), and fetches its .wasm next to itself.
import { report } from "./report.js";
import { miniAssert, runChecks } from "../contract.js";
import { runDataloaderChecks } from "../dataloader-contract.js";

// Imported after report.js has started listening for CSP violations.
const { Batcher } = await import("/hyperbatch/index.browser.js");
const dataloader = await import("/hyperbatch/dataloader.browser.js");
report(`chromium ${navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? ""}`, async () =>
  (await runChecks(Batcher, miniAssert)).concat(await runDataloaderChecks(dataloader, miniAssert)));
