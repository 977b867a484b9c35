// Prints the plain "N passed, N failed" line CI ends with, summed over the JSON reports given:
// vitest's, and test/e2e/run.mjs --report's (same counters). A missing report counts as a failure.
import { existsSync, readFileSync } from "node:fs";

let passed = 0;
let failed = 0;
let skipped = 0;
let success = true;
for (const path of process.argv.slice(2)) {
  if (!existsSync(path)) {
    console.log(`no test report at ${path}`);
    failed += 1;
    continue;
  }
  const report = JSON.parse(readFileSync(path, "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  if (report.success === false) success = false;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || !success ? 1 : 0);
