#!/usr/bin/env bash
# The benchmark, one command: hyperbatch against DataLoader, promise-batcher, batshit and a
# raw-promise floor in Node 20/22/24, headless Chromium and Deno (see bench/README.md).
#   bash bench/run.sh                  # full run, about 10-15 minutes on 2 cores
#   BENCH_QUICK=1 bash bench/run.sh    # small N and few rounds, for development
#   HYPERBATCH_PKG=/path/to/pkg bash bench/run.sh   # another build of the package
# Installs what it needs (scripts/install.sh bench), builds pkg/ if it is missing, exits non-zero
# when a target is missed. Not part of the test command.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install.sh" bench >&2
if [ -n "${HYPERBATCH_PKG:-}" ]; then
  HYPERBATCH_PKG="$(cd "$HYPERBATCH_PKG" && pwd)" # run.mjs runs from bench/
  export HYPERBATCH_PKG
elif [ ! -f "$root/pkg/package.json" ]; then
  (cd "$root" && bash scripts/install.sh build && node scripts/build.mjs) >&2
fi
cd "$root/bench"
exec node run.mjs
