#!/usr/bin/env bash
# hyperbatch/dataloader against the built package (pkg/, made by `node scripts/build.mjs`):
#  1. DataLoader 2.2.3's own suite (upstream/), in Jest as upstream runs it, three times: through
#     `require` (dataloader.cjs), through `import` (dataloader.node.js), and with every loader
#     given extras so that it owns a Batcher (fixtures/with-extras.cjs);
#  2. this directory's node:test files: extras, parity with DataLoader, memory, the GraphQL example.
# Prints the test counts; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
[ -f "$root/pkg/package.json" ] || { echo "run.sh: build pkg/ first (node scripts/build.mjs)" >&2; exit 1; }

install() { # npm install in $1 unless its lockfile's packages are already there
  if [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package.json" -nt "$1/node_modules/.package-lock.json" ]; then
    (cd "$1" && npm install --no-audit --no-fund --loglevel=error >&2)
  fi
}
install "$here"
install "$root/examples/graphql"

cd "$here"
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
status=0
for project in "upstream-cjs:require (CJS)" "upstream-esm:import (ESM)" "upstream-own-batcher:require, loaders owning a Batcher"; do
  NODE_OPTIONS="${NODE_OPTIONS:-} --experimental-vm-modules --no-warnings" \
    node node_modules/jest/bin/jest.js --ci --selectProjects "${project%%:*}" --json --outputFile="$report" 2>&1 \
    | grep -Ev '^\s*$|^Test results written' || true
  node report.mjs "${project#*:}" "$report" || status=1
done

node --test --test-reporter=spec ./*.test.mjs || status=1
exit "$status"
