// Stryker (mutation testing) for pkg-template/core.js; run through scripts/mutants.sh.
//
// The Node suites import the BUILT package (js-tests → file:../pkg), so the file mutated must be
// the one they load: scripts/mutants.sh puts pkg-template/core.js, unminified, at pkg/core.js,
// and Stryker mutates it in place (the tests then load the mutants through the package).
// The tap runner runs each suite as one `node --test-reporter=tap` process and measures which
// suites reach each mutant, so a mutant runs only the suites that reach it.
const suites = (process.env.HYPERBATCH_MUTANT_SUITES ?? "flush,retry,errors,modes,bisect,backpressure").split(",");

export default {
  inPlace: true,
  // HYPERBATCH_MUTATE narrows to line ranges, e.g. "pkg/core.js:150-200" (comma-separated).
  mutate: (process.env.HYPERBATCH_MUTATE ?? "pkg/core.js").split(","),
  // Stryker lists the project's files before it runs: only what the tests load is of interest.
  ignorePatterns: ["/*", "!/pkg", "!/js-tests", "/js-tests/runtimes", "/js-tests/server", "/js-tests/integration"],
  testRunner: "tap",
  tap: { testFiles: suites.map((s) => `js-tests/node/${s}.test.mjs`), forceBail: true },
  coverageAnalysis: "perTest",
  // Two cores shared with other work: one suite process at a time.
  concurrency: 1,
  timeoutMS: 15_000,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: "reports/mutation/core.json" },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
