#!/usr/bin/env bash
# Installs everything the build and tests need, skipping what is already there. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n== %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen the crate is pinned to (Cargo.toml "=X").
want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"$/\1/p' Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  step "cargo install wasm-bindgen-cli $want (about 6 minutes)"
  # Without --locked: the registry here lacks one of its locked dependencies.
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ "$(wasm-pack --version 2>/dev/null | awk '{print $2}')" != "0.15.1" ]; then
  step "cargo install wasm-pack 0.15.1 (about 3 minutes)"
  cargo install wasm-pack --version 0.15.1
fi

# npm: `install`, not `ci` (the registry here lacks other platforms' optional packages).
# Only the build's own tools here (binaryen's wasm-opt, esbuild, smol-toml): folders that
# depend on the built package (js-tests, examples, bench) install after the build.
step "npm install (build tools)"
npm install --no-audit --no-fund --loglevel=error
