// `wrangler dev --local` on examples/cloudflare-worker, bundled as a user's worker is (wrangler's
// default esbuild bundling: the `workerd` condition, the .wasm as a CompiledWasm module). The
// worker batches its outgoing calls to the example's upstream.mjs, here on 127.0.0.1.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const example = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "examples", "cloudflare-worker");
const { startUpstream } = await import(join(example, "upstream.mjs"));

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.once("error", reject);
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

let upstream, wrangler, origin, output = "";
const home = mkdtempSync(join(tmpdir(), "hyperbatch-wrangler-"));

before(async () => {
  const bin = join(example, "node_modules", ".bin", "wrangler");
  assert.ok(existsSync(bin), `run \`npm install\` in ${example} first`);
  upstream = await startUpstream(0);
  const [port, inspector] = [await freePort(), await freePort()];
  origin = `http://127.0.0.1:${port}`;
  wrangler = spawn(bin, ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspector), "--var", `UPSTREAM:${upstream.url}`, "--show-interactive-dev-session=false"], {
    cwd: example,
    detached: true, // its own process group, so that workerd goes with it
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false", // no fetch of workers.cloudflare.com/cf.json
      XDG_CONFIG_HOME: home,
      CI: "true",
      NO_COLOR: "1",
    },
  });
  wrangler.stdout.on("data", (d) => (output += d));
  wrangler.stderr.on("data", (d) => (output += d));
  const ready = Date.now() + 90_000;
  while (!/Ready on/.test(output)) {
    if (wrangler.exitCode !== null) throw new Error(`wrangler exited (${wrangler.exitCode}):\n${output}`);
    if (Date.now() > ready) throw new Error(`wrangler dev was not ready in 90 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const v = output.match(/wrangler (\d+\.\d+\.\d+)/);
  console.log(`runtime: workerd (wrangler dev --local${v ? ` ${v[1]}` : ""})`);
});

after(async () => {
  if (wrangler && wrangler.exitCode === null) {
    const exited = new Promise((r) => wrangler.once("exit", r));
    try { process.kill(-wrangler.pid, "SIGTERM"); } catch {}
    const timer = setTimeout(() => { try { process.kill(-wrangler.pid, "SIGKILL"); } catch {} }, 5000);
    await exited;
    clearTimeout(timer);
  }
  await upstream?.close();
  rmSync(home, { recursive: true, force: true });
});

test("wrangler: GET /users batches the lookups upstream, 10 ids per call, an unknown id fails alone", async () => {
  const ids = Array.from({ length: 23 }, (_, i) => (i === 7 ? -8 : i + 1));
  const res = await fetch(`${origin}/users?ids=${ids.join(",")}`);
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.users.length, 23);
  assert.deepEqual(body.users[0], { id: 1, name: "user 1" });
  assert.deepEqual(body.users[7], { error: "no user -8" });
  assert.deepEqual(body.users[22], { id: 23, name: "user 23" });
  assert.equal(body.upstreamCalls, 3);
  // Calls run concurrently (maxInFlight 4), so they may reach upstream in any order; each call
  // holds a contiguous run of ids in arrival order.
  const calls = [...upstream.log.users].sort((a, b) => ids.indexOf(a[0]) - ids.indexOf(b[0]));
  assert.deepEqual(calls.map((c) => c.length), [10, 10, 3]);
  assert.deepEqual(calls.flat(), ids, "every id sent once, in order");
});

test("wrangler: POST /events answers 202 at once; ctx.waitUntil(batcher.flush()) delivers them after", async () => {
  const events = Array.from({ length: 30 }, (_, i) => ({ type: "click", n: i }));
  const res = await fetch(`${origin}/events`, { method: "POST", body: JSON.stringify(events) });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { queued: 30 });
  const end = Date.now() + 10_000;
  while (upstream.log.events.flat().length < 30 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const calls = [...upstream.log.events].sort((a, b) => a[0].n - b[0].n); // concurrent calls
  assert.deepEqual(calls.map((c) => c.length), [25, 5]);
  assert.deepEqual(calls.flat(), events);
});

test("wrangler: the bundle runs in workerd with no code generation from strings", () => {
  assert.doesNotMatch(output, /EvalError|Code generation from strings disallowed|Wasm code generation disallowed/, output);
});
