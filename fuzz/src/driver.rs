//! The host side of the fuzz target: applies ops the way the shell does and checks every output
//! against what the driver has seen so far. Written against the public API of
//! `hyperbatch::engine` only; this file is the one place to adapt when that API changes.

use std::collections::{BTreeMap, BTreeSet};

use hyperbatch::engine::{
    AddError, Admission, BatchId, CircuitState, Config, Dispatch, Engine, ErrorCode, ErrorMode, Failure, FailureKind,
    FlushId, InputError, ItemId, ItemResult, KeyId, Outcome, Output, RouteId, Stats, WhenFull, DEFAULT_KEY, UNROUTED,
};

use crate::input::{Bad, KeyPick, Op, RouteKey, Scenario};

/// Rounds allowed for `close()` to complete once every call is answered at once.
const FINISH_ROUNDS: u64 = 1_000_000;
const MAX_DATE: f64 = 8.64e15;
/// setTimeout's longest delay: the shell's timer fires at most this long after it is armed.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;
/// Longest clock step of one op (about 115 days).
const MAX_STEP_MS: f64 = 1e10;
const NAMES: [&str; 4] = ["k0", "k1", "k2", "k3"];
const DEDUPE: [&str; 3] = ["d0", "d1", "d2"];

macro_rules! ensure {
    ($d:expr, $cond:expr, $($fmt:tt)+) => {
        let ok: bool = $cond;
        if !ok {
            panic!("step {} ({}): {}", $d.step, $d.what, format!($($fmt)+));
        }
    };
}

/// Build the engine and play the scenario; panics on a broken invariant.
pub fn run(s: &Scenario) {
    let cfg = s.config.config();
    let valid = cfg.validate().is_ok();
    let engine = match Engine::new(cfg.clone(), s.seed) {
        Ok(e) => e,
        Err(err) => {
            assert!(!valid, "Engine::new refused a valid config: {err}");
            assert!(!err.to_string().is_empty());
            return;
        }
    };
    // Date.now() is a finite number of ms within ±8.64e15 (the range of a JS Date).
    let start = Some(s.start.get()).filter(|t| t.is_finite()).unwrap_or(1.7e12).clamp(-MAX_DATE, MAX_DATE);
    let mut d = Driver::new(engine, cfg, start);
    for (i, op) in s.ops.iter().enumerate() {
        d.step = i;
        d.op(op);
    }
    d.step = s.ops.len();
    d.finish();
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum CallerState {
    /// Waiting for room (`whenFull: "wait"`).
    Waiting,
    /// In a queue, in flight, or waiting for a resend.
    Queued,
    /// Shares the slot of an equal queued item: never sent itself.
    Joined,
    Routing(RouteId),
}

#[derive(Clone, Debug)]
struct Caller {
    /// Unique per accepted add (ids are reused).
    uid: u64,
    key: KeyId,
    weight: f64,
    deadline: f64,
    state: CallerState,
    /// Its dedupe string: a slot's call carries the earliest deadline of the callers still waiting
    /// on it, its followers' included.
    dedupe: Option<&'static str>,
    /// Added in bulk (`add_reserved`): no signal; while it travels in a run of ids the engine's
    /// `cancel` does not find it (it has no slot until needed alone).
    bulk: bool,
}

#[derive(Debug)]
struct Flight {
    key: KeyId,
    entries: Vec<(ItemId, u64)>,
    started: f64,
    /// The engine said nobody waits for this call any more (Output::Abandoned).
    abandoned: bool,
}

/// The engine call whose outputs are being drained: what each output may be.
#[derive(Debug)]
enum Ctx {
    Add,
    Cancel(ItemId),
    Time,
    Flush,
    Complete { batch: BatchId, results: Vec<ItemResult> },
    Fail { batch: BatchId, kind: FailureKind },
    Route { fails: BTreeSet<ItemId> },
}

struct Driver {
    e: Engine,
    cfg: Config,
    now: f64,
    step: usize,
    what: &'static str,
    callers: BTreeMap<ItemId, Caller>,
    /// Slots whose caller settled while dedupe followers still ride on them.
    held: BTreeMap<ItemId, Caller>,
    flights: BTreeMap<BatchId, Flight>,
    /// The items of the call `complete` is answering: what an `Output::Succeeded` settles.
    completing: Vec<ItemId>,
    routes: BTreeMap<RouteId, Vec<ItemId>>,
    /// When each route call went out: past `timeoutMs` the engine fails its items (E_TIMEOUT).
    route_at: BTreeMap<RouteId, f64>,
    /// Flush id → every uid below this must settle first.
    flushes: BTreeMap<FlushId, u64>,
    names: BTreeMap<&'static str, KeyId>,
    closed: bool,
    close_flush: Option<FlushId>,
    close_done: bool,
    tick_pending: bool,
    turn_end_pending: bool,
    timed_out: Vec<BatchId>,
    ctx: Ctx,
    batch_ended: bool,
    next_uid: u64,
    last_batch: BatchId,
    last_route: RouteId,
    last_flush: FlushId,
    accepted: u64,
    succeeded: u64,
    failed: u64,
    dispatches: u64,
    /// The wake-up the host armed (the last `poll_timeout()`).
    armed: Option<f64>,
    /// The add being made was settled inside `add` (E_CIRCUIT_OPEN).
    refused_at_add: Option<ItemId>,
}

impl Driver {
    fn new(e: Engine, cfg: Config, now: f64) -> Driver {
        Driver {
            e,
            cfg,
            now,
            step: 0,
            what: "start",
            callers: BTreeMap::new(),
            held: BTreeMap::new(),
            flights: BTreeMap::new(),
            completing: Vec::new(),
            routes: BTreeMap::new(),
            route_at: BTreeMap::new(),
            flushes: BTreeMap::new(),
            names: BTreeMap::new(),
            closed: false,
            close_flush: None,
            close_done: false,
            tick_pending: false,
            turn_end_pending: false,
            timed_out: Vec::new(),
            ctx: Ctx::Time,
            batch_ended: false,
            next_uid: 0,
            last_batch: 0,
            last_route: 0,
            last_flush: 0,
            accepted: 0,
            succeeded: 0,
            failed: 0,
            dispatches: 0,
            armed: None,
            refused_at_add: None,
        }
    }

    fn op(&mut self, op: &Op) {
        match op {
            Op::Add { key, weight, deadline, dedupe } => {
                let deadline = deadline.as_ref().map(|d| d.at(self.now));
                self.add(key, weight.get(), deadline, dedupe.map(|d| DEDUPE[usize::from(d) % DEDUPE.len()]));
            }
            // Plain adds on the default queue go in bulk, as the shell makes them; so do adds
            // with one deadline for all (n's high bits: none, none, soon, later).
            Op::Burst { key: KeyPick::Default, n, dedupe: false } => {
                let deadline = match n / 64 {
                    2 => Some(self.now + 15.0),
                    3 => Some(self.now + 200.0),
                    _ => None,
                };
                self.plain(usize::from(n % 64), deadline);
            }
            Op::Burst { key, n, dedupe } => {
                for i in 0..usize::from(n % 64) {
                    self.add(key, 1.0, None, dedupe.then_some(DEDUPE[i % DEDUPE.len()]));
                }
            }
            Op::Cancel(pick) => {
                if let Some(&item) = pick_of(self.callers.keys(), *pick) {
                    self.cancel(item);
                }
            }
            Op::CancelId(item) => self.cancel(*item),
            Op::Tick => self.tick(),
            Op::Wake => self.wake(),
            Op::Advance { ms, fire } => {
                self.tick(); // microtasks run before the clock moves on
                self.now += ms.get().min(MAX_STEP_MS);
                if *fire && self.e.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.handle_time();
                }
            }
            Op::ClockBack(ms) => self.now -= f64::from(*ms),
            Op::Complete { pick, results } => {
                if let Some((b, n)) = self.pick_flight(*pick) {
                    let r =
                        (0..n).map(|i| results.get(i % results.len().max(1)).map_or(ItemResult::Ok, |r| r.result()));
                    self.complete(b, r.collect());
                }
            }
            Op::CompleteOk(pick) => {
                if let Some((b, n)) = self.pick_flight(*pick) {
                    self.complete(b, vec![ItemResult::Ok; n]);
                }
            }
            Op::Fail { pick, failure } => {
                if let Some((b, _)) = self.pick_flight(*pick) {
                    self.fail(b, failure.failure());
                }
            }
            Op::Route { pick, keys } => {
                if let Some(&r) = pick_of(self.routes.keys(), *pick) {
                    let n = self.routes[&r].len();
                    let keys: Vec<RouteKey> =
                        (0..n).map(|i| keys.get(i % keys.len().max(1)).copied().unwrap_or(RouteKey::Default)).collect();
                    self.route_done(r, &keys);
                }
            }
            Op::RouteFailed(pick) => {
                if let Some(&r) = pick_of(self.routes.keys(), *pick) {
                    self.route_failed(r);
                }
            }
            Op::Flush => self.flush(false),
            Op::Close => self.flush(true),
            Op::Bad(bad) => self.bad(bad),
        }
    }

    // ------------------------------------------------------------------------------ inputs

    fn key_valid(&self, k: KeyId) -> bool {
        k == UNROUTED || k == DEFAULT_KEY || self.names.values().any(|&v| v == k)
    }

    fn intern(&mut self, name: &'static str) -> KeyId {
        let k = self.e.intern(name);
        if let Some(&known) = self.names.get(name) {
            // An interned name keeps its id until KeyReleased names it.
            ensure!(self, known == k, "{name} was key {known}, intern gives {k}");
        } else {
            ensure!(self, k > DEFAULT_KEY && !self.key_valid(k), "intern({name}) gave id {k}, which is in use");
        }
        self.names.insert(name, k);
        k
    }

    fn add(&mut self, key: &KeyPick, weight: f64, deadline: Option<f64>, dedupe: Option<&'static str>) {
        self.what = "add";
        let key = match *key {
            KeyPick::Default => DEFAULT_KEY,
            KeyPick::Unrouted => UNROUTED,
            KeyPick::Name(n) => self.intern(NAMES[usize::from(n) % NAMES.len()]),
            KeyPick::Id(k) => k,
        };
        let before = self.e.stats();
        let waiting = self.callers.values().filter(|c| c.state == CallerState::Waiting).count();
        let room = before.queued < self.cfg.max_queued as u64 && waiting == 0;
        // The refusals in the order the contract checks them.
        let refusal = if !(weight.is_finite() && weight >= 0.0) {
            Some(AddError::Invalid(InputError::InvalidWeight(weight)))
        } else if deadline.is_some_and(f64::is_nan) {
            Some(AddError::Invalid(InputError::InvalidDeadline(deadline.unwrap_or_default())))
        } else if !self.key_valid(key) {
            Some(AddError::Invalid(InputError::UnknownKey(key)))
        } else if self.closed {
            Some(AddError::Rejected(ErrorCode::Closed))
        } else if self.cfg.max_batch_weight.is_some_and(|cap| weight > cap) {
            Some(AddError::Rejected(ErrorCode::TooLarge))
        } else if deadline.is_some_and(|d| self.now > d) {
            Some(AddError::Rejected(ErrorCode::Deadline))
        } else {
            None
        };
        self.ctx = Ctx::Add;
        let r = self.e.add(key, weight, deadline, dedupe, self.now);
        let (needs_poll, armed) = (self.e.needs_poll(), self.armed);
        self.drain();
        match r {
            Ok((id, _)) if self.refused_at_add == Some(id) => {
                // Accepted and settled at once under an open circuit (counted in items and failed).
                self.refused_at_add = None;
                ensure!(self, refusal.is_none(), "add accepted, expected {refusal:?}");
                self.next_uid += 1;
                self.accepted += 1;
            }
            Ok((id, admission)) => {
                ensure!(self, refusal.is_none(), "add accepted, expected {refusal:?}");
                // Ids are reused only after Settle{release} / Release freed them.
                ensure!(
                    self,
                    !self.callers.contains_key(&id) && !self.held.contains_key(&id),
                    "add reused id {id}, which is not free"
                );
                let state = match admission {
                    Admission::Queued => {
                        ensure!(self, room, "queued an add without room (queued {}, waiting {waiting})", before.queued);
                        CallerState::Queued
                    }
                    Admission::Waiting => {
                        ensure!(self, self.cfg.when_full == WhenFull::Wait && !room, "add waits, though room");
                        CallerState::Waiting
                    }
                    Admission::Joined => {
                        ensure!(self, dedupe.is_some() && key != UNROUTED, "joined without a dedupe string");
                        CallerState::Joined
                    }
                };
                let deadline = deadline.unwrap_or(f64::INFINITY);
                let uid = self.next_uid;
                self.next_uid += 1;
                self.accepted += 1;
                self.callers.insert(id, Caller { uid, key, weight, deadline, state, dedupe, bulk: false });
            }
            Err(AddError::Rejected(ErrorCode::Full)) => {
                ensure!(self, refusal.is_none(), "add refused E_FULL, expected {refusal:?}");
                ensure!(
                    self,
                    self.cfg.when_full == WhenFull::Reject && !room,
                    "E_FULL with room (queued {}, waiting {waiting})",
                    before.queued
                );
            }
            // Debug text, not ==: a NaN weight is the same refusal.
            Err(ref err) => {
                let same = refusal.as_ref().is_some_and(|x| format!("{x:?}") == format!("{err:?}"));
                ensure!(self, same, "add refused with {err:?}, expected {refusal:?}");
            }
        }
        if r.is_err() {
            ensure!(self, self.e.stats() == before, "a refused add changed the stats");
        }
        self.check();
        // The shell skips draining and re-arming after an accepted add when needs_poll() is false:
        // then its armed timer must not be later than the engine's next wake-up.
        if r.is_ok() && !needs_poll {
            // A wake-up at +inf (a deadline of f64::MAX) is no wake-up.
            let next = self.armed.filter(|t| t.is_finite());
            let in_time = next.is_none_or(|t| armed.is_some_and(|a| a <= t));
            ensure!(self, in_time, "needs_poll() false, but the wake-up moved from {armed:?} to {next:?}");
        }
    }

    /// `n` plain adds as the shell makes them: ids reserved in bulk (`reserve_plain`) and handed
    /// over together (`add_reserved`), each as `add(DEFAULT_KEY, 1.0, deadline, None)` that is
    /// queued; what no reservation covers (no room: full, closed, an open circuit) goes alone.
    fn plain(&mut self, n: usize, deadline: Option<f64>) {
        let mut done = 0;
        while done < n {
            self.what = "plain adds";
            let ids: Vec<ItemId> = self.e.reserve_plain(n - done).collect();
            if ids.is_empty() {
                self.add(&KeyPick::Default, 1.0, deadline, None);
                done += 1;
                continue;
            }
            ensure!(self, ids.len() <= n - done, "reserved {} ids, at most {} asked", ids.len(), n - done);
            self.ctx = Ctx::Add;
            let r = self.e.add_reserved(ids.len(), deadline, self.now);
            ensure!(self, r.is_ok(), "add_reserved of {} reserved ids refused: {r:?}", ids.len());
            for &id in &ids {
                let free = !self.callers.contains_key(&id) && !self.held.contains_key(&id);
                ensure!(self, free, "reserved id {id} is not free");
                let uid = self.next_uid;
                self.next_uid += 1;
                self.accepted += 1;
                let (key, weight, state) = (DEFAULT_KEY, 1.0, CallerState::Queued);
                let deadline = deadline.unwrap_or(f64::INFINITY);
                self.callers.insert(id, Caller { uid, key, weight, deadline, state, dedupe: None, bulk: true });
            }
            done += ids.len();
            self.drain();
            self.after();
        }
    }

    fn cancel(&mut self, item: ItemId) {
        self.what = "cancel";
        if self.callers.get(&item).is_some_and(|c| c.bulk) {
            // In a run it has no slot and cancel does not find it (nothing changes); once needed
            // alone (its call failed) it is an ordinary item.
            let before = (self.e.stats(), self.e.unsettled());
            self.ctx = Ctx::Cancel(item);
            match self.e.cancel(item, self.now) {
                Err(InputError::UnknownItem(_)) => {
                    ensure!(self, !self.e.has_output(), "a refused cancel made output");
                    ensure!(self, (self.e.stats(), self.e.unsettled()) == before, "a refused cancel changed the state");
                    return;
                }
                r => {
                    ensure!(self, r.is_ok(), "cancel of bulk caller {item}: {r:?}");
                }
            }
            self.drain();
            ensure!(self, !self.callers.contains_key(&item), "cancelled caller {item} did not settle");
            self.after();
            return;
        }
        if !self.callers.contains_key(&item) {
            let r = self.refused(|e, now| e.cancel(item, now));
            ensure!(self, r == InputError::UnknownItem(item), "cancel of a settled id: {r:?}");
            return;
        }
        self.ctx = Ctx::Cancel(item);
        let r = self.e.cancel(item, self.now);
        ensure!(self, r.is_ok(), "cancel of live caller {item} refused: {r:?}");
        self.drain();
        ensure!(self, !self.callers.contains_key(&item), "cancelled caller {item} did not settle");
        self.after();
    }

    fn tick(&mut self) {
        if self.wake_pending() {
            self.handle_time();
        }
    }

    /// A Tick (microtask) or TurnEnd (end of the turn) is out: `handle_time` comes without a timer.
    fn wake_pending(&self) -> bool {
        self.tick_pending || self.turn_end_pending
    }

    /// The host timer armed at `poll_timeout()` fires (setTimeout clamps the delay).
    fn wake(&mut self) {
        self.tick();
        if let Some(t) = self.e.poll_timeout() {
            self.now += (t - self.now).clamp(0.0, MAX_TIMER_MS);
            self.handle_time();
        }
    }

    fn handle_time(&mut self) {
        self.what = "handle_time";
        self.tick_pending = false;
        self.turn_end_pending = false;
        self.ctx = Ctx::Time;
        // Route calls made before this handle_time and past timeoutMs are gone from the engine:
        // their items failed in it. One this handle_time makes arms its timeout at now + timeoutMs,
        // which fires at a later handle_time even when a tiny timeoutMs rounds that to now.
        let before: Vec<RouteId> = self.route_at.keys().copied().collect();
        self.e.handle_time(self.now);
        self.drain();
        let timed_out: Vec<RouteId> = before.into_iter().filter(|&r| self.route_at.contains_key(&r) && self.route_timed_out(r)).collect();
        for r in timed_out {
            self.route_at.remove(&r);
            let items = self.routes.remove(&r).unwrap_or_default();
            self.route_settled(&items, r);
        }
        self.after();
    }

    fn flush(&mut self, close: bool) {
        self.what = if close { "close" } else { "flush" };
        self.ctx = Ctx::Flush;
        let id = if close { self.e.close(self.now) } else { self.e.flush(self.now) };
        ensure!(self, id > self.last_flush, "flush id {id} reused");
        self.last_flush = id;
        self.flushes.insert(id, self.next_uid);
        if close {
            self.closed = true;
            self.close_flush = Some(id);
            self.close_done = false;
        }
        self.drain();
        self.after();
    }

    fn pick_flight(&self, pick: u16) -> Option<(BatchId, usize)> {
        pick_of(self.flights.iter(), pick).map(|(&b, f)| (b, f.entries.len()))
    }

    fn complete(&mut self, batch: BatchId, results: Vec<ItemResult>) {
        self.what = "complete";
        let flight = self.flights.remove(&batch);
        self.completing = flight.map(|f| f.entries.iter().map(|e| e.0).collect()).unwrap_or_default();
        self.ctx = Ctx::Complete { batch, results };
        self.batch_ended = false;
        let Ctx::Complete { results, .. } = &self.ctx else { unreachable!() };
        let r = self.e.complete(batch, results, self.now);
        ensure!(self, r.is_ok(), "complete of call {batch} refused: {r:?}");
        self.drain();
        ensure!(self, self.batch_ended, "no BatchEnd for call {batch}");
        self.after();
    }

    fn fail(&mut self, batch: BatchId, failure: Failure) {
        self.what = "fail";
        self.flights.remove(&batch);
        self.ctx = Ctx::Fail { batch, kind: failure.kind };
        self.batch_ended = false;
        let r = self.e.fail(batch, failure, self.now);
        ensure!(self, r.is_ok(), "fail of call {batch} refused: {r:?}");
        self.drain();
        ensure!(self, self.batch_ended, "no BatchEnd for call {batch}");
        self.after();
    }

    fn route_done(&mut self, route: RouteId, keys: &[RouteKey]) {
        self.what = "route_done";
        let items = self.routes.remove(&route).unwrap_or_default();
        self.route_at.remove(&route);
        // The shell interns the whole answer before `route_done`, so a raw id is judged against
        // every key that exists by then, including one a later name of this answer interned.
        let ids: Vec<KeyId> = keys
            .iter()
            .map(|key| match *key {
                RouteKey::Name(n) => self.intern(NAMES[usize::from(n) % NAMES.len()]),
                RouteKey::Default => DEFAULT_KEY,
                RouteKey::None => UNROUTED,
                RouteKey::Id(k) => k,
            })
            .collect();
        let mut fails = BTreeSet::new();
        for (&item, &k) in items.iter().zip(&ids) {
            let valid = k != UNROUTED && self.key_valid(k);
            if let Some(c) = self.callers.get_mut(&item).filter(|c| c.state == CallerState::Routing(route)) {
                if valid {
                    // It enters key k's queue (or joins an equal item there: never sent itself).
                    c.key = k;
                    c.state = CallerState::Queued;
                } else {
                    fails.insert(item);
                }
            }
        }
        self.ctx = Ctx::Route { fails };
        let r = self.e.route_done(route, &ids, self.now);
        ensure!(self, r.is_ok(), "route_done of {route} refused: {r:?}");
        self.drain();
        self.route_settled(&items, route);
    }

    fn route_failed(&mut self, route: RouteId) {
        self.what = "route_failed";
        let items = self.routes.remove(&route).unwrap_or_default();
        self.route_at.remove(&route);
        let fails = items.iter().copied().filter(|i| self.routing_in(*i, route)).collect();
        self.ctx = Ctx::Route { fails };
        let r = self.e.route_failed(route, self.now);
        ensure!(self, r.is_ok(), "route_failed of {route} refused: {r:?}");
        self.drain();
        self.route_settled(&items, route);
    }

    fn route_timed_out(&self, route: RouteId) -> bool {
        let at = self.route_at.get(&route).copied().unwrap_or(f64::INFINITY);
        self.cfg.timeout_ms.is_some_and(|t| self.now >= at + t)
    }

    fn routing_in(&self, item: ItemId, route: RouteId) -> bool {
        self.callers.get(&item).is_some_and(|c| c.state == CallerState::Routing(route))
    }

    fn route_settled(&mut self, items: &[ItemId], route: RouteId) {
        // Every item of an answered route is classified: queued under its key, or failed.
        let left = items.iter().find(|&&i| self.routing_in(i, route));
        ensure!(self, left.is_none(), "item {left:?} still routing after route {route} was answered");
        self.after();
    }

    fn bad(&mut self, bad: &Bad) {
        self.what = "bad input";
        let unknown_batch = |b: u64| if b > 0 && b <= self.last_batch { b } else { self.last_batch + 1 + b % 4 };
        match *bad {
            Bad::LateComplete(b) | Bad::LateFail(b) => {
                let b = unknown_batch(b);
                if self.flights.contains_key(&b) {
                    return;
                }
                let r = if matches!(bad, Bad::LateComplete(_)) {
                    self.refused(|e, now| e.complete(b, &[ItemResult::Ok], now))
                } else {
                    self.refused(|e, now| e.fail(b, Failure::thrown(), now))
                };
                ensure!(self, r == InputError::UnknownBatch(b), "late outcome for {b}: {r:?}");
            }
            Bad::WrongCount { pick, extra } => {
                if let Some((b, n)) = self.pick_flight(pick) {
                    let got = if extra % 2 == 0 && n > 0 { n - 1 } else { n + 1 + usize::from(extra % 4) };
                    let r = self.refused(|e, now| e.complete(b, &vec![ItemResult::Ok; got], now));
                    ensure!(self, r == InputError::ResultCount { batch: b, expected: n, got }, "wrong count: {r:?}");
                }
            }
            Bad::LateRoute(r) => {
                let r = if r > 0 && r <= self.last_route { r } else { self.last_route + 1 + r % 4 };
                if self.routes.contains_key(&r) {
                    return;
                }
                let e1 = self.refused(|e, now| e.route_done(r, &[DEFAULT_KEY], now));
                let e2 = self.refused(|e, now| e.route_failed(r, now));
                ensure!(self, e1 == InputError::UnknownRoute(r) && e1 == e2, "late route {r}: {e1:?} {e2:?}");
            }
            Bad::RouteWrongCount { pick, extra } => {
                if let Some((&r, items)) = pick_of(self.routes.iter(), pick) {
                    let n = items.len();
                    let got = n + 1 + usize::from(extra % 4);
                    let err = self.refused(|e, now| e.route_done(r, &vec![DEFAULT_KEY; got], now));
                    ensure!(self, matches!(err, InputError::ResultCount { .. }), "route wrong count: {err:?}");
                }
            }
        }
    }

    /// A refused input: an error, no output, nothing changed.
    fn refused(&mut self, call: impl FnOnce(&mut Engine, f64) -> Result<(), InputError>) -> InputError {
        let before = (self.e.stats(), self.e.unsettled());
        let r = call(&mut self.e, self.now);
        let Err(err) = r else { panic!("step {} ({}): bad input accepted", self.step, self.what) };
        ensure!(self, !err.to_string().is_empty(), "an error without a message");
        ensure!(self, !self.e.has_output(), "refused input {err:?} made output {:?}", self.e.poll_output());
        ensure!(self, (self.e.stats(), self.e.unsettled()) == before, "refused input {err:?} changed the state");
        err
    }

    // ------------------------------------------------------------------------------ outputs

    fn drain(&mut self) {
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Dispatch(d) => self.on_dispatch(d),
                Output::Route { route, items } => self.on_route(route, items),
                Output::Settle { item, outcome, release } => self.on_settle(item, outcome, release),
                Output::Succeeded { batch } => {
                    let completing = matches!(self.ctx, Ctx::Complete { batch: b, .. } if b == batch);
                    ensure!(self, completing, "Succeeded for call {batch} outside its complete");
                    for (i, id) in std::mem::take(&mut self.completing).into_iter().enumerate() {
                        self.on_settle(id, Outcome::Ok { index: i as u32 }, true);
                    }
                }
                Output::Release { item } => {
                    ensure!(self, !matches!(self.ctx, Ctx::Add), "add released {item}");
                    ensure!(self, self.held.remove(&item).is_some(), "Release of {item}, which is not a held slot");
                }
                Output::CallTimedOut { batch } => {
                    ensure!(self, matches!(self.ctx, Ctx::Time), "CallTimedOut outside handle_time");
                    let started = self.flights.get(&batch).map(|f| f.started);
                    ensure!(self, started.is_some(), "CallTimedOut for {batch}, not in flight (or timed out twice)");
                    let limit = self.cfg.timeout_ms.map(|t| started.unwrap_or_default() + t);
                    ensure!(self, limit.is_some_and(|l| self.now >= l), "call {batch} timed out early ({limit:?})");
                    self.timed_out.push(batch);
                }
                Output::BatchEnd(end) => {
                    let batch = match self.ctx {
                        Ctx::Complete { batch, .. } | Ctx::Fail { batch, .. } => Some(batch),
                        _ => None,
                    };
                    ensure!(self, batch == Some(end.batch) && !self.batch_ended, "unexpected {end:?}");
                    self.batch_ended = true;
                }
                Output::Admitted { item } => {
                    let c = self.callers.get_mut(&item).filter(|c| c.state == CallerState::Waiting);
                    let Some(c) = c else { panic!("step {}: Admitted {item}, which was not waiting", self.step) };
                    c.state = CallerState::Queued;
                }
                Output::KeyReleased { key } => self.on_key_released(key),
                Output::CircuitChange { key, state } => {
                    ensure!(self, self.cfg.circuit_breaker.is_some(), "circuit change without circuitBreaker");
                    // Opened by a batch-level failure, closed by a probe that returned an array,
                    // half-open when a batch is sent (never from inside add).
                    let ok = match state {
                        CircuitState::Open => matches!(self.ctx, Ctx::Fail { .. }),
                        CircuitState::Closed => matches!(self.ctx, Ctx::Complete { .. }),
                        CircuitState::HalfOpen => !matches!(self.ctx, Ctx::Add),
                    };
                    ensure!(self, ok && self.key_valid(key), "circuit of key {key} {state:?} in {:?}", self.ctx);
                }
                Output::Abandoned { batch } => {
                    let flight = self.flights.get_mut(&batch);
                    let Some(flight) = flight else { panic!("step {}: Abandoned {batch}, not in flight", self.step) };
                    ensure!(self, !flight.abandoned, "call {batch} abandoned twice");
                    flight.abandoned = true;
                }
                Output::Flushed { flush } => {
                    let bound = self.flushes.remove(&flush);
                    ensure!(self, bound.is_some(), "Flushed {flush}: not pending");
                    let left = self.callers.iter().find(|(_, c)| c.uid < bound.unwrap_or_default());
                    ensure!(self, left.is_none(), "flush {flush} done while {left:?} is unsettled");
                    if self.close_flush == Some(flush) {
                        self.close_done = true;
                    }
                }
                Output::Tick => {
                    // One microtask at a time.
                    ensure!(self, !self.tick_pending, "a second Tick while one is pending");
                    self.tick_pending = true;
                }
                Output::TurnEnd => {
                    ensure!(self, !self.wake_pending(), "TurnEnd while a wake-up is pending");
                    self.turn_end_pending = true;
                }
            }
        }
    }

    fn on_dispatch(&mut self, d: Dispatch) {
        let batch = d.batch;
        ensure!(self, !matches!(self.ctx, Ctx::Add), "add called the transport");
        ensure!(self, batch > self.last_batch, "call id {batch} reused");
        self.last_batch = batch;
        self.dispatches += 1;
        let n = d.items.len();
        // Batches respect maxBatchSize, and maxBatchWeight unless one item is alone.
        ensure!(self, n >= 1 && n as f64 <= self.cfg.max_batch_size, "call {batch} has {n} items");
        if let Some(cap) = self.cfg.max_batch_weight {
            ensure!(self, n == 1 || d.weight <= cap, "call {batch} weighs {} > {cap}", d.weight);
        }
        // Attempts never exceed retry.maxAttempts.
        ensure!(
            self,
            d.attempt >= 1 && f64::from(d.attempt) <= self.cfg.retry.max_attempts,
            "call {batch} at attempt {}",
            d.attempt
        );
        ensure!(self, d.key != UNROUTED && self.key_valid(d.key), "call {batch} on key {}", d.key);
        let in_flight: BTreeSet<u64> = self.flights.values().flat_map(|f| f.entries.iter().map(|e| e.1)).collect();
        // `own`: the earliest deadline of the sent callers still waiting (a held slot's caller has
        // settled: its deadline no longer counts). Followers of the sent slots may make the call's
        // deadline earlier; which slot a follower rides on the driver does not track, so it bounds
        // the call's deadline from below by every caller sharing a sent slot's key and dedupe string.
        let (mut weight, mut own) = (0.0, f64::INFINITY);
        let mut dedupes: Vec<&'static str> = Vec::new();
        let mut entries = Vec::with_capacity(n);
        for &id in &d.items {
            let live = self.callers.contains_key(&id);
            let c = match self.callers.get(&id) {
                Some(c) => {
                    // Waiting, routing and joined callers are not in a queue; an expired caller is
                    // never sent.
                    ensure!(self, c.state == CallerState::Queued, "call {batch} sends {id} in state {:?}", c.state);
                    ensure!(self, self.now <= c.deadline, "call {batch} sends {id} past its deadline {}", c.deadline);
                    c
                }
                None => match self.held.get(&id) {
                    Some(c) => c,
                    None => panic!("step {}: call {batch} sends {id}, which is free", self.step),
                },
            };
            ensure!(self, c.key == d.key, "call {batch} on key {} sends {id} of key {}", d.key, c.key);
            // Nothing is sent twice at once.
            ensure!(
                self,
                !in_flight.contains(&c.uid) && !entries.iter().any(|e: &(ItemId, u64)| e.1 == c.uid),
                "{id} sent twice"
            );
            weight += c.weight;
            if live {
                own = own.min(c.deadline);
            }
            dedupes.extend(c.dedupe);
            entries.push((id, c.uid));
        }
        ensure!(self, d.weight == weight, "call {batch} reports weight {}, items weigh {weight}", d.weight);
        let mut floor = own;
        if !dedupes.is_empty() {
            let riders =
                self.callers.values().filter(|c| c.key == d.key && c.dedupe.is_some_and(|s| dedupes.contains(&s)));
            floor = riders.map(|c| c.deadline).fold(own, f64::min);
        }
        let sent = d.deadline.unwrap_or(f64::INFINITY);
        ensure!(
            self,
            d.deadline.is_none_or(f64::is_finite) && floor <= sent && sent <= own,
            "call {batch}: deadline {:?}, expected between {floor} and {own}",
            d.deadline
        );
        self.flights.insert(batch, Flight { key: d.key, entries, started: self.now, abandoned: false });
        // In-flight calls never exceed maxInFlight, nor maxInFlightPerKey on one key.
        let per_key = self.flights.values().filter(|f| f.key == d.key).count();
        ensure!(self, self.flights.len() as f64 <= self.cfg.max_in_flight, "{} calls in flight", self.flights.len());
        let cap = self.cfg.max_in_flight_per_key.unwrap_or(f64::INFINITY);
        ensure!(self, per_key as f64 <= cap, "{per_key} calls in flight on key {}", d.key);
    }

    fn on_route(&mut self, route: RouteId, items: Vec<ItemId>) {
        ensure!(self, !matches!(self.ctx, Ctx::Add), "add called resolveKeys");
        ensure!(self, route > self.last_route, "route id {route} reused");
        self.last_route = route;
        let n = items.len() as f64;
        ensure!(self, n >= 1.0 && n <= self.cfg.max_batch_size, "route {route} has {n} items");
        for &id in &items {
            let c = self.callers.get_mut(&id);
            let Some(c) = c.filter(|c| c.key == UNROUTED && c.state == CallerState::Queued) else {
                panic!("step {}: route {route} classifies {id}, not a queued unrouted caller", self.step);
            };
            c.state = CallerState::Routing(route);
        }
        self.routes.insert(route, items);
        self.route_at.insert(route, self.now);
    }

    fn on_settle(&mut self, item: ItemId, outcome: Outcome, release: bool) {
        // Every accepted item settles exactly once.
        let Some(c) = self.callers.remove(&item) else {
            // An add under an open circuit is settled inside `add`, before the driver records it.
            if matches!(self.ctx, Ctx::Add) && matches!(outcome, Outcome::CircuitOpen { .. }) && release {
                ensure!(self, self.cfg.circuit_breaker.is_some(), "E_CIRCUIT_OPEN without circuitBreaker");
                self.refused_at_add = Some(item);
                self.failed += 1;
                return;
            }
            panic!("step {} ({}): Settle {outcome:?} for {item}, not a live caller", self.step, self.what);
        };
        if outcome.is_ok() {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        self.check_outcome(item, &c, outcome);
        if c.state == CallerState::Joined {
            ensure!(self, release, "a follower's Settle must release it ({item})");
        }
        if !release {
            self.held.insert(item, c);
        }
    }

    /// Each outcome comes only from the input that can cause it, and points at the right result.
    fn check_outcome(&self, item: ItemId, c: &Caller, outcome: Outcome) {
        let first_err = |r: &[ItemResult]| r.iter().position(|r| *r != ItemResult::Ok);
        let is_err = |r: &[ItemResult], i: u32| r.get(i as usize).is_some_and(|r| *r != ItemResult::Ok);
        let mode = self.cfg.error_mode;
        let ok = match (&self.ctx, outcome) {
            // A key's open circuit refuses its unsent items and later adds.
            (_, Outcome::CircuitOpen { key }) => self.cfg.circuit_breaker.is_some() && c.key == key,
            (_, Outcome::Code(ErrorCode::Deadline)) => !matches!(self.ctx, Ctx::Add) && self.now > c.deadline,
            (Ctx::Cancel(target), Outcome::Code(ErrorCode::Aborted)) => *target == item,
            (Ctx::Route { fails }, Outcome::Code(ErrorCode::Route)) => fails.contains(&item),
            // A route call past timeoutMs fails the items it still holds.
            (Ctx::Time, Outcome::Code(ErrorCode::Timeout)) => {
                matches!(c.state, CallerState::Routing(r) if self.route_timed_out(r))
            }
            (Ctx::Complete { results, .. }, Outcome::Ok { index }) => {
                results.get(index as usize) == Some(&ItemResult::Ok)
                    && (mode == ErrorMode::Partial || first_err(results).is_none())
            }
            (Ctx::Complete { results, .. }, Outcome::ItemError { index }) => {
                is_err(results, index) && mode != ErrorMode::Atomic
            }
            (Ctx::Complete { results, .. }, Outcome::FailFast { cause }) => {
                mode == ErrorMode::FailFast && first_err(results) == Some(cause as usize)
            }
            (Ctx::Complete { results, .. }, Outcome::Atomic { cause }) => {
                mode == ErrorMode::Atomic && first_err(results) == Some(cause as usize)
            }
            (Ctx::Fail { kind, .. }, Outcome::Transport { attempts }) => *kind == FailureKind::Thrown && attempts >= 1,
            (Ctx::Fail { kind, .. }, Outcome::BatchError) => *kind != FailureKind::Thrown,
            _ => false,
        };
        ensure!(
            self,
            ok,
            "{item} settled with {outcome:?} in {:?} (deadline {}, now {})",
            self.ctx,
            c.deadline,
            self.now
        );
    }

    fn on_key_released(&mut self, key: KeyId) {
        let name = self.names.iter().find(|(_, &k)| k == key).map(|(&n, _)| n);
        let Some(name) = name else { panic!("step {}: KeyReleased {key}, not an interned key", self.step) };
        // A key id is released only once nothing refers to it any more.
        let used = self.callers.values().chain(self.held.values()).any(|c| c.key == key)
            || self.flights.values().any(|f| f.key == key);
        ensure!(self, !used, "key {key} released while in use");
        self.names.remove(name);
    }

    // ------------------------------------------------------------------------------ checks

    /// After an input other than `add`: check, then answer timed-out calls as the shell does.
    fn after(&mut self) {
        self.check();
        while let Some(batch) = self.timed_out.pop() {
            let r = self.refused(|e, now| e.complete(batch, &[], now));
            ensure!(self, r == InputError::TimedOut(batch), "complete after timeout: {r:?}");
            self.fail(batch, Failure::of_kind(FailureKind::Timeout));
        }
    }

    /// Invariants between any two engine calls.
    fn check(&mut self) {
        let st: Stats = self.e.stats();
        let live = self.callers.len() as u64;
        // Stats are consistent: items == settled + unsettled, and match what the outputs said.
        ensure!(self, st.items == self.accepted, "stats.items {} != {} accepted", st.items, self.accepted);
        ensure!(
            self,
            (st.succeeded, st.failed) == (self.succeeded, self.failed),
            "succeeded/failed {}/{} != settles {}/{}",
            st.succeeded,
            st.failed,
            self.succeeded,
            self.failed
        );
        ensure!(self, self.e.unsettled() as u64 == live, "unsettled {} != {live} live callers", self.e.unsettled());
        ensure!(self, st.items == st.succeeded + st.failed + live, "stats {st:?}");
        ensure!(self, st.batches == self.dispatches, "stats.batches {} != {} calls", st.batches, self.dispatches);
        let items: usize = self.flights.values().map(|f| f.entries.len()).sum();
        ensure!(
            self,
            (st.in_flight_batches, st.in_flight_items) == (self.flights.len() as u64, items as u64),
            "in flight {}/{} != {}/{items}",
            st.in_flight_batches,
            st.in_flight_items,
            self.flights.len()
        );
        let queued = self.callers.values().filter(|c| c.state != CallerState::Waiting).count() as u64;
        ensure!(self, st.queued <= queued, "stats.queued {} > {queued} callers", st.queued);
        ensure!(self, st.queued as f64 <= self.cfg.max_queued, "queued {} > maxQueued", st.queued);
        if let Some((f, _)) = self.flushes.iter().find(|(_, &b)| !self.callers.values().any(|c| c.uid < b)) {
            panic!("step {} ({}): flush {f} is done but not reported", self.step, self.what);
        }
        let t = self.e.poll_timeout();
        self.armed = t;
        ensure!(self, t.is_none_or(|t| !t.is_nan()), "poll_timeout is NaN");
        // No wake-up while nothing is queued, waiting or in flight.
        if self.callers.is_empty() && self.flights.is_empty() {
            ensure!(self, t.is_none(), "idle engine asks for a wake-up at {t:?}");
        }
        // Every live caller's deadline and every call's timeout (unless it fired) has its wake-up.
        let soonest = self.callers.values().map(|c| c.deadline.next_up()).fold(f64::INFINITY, f64::min);
        let timeout = self.cfg.timeout_ms.unwrap_or(f64::INFINITY);
        let running = self.flights.iter().filter(|(b, _)| !self.timed_out.contains(b));
        let soonest = running.map(|(_, f)| f.started + timeout).fold(soonest, f64::min);
        if soonest.is_finite() {
            ensure!(self, t.is_some_and(|t| t <= soonest), "next wake-up {t:?}, but a deadline is at {soonest}");
        }
        // No stall: with callers left and no call, resolveKeys call or Tick pending, a timer is armed.
        let routing = self
            .routes
            .values()
            .flatten()
            .any(|&i| self.callers.get(&i).is_some_and(|c| matches!(c.state, CallerState::Routing(_))));
        if !self.callers.is_empty() && self.flights.is_empty() && !routing && !self.wake_pending() {
            ensure!(self, t.is_some(), "stalled: {} callers, no call and no timer", self.callers.len());
        }
    }

    /// close(), then answer everything at once until the close completes; nothing may be left.
    fn finish(&mut self) {
        self.flush(true);
        let mut rounds = 0;
        while !self.close_done || !self.flights.is_empty() || !self.routes.is_empty() {
            rounds += 1;
            ensure!(self, rounds < FINISH_ROUNDS, "close does not complete");
            if self.wake_pending() {
                self.tick();
            } else if let Some(&r) = self.routes.keys().next() {
                let n = self.routes[&r].len();
                self.route_done(r, &vec![RouteKey::Default; n]);
            } else if let Some((b, n)) = self.pick_flight(0) {
                self.complete(b, vec![ItemResult::Ok; n]);
            } else if self.e.poll_timeout().is_some() {
                self.wake();
            } else {
                panic!(
                    "close stalled: no call, no timer, close done {}, {} callers",
                    self.close_done,
                    self.callers.len()
                );
            }
        }
        self.what = "after close";
        // close() leaves nothing unsettled, held, armed, queued or in flight.
        ensure!(self, self.e.unsettled() == 0 && self.callers.is_empty() && self.held.is_empty(), "left after close");
        ensure!(self, self.e.poll_timeout().is_none(), "timer armed after close");
        // Every key id was handed back (KeyReleased), so the shell's name → id cache is empty too.
        ensure!(self, self.names.is_empty(), "keys never released: {:?}", self.names);
        let st = self.e.stats();
        ensure!(
            self,
            st.queued == 0
                && st.in_flight_batches == 0
                && st.in_flight_items == 0
                && st.items == st.succeeded + st.failed,
            "stats after close: {st:?}"
        );
        // Adds after close are refused; a second close completes at once.
        self.add(&KeyPick::Default, 1.0, None, None);
        ensure!(self, self.callers.is_empty(), "add accepted after close");
        self.flush(true);
        ensure!(self, self.close_done, "second close did not complete at once");
    }
}

fn pick_of<T>(mut it: impl ExactSizeIterator<Item = T>, pick: u16) -> Option<T> {
    let n = it.len();
    if n == 0 {
        None
    } else {
        it.nth(usize::from(pick) % n)
    }
}
