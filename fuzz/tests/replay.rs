//! Replays the committed seeds and regressions on stable, without libFuzzer:
//! `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use hyperbatch_fuzz::{run, Scenario};

/// Runs every input of `dir` (relative to fuzz/); returns how many ran and the failing ones.
fn replay(dir: &str) -> (usize, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let (mut n, mut failed) = (0, Vec::new());
    let Ok(entries) = std::fs::read_dir(&path) else {
        return (n, failed); // no regressions yet
    };
    let mut files: Vec<_> = entries.map(|e| e.expect("readable directory").path()).collect();
    files.sort();
    for file in files.iter().filter(|f| f.is_file() && f.extension().is_none_or(|e| e != "md")) {
        let bytes = std::fs::read(file).expect("readable input");
        // As libfuzzer-sys decodes a fuzz_target argument; an input that does not decode is skipped.
        let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(&bytes)) else { continue };
        n += 1;
        if std::panic::catch_unwind(|| run(&scenario)).is_err() {
            failed.push(format!("fuzz/{dir}/{}", file.file_name().unwrap_or_default().to_string_lossy()));
        }
    }
    (n, failed)
}

#[test]
fn seeds_and_regressions_pass() {
    let (seeds, mut failed) = replay("corpus/engine");
    let (regressions, more) = replay("regressions");
    failed.extend(more);
    eprintln!("replayed {seeds} seeds and {regressions} regressions");
    assert!(failed.is_empty(), "failing inputs (replay one: bash scripts/test-fuzz.sh FILE):\n{}", failed.join("\n"));
}
