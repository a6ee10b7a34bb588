// The page of browser/worker.html: runs the checks in a dedicated module worker (no document:
// another global scope, its own scheduling) and reports the worker's results as the page's.
import { report } from "./report.js";

report("chromium (module worker)", () => new Promise((resolve) => {
  const worker = new Worker("./worker.js", { type: "module" });
  worker.onmessage = (event) => resolve(event.data);
  worker.onerror = (event) => resolve([{ name: "worker setup", ok: false, error: String(event.message), ms: 0 }]);
}));
