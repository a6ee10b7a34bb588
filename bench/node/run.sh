#!/usr/bin/env bash
# One-command Node benchmark: installs bench deps if needed, then runs.
#   bench/node/run.sh                      # from anywhere
#   BENCH_ROUNDS=9 bench/node/run.sh       # env knobs: see bench/README.md
set -euo pipefail
cd "$(dirname "$0")"

need_install=0
[ -d node_modules/dataloader ] && [ -d node_modules/promise-batcher ] || need_install=1
# "hyperbatch" is a file: link to ../../pkg (npm creates it even before pkg/ exists).
[ -L node_modules/hyperbatch ] || [ -e node_modules/hyperbatch ] || need_install=1
[ -f node_modules/.package-lock.json ] || need_install=1
if [ "$need_install" = 0 ]; then
  [ package.json -nt node_modules/.package-lock.json ] && need_install=1
  [ -f ../../pkg/package.json ] && [ ../../pkg/package.json -nt node_modules/.package-lock.json ] && need_install=1
fi
if [ "$need_install" = 1 ]; then
  echo "installing bench dependencies (npm install in $(pwd))..." >&2
  npm install --no-audit --no-fund --loglevel=error >&2
  touch node_modules/.package-lock.json
fi

exec node --expose-gc bench.mjs "$@"
