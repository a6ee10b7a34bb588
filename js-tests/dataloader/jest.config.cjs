// DataLoader's own tests (upstream/) against the built package: `..` (the upstream tests'
// `require('..')` / `import … from '..'`) is hyperbatch/dataloader, resolved through the
// package's `exports` (node + require → dataloader.cjs, node + import → dataloader.node.js).
// jest-jasmine2: unhandled.test uses `global.jasmine.process`, as upstream's Jest 24 had it.
const common = {
  testRunner: "jest-jasmine2",
  testEnvironment: "node",
  transform: {},
  moduleNameMapper: { "^\\.\\.$": "hyperbatch/dataloader" },
};

module.exports = {
  projects: [
    { ...common, displayName: "upstream-cjs", testMatch: ["<rootDir>/upstream/cjs/*.test.cjs"] },
    { ...common, displayName: "upstream-esm", testMatch: ["<rootDir>/upstream/esm/*.test.mjs"] },
    // Loaders given extras own a Batcher and hand rejections to it: still DataLoader's behaviour.
    {
      ...common,
      displayName: "upstream-own-batcher",
      testMatch: ["<rootDir>/upstream/cjs/*.test.cjs"],
      moduleNameMapper: { "^\\.\\.$": "<rootDir>/fixtures/with-extras.cjs" },
    },
  ],
};
