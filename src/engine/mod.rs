//! The batching engine: a deterministic, sans-IO state machine.
//!
//! It knows items only by id, keys by interned id, and time only as the `now` each input
//! carries. Inputs are method calls (`add`, `add_plain`, `add_reserved`, `call_now`, `cancel`,
//! `complete`, `fail`, `handle_time`, `flush`, `close`, `route_done`); decisions come out of
//! `poll_output()` and `poll_timeout()`.

mod budget;
mod call_time;
mod circuit;
mod config;
mod fifo;
mod flush;
mod id_map;
mod machine;
mod queue;
mod retry;
mod str_map;
mod table;
mod timers;

/// The model tests' random numbers: one xorshift64 step (seeded by each test, so runs repeat).
#[cfg(test)]
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

pub use budget::Budget;
pub use call_time::MIN_LEAD_MS;
pub use circuit::CircuitState;
pub use config::{
    BudgetConfig, BudgetOption, CircuitConfig, Config, ConfigError, ConfigOption, ErrorMode, Jitter, RetryConfig, Rule,
    WhenFull,
};
pub use machine::Engine;
pub use retry::{backoff_delay, Class, Failure, FailureKind, Rng};

use crate::prelude::*;
use core::fmt;

/// An accepted `add`, as the shell indexes its promise and value (a slot reused after it settles).
pub type ItemId = u32;
/// An interned key. [`DEFAULT_KEY`] is the single queue used when no key is given.
pub type KeyId = u32;
/// A transport call. Never reused.
pub type BatchId = u64;
/// A `resolveKeys` call. Never reused.
pub type RouteId = u64;
/// A `flush()` (or `close()`) waiting for its items.
pub type FlushId = u64;

/// The queue of items whose key `resolveKeys` must find first.
pub const UNROUTED: KeyId = 0;
/// The one queue used when `keyOf` is not configured.
pub const DEFAULT_KEY: KeyId = 1;

/// The `code` of every error the library makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorCode {
    // The discriminants are the wire codes: scripts/build.mjs writes core.js `CODES` from them.
    Config = 0,
    Closed = 1,
    Full = 2,
    TooLarge = 3,
    Aborted = 4,
    Deadline = 5,
    Timeout = 6,
    Transport = 7,
    ResultShape = 8,
    FailFast = 9,
    Atomic = 10,
    Route = 11,
    CircuitOpen = 12,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Config => "E_CONFIG",
            ErrorCode::Closed => "E_CLOSED",
            ErrorCode::Full => "E_FULL",
            ErrorCode::TooLarge => "E_TOO_LARGE",
            ErrorCode::Aborted => "E_ABORTED",
            ErrorCode::Deadline => "E_DEADLINE",
            ErrorCode::Timeout => "E_TIMEOUT",
            ErrorCode::Transport => "E_TRANSPORT",
            ErrorCode::ResultShape => "E_RESULT_SHAPE",
            ErrorCode::FailFast => "E_FAIL_FAST",
            ErrorCode::Atomic => "E_ATOMIC",
            ErrorCode::Route => "E_ROUTE",
            ErrorCode::CircuitOpen => "E_CIRCUIT_OPEN",
        }
    }
}

/// How an item settles. Indices point into the results of the batch being completed (or the
/// error it failed with): the shell resolves them while it drains that call's outputs.
// `repr(u8)`, each variant's number its wire kind (`crate::wasm::wire::OUTCOME_*`, checked
// there), which [`Outcome::kind`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Outcome {
    /// Resolve with `results[index]`.
    Ok { index: u32 } = 0,
    /// Reject with the transport's own entry `results[index]`.
    ItemError { index: u32 } = 1,
    /// Reject with E_TRANSPORT, `cause` = the batch-level error, `attempts` = calls made.
    Transport { attempts: u32 } = 2,
    /// Reject with the batch-level error as it is (E_TIMEOUT, E_RESULT_SHAPE).
    BatchError = 3,
    /// Reject with E_FAIL_FAST, `cause` = `results[cause]`.
    FailFast { cause: u32 } = 4,
    /// Reject with E_ATOMIC, `cause` = `results[cause]`.
    Atomic { cause: u32 } = 5,
    /// Reject with E_CIRCUIT_OPEN, `cause` = the last batch-level error of `key` (the one
    /// reported with its [`Output::CircuitChange`] to open).
    CircuitOpen { key: KeyId } = 7,
    /// Reject with a library error that carries no payload (E_ABORTED, E_DEADLINE, E_ROUTE…).
    Code(ErrorCode) = 6,
}

impl Outcome {
    /// The variant's number (its wire kind).
    pub const fn kind(&self) -> u8 {
        // SAFETY: as `Output::tag`.
        unsafe { *(self as *const Outcome).cast::<u8>() }
    }

    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }
}

/// One per-item entry of a transport result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ItemResult {
    Ok,
    Err { retryable: bool, retry_after_ms: Option<f64> },
}

/// A transport call to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    pub batch: BatchId,
    pub key: KeyId,
    pub items: Vec<ItemId>,
    /// Highest attempt number among the items (1 on a first send).
    pub attempt: u32,
    /// Earliest item deadline.
    pub deadline: Option<f64>,
    pub weight: f64,
}

/// A transport call ended (for `onBatchEnd`).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchEnd {
    pub batch: BatchId,
    pub key: KeyId,
    pub size: u32,
    pub weight: f64,
    pub attempt: u32,
    pub duration_ms: f64,
    pub succeeded: u32,
    pub failed: u32,
    /// The call failed at batch level (the shell passes its error to the hook).
    pub batch_error: bool,
}

/// `repr(u8)`: a one-byte tag ahead of the fields, no niche in `Dispatch`'s `Vec` (each match
/// decoded the variant from its capacity word: -83 B gzip of the .wasm), and each variant's
/// number is its wire tag (`crate::wasm::wire`, checked there), which [`Output::tag`] reads.
#[derive(Clone, Debug, PartialEq)]
#[repr(u8)]
pub enum Output {
    /// Call the transport.
    Dispatch(Dispatch) = 1,
    /// Call `resolveKeys` with these items, then `route_done`.
    Route { route: RouteId, items: Vec<ItemId> } = 2,
    /// Settle the caller of `item`. With `release`, the shell may forget the item's value;
    /// without, a later [`Output::Release`] says so (a dedupe slot still carries followers).
    Settle { item: ItemId, outcome: Outcome, release: bool } = 3,
    /// Every item of the call succeeded: the caller of the call's `items[i]` resolves with
    /// `results[i]` and the item's value may be forgotten, as one `Settle { item, outcome: Ok {
    /// index: i }, release: true }` per item would say. Emitted instead of those when every item
    /// the call was sent with still has its caller and no dedupe follower rides on it.
    Succeeded { batch: BatchId } = 13,
    /// The item's value is no longer needed.
    Release { item: ItemId } = 4,
    /// Abort the call's signal and report `fail(batch, FailureKind::Timeout)`.
    CallTimedOut { batch: BatchId } = 5,
    /// Nobody waits for this call any more (every item aborted or past its deadline): abort
    /// its signal with an E_ABORTED error. Still report its outcome (`complete` or `fail`)
    /// when the transport answers; it settles nothing.
    Abandoned { batch: BatchId } = 10,
    /// A call ended.
    BatchEnd(BatchEnd) = 6,
    /// An add that waited for room (`whenFull: "wait"`) has been queued.
    Admitted { item: ItemId } = 7,
    /// The key id is free again; the shell drops its name → id cache entry.
    KeyReleased { key: KeyId } = 8,
    /// Every item the flush covered has settled.
    Flushed { flush: FlushId } = 9,
    /// A key's circuit breaker changed state (`onCircuitChange`). To `Open`, it was opened by
    /// the batch-level failure just reported (`fail`): that error is the cause of the key's
    /// E_CIRCUIT_OPEN rejections until the next `Open`.
    CircuitChange { key: KeyId, state: CircuitState } = 12,
    /// Call `handle_time` on the next microtask: a queue must send now (full by size or weight,
    /// a deadline near, backpressure, closing).
    Tick = 0,
    /// Call `handle_time` at the end of the current turn, once the promise jobs queued by then
    /// have run (or sooner): a `maxWaitMs: 0` window closes, DataLoader-style, so adds made in
    /// later promise jobs of the same turn join the batch (likewise an adaptive key with no call
    /// in flight). A `Tick` may follow it (it is sooner).
    TurnEnd = 11,
}

impl Output {
    /// The variant's number (its wire tag).
    pub const fn tag(&self) -> u8 {
        // SAFETY: a `repr(u8)` enum starts with its `u8` discriminant (the Reference,
        // "Primitive representation of enums with fields").
        unsafe { *(self as *const Output).cast::<u8>() }
    }
}

/// What happened to an accepted `add`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Queued,
    /// Waiting for room (`whenFull: "wait"`); not counted in `queued`.
    Waiting,
    /// Shares the slot of an equal queued item (`dedupeBy`).
    Joined,
}

/// Bad input to the engine: a clear error, never a panic; the state is unchanged.
#[derive(Clone, Debug, PartialEq)]
pub enum InputError {
    InvalidWeight(f64),
    InvalidDeadline(f64),
    UnknownKey(KeyId),
    UnknownItem(ItemId),
    UnknownBatch(BatchId),
    UnknownRoute(RouteId),
    ResultCount {
        batch: BatchId,
        expected: usize,
        got: usize,
    },
    /// The call timed out: its outcome is the timeout, reported with `fail`.
    TimedOut(BatchId),
    /// `add_reserved` asked for more ids than `reserve_plain` holds.
    NotReserved {
        asked: usize,
        reserved: usize,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::InvalidWeight(w) => {
                write!(f, "weight must be a finite number >= 0, got {w}")
            }
            InputError::InvalidDeadline(d) => {
                write!(f, "deadline must be a finite epoch time in ms, got {d}")
            }
            InputError::UnknownKey(k) => write!(f, "unknown key id {k}"),
            InputError::UnknownItem(i) => write!(f, "unknown or settled item {i}"),
            InputError::UnknownBatch(b) => {
                write!(f, "batch {b} is not in flight (unknown, or its outcome was already given)")
            }
            InputError::UnknownRoute(r) => write!(f, "route call {r} is not pending"),
            InputError::ResultCount { batch, expected, got } => {
                write!(f, "batch {batch} has {expected} items but {got} results were given")
            }
            InputError::TimedOut(b) => write!(f, "batch {b} timed out; its outcome is the timeout"),
            InputError::NotReserved { asked, reserved } => {
                write!(f, "{asked} plain adds given but only {reserved} ids are reserved")
            }
        }
    }
}

impl core::error::Error for InputError {}

/// Why an `add` was not accepted.
#[derive(Clone, Debug, PartialEq)]
pub enum AddError {
    /// Rejected by policy: E_CLOSED, E_FULL, E_TOO_LARGE, E_DEADLINE.
    Rejected(ErrorCode),
    Invalid(InputError),
}

/// Counters since construction (the contract's `stats()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub queued: u64,
    pub in_flight_batches: u64,
    pub in_flight_items: u64,
    pub batches: u64,
    pub items: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub retries: u64,
    pub bisects: u64,
    pub throttled: u64,
    /// Keys whose circuit is open now.
    pub circuits_open: u64,
}

#[cfg(test)]
mod tests;
