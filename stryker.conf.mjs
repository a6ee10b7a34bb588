// Stryker (mutation testing) for pkg-template/core.js; run through scripts/mutants.sh.
//
// The Node suites import the BUILT package (js-tests → file:../pkg), so the file mutated must be
// the one they load: scripts/mutants.sh puts pkg-template/core.js, unminified, at pkg/core.js,
// and Stryker mutates it in place (the tests then load the mutants through the package).
// The tap runner runs each suite as one `node --test-reporter=tap` process and measures which
// suites reach each mutant, so a mutant runs only the suites that reach it.
// Default: every Node suite that is fast and deterministic. Left out: memory (35 s), soak
// (seeded load, 2 s, slow per mutant), exit and package (npm pack; their child processes inherit
// the active mutant through the environment, but Stryker measures no coverage in them).
// A name with a slash is a path under js-tests/: "dataloader/…" are hyperbatch/dataloader's
// node:test files (ESM, so they load pkg/core.js; the facade is the only user of runnerOf,
// startCall and finishCall). DataLoader's own suite (Jest) and the facade's memory, types and
// graphql tests are left out: another runner, and child processes.
const suites = (process.env.HYPERBATCH_MUTANT_SUITES ??
  "flush,errors,modes,bisect,backpressure,cancel,signals,turn,timers,hooks,hostile,circuit,adaptive," +
  "flush-on-hide,boundary,timeline,retry,load,dataloader/facade,dataloader/parity,dataloader/runner").split(",");
const suiteFile = (s) => (s.includes("/") ? `js-tests/${s}.test.mjs` : `js-tests/node/${s}.test.mjs`);
const mutate = (process.env.HYPERBATCH_MUTATE ?? "pkg/core.js").split(",");
// One incremental file and report per line-range selection: rerunning a chunk retests only the
// mutants whose code or covering suites changed (`--incremental`).
const label = mutate.join("_").replace(/[^A-Za-z0-9-]+/g, "_");

export default {
  inPlace: true,
  // HYPERBATCH_MUTATE narrows to line ranges, e.g. "pkg/core.js:150-200" (comma-separated).
  mutate,
  // Stryker lists the project's files before it runs: only what the tests load is of interest.
  ignorePatterns: ["/*", "!/pkg", "!/js-tests", "/js-tests/runtimes", "/js-tests/server", "/js-tests/integration"],
  testRunner: "tap",
  tap: { testFiles: suites.map(suiteFile), forceBail: true },
  coverageAnalysis: "perTest",
  // Two cores shared with other work: one suite process at a time.
  concurrency: 1,
  // Generous: the machine is shared and loaded; a mutant that hangs costs this once.
  timeoutMS: 20_000,
  timeoutFactor: 2,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${label}.json`,
  plugins: ["@stryker-mutator/*", "./scripts/mutants/ignore-messages.mjs"],
  ignorers: ["message-args"],
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: `reports/mutation/core-${label}.json` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  tempDirName: ".stryker-tmp",
  cleanTempDir: true,
};
