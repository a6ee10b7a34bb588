//! The shell around [`Engine`]: the only module of the Rust API that talks to the engine.
//!
//! Handles (`Batcher`, `AddFuture`) give inputs (`add`, `cancel`, `flush`, `close`) under the
//! state's lock and turn the outputs they cause into owned work at once, so that an item id the
//! engine frees is never confused with its next owner. The driver task runs that work: transport
//! and `resolve_keys` calls, hooks, the one timer, and the outcomes it feeds back. No policy here.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{AbortHandle, Abortable, Aborted, CatchUnwind, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::task::AtomicWaker;
use web_time::Instant;

use super::batcher::{AddFuture, AddState, Batcher, Stats};
use super::error::{Error, ErrorCode as Code, ItemError, TransportError};
use super::options::{ms, AddOptions, CircuitInfo, CircuitState, Class, Classify};
use super::runtime::Runtime;
use super::transport::{Batch, BatchEndInfo, BatchInfo, BatchResult, Transport};
use crate::engine::{
    self, AddError, BatchId, Engine, Failure, FailureKind, FlushId, ItemId, ItemResult, KeyId, Outcome, Output,
    RouteId, DEFAULT_KEY, UNROUTED,
};

type KeyFn<I> = Box<dyn Fn(&I) -> Option<String> + Send + Sync>;
/// What a `resolve_keys` call returns. On wasm32 the future need not be `Send`: a browser's
/// router awaits JavaScript (`JsFuture`, timers), and there the driver is a local task.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type RouteFuture = futures::future::BoxFuture<'static, Result<Vec<Option<String>>, TransportError>>;
#[cfg(target_arch = "wasm32")]
pub(crate) type RouteFuture = futures::future::LocalBoxFuture<'static, Result<Vec<Option<String>>, TransportError>>;
type ResolveKeys<I> = Box<dyn Fn(Vec<I>) -> RouteFuture + Send + Sync>;
type Caller<O> = oneshot::Sender<Result<O, Error>>;
type StartHook<I> = Box<dyn Fn(&BatchInfo<'_, I>) + Send + Sync>;
type EndHook<I, O> = Box<dyn Fn(&BatchEndInfo<'_, I, O>) + Send + Sync>;
type WeightFn<I> = Box<dyn Fn(&I) -> f64 + Send + Sync>;
type CircuitHook = Box<dyn Fn(&CircuitInfo<'_>) + Send + Sync>;
/// A batcher and its driver, before the driver is spawned.
pub(crate) type Parts<I, O, T, R> = (Batcher<I, O>, DriverTask<I, O, T, R>);

/// The hooks of the builder.
pub(crate) struct Hooks<I, O> {
    pub(crate) start: Option<StartHook<I>>,
    pub(crate) end: Option<EndHook<I, O>>,
    pub(crate) circuit: Option<CircuitHook>,
}

/// The builder's functions (everything but the numbers the engine takes).
pub(crate) struct Options<I, O> {
    pub(crate) key_of: Option<KeyFn<I>>,
    pub(crate) weight_of: Option<WeightFn<I>>,
    pub(crate) dedupe_by: Option<KeyFn<I>>,
    /// Set by `dedupe_by` (which requires `O: Clone`): callers sharing a slot get clones.
    pub(crate) clone_output: Option<fn(&O) -> O>,
    pub(crate) resolve_keys: Option<ResolveKeys<I>>,
    pub(crate) classify: Option<Classify>,
    pub(crate) hooks: Hooks<I, O>,
    /// Listen for page hide (only where there is a document: `web` on wasm32).
    pub(crate) flush_on_hide: bool,
}

impl<I, O> Default for Options<I, O> {
    fn default() -> Self {
        Options {
            key_of: None,
            weight_of: None,
            dedupe_by: None,
            clone_output: None,
            resolve_keys: None,
            classify: None,
            hooks: Hooks::default(),
            flush_on_hide: false,
        }
    }
}

/// What a batcher's handles and its driver share.
pub(crate) struct Shared<I, O> {
    state: Mutex<State<I, O>>,
    /// The driver's waker: handles wake it when they leave it work.
    driver: AtomicWaker,
    options: Options<I, O>,
    /// `I::clone` (a pointer, so that handles and their `Drop` need no `I: Clone` bound).
    clone_item: fn(&I) -> I,
    clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// Engine time is milliseconds since this instant.
    origin: Instant,
    /// Live `Batcher` handles: the last one dropped closes the batcher.
    handles: AtomicUsize,
    /// `timeout` in ms (NaN: none), for the messages of calls and routes that outlived it.
    timeout_ms: f64,
}

/// One accepted add: its value (until the engine releases it) and its caller (until settled).
/// `gen` tells a reused id from the caller that held it before.
struct Slot<I, O> {
    value: Option<I>,
    caller: Option<Caller<O>>,
    gen: u32,
}

/// Work the outputs asked for, run by the driver in order.
enum Job<I> {
    Call {
        batch: BatchId,
        key: Option<Arc<str>>,
        items: Vec<I>,
        attempt: u32,
        deadline: Option<f64>,
        weight: f64,
        keepalive: bool,
    },
    Route {
        route: RouteId,
        items: Vec<I>,
    },
    TimedOut(BatchId),
    Abandoned(BatchId),
}

struct State<I, O> {
    engine: Engine,
    slots: Vec<Slot<I, O>>,
    /// Key id → name, for `Batch::key` (the engine's names, as `Arc`s handed to every batch).
    keys: Vec<Option<Arc<str>>>,
    jobs: VecDeque<Job<I>>,
    flushes: HashMap<FlushId, oneshot::Sender<()>>,
    closers: Vec<oneshot::Sender<()>>,
    /// `handle_time` is due now (`Tick`) or once other tasks have run (`TurnEnd`).
    tick: bool,
    turn_end: bool,
    /// The driver has ended (or was dropped): nothing will drain outputs any more.
    stopped: bool,
    /// The page-hide flush not settled yet: every call dispatched until its `Flushed` is
    /// keepalive, also one sent later (held by `max_in_flight`, routing, a retry), as in JS.
    hiding: Option<FlushId>,
    /// Per key id: the batch-level error that opened its circuit (E_CIRCUIT_OPEN's cause).
    circuit_errors: Vec<Option<Error>>,
    /// Per call in flight: its item ids, which `Output::Succeeded` settles all at once.
    dispatched: HashMap<BatchId, Vec<ItemId>>,
}

/// Outcomes to send once the lock is released (and, after a call, once the hooks have run).
struct Settled<O> {
    /// `Err`: an error made under the lock (E_CIRCUIT_OPEN, whose cause the state keeps).
    callers: Vec<(Caller<O>, Result<Outcome, Error>)>,
    flushed: Vec<oneshot::Sender<()>>,
    ends: Vec<engine::BatchEnd>,
    circuits: Vec<(Option<Arc<str>>, CircuitState, Option<Error>)>,
}

impl<O> Default for Settled<O> {
    fn default() -> Self {
        Settled { callers: Vec::new(), flushed: Vec::new(), ends: Vec::new(), circuits: Vec::new() }
    }
}

/// What the outcomes being sent refer to (the JS face's `cur`).
enum Cause<O> {
    None,
    /// A call's results, whole (the hook sees them so) …
    Results(Vec<Result<O, ItemError>>),
    /// … then being handed out to callers.
    Taking(Vec<Option<Result<O, ItemError>>>),
    Failed {
        error: Error,
        thrown: Option<TransportError>,
    },
    RouteFailed(TransportError),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere (a transport's) must not make every later add panic too.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The batcher and its driver for a validated config.
pub(crate) fn start<I, O, T, R>(
    config: engine::Config,
    options: Options<I, O>,
    seed: u64,
    runtime: Arc<R>,
    transport: T,
) -> Result<Parts<I, O, T, R>, Error>
where
    I: Clone + 'static,
    O: 'static,
    T: Transport<I, O>,
    R: Runtime,
{
    let timeout_ms = config.timeout_ms.unwrap_or(f64::NAN);
    let engine = Engine::new(config, seed).map_err(config_error)?;
    let clock = {
        let runtime = runtime.clone();
        Box::new(move || runtime.now())
    };
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            engine,
            slots: Vec::new(),
            keys: Vec::new(),
            jobs: VecDeque::new(),
            flushes: HashMap::new(),
            closers: Vec::new(),
            tick: false,
            turn_end: false,
            stopped: false,
            hiding: None,
            circuit_errors: Vec::new(),
            dispatched: HashMap::new(),
        }),
        driver: AtomicWaker::new(),
        options,
        clone_item: I::clone,
        origin: runtime.now(),
        clock,
        handles: AtomicUsize::new(1),
        timeout_ms,
    });
    #[cfg(all(feature = "web", target_arch = "wasm32"))]
    if shared.options.flush_on_hide {
        super::web::listen_for_hide(&shared);
    }
    let task = DriverTask {
        shared: shared.clone(),
        transport,
        runtime,
        calls: FuturesUnordered::new(),
        in_flight: HashMap::new(),
        routes: FuturesUnordered::new(),
        sleep: None,
        sleep_at: None,
        yielded: false,
        handled: f64::NEG_INFINITY,
    };
    Ok((Batcher { shared }, task))
}

/// E_CONFIG naming the option as the builder spells it (`retry.maxAttempts` → `retry.max_attempts`).
fn config_error(e: engine::ConfigError) -> Error {
    let mut option = String::new();
    for c in e.option.path().chars() {
        if c.is_ascii_uppercase() {
            option.push('_');
            option.push(c.to_ascii_lowercase());
        } else {
            option.push(c);
        }
    }
    let option = option.strip_suffix("_ms").unwrap_or(&option).to_owned();
    Error::new(Code::Config, format!("hyperbatch: option `{option}` must be {}, got {}", e.rule.text(), e.value))
}

fn code(c: engine::ErrorCode) -> Code {
    match c {
        engine::ErrorCode::Config => Code::Config,
        engine::ErrorCode::Closed => Code::Closed,
        engine::ErrorCode::Full => Code::Full,
        engine::ErrorCode::TooLarge => Code::TooLarge,
        engine::ErrorCode::Aborted => Code::Aborted,
        engine::ErrorCode::Deadline => Code::Deadline,
        engine::ErrorCode::Timeout => Code::Timeout,
        engine::ErrorCode::Transport => Code::Transport,
        engine::ErrorCode::ResultShape => Code::ResultShape,
        engine::ErrorCode::FailFast => Code::FailFast,
        engine::ErrorCode::Atomic => Code::Atomic,
        engine::ErrorCode::Route => Code::Route,
        engine::ErrorCode::CircuitOpen => Code::CircuitOpen,
    }
}

impl<I, O> Shared<I, O> {
    fn now(&self) -> f64 {
        ms((self.clock)().saturating_duration_since(self.origin))
    }

    fn to_engine_time(&self, at: Instant) -> f64 {
        // Signed: a deadline before the batcher was built has passed, even on a clock that has not
        // moved since (tokio's paused clock), so it must not read as "now".
        match at.checked_duration_since(self.origin) {
            Some(d) => ms(d),
            None => -ms(self.origin.duration_since(at)),
        }
    }

    fn to_instant(&self, at: f64) -> Instant {
        self.origin + Duration::from_secs_f64(at.max(0.0) / 1000.0)
    }

    pub(crate) fn hold(&self) {
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A `Batcher` handle was dropped; the last one closes the batcher (queued items still go).
    pub(crate) fn release(&self) {
        if self.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            drop(self.close());
        }
    }

    pub(crate) fn add(self: &Arc<Self>, item: I, opts: AddOptions) -> AddFuture<I, O> {
        let refused = |e| AddFuture { state: AddState::Refused(Some(e)) };
        let key = match opts.key {
            Some(k) => Some(k),
            None => self.options.key_of.as_ref().and_then(|f| f(&item)),
        };
        let weight = match (opts.weight, &self.options.weight_of) {
            (Some(w), _) => w,
            (None, Some(f)) => f(&item),
            (None, None) => 1.0,
        };
        let dedupe = self.options.dedupe_by.as_ref().and_then(|f| f(&item));
        let deadline = opts.deadline.map(|d| self.to_engine_time(d));
        let now = self.now();
        let (tx, rx) = oneshot::channel();
        let mut settled = Settled::default();
        let accepted = {
            let mut st = lock(&self.state);
            if st.stopped {
                return refused(Error::closed());
            }
            let key = match key {
                Some(name) => st.intern(&name),
                None if self.options.resolve_keys.is_some() => UNROUTED,
                None => DEFAULT_KEY,
            };
            let r = st.engine.add(key, weight, deadline, dedupe.as_deref(), now);
            let r = r.map(|(id, _)| {
                let slot = st.slot(id);
                slot.value = Some(item);
                slot.caller = Some(tx);
                (id, slot.gen)
            });
            self.take_outputs(&mut st, &mut settled, None);
            r
        };
        self.settle(settled, &mut Cause::None);
        match accepted {
            Ok((id, gen)) => AddFuture { state: AddState::Queued { shared: self.clone(), id, gen, outcome: rx } },
            Err(AddError::Rejected(c)) => refused(match c {
                engine::ErrorCode::Closed => Error::closed(),
                engine::ErrorCode::Full => Error::new(Code::Full, "hyperbatch: the queue is full (max_queued)"),
                engine::ErrorCode::TooLarge => {
                    Error::new(Code::TooLarge, format!("hyperbatch: item weight {weight} exceeds max_batch_weight"))
                }
                engine::ErrorCode::Deadline => Error::new(Code::Deadline, "hyperbatch: the item's deadline passed"),
                c => Error::new(code(c), format!("hyperbatch: {}", code(c))),
            }),
            // As JS words it (the item's weight is the only add input that can be out of range).
            Err(AddError::Invalid(engine::InputError::InvalidWeight(w))) => refused(Error::new(
                Code::Config,
                format!("hyperbatch: option `weight` must be a finite number >= 0, got {}", js_number(w)),
            )),
            Err(AddError::Invalid(e)) => refused(Error::new(Code::Config, format!("hyperbatch: add refused: {e}"))),
        }
    }

    /// The caller of item `id` (generation `gen`) has gone: abort the item if it is unsettled.
    pub(crate) fn abort(&self, id: ItemId, gen: u32) {
        let mut settled = Settled::default();
        {
            let mut st = lock(&self.state);
            if st.stopped {
                return;
            }
            let slot = &mut st.slots[id as usize];
            if slot.gen != gen || slot.caller.is_none() {
                return;
            }
            slot.caller = None;
            let now = self.now();
            if st.engine.cancel(id, now).is_err() {
                return;
            }
            self.take_outputs(&mut st, &mut settled, None);
        }
        self.settle(settled, &mut Cause::None);
    }

    pub(crate) fn flush(&self) -> Option<oneshot::Receiver<()>> {
        self.input(|st, now| {
            let id = st.engine.flush(now);
            let (tx, rx) = oneshot::channel();
            st.flushes.insert(id, tx);
            rx
        })
    }

    /// The page was hidden (`flush_on_hide`): every queue dispatches now, as keepalive calls.
    #[cfg_attr(not(all(feature = "web", target_arch = "wasm32")), allow(dead_code))]
    pub(crate) fn hide(&self) {
        let mut settled = Settled::default();
        {
            let mut st = lock(&self.state);
            if st.stopped {
                return;
            }
            // Its Flushed resolves nothing but the keepalive flag (`take_outputs`); jobs queued
            // before keep theirs.
            st.hiding = Some(st.engine.flush(self.now()));
            self.take_outputs(&mut st, &mut settled, None);
        }
        self.settle(settled, &mut Cause::None);
        self.driver.wake();
    }

    /// Removes the page-hide listeners (`close`, or the driver's end); idempotent.
    fn stop_listening_for_hide(&self) {
        #[cfg(all(feature = "web", target_arch = "wasm32"))]
        if self.options.flush_on_hide {
            super::web::stop_listening_for_hide(self.hide_id());
        }
    }

    /// The key of this batcher's page-hide listeners: its address, unique while it lives (the
    /// driver, which holds it, removes them when it ends).
    #[cfg(all(feature = "web", target_arch = "wasm32"))]
    pub(crate) fn hide_id(&self) -> usize {
        self as *const Self as usize
    }

    pub(crate) fn close(&self) -> Option<oneshot::Receiver<()>> {
        self.stop_listening_for_hide();
        self.input(|st, now| {
            st.engine.close(now); // its Flushed resolves nothing: the driver's end does
            let (tx, rx) = oneshot::channel();
            st.closers.push(tx);
            rx
        })
    }

    /// Gives the engine an input from a handle; `None` once the driver has stopped.
    fn input<T>(&self, f: impl FnOnce(&mut State<I, O>, f64) -> T) -> Option<T> {
        let mut settled = Settled::default();
        let r = {
            let mut st = lock(&self.state);
            if st.stopped {
                return None;
            }
            let r = f(&mut st, self.now());
            self.take_outputs(&mut st, &mut settled, None);
            r
        };
        self.settle(settled, &mut Cause::None);
        self.driver.wake();
        Some(r)
    }

    pub(crate) fn stats(&self) -> Stats {
        let s = lock(&self.state).engine.stats();
        Stats {
            queued: s.queued,
            in_flight_batches: s.in_flight_batches,
            in_flight_items: s.in_flight_items,
            batches: s.batches,
            items: s.items,
            succeeded: s.succeeded,
            failed: s.failed,
            retries: s.retries,
            bisects: s.bisects,
            throttled: s.throttled,
            circuits_open: s.circuits_open,
        }
    }

    fn settle_item(st: &mut State<I, O>, settled: &mut Settled<O>, item: ItemId, outcome: Outcome, release: bool) {
        let slot = &mut st.slots[item as usize];
        if release {
            slot.value = None;
        }
        slot.gen = slot.gen.wrapping_add(1);
        if let Some(caller) = slot.caller.take() {
            let outcome = match outcome {
                Outcome::CircuitOpen { key } => Err(circuit_open(st.circuit_errors.get(key as usize))),
                outcome => Ok(outcome),
            };
            settled.callers.push((caller, outcome));
        }
    }

    /// Turns every pending output into owned work (under the lock); wakes the driver when it
    /// has some or when its timer must move.
    fn take_outputs(&self, st: &mut State<I, O>, settled: &mut Settled<O>, failure: Option<&Error>) {
        let mut wake = st.engine.needs_poll();
        while let Some(output) = st.engine.poll_output() {
            match output {
                Output::Tick => st.tick = true,
                Output::TurnEnd => st.turn_end = true,
                Output::Dispatch(d) => {
                    let items: Vec<I> = d
                        .items
                        .iter()
                        .map(|&id| (self.clone_item)(st.slots[id as usize].value.as_ref().expect("dispatched item")))
                        .collect();
                    let key = st.keys.get(d.key as usize).cloned().flatten();
                    st.dispatched.insert(d.batch, d.items.clone());
                    let (attempt, deadline, weight, keepalive) = (d.attempt, d.deadline, d.weight, st.hiding.is_some());
                    st.jobs.push_back(Job::Call { batch: d.batch, key, items, attempt, deadline, weight, keepalive });
                }
                Output::Route { route, items } => {
                    let items = items
                        .iter()
                        .map(|&id| (self.clone_item)(st.slots[id as usize].value.as_ref().expect("routed item")))
                        .collect();
                    st.jobs.push_back(Job::Route { route, items });
                }
                Output::Settle { item, outcome, release } => Self::settle_item(st, settled, item, outcome, release),
                // Every item of the call succeeded: item i resolves with entry i.
                Output::Succeeded { batch } => {
                    for (i, item) in st.dispatched.remove(&batch).unwrap_or_default().into_iter().enumerate() {
                        Self::settle_item(st, settled, item, Outcome::Ok { index: i as u32 }, true);
                    }
                }
                Output::Release { item } => st.slots[item as usize].value = None,
                Output::CallTimedOut { batch } => st.jobs.push_back(Job::TimedOut(batch)),
                Output::Abandoned { batch } => st.jobs.push_back(Job::Abandoned(batch)),
                Output::BatchEnd(end) => {
                    st.dispatched.remove(&end.batch);
                    settled.ends.push(end);
                }
                Output::Admitted { .. } => {}
                Output::KeyReleased { key } => {
                    st.keys[key as usize] = None;
                    if let Some(e) = st.circuit_errors.get_mut(key as usize) {
                        *e = None;
                    }
                }
                Output::CircuitChange { key, state } => {
                    // Opened by the batch-level failure being reported now: the cause of its rejections.
                    let i = key as usize;
                    if st.circuit_errors.len() <= i {
                        st.circuit_errors.resize(i + 1, None);
                    }
                    let opened = state == engine::CircuitState::Open;
                    st.circuit_errors[i] = failure.filter(|_| opened).cloned();
                    let state = match state {
                        engine::CircuitState::Closed => CircuitState::Closed,
                        engine::CircuitState::Open => CircuitState::Open,
                        engine::CircuitState::HalfOpen => CircuitState::HalfOpen,
                    };
                    let name = st.keys.get(i).cloned().flatten();
                    settled.circuits.push((name, state, st.circuit_errors[i].clone()));
                }
                Output::Flushed { flush } => {
                    if st.hiding == Some(flush) {
                        st.hiding = None;
                    }
                    settled.flushed.extend(st.flushes.remove(&flush));
                }
            }
            wake = true;
        }
        if wake {
            self.driver.wake();
        }
    }

    /// Sends outcomes: callers first (in the engine's order), then flushes.
    fn settle(&self, settled: Settled<O>, cause: &mut Cause<O>) {
        if let Cause::Results(_) = cause {
            let Cause::Results(r) = std::mem::replace(cause, Cause::None) else { unreachable!() };
            *cause = Cause::Taking(r.into_iter().map(Some).collect());
        }
        let clone = self.options.clone_output;
        // Callers sharing a result (dedupe) get clones, the last one the value itself.
        let mut shares: HashMap<u32, usize> = HashMap::new();
        if clone.is_some() {
            for (_, o) in &settled.callers {
                if let Ok(Outcome::Ok { index }) = o {
                    *shares.entry(*index).or_default() += 1;
                }
            }
        }
        for (caller, outcome) in settled.callers {
            let r = match outcome {
                Ok(outcome) => outcome_of(outcome, cause, &mut shares, clone, self.timeout_ms),
                Err(e) => Err(e),
            };
            let _ = caller.send(r);
        }
        if let Some(hook) = &self.options.hooks.circuit {
            for (key, state, error) in &settled.circuits {
                let info = CircuitInfo { key: key.as_deref(), state: *state, error: error.as_ref() };
                guarded(|| hook(&info));
            }
        }
        for f in settled.flushed {
            let _ = f.send(());
        }
    }
}

/// A number as JavaScript prints it in a message (`Infinity`, not `inf`).
fn js_number(x: f64) -> String {
    match x {
        f64::INFINITY => "Infinity".into(),
        f64::NEG_INFINITY => "-Infinity".into(),
        x => x.to_string(),
    }
}

/// E_CIRCUIT_OPEN, `source()` = the failure that opened the key's circuit.
fn circuit_open(cause: Option<&Option<Error>>) -> Error {
    match cause.and_then(Option::as_ref) {
        Some(e) => {
            let text = e.transport_error().map_or_else(|| e.to_string(), ToString::to_string);
            Error::new(Code::CircuitOpen, format!("hyperbatch: the key's circuit is open: {text}"))
                .with_cause(Arc::new(e.clone()))
        }
        None => Error::new(Code::CircuitOpen, "hyperbatch: the key's circuit is open"),
    }
}

/// The caller's result for `outcome`, taken from what `cause` holds.
fn outcome_of<O>(
    outcome: Outcome,
    cause: &mut Cause<O>,
    shares: &mut HashMap<u32, usize>,
    clone: Option<fn(&O) -> O>,
    timeout_ms: f64,
) -> Result<O, Error> {
    let item_error = |cause: &Cause<O>, i: u32| match cause {
        Cause::Taking(r) => match r.get(i as usize) {
            Some(Some(Err(e))) => Some(e.clone()),
            _ => None,
        },
        _ => None,
    };
    let lost = || Error::new(Code::Transport, "hyperbatch: internal error: the outcome's result is missing");
    match outcome {
        Outcome::Ok { index } => {
            let Cause::Taking(results) = cause else { return Err(lost()) };
            let i = index as usize;
            let share = shares.get_mut(&index);
            match (share, clone, results.get(i)) {
                (Some(n), Some(clone), Some(Some(Ok(v)))) if *n > 1 => {
                    *n -= 1;
                    Ok(clone(v))
                }
                _ => match results.get_mut(i).and_then(Option::take) {
                    Some(Ok(v)) => Ok(v),
                    _ => Err(lost()),
                },
            }
        }
        Outcome::ItemError { index } => Err(item_error(cause, index).map_or_else(lost, |e| Error::item(&e))),
        Outcome::FailFast { cause: i } => Err(item_error(cause, i).map_or_else(lost, |e| {
            Error::with_item_cause(Code::FailFast, "hyperbatch: another item of the batch failed (fail_fast)", &e)
        })),
        Outcome::Atomic { cause: i } => Err(item_error(cause, i)
            .map_or_else(lost, |e| Error::with_item_cause(Code::Atomic, "hyperbatch: the atomic batch failed", &e))),
        Outcome::Transport { attempts } => Err(match cause {
            Cause::Failed { thrown: Some(t), .. } => Error::transport(t, attempts),
            Cause::Failed { error, .. } => Error::transport(&TransportError::new(error.to_string()), attempts),
            _ => lost(),
        }),
        Outcome::BatchError => Err(match cause {
            Cause::Failed { error, .. } => error.clone(),
            _ => lost(),
        }),
        Outcome::CircuitOpen { .. } => Err(circuit_open(None)),
        Outcome::Code(c) => Err(match c {
            engine::ErrorCode::Aborted => Error::aborted(),
            engine::ErrorCode::Deadline => Error::new(Code::Deadline, "hyperbatch: the item's deadline passed"),
            engine::ErrorCode::Route => match cause {
                Cause::RouteFailed(e) => Error::new(Code::Route, format!("hyperbatch: resolve_keys failed: {e}"))
                    .with_cause(Arc::new(e.clone())),
                _ => Error::new(Code::Route, "hyperbatch: resolve_keys returned no key for this item"),
            },
            // Only a routed item fails so alone: its resolve_keys call outlived the timeout.
            engine::ErrorCode::Timeout => {
                let msg = format!("hyperbatch: resolve_keys took longer than timeout ({timeout_ms} ms)");
                Error::new(Code::Route, msg.clone()).with_cause(Arc::new(Error::new(Code::Timeout, msg)))
            }
            engine::ErrorCode::Closed => Error::closed(),
            c => Error::new(code(c), format!("hyperbatch: {}", code(c))),
        }),
    }
}

impl<I, O> State<I, O> {
    fn intern(&mut self, name: &str) -> KeyId {
        let id = self.engine.intern(name);
        let i = id as usize;
        if self.keys.len() <= i {
            self.keys.resize(i + 1, None);
        }
        if self.keys[i].is_none() {
            self.keys[i] = Some(name.into());
        }
        id
    }

    fn slot(&mut self, id: ItemId) -> &mut Slot<I, O> {
        let i = id as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || Slot { value: None, caller: None, gen: 0 });
        }
        &mut self.slots[i]
    }
}

/// A transport call in flight, as the driver polls it. A transport that panics fails its call
/// (like a JS transport that throws) instead of taking the driver down.
struct Call<F> {
    batch: BatchId,
    state: CallState<F>,
}

enum CallState<F> {
    Running(Abortable<Pin<Box<CatchUnwind<AssertUnwindSafe<F>>>>>),
    /// `Transport::call` itself panicked.
    Panicked(Option<TransportError>),
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn panicked(payload: Box<dyn std::any::Any + Send>) -> TransportError {
    TransportError::new(format!("the transport panicked: {}", panic_message(&*payload)))
}

fn route_panicked(payload: Box<dyn std::any::Any + Send>) -> TransportError {
    TransportError::new(format!("resolve_keys panicked: {}", panic_message(&*payload)))
}

impl<O, F: Future<Output = BatchResult<O>>> Future for Call<F> {
    type Output = (BatchId, Result<BatchResult<O>, Aborted>);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let batch = self.batch;
        let r = match &mut self.state {
            CallState::Running(f) => match Pin::new(f).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.map(|r| r.unwrap_or_else(|p| Err(panicked(p)))),
            },
            CallState::Panicked(e) => Ok(Err(e.take().expect("polled after completion"))),
        };
        Poll::Ready((batch, r))
    }
}

/// What the driver keeps of a call in flight.
struct InFlight<I> {
    key: Option<Arc<str>>,
    /// The call's items for `on_batch_end` (a copy only when that hook is set).
    items: Vec<I>,
    size: usize,
    abort: AbortHandle,
}

#[cfg(not(target_arch = "wasm32"))]
type RouteCall = futures::future::BoxFuture<'static, (RouteId, usize, Result<Vec<Option<String>>, TransportError>)>;
#[cfg(target_arch = "wasm32")]
type RouteCall =
    futures::future::LocalBoxFuture<'static, (RouteId, usize, Result<Vec<Option<String>>, TransportError>)>;

/// The driver's loop, generic over the transport and the runtime (so it is `Send` exactly when
/// they are: `tokio::spawn` needs it, `spawn_local` does not).
pub(crate) struct DriverTask<I, O, T: Transport<I, O>, R: Runtime> {
    shared: Arc<Shared<I, O>>,
    transport: T,
    runtime: Arc<R>,
    calls: FuturesUnordered<Call<T::Future>>,
    in_flight: HashMap<BatchId, InFlight<I>>,
    routes: FuturesUnordered<RouteCall>,
    sleep: Option<Pin<Box<R::Sleep>>>,
    sleep_at: Option<f64>,
    /// A `TurnEnd` made the driver yield once, so adds from other tasks join the batch.
    yielded: bool,
    /// The engine time of the last `handle_time`.
    handled: f64,
}

impl<I: Clone + 'static, O: 'static, T: Transport<I, O>, R: Runtime> DriverTask<I, O, T, R> {
    /// Gives the engine an input from the driver and runs what it leads to.
    fn input(&mut self, cause: Cause<O>, f: impl FnOnce(&mut State<I, O>, f64), in_flight: Option<InFlight<I>>) {
        let shared = self.shared.clone();
        let mut settled = Settled::default();
        {
            let mut st = lock(&shared.state);
            f(&mut st, shared.now());
            let failure = match &cause {
                Cause::Failed { error, .. } => Some(error),
                _ => None,
            };
            shared.take_outputs(&mut st, &mut settled, failure);
        }
        let mut cause = cause;
        if let (Some(hook), Some(call)) = (&shared.options.hooks.end, &in_flight) {
            for end in &settled.ends {
                end_hook(hook, end, call, &cause);
            }
        }
        shared.settle(settled, &mut cause);
    }

    fn handle_time(&mut self) {
        let mut handled = 0.0;
        self.input(
            Cause::None,
            |st, now| {
                handled = now;
                st.engine.handle_time(now);
            },
            None,
        );
        self.handled = handled;
    }

    /// The transport answered.
    fn answered(&mut self, batch: BatchId, result: BatchResult<O>) {
        let Some(call) = self.in_flight.remove(&batch) else { return };
        let n = call.size;
        match result {
            Ok(results) if results.len() == n => {
                let entries: Vec<ItemResult> = results
                    .iter()
                    .map(|r| match r {
                        Ok(_) => ItemResult::Ok,
                        Err(e) => ItemResult::Err {
                            retryable: e.is_retryable(),
                            retry_after_ms: e.retry_after_hint().map(ms),
                        },
                    })
                    .collect();
                let cause = Cause::Results(results);
                self.input(cause, |st, now| drop(st.engine.complete(batch, &entries, now)), Some(call));
            }
            Ok(results) => {
                let error = Error::new(
                    Code::ResultShape,
                    format!(
                        "hyperbatch: transport must return an array of {n} entries, got an array of {}",
                        results.len()
                    ),
                );
                let failure = Failure {
                    class: self.class_of(&TransportError::of_code(Code::ResultShape, error.to_string())),
                    ..Failure::of_kind(FailureKind::ResultShape)
                };
                self.failed(batch, call, failure, error, None);
            }
            Err(thrown) => {
                let failure = Failure {
                    kind: FailureKind::Thrown,
                    retryable: thrown.is_retryable(),
                    status: thrown.status_code().map(f64::from),
                    retry_after_ms: thrown.retry_after_hint().map(ms),
                    class: self.class_of(&thrown),
                };
                self.failed(batch, call, failure, Error::call_failed(&thrown), Some(thrown));
            }
        }
    }

    /// The user's `classify(err)`, if any; one that panics leaves the default rule (as in JS).
    fn class_of(&self, e: &TransportError) -> Option<engine::Class> {
        let f = self.shared.options.classify.as_ref()?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(e))).ok()? {
            Class::Retry => Some(engine::Class::Retry),
            Class::Bisect => Some(engine::Class::Bisect),
            Class::Fail => Some(engine::Class::Fail),
        }
    }

    fn failed(&mut self, batch: BatchId, call: InFlight<I>, f: Failure, error: Error, thrown: Option<TransportError>) {
        let cause = Cause::Failed { error, thrown };
        self.input(cause, |st, now| drop(st.engine.fail(batch, f, now)), Some(call));
    }

    fn routed(&mut self, route: RouteId, n: usize, keys: Result<Vec<Option<String>>, TransportError>) {
        let keys = match keys {
            Ok(keys) if keys.len() != n => Err(TransportError::new(format!(
                "resolve_keys must return an array of {n} keys, got an array of {}",
                keys.len()
            ))),
            keys => keys,
        };
        let keys = match keys {
            Ok(keys) => keys,
            Err(e) => {
                return self.input(Cause::RouteFailed(e), |st, now| drop(st.engine.route_failed(route, now)), None)
            }
        };
        // Interned and handed over under one lock: no key is released in between.
        self.input(
            Cause::None,
            |st, now| {
                let ids: Vec<KeyId> =
                    keys.iter().map(|k| k.as_deref().map_or(UNROUTED, |name| st.intern(name))).collect();
                drop(st.engine.route_done(route, &ids, now));
            },
            None,
        );
    }

    /// Runs one job the outputs asked for.
    fn run(&mut self, job: Job<I>) {
        match job {
            Job::Call { batch, key, items, attempt, deadline, weight, keepalive } => {
                if let Some(hook) = &self.shared.options.hooks.start {
                    let info =
                        BatchInfo { id: batch, key: key.as_deref(), size: items.len(), weight, attempt, items: &items };
                    guarded(|| hook(&info));
                }
                let deadline = deadline.filter(|d| d.is_finite()).map(|d| self.shared.to_instant(d));
                let size = items.len();
                let kept = if self.shared.options.hooks.end.is_some() { items.clone() } else { Vec::new() };
                let call =
                    Batch { id: batch, key: key.as_deref().map(str::to_owned), items, attempt, deadline, keepalive };
                let (abort, registration) = AbortHandle::new_pair();
                let transport = &mut self.transport;
                let state = match std::panic::catch_unwind(AssertUnwindSafe(|| transport.call(call))) {
                    Ok(f) => {
                        CallState::Running(Abortable::new(Box::pin(AssertUnwindSafe(f).catch_unwind()), registration))
                    }
                    Err(p) => CallState::Panicked(Some(panicked(p))),
                };
                self.in_flight.insert(batch, InFlight { key, items: kept, size, abort });
                self.calls.push(Call { batch, state });
            }
            Job::Route { route, items } => {
                let n = items.len();
                let resolve = self.shared.options.resolve_keys.as_ref().expect("routes need resolve_keys");
                // A router that panics fails its items with E_ROUTE, as one that errs (not the driver).
                let routed = match std::panic::catch_unwind(AssertUnwindSafe(|| resolve(items))) {
                    Ok(keys) => futures::future::Either::Left(
                        AssertUnwindSafe(keys).catch_unwind().map(|r| r.unwrap_or_else(|p| Err(route_panicked(p)))),
                    ),
                    Err(p) => futures::future::Either::Right(futures::future::ready(Err(route_panicked(p)))),
                };
                self.routes.push(Box::pin(async move { (route, n, routed.await) }));
            }
            Job::TimedOut(batch) => {
                let Some(call) = self.in_flight.remove(&batch) else { return };
                call.abort.abort();
                let ms = self.shared.timeout_ms;
                let error = Error::new(
                    Code::Timeout,
                    format!("hyperbatch: the transport call took longer than timeout ({ms} ms)"),
                );
                let failure = Failure {
                    class: self.class_of(&TransportError::of_code(Code::Timeout, error.to_string())),
                    ..Failure::of_kind(FailureKind::Timeout)
                };
                self.failed(batch, call, failure, error, None);
            }
            Job::Abandoned(batch) => {
                // Nobody waits for the call: drop it (Rust's cancellation) and report it failed.
                let Some(call) = self.in_flight.remove(&batch) else { return };
                call.abort.abort();
                let error =
                    Error::new(Code::Aborted, "hyperbatch: every item of the call was aborted or passed its deadline");
                let thrown = TransportError::new(error.to_string());
                self.failed(batch, call, Failure::thrown(), error, Some(thrown));
            }
        }
    }

    /// Arms the one timer at the engine's next wake-up (none when idle).
    fn rearm(&mut self, at: Option<f64>) {
        if at == self.sleep_at {
            return;
        }
        self.sleep_at = at;
        self.sleep = at.map(|at| {
            // A wake-up no later than the last `handle_time` gains nothing from firing at once
            // (the engine reports a window whose key waits for `max_in_flight_per_key` until its
            // call ends): wait at least 1 ms, as a host timer would, instead of spinning.
            let floor = if at <= self.handled { 1.0 } else { 0.0 };
            let wait = (at - self.shared.now()).max(floor).ceil();
            Box::pin(self.runtime.sleep(Duration::from_secs_f64(wait / 1000.0)))
        });
    }
}

fn guarded(f: impl FnOnce()) {
    // A hook that panics changes no outcome (with panic = "abort" it ends the process instead).
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

fn end_hook<I, O>(
    hook: &(dyn Fn(&BatchEndInfo<'_, I, O>) + Send + Sync),
    end: &engine::BatchEnd,
    call: &InFlight<I>,
    cause: &Cause<O>,
) {
    let info = BatchEndInfo {
        id: end.batch,
        key: call.key.as_deref(),
        size: end.size as usize,
        weight: end.weight,
        attempt: end.attempt,
        duration: Duration::from_secs_f64(end.duration_ms.max(0.0) / 1000.0),
        succeeded: end.succeeded as usize,
        failed: end.failed as usize,
        items: &call.items,
        results: match cause {
            Cause::Results(r) => Some(r),
            _ => None,
        },
        error: match cause {
            Cause::Failed { error, .. } => Some(error),
            _ => None,
        },
    };
    guarded(|| hook(&info));
}

// No field is pinned structurally: calls and the sleep are boxed.
impl<I, O, T: Transport<I, O>, R: Runtime> Unpin for DriverTask<I, O, T, R> {}

impl<I: Clone + 'static, O: 'static, T: Transport<I, O>, R: Runtime> Future for DriverTask<I, O, T, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.shared.driver.register(cx.waker());
        loop {
            let mut progressed = false;
            while let Poll::Ready(Some((batch, result))) = this.calls.poll_next_unpin(cx) {
                if let Ok(result) = result {
                    this.answered(batch, result);
                }
                progressed = true;
            }
            while let Poll::Ready(Some((route, n, keys))) = this.routes.poll_next_unpin(cx) {
                this.routed(route, n, keys);
                progressed = true;
            }
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    this.sleep_at = None;
                    this.handle_time();
                    progressed = true;
                }
            }
            // Work the handles and the inputs above left.
            let (jobs, tick, turn_end) = {
                let mut st = lock(&this.shared.state);
                let jobs = std::mem::take(&mut st.jobs);
                let tick = std::mem::take(&mut st.tick);
                let turn_end = st.turn_end && (this.yielded || tick);
                if turn_end {
                    st.turn_end = false;
                }
                (jobs, tick, turn_end)
            };
            if tick || turn_end {
                this.yielded = false;
                this.handle_time();
                progressed = true;
            }
            for job in jobs {
                this.run(job);
                progressed = true;
            }
            let (at, turn_pending, finished) = {
                let mut st = lock(&this.shared.state);
                let finished = st.engine.is_closed()
                    && st.engine.unsettled() == 0
                    && !st.engine.has_output()
                    && st.jobs.is_empty()
                    && this.in_flight.is_empty();
                (st.engine.poll_timeout(), st.turn_end, finished)
            };
            this.rearm(at);
            if finished {
                // A resolve_keys call still running past the timeout: its items have settled
                // and its answer would be ignored; it is dropped, as a timed-out call is.
                this.routes.clear();
                return Poll::Ready(());
            }
            if progressed || !lock(&this.shared.state).jobs.is_empty() {
                continue;
            }
            if turn_pending {
                // Let the other tasks of this turn add first, then close the window.
                this.yielded = true;
                cx.waker().wake_by_ref();
            }
            // A sleep armed by `rearm` must be polled once to register its waker.
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    this.sleep_at = None;
                    this.handle_time();
                    continue;
                }
            }
            return Poll::Pending;
        }
    }
}

impl<I, O, T: Transport<I, O>, R: Runtime> Drop for DriverTask<I, O, T, R> {
    fn drop(&mut self) {
        // Ended or dropped: whoever still waits gets E_CLOSED (the driver's end means nothing
        // is pending after a normal close), and later calls fail or resolve at once.
        self.shared.stop_listening_for_hide();
        let mut st = lock(&self.shared.state);
        st.stopped = true;
        let callers: Vec<_> = st.slots.iter_mut().filter_map(|s| s.caller.take()).collect();
        let closers = std::mem::take(&mut st.closers);
        st.flushes.clear();
        st.jobs.clear();
        drop(st);
        for c in callers {
            let _ = c.send(Err(Error::closed()));
        }
        for c in closers {
            let _ = c.send(());
        }
    }
}
