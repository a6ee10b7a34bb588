#!/usr/bin/env bash
# hyperbatch/dataloader vs DataLoader 2.2.3: installs bench deps if needed, then runs bench.mjs.
# Needs pkg/ built (node scripts/build.mjs). Knobs: BENCH_ROUNDS (7), BENCH_N (100000).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error >&2
fi
exec node --expose-gc bench.mjs "$@"
