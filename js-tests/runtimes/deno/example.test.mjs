// examples/deno, run as its README says (deno run with read access to node_modules/hyperbatch
// only, net access to 127.0.0.1 only), and type-checked with `deno check`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const example = join(root, "..", "..", "examples", "deno");
const deno = join(root, "node_modules", ".bin", "deno");
const env = { ...process.env, NO_COLOR: "1" };
const run = (args) => spawnSync(deno, args, { cwd: example, encoding: "utf8", env, timeout: 60_000 });

console.log(`runtime: deno ${run(["--version"]).stdout.split("\n")[0]} (examples/deno)`);

test("examples/deno: `deno run --allow-net=127.0.0.1 --allow-read=node_modules/hyperbatch main.ts` batches 25 lookups into 3 requests", () => {
  assert.ok(existsSync(join(example, "node_modules", "hyperbatch", "package.json")), `run \`npm install\` in ${example} first`);
  const r = run(["run", "--no-remote", "--allow-net=127.0.0.1", "--allow-read=node_modules/hyperbatch", "main.ts"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /looked up 25 products in 3 requests \(10 \+ 10 \+ 5\)/);
  assert.match(r.stdout, /found 24; failed: no product 13/);
});

test("examples/deno: `deno check main.ts` passes against the package's types", () => {
  const r = run(["check", "--no-remote", "main.ts"]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
