#!/usr/bin/env bash
# Every test: the engine's native tests (unit, scenario, property), lints, the wasm build, the
# built package's tests in Node, and the contract checks in every runtime. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

printf '\n== cargo test (engine: unit, scenario and property tests)\n'
cargo test --release

printf '\n== cargo clippy\n'
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown -- -D warnings

printf '\n== build pkg/\n'
node scripts/build.mjs
# The package installs from its tarball as a user would get it.
(cd js-tests && npm install --no-audit --no-fund --loglevel=error)

printf '\n== node --test (contract, server, HTTP integration)\n'
suites=(js-tests/node js-tests/server)
[ -d js-tests/integration ] && suites+=(js-tests/integration)
node --test "${suites[@]}"

printf '\n== the wasm shell'"'"'s own tests (wasm-bindgen-test in Node and headless Chromium)\n'
bash scripts/test-wasm.sh

printf '\n== every runtime (Node ESM/CJS, Deno, Bun, workerd, Chromium, Vite, TypeScript)\n'
bash scripts/test-runtimes.sh
