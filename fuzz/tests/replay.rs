//! Replays the committed corpus and regressions on stable, without libFuzzer:
//! `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use hyperbatch_fuzz::{run, Scenario};

fn replay(dir: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("readable directory").path();
        if !path.is_file() || path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("readable input");
        // As libfuzzer-sys decodes a fuzz_target argument: take_rest, skip what does not decode.
        if let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(&bytes)) {
            let r = std::panic::catch_unwind(|| run(&scenario));
            assert!(r.is_ok(), "{} fails; replay: bash scripts/test-fuzz.sh {}", path.display(), path.display());
        }
        n += 1;
    }
    n
}

#[test]
fn corpus_and_regressions_pass() {
    let seeds = replay("corpus/engine");
    let regressions = replay("regressions");
    eprintln!("replayed {seeds} seeds and {regressions} regressions");
}
