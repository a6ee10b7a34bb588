//! What the fuzz bytes decode into: a config (defaults, small ranges that reach every cap, or
//! extreme and invalid values), a seed, a start time and a list of host events.

use arbitrary::Arbitrary;
use hyperbatch::engine::{
    BudgetConfig, BudgetOption, CircuitConfig, Class, Config, ErrorMode, Failure, FailureKind, ItemResult, Jitter,
    RetryConfig, WhenFull,
};

#[derive(Arbitrary, Debug)]
pub struct Scenario {
    pub config: ConfigInput,
    pub seed: u64,
    pub start: Num,
    pub ops: Vec<Op>,
}

/// A number from a list of edges (limits of the options, of f64 and of `Date.now()`), or any f64.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Num {
    Zero,
    One,
    Two,
    Half,
    Ten,
    Thousand,
    /// `Date.now()` today.
    Epoch,
    /// The largest `Date.now()`.
    MaxDate,
    MaxBatch,
    MaxDelay,
    MaxU32,
    Huge,
    Tiny,
    Inf,
    NegInf,
    Nan,
    MinusOne,
    Raw(f64),
}

impl Num {
    pub fn get(self) -> f64 {
        match self {
            Num::Zero => 0.0,
            Num::One => 1.0,
            Num::Two => 2.0,
            Num::Half => 0.5,
            Num::Ten => 10.0,
            Num::Thousand => 1000.0,
            Num::Epoch => 1.7e12,
            Num::MaxDate => 8.64e15,
            Num::MaxBatch => 100_000.0,
            Num::MaxDelay => 2_147_483_647.0,
            Num::MaxU32 => u32::MAX as f64,
            Num::Huge => f64::MAX,
            Num::Tiny => f64::MIN_POSITIVE,
            Num::Inf => f64::INFINITY,
            Num::NegInf => f64::NEG_INFINITY,
            Num::Nan => f64::NAN,
            Num::MinusOne => -1.0,
            Num::Raw(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum ConfigInput {
    Default,
    /// Small values, as the property test draws them: every cap is reached in a few steps.
    Small(Box<Small>),
    /// Any values: most are out of range (`Engine::new` must refuse them cleanly), the rest are
    /// the extremes the ranges allow.
    Extreme(Box<Extreme>),
}

#[derive(Arbitrary, Debug)]
pub struct Small {
    size: u8,
    wait: u8,
    weight_cap: Option<u8>,
    queued: u8,
    wait_when_full: bool,
    in_flight: u8,
    per_key: Option<u8>,
    timeout: Option<u8>,
    mode: u8,
    attempts: u8,
    base_delay: u8,
    max_delay: u8,
    multiplier: u8,
    jitter: u8,
    max_retry_after: u8,
    /// (maxTokens, tokenRatio index); `None`: `budget: false`.
    budget: Option<(u8, u8)>,
    bisect: bool,
    adaptive: bool,
    /// `circuitBreaker` (failureThreshold 1..=3, resetMs 0..=29); last, so older inputs decode as before up to here.
    circuit: Option<(u8, u8)>,
}

#[derive(Arbitrary, Debug)]
pub struct Extreme {
    size: Num,
    wait: Num,
    weight_cap: Option<Num>,
    queued: Num,
    wait_when_full: bool,
    in_flight: Num,
    per_key: Option<Num>,
    timeout: Option<Num>,
    mode: u8,
    attempts: Num,
    base_delay: Num,
    max_delay: Num,
    multiplier: Num,
    jitter: u8,
    max_retry_after: Num,
    budget: Option<(Num, Num)>,
    bisect: bool,
    adaptive: bool,
    circuit: Option<(Num, Num)>,
}

fn mode(m: u8) -> ErrorMode {
    [ErrorMode::Partial, ErrorMode::FailFast, ErrorMode::Atomic][usize::from(m % 3)]
}

fn jitter(j: u8) -> Jitter {
    [Jitter::Full, Jitter::Equal, Jitter::None][usize::from(j % 3)]
}

fn when_full(wait: bool) -> WhenFull {
    if wait {
        WhenFull::Wait
    } else {
        WhenFull::Reject
    }
}

impl ConfigInput {
    pub fn config(&self) -> Config {
        match self {
            ConfigInput::Default => Config::default(),
            ConfigInput::Small(s) => {
                let n = |v: u8, hi: u8| f64::from(1 + v % hi);
                Config {
                    max_batch_size: n(s.size, 8),
                    max_wait_ms: f64::from(s.wait % 21),
                    max_batch_weight: s.weight_cap.map(|w| n(w, 6)),
                    max_queued: n(s.queued, 12),
                    when_full: when_full(s.wait_when_full),
                    max_in_flight: n(s.in_flight, 4),
                    max_in_flight_per_key: s.per_key.map(|k| n(k, 2)),
                    timeout_ms: s.timeout.map(|t| f64::from(5 + t % 36)),
                    error_mode: mode(s.mode),
                    retry: RetryConfig {
                        max_attempts: n(s.attempts, 4),
                        base_delay_ms: f64::from(s.base_delay % 11),
                        max_delay_ms: f64::from(5 + s.max_delay % 56),
                        multiplier: [1.0, 2.0, 3.0][usize::from(s.multiplier % 3)],
                        jitter: jitter(s.jitter),
                        max_retry_after_ms: f64::from(s.max_retry_after % 101),
                        budget: match s.budget {
                            None => BudgetOption::Enabled(false),
                            Some((t, r)) => BudgetOption::Config(BudgetConfig {
                                max_tokens: f64::from(4 + t % 7),
                                token_ratio: [0.0, 0.25, 0.5, 1.0, 2.0][usize::from(r % 5)],
                            }),
                        },
                    },
                    bisect: s.bisect,
                    adaptive: s.adaptive,
                    circuit_breaker: s
                        .circuit
                        .map(|(t, r)| CircuitConfig { failure_threshold: n(t, 3), reset_ms: f64::from(r % 30) }),
                }
            }
            ConfigInput::Extreme(x) => Config {
                max_batch_size: x.size.get(),
                max_wait_ms: x.wait.get(),
                max_batch_weight: x.weight_cap.map(Num::get),
                max_queued: x.queued.get(),
                when_full: when_full(x.wait_when_full),
                max_in_flight: x.in_flight.get(),
                max_in_flight_per_key: x.per_key.map(Num::get),
                timeout_ms: x.timeout.map(Num::get),
                error_mode: mode(x.mode),
                retry: RetryConfig {
                    max_attempts: x.attempts.get(),
                    base_delay_ms: x.base_delay.get(),
                    max_delay_ms: x.max_delay.get(),
                    multiplier: x.multiplier.get(),
                    jitter: jitter(x.jitter),
                    max_retry_after_ms: x.max_retry_after.get(),
                    budget: match x.budget {
                        None => BudgetOption::Enabled(false),
                        Some((t, r)) => {
                            BudgetOption::Config(BudgetConfig { max_tokens: t.get(), token_ratio: r.get() })
                        }
                    },
                },
                bisect: x.bisect,
                adaptive: x.adaptive,
                circuit_breaker: x
                    .circuit
                    .map(|(t, r)| CircuitConfig { failure_threshold: t.get(), reset_ms: r.get() }),
            },
        }
    }
}

/// One host event. Picks (`u16`) choose among what is pending (live callers, calls, routes).
#[derive(Arbitrary, Debug)]
pub enum Op {
    Add {
        key: KeyPick,
        weight: Weight,
        deadline: Option<Deadline>,
        dedupe: Option<u8>,
    },
    /// Many adds in one turn (unit weight): fills batches and queues fast. On the default queue
    /// without dedupe they go in bulk, as the shell's plain adds (`reserve_plain`,
    /// `add_reserved`: the engine keeps them as runs of ids).
    Burst {
        key: KeyPick,
        n: u8,
        dedupe: bool,
    },
    /// The `AbortSignal` of a live caller fires.
    Cancel(u16),
    /// A cancel for any id: accepted only for a live caller.
    CancelId(u32),
    /// The pending microtask runs (`handle_time` after a `Tick`).
    Tick,
    /// The host timer fires at `poll_timeout()`.
    Wake,
    /// The clock moves on; with `fire`, a timer that fell due meanwhile fires (late).
    Advance {
        ms: Ms,
        fire: bool,
    },
    /// `Date.now()` steps back (the system clock was set back).
    ClockBack(u16),
    Complete {
        pick: u16,
        results: Vec<ItemRes>,
    },
    CompleteOk(u16),
    Fail {
        pick: u16,
        failure: FailInput,
    },
    Route {
        pick: u16,
        keys: Vec<RouteKey>,
    },
    RouteFailed(u16),
    Flush,
    Close,
    Bad(Bad),
}

#[derive(Arbitrary, Debug)]
pub enum KeyPick {
    Default,
    Name(u8),
    Unrouted,
    /// Any key id: valid only if it is one the engine gave out and has not released.
    Id(u32),
}

#[derive(Arbitrary, Debug)]
pub enum Weight {
    Unit,
    Small(u8),
    Tenths(u8),
    Num(Num),
}

impl Weight {
    pub fn get(&self) -> f64 {
        match *self {
            Weight::Unit => 1.0,
            Weight::Small(v) => f64::from(v % 8),
            Weight::Tenths(v) => f64::from(v) / 10.0,
            Weight::Num(n) => n.get(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Deadline {
    /// now + ms − 5.
    Soon(u8),
    Later(u16),
    Num(Num),
}

impl Deadline {
    pub fn at(&self, now: f64) -> f64 {
        match *self {
            Deadline::Soon(ms) => now + f64::from(ms) - 5.0,
            Deadline::Later(ms) => now + f64::from(ms),
            Deadline::Num(n) => n.get(),
        }
    }
}

#[derive(Arbitrary, Debug)]
pub enum Ms {
    Small(u8),
    Large(u16),
    Num(Num),
}

impl Ms {
    /// A forward step (NaN and negative steps become 0: `Date.now()` never is NaN).
    pub fn get(&self) -> f64 {
        let v = match *self {
            Ms::Small(v) => f64::from(v),
            Ms::Large(v) => f64::from(v) * 100.0,
            Ms::Num(n) => n.get(),
        };
        if v > 0.0 {
            v
        } else {
            0.0
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum ItemRes {
    Ok,
    Err,
    Retryable(Option<Num>),
}

impl ItemRes {
    pub fn result(self) -> ItemResult {
        match self {
            ItemRes::Ok => ItemResult::Ok,
            ItemRes::Err => ItemResult::Err { retryable: false, retry_after_ms: None },
            // The shell passes NaN as "no hint".
            ItemRes::Retryable(hint) => {
                ItemResult::Err { retryable: true, retry_after_ms: hint.map(Num::get).filter(|h| !h.is_nan()) }
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
pub struct FailInput {
    kind: u8,
    retryable: Option<bool>,
    status: Option<Status>,
    retry_after: Option<Num>,
    class: Option<u8>,
}

#[derive(Arbitrary, Debug)]
pub enum Status {
    Http(u8),
    Num(Num),
}

impl FailInput {
    pub fn failure(&self) -> Failure {
        let status = self.status.as_ref().map(|s| match *s {
            Status::Http(i) => [400.0, 408.0, 413.0, 422.0, 429.0, 500.0, 503.0][usize::from(i % 7)],
            Status::Num(n) => n.get(),
        });
        Failure {
            kind: [FailureKind::Thrown, FailureKind::Timeout, FailureKind::ResultShape][usize::from(self.kind % 3)],
            retryable: self.retryable,
            status: status.filter(|s| !s.is_nan()),
            retry_after_ms: self.retry_after.map(Num::get).filter(|h| !h.is_nan()),
            class: self.class.map(|c| [Class::Retry, Class::Bisect, Class::Fail][usize::from(c % 3)]),
        }
    }
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum RouteKey {
    Name(u8),
    Default,
    /// `resolveKeys` gave no key for the item.
    None,
    /// Any key id (a stale one fails the item with E_ROUTE).
    Id(u32),
}

/// Inputs the engine must refuse with an error, changing nothing.
#[derive(Arbitrary, Debug)]
pub enum Bad {
    /// An outcome for a call that has ended (or never existed).
    LateComplete(u64),
    LateFail(u64),
    /// A result count other than the batch size.
    WrongCount {
        pick: u16,
        extra: u8,
    },
    LateRoute(u64),
    RouteWrongCount {
        pick: u16,
        extra: u8,
    },
}
