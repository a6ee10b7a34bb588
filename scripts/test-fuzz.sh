#!/usr/bin/env bash
# Coverage-guided fuzzing of the engine (fuzz/, cargo-fuzz on nightly): replays the regressions,
# then fuzzes the `engine` target for FUZZ_SECONDS (default 60) from the committed seeds, one job.
# Exits non-zero on a crash, printing the input and how to replay it.
#
# Usage: bash scripts/test-fuzz.sh            fuzz for FUZZ_SECONDS
#        bash scripts/test-fuzz.sh FILE...    replay these inputs (a crash, fuzz/regressions/*)
# New inputs go to fuzz/work/corpus (not committed); `cargo fuzz cmin` them into
# fuzz/corpus/engine to grow the seeds (see fuzz/README.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

bash "$root/scripts/install.sh" fuzz
cd "$root"

# Natively the engine's only unsafe code reads a repr(u8) enum's tag (Output::tag, Outcome::kind;
# table.rs indexes unchecked in the shipped wasm32 build only): no sanitizer, about twice the
# speed. Debug assertions and overflow checks stay on (cargo-fuzz's default), so an underflowed
# counter is a crash too.
fuzz=(cargo +nightly fuzz run --sanitizer none engine)
replay_hint="bash scripts/test-fuzz.sh"

if [ "$#" -gt 0 ]; then
  step "replay $*"
  "${fuzz[@]}" "$@"
  exit
fi

regressions=()
if [ -d fuzz/regressions ]; then
  mapfile -t regressions < <(find fuzz/regressions -type f ! -name '*.md' | sort)
fi
failing=()
for input in "${regressions[@]}"; do
  step "replay regression $input"
  "${fuzz[@]}" "$input" || failing+=("$input")
done
if [ "${#failing[@]}" -gt 0 ]; then
  echo "test-fuzz.sh: ${#failing[@]} regression input(s) fail (fuzz/README.md says what each found):" >&2
  for input in "${failing[@]}"; do
    echo "  input:  $input" >&2
    echo "  replay: $replay_hint $input" >&2
  done
  exit 1
fi

seconds="${FUZZ_SECONDS:-60}"
mkdir -p fuzz/work/corpus fuzz/artifacts/engine
marker=$(mktemp)
trap 'rm -f "$marker"' EXIT
step "fuzz the engine for ${seconds}s (seeds: fuzz/corpus/engine)"
status=0
"${fuzz[@]}" fuzz/work/corpus fuzz/corpus/engine -- \
  -max_total_time="$seconds" -timeout=10 -print_final_stats=1 || status=$?
if [ "$status" -ne 0 ]; then
  mapfile -t found < <(find fuzz/artifacts/engine -type f -newer "$marker")
  echo "test-fuzz.sh: the fuzz target failed (exit $status)." >&2
  for input in "${found[@]}"; do
    echo "  input:  $input" >&2
    echo "  replay: $replay_hint $input" >&2
    echo "  show:   cargo +nightly fuzz fmt --sanitizer none engine $input" >&2
    echo "  shrink: cargo +nightly fuzz tmin --sanitizer none engine $input" >&2
  done
  exit "$status"
fi
echo "test-fuzz.sh: no crash in ${seconds}s."
