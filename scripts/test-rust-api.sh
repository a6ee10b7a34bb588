#!/usr/bin/env bash
# The Rust API (src/api): its tests on tokio and on futures' executors, its doc examples and
# rustdoc, lints with its features, and examples/rust-native against a started example server.
# `--bench` also runs the native throughput comparison (bench/rust-api).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

printf '\n== cargo test --features tokio (tests/api_tokio.rs, tests/api_hostile.rs, doc examples)\n'
cargo test --features tokio --test api_tokio --test api_hostile
cargo test --features tokio --doc

printf '\n== cargo test --features api (tests/api_driver.rs: build_with_driver, no runtime feature)\n'
cargo test --features api --test api_driver

printf '\n== cargo clippy and cargo doc with the API features\n'
cargo clippy --features tokio --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown --features api -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --features tokio

printf '\n== examples/rust-native against examples/server (reserve/complete over HTTP)\n'
out=$(mktemp)
node examples/server/server.mjs --limit recipe:rpm=5/300 --port 0 >"$out" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 50); do
  [ -s "$out" ] && break
  sleep 0.1
done
url=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).urls[0])' "$out")
CARGO_TARGET_DIR=target/rust-native cargo run --quiet --manifest-path examples/rust-native/Cargo.toml -- "$url"

if [ "${1:-}" = "--bench" ]; then
  printf '\n== native throughput: hyperbatch vs batch-aint-one vs dataloader (bench/rust-api)\n'
  (cd bench/rust-api && CARGO_TARGET_DIR=../../target/bench-rust-api cargo bench --quiet)
fi

printf '\n== Rust API: tests, docs and the native example passed\n'
