// Process exit and host timers — the contract "Guarantees": "No timer is armed while nothing is
// queued or waiting to retry: a Node process exits on its own", "At most one host timer per
// batcher" (Precise semantics: One timer), and the `require("hyperbatch")` path from CommonJS.
// Each case runs a fixture in a child `node` process that never calls close().
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const LIMIT_MS = 10_000; // "within a few seconds", with room for a slow CI machine's start-up

/** Runs a fixture; resolves with its exit code/signal, output and whether we had to kill it. */
function runChild(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: FIXTURES, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let killed = false;
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const killer = setTimeout(() => {
      killed = true;
      child.kill("SIGKILL");
    }, LIMIT_MS);
    child.on("error", (e) => {
      clearTimeout(killer);
      reject(e);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

/** Asserts the child printed one JSON line with ok: true, exited 0 by itself; returns the JSON. */
async function expectSelfExit(file) {
  const r = await runChild(file);
  assert.equal(r.killed, false, `${file} did not exit within ${LIMIT_MS} ms (a timer left armed?)\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.code, 0, `${file} exited with ${r.code}/${r.signal}\nstderr: ${r.stderr}`);
  const line = r.stdout.trim().split("\n").pop();
  const out = JSON.parse(line);
  assert.equal(out.ok, true);
  return out;
}

test("exit: an ESM process that adds and awaits items without close() exits by itself", { timeout: LIMIT_MS + 5000 }, async () => {
  const out = await expectSelfExit("exit-basic.mjs");
  assert.deepEqual(out.results, [2, 4, 6, 8, 10]);
  assert.equal(out.ticked, "t");
});

test("exit: after retries, a long per-call timeoutMs, far deadlines and an abort, the process still exits by itself", { timeout: LIMIT_MS + 5000 }, async () => {
  const out = await expectSelfExit("exit-timers.mjs");
  assert.deepEqual(out.results, ["ok:a", "ok:flaky", "ok:other", "E_ABORTED"]);
  assert.ok(out.calls >= 3, `calls ${out.calls}`);
});

test("exit: a CommonJS process using require(\"hyperbatch\") exits by itself", { timeout: LIMIT_MS + 5000 }, async () => {
  const out = await expectSelfExit("exit-basic.cjs");
  assert.deepEqual(out.results, [2, 4, 6]);
});

test("timers: at most one host timer live per batcher (12 keys, retry delays, per-call timeouts, deadlines); none left when idle", { timeout: LIMIT_MS + 5000 }, async () => {
  const out = await expectSelfExit("timer-count.mjs");
  assert.equal(out.fulfilled, 60, "every item succeeds in this scenario");
  assert.ok(out.totalSet >= 1, "the batcher armed no timer through setTimeout/setInterval at all, so none could be counted");
  assert.ok(out.maxLive <= 1, `the batcher had ${out.maxLive} host timers live at once`);
  assert.equal(out.liveAtEnd, 0, "a timer is still armed although nothing is queued or waiting to retry");
});
