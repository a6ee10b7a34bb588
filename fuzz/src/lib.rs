//! Coverage-guided fuzzing of `hyperbatch::engine`.
//!
//! [`run`] builds an engine from a fuzzed [`Scenario`] and drives it the way the shell does:
//! after every input it drains `poll_output`, keeps the calls (`Dispatch`) and `resolveKeys`
//! calls (`Route`) it was handed for later ops to answer, runs the `Tick` microtask, fires the
//! host timer at `poll_timeout()`, and answers `CallTimedOut` at once with a timeout failure.
//! At the end it closes the engine and drives it to completion.
//!
//! The [`driver`] is a light oracle, not the exact model of `tests/engine_props.rs`: it keeps
//! what the outputs say (live callers, held slots, calls, routes, flushes, keys) and asserts the
//! invariants that need no prediction. Any panic, in the engine or here, is a finding.

mod driver;
mod input;

pub use driver::run;
pub use input::Scenario;
