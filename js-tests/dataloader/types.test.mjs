// hyperbatch/dataloader ships types: fixtures/types/consumer.ts (DataLoader 2.2's API with
// generics, plus the extras) checks under strict NodeNext with skipLibCheck off, and without
// its @ts-expect-error lines fails on exactly those lines (so the types really constrain).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const tsc = fileURLToPath(new URL("./node_modules/.bin/tsc", import.meta.url));
const fixture = new URL("./fixtures/types/", import.meta.url);

function check(dir) {
  const r = spawnSync(tsc, ["--noEmit", "--pretty", "false", "-p", dir], { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test("consumer.ts type-checks against dataloader.d.ts", () => {
  const { code, out } = check(fileURLToPath(fixture));
  assert.equal(code, 0, out);
});

test("without its @ts-expect-error lines, consumer.ts fails on exactly those lines", () => {
  const kept = [], expected = [];
  for (const line of readFileSync(new URL("consumer.ts", fixture), "utf8").split("\n")) {
    if (line.trim().startsWith("// @ts-expect-error")) expected.push(kept.length + 1);
    else kept.push(line);
  }
  assert.equal(expected.length, 4);
  const dir = fileURLToPath(new URL("./misuse/", fixture));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  try {
    writeFileSync(`${dir}/consumer.ts`, kept.join("\n"));
    writeFileSync(`${dir}/tsconfig.json`, readFileSync(new URL("tsconfig.json", fixture)));
    const { code, out } = check(dir);
    assert.notEqual(code, 0);
    const lines = [...new Set([...out.matchAll(/consumer\.ts\((\d+),\d+\): error/g)].map((m) => Number(m[1])))];
    assert.deepEqual(lines, expected, out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
