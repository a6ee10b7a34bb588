//! Property tests of the engine through its public API.
//!
//! Each case builds a random [`Config`] and drives the engine with a random interleaving of
//! adds (default key, interned names, `UNROUTED` for `resolveKeys`; random weights near the
//! weight cap, deadlines, dedupe strings), cancels, ticks, time steps, transport outcomes
//! (all ok, mixed per-item results, batch-level failures), late and malformed outcomes,
//! `resolveKeys` answers, flushes, calls started by `call_now`, and a final `close()` driven to
//! completion.
//!
//! A reference model shadows the engine: it knows every item's slot and state, every call in
//! flight, the retry budget's tokens, every pending flush. After every engine call the outputs
//! are checked against the model and the invariants listed in [`H::check`], [`H::on_dispatch`],
//! [`H::outcome`] and friends are asserted (each stated in a comment where it is checked).
//!
//! One restriction keeps the model exact: an add that will wait for room (`whenFull: "wait"`)
//! to a *known* key gets no dedupe string. When such a waiter is admitted while the batch that
//! carries its would-be primary is being cut, the outputs do not say whether it joined that
//! primary (the `Admitted` output precedes that batch's `Dispatch` output either way). Waiters
//! to `UNROUTED` keep their dedupe strings: they join a slot in `route_done`, which the model
//! follows exactly. Likewise a `route_done` that fails some items fails a suffix of them, so
//! that every routed item has entered its queue before any output of that call.
//!
//! `HB_TRACE=1` prints every op and every engine output (for replaying a shrunk failure).

// Native only (proptest is a host dev-dependency); the wasm shell has tests/wasm_shell.rs.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use hyperbatch::engine::{
    AddError, Admission, BatchEnd, BatchId, BudgetConfig, BudgetOption, Class, Config, Dispatch, Engine, ErrorCode,
    ErrorMode, Failure, FailureKind, FlushId, InputError, ItemId, ItemResult, Jitter, KeyId, Outcome, Output,
    RetryConfig, Rng, RouteId, Stats, WhenFull, DEFAULT_KEY, UNROUTED,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};

const CASES: u32 = 256;
const OPS: std::ops::Range<usize> = 1..1200;

static STEPS: AtomicU64 = AtomicU64::new(0);
/// How often the interesting paths ran: printed with the step count, and each must reach its
/// minimum in a full run (a generator change that starves a path fails the test).
const SEEN_LEN: usize = 22;
static SEEN: [AtomicU64; SEEN_LEN] = [const { AtomicU64::new(0) }; SEEN_LEN];
/// (name, minimum over a full run of [`CASES`] cases; a typical run sees 10–1000× more).
const SEEN_NAMES: [(&str, u64); SEEN_LEN] = [
    ("dispatches", 5000),
    ("resends", 500),
    ("joins", 50),
    ("admitted", 200),
    ("routes", 500),
    ("bisects", 5),
    ("throttled", 100),
    ("timeouts", 200),
    ("expired", 200),
    ("keys released", 1000),
    ("flushes done", 200),
    ("max slots", 100),
    ("abandoned", 100),
    ("sent by size", 500),
    ("sent by window", 500),
    ("sent by deadline", 50),
    ("sent by backpressure", 100),
    ("cancels", 500),
    ("full default-size batches", 3),
    ("default configs", 10),
    ("adaptive first sends", 500),
    ("direct calls", 200),
];
const JOINS: usize = 2;
const ADMITTED: usize = 3;
const ROUTES: usize = 4;
const TIMEOUTS: usize = 7;
const EXPIRED: usize = 8;
const KEYS_RELEASED: usize = 9;
const FLUSHES: usize = 10;
const MAX_SLOTS: usize = 11;
const ABANDONED: usize = 12;
const BY_SIZE: usize = 13;
const BY_WINDOW: usize = 14;
const BY_DEADLINE: usize = 15;
const BY_PRESSURE: usize = 16;
const CANCELS: usize = 17;
const DEFAULT_SIZE_FULL: usize = 18;
const DEFAULT_CONFIGS: usize = 19;
const ADAPTIVE_SENDS: usize = 20;
const DIRECT_CALLS: usize = 21;

type R<T = ()> = Result<T, TestCaseError>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        {
            let ok: bool = $cond;
            if !ok {
                return Err(TestCaseError::fail(format!($($fmt)+)));
            }
        }
    };
}

const NAMES: [&str; 3] = ["a", "b", "c"];
const ROUTE_NAMES: [&str; 4] = ["a", "b", "c", "r"];
const DEDUPE: [&str; 3] = ["d0", "d1", "d2"];

// ------------------------------------------------------------------------------------ inputs

#[derive(Clone, Debug)]
enum Op {
    /// `key`: 0 default, 1..=3 a name, 4 `UNROUTED`. `deadline`: now + v − 3 ms.
    Add {
        key: u8,
        weight: u8,
        deadline: Option<u8>,
        dedupe: Option<u8>,
    },
    AddInvalid(u8),
    Cancel(u16),
    /// Cancel an id whose caller is not live (free or held): must be refused.
    CancelStale(u16),
    /// The microtask runs: `handle_time(now)` if a `Tick` is pending.
    Tick,
    /// The host timer fires on time: now = poll_timeout(), `handle_time(now)`.
    Wake,
    /// The clock moves; with `fire`, a timer that fell due meanwhile fires (late).
    Advance {
        ms: u8,
        fire: bool,
    },
    Outcome {
        pick: u16,
        how: How,
    },
    /// An outcome for a call that is over (or never existed): refused.
    Late {
        pick: u16,
        fail: bool,
    },
    /// A result count that differs from the batch size: refused, nothing changes.
    WrongCount(u16),
    Route {
        pick: u16,
        how: RouteHow,
    },
    LateRoute(u16),
    Flush,
    /// `n` adds of weight 0 in one turn to one key: queues reach maxBatchSize, even 100.
    Burst {
        key: u8,
        n: u8,
    },
    /// `add_plain(key)`: as `Add { key, weight: 2, .. }` (weight 1, no deadline, no dedupe), by a
    /// host that never cancels it.
    AddPlain(u8),
    /// Plain adds in bulk: `reserve_plain(max)`, then `add_reserved` of `take` of those ids,
    /// with one deadline for all (now + v − 3 ms) or none.
    Plain {
        max: u8,
        take: u8,
        deadline: Option<u8>,
    },
    /// `call_now`: one plain item sent at once in a call the host makes itself.
    CallNow,
}

#[derive(Clone, Debug)]
enum How {
    AllOk,
    Mixed(u64),
    Fail { shape: bool, retryable: u8, status: u8, class: u8, retry_after: Option<u8> },
}

#[derive(Clone, Debug)]
enum RouteHow {
    Keys(u64),
    FailSuffix(u64),
    Failed,
    WrongCount,
}

fn config_strategy() -> impl Strategy<Value = Config> {
    let shape = (
        prop_oneof![6 => 1u32..=8, 1 => 9u32..=40, 1 => Just(100)],
        prop_oneof![Just(0.0), (1u32..=20).prop_map(f64::from)],
        prop_oneof![Just(None), (2u32..=6).prop_map(|w| Some(f64::from(w)))],
        prop_oneof![6 => 1u32..=12, 1 => 13u32..=200, 1 => Just(10_000)],
        any::<bool>(),
        1u32..=4,
        prop_oneof![Just(None), Just(Some(1.0)), Just(Some(2.0))],
        prop_oneof![2 => Just(None), 1 => (5u32..=40).prop_map(|t| Some(f64::from(t)))],
        prop_oneof![3 => Just(false), 1 => Just(true)],
    );
    let retry = (
        0u8..3,
        prop_oneof![5 => 1u32..=4, 1 => 5u32..=8],
        prop_oneof![
            1 => Just(BudgetOption::Enabled(false)),
            2 => (4u32..=10, 0usize..5).prop_map(|(t, r)| BudgetOption::Config(BudgetConfig {
                max_tokens: f64::from(t),
                token_ratio: [0.0, 0.25, 0.5, 1.0, 2.0][r],
            })),
            1 => Just(BudgetOption::Config(BudgetConfig::default())),
        ],
        any::<bool>(),
        (
            prop_oneof![4 => 0u32..=10, 1 => Just(50)],
            prop_oneof![4 => 5u32..=60, 1 => Just(5000)],
            0usize..3,
            0usize..3,
            0u32..=100,
        ),
    );
    let generated = (shape, retry).prop_map(
        |(
            (size, wait, weight, queued, wait_when_full, in_flight, per_key, timeout, adaptive),
            (mode, attempts, budget, bisect, (base, max_delay, mult, jitter, max_ra)),
        )| Config {
            max_batch_size: f64::from(size),
            max_wait_ms: wait,
            max_batch_weight: weight,
            max_queued: f64::from(queued),
            when_full: if wait_when_full { WhenFull::Wait } else { WhenFull::Reject },
            max_in_flight: f64::from(in_flight),
            max_in_flight_per_key: per_key,
            timeout_ms: timeout,
            error_mode: [ErrorMode::Partial, ErrorMode::FailFast, ErrorMode::Atomic][mode as usize],
            retry: RetryConfig {
                max_attempts: f64::from(attempts),
                base_delay_ms: f64::from(base),
                max_delay_ms: f64::from(max_delay),
                multiplier: [1.0, 2.0, 3.0][mult],
                jitter: [Jitter::Full, Jitter::Equal, Jitter::None][jitter],
                max_retry_after_ms: f64::from(max_ra),
                budget,
            },
            bisect,
            adaptive,
            // The circuit breaker has its own property test (tests/circuit_props.rs).
            circuit_breaker: None,
        },
    );
    // The defaults as they are.
    prop_oneof![9 => generated, 1 => Just(Config::default())]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let how = prop_oneof![
        5 => Just(How::AllOk),
        3 => any::<u64>().prop_map(How::Mixed),
        4 => (any::<bool>(), 0u8..3, 0u8..7, 0u8..5, proptest::option::of(0u8..40)).prop_map(
            |(shape, retryable, status, class, retry_after)| How::Fail {
                shape,
                retryable,
                status,
                class,
                retry_after,
            }
        ),
    ];
    let route = prop_oneof![
        4 => any::<u64>().prop_map(RouteHow::Keys),
        2 => any::<u64>().prop_map(RouteHow::FailSuffix),
        1 => Just(RouteHow::Failed),
        1 => Just(RouteHow::WrongCount),
    ];
    prop_oneof![
        30 => (0u8..5, 0u8..14, proptest::option::weighted(0.3, 0u8..80),
               proptest::option::weighted(0.4, 0u8..2))
            .prop_map(|(key, weight, deadline, dedupe)| Op::Add { key, weight, deadline, dedupe }),
        12 => (0u8..5).prop_map(Op::AddPlain),
        1 => any::<u8>().prop_map(Op::AddInvalid),
        5 => any::<u16>().prop_map(Op::Cancel),
        1 => any::<u16>().prop_map(Op::CancelStale),
        8 => Just(Op::Tick),
        12 => Just(Op::Wake),
        6 => (0u8..30, prop_oneof![4 => Just(true), 1 => Just(false)])
            .prop_map(|(ms, fire)| Op::Advance { ms, fire }),
        22 => (any::<u16>(), how).prop_map(|(pick, how)| Op::Outcome { pick, how }),
        2 => (any::<u16>(), any::<bool>()).prop_map(|(pick, fail)| Op::Late { pick, fail }),
        1 => any::<u16>().prop_map(Op::WrongCount),
        6 => (any::<u16>(), route).prop_map(|(pick, how)| Op::Route { pick, how }),
        1 => any::<u16>().prop_map(Op::LateRoute),
        2 => Just(Op::Flush),
        1 => (0u8..4, 1u8..=110).prop_map(|(key, n)| Op::Burst { key, n }),
        3 => (1u8..=120, any::<u8>(), proptest::option::weighted(0.4, 0u8..80))
            .prop_map(|(max, take, deadline)| Op::Plain { max, take, deadline }),
        3 => Just(Op::CallNow),
    ]
}

// ------------------------------------------------------------------------------------ model

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    /// Waiting for room; the number is its place in line.
    Waiting(u64),
    /// In its key's queue (or the routing queue), never sent.
    Queued,
    /// Being classified by a `resolveKeys` call.
    Routing(RouteId),
    /// Shares the slot of this primary (dedupe).
    Follower(ItemId),
    InFlight(BatchId),
    /// Sent before, to be sent again (backoff, re-queued, or a unit). `bisect` = the attempt a
    /// bisect half must go out at.
    Resend {
        bisect: Option<u32>,
    },
}

#[derive(Clone, Debug)]
struct Slot {
    /// Unique per accepted add: ids are reused, uids are not.
    uid: u64,
    /// The caller has not settled yet. A slot whose caller settled is "held" (followers).
    caller_live: bool,
    key: KeyId,
    weight: f64,
    deadline: Option<f64>,
    dedupe: Option<u8>,
    st: St,
    attempt: u32,
    sends: u32,
    followers: Vec<ItemId>,
    /// When it entered its current key's queue (global order) and at what time.
    enter: u64,
    entered_at: f64,
    /// It waited for room: once admitted it goes with its key's next batch.
    admitted: bool,
    /// Added in bulk (`add_reserved`) or by `add_plain`: no signal, so never cancelled (the
    /// engine keeps such items as runs, out of `cancel`'s reach).
    bulk: bool,
}

impl Slot {
    /// A new add just queued, plain (default key, weight 1, no deadline or dedupe) unless the
    /// caller sets those fields; `enter` is set by `Model::enter`.
    fn plain(uid: u64) -> Self {
        Slot {
            uid,
            caller_live: true,
            key: DEFAULT_KEY,
            weight: 1.0,
            deadline: None,
            dedupe: None,
            st: St::Queued,
            attempt: 1,
            sends: 0,
            followers: Vec::new(),
            enter: 0,
            entered_at: 0.0,
            admitted: false,
            bulk: false,
        }
    }
}

#[derive(Clone, Debug)]
struct Flight {
    key: KeyId,
    entries: Vec<(ItemId, u64)>,
    attempt: u32,
    weight: f64,
    started: f64,
    timed_out: bool,
    abandoned: bool,
    /// Started by `call_now`: neither its Dispatch nor its success nor its BatchEnd is output.
    direct: bool,
}

enum Resp {
    Complete(Vec<ItemResult>),
    Fail(Failure),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Settle(Outcome),
    Retry,
    Bisect,
}

struct H {
    e: Engine,
    cfg: Config,
    now: f64,
    slots: BTreeMap<ItemId, Slot>,
    next_uid: u64,
    next_enter: u64,
    next_wseq: u64,
    last_first_send: BTreeMap<KeyId, u64>,
    flights: BTreeMap<BatchId, Flight>,
    /// The call whose outcome is being given, with its entries: what `Output::Succeeded` settles.
    completing: Option<(BatchId, Vec<(ItemId, u64)>)>,
    ended: Vec<BatchId>,
    last_batch: BatchId,
    routes: BTreeMap<RouteId, Vec<(ItemId, u64)>>,
    /// When each route call went out: past `timeoutMs` its items still routing fail (E_TIMEOUT).
    route_at: BTreeMap<RouteId, f64>,
    ended_routes: Vec<RouteId>,
    last_route: RouteId,
    names: BTreeMap<&'static str, KeyId>,
    tick_pending: bool,
    /// An `Output::TurnEnd` is out (a `maxWaitMs: 0` window closes at the end of the turn).
    turn_end_pending: bool,
    /// Outputs of `handle_time` are being processed.
    in_time: bool,
    tokens: f64,
    flushes: BTreeMap<FlushId, BTreeSet<u64>>,
    last_flush: FlushId,
    closed: bool,
    /// The ids `reserve_plain` holds for plain adds.
    reserved: Vec<ItemId>,
    close_flush: Option<FlushId>,
    close_done: bool,
    timed_out: Vec<BatchId>,
    accepted: u64,
    succeeded: u64,
    failed: u64,
    batches: u64,
    retries: u64,
    bisects: u64,
    throttled: u64,
    steps: u64,
    /// Each key's running estimate of its call time, by name ("" for the default queue), as
    /// the contract defines it: an EWMA of its calls' durations (weight 1/4 for the newest).
    call_times: BTreeMap<&'static str, f64>,
    /// Backpressure held when the engine call whose outputs are being drained was made.
    pressure_before: bool,
    /// The oldest item of the last first-send batch of the engine call being drained.
    last_oldest: Option<u64>,
    /// Outputs of the last engine call.
    log: Vec<Output>,
    /// Coverage counters, see [`SEEN_NAMES`].
    seen: [u64; SEEN_LEN],
}

/// The Settle and Release outputs of a call, leaving out E_DEADLINE settles (checked in
/// [`H::on_settle`]): a queue cut by any input expires callers whose deadline `now` shows passed.
fn settles_of(log: &[Output]) -> Vec<Output> {
    log.iter()
        .filter(|o| match o {
            Output::Settle { outcome, .. } => *outcome != Outcome::Code(ErrorCode::Deadline),
            o => matches!(o, Output::Release { .. } | Output::Succeeded { .. }),
        })
        .cloned()
        .collect()
}

impl H {
    fn new(cfg: Config, seed: u64) -> H {
        let e = Engine::new(cfg.clone(), seed).expect("generated configs are valid");
        let tokens = cfg.retry.budget().map_or(0.0, |b| b.max_tokens);
        H {
            e,
            cfg,
            now: 1000.0,
            slots: BTreeMap::new(),
            next_uid: 0,
            next_enter: 0,
            next_wseq: 0,
            last_first_send: BTreeMap::new(),
            flights: BTreeMap::new(),
            completing: None,
            reserved: Vec::new(),
            ended: Vec::new(),
            last_batch: 0,
            routes: BTreeMap::new(),
            route_at: BTreeMap::new(),
            ended_routes: Vec::new(),
            last_route: 0,
            names: BTreeMap::new(),
            tick_pending: false,
            turn_end_pending: false,
            in_time: false,
            tokens,
            flushes: BTreeMap::new(),
            last_flush: 0,
            closed: false,
            close_flush: None,
            close_done: false,
            timed_out: Vec::new(),
            accepted: 0,
            succeeded: 0,
            failed: 0,
            batches: 0,
            retries: 0,
            bisects: 0,
            throttled: 0,
            steps: 0,
            log: Vec::new(),
            call_times: BTreeMap::new(),
            pressure_before: false,
            last_oldest: None,
            seen: [0; SEEN_LEN],
        }
    }

    /// Backpressure: `queued` is at `maxQueued`, or adds wait for room.
    fn pressure(&self) -> bool {
        let queued = self.slots.values().filter(|s| matches!(s.st, St::Queued | St::Routing(_))).count();
        queued >= self.cfg.max_queued as usize || self.slots.values().any(|s| matches!(s.st, St::Waiting(_)))
    }

    fn key_label(&self, key: KeyId) -> &'static str {
        match key {
            UNROUTED => "(unrouted)",
            DEFAULT_KEY => "",
            k => self.names.iter().find(|(_, &v)| v == k).map_or("(released)", |(&n, _)| n),
        }
    }

    /// How long before an item's deadline its queue must dispatch: the key's call-time
    /// estimate, never below 10 ms (10 ms before any of its calls ended).
    fn lead(&self, key: KeyId) -> f64 {
        self.call_times.get(self.key_label(key)).map_or(10.0, |&m| m.max(10.0))
    }

    fn record_call_time(&mut self, key: KeyId, duration: f64) {
        let label = self.key_label(key);
        let sample = duration.max(0.0);
        let mean = self.call_times.get(label).map_or(sample, |&m| m + 0.25 * (sample - m));
        self.call_times.insert(label, mean);
    }

    /// A slot's deadline as a call carries it: the earliest of its callers still waiting, its
    /// own (unless it settled: aborted, expired) and its dedupe followers' (audit15).
    fn slot_deadline(&self, s: &Slot) -> f64 {
        let own = if s.caller_live { s.deadline.unwrap_or(f64::INFINITY) } else { f64::INFINITY };
        s.followers.iter().filter_map(|f| self.slots.get(f).and_then(|f| f.deadline)).fold(own, f64::min)
    }

    /// The queue of this never-sent item must send now because of its deadline.
    fn deadline_due(&self, s: &Slot) -> bool {
        s.caller_live && s.deadline.is_some_and(|d| d - self.lead(s.key) <= self.now)
    }

    /// Whether `key` may start a call now (the routing queue always may).
    fn room(&self, key: KeyId) -> bool {
        if key == UNROUTED {
            return true;
        }
        let on_key = self.flights.values().filter(|f| f.key == key).count();
        let per_key = self.cfg.max_in_flight_per_key.map_or(usize::MAX, |n| n as usize);
        self.flights.len() < self.cfg.max_in_flight as usize && on_key < per_key
    }

    fn batch_size(&self) -> usize {
        self.cfg.max_batch_size as usize
    }
    fn max_attempts(&self) -> u32 {
        self.cfg.retry.max_attempts as u32
    }
    fn slot_live(&self, id: ItemId, uid: u64) -> bool {
        self.slots.get(&id).is_some_and(|s| s.uid == uid)
    }
    fn live_callers(&self) -> Vec<ItemId> {
        self.slots.iter().filter(|(_, s)| s.caller_live).map(|(&i, _)| i).collect()
    }
    fn live_uids(&self) -> BTreeSet<u64> {
        self.slots.values().filter(|s| s.caller_live).map(|s| s.uid).collect()
    }

    /// The queued, never-sent slot an add with this dedupe string joins, if any.
    fn dedupe_slot(&self, key: KeyId, d: u8, except: ItemId) -> R<Option<ItemId>> {
        let found: Vec<ItemId> = self
            .slots
            .iter()
            .filter(|&(&i, s)| i != except && s.key == key && s.dedupe == Some(d) && s.st == St::Queued)
            .map(|(&i, _)| i)
            .collect();
        // Model invariant: a key has at most one open dedupe slot per string.
        ensure!(found.len() <= 1, "two open dedupe slots {found:?}");
        Ok(found.first().copied())
    }

    fn intern(&mut self, name: &'static str) -> R<KeyId> {
        let k = self.e.intern(name);
        match self.names.get(name) {
            // An interned name keeps its id until KeyReleased names it.
            Some(&old) => ensure!(old == k, "intern({name}) = {k}, was {old}"),
            None => {
                ensure!(
                    k > DEFAULT_KEY && !self.names.values().any(|&v| v == k),
                    "intern({name}) returned id {k} that is in use"
                );
                self.names.insert(name, k);
            }
        }
        Ok(k)
    }

    /// The item enters its key's queue (or joins the open dedupe slot there).
    fn enter(&mut self, id: ItemId) -> R {
        let (key, dedupe) = {
            let s = &self.slots[&id];
            (s.key, s.dedupe)
        };
        if key != UNROUTED {
            if let Some(d) = dedupe {
                if let Some(p) = self.dedupe_slot(key, d, id)? {
                    self.slots.get_mut(&id).unwrap().st = St::Follower(p);
                    self.slots.get_mut(&p).unwrap().followers.push(id);
                    self.seen[JOINS] += 1;
                    return Ok(());
                }
            }
        }
        let enter = self.next_enter;
        self.next_enter += 1;
        let s = self.slots.get_mut(&id).unwrap();
        s.st = St::Queued;
        s.admitted = false; // routed on: a new arrival in its key's queue
        s.enter = enter;
        s.entered_at = self.now;
        Ok(())
    }

    // -------------------------------------------------------------------------- outputs

    fn drain(&mut self) -> R {
        self.log.clear();
        self.pressure_before = self.pressure();
        self.last_oldest = None;
        while let Some(o) = self.e.poll_output() {
            self.log.push(o.clone());
            if std::env::var_os("HB_TRACE").is_some() {
                eprintln!("  {:.3} {o:?}", self.now);
            }
            match o {
                Output::Dispatch(d) => self.on_dispatch(d)?,
                Output::Route { route, items } => self.on_route(route, items)?,
                Output::Settle { item, outcome, release } => self.on_settle(item, outcome, release)?,
                Output::Succeeded { batch } => self.on_succeeded(batch)?,
                Output::Release { item } => self.on_release(item)?,
                Output::CallTimedOut { batch } => self.on_timed_out(batch)?,
                Output::Abandoned { batch } => self.on_abandoned(batch)?,
                Output::BatchEnd(_) => {}
                Output::CircuitChange { .. } => ensure!(false, "a circuit change without circuitBreaker"),
                Output::Admitted { item } => self.on_admitted(item)?,
                Output::KeyReleased { key } => self.on_key_released(key)?,
                Output::Flushed { flush } => self.on_flushed(flush)?,
                Output::Tick => {
                    // One microtask at a time: no second Tick while one is pending.
                    ensure!(!self.tick_pending, "a second Tick while one is pending");
                    self.tick_pending = true;
                }
                Output::TurnEnd => {
                    // Asked once, and never when a wake-up at least as early is pending.
                    ensure!(!self.tick_pending && !self.turn_end_pending, "TurnEnd while a wake-up is pending");
                    ensure!(self.cfg.max_wait_ms == 0.0 || self.cfg.adaptive, "TurnEnd without a zero window");
                    self.turn_end_pending = true;
                }
            }
        }
        Ok(())
    }

    /// One record for a whole call: each of its items settles with its own entry.
    fn on_succeeded(&mut self, batch: BatchId) -> R {
        let Some((b, entries)) = self.completing.clone() else {
            return Err(TestCaseError::fail(format!("Succeeded for call {batch} outside its outcome")));
        };
        ensure!(b == batch, "Succeeded for call {batch} while completing {b}");
        for (i, &(id, uid)) in entries.iter().enumerate() {
            ensure!(self.slot_live(id, uid), "Succeeded for call {batch}, but its item {id} left it");
            self.on_settle(id, Outcome::Ok { index: i as u32 }, true)?;
        }
        Ok(())
    }

    fn on_settle(&mut self, item: ItemId, outcome: Outcome, release: bool) -> R {
        // Invariant: every accepted item settles exactly once — a Settle names an accepted
        // caller that has not settled yet (never an unknown, free or already settled id).
        let Some(s) = self.slots.get(&item) else {
            return Err(TestCaseError::fail(format!("Settle for unknown item {item}")));
        };
        ensure!(s.caller_live, "second Settle for item {item}");
        let (uid, st, no_followers) = (s.uid, s.st, s.followers.is_empty());
        if outcome == Outcome::Code(ErrorCode::Deadline) {
            self.seen[EXPIRED] += 1;
            // E_DEADLINE only once the deadline has passed; outside `handle_time` (whose timers
            // expire anyone), only for an item being taken off its queue for a send.
            ensure!(
                s.deadline.is_some_and(|d| self.now > d),
                "item {item} expired at {} before its deadline {:?}",
                self.now,
                s.deadline
            );
            ensure!(
                self.in_time || matches!(st, St::Queued | St::Resend { .. }),
                "item {item} ({st:?}) expired outside handle_time"
            );
        }
        for set in self.flushes.values_mut() {
            set.remove(&uid);
        }
        if outcome.is_ok() {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        if let St::Follower(p) = st {
            ensure!(release, "a follower's Settle must release it ({item})");
            self.slots.remove(&item);
            let Some(ps) = self.slots.get_mut(&p) else {
                return Err(TestCaseError::fail(format!("follower {item} rode on a freed slot {p}")));
            };
            ps.followers.retain(|&f| f != item);
        } else if release {
            // A slot is freed only once no follower rides on it.
            ensure!(no_followers, "slot {item} released while followers ride on it");
            self.slots.remove(&item);
        } else {
            ensure!(!no_followers, "Settle without release for {item}, which has no followers");
            self.slots.get_mut(&item).unwrap().caller_live = false;
        }
        Ok(())
    }

    fn on_release(&mut self, item: ItemId) -> R {
        // A Release frees a held slot (caller settled) whose last follower is gone.
        let Some(s) = self.slots.get(&item) else {
            return Err(TestCaseError::fail(format!("Release of unknown slot {item}")));
        };
        ensure!(!s.caller_live, "Release of slot {item} whose caller is unsettled");
        ensure!(s.followers.is_empty(), "Release of slot {item} with followers");
        self.slots.remove(&item);
        Ok(())
    }

    /// Invariant: dispatch is FIFO per key — the first sends of a key's items happen in the
    /// order they entered that key's queue, and no older never-sent item is skipped.
    fn fifo(&mut self, key: KeyId, items: &[ItemId], firsts: &[u64]) -> R {
        let mut last = self.last_first_send.get(&key).copied();
        for &e in firsts {
            if let Some(l) = last {
                ensure!(e > l, "FIFO broken on key {key}: entry #{e} sent after #{l} (items {items:?})");
            }
            last = Some(e);
        }
        if let Some(newest) = last.filter(|_| !firsts.is_empty()) {
            if let Some((id, s)) = self
                .slots
                .iter()
                .find(|&(i, s)| s.key == key && s.st == St::Queued && s.enter < newest && !items.contains(i))
            {
                return Err(TestCaseError::fail(format!(
                    "FIFO broken on key {key}: {items:?} sent while older item {id} \
                     (entry #{}) stays queued",
                    s.enter
                )));
            }
            self.last_first_send.insert(key, newest);
        }
        Ok(())
    }

    fn on_dispatch(&mut self, d: Dispatch) -> R {
        ensure!(d.batch > self.last_batch, "batch id {} not fresh", d.batch);
        self.last_batch = d.batch;
        ensure!(
            d.key == DEFAULT_KEY || self.names.values().any(|&k| k == d.key),
            "Dispatch on a key that is not interned: {d:?}"
        );
        let n = d.items.len();
        // Invariant: no batch is empty or exceeds maxBatchSize.
        ensure!((1..=self.batch_size()).contains(&n), "batch of {n} items, maxBatchSize {}", self.batch_size());
        let (mut weight, mut attempt, mut deadline) = (0.0, 0u32, f64::INFINITY);
        let mut firsts = Vec::new();
        let mut entries = Vec::with_capacity(n);
        for (i, &id) in d.items.iter().enumerate() {
            ensure!(!d.items[..i].contains(&id), "item {id} twice in {d:?}");
            let Some(s) = self.slots.get(&id) else {
                return Err(TestCaseError::fail(format!("Dispatch of a free slot {id}: {d:?}")));
            };
            ensure!(s.key == d.key, "item {id} of key {} sent on key {}", s.key, d.key);
            match s.st {
                St::Queued => firsts.push(s.enter),
                St::Resend { bisect } => {
                    // A bisect half goes out at the attempt of the call that failed.
                    if let Some(a) = bisect {
                        ensure!(s.attempt == a, "bisect half item {id} changed attempt");
                    }
                }
                // Dedupe followers never dispatch; nothing is sent twice at once; waiting
                // and routing items are not in a key's queue yet.
                st => return Err(TestCaseError::fail(format!("item {id} in state {st:?} dispatched: {d:?}"))),
            }
            // Invariant: an item whose deadline has passed is never sent.
            if let (true, Some(dl)) = (s.caller_live, s.deadline) {
                ensure!(self.now <= dl, "item {id} sent at {} after its deadline {dl}", self.now);
            }
            weight += s.weight;
            attempt = attempt.max(s.attempt);
            deadline = deadline.min(self.slot_deadline(s));
            entries.push((id, s.uid));
        }
        ensure!(d.attempt == attempt, "Dispatch.attempt {} but items are at attempt {attempt}", d.attempt);
        // Invariant: Dispatch.attempt never exceeds retry.maxAttempts.
        ensure!(d.attempt >= 1 && d.attempt <= self.max_attempts(), "attempt {} > maxAttempts", d.attempt);
        ensure!((d.weight - weight).abs() < 1e-9, "weight {} != {weight}", d.weight);
        // Invariant: no batch exceeds maxBatchWeight unless it holds a single item.
        if let Some(cap) = self.cfg.max_batch_weight {
            ensure!(n == 1 || d.weight <= cap + 1e-9, "weight {} > cap {cap}", d.weight);
        }
        ensure!(
            d.deadline == deadline.is_finite().then_some(deadline),
            "Dispatch.deadline {:?}, earliest {deadline}",
            d.deadline
        );
        self.fifo(d.key, &d.items, &firsts)?;
        // Invariant: FIFO per key, resends included — a batch lists its items in the order they
        // entered their key's queue (a retried item keeps its place among its key's items).
        let enters: Vec<u64> = d.items.iter().map(|id| self.slots[id].enter).collect();
        ensure!(enters.windows(2).all(|w| w[0] < w[1]), "batch {} out of queue order: entries {enters:?}", d.batch);
        if firsts.len() == n {
            // Invariant: order across keys — within one engine call's outputs, first-send
            // batches come out by the arrival of their oldest item (the queue whose oldest item
            // arrived first dispatches first).
            let oldest = firsts.iter().copied().min().unwrap();
            if let Some(last) = self.last_oldest {
                ensure!(
                    oldest > last,
                    "batch {} (oldest entry #{oldest}) sent after one whose oldest is #{last}",
                    d.batch
                );
            }
            self.last_oldest = Some(oldest);
            let lead = self.lead(d.key);
            let wait = self.cfg.max_wait_ms;
            let why = if n == self.batch_size() {
                if n == 100 {
                    self.seen[DEFAULT_SIZE_FULL] += 1;
                }
                BY_SIZE
            } else if d.items.iter().any(|id| self.slots[id].deadline.is_some_and(|dl| dl - lead <= self.now)) {
                BY_DEADLINE
            } else if self.in_time && d.items.iter().any(|id| self.slots[id].entered_at + wait <= self.now) {
                BY_WINDOW
            } else if self.pressure_before {
                BY_PRESSURE
            } else {
                0
            };
            if why != 0 {
                self.seen[why] += 1;
            }
            if self.cfg.adaptive {
                self.seen[ADAPTIVE_SENDS] += 1;
            }
        }
        for &id in &d.items {
            let s = self.slots.get_mut(&id).unwrap();
            if s.sends > 0 {
                self.retries += 1;
            }
            s.sends += 1;
            s.st = St::InFlight(d.batch);
        }
        self.batches += 1;
        self.flights.insert(
            d.batch,
            Flight {
                key: d.key,
                entries,
                attempt: d.attempt,
                weight: d.weight,
                started: self.now,
                timed_out: false,
                abandoned: false,
                direct: false,
            },
        );
        // Invariant: in-flight calls never exceed maxInFlight, nor maxInFlightPerKey per key.
        ensure!(
            self.flights.len() <= self.cfg.max_in_flight as usize,
            "{} calls in flight > maxInFlight",
            self.flights.len()
        );
        if let Some(cap) = self.cfg.max_in_flight_per_key {
            let on_key = self.flights.values().filter(|f| f.key == d.key).count();
            ensure!(on_key <= cap as usize, "{on_key} calls in flight on key {} > maxInFlightPerKey", d.key);
        }
        Ok(())
    }

    fn on_route(&mut self, route: RouteId, items: Vec<ItemId>) -> R {
        ensure!(route > self.last_route, "route id {route} not fresh");
        self.last_route = route;
        ensure!((1..=self.batch_size()).contains(&items.len()), "route call of {} items", items.len());
        let mut firsts = Vec::new();
        let mut entries = Vec::new();
        for (i, &id) in items.iter().enumerate() {
            ensure!(!items[..i].contains(&id), "item {id} twice in route {route}");
            let Some(s) = self.slots.get(&id) else {
                return Err(TestCaseError::fail(format!("route of free slot {id}")));
            };
            ensure!(
                s.key == UNROUTED && s.st == St::Queued,
                "item {id} ({:?}, key {}) sent to resolveKeys",
                s.st,
                s.key
            );
            firsts.push(s.enter);
            entries.push((id, s.uid));
        }
        // The routing queue is FIFO too.
        self.fifo(UNROUTED, &items, &firsts)?;
        for &id in &items {
            self.slots.get_mut(&id).unwrap().st = St::Routing(route);
        }
        self.routes.insert(route, entries);
        self.route_at.insert(route, self.now);
        self.seen[ROUTES] += 1;
        Ok(())
    }

    fn on_admitted(&mut self, item: ItemId) -> R {
        let Some(s) = self.slots.get(&item) else {
            return Err(TestCaseError::fail(format!("Admitted unknown item {item}")));
        };
        let St::Waiting(w) = s.st else {
            return Err(TestCaseError::fail(format!("Admitted item {item} in state {:?}", s.st)));
        };
        ensure!(s.caller_live, "Admitted a settled item {item}");
        self.seen[ADMITTED] += 1;
        // Waiters are admitted in arrival order.
        if let Some((older, _)) = self.slots.iter().find(|(_, o)| matches!(o.st, St::Waiting(x) if x < w)) {
            return Err(TestCaseError::fail(format!("waiter {item} admitted before older waiter {older}")));
        }
        self.enter(item)?;
        self.slots.get_mut(&item).unwrap().admitted = true;
        Ok(())
    }

    fn on_key_released(&mut self, key: KeyId) -> R {
        ensure!(key > DEFAULT_KEY, "KeyReleased for built-in key {key}");
        let Some((&name, _)) = self.names.iter().find(|(_, &k)| k == key) else {
            return Err(TestCaseError::fail(format!("KeyReleased for unknown key {key}")));
        };
        // Invariant: a key id is released only once nothing refers to it any more.
        if let Some((id, s)) = self.slots.iter().find(|(_, s)| s.key == key) {
            return Err(TestCaseError::fail(format!(
                "key {key} ({name}) released while item {id} ({:?}) still belongs to it",
                s.st
            )));
        }
        ensure!(!self.flights.values().any(|f| f.key == key), "key {key} released while a call on it is in flight");
        self.names.remove(name);
        // A released key's estimate is kept by name only while it is above the 10 ms floor.
        if self.call_times.get(name).is_some_and(|&m| m <= 10.0) {
            self.call_times.remove(name);
        }
        self.seen[KEYS_RELEASED] += 1;
        Ok(())
    }

    fn on_flushed(&mut self, flush: FlushId) -> R {
        let Some(set) = self.flushes.remove(&flush) else {
            return Err(TestCaseError::fail(format!("Flushed for unknown or finished flush {flush}")));
        };
        // A flush completes only once every item accepted before it has settled.
        ensure!(set.is_empty(), "flush {flush} done with {} items unsettled", set.len());
        self.seen[FLUSHES] += 1;
        if self.close_flush == Some(flush) {
            self.close_done = true;
        }
        Ok(())
    }

    fn on_timed_out(&mut self, batch: BatchId) -> R {
        let now = self.now;
        let timeout = self.cfg.timeout_ms;
        let Some(f) = self.flights.get_mut(&batch) else {
            return Err(TestCaseError::fail(format!("CallTimedOut for a call not in flight: {batch}")));
        };
        ensure!(!f.timed_out, "second CallTimedOut for {batch}");
        let Some(t) = timeout else {
            return Err(TestCaseError::fail("CallTimedOut without timeoutMs"));
        };
        ensure!(now >= f.started + t, "call {batch} timed out early at {now}");
        f.timed_out = true;
        self.seen[TIMEOUTS] += 1;
        self.timed_out.push(batch);
        Ok(())
    }

    fn on_abandoned(&mut self, batch: BatchId) -> R {
        let Some(f) = self.flights.get(&batch) else {
            return Err(TestCaseError::fail(format!("Abandoned for a call not in flight: {batch}")));
        };
        // Invariant: a call is abandoned once, when no slot of it is wanted any more (every
        // caller aborted or expired, no follower riding), and not after it timed out.
        ensure!(!f.abandoned && !f.timed_out, "call {batch} abandoned twice, or after its timeout");
        let wanted = f.entries.iter().filter(|&&(id, uid)| self.slot_live(id, uid)).count();
        ensure!(wanted == 0, "call {batch} abandoned while {wanted} of its slots are wanted");
        self.flights.get_mut(&batch).unwrap().abandoned = true;
        self.seen[ABANDONED] += 1;
        Ok(())
    }

    // -------------------------------------------------------------------------- checks

    /// Invariants that hold between any two engine calls.
    fn check(&mut self) -> R {
        let st: Stats = self.e.stats();
        let live = self.slots.values().filter(|s| s.caller_live).count();
        self.seen[MAX_SLOTS] = self.seen[MAX_SLOTS].max(self.slots.len() as u64);
        // Invariant: stats are consistent — items == settled + unsettled, succeeded + failed
        // == settled callers, and every counter matches the model.
        ensure!(st.items == self.accepted, "items {} != {}", st.items, self.accepted);
        ensure!(
            (st.succeeded, st.failed) == (self.succeeded, self.failed),
            "succeeded/failed {}/{} != {}/{}",
            st.succeeded,
            st.failed,
            self.succeeded,
            self.failed
        );
        ensure!(
            self.e.unsettled() == live && st.items == st.succeeded + st.failed + self.e.unsettled() as u64,
            "unsettled {} (model {live}), stats {st:?}",
            self.e.unsettled()
        );
        let queued = self.slots.values().filter(|s| matches!(s.st, St::Queued | St::Routing(_))).count() as u64;
        ensure!(st.queued == queued, "queued {} != model {queued}", st.queued);
        // Invariant: queued <= maxQueued.
        ensure!(st.queued <= self.cfg.max_queued as u64, "queued {} > maxQueued", st.queued);
        let items: usize = self.flights.values().map(|f| f.entries.len()).sum();
        ensure!(
            (st.in_flight_batches, st.in_flight_items) == (self.flights.len() as u64, items as u64),
            "in flight {}/{} != {}/{items}",
            st.in_flight_batches,
            st.in_flight_items,
            self.flights.len()
        );
        ensure!(
            (st.batches, st.retries, st.bisects, st.throttled)
                == (self.batches, self.retries, self.bisects, self.throttled),
            "counters {st:?} != batches {} retries {} bisects {} throttled {}",
            self.batches,
            self.retries,
            self.bisects,
            self.throttled
        );
        // A slot whose caller settled is kept only while followers ride on it; followers ride
        // on a live slot of their key.
        for (&id, s) in &self.slots {
            ensure!(s.caller_live || !s.followers.is_empty(), "held slot {id} has no followers");
            if let St::Follower(p) = s.st {
                let ok = self.slots.get(&p).is_some_and(|p| p.key == s.key && p.followers.contains(&id));
                ensure!(ok, "follower {id} of a missing primary {p}");
            }
        }
        self.check_must_send()?;
        // Invariant: every call nobody waits for any more has been reported abandoned.
        for (b, f) in &self.flights {
            let wanted = f.entries.iter().any(|&(id, uid)| self.slot_live(id, uid));
            ensure!(wanted || f.abandoned || f.timed_out, "call {b} is wanted by nobody but not abandoned");
        }
        // Every flush whose items have all settled has been reported.
        if let Some((f, _)) = self.flushes.iter().find(|(_, set)| set.is_empty()) {
            return Err(TestCaseError::fail(format!("flush {f} is done but not reported")));
        }
        let t = self.e.poll_timeout();
        // Invariant: no wake-up while nothing is queued, waiting or in flight.
        if self.slots.is_empty() && self.flights.is_empty() {
            ensure!(t.is_none(), "idle engine asks for a wake-up at {t:?}");
        }
        // No stall: with items left and no transport call, resolveKeys call or Tick pending,
        // a timer is armed.
        let routing = self.routes.values().flatten().any(|&(i, u)| self.slot_live(i, u));
        if !self.slots.is_empty() && self.flights.is_empty() && !routing && !self.wake_pending() {
            ensure!(t.is_some(), "stalled: items {:?} but no timer", self.slots);
        }
        // With timeoutMs, a resolveKeys call holding items is bounded: a timer is armed for it.
        if routing && self.cfg.timeout_ms.is_some() {
            ensure!(t.is_some(), "items routing under timeoutMs but no timer");
        }
        // Invariant (adaptive): a queued item of a key with no call in flight has a wake-up
        // pending (the end of the turn), unless it waits for room for a call.
        if self.cfg.adaptive && !self.wake_pending() {
            let idle =
                self.slots.iter().find(|(_, s)| s.st == St::Queued && self.adaptive_idle(s.key) && self.room(s.key));
            ensure!(idle.is_none(), "adaptive: item {:?} waits on an idle key with no wake-up pending", idle);
        }
        // Invariant (deadline-aware dispatch): a queued item whose deadline is more than the
        // lead away has a wake-up at deadline − lead at the latest (unless its queue is due
        // already and waits for room: the lead may have shrunk since). Checked once no Tick or
        // TurnEnd is pending: the queue that one sends needs no timer of its own, and the check
        // after it holds whatever it left queued to this rule.
        for (id, s) in &self.slots {
            if let (St::Queued, true, Some(d)) = (s.st, s.caller_live, s.deadline) {
                let by = d - self.lead(s.key);
                if by > self.now && self.room(s.key) && !self.wake_pending() {
                    ensure!(
                        t.is_some_and(|t| t <= by + 1e-9),
                        "item {id} (deadline {d}, lead {}) must go by {by}; next wake-up {t:?}",
                        self.lead(s.key)
                    );
                }
            }
        }
        // Every live caller's deadline and every call's timeout has its timer.
        for (id, s) in &self.slots {
            if let (true, Some(d)) = (s.caller_live, s.deadline) {
                ensure!(
                    t.is_some_and(|t| t <= d.next_up()),
                    "item {id}'s deadline {d} has no timer (next wake-up {t:?})"
                );
            }
        }
        if let Some(to) = self.cfg.timeout_ms {
            for (b, f) in &self.flights {
                if !f.timed_out {
                    ensure!(
                        t.is_some_and(|t| t <= f.started + to),
                        "call {b}'s timeout has no timer (next wake-up {t:?})"
                    );
                }
            }
        }
        Ok(())
    }

    /// Invariant: a queue that must send now does not wait for a timer — a key holding
    /// `maxBatchSize` never-sent items (or more than `maxBatchWeight`), an add admitted after
    /// waiting for room, or any queued item while backpressure holds (size flush, backpressure
    /// flush), has a Tick pending or no room for a call.
    fn check_must_send(&self) -> R {
        if self.tick_pending {
            return Ok(());
        }
        let pressure = self.pressure();
        let mut queues: BTreeMap<KeyId, (usize, f64, bool)> = BTreeMap::new();
        for s in self.slots.values().filter(|s| s.st == St::Queued) {
            let q = queues.entry(s.key).or_default();
            q.0 += 1;
            q.1 += s.weight;
            q.2 |= s.admitted;
        }
        for (key, (n, weight, admitted)) in queues {
            let full = n >= self.batch_size() || self.cfg.max_batch_weight.is_some_and(|c| weight > c);
            ensure!(
                !(full || admitted || pressure) || !self.room(key),
                "key {key} must send now ({n} items, weight {weight}, admitted {admitted}, backpressure \
                 {pressure}) but waits with room for a call and no Tick pending"
            );
        }
        Ok(())
    }

    /// The outputs of the last call settle nothing (but expiries) and end no call.
    fn no_settles(&self, what: &str) -> R {
        let bad = settles_of(&self.log)
            .into_iter()
            .chain(self.log.iter().filter(|o| matches!(o, Output::BatchEnd(_))).cloned())
            .next();
        ensure!(bad.is_none(), "{what} produced {bad:?}");
        Ok(())
    }

    /// A refused input: an error, no output, nothing changed.
    fn refused(&mut self, before: &Stats, what: &str) -> R {
        let out = self.e.poll_output();
        ensure!(out.is_none(), "refused {what} produced {out:?}");
        ensure!(self.e.stats() == *before, "refused {what} changed the stats");
        self.check()
    }

    // -------------------------------------------------------------------------- ops

    fn run(&mut self, op: &Op) -> R {
        match *op {
            Op::Add { key, weight, deadline, dedupe } => self.add(key, weight, deadline, dedupe, false),
            Op::AddPlain(key) => self.add(key, 2, None, None, true),
            Op::Burst { key, n } => (0..n).try_for_each(|_| self.add(key, 0, None, None, false)),
            Op::Plain { max, take, deadline } => self.plain(max, take, deadline),
            Op::CallNow => self.call_now(),
            Op::AddInvalid(which) => self.add_invalid(which),
            Op::Cancel(pick) => self.cancel(pick),
            Op::CancelStale(pick) => self.cancel_stale(pick),
            Op::Tick => self.tick(),
            Op::Wake => self.wake(),
            Op::Advance { ms, fire } => {
                self.tick()?;
                self.now += f64::from(ms);
                if fire && self.e.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.handle_time()?;
                }
                Ok(())
            }
            Op::Outcome { pick, ref how } => self.outcome_op(pick, how),
            Op::Late { pick, fail } => self.late(pick, fail),
            Op::WrongCount(pick) => self.wrong_count(pick),
            Op::Route { pick, ref how } => self.route(pick, how),
            Op::LateRoute(pick) => self.late_route(pick),
            Op::Flush => self.flush(false),
        }
    }

    /// `plain`: through `add_plain` (weight 2, no deadline or dedupe; never cancelled).
    fn add(&mut self, key: u8, weight: u8, deadline: Option<u8>, dedupe: Option<u8>, plain: bool) -> R {
        let key = match key {
            0 => DEFAULT_KEY,
            4 => UNROUTED,
            i => self.intern(NAMES[i as usize - 1])?,
        };
        let weight = f64::from(weight) * 0.5;
        let deadline = deadline.map(|v| self.now + f64::from(v) - 3.0);
        let mut dedupe = dedupe;
        let before = self.e.stats();
        let waiting = self.slots.values().filter(|s| matches!(s.st, St::Waiting(_))).count();
        let room = (before.queued as usize) < self.cfg.max_queued as usize && waiting == 0;
        let mut joins = match dedupe {
            Some(d) if key != UNROUTED => self.dedupe_slot(key, d, ItemId::MAX)?,
            _ => None,
        };
        if !room && joins.is_none() && self.cfg.when_full == WhenFull::Wait && key != UNROUTED {
            dedupe = None; // see the module docs
        }
        if self.closed
            || self.cfg.max_batch_weight.is_some_and(|c| weight > c)
            || deadline.is_some_and(|d| self.now > d)
        {
            joins = None;
        }
        let expect = if self.closed {
            Err(AddError::Rejected(ErrorCode::Closed))
        } else if self.cfg.max_batch_weight.is_some_and(|c| weight > c) {
            Err(AddError::Rejected(ErrorCode::TooLarge))
        } else if deadline.is_some_and(|d| self.now > d) {
            Err(AddError::Rejected(ErrorCode::Deadline))
        } else if joins.is_some() {
            Ok(Admission::Joined)
        } else if room {
            Ok(Admission::Queued)
        } else if self.cfg.when_full == WhenFull::Reject {
            Err(AddError::Rejected(ErrorCode::Full))
        } else {
            Ok(Admission::Waiting)
        };
        self.steps += 1;
        let got = if plain {
            debug_assert!(weight == 1.0 && deadline.is_none() && dedupe.is_none());
            self.e.add_plain(key, self.now)
        } else {
            self.e.add(key, weight, deadline, dedupe.map(|d| DEDUPE[d as usize]), self.now)
        };
        match got {
            Ok((id, adm)) => {
                ensure!(Ok(adm) == expect, "add admitted {adm:?}, expected {expect:?}");
                // Ids are reused only after Settle{release} / Release freed them.
                ensure!(!self.slots.contains_key(&id), "add returned id {id}, still in use");
                ensure!(!self.reserved.contains(&id), "add returned id {id}, reserved for plain adds");
                let uid = self.next_uid;
                self.next_uid += 1;
                self.accepted += 1;
                self.slots.insert(id, Slot { key, weight, deadline, dedupe, bulk: plain, ..Slot::plain(uid) });
                match adm {
                    Admission::Queued => {
                        self.enter(id)?;
                        ensure!(self.slots[&id].st == St::Queued, "queued add joined a slot");
                    }
                    Admission::Joined => {
                        let p = joins.unwrap();
                        self.seen[JOINS] += 1;
                        self.slots.get_mut(&id).unwrap().st = St::Follower(p);
                        self.slots.get_mut(&p).unwrap().followers.push(id);
                    }
                    Admission::Waiting => {
                        self.slots.get_mut(&id).unwrap().st = St::Waiting(self.next_wseq);
                        self.next_wseq += 1;
                    }
                }
                self.drain()?;
                // add never calls the transport (nor settles, routes or admits anything):
                // at most a Tick or a TurnEnd comes out.
                let bad = self.log.iter().find(|o| !matches!(o, Output::Tick | Output::TurnEnd));
                ensure!(bad.is_none(), "add produced {bad:?}");
            }
            Err(err) => {
                ensure!(Err(err.clone()) == expect, "add refused with {err:?}, expected {expect:?}");
                self.drain()?;
                // Invariant: a rejected add creates nothing (only the key interned for it may
                // be released).
                let bad = self.log.iter().find(|o| !matches!(o, Output::KeyReleased { key: k } if *k == key));
                ensure!(bad.is_none(), "rejected add produced {bad:?}");
                ensure!(self.e.stats() == before, "rejected add changed the stats");
            }
        }
        self.check()
    }

    /// Plain adds in bulk: the same as one `add(DEFAULT_KEY, 1.0, deadline, None)` per id, each
    /// queued; the reservation promises that only the last of a full reservation can tick (or,
    /// with a deadline, one whose lead has begun). A deadline already passed: refused, state
    /// unchanged.
    fn plain(&mut self, max: u8, take: u8, deadline: Option<u8>) -> R {
        let deadline = deadline.map(|v| self.now + f64::from(v) - 3.0);
        let before = self.e.stats();
        self.steps += 1;
        self.reserved = self.e.reserve_plain(usize::from(max)).collect();
        let n = self.reserved.len();
        ensure!(n <= usize::from(max), "reserved {n} ids, at most {max} asked");
        let mut distinct = self.reserved.clone();
        distinct.sort_unstable();
        distinct.dedup();
        ensure!(distinct.len() == n, "reserved an id twice: {:?}", self.reserved);
        for id in &self.reserved {
            ensure!(!self.slots.contains_key(id), "reserved id {id}, still in use");
        }
        let waiting = self.slots.values().any(|s| matches!(s.st, St::Waiting(_)));
        let fits = !self.closed
            && !waiting
            && self.cfg.max_batch_weight.is_none_or(|c| c >= 1.0)
            && before.queued as usize + n <= self.cfg.max_queued as usize;
        ensure!(n == 0 || fits, "reserved {n} ids where plain adds may not all be queued");
        // One more than reserved is refused, state unchanged.
        let over = self.e.add_reserved(n + 1, deadline, self.now);
        ensure!(
            matches!(over, Err(AddError::Invalid(InputError::NotReserved { .. }))),
            "add_reserved beyond the reservation gave {over:?}"
        );
        self.refused(&before, "add_reserved beyond the reservation")?;
        let take = usize::from(take) % (n + 1);
        if take == 0 {
            return Ok(());
        }
        if deadline.is_some_and(|d| self.now > d) {
            let r = self.e.add_reserved(take, deadline, self.now);
            ensure!(r == Err(AddError::Rejected(ErrorCode::Deadline)), "add_reserved past its deadline gave {r:?}");
            return self.refused(&before, "add_reserved past its deadline");
        }
        let ticked_before = self.tick_pending;
        let ids: Vec<ItemId> = self.reserved.drain(..take).collect();
        // All but the last, then the last: none but the reservation's last may ask for a Tick.
        for part in [&ids[..take - 1], &ids[take - 1..]] {
            if part.is_empty() {
                continue;
            }
            let r = self.e.add_reserved(part.len(), deadline, self.now);
            ensure!(r.is_ok(), "add_reserved of {} refused: {r:?}", part.len());
            for &id in part {
                let uid = self.next_uid;
                self.next_uid += 1;
                self.accepted += 1;
                self.slots.insert(id, Slot { bulk: true, deadline, ..Slot::plain(uid) });
                self.enter(id)?;
            }
            self.drain()?;
            let bad = self.log.iter().find(|o| !matches!(o, Output::Tick | Output::TurnEnd));
            ensure!(bad.is_none(), "add_reserved produced {bad:?}");
            let last = part.last() == ids.last() && take == n;
            let near = deadline.is_some_and(|d| d - self.lead(DEFAULT_KEY) <= self.now);
            ensure!(
                ticked_before || last || near || !self.tick_pending,
                "plain adds before the reservation's last asked for a Tick"
            );
        }
        self.check()
    }

    /// `call_now`: as `add(DEFAULT_KEY, 1.0, None, None)` then `flush()` when nothing of the
    /// default key waits to go and a call may start, but the call is returned, not output; else
    /// refused with the state unchanged.
    fn call_now(&mut self) -> R {
        let before = self.e.stats();
        let waiting = self.slots.values().any(|s| matches!(s.st, St::Waiting(_)));
        let queued = self.slots.values().any(|s| s.key == DEFAULT_KEY && s.st == St::Queued);
        let expect = if self.closed {
            Err(AddError::Rejected(ErrorCode::Closed))
        } else if self.cfg.max_batch_weight.is_some_and(|c| c < 1.0) {
            Err(AddError::Rejected(ErrorCode::TooLarge))
        } else if waiting || before.queued >= self.cfg.max_queued as u64 || queued || !self.room(DEFAULT_KEY) {
            Err(AddError::Rejected(ErrorCode::Full))
        } else {
            Ok(())
        };
        self.steps += 1;
        match self.e.call_now(self.now) {
            Ok((id, batch)) => {
                ensure!(expect.is_ok(), "call_now started call {batch}, expected {expect:?}");
                ensure!(!self.slots.contains_key(&id), "call_now returned id {id}, still in use");
                ensure!(!self.reserved.contains(&id), "call_now returned id {id}, reserved for plain adds");
                ensure!(batch > self.last_batch, "batch id {batch} not fresh");
                self.last_batch = batch;
                let (uid, enter) = (self.next_uid, self.next_enter);
                self.next_uid += 1;
                self.next_enter += 1;
                self.accepted += 1;
                self.batches += 1;
                self.seen[DIRECT_CALLS] += 1;
                self.slots.insert(id, Slot { sends: 1, enter, entered_at: self.now, ..Slot::plain(uid) });
                // FIFO per key: no never-sent item of the default key is left behind it.
                self.fifo(DEFAULT_KEY, &[id], &[enter])?;
                self.slots.get_mut(&id).unwrap().st = St::InFlight(batch);
                let flight = Flight {
                    key: DEFAULT_KEY,
                    entries: vec![(id, uid)],
                    attempt: 1,
                    weight: 1.0,
                    started: self.now,
                    timed_out: false,
                    abandoned: false,
                    direct: true,
                };
                self.flights.insert(batch, flight);
                self.drain()?;
                // Nothing is output: not the call (the host makes it), nor a Tick or TurnEnd.
                ensure!(self.log.is_empty(), "call_now produced {:?}", self.log);
                self.check()
            }
            Err(err) => {
                ensure!(Err(err.clone()) == expect, "call_now refused with {err:?}, expected {expect:?}");
                self.refused(&before, "call_now")
            }
        }
    }

    fn add_invalid(&mut self, which: u8) -> R {
        let before = self.e.stats();
        self.steps += 1;
        let (got, want) = match which % 4 {
            0 => (self.e.add(DEFAULT_KEY, f64::NAN, None, None, self.now), "InvalidWeight"),
            1 => (self.e.add(DEFAULT_KEY, -1.0, None, None, self.now), "InvalidWeight"),
            2 => (self.e.add(DEFAULT_KEY, 1.0, Some(f64::NAN), None, self.now), "InvalidDeadline"),
            _ => (self.e.add(9999, 1.0, None, None, self.now), "UnknownKey"),
        };
        let ok = match got {
            Err(AddError::Invalid(ref e)) => format!("{e:?}").starts_with(want),
            _ => false,
        };
        ensure!(ok, "invalid add gave {got:?}, expected {want}");
        self.refused(&before, "invalid add")
    }

    fn cancel(&mut self, pick: u16) -> R {
        let mut live = self.live_callers();
        live.retain(|i| !self.slots[i].bulk);
        if live.is_empty() {
            return Ok(());
        }
        let x = live[pick as usize % live.len()];
        self.seen[CANCELS] += 1;
        let s = &self.slots[&x];
        let aborted = Outcome::Code(ErrorCode::Aborted);
        let mut expected = Vec::new();
        if let St::Follower(p) = s.st {
            expected.push(Output::Settle { item: x, outcome: aborted, release: true });
            let ps = &self.slots[&p];
            if !ps.caller_live && ps.followers == [x] {
                expected.push(Output::Release { item: p });
            }
        } else {
            expected.push(Output::Settle { item: x, outcome: aborted, release: s.followers.is_empty() });
        }
        self.steps += 1;
        let r = self.e.cancel(x, self.now);
        ensure!(r == Ok(()), "cancel({x}) = {r:?}");
        self.drain()?;
        let got = settles_of(&self.log);
        ensure!(got == expected, "cancel({x}) settled {got:?}, expected {expected:?}");
        ensure!(!self.log.iter().any(|o| matches!(o, Output::BatchEnd(_))), "cancel ended a call");
        self.check()?;
        self.answer_timeouts()
    }

    fn cancel_stale(&mut self, pick: u16) -> R {
        let top = self.slots.keys().next_back().map_or(0, |&k| k + 3);
        let stale: Vec<ItemId> = (0..top).filter(|i| !self.slots.get(i).is_some_and(|s| s.caller_live)).collect();
        let x = if stale.is_empty() { top } else { stale[pick as usize % stale.len()] };
        let before = self.e.stats();
        self.steps += 1;
        let r = self.e.cancel(x, self.now);
        ensure!(r == Err(InputError::UnknownItem(x)), "stale cancel({x}) = {r:?}");
        self.refused(&before, "stale cancel")
    }

    /// The microtask, or the end of the turn, runs: `handle_time` if either was asked for.
    fn tick(&mut self) -> R {
        if self.wake_pending() {
            self.handle_time()?;
        }
        Ok(())
    }

    /// Adaptive flush: no call of this key is in flight, so its queue does not wait.
    fn adaptive_idle(&self, key: KeyId) -> bool {
        self.cfg.adaptive && !self.flights.values().any(|f| f.key == key)
    }

    /// A Tick or a TurnEnd is out: the host calls `handle_time` without a timer.
    fn wake_pending(&self) -> bool {
        self.tick_pending || self.turn_end_pending
    }

    fn wake(&mut self) -> R {
        self.tick()?;
        if let Some(t) = self.e.poll_timeout() {
            self.now = self.now.max(t);
            self.handle_time()?;
        }
        Ok(())
    }

    fn handle_time(&mut self) -> R {
        let now = self.now;
        let due: BTreeSet<ItemId> = self
            .slots
            .iter()
            .filter(|(_, s)| s.caller_live && s.deadline.is_some_and(|d| now > d))
            .map(|(&i, _)| i)
            .collect();
        // Route calls past timeoutMs: the items they still hold fail with E_TIMEOUT.
        let timeout = self.cfg.timeout_ms.unwrap_or(f64::INFINITY);
        let timed_routes: Vec<RouteId> =
            self.routes.keys().copied().filter(|r| self.route_at[r] + timeout <= now).collect();
        let holds = |r: RouteId, i: ItemId, u: u64| {
            self.slot_live(i, u) && self.slots[&i].st == St::Routing(r) && self.slots[&i].caller_live
        };
        // Per (id, uid): an id of a route's entry may have been reused by an item of another route.
        let held: BTreeSet<RouteId> =
            timed_routes.iter().copied().filter(|&r| self.routes[&r].iter().any(|&(i, u)| holds(r, i, u))).collect();
        let route_due: BTreeSet<ItemId> = timed_routes
            .iter()
            .flat_map(|&r| self.routes[&r].iter().filter(move |&&(i, u)| holds(r, i, u)).map(|&(i, _)| i))
            .collect();
        self.tick_pending = false;
        self.turn_end_pending = false;
        self.steps += 1;
        self.e.handle_time(now);
        self.in_time = true;
        let drained = self.drain();
        self.in_time = false;
        drained?;
        // Time settles only expired callers and those of route calls past timeoutMs, and every
        // one of them (a caller that is both may go either way: whichever timer comes first).
        let mut expired = BTreeSet::new();
        for o in &self.log {
            match *o {
                Output::Settle { item, outcome, .. } => {
                    let ok = match outcome {
                        Outcome::Code(ErrorCode::Deadline) => due.contains(&item),
                        Outcome::Code(ErrorCode::Timeout) => route_due.contains(&item),
                        _ => false,
                    };
                    ensure!(ok, "handle_time settled {item} with {outcome:?}");
                    expired.insert(item);
                }
                Output::BatchEnd(_) => return Err(TestCaseError::fail("handle_time ended a call")),
                _ => {}
            }
        }
        let owed: BTreeSet<ItemId> = due.union(&route_due).copied().collect();
        ensure!(expired == owed, "expired {expired:?}, due {due:?}, routes timed out {route_due:?}");
        for r in timed_routes {
            // One that still held items is gone (their timer fired). One whose items had all left
            // may be kept until answered: an engine with nothing live drops its timers.
            self.routes.remove(&r);
            self.route_at.remove(&r);
            if held.contains(&r) {
                self.ended_routes.push(r);
            }
        }
        if !self.wake_pending() {
            // ... and its deadline's lead has begun.
            let wait = self.cfg.max_wait_ms;
            // Adaptive: maxWaitMs is a ceiling, and a key with no call in flight is due at the
            // next wake-up.
            self.check_due(|s| s.entered_at + wait <= now || self.deadline_due(s) || self.adaptive_idle(s.key))?;
        }
        self.check()?;
        self.answer_timeouts()
    }

    /// CallTimedOut is answered at once with `fail(batch, Timeout)`; a `complete` for that call
    /// is refused first.
    fn answer_timeouts(&mut self) -> R {
        while !self.timed_out.is_empty() {
            let b = self.timed_out.remove(0);
            let n = self.flights[&b].entries.len();
            let before = self.e.stats();
            self.steps += 1;
            let r = all_ok(&mut self.e, b, n, self.now);
            ensure!(r == Err(InputError::TimedOut(b)), "complete after timeout: {r:?}");
            self.refused(&before, "complete after timeout")?;
            self.outcome(b, Resp::Fail(Failure::of_kind(FailureKind::Timeout)))?;
        }
        Ok(())
    }

    fn outcome_op(&mut self, pick: u16, how: &How) -> R {
        let Some(b) = self.pick_flight(pick) else {
            return Ok(());
        };
        let n = self.flights[&b].entries.len();
        let resp = match *how {
            How::AllOk => Resp::Complete(vec![ItemResult::Ok; n]),
            How::Mixed(seed) => {
                let mut rng = Rng::new(seed);
                Resp::Complete(
                    (0..n)
                        .map(|_| match rng.next_u64() % 10 {
                            0..=5 => ItemResult::Ok,
                            r @ 6..=8 => ItemResult::Err {
                                retryable: true,
                                retry_after_ms: (r == 8).then_some((rng.next_u64() % 30) as f64),
                            },
                            _ => ItemResult::Err { retryable: false, retry_after_ms: None },
                        })
                        .collect(),
                )
            }
            How::Fail { shape, retryable, status, class, retry_after } => Resp::Fail(Failure {
                kind: if shape { FailureKind::ResultShape } else { FailureKind::Thrown },
                retryable: [None, Some(true), Some(false)][retryable as usize],
                status: [None, Some(400.0), Some(413.0), Some(422.0), Some(429.0), Some(500.0)]
                    .get(status as usize)
                    .copied()
                    .flatten(),
                retry_after_ms: retry_after.map(f64::from),
                class: [None, Some(Class::Retry), Some(Class::Bisect), Some(Class::Bisect), Some(Class::Fail)]
                    [class as usize],
            }),
        };
        self.outcome(b, resp)
    }

    fn pick_flight(&self, pick: u16) -> Option<BatchId> {
        let n = self.flights.len();
        (n > 0).then(|| *self.flights.keys().nth(pick as usize % n).unwrap())
    }

    /// A transport outcome for an in-flight call, checked against the model's prediction of
    /// every item's fate.
    fn outcome(&mut self, b: BatchId, resp: Resp) -> R {
        let f = self.flights[&b].clone();
        let live: Vec<(usize, ItemId)> = f
            .entries
            .iter()
            .enumerate()
            .filter(|(_, &(id, uid))| self.slot_live(id, uid))
            .map(|(i, &(id, _))| (i, id))
            .collect();
        for (_, id) in &live {
            ensure!(self.slots[id].st == St::InFlight(b), "item {id} of call {b} is {:?}", self.slots[id].st);
        }
        // The token bucket: a failed call, or one with a retryable item error, costs a token;
        // any other call refunds tokenRatio (capped at maxTokens).
        let budget = self.cfg.retry.budget();
        let charged = match &resp {
            Resp::Complete(r) => r.iter().any(|r| matches!(r, ItemResult::Err { retryable: true, .. })),
            Resp::Fail(_) => true,
        };
        if let (Some(bc), false) = (&budget, f.abandoned) {
            self.tokens =
                if charged { (self.tokens - 1.0).max(0.0) } else { (self.tokens + bc.token_ratio).min(bc.max_tokens) };
        }
        let allows = budget.as_ref().is_none_or(|bc| self.tokens > bc.max_tokens / 2.0);
        let max = self.max_attempts();
        let mode = self.cfg.error_mode;
        let mut throttled = 0;
        let mut bisected = false;
        let fates: Vec<(ItemId, Fate)> = match &resp {
            Resp::Complete(results) => {
                let first = results.iter().position(|r| *r != ItemResult::Ok);
                match (mode, first) {
                    (_, None) => {
                        live.iter().map(|&(i, id)| (id, Fate::Settle(Outcome::Ok { index: i as u32 }))).collect()
                    }
                    (ErrorMode::Partial, Some(_)) => live
                        .iter()
                        .map(|&(i, id)| {
                            let index = i as u32;
                            let fate = match results[i] {
                                ItemResult::Ok => Fate::Settle(Outcome::Ok { index }),
                                ItemResult::Err { retryable: true, .. } if self.slots[&id].attempt < max => {
                                    if allows {
                                        Fate::Retry
                                    } else {
                                        throttled += 1;
                                        Fate::Settle(Outcome::ItemError { index })
                                    }
                                }
                                ItemResult::Err { .. } => Fate::Settle(Outcome::ItemError { index }),
                            };
                            (id, fate)
                        })
                        .collect(),
                    (ErrorMode::FailFast, Some(first)) => live
                        .iter()
                        .map(|&(i, id)| {
                            let o = match results[i] {
                                ItemResult::Ok => Outcome::FailFast { cause: first as u32 },
                                ItemResult::Err { .. } => Outcome::ItemError { index: i as u32 },
                            };
                            (id, Fate::Settle(o))
                        })
                        .collect(),
                    (ErrorMode::Atomic, Some(first)) => {
                        let resend =
                            matches!(results[first], ItemResult::Err { retryable: true, .. }) && f.attempt < max;
                        if resend && !allows {
                            throttled += live.len() as u64;
                        }
                        let fate = if resend && allows {
                            Fate::Retry
                        } else {
                            Fate::Settle(Outcome::Atomic { cause: first as u32 })
                        };
                        live.iter().map(|&(_, id)| (id, fate)).collect()
                    }
                }
            }
            Resp::Fail(fl) => {
                let attempt = live.iter().map(|(_, id)| self.slots[id].attempt).max().unwrap_or(1);
                let bisectable = self.cfg.bisect && mode == ErrorMode::Partial && live.len() > 1;
                match fl.class() {
                    Class::Retry if attempt < max && allows => live.iter().map(|&(_, id)| (id, Fate::Retry)).collect(),
                    Class::Bisect if bisectable => {
                        bisected = true;
                        live.iter().map(|&(_, id)| (id, Fate::Bisect)).collect()
                    }
                    class => {
                        if class == Class::Retry && attempt < max {
                            throttled += live.len() as u64;
                        }
                        live.iter()
                            .map(|&(_, id)| {
                                let o = match fl.kind {
                                    FailureKind::Timeout | FailureKind::ResultShape => Outcome::BatchError,
                                    FailureKind::Thrown => Outcome::Transport { attempts: self.slots[&id].sends },
                                };
                                (id, Fate::Settle(o))
                            })
                            .collect()
                    }
                }
            }
        };
        // The exact Settle/Release sequence: per slot in batch order, its followers, then its
        // own caller (or a Release if that caller already settled).
        let mut expected = Vec::new();
        let (mut ok, mut failed) = (0u32, 0u32);
        for &(id, fate) in &fates {
            if let Fate::Settle(o) = fate {
                if o.is_ok() {
                    ok += 1;
                } else {
                    failed += 1;
                }
                let s = &self.slots[&id];
                for &fl in &s.followers {
                    expected.push(Output::Settle { item: fl, outcome: o, release: true });
                }
                expected.push(if s.caller_live {
                    Output::Settle { item: id, outcome: o, release: true }
                } else {
                    Output::Release { item: id }
                });
            }
        }
        // A call whose every item succeeded with its caller still waiting, and no follower on
        // any: one record instead of a Settle each.
        let whole = live.len() == f.entries.len()
            && fates.iter().all(|(_, fate)| matches!(fate, Fate::Settle(o) if o.is_ok()))
            && live.iter().all(|(_, id)| self.slots[id].caller_live && self.slots[id].followers.is_empty());
        if whole {
            // A direct call's success is the host's to know: nothing is output.
            expected = if f.direct { vec![] } else { vec![Output::Succeeded { batch: b }] };
        }
        for &(id, fate) in &fates {
            let s = self.slots.get_mut(&id).unwrap();
            match fate {
                Fate::Settle(_) => {}
                Fate::Retry => {
                    s.attempt += 1;
                    s.st = St::Resend { bisect: None };
                }
                Fate::Bisect => s.st = St::Resend { bisect: Some(s.attempt) },
            }
        }
        self.flights.remove(&b);
        self.ended.push(b);
        self.throttled += throttled;
        self.bisects += u64::from(bisected);
        // A call nobody waited for any more was cut short by us: it says nothing of call time.
        if !f.abandoned {
            self.record_call_time(f.key, self.now - f.started);
        }
        let batch_error = matches!(resp, Resp::Fail(_));
        let entered_before_end = self.next_enter;
        self.steps += 1;
        let r = match resp {
            // Every entry a success: `complete_ok` on every other call (it must act the same).
            Resp::Complete(results) if b % 2 == 0 && results.iter().all(|r| *r == ItemResult::Ok) => {
                self.e.complete_ok(b, results.len(), self.now)
            }
            Resp::Complete(results) => self.e.complete(b, &results, self.now),
            Resp::Fail(fl) => self.e.fail(b, fl, self.now),
        };
        ensure!(r.is_ok(), "outcome for call {b} refused: {r:?}");
        if f.direct && whole {
            // Settled silently, before any output of this call (a flush it completes).
            for (i, &(id, _)) in f.entries.iter().enumerate() {
                self.on_settle(id, Outcome::Ok { index: i as u32 }, true)?;
            }
        }
        self.completing = Some((b, f.entries.clone()));
        let drained = self.drain();
        self.completing = None;
        drained?;
        let got = settles_of(&self.log);
        ensure!(got == expected, "call {b} settled {got:?}, expected {expected:?} (fates {fates:?})");
        // Invariant (budget): after an outcome that leaves tokens <= maxTokens/2, none of the
        // call's live items is retried, except by bisect halves: each one settles in this very
        // call, or (bisect) is resent at the same attempt (checked when it is dispatched).
        if budget.is_some() && !allows {
            for &(_, id) in &live {
                let settled = got
                    .iter()
                    .any(|o| matches!(*o, Output::Settle { item, .. } | Output::Release { item } if item == id))
                    || got.contains(&Output::Succeeded { batch: b })
                    || (f.direct && whole);
                ensure!(settled || bisected, "item {id} retried with the budget exhausted ({} tokens)", self.tokens);
            }
        }
        let ends: Vec<&BatchEnd> = self
            .log
            .iter()
            .filter_map(|o| match o {
                Output::BatchEnd(e) => Some(e),
                _ => None,
            })
            .collect();
        let want = BatchEnd {
            batch: b,
            key: f.key,
            size: f.entries.len() as u32,
            weight: f.weight,
            attempt: f.attempt,
            duration_ms: self.now - f.started,
            succeeded: ok,
            failed,
            batch_error,
        };
        // A call started by `call_now` ends without a BatchEnd.
        let want: Vec<&BatchEnd> = if f.direct { vec![] } else { vec![&want] };
        ensure!(ends == want, "BatchEnd {ends:?}, expected {want:?}");
        // Invariant (adaptive): a call's end sends what gathered behind it on its key.
        if self.cfg.adaptive {
            self.check_due(|s| s.key == f.key && s.enter < entered_before_end)?;
        }
        self.check()?;
        self.answer_timeouts()
    }

    fn late(&mut self, pick: u16, fail: bool) -> R {
        let b = if self.ended.is_empty() || pick % 8 == 0 {
            self.last_batch + 1 + u64::from(pick % 5)
        } else {
            self.ended[pick as usize % self.ended.len()]
        };
        let before = self.e.stats();
        self.steps += 1;
        let r = if fail {
            self.e.fail(b, Failure::thrown(), self.now)
        } else {
            let n = (pick % 4) as usize;
            all_ok(&mut self.e, b, n, self.now)
        };
        // A late or duplicate outcome is refused (never a panic) and changes nothing.
        ensure!(r == Err(InputError::UnknownBatch(b)), "late outcome for {b}: {r:?}");
        self.refused(&before, "late outcome")
    }

    fn wrong_count(&mut self, pick: u16) -> R {
        let Some(b) = self.pick_flight(pick) else {
            return Ok(());
        };
        let n = self.flights[&b].entries.len();
        let got = if pick % 2 == 0 { n + 1 } else { n - 1 };
        let before = self.e.stats();
        self.steps += 1;
        let r = all_ok(&mut self.e, b, got, self.now);
        ensure!(r == Err(InputError::ResultCount { batch: b, expected: n, got }), "wrong result count for {b}: {r:?}");
        self.refused(&before, "wrong result count")
    }

    fn route(&mut self, pick: u16, how: &RouteHow) -> R {
        let n = self.routes.len();
        if n == 0 {
            return Ok(());
        }
        let route = *self.routes.keys().nth(pick as usize % n).unwrap();
        let entries = self.routes[&route].clone();
        let live: Vec<(usize, ItemId)> = entries
            .iter()
            .enumerate()
            .filter(|(_, &(id, uid))| self.slot_live(id, uid))
            .map(|(i, &(id, _))| (i, id))
            .collect();
        for (_, id) in &live {
            ensure!(self.slots[id].st == St::Routing(route), "route item {id} moved");
        }
        let failed_code = Outcome::Code(ErrorCode::Route);
        let m = entries.len();
        let (keys, fail_from) = match *how {
            RouteHow::Keys(seed) | RouteHow::FailSuffix(seed) => {
                let mut rng = Rng::new(seed);
                let fail_from = match how {
                    RouteHow::FailSuffix(_) => (rng.next_u64() % (m as u64 + 1)) as usize,
                    _ => m,
                };
                let mut keys = Vec::with_capacity(m);
                for i in 0..m {
                    let k = if i >= fail_from {
                        UNROUTED
                    } else {
                        match rng.next_u64() % 5 {
                            4 => DEFAULT_KEY,
                            j => self.intern(ROUTE_NAMES[j as usize])?,
                        }
                    };
                    keys.push(k);
                }
                (Some(keys), fail_from)
            }
            RouteHow::Failed => (None, 0),
            RouteHow::WrongCount => {
                let before = self.e.stats();
                self.steps += 1;
                let r = self.e.route_done(route, &vec![DEFAULT_KEY; m + 1], self.now);
                ensure!(
                    r == Err(InputError::ResultCount { batch: route, expected: m, got: m + 1 }),
                    "route_done with {} keys for {m} items: {r:?}",
                    m + 1
                );
                return self.refused(&before, "route_done with a wrong count");
            }
        };
        // Items routed to a key enter its queue in route order, before anything this call
        // outputs (failures come last); the others fail with E_ROUTE, in order.
        let mut expected = Vec::new();
        for &(i, id) in &live {
            if i < fail_from {
                let k = keys.as_ref().unwrap()[i];
                self.slots.get_mut(&id).unwrap().key = k;
                self.enter(id)?;
            } else {
                expected.push(Output::Settle { item: id, outcome: failed_code, release: true });
            }
        }
        self.routes.remove(&route);
        self.route_at.remove(&route);
        self.ended_routes.push(route);
        self.steps += 1;
        let r = match keys {
            Some(keys) => self.e.route_done(route, &keys, self.now),
            None => self.e.route_failed(route, self.now),
        };
        ensure!(r == Ok(()), "route answer for {route}: {r:?}");
        self.drain()?;
        let got = settles_of(&self.log);
        ensure!(got == expected, "route {route} settled {got:?}, expected {expected:?}");
        self.check()?;
        self.answer_timeouts()
    }

    fn late_route(&mut self, pick: u16) -> R {
        let r = if self.ended_routes.is_empty() || pick % 4 == 0 {
            self.last_route + 1 + u64::from(pick % 3)
        } else {
            self.ended_routes[pick as usize % self.ended_routes.len()]
        };
        let before = self.e.stats();
        self.steps += 1;
        let got = if pick % 2 == 0 { self.e.route_done(r, &[], self.now) } else { self.e.route_failed(r, self.now) };
        ensure!(got == Err(InputError::UnknownRoute(r)), "late route answer: {got:?}");
        self.refused(&before, "late route answer")
    }

    /// Invariant: a due queue is not left waiting — after `handle_time` (an item's
    /// `maxWaitMs` window has closed) or `flush()`/`close()` (it was queued before), no
    /// never-sent item stays queued while its key may start a call (the routing queue always
    /// may).
    fn check_due(&self, due: impl Fn(&Slot) -> bool) -> R {
        let total = self.flights.len();
        for (id, s) in &self.slots {
            if s.st != St::Queued || !(self.closed || due(s)) {
                continue;
            }
            let on_key = self.flights.values().filter(|f| f.key == s.key).count();
            let per_key = self.cfg.max_in_flight_per_key.map_or(usize::MAX, |n| n as usize);
            let room = total < self.cfg.max_in_flight as usize && on_key < per_key;
            ensure!(
                s.key != UNROUTED && !room,
                "item {id} (key {}, queued at {}) is due at {} but stays queued",
                s.key,
                s.entered_at,
                self.now
            );
        }
        Ok(())
    }

    fn flush(&mut self, close: bool) -> R {
        let set = self.live_uids();
        let queued: BTreeSet<u64> = self.slots.values().filter(|s| s.st == St::Queued).map(|s| s.uid).collect();
        self.steps += 1;
        let f = if close { self.e.close(self.now) } else { self.e.flush(self.now) };
        ensure!(f > self.last_flush, "flush id {f} not fresh");
        self.last_flush = f;
        self.flushes.insert(f, set);
        if close {
            self.closed = true;
            self.close_flush = Some(f);
            self.close_done = false;
        }
        self.drain()?;
        self.no_settles(if close { "close" } else { "flush" })?;
        self.check_due(|s| queued.contains(&s.uid))?;
        self.check()?;
        self.answer_timeouts()
    }

    /// close(), then drive everything to completion: answer routes, complete calls ok, run
    /// ticks and timers, until the close's Flushed arrives.
    fn finish(&mut self) -> R {
        self.flush(true)?;
        let mut rounds = 0u64;
        while !self.close_done || !self.flights.is_empty() || !self.routes.is_empty() {
            rounds += 1;
            ensure!(rounds < 100_000, "close does not complete");
            if self.wake_pending() {
                self.tick()?;
            } else if !self.routes.is_empty() {
                self.route(0, &RouteHow::Keys(rounds))?;
            } else if !self.flights.is_empty() {
                self.outcome_op(0, &How::AllOk)?;
            } else if let Some(t) = self.e.poll_timeout() {
                self.now = self.now.max(t);
                self.handle_time()?;
            } else {
                return Err(TestCaseError::fail(format!(
                    "close stalled: no call, no timer, flush done: {}, items {:?}",
                    self.close_done, self.slots
                )));
            }
        }
        // Adds after close are refused.
        self.add(0, 2, None, None, false)?;
        self.add(1, 2, Some(50), Some(0), false)?;
        // Invariant: close() leaves nothing unsettled (and nothing allocated, armed or queued).
        ensure!(
            self.e.unsettled() == 0 && self.slots.is_empty(),
            "after close: unsettled {}, slots {:?}",
            self.e.unsettled(),
            self.slots
        );
        ensure!(self.e.poll_timeout().is_none(), "timer armed after close");
        let st = self.e.stats();
        ensure!(
            st.queued == 0 && st.in_flight_batches == 0 && st.items == st.succeeded + st.failed,
            "stats after close: {st:?}"
        );
        // close() is idempotent: a second one completes at once.
        self.flush(true)?;
        ensure!(self.close_done, "second close did not complete at once");
        Ok(())
    }
}

/// One case: `close_at` closes the engine early (adds are refused from then on).
fn scenario(cfg: Config, seed: u64, ops: &[Op], close_at: Option<usize>) -> R {
    let defaults = cfg == Config::default();
    let mut h = H::new(cfg, seed);
    h.seen[DEFAULT_CONFIGS] = u64::from(defaults);
    let r = (|| {
        for (i, op) in ops.iter().enumerate() {
            if std::env::var_os("HB_TRACE").is_some() {
                eprintln!("op {i}: {op:?}");
            }
            let r = if close_at == Some(i) { h.flush(true) } else { h.run(op) };
            r.map_err(|e| TestCaseError::fail(format!("step {i} ({op:?}): {e}")))?;
        }
        h.finish().map_err(|e| TestCaseError::fail(format!("finish: {e}")))
    })();
    STEPS.fetch_add(h.steps, Relaxed);
    h.seen[0] = h.batches;
    h.seen[1] = h.retries;
    h.seen[5] = h.bisects;
    h.seen[6] = h.throttled;
    for (i, &n) in h.seen.iter().enumerate() {
        if i == MAX_SLOTS {
            SEEN[i].fetch_max(n, Relaxed);
        } else {
            SEEN[i].fetch_add(n, Relaxed);
        }
    }
    r
}

#[test]
fn engine_properties() {
    let mut runner = TestRunner::new(RunnerConfig {
        // PROPTEST_CASES=n runs more (or fewer) cases.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES),
        failure_persistence: None,
        max_shrink_iters: 20_000,
        ..RunnerConfig::default()
    });
    let strategy = (
        config_strategy(),
        any::<u64>(),
        proptest::collection::vec(op_strategy(), OPS),
        proptest::option::weighted(0.2, 0..OPS.end),
    );
    let start = Instant::now();
    let result = runner.run(&strategy, |(cfg, seed, ops, close_at)| scenario(cfg, seed, &ops, close_at));
    let steps = STEPS.load(Relaxed);
    eprintln!(
        "engine_properties: {} cases, {steps} engine steps (incl. shrinking), {:.1?}",
        runner.config().cases,
        start.elapsed()
    );
    let seen: Vec<String> =
        SEEN_NAMES.iter().zip(&SEEN).map(|((n, _), c)| format!("{n} {}", c.load(Relaxed))).collect();
    eprintln!("engine_properties: {}", seen.join(", "));
    if let Err(e) = result {
        panic!("{e}");
    }
    if runner.config().cases >= CASES {
        assert!(steps >= 100_000, "only {steps} engine steps");
        for ((name, min), count) in SEEN_NAMES.iter().zip(&SEEN) {
            let count = count.load(Relaxed);
            assert!(count >= *min, "coverage: {name} ran {count} times, fewer than {min}");
        }
    }
}

/// A shrunk case the property test found: key A ranked by a queued item whose deadline had passed
/// went before key B, then its cut expired that item and sent a newer one (order across keys).
#[test]
fn regression_order_across_keys_skips_items_that_expire_at_the_cut() {
    let (cfg, seed, ops, close_at) = (
        Config {
            max_batch_size: 9.0,
            max_wait_ms: 0.0,
            max_batch_weight: Some(4.0),
            max_queued: 5.0,
            when_full: WhenFull::Reject,
            max_in_flight: 3.0,
            max_in_flight_per_key: Some(1.0),
            timeout_ms: None,
            error_mode: ErrorMode::Partial,
            retry: RetryConfig {
                max_attempts: 1.0,
                base_delay_ms: 0.0,
                max_delay_ms: 5.0,
                multiplier: 1.0,
                jitter: Jitter::Full,
                max_retry_after_ms: 0.0,
                budget: BudgetOption::Enabled(false),
            },
            bisect: true,
            adaptive: false,
            circuit_breaker: None,
        },
        0,
        vec![
            Op::Add { key: 0, weight: 2, deadline: None, dedupe: None },
            Op::Add { key: 1, weight: 0, deadline: None, dedupe: None },
            Op::Add { key: 0, weight: 7, deadline: None, dedupe: None },
            Op::Tick,
            Op::Add { key: 2, weight: 0, deadline: None, dedupe: None },
            Op::Add { key: 3, weight: 0, deadline: None, dedupe: None },
            Op::Add { key: 2, weight: 0, deadline: None, dedupe: None },
            Op::Tick,
            Op::Outcome { pick: 4201, how: How::AllOk },
            Op::Outcome {
                pick: 16225,
                how: How::Fail { shape: false, retryable: 0, status: 0, class: 2, retry_after: None },
            },
            Op::Outcome { pick: 30646, how: How::AllOk },
            Op::Add { key: 2, weight: 0, deadline: Some(18), dedupe: None },
            Op::Outcome { pick: 9869, how: How::AllOk },
            Op::AddInvalid(0),
            Op::Add { key: 0, weight: 0, deadline: None, dedupe: None },
            Op::Outcome { pick: 3174, how: How::AllOk },
            Op::Advance { ms: 16, fire: false },
            Op::Add { key: 1, weight: 0, deadline: None, dedupe: None },
            Op::Add { key: 2, weight: 0, deadline: None, dedupe: None },
            Op::Outcome { pick: 22880, how: How::AllOk },
        ],
        None,
    );
    scenario(cfg, seed, &ops, close_at).unwrap();
}

/// A shrunk case: a key in the ready heap whose waiting items had all passed their deadline was
/// never served, so nothing expired them there (found while fixing the case above).
#[test]
fn regression_a_key_holding_only_expired_items_is_still_served() {
    let (cfg, seed, ops, close_at) = (
        Config {
            max_batch_size: 2.0,
            max_wait_ms: 0.0,
            max_batch_weight: Some(4.0),
            max_queued: 3.0,
            when_full: WhenFull::Reject,
            max_in_flight: 1.0,
            max_in_flight_per_key: None,
            timeout_ms: None,
            error_mode: ErrorMode::Partial,
            retry: RetryConfig {
                max_attempts: 1.0,
                base_delay_ms: 0.0,
                max_delay_ms: 5.0,
                multiplier: 1.0,
                jitter: Jitter::Full,
                max_retry_after_ms: 0.0,
                budget: BudgetOption::Enabled(false),
            },
            bisect: false,
            adaptive: true,
            circuit_breaker: None,
        },
        0,
        vec![
            Op::Add { key: 0, weight: 2, deadline: None, dedupe: None },
            Op::Add { key: 1, weight: 0, deadline: None, dedupe: None },
            Op::Add { key: 0, weight: 7, deadline: Some(3), dedupe: None },
            Op::Advance { ms: 1, fire: false },
            Op::Advance { ms: 0, fire: false },
            Op::Outcome { pick: 0, how: How::AllOk },
        ],
        None,
    );
    scenario(cfg, seed, &ops, close_at).unwrap();
}

/// `n` successes for call `b`: through `complete_ok` for even ids, `complete` for odd ones.
fn all_ok(e: &mut Engine, b: BatchId, n: usize, now: f64) -> Result<(), InputError> {
    if b % 2 == 0 {
        e.complete_ok(b, n, now)
    } else {
        e.complete(b, &vec![ItemResult::Ok; n], now)
    }
}
