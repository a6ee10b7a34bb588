#!/usr/bin/env bash
# The demo: build the package, start the loopback batch servers, push ~12,500 calls through
# hyperbatch with faults on, print what happened, and audit it: exits 1 on any lost, duplicated or
# mismatched call, or fewer than 95% acknowledged (examples/node/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install.sh build
node scripts/build.mjs
(cd examples/node && npm install --no-audit --no-fund --loglevel=error)
node examples/node/demo.mjs
