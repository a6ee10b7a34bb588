//! The engine: queues per key, flush decisions, retries, bisect, budget, backpressure, stats.
//!
//! Item lifecycle: `Waiting` (no room yet) → `Queued` (in its key's queue; the routing queue
//! for items whose key `resolveKeys` must find, then `Routing` while that call runs) →
//! `InFlight` → settled, or back through `RetryWait` (one item, rejoins its queue) or `InUnit`
//! (a whole batch resent as it was: atomic mode, batch-level retries, bisect halves).
//! A dedupe `Follower` rides on a queued item's slot and settles with it.

mod abandon;
mod deadline;
mod dispatch;
mod due;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::budget::Budget;
use super::call_time::{CallTime, RetiredCallTimes};
use super::config::{Config, ConfigError, ErrorMode, WhenFull};
use super::flush::Flushes;
use super::queue::{Entry, Queue};
use super::retry::{backoff_delay, Class, Failure, FailureKind, Rng};
use super::timers::{Timer, Timers};
use super::{
    AddError, Admission, BatchEnd, BatchId, ErrorCode, FlushId, InputError, ItemId, ItemResult, KeyId, Outcome, Output,
    RouteId, Stats, DEFAULT_KEY, UNROUTED,
};

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Waiting,
    Queued,
    Routing,
    InFlight,
    RetryWait,
    InUnit,
    Follower,
}

#[derive(Debug)]
struct Item {
    gen: u32,
    state: State,
    key: KeyId,
    weight: f64,
    /// `f64::INFINITY` when none.
    deadline: f64,
    seq: u64,
    order: u64,
    attempt: u32,
    sends: u32,
    /// The call it is in, while `InFlight`; its unit, while `InUnit`.
    batch: BatchId,
    /// For a follower: the item whose slot it shares.
    primary: u32,
    followers: Vec<u32>,
    /// The slot's own caller has settled (aborted, expired) but followers still ride on it.
    caller_settled: bool,
    dedupe: Option<Box<str>>,
}

impl Item {
    fn vacant() -> Self {
        Item {
            gen: 0,
            state: State::Free,
            key: DEFAULT_KEY,
            weight: 0.0,
            deadline: f64::INFINITY,
            seq: 0,
            order: 0,
            attempt: 1,
            sends: 0,
            batch: 0,
            primary: NONE,
            followers: Vec::new(),
            caller_settled: false,
            dedupe: None,
        }
    }
}

#[derive(Debug, Default)]
struct Key {
    alive: bool,
    name: Box<str>,
    queue: Queue,
    in_flight: usize,
    ready_units: VecDeque<u64>,
    pending_units: usize,
    retry_waiting: usize,
    /// Adds for this key waiting for room (`whenFull: "wait"`): they hold the key too.
    waiting: usize,
    /// Time of the earliest window timer armed for this key (INFINITY: none).
    window_at: f64,
    /// Listed in `due` (or being served by `run_due`).
    scheduled: bool,
    /// How long its transport calls take: the lead of deadline-aware dispatch.
    call_time: CallTime,
}

impl Key {
    fn new(name: &str) -> Self {
        Key { alive: true, name: name.into(), window_at: f64::INFINITY, ..Key::default() }
    }
}

impl Key {
    /// The id is free: reset, but keep the buffers for the next key that gets this id (keys
    /// come and go with their traffic; reallocating on every reuse is measurable).
    fn retire(&mut self) {
        let mut entries = std::mem::take(&mut self.queue.entries);
        let mut dedupe = std::mem::take(&mut self.queue.dedupe);
        let mut ready_units = std::mem::take(&mut self.ready_units);
        entries.clear();
        dedupe.clear();
        ready_units.clear();
        *self = Key { queue: Queue { entries, dedupe, ..Queue::default() }, ready_units, ..Key::default() };
    }

    /// A retired id names a new key.
    fn revive(&mut self, name: &str) {
        debug_assert!(!self.alive);
        self.alive = true;
        self.name = name.into();
        self.window_at = f64::INFINITY;
    }
}

/// Hasher for the engine's own sequential ids (batches, units, routes): a multiplicative hash
/// spreads them perfectly and costs far less than SipHash on the per-call path. (Names and
/// dedupe strings, which come from users, keep the default hasher.)
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

type Slot = (u32, u32); // (item index, generation)

#[derive(Debug)]
struct Batch {
    key: KeyId,
    entries: Vec<Slot>,
    attempt: u32,
    weight: f64,
    started: f64,
    timed_out: bool,
    /// Slots whose outcome someone still waits for.
    wanted: usize,
    /// `wanted` fell to 0 (see `abandon.rs`).
    abandoned: bool,
}

#[derive(Debug)]
struct Unit {
    key: KeyId,
    entries: Vec<Slot>,
    /// Entries whose slot is still in this unit.
    live: usize,
}

/// See the module docs of [`crate::engine`].
pub struct Engine {
    cfg: Config,
    items: Vec<Item>,
    free_items: Vec<u32>,
    keys: Vec<Key>,
    free_keys: Vec<u32>,
    key_ids: HashMap<Box<str>, KeyId>,
    batches: IdMap<Batch>,
    next_batch: BatchId,
    routes: IdMap<Vec<Slot>>,
    next_route: RouteId,
    units: IdMap<Unit>,
    next_unit: u64,
    waiters: VecDeque<Slot>,
    waiting: usize,
    /// Ids handed out by `reserve_plain` and not used yet (free slots no `add` takes).
    reserved: Vec<u32>,
    timers: Timers,
    flushes: Flushes,
    next_flush: FlushId,
    next_order: u64,
    due: Vec<KeyId>,
    /// Due keys by the arrival order of their oldest item (`run_due`'s buffer).
    ready: BinaryHeap<Reverse<(u64, KeyId)>>,
    /// A key waiting in `ready` may now hold an older item than its entry says (a resend rejoined
    /// ahead of its queue): `run_due` re-reads them all before it serves one.
    ready_stale: bool,
    retired_call_times: RetiredCallTimes,
    out: VecDeque<Output>,
    tick_requested: bool,
    /// An [`Output::TurnEnd`] is out and no `handle_time` came since.
    turn_end_requested: bool,
    closed: bool,
    budget: Budget,
    rng: Rng,
    stats: Stats,
    /// Callers accepted and not yet settled.
    live: usize,
    queued: usize,
    in_flight_batches: usize,
    in_flight_items: usize,
}

impl Engine {
    /// A validated engine. `seed` drives the jitter PRNG, so a run replays exactly.
    pub fn new(cfg: Config, seed: u64) -> Result<Engine, ConfigError> {
        cfg.validate()?;
        let budget = Budget::new(cfg.retry.budget());
        let keys = vec![Key::new(""), Key::new("")]; // UNROUTED, DEFAULT_KEY
        Ok(Engine {
            cfg,
            items: Vec::new(),
            free_items: Vec::new(),
            keys,
            free_keys: Vec::new(),
            key_ids: HashMap::new(),
            batches: IdMap::default(),
            next_batch: 1,
            routes: IdMap::default(),
            next_route: 1,
            units: IdMap::default(),
            next_unit: 1,
            waiters: VecDeque::new(),
            waiting: 0,
            reserved: Vec::new(),
            timers: Timers::default(),
            flushes: Flushes::default(),
            next_flush: 1,
            next_order: 0,
            due: Vec::new(),
            ready: BinaryHeap::new(),
            ready_stale: false,
            retired_call_times: RetiredCallTimes::default(),
            out: VecDeque::new(),
            tick_requested: false,
            turn_end_requested: false,
            closed: false,
            budget,
            rng: Rng::new(seed),
            stats: Stats::default(),
            live: 0,
            queued: 0,
            in_flight_batches: 0,
            in_flight_items: 0,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ---------------------------------------------------------------- keys

    /// The id of a named key, creating its queue if needed. Stays valid until
    /// [`Output::KeyReleased`] names it.
    pub fn intern(&mut self, name: &str) -> KeyId {
        if let Some(&k) = self.key_ids.get(name) {
            return k;
        }
        let k = match self.free_keys.pop() {
            Some(k) => {
                self.keys[k as usize].revive(name);
                k
            }
            None => {
                self.keys.push(Key::new(name));
                (self.keys.len() - 1) as KeyId
            }
        };
        self.key_ids.insert(name.into(), k);
        self.keys[k as usize].call_time = self.retired_call_times.take(name);
        k
    }

    /// A key's name; `None` for the default queue, the routing queue and free ids.
    pub fn key_name(&self, key: KeyId) -> Option<&str> {
        match self.keys.get(key as usize) {
            Some(k) if k.alive && key > DEFAULT_KEY => Some(&k.name),
            _ => None,
        }
    }

    fn key_valid(&self, key: KeyId) -> bool {
        self.keys.get(key as usize).is_some_and(|k| k.alive)
    }

    fn maybe_release_key(&mut self, k: KeyId) {
        if k <= DEFAULT_KEY {
            return;
        }
        let key = &self.keys[k as usize];
        let idle = key.alive
            && key.queue.is_empty()
            && key.in_flight == 0
            && key.ready_units.is_empty()
            && key.pending_units == 0
            && key.retry_waiting == 0
            && key.waiting == 0
            && !key.scheduled;
        if idle {
            let name = std::mem::take(&mut self.keys[k as usize].name);
            self.retired_call_times.keep(&name, self.keys[k as usize].call_time);
            self.key_ids.remove(&name);
            self.keys[k as usize].retire();
            self.free_keys.push(k);
            self.out.push_back(Output::KeyReleased { key: k });
        }
    }

    // ---------------------------------------------------------------- inputs

    /// Accept an item into `key`'s queue (or [`UNROUTED`] for `resolveKeys`). The transport is
    /// never called from here: due work is dispatched by [`Engine::handle_time`] on the
    /// [`Output::Tick`] this may emit.
    pub fn add(
        &mut self,
        key: KeyId,
        weight: f64,
        deadline: Option<f64>,
        dedupe: Option<&str>,
        now: f64,
    ) -> Result<(ItemId, Admission), AddError> {
        let r = self.try_add(key, weight, deadline, dedupe, now);
        if r.is_err() && self.key_valid(key) {
            self.maybe_release_key(key);
        }
        r
    }

    fn try_add(
        &mut self,
        key: KeyId,
        weight: f64,
        deadline: Option<f64>,
        dedupe: Option<&str>,
        now: f64,
    ) -> Result<(ItemId, Admission), AddError> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(AddError::Invalid(InputError::InvalidWeight(weight)));
        }
        if let Some(d) = deadline {
            if d.is_nan() {
                return Err(AddError::Invalid(InputError::InvalidDeadline(d)));
            }
        }
        if !self.key_valid(key) {
            return Err(AddError::Invalid(InputError::UnknownKey(key)));
        }
        if self.closed {
            return Err(AddError::Rejected(ErrorCode::Closed));
        }
        if matches!(self.cfg.max_batch_weight, Some(cap) if weight > cap) {
            return Err(AddError::Rejected(ErrorCode::TooLarge));
        }
        let deadline = deadline.unwrap_or(f64::INFINITY);
        if now > deadline {
            return Err(AddError::Rejected(ErrorCode::Deadline));
        }
        // A duplicate of a queued item takes no room: it shares that item's slot.
        let joins = match dedupe {
            Some(d) if key != UNROUTED => self.keys[key as usize].queue.dedupe.get(d).copied(),
            _ => None,
        };
        let room = self.queued < self.cfg.queued_cap() && self.waiting == 0;
        if joins.is_none() && !room && self.cfg.when_full == WhenFull::Reject {
            return Err(AddError::Rejected(ErrorCode::Full));
        }

        let idx = self.alloc_item();
        Ok((idx, self.accept(idx, key, weight, deadline, dedupe, joins, room, now)))
    }

    /// Take the item `idx` (allocated, not yet live) in: admission was decided by the caller.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &mut self,
        idx: u32,
        key: KeyId,
        weight: f64,
        deadline: f64,
        dedupe: Option<&str>,
        joins: Option<u32>,
        room: bool,
        now: f64,
    ) -> Admission {
        let seq = self.flushes.number();
        {
            let it = &mut self.items[idx as usize];
            it.key = key;
            it.weight = weight;
            it.deadline = deadline;
            it.seq = seq;
            it.dedupe = dedupe.map(Into::into);
        }
        self.stats.items += 1;
        self.live += 1;
        if deadline.is_finite() {
            let gen = self.items[idx as usize].gen;
            self.timers.push(next_after(deadline), Timer::Expire { item: idx, gen });
        }
        if let Some(primary) = joins {
            self.join(idx, primary);
            Admission::Joined
        } else if room {
            self.enqueue(idx, now);
            Admission::Queued
        } else {
            self.items[idx as usize].state = State::Waiting;
            self.waiting += 1;
            self.keys[key as usize].waiting += 1;
            self.waiters.push_back((idx, self.items[idx as usize].gen));
            Admission::Waiting
        }
    }

    /// Ids the next plain adds will get, in order (see [`Engine::add_reserved`]): up to `max`,
    /// and no more than can be added before one of them makes the engine ask for a
    /// [`Output::Tick`] (the default queue fills by size or weight, `maxQueued` is reached). So
    /// a host that records plain adds itself and hands them over as soon as it has used every
    /// reserved id dispatches as promptly as with one `add` per item. Empty when plain adds must
    /// go through [`Engine::add`] (closed, full, adds waiting for room, a weight cap below 1).
    /// The ids stay out of `add`'s reach until used, or until the next call reserves afresh.
    pub fn reserve_plain(&mut self, max: usize) -> &[ItemId] {
        let want = self.plain_room().min(max);
        while self.reserved.len() > want {
            let idx = self.reserved.pop().expect("longer than want");
            self.free_items.push(idx);
        }
        while self.reserved.len() < want {
            let idx = self.alloc_item();
            self.reserved.push(idx);
        }
        &self.reserved
    }

    /// How many plain adds the default queue takes before one of them must tick the host.
    fn plain_room(&self) -> usize {
        let cap = self.cfg.max_batch_weight.unwrap_or(f64::INFINITY);
        if self.closed || self.waiting > 0 || cap < 1.0 {
            return 0;
        }
        let queued_room = self.cfg.queued_cap().saturating_sub(self.queued);
        if self.tick_requested {
            return queued_room; // a full queue asks for nothing more until the tick
        }
        let q = &self.keys[DEFAULT_KEY as usize].queue;
        let size_room = self.cfg.batch_size().saturating_sub(q.live);
        // The item that pushes the weight over the cap ticks; floor() errs early, never late.
        let weight_room = if cap.is_finite() { (cap - q.weight).floor().max(1.0) as usize } else { usize::MAX };
        queued_room.min(size_room).min(weight_room)
    }

    /// Plain adds in bulk: the first `n` ids of [`Engine::reserve_plain`] join the default queue
    /// (weight 1, no deadline, no dedupe), in order, exactly as `n` calls of
    /// `add(DEFAULT_KEY, 1.0, None, None, now)` that each return [`Admission::Queued`] would.
    /// Refused with the state unchanged when fewer ids are reserved, or when not all of them
    /// would be queued (closed, too heavy, `maxQueued` reached, adds waiting for room): such
    /// adds go through [`Engine::add`]. The remaining reserved ids stay reserved.
    pub fn add_reserved(&mut self, n: usize, now: f64) -> Result<(), AddError> {
        if n > self.reserved.len() {
            return Err(AddError::Invalid(InputError::NotReserved { asked: n, reserved: self.reserved.len() }));
        }
        if self.closed {
            return Err(AddError::Rejected(ErrorCode::Closed));
        }
        if matches!(self.cfg.max_batch_weight, Some(cap) if 1.0 > cap) {
            return Err(AddError::Rejected(ErrorCode::TooLarge));
        }
        if self.waiting > 0 || self.queued + n > self.cfg.queued_cap() {
            return Err(AddError::Rejected(ErrorCode::Full));
        }
        let mut reserved = std::mem::take(&mut self.reserved);
        for &idx in &reserved[..n] {
            self.accept(idx, DEFAULT_KEY, 1.0, f64::INFINITY, None, None, true, now);
        }
        reserved.drain(..n);
        self.reserved = reserved;
        Ok(())
    }

    /// Abort an item (its `AbortSignal` fired): it settles with E_ABORTED now; if it was not
    /// sent yet it leaves its queue, and if it is in flight its result will be ignored.
    pub fn cancel(&mut self, item: ItemId, now: f64) -> Result<(), InputError> {
        if !self.caller_live(item) {
            return Err(InputError::UnknownItem(item));
        }
        self.remove_caller(item, ErrorCode::Aborted, now);
        self.run_due(now);
        self.after_input(now);
        Ok(())
    }

    /// Time has moved to `now`: fire due timers and dispatch every queue that is due.
    /// Call it on [`Output::Tick`] (at the end of the turn) and at [`Engine::poll_timeout`].
    pub fn handle_time(&mut self, now: f64) {
        self.tick_requested = false;
        self.turn_end_requested = false;
        while let Some((at, timer)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.fire(at, timer, now);
        }
        self.run_due(now);
        self.after_input(now);
    }

    /// Dispatch everything queued now. The returned flush completes ([`Output::Flushed`]) once
    /// every item accepted so far has settled.
    pub fn flush(&mut self, now: f64) -> FlushId {
        let id = self.next_flush;
        self.next_flush += 1;
        self.flushes.open(id, self.live);
        self.due_all_queued();
        self.run_due(now);
        self.after_input(now);
        id
    }

    /// Refuse new adds, dispatch everything queued (and all that is re-queued from now on),
    /// and complete the returned flush when every accepted item has settled. Idempotent.
    pub fn close(&mut self, now: f64) -> FlushId {
        self.closed = true;
        self.flush(now)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The transport answered `batch` with one entry per item.
    pub fn complete(&mut self, batch: BatchId, results: &[ItemResult], now: f64) -> Result<(), InputError> {
        let b = self.batches.get(&batch).ok_or(InputError::UnknownBatch(batch))?;
        if b.timed_out {
            return Err(InputError::TimedOut(batch));
        }
        if results.len() != b.entries.len() {
            return Err(InputError::ResultCount { batch, expected: b.entries.len(), got: results.len() });
        }
        let b = self.end_call(batch);
        let retryable_entry = |r: &ItemResult| matches!(r, ItemResult::Err { retryable: true, .. });
        // A call that returns a retryable item error costs a token, as a failed call does.
        if b.abandoned {
            // Our own abort: no verdict on the transport.
        } else if results.iter().any(retryable_entry) {
            self.budget.on_failure();
        } else {
            self.budget.on_success();
        }
        let first_err = results.iter().position(|r| !matches!(r, ItemResult::Ok));
        let max_attempts = self.cfg.max_attempts();
        let (mut ok, mut failed) = (0u32, 0u32);
        let mut tally = |o: Outcome| if o.is_ok() { ok += 1 } else { failed += 1 };

        match (self.cfg.error_mode, first_err) {
            (_, None) if self.whole(&b) => {
                // One record for the call instead of one per item (the common case).
                for &(idx, _) in &b.entries {
                    self.count_settled(idx, Outcome::Ok { index: 0 });
                    self.free_item(idx);
                }
                ok = b.entries.len() as u32;
                self.out.push_back(Output::Succeeded { batch });
            }
            (_, None) => {
                for (i, &(idx, gen)) in b.entries.iter().enumerate() {
                    if self.in_flight_slot(idx, gen) {
                        let o = Outcome::Ok { index: i as u32 };
                        tally(o);
                        self.settle_slot(idx, o);
                    }
                }
            }
            (ErrorMode::Partial, Some(_)) => {
                for (i, &(idx, gen)) in b.entries.iter().enumerate() {
                    if !self.in_flight_slot(idx, gen) {
                        continue;
                    }
                    let index = i as u32;
                    let o = match results[i] {
                        ItemResult::Ok => Outcome::Ok { index },
                        ItemResult::Err { retryable: true, retry_after_ms } => {
                            if self.items[idx as usize].attempt >= max_attempts {
                                Outcome::ItemError { index }
                            } else if self.budget.allows_retry() {
                                self.retry_item(idx, retry_after_ms, now);
                                continue;
                            } else {
                                self.stats.throttled += 1;
                                Outcome::ItemError { index }
                            }
                        }
                        ItemResult::Err { .. } => Outcome::ItemError { index },
                    };
                    tally(o);
                    self.settle_slot(idx, o);
                }
            }
            (ErrorMode::FailFast, Some(first)) => {
                for (i, &(idx, gen)) in b.entries.iter().enumerate() {
                    if self.in_flight_slot(idx, gen) {
                        let o = match results[i] {
                            ItemResult::Ok => Outcome::FailFast { cause: first as u32 },
                            ItemResult::Err { .. } => Outcome::ItemError { index: i as u32 },
                        };
                        tally(o);
                        self.settle_slot(idx, o);
                    }
                }
            }
            (ErrorMode::Atomic, Some(first)) => {
                let live = self.live_slots(&b.entries);
                let resend = match results[first] {
                    ItemResult::Err { retryable: true, retry_after_ms } if b.attempt < max_attempts => {
                        if self.budget.allows_retry() {
                            Some(retry_after_ms)
                        } else {
                            self.stats.throttled += live.len() as u64;
                            None
                        }
                    }
                    _ => None,
                };
                match resend {
                    Some(hint) => self.retry_unit(b.key, live, b.attempt, hint, now),
                    None => {
                        for (idx, _) in live {
                            let o = Outcome::Atomic { cause: first as u32 };
                            tally(o);
                            self.settle_slot(idx, o);
                        }
                    }
                }
            }
        }
        self.batch_ended(batch, &b, now, ok, failed, false);
        Ok(())
    }

    /// The transport threw or rejected, timed out, or returned a result of the wrong shape.
    pub fn fail(&mut self, batch: BatchId, failure: Failure, now: f64) -> Result<(), InputError> {
        if !self.batches.contains_key(&batch) {
            return Err(InputError::UnknownBatch(batch));
        }
        let b = self.end_call(batch);
        if !b.abandoned {
            self.budget.on_failure();
        }
        let live = self.live_slots(&b.entries);
        let attempt = live.iter().map(|&(i, _)| self.items[i as usize].attempt).max().unwrap_or(1);
        let bisectable = self.cfg.bisect && self.cfg.error_mode == ErrorMode::Partial && live.len() > 1;
        let mut failed = 0;
        match failure.class() {
            Class::Retry if attempt < self.cfg.max_attempts() && self.budget.allows_retry() => {
                self.retry_unit(b.key, live, attempt, failure.retry_after_ms, now);
            }
            Class::Bisect if bisectable => {
                // Split in halves, recursively: one poison item ends up failing alone.
                self.stats.bisects += 1;
                let (left, right) = live.split_at(live.len() / 2);
                let (l, r) = (self.new_unit(b.key, left.to_vec()), self.new_unit(b.key, right.to_vec()));
                let key = &mut self.keys[b.key as usize];
                key.ready_units.push_front(r);
                key.ready_units.push_front(l);
                self.ready_stale = true;
                self.schedule_due(b.key, false);
            }
            class => {
                if class == Class::Retry && attempt < self.cfg.max_attempts() {
                    self.stats.throttled += live.len() as u64;
                }
                for (idx, _) in live {
                    let o = match failure.kind {
                        FailureKind::Timeout | FailureKind::ResultShape => Outcome::BatchError,
                        FailureKind::Thrown => Outcome::Transport { attempts: self.items[idx as usize].sends },
                    };
                    failed += 1;
                    self.settle_slot(idx, o);
                }
            }
        }
        self.batch_ended(batch, &b, now, 0, failed, true);
        Ok(())
    }

    /// `resolveKeys` answered: one key per item of the route call ([`UNROUTED`] where it gave
    /// none, which fails that item with E_ROUTE).
    pub fn route_done(&mut self, route: RouteId, keys: &[KeyId], now: f64) -> Result<(), InputError> {
        let n = self.routes.get(&route).ok_or(InputError::UnknownRoute(route))?.len();
        if keys.len() != n {
            return Err(InputError::ResultCount { batch: route, expected: n, got: keys.len() });
        }
        let entries = self.routes.remove(&route).unwrap_or_default();
        for (&(idx, gen), &k) in entries.iter().zip(keys) {
            if !self.slot_in(idx, gen, State::Routing) {
                continue;
            }
            if k != UNROUTED && self.key_valid(k) {
                self.queued -= 1; // counted again by enqueue
                self.items[idx as usize].key = k;
                self.enqueue(idx, now);
            } else {
                self.remove_caller(idx, ErrorCode::Route, now);
            }
        }
        // The host interned every answered key; one whose items left meanwhile is released here.
        for &k in keys {
            if k > DEFAULT_KEY && self.key_valid(k) {
                self.maybe_release_key(k);
            }
        }
        self.run_due(now);
        self.after_input(now);
        Ok(())
    }

    /// `resolveKeys` failed: its items fail with E_ROUTE.
    pub fn route_failed(&mut self, route: RouteId, now: f64) -> Result<(), InputError> {
        let entries = self.routes.remove(&route).ok_or(InputError::UnknownRoute(route))?;
        for (idx, gen) in entries {
            if self.slot_in(idx, gen, State::Routing) {
                self.remove_caller(idx, ErrorCode::Route, now);
            }
        }
        self.run_due(now);
        self.after_input(now);
        Ok(())
    }

    // ---------------------------------------------------------------- outputs

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether [`Engine::poll_output`] has something.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// When [`Engine::handle_time`] must next be called; `None` while nothing is queued,
    /// waiting or in flight (so the host arms no timer and may exit).
    pub fn poll_timeout(&mut self) -> Option<f64> {
        let next = self.next_timeout();
        self.timers.reported(next);
        next
    }

    fn next_timeout(&mut self) -> Option<f64> {
        if self.live == 0 && self.in_flight_batches == 0 {
            self.timers.clear();
            return None;
        }
        while let Some((at, timer)) = self.timers.peek() {
            if self.timer_live(at, timer) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// The host must call [`Engine::poll_output`] or [`Engine::poll_timeout`]: there is output,
    /// or the next wake-up moved earlier than the one last polled.
    pub fn needs_poll(&self) -> bool {
        !self.out.is_empty() || self.timers.moved_earlier()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            queued: self.queued as u64,
            in_flight_batches: self.in_flight_batches as u64,
            in_flight_items: self.in_flight_items as u64,
            ..self.stats.clone()
        }
    }

    /// Callers accepted and not yet settled.
    pub fn unsettled(&self) -> usize {
        self.live
    }

    // ---------------------------------------------------------------- queueing

    fn alloc_item(&mut self) -> u32 {
        match self.free_items.pop() {
            Some(i) => i,
            None => {
                self.items.push(Item::vacant());
                (self.items.len() - 1) as u32
            }
        }
    }

    fn free_item(&mut self, idx: u32) {
        let it = &mut self.items[idx as usize];
        let gen = it.gen.wrapping_add(1);
        *it = Item { gen, ..Item::vacant() };
        self.free_items.push(idx);
    }

    fn join(&mut self, idx: u32, primary: u32) {
        let it = &mut self.items[idx as usize];
        it.state = State::Follower;
        it.primary = primary;
        self.items[primary as usize].followers.push(idx);
    }

    /// Put an item (new, admitted from waiting, or routed) at the back of its key's queue.
    fn enqueue(&mut self, idx: u32, now: f64) {
        let (k, gen, weight, deadline) = {
            let it = &self.items[idx as usize];
            (it.key, it.gen, it.weight, it.deadline)
        };
        if k != UNROUTED {
            let d = self.items[idx as usize].dedupe.as_deref();
            if let Some(&p) = d.and_then(|d| self.keys[k as usize].queue.dedupe.get(d)) {
                self.join(idx, p);
                return;
            }
        }
        let order = self.next_order;
        self.next_order += 1;
        let it = &mut self.items[idx as usize];
        it.order = order;
        it.state = State::Queued;
        let q = &mut self.keys[k as usize].queue;
        q.push_back(Entry { order, item: idx, gen, at: now }, weight);
        if k != UNROUTED {
            if let Some(d) = &it.dedupe {
                q.dedupe.insert(d.clone(), idx);
            }
        }
        self.queued += 1;
        self.queue_grew(k, idx, deadline, now);
    }

    /// A retried item rejoins its key's queue at its original place.
    fn requeue(&mut self, idx: u32, now: f64) {
        let it = &mut self.items[idx as usize];
        it.state = State::Queued;
        let (k, gen, order, weight, deadline) = (it.key, it.gen, it.order, it.weight, it.deadline);
        let key = &mut self.keys[k as usize];
        key.retry_waiting -= 1;
        key.queue.insert_ordered(Entry { order, item: idx, gen, at: now }, weight);
        self.ready_stale = true;
        // Its backoff was its wait: it goes with the next batch of its key.
        self.due_through(k, order, false);
        self.queue_grew(k, idx, deadline, now);
    }

    fn queue_grew(&mut self, k: KeyId, idx: u32, deadline: f64, now: f64) {
        if deadline.is_finite() && self.arm_deadline(k, idx, deadline, now) {
            return;
        }
        let q = &self.keys[k as usize].queue;
        let full = q.live >= self.cfg.batch_size() || matches!(self.cfg.max_batch_weight, Some(cap) if q.weight > cap);
        if full || self.closed || self.under_pressure() {
            self.schedule_due(k, true);
        } else if self.cfg.max_wait_ms == 0.0 || self.adaptive_idle(k) {
            self.schedule_turn_end(k);
        } else {
            self.arm_window(k);
        }
    }

    fn admit_waiters(&mut self, now: f64) {
        while self.queued < self.cfg.queued_cap() {
            let Some((idx, gen)) = self.waiters.pop_front() else {
                break;
            };
            if !self.slot_in(idx, gen, State::Waiting) {
                continue;
            }
            self.waiting -= 1;
            let k = self.items[idx as usize].key;
            self.keys[k as usize].waiting -= 1;
            self.enqueue(idx, now);
            // It waited for room already: it goes with its key's next batch.
            if self.items[idx as usize].state == State::Queued {
                self.due_through(k, self.items[idx as usize].order, true);
            }
            self.out.push_back(Output::Admitted { item: idx });
        }
    }

    // ---------------------------------------------------------------- outcomes

    fn slot_in(&self, idx: u32, gen: u32, state: State) -> bool {
        let it = &self.items[idx as usize];
        it.gen == gen && it.state == state
    }

    fn in_flight_slot(&self, idx: u32, gen: u32) -> bool {
        self.slot_in(idx, gen, State::InFlight)
    }

    fn live_slots(&self, entries: &[Slot]) -> Vec<Slot> {
        entries.iter().copied().filter(|&(i, g)| self.in_flight_slot(i, g)).collect()
    }

    /// Every slot of the call is still in it, with its own caller and no follower.
    fn whole(&self, b: &Batch) -> bool {
        b.entries.iter().all(|&(idx, gen)| {
            let it = &self.items[idx as usize];
            self.in_flight_slot(idx, gen) && it.followers.is_empty() && !it.caller_settled
        })
    }

    fn caller_live(&self, idx: u32) -> bool {
        self.items.get(idx as usize).is_some_and(|it| it.state != State::Free && !it.caller_settled)
    }

    fn end_call(&mut self, batch: BatchId) -> Batch {
        let b = self.batches.remove(&batch).expect("checked by the caller");
        self.in_flight_batches -= 1;
        self.in_flight_items -= b.entries.len();
        self.keys[b.key as usize].in_flight -= 1;
        b
    }

    fn batch_ended(&mut self, batch: BatchId, b: &Batch, now: f64, ok: u32, failed: u32, batch_error: bool) {
        self.out.push_back(Output::BatchEnd(BatchEnd {
            batch,
            key: b.key,
            size: b.entries.len() as u32,
            weight: b.weight,
            attempt: b.attempt,
            duration_ms: now - b.started,
            succeeded: ok,
            failed,
            batch_error,
        }));
        if !b.abandoned {
            self.call_took(b.key, now - b.started, now);
        }
        self.capacity_freed(b.key, now);
        self.after_input(now);
    }

    fn retry_item(&mut self, idx: u32, retry_after_ms: Option<f64>, now: f64) {
        let attempt = self.items[idx as usize].attempt;
        let delay = backoff_delay(&self.cfg.retry, attempt, retry_after_ms, &mut self.rng);
        let it = &mut self.items[idx as usize];
        it.attempt += 1;
        it.state = State::RetryWait;
        let gen = it.gen;
        self.keys[it.key as usize].retry_waiting += 1;
        self.timers.push(now + delay, Timer::ItemRetry { item: idx, gen });
    }

    fn new_unit(&mut self, key: KeyId, entries: Vec<Slot>) -> u64 {
        let u = self.next_unit;
        self.next_unit += 1;
        for &(idx, _) in &entries {
            self.items[idx as usize].state = State::InUnit;
            self.items[idx as usize].batch = u;
        }
        self.units.insert(u, Unit { key, live: entries.len(), entries });
        u
    }

    /// A slot left unit `u` (aborted, expired): a unit nobody waits for any more is dropped now,
    /// so that neither it nor its key outlives its items.
    fn left_unit(&mut self, u: u64) {
        let Some(unit) = self.units.get_mut(&u) else {
            return;
        };
        unit.live -= 1;
        if unit.live > 0 {
            return;
        }
        let k = unit.key;
        self.units.remove(&u);
        let key = &mut self.keys[k as usize];
        match key.ready_units.iter().position(|&r| r == u) {
            Some(i) => {
                key.ready_units.remove(i);
            }
            None => key.pending_units -= 1, // its timer had not fired: a stale timer now
        }
    }

    /// Resend these items as one batch after the backoff for `attempt`.
    fn retry_unit(&mut self, key: KeyId, entries: Vec<Slot>, attempt: u32, hint: Option<f64>, now: f64) {
        if entries.is_empty() {
            return;
        }
        let delay = backoff_delay(&self.cfg.retry, attempt, hint, &mut self.rng);
        for &(idx, _) in &entries {
            self.items[idx as usize].attempt += 1;
        }
        let u = self.new_unit(key, entries);
        self.keys[key as usize].pending_units += 1;
        self.timers.push(now + delay, Timer::Unit(u));
    }

    fn count_settled(&mut self, idx: u32, outcome: Outcome) {
        self.live -= 1;
        self.flushes.settled(self.items[idx as usize].seq);
        if outcome.is_ok() {
            self.stats.succeeded += 1;
        } else {
            self.stats.failed += 1;
        }
    }

    /// A slot's call is over: its followers and (if still waiting) its own caller settle.
    fn settle_slot(&mut self, idx: u32, outcome: Outcome) {
        let followers = std::mem::take(&mut self.items[idx as usize].followers);
        for f in followers {
            self.count_settled(f, outcome);
            self.out.push_back(Output::Settle { item: f, outcome, release: true });
            self.free_item(f);
        }
        if self.items[idx as usize].caller_settled {
            self.out.push_back(Output::Release { item: idx });
        } else {
            self.count_settled(idx, outcome);
            self.out.push_back(Output::Settle { item: idx, outcome, release: true });
        }
        self.free_item(idx);
    }

    /// One caller gives up (abort, deadline, route failure). Its slot goes too unless
    /// followers still ride on it.
    fn remove_caller(&mut self, idx: u32, code: ErrorCode, now: f64) {
        let outcome = Outcome::Code(code);
        self.count_settled(idx, outcome);
        let it = &mut self.items[idx as usize];
        if it.state == State::Follower {
            let p = it.primary;
            self.out.push_back(Output::Settle { item: idx, outcome, release: true });
            self.free_item(idx);
            let primary = &mut self.items[p as usize];
            primary.followers.retain(|&f| f != idx);
            if primary.caller_settled && primary.followers.is_empty() {
                self.drop_slot(p, now);
            }
            return;
        }
        if !it.followers.is_empty() {
            it.caller_settled = true;
            self.out.push_back(Output::Settle { item: idx, outcome, release: false });
            return;
        }
        self.out.push_back(Output::Settle { item: idx, outcome, release: true });
        self.drop_slot(idx, now);
    }

    /// Take a slot with no caller left out of wherever it is, and free it.
    fn drop_slot(&mut self, idx: u32, now: f64) {
        let it = &self.items[idx as usize];
        let k = it.key;
        match it.state {
            State::Queued => {
                let q = &mut self.keys[k as usize].queue;
                q.forget(it.weight, it.sends > 0);
                if it.sends == 0 {
                    self.queued -= 1;
                }
                if let Some(d) = &it.dedupe {
                    if q.dedupe.get(d) == Some(&idx) {
                        q.dedupe.remove(d);
                    }
                }
                if q.is_empty() {
                    self.keys[k as usize].window_at = f64::INFINITY;
                }
            }
            State::Waiting => {
                self.waiting -= 1;
                self.keys[k as usize].waiting -= 1;
            }
            State::Routing => self.queued -= 1,
            State::RetryWait => self.keys[k as usize].retry_waiting -= 1,
            State::InUnit => self.left_unit(it.batch),
            State::InFlight | State::Follower | State::Free => {}
        }
        let it = &self.items[idx as usize];
        let left_call = (it.state == State::InFlight).then_some(it.batch);
        if it.caller_settled {
            self.out.push_back(Output::Release { item: idx });
        }
        self.free_item(idx);
        if let Some(batch) = left_call {
            self.slot_left_call(batch); // after the slot's last output: its call may be abandoned
        }
        self.admit_waiters(now);
        if self.key_valid(k) {
            self.maybe_release_key(k);
        }
    }

    // ---------------------------------------------------------------- timers

    fn fire(&mut self, at: f64, timer: Timer, now: f64) {
        match timer {
            Timer::Window(k) => {
                let key = &mut self.keys[k as usize];
                if key.alive && key.window_at == at {
                    key.window_at = f64::INFINITY;
                    self.schedule_due(k, false);
                }
            }
            Timer::DeadlineFlush { item, gen } => {
                if self.slot_in(item, gen, State::Queued) {
                    let it = &self.items[item as usize];
                    self.due_through(it.key, it.order, false);
                }
            }
            Timer::Expire { item, gen } => {
                let it = &self.items[item as usize];
                if it.gen == gen && it.state != State::Free && !it.caller_settled && now > it.deadline {
                    self.remove_caller(item, ErrorCode::Deadline, now);
                }
            }
            Timer::ItemRetry { item, gen } => {
                if self.slot_in(item, gen, State::RetryWait) {
                    self.requeue(item, now);
                }
            }
            Timer::Unit(u) => {
                if let Some(unit) = self.units.get(&u) {
                    let k = unit.key;
                    let key = &mut self.keys[k as usize];
                    key.pending_units -= 1;
                    key.ready_units.push_back(u);
                    self.ready_stale = true;
                    self.schedule_due(k, false);
                }
            }
            Timer::CallTimeout(batch) => {
                if let Some(b) = self.batches.get_mut(&batch) {
                    if !b.timed_out {
                        b.timed_out = true;
                        self.out.push_back(Output::CallTimedOut { batch });
                    }
                }
            }
        }
    }

    fn timer_live(&self, at: f64, timer: Timer) -> bool {
        match timer {
            Timer::Window(k) => {
                let key = &self.keys[k as usize];
                key.alive && key.window_at == at && !key.queue.is_empty()
            }
            Timer::DeadlineFlush { item, gen } => self.slot_in(item, gen, State::Queued),
            Timer::Expire { item, gen } => {
                let it = &self.items[item as usize];
                it.gen == gen && it.state != State::Free && !it.caller_settled
            }
            Timer::ItemRetry { item, gen } => self.slot_in(item, gen, State::RetryWait),
            Timer::Unit(u) => self.units.contains_key(&u),
            Timer::CallTimeout(b) => self.batches.get(&b).is_some_and(|b| !b.timed_out),
        }
    }

    /// Bookkeeping after every input: completed flushes, and compaction of stale timers.
    fn after_input(&mut self, _now: f64) {
        while let Some(id) = self.flushes.pop_done() {
            self.out.push_back(Output::Flushed { flush: id });
        }
        let bound = 64 + 4 * (self.live + self.in_flight_batches + self.units.len() + self.keys.len());
        if self.timers.len() > bound {
            let mut timers = std::mem::take(&mut self.timers);
            timers.retain(|at, t| self.timer_live(at, t));
            self.timers = timers;
        }
    }
}

/// The first time strictly after `t`: an item expires once its deadline has passed.
fn next_after(t: f64) -> f64 {
    if t.is_finite() {
        t.next_up()
    } else {
        t
    }
}
