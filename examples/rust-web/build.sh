#!/usr/bin/env bash
# Builds the page's wasm into pkg/ (cargo, then wasm-bindgen-cli at the crate's pinned version).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --target wasm32-unknown-unknown
wasm-bindgen --target web --no-typescript --out-dir pkg target/wasm32-unknown-unknown/release/hyperbatch_example_rust_web.wasm
