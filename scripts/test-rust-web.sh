#!/usr/bin/env bash
# The Rust API in the browser (feature `web`): tests/api_web.rs (wasm-bindgen-test) in Node and
# headless Chromium, then examples/rust-web built, served beside examples/server and checked in
# headless Chromium (examples/rust-web/rust-web.test.mjs). Nothing is downloaded: CHROMEDRIVER is
# Debian's driver, playwright-core drives Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/install.sh build browser
# shellcheck source=scripts/lib.sh
source scripts/lib.sh # npm_install

CHROMEDRIVER=$(command -v chromedriver)
export CHROMEDRIVER

printf '\n== cargo clippy and cargo doc --features web (wasm32: the web runtime, JsTransport, their tests; the example)\n'
cargo clippy --target wasm32-unknown-unknown --features web --all-targets -- -D warnings
cargo clippy --manifest-path examples/rust-web/Cargo.toml --target wasm32-unknown-unknown -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features web --target wasm32-unknown-unknown

printf '\n== tests/api_web.rs: wasm-pack test --node --features web\n'
wasm-pack test --node -- --features web --test api_web

printf '\n== tests/api_web.rs: wasm-pack test --headless --chrome --features web\n'
WASM_BINDGEN_USE_BROWSER=1 wasm-pack test --headless --chrome -- --features web --test api_web

printf '\n== examples/rust-web: build, then the page in headless Chromium against examples/server\n'
bash examples/rust-web/build.sh
npm_install examples/rust-web
(cd examples/rust-web && node --test rust-web.test.mjs)

printf '\n== the web feature passed in Node and headless Chromium; examples/rust-web passed\n'
