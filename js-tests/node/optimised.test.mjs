// The per-call path keeps V8's optimised code through a full GC. TurboFan code that relies on an
// object shape is thrown away ("weak objects" in --trace-deopt) when a full GC frees that shape,
// and a shape lives only while some object has it: with every call settled, the shapes of the
// call's objects (Batch, the drain's records) died in each full GC, and the next burst of adds
// ran unoptimised drain, readOutputs, call and result code until V8 optimised them again
// (DataLoader's throughput with a gc() before each round: 0.63-0.75x, 0.98-1.27x since).
// The scenario runs in a child `node --expose-gc --trace-deopt` and counts those deopts.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "./_helpers.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));

function weakObjectDeopts(t, body) {
  const code = `import { Batcher } from "hyperbatch";\n${body}\nconsole.log("done");\n`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--trace-deopt", "--input-type=module", "-e", code], {
      cwd: HERE,
      stdio: ["ignore", "pipe", "pipe"],
      signal: t.signal,
    });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0 || !stdout.includes("done")) return reject(new Error(`scenario exited ${code}\n${stderr}`));
      // The scenario's own loop (`burst`) is not the package's code: V8 may drop its code as it likes.
      const lines = stdout.split("\n").filter((l) => l.includes("reason: weak objects") && !l.includes("<SharedFunctionInfo burst>"));
      resolve({ lines, deopts: stdout.match(/bailout|marking dependent code/g)?.length ?? 0 });
    });
  });
}

for (const kind of ["sync", "async"]) {
  test(`optimised code: a gc() between bursts of ${kind} calls throws none of it away (no "weak objects" deopt)`, { timeout: 60_000 }, async (t) => {
    const transport = kind === "sync" ? "(b) => b.items.map((x) => x * 2)" : "async (b) => b.items.map((x) => x * 2)";
    const { lines, deopts } = await weakObjectDeopts(t, `
      const b = new Batcher({ transport: ${transport}, maxBatchSize: 100, maxWaitMs: 0, maxQueued: 1e6 });
      const burst = async (n) => {
        const ps = new Array(n);
        for (let i = 0; i < n; i++) ps[i] = b.add(i);
        const vs = await Promise.all(ps);
        for (let i = 0; i < n; i++) if (vs[i] !== 2 * i) throw new Error("item " + i + " resolved to " + vs[i]);
      };
      for (let round = 0; round < 12; round++) {
        for (let k = 0; k < 5; k++) await burst(10_000);
        globalThis.gc(); // every call has settled: nothing of theirs is alive
      }
    `);
    t.diagnostic(`${deopts} deopts in all, ${lines.length} for weak objects`);
    assert.deepEqual(lines, []);
  });
}
