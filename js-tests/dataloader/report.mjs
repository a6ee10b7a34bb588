// Reads one Jest --json report: prints the upstream suite's count under a label, exits 1 on any
// failure or when no test ran. Usage: node report.mjs <label> <jest json report>
import { readFileSync } from "node:fs";

const [label, file] = process.argv.slice(2);
const report = JSON.parse(readFileSync(file, "utf8"));
let passed = 0, failed = 0;
for (const suite of report.testResults) {
  for (const t of suite.assertionResults) t.status === "passed" ? passed++ : failed++;
  if (suite.status !== "passed" && suite.assertionResults.length === 0) failed++; // did not load
}
console.log(`DataLoader 2.2.3 suite via ${label}: ${passed} passed, ${failed} failed`);
process.exit(report.success && passed > 0 && failed === 0 ? 0 : 1);
