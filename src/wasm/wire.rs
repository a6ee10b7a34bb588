//! The wire format between the shell and `pkg-template/core.js`, stated once: output tags and
//! fields, outcome kinds, add results, option indices and the numbers of option values.
//! `scripts/build.mjs` copies every `pub const` here into core.js (its "wire" block), and the
//! error-code names from [`crate::engine::ErrorCode`], so neither side writes them by hand.
//! Values must be plain literals (the build reads them as text).

// Output tags: each record is `[tag, fields…]` in the f64 buffer `Core::drain` fills.
/// `[TICK]`: call `handle_time` on the next microtask.
pub const TICK: f64 = 0.0;
/// `[DISPATCH, batch, key, attempt, deadline | NaN, weight, n, first, item × n]`: `first` ≥ 0 when
/// the items are the ids `first, first + 1, …, first + n − 1` (then no ids follow), −1 otherwise.
pub const DISPATCH: f64 = 1.0;
/// `[ROUTE, route, n, item × n]`
pub const ROUTE: f64 = 2.0;
/// `[SETTLE, item, kind (OUTCOME_*), arg, release 0 | 1]`
pub const SETTLE: f64 = 3.0;
/// `[RELEASE, item]`
pub const RELEASE: f64 = 4.0;
/// `[TIMED_OUT, batch]`
pub const TIMED_OUT: f64 = 5.0;
/// `[BATCH_END, batch, key, size, weight, attempt, durationMs, succeeded, failed, batch_error 0 | 1]`
pub const BATCH_END: f64 = 6.0;
/// `[ADMITTED, item]`
pub const ADMITTED: f64 = 7.0;
/// `[KEY_RELEASED, key]`
pub const KEY_RELEASED: f64 = 8.0;
/// `[FLUSHED, flush]`
pub const FLUSHED: f64 = 9.0;
/// `[ABANDONED, batch]`
pub const ABANDONED: f64 = 10.0;
/// `[TURN_END]`: call `handle_time` at the end of the turn.
pub const TURN_END: f64 = 11.0;
/// `[CIRCUIT, key, state]`: key's circuit changed (state: 0 closed, 1 open, 2 half_open).
pub const CIRCUIT: f64 = 12.0;
/// `[SUCCEEDED, batch]`: every item of the call resolves with its own entry.
pub const SUCCEEDED: f64 = 13.0;

// Each tag is its `Output` variant's number (`Core::drain` writes `Output::tag`).
const _: () = {
    use crate::engine::{BatchEnd, CircuitState, Dispatch, Outcome, Output as O};
    use crate::prelude::Vec;
    const fn tag(o: O) -> f64 {
        let t = o.tag();
        core::mem::forget(o); // no drop in a const
        t as f64
    }
    let d = Dispatch { batch: 0, key: 0, items: Vec::new(), attempt: 0, deadline: None, weight: 0.0 };
    let e = BatchEnd {
        batch: 0,
        key: 0,
        size: 0,
        weight: 0.0,
        attempt: 0,
        duration_ms: 0.0,
        succeeded: 0,
        failed: 0,
        batch_error: false,
    };
    assert!(tag(O::Tick) == TICK && tag(O::Dispatch(d)) == DISPATCH);
    assert!(tag(O::Route { route: 0, items: Vec::new() }) == ROUTE);
    assert!(tag(O::Settle { item: 0, outcome: Outcome::BatchError, release: false }) == SETTLE);
    assert!(tag(O::Release { item: 0 }) == RELEASE && tag(O::CallTimedOut { batch: 0 }) == TIMED_OUT);
    assert!(tag(O::BatchEnd(e)) == BATCH_END && tag(O::Admitted { item: 0 }) == ADMITTED);
    assert!(tag(O::KeyReleased { key: 0 }) == KEY_RELEASED && tag(O::Flushed { flush: 0 }) == FLUSHED);
    assert!(tag(O::Abandoned { batch: 0 }) == ABANDONED && tag(O::TurnEnd) == TURN_END);
    assert!(tag(O::CircuitChange { key: 0, state: CircuitState::Closed }) == CIRCUIT);
    assert!(tag(O::Succeeded { batch: 0 }) == SUCCEEDED);
};

// A SETTLE record's kind, and what its arg is.
/// Resolve with `results[arg]`.
pub const OUTCOME_OK: f64 = 0.0;
/// Reject with the transport's entry `results[arg]`.
pub const OUTCOME_ITEM_ERROR: f64 = 1.0;
/// E_TRANSPORT after arg attempts.
pub const OUTCOME_TRANSPORT: f64 = 2.0;
/// The batch-level error as it is.
pub const OUTCOME_BATCH_ERROR: f64 = 3.0;
/// E_FAIL_FAST, cause `results[arg]`.
pub const OUTCOME_FAIL_FAST: f64 = 4.0;
/// E_ATOMIC, cause `results[arg]`.
pub const OUTCOME_ATOMIC: f64 = 5.0;
/// A library error: arg is its `ErrorCode` discriminant.
pub const OUTCOME_CODE: f64 = 6.0;
/// E_CIRCUIT_OPEN: arg is the key whose circuit refused it (its last batch-level error is the cause).
pub const OUTCOME_CIRCUIT_OPEN: f64 = 7.0;

// Each kind is its `Outcome` variant's number (`Core::drain` writes `Outcome::kind`).
const _: () = {
    use crate::engine::{ErrorCode, Outcome as O};
    const fn kind(o: O) -> f64 {
        o.kind() as f64
    }
    assert!(kind(O::Ok { index: 0 }) == OUTCOME_OK && kind(O::ItemError { index: 0 }) == OUTCOME_ITEM_ERROR);
    assert!(kind(O::Transport { attempts: 0 }) == OUTCOME_TRANSPORT && kind(O::BatchError) == OUTCOME_BATCH_ERROR);
    assert!(kind(O::FailFast { cause: 0 }) == OUTCOME_FAIL_FAST && kind(O::Atomic { cause: 0 }) == OUTCOME_ATOMIC);
    assert!(
        kind(O::Code(ErrorCode::Config)) == OUTCOME_CODE && kind(O::CircuitOpen { key: 0 }) == OUTCOME_CIRCUIT_OPEN
    );
};

// `Core::add` (and `add_reserved`) below zero: why the add was refused. A refusal is its
// `ErrorCode`'s number negated (the engine refuses only with these four), anything else
// `ADD_INVALID` (core.js checks weights and deadlines before the engine sees them).
pub const ADD_CLOSED: i32 = -1;
pub const ADD_FULL: i32 = -2;
pub const ADD_TOO_LARGE: i32 = -3;
pub const ADD_DEADLINE: i32 = -5;
pub const ADD_INVALID: i32 = -20;
const _: () = {
    use crate::engine::ErrorCode as C;
    assert!(ADD_CLOSED == -(C::Closed as i32) && ADD_FULL == -(C::Full as i32));
    assert!(ADD_TOO_LARGE == -(C::TooLarge as i32) && ADD_DEADLINE == -(C::Deadline as i32));
    assert!(ADD_INVALID < -(C::CircuitOpen as i32));
};

// `Core::complete_ok`: the batch was not in flight; done; done and `drain` is due.
pub const COMPLETE_LATE: u32 = 0;
pub const COMPLETE_DONE: u32 = 1;
pub const COMPLETE_DRAIN: u32 = 2;

/// The most ids one `Core::reserve` hands out: plain adds are handed over at least this often.
pub const RESERVE_MAX: usize = 1024;
/// `Core::reserve` returns `first * RESERVE_SPAN + count` (count ≤ RESERVE_MAX < RESERVE_SPAN).
pub const RESERVE_SPAN: u32 = 65536;
const _: () = assert!(RESERVE_MAX < RESERVE_SPAN as usize);

/// How many f64s `Core::stats` writes.
pub const STATS_LEN: usize = 11;

/// The routing queue and the default queue (as `crate::engine::UNROUTED`, `DEFAULT_KEY`).
pub const UNROUTED: u32 = 0;
pub const DEFAULT_KEY: u32 = 1;
const _: () = assert!(UNROUTED == crate::engine::UNROUTED && DEFAULT_KEY == crate::engine::DEFAULT_KEY);

// Options: their index in the f64 vector `Core::new` takes (NaN: not given).
pub const P_MAX_BATCH_SIZE: usize = 0;
pub const P_MAX_WAIT_MS: usize = 1;
pub const P_MAX_BATCH_WEIGHT: usize = 2;
pub const P_MAX_QUEUED: usize = 3;
pub const P_WHEN_FULL: usize = 4;
pub const P_MAX_IN_FLIGHT: usize = 5;
pub const P_MAX_IN_FLIGHT_PER_KEY: usize = 6;
pub const P_TIMEOUT_MS: usize = 7;
pub const P_ERROR_MODE: usize = 8;
pub const P_BISECT: usize = 9;
pub const P_MAX_ATTEMPTS: usize = 10;
pub const P_BASE_DELAY_MS: usize = 11;
pub const P_MAX_DELAY_MS: usize = 12;
pub const P_MULTIPLIER: usize = 13;
pub const P_JITTER: usize = 14;
pub const P_MAX_RETRY_AFTER_MS: usize = 15;
/// `retry.budget: false` is 0 here.
pub const P_BUDGET: usize = 16;
pub const P_MAX_TOKENS: usize = 17;
pub const P_TOKEN_RATIO: usize = 18;
pub const P_ADAPTIVE: usize = 19;
/// `circuitBreaker` given: 1.
pub const P_CIRCUIT_BREAKER: usize = 20;
pub const P_FAILURE_THRESHOLD: usize = 21;
pub const P_RESET_MS: usize = 22;
pub const PARAM_COUNT: usize = 23;

// Option values given as names.
pub const WHEN_FULL_REJECT: f64 = 0.0;
pub const WHEN_FULL_WAIT: f64 = 1.0;
pub const ERROR_MODE_PARTIAL: f64 = 0.0;
pub const ERROR_MODE_FAIL_FAST: f64 = 1.0;
pub const ERROR_MODE_ATOMIC: f64 = 2.0;
pub const JITTER_FULL: f64 = 0.0;
pub const JITTER_EQUAL: f64 = 1.0;
pub const JITTER_NONE: f64 = 2.0;

// `Core::complete`: one code per result entry.
pub const RESULT_OK: u8 = 0;
pub const RESULT_ERROR: u8 = 1;
pub const RESULT_RETRYABLE: u8 = 2;

// `Core::fail`: what failed, `err.retryable`, and `classify(err)`.
pub const FAIL_THROWN: u8 = 0;
pub const FAIL_TIMEOUT: u8 = 1;
pub const FAIL_SHAPE: u8 = 2;
pub const RETRYABLE_UNKNOWN: u8 = 0;
pub const RETRYABLE_NO: u8 = 1;
pub const RETRYABLE_YES: u8 = 2;
pub const CLASS_DEFAULT: u8 = 0;
pub const CLASS_RETRY: u8 = 1;
pub const CLASS_BISECT: u8 = 2;
pub const CLASS_FAIL: u8 = 3;
