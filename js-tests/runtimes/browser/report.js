// Shared by the browser pages (plain, slim, Vite): watches for CSP violations, shows the
// results on the page and hands them to the test driver as globalThis.__hyperbatch.
export const violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"}`);
});

/** Proves the page's CSP is really on: string-to-code must be refused. */
export function evalIsBlocked() {
  try {
    new Function("return 1")();
    return false;
  } catch (e) {
    return e instanceof EvalError;
  }
}

export async function report(runtime, run) {
  let results;
  try {
    results = await run();
  } catch (e) {
    results = [{ name: "page setup", ok: false, error: String(e && e.stack || e), ms: 0 }];
  }
  await new Promise((r) => setTimeout(r, 50)); // violation events are queued as tasks
  results.push({
    name: "CSP: no violation while loading and running hyperbatch (no eval / new Function)",
    ok: violations.length === 0,
    error: violations.join("; "),
    ms: 0,
  });
  results.push({ name: "CSP is enforced on this page (new Function is refused)", ok: evalIsBlocked(), ms: 0 });
  const list = document.createElement("ul");
  for (const r of results) {
    const li = document.createElement("li");
    li.textContent = `${r.ok ? "ok" : "FAIL"}: ${r.name}${r.ok ? "" : ` — ${r.error}`}`;
    list.append(li);
  }
  const passed = results.filter((r) => r.ok).length;
  document.querySelector("#summary").textContent = `${runtime}: ${passed} passed, ${results.length - passed} failed`;
  document.body.append(list);
  globalThis.__hyperbatch = { runtime, results };
}
