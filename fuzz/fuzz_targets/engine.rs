//! libFuzzer entry: the bytes decode (with `arbitrary`) into a scenario; `hyperbatch_fuzz::run`
//! drives the engine like the shell and panics on any broken invariant.
#![no_main]

libfuzzer_sys::fuzz_target!(|scenario: hyperbatch_fuzz::Scenario| hyperbatch_fuzz::run(&scenario));
