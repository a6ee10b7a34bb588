#!/usr/bin/env bash
# The wasm shell's own Rust tests (tests/wasm_shell.rs, wasm-bindgen-test), run in Node and in
# headless Chromium through wasm-pack. Installs Debian's chromium + chromium-driver if missing.
# Nothing is downloaded by wasm-pack: CHROMEDRIVER points at the apt driver, and the
# wasm-bindgen-test-runner comes with wasm-bindgen-cli (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

if ! command -v wasm-pack >/dev/null || ! command -v wasm-bindgen-test-runner >/dev/null \
  || ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  bash scripts/setup.sh
fi

if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
  step "apt-get install chromium chromium-driver"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
fi

# wasm-pack uses this driver instead of downloading one; Chrome's switches are in webdriver.json.
export CHROMEDRIVER=/usr/bin/chromedriver

step "wasm-pack test --node"
wasm-pack test --node

step "wasm-pack test --headless --chrome"
# The tests are not tied to one runtime (no run_in_browser): this runs them in the browser.
WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome

printf '\n== wasm shell tests passed in Node and headless Chromium\n'
