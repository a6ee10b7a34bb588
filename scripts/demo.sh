#!/usr/bin/env bash
# The demo: build the package, start the loopback batch servers, push 10,000 calls through
# hyperbatch with faults on, and print what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install.sh build
node scripts/build.mjs
(cd examples/node && npm install --no-audit --no-fund --loglevel=error)
node examples/node/demo.mjs
