// Reads Jest's --json report: prints the upstream suite's counts per module system, exits 1 on
// any failure or when no test ran. Usage: node report.mjs <jest json report>
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2], "utf8"));
const counts = {};
for (const file of report.testResults) {
  const via = file.name.includes("/upstream/cjs/") ? "require (CJS)" : "import (ESM)";
  counts[via] ??= { passed: 0, failed: 0 };
  for (const t of file.assertionResults) counts[via][t.status === "passed" ? "passed" : "failed"]++;
  if (file.status !== "passed" && file.assertionResults.length === 0) counts[via].failed++; // did not load
}
for (const [via, c] of Object.entries(counts)) {
  console.log(`DataLoader 2.2.3 suite via ${via}: ${c.passed} passed, ${c.failed} failed`);
}
process.exit(report.success && report.numTotalTests > 0 ? 0 : 1);
