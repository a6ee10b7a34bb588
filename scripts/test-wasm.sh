#!/usr/bin/env bash
# The wasm shell's own Rust tests (tests/wasm_shell.rs, wasm-bindgen-test), run in Node and in
# headless Chromium through wasm-pack. Nothing is downloaded by wasm-pack: CHROMEDRIVER points at
# Debian's driver, and wasm-bindgen-test-runner comes with wasm-bindgen-cli.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install.sh build browser

# wasm-pack uses this driver instead of downloading one; Chrome's switches are in webdriver.json.
CHROMEDRIVER=$(command -v chromedriver)
export CHROMEDRIVER

printf '\n== wasm-pack test --node\n'
wasm-pack test --node

printf '\n== wasm-pack test --headless --chrome\n'
# The tests are not tied to one runtime (no run_in_browser): this runs them in the browser.
WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome

printf '\n== wasm shell tests passed in Node and headless Chromium\n'
