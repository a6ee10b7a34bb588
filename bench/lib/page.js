// The Chromium driver (in the page): run.mjs puts the config in the URL's hash and exposes
// `benchDone(json)` to receive the results.
import { main } from "./host.js";

const version = navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? "?";
const out = await main(JSON.parse(decodeURIComponent(location.hash.slice(1))), {
  runtime: `chromium ${version}${crossOriginIsolated ? "" : " (not cross-origin isolated: 100 µs clock)"}`,
  gc: globalThis.gc,
  threadMs: globalThis.benchThreadMs,
  log: (s) => console.log(s),
});
await globalThis.benchDone(JSON.stringify(out));
