#!/usr/bin/env bash
# Mutation testing on demand (never part of scripts/test.sh): cargo-mutants on src/engine and
# Stryker on pkg-template/core.js. Both are CPU-heavy; on a small machine give them an hour.
#
# Usage: bash scripts/mutants.sh [rust|js]...        (no argument: both)
#   MUTANTS_FILES="retry.rs budget.rs"   engine files to mutate (default: all of src/engine)
#   MUTANTS_JOBS=1  MUTANTS_TIMEOUT=40   cargo-mutants --jobs, --timeout (s)
#   PROPTEST_CASES=32                    property-test cases per mutant (the test's own default is 256)
#   HYPERBATCH_MUTATE="pkg/core.js:150-200"   Stryker: only these lines (comma-separated)
#   HYPERBATCH_MUTANT_SUITES="retry,errors"   Stryker: the js-tests/node suites it runs (default:
#                                            every fast, deterministic one; see stryker.conf.mjs)
#   STRYKER_FLAGS="--force"                   Stryker: extra flags
# Reports: mutants.out/ (cargo-mutants) and reports/mutation/ (Stryker); both are git-ignored.
# Stryker runs incrementally: reports/stryker-incremental-<lines>.json keeps each selection's
# results, and a rerun tests only mutants whose code or covering suites changed (--force: all).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
cd "$root"
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

run_rust() {
  if ! cargo mutants --version >/dev/null 2>&1; then
    step "cargo install cargo-mutants (a few minutes)"
    cargo install cargo-mutants
  fi
  # A mutant that loops forever (some do) costs the whole timeout: keep it short.
  local args=(--jobs "${MUTANTS_JOBS:-1}" --timeout "${MUTANTS_TIMEOUT:-40}") f
  for f in ${MUTANTS_FILES:-}; do args+=(--file "src/engine/$f"); done
  step "cargo mutants ${args[*]} (settings in .cargo/mutants.toml)"
  # cargo-mutants exits 2 (survivors) or 3 (timeouts): results to read, not failures here.
  local rc=0
  # opt-level 1: the property test runs in 0.2 s instead of 8 s (unloaded) per mutant;
  # overflow checks and debug assertions stay on (they kill mutants too).
  CARGO_PROFILE_DEV_OPT_LEVEL="${CARGO_PROFILE_DEV_OPT_LEVEL:-1}" CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}" \
    PROPTEST_CASES="${PROPTEST_CASES:-32}" cargo mutants "${args[@]}" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && [ "$rc" -ne 3 ]; then exit "$rc"; fi
  step "cargo-mutants: survivors in mutants.out/missed.txt, timeouts in mutants.out/timeout.txt"
}

run_js() {
  # shellcheck disable=SC2206 # word splitting wanted: extra Stryker flags such as --force
  local STRYKER_ARGS=(${STRYKER_FLAGS:-})
  npm_install "$root/scripts/mutants"
  if [ ! -f pkg/package.json ] || [ ! -f target/export-names.json ]; then
    step "node scripts/build.mjs (pkg/ is missing)"
    bash scripts/install.sh build
    node scripts/build.mjs
  fi
  npm_install "$root/js-tests"
  # The suites load pkg/core.js through the package: put the readable source there (the
  # minified build behaves the same) so that Stryker's mutants are what the tests run. The
  # .wasm's exports get back the names the readable source calls (the build shortens them), so
  # core.cjs (require) becomes the readable source's twin too, as build.mjs makes it (unmutated).
  local saved
  saved="$(mktemp -d)"
  cp pkg/core.js pkg/core.cjs pkg/hyperbatch_bg.wasm "$saved/"
  # shellcheck disable=SC2064 # expand $saved now
  trap "cp '$saved'/* pkg/; rm -rf '$saved'" EXIT
  cp pkg-template/core.js pkg/core.js
  { echo '"use strict";'; sed -E 's/^export \{ ([A-Za-z_, ]+) \};$/module.exports = { \1 };/' pkg-template/core.js; } >pkg/core.cjs
  node scripts/mutants/name-exports.mjs pkg/hyperbatch_bg.wasm
  step "stryker run stryker.conf.mjs (pkg/core.js in place)"
  "$root/scripts/mutants/node_modules/.bin/stryker" run stryker.conf.mjs "${STRYKER_ARGS[@]}"
}

tools=("$@")
[ "${#tools[@]}" -eq 0 ] && tools=(rust js)
for tool in "${tools[@]}"; do
  case "$tool" in
    rust) run_rust ;;
    js) run_js ;;
    *) echo "unknown: $tool (rust or js)" >&2; exit 64 ;;
  esac
done
