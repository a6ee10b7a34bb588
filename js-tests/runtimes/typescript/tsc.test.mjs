// TypeScript: examples/typescript passes `tsc --noEmit` (its own typescript install, as a user
// runs it); the same file with its `@ts-expect-error` lines removed fails on exactly those lines
// (so the generics really constrain); a consumer with a plain lib ES2022 + DOM config checks too.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const example = join(root, "..", "..", "examples", "typescript");
const ownTsc = join(root, "node_modules", ".bin", "tsc");

function tsc(bin, project) {
  const r = spawnSync(bin, ["--noEmit", "--pretty", "false", "-p", project], { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

function scratch(name, files) {
  const dir = join(root, "dist", name);
  rmSync(dir, { recursive: true, force: true });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

console.log(`runtime: typescript ${spawnSync(ownTsc, ["--version"], { encoding: "utf8" }).stdout.trim()}`);

test("examples/typescript: `tsc --noEmit` passes (Batcher<I, O> generics, @ts-expect-error misuses)", () => {
  const bin = join(example, "node_modules", ".bin", "tsc");
  assert.ok(existsSync(bin), `run \`npm install\` in ${example} first`);
  const { code, out } = tsc(bin, example);
  assert.equal(code, 0, out);
});

test("examples/typescript: without its @ts-expect-error lines, tsc fails on exactly those lines", () => {
  const source = readFileSync(join(example, "src", "users.ts"), "utf8").split("\n");
  const expected = [];
  const kept = [];
  for (const line of source) {
    if (line.trim().startsWith("// @ts-expect-error")) expected.push(kept.length + 1); // the next line
    else kept.push(line);
  }
  assert.ok(expected.length >= 5, `found ${expected.length} @ts-expect-error lines`);
  const config = JSON.parse(readFileSync(join(example, "tsconfig.json"), "utf8"));
  const dir = scratch("ts-misuse", { "tsconfig.json": JSON.stringify(config), "src/users.ts": kept.join("\n") });
  const { code, out } = tsc(ownTsc, dir);
  assert.notEqual(code, 0, "the misuses must not type-check");
  const lines = [...new Set([...out.matchAll(/src\/users\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])))];
  assert.deepEqual(lines, expected, out);
});

test("types: a consumer with lib ES2022 + DOM (no ESNext.Disposable) and skipLibCheck off checks cleanly", () => {
  const dir = scratch("ts-consumer", {
    "tsconfig.json": JSON.stringify({
      compilerOptions: { target: "ES2022", lib: ["ES2022", "DOM"], module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: false },
      files: ["consumer.ts"],
    }),
    "consumer.ts": readFileSync(join(here, "consumer.ts"), "utf8"),
    "package.json": JSON.stringify({ type: "module" }),
  });
  const { code, out } = tsc(ownTsc, dir);
  assert.equal(code, 0, out);
});

test("types: a consumer with exactOptionalPropertyTypes may give any option as undefined, and signal as null", () => {
  const dir = scratch("ts-exact", {
    "tsconfig.json": JSON.stringify({
      compilerOptions: { target: "ES2022", lib: ["ES2022", "DOM", "ESNext.Disposable"], module: "NodeNext", moduleResolution: "NodeNext", strict: true, exactOptionalPropertyTypes: true, noEmit: true, skipLibCheck: false, types: [] },
      files: ["consumer.ts"],
    }),
    "consumer.ts": readFileSync(join(here, "consumer-exact.ts"), "utf8"),
    "package.json": JSON.stringify({ type: "module" }),
  });
  const { code, out } = tsc(ownTsc, dir);
  assert.equal(code, 0, out);
});

// aud14: a .d.ts of this "type": "module" package is ESM to TypeScript, so a CommonJS file failed
// on `require("hyperbatch")` under module Node16 (TS1479), and `import DataLoader =
// require("hyperbatch/dataloader")` was "not constructable" under NodeNext: the `require` entries
// have .d.cts twins (the `types` → `require` condition).
for (const module of ["Node16", "NodeNext"]) {
  test(`types: a CommonJS consumer (module ${module}) of require("hyperbatch"), require("hyperbatch/dataloader") (the class) and hyperbatch/timeline checks cleanly`, () => {
    const dir = scratch(`ts-cjs-${module}`, {
      "tsconfig.json": JSON.stringify({
        compilerOptions: { target: "ES2022", lib: ["ES2022", "DOM", "ESNext.Disposable"], module, moduleResolution: module, strict: true, noEmit: true, skipLibCheck: false, types: [] },
        files: ["consumer.ts"],
      }),
      "consumer.ts": readFileSync(join(here, "consumer-cjs.ts"), "utf8"),
      "package.json": JSON.stringify({ private: true }),
    });
    const { code, out } = tsc(ownTsc, dir);
    assert.equal(code, 0, out);
  });
}
