//! The engine: queues per key, flush decisions, retries, bisect, budget, backpressure, stats.
//!
//! Item lifecycle: `Waiting` (no room yet) → `Queued` (in its key's queue; the routing queue
//! for items whose key `resolveKeys` must find, then `Routing` while that call runs) →
//! `InFlight` → settled, or back through `RetryWait` (one item, rejoins its queue) or `InUnit`
//! (a whole batch resent as it was: atomic mode, batch-level retries, bisect halves).
//! A dedupe `Follower` rides on a queued item's slot and settles with it.
//!
//! This file holds the state and the public inputs that only route to the rest; each concept
//! has its module: `admission` (adds), `items` (the slot table), `keys`, `due` (which queue
//! sends when), `dispatch` (cutting and sending batches), `deadline`, `outcome` (answers and
//! failures), `bisect`, `units` (resends), `abandon`, `time` (timers), `runs` (plain items kept
//! as runs of ids, their slots written only when one is needed alone).

mod abandon;
mod admission;
mod bisect;
mod circuit;
mod deadline;
mod dispatch;
mod due;
mod items;
mod keys;
mod outcome;
mod runs;
mod time;
mod units;

use crate::prelude::*;

use super::budget::Budget;
use super::call_time::{CallTime, RetiredCallTimes};
use super::circuit::Circuit;
use super::config::{Config, ConfigError, ErrorMode, WhenFull};
use super::fifo::Fifo;
use super::flush::Flushes;
use super::id_map::IdMap;
use super::queue::{Entry, Queue, RUN};
use super::retry::{backoff_delay, Class, Failure, FailureKind, Rng};
use super::str_map::StrMap;
use super::table::Table;
use super::timers::{ReadyKeys, Timer, Timers};
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
    /// For a follower: the item whose slot it shares. For a slot with followers: its last one.
    primary: u32,
    /// For a slot: its first follower; for a follower: the next one on its slot (`NONE`: no
    /// more). A list through the table, not a `Vec` per item: no heap block, no drop glue.
    followers: u32,
    /// The slot's own caller has settled (aborted, expired) but followers still ride on it.
    caller_settled: bool,
    dedupe: Option<Box<str>>,
}

impl Item {
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
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
            followers: NONE,
            caller_settled: false,
            dedupe: None,
        }
    }
}

/// `repr(C)`, the queue and the fields most used first (see `Engine`).
#[derive(Debug, Default)]
#[repr(C)]
struct Key {
    queue: Queue,
    in_flight: usize,
    alive: bool,
    /// Listed in `due` (or being served by `run_due`).
    scheduled: bool,
    /// Time of the earliest window timer armed for this key (INFINITY: none).
    window_at: f64,
    ready_units: Fifo<u64>,
    pending_units: usize,
    retry_waiting: usize,
    /// Adds for this key waiting for room (`whenFull: "wait"`): they hold the key too.
    waiting: usize,
    /// Free ids held for its next `add_plain`s, as (first, count): a key's items get ids in a
    /// row, so its batches are runs of ids (or a few) whatever other keys' adds come between.
    ids: (u32, u32),
    /// How many ids it takes next time `ids` runs out: doubles up to `maxBatchSize`, so a key
    /// with a few items holds a few ids.
    ids_block: u32,
    name: Box<str>,
    /// How long its transport calls take: the lead of deadline-aware dispatch.
    call_time: CallTime,
    /// Its circuit breaker (closed and counting nothing without `circuitBreaker`).
    circuit: Circuit,
}

impl Key {
    // Out of line: Engine::new builds two and intern one; inlined, each is a run of stores.
    #[inline(never)]
    fn new(name: &str) -> Self {
        Key { alive: true, name: name.into(), window_at: f64::INFINITY, ..Key::default() }
    }
}

impl Key {
    /// The id is free: reset, but keep the buffers for the next key that gets this id (keys
    /// come and go with their traffic; reallocating on every reuse is measurable).
    fn retire(&mut self) {
        let mut entries = core::mem::take(&mut self.queue.entries);
        let mut dedupe = core::mem::take(&mut self.queue.dedupe);
        let mut ready_units = core::mem::take(&mut self.ready_units);
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

type Slot = (u32, u32); // (item index, generation)

/// Plain items in flight as a run (see `runs.rs`): ids, arrival orders and flush numbers in a
/// row, one deadline (`f64::INFINITY`: none).
#[derive(Clone, Copy, Debug)]
struct Run {
    first: u32,
    len: u32,
    order: u64,
    seq: u64,
    deadline: f64,
}

impl Run {
    /// The first `len` items of a queue entry that holds a run.
    fn of(e: &Entry, len: u32) -> Run {
        Run { first: e.item, len, order: e.order, seq: e.seq, deadline: e.deadline }
    }
}

#[derive(Debug)]
struct Batch {
    key: KeyId,
    /// Its items, in order: as slots, or (a batch of plain items only) as `runs`, never both.
    entries: Vec<Slot>,
    runs: Vec<Run>,
    /// Its items, however it holds them.
    size: usize,
    attempt: u32,
    weight: f64,
    started: f64,
    timed_out: bool,
    /// Slots whose outcome someone still waits for.
    wanted: usize,
    /// `wanted` fell to 0 (see `abandon.rs`).
    abandoned: bool,
    /// Started by [`Engine::call_now`]: its start and its success are the host's to know.
    direct: bool,
}

/// A unit (a batch waiting to be resent as it was) or a `resolveKeys` call: its key, its slots,
/// and in `wanted` how many of them are still in it. A `Batch` too: one map type in the .wasm.
type Unit = Batch;

impl Batch {
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    fn unit(key: KeyId, entries: Vec<Slot>) -> Unit {
        Batch {
            key,
            wanted: entries.len(),
            entries,
            runs: Vec::new(),
            size: 0,
            attempt: 0,
            weight: 0.0,
            started: 0.0,
            timed_out: false,
            abandoned: false,
            direct: false,
        }
    }
}

/// See the module docs of [`crate::engine`].
// `repr(C)`, the fields most used first: a load or store at an offset below 128 takes one
// byte less in the .wasm (the compiler's own order put `items` and `keys` past 600).
#[repr(C)]
pub struct Engine {
    /// Slots and keys by id: indexed unchecked in the shipped build (see `table.rs`).
    items: Table<Item>,
    keys: Table<Key>,
    /// Outputs not polled yet: those from `out_read` on (a Vec read from the front and cleared
    /// once read through, rather than a VecDeque: less code in the .wasm).
    out: Vec<Output>,
    out_read: usize,
    /// Callers accepted and not yet settled.
    live: usize,
    queued: usize,
    in_flight_batches: usize,
    in_flight_items: usize,
    waiting: usize,
    due: Vec<KeyId>,
    /// Free item slots as (first, count) runs of ids, handed out oldest-freed first: items freed
    /// in id order (a batch that settled, then the next) come back in that order, merged, so
    /// plain adds take consecutive ids and queue, go and settle as runs (see `runs.rs`).
    free_items: Fifo<(u32, u32)>,
    /// Ids handed out so far: every id below it is free, in use, or reserved (see `items.rs`).
    ids_end: u32,
    tick_requested: bool,
    /// An [`Output::TurnEnd`] is out and no `handle_time` came since.
    turn_end_requested: bool,
    closed: bool,
    /// A key waiting in `ready` may now hold an older item than its entry says (a resend rejoined
    /// ahead of its queue): `run_due` re-reads them all before it serves one.
    ready_stale: bool,
    next_order: u64,
    timers: Timers,
    flushes: Flushes,
    cfg: Config,
    /// How many runs `free_items` held after its last merge (see `items.rs`).
    free_merged: usize,
    free_keys: Vec<u32>,
    key_ids: StrMap,
    batches: IdMap<Batch>,
    next_batch: BatchId,
    /// `resolveKeys` calls in flight: their items, as a unit of the routing queue (one map type
    /// less in the .wasm).
    routes: IdMap<Unit>,
    next_route: RouteId,
    units: IdMap<Unit>,
    next_unit: u64,
    waiters: Fifo<Slot>,
    /// Ids handed out by `reserve_plain` and not used yet (free slots no `add` takes), as
    /// (first, count).
    reserved: (u32, u32),
    /// How many of `reserved` the last `reserve_plain` handed out (less what `add_reserved` took).
    reserved_shown: usize,
    /// When `Timer::RunExpiry` fires (INFINITY: none armed): just after the earliest deadline of
    /// the default queue's runs, queued or in flight, when it was armed (see `deadline.rs`).
    run_expiry: f64,
    next_flush: FlushId,
    /// `next_order` at the latest flush or close: an item ordered before it was queued when that
    /// flush came, so once `resolveKeys` routes it, it is due at once.
    flushed_before: u64,
    /// Due keys by the arrival order of their oldest item (`run_due`'s buffer).
    ready: ReadyKeys,
    retired_call_times: RetiredCallTimes,
    budget: Budget,
    rng: Rng,
    stats: Stats,
}

impl Engine {
    /// A validated engine. `seed` drives the jitter PRNG, so a run replays exactly.
    pub fn new(cfg: Config, seed: u64) -> Result<Engine, ConfigError> {
        cfg.validate()?;
        let budget = Budget::new(cfg.retry.budget());
        let keys = vec![Key::new(""), Key::new("")]; // UNROUTED, DEFAULT_KEY
        Ok(Engine {
            cfg,
            items: Table(Vec::new()),
            ids_end: 0,
            free_items: Fifo::default(),
            free_merged: 0,
            keys: Table(keys),
            free_keys: Vec::new(),
            key_ids: StrMap::default(),
            batches: IdMap::default(),
            next_batch: 1,
            routes: IdMap::default(),
            next_route: 1,
            units: IdMap::default(),
            next_unit: 1,
            waiters: Fifo::default(),
            waiting: 0,
            reserved: (0, 0),
            reserved_shown: 0,
            run_expiry: f64::INFINITY,
            timers: Timers::default(),
            flushes: Flushes::default(),
            next_flush: 1,
            next_order: 0,
            flushed_before: 0,
            due: Vec::new(),
            ready: ReadyKeys::default(),
            ready_stale: false,
            retired_call_times: RetiredCallTimes::default(),
            out: Vec::new(),
            out_read: 0,
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

    // ---------------------------------------------------------------- inputs

    /// Abort an item (its `AbortSignal` fired): it settles with E_ABORTED now; if it was not
    /// sent yet it leaves its queue, and if it is in flight its result will be ignored. Plain
    /// items added in bulk have no signal: while they travel as a run (see `runs.rs`) they are
    /// not found here ([`InputError::UnknownItem`]).
    pub fn cancel(&mut self, item: ItemId, now: f64) -> Result<(), InputError> {
        if !self.caller_live(item) {
            return Err(InputError::UnknownItem(item));
        }
        self.remove_caller(item, ErrorCode::Aborted, now);
        // Nothing is sent from inside an abort: a signal shared by several queued items aborts
        // them one by one, and a zero window's queue is sent at the end of its turn, not between
        // two of those aborts. An abort frees no call capacity (an abandoned call counts until
        // its outcome); what became due goes at the wake-up already asked for, or at a tick.
        if !self.due.is_empty() && !self.turn_end_requested {
            self.request_tick();
        }
        self.after_input(now);
        Ok(())
    }

    /// Dispatch everything queued now. The returned flush completes ([`Output::Flushed`]) once
    /// every item accepted so far has settled.
    pub fn flush(&mut self, now: f64) -> FlushId {
        let id = self.next_flush;
        self.next_flush += 1;
        self.flushes.open(id, self.live);
        self.flushed_before = self.next_order;
        self.due_all_queued();
        self.run_due(now);
        self.after_input(now);
        id
    }

    /// Refuse new adds, dispatch everything queued (and all that is re-queued from now on),
    /// and complete the returned flush when every accepted item has settled. Idempotent.
    pub fn close(&mut self, now: f64) -> FlushId {
        self.closed = true;
        self.release_circuit_keys();
        self.flush(now)
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// `resolveKeys` answered: one key per item of the route call ([`UNROUTED`] where it gave
    /// none, which fails that item with E_ROUTE).
    pub fn route_done(&mut self, route: RouteId, keys: &[KeyId], now: f64) -> Result<(), InputError> {
        let Some(n) = self.routes.get(&route).map(|u| u.entries.len()) else {
            // A late answer (the call timed out): the keys the host interned for it go again.
            self.release_keys(keys);
            return Err(InputError::UnknownRoute(route));
        };
        if keys.len() != n {
            return Err(InputError::ResultCount { batch: route, expected: n, got: keys.len() });
        }
        let entries = self.routes.remove(&route).map_or_else(Vec::new, |u| u.entries);
        for (&(idx, gen), &k) in entries.iter().zip(keys) {
            if !self.slot_in(idx, gen, State::Routing) {
                continue;
            }
            if k != UNROUTED && self.key_valid(k) {
                self.queued -= 1; // counted again by enqueue
                let it = &mut self.items[idx as usize];
                it.key = k;
                let flushed = it.order < self.flushed_before;
                self.enqueue(idx, now);
                // A flush made while the item waited for its key covers it: `flush()` dispatches
                // everything queued when it is called.
                if flushed {
                    self.flushed_route(idx, gen, k);
                }
            } else {
                self.remove_caller(idx, ErrorCode::Route, now);
            }
        }
        // A routed item refused by its key's open circuit left room behind it.
        self.admit_waiters(now);
        // The host interned every answered key; one whose items left meanwhile is released here.
        self.release_keys(keys);
        self.run_due(now);
        self.after_input(now);
        Ok(())
    }

    /// A routed item that a flush covered is due at once; one that joined a dedupe slot makes
    /// that slot's item due (the flush waits for it to settle).
    #[cold]
    #[inline(never)]
    fn flushed_route(&mut self, idx: u32, gen: u32, k: KeyId) {
        let it = &self.items[idx as usize];
        if it.gen != gen {
            return; // refused by the key's open circuit
        }
        let owner = if it.state == State::Follower { it.primary } else { idx };
        let o = &self.items[owner as usize];
        if o.state == State::Queued {
            self.due_through(k, o.order, false);
        }
    }

    fn release_keys(&mut self, keys: &[KeyId]) {
        for &k in keys {
            if k > DEFAULT_KEY && self.key_valid(k) {
                self.maybe_release_key(k);
            }
        }
    }

    /// `resolveKeys` failed: its items fail with E_ROUTE.
    pub fn route_failed(&mut self, route: RouteId, now: f64) -> Result<(), InputError> {
        if !self.fail_route(route, ErrorCode::Route, now) {
            return Err(InputError::UnknownRoute(route));
        }
        self.run_due(now);
        self.after_input(now);
        Ok(())
    }

    /// Fails the items of route call `route` still routing with `code`; false if the call is not
    /// pending. `route_failed` gives [`ErrorCode::Route`]; a call that outlived `timeoutMs` gives
    /// [`ErrorCode::Timeout`] (the hosts report E_ROUTE caused by an E_TIMEOUT, as the contract's
    /// "no forever-pending promise" asks) and a late answer is then ignored (`route_done`).
    pub(super) fn fail_route(&mut self, route: RouteId, code: ErrorCode, now: f64) -> bool {
        let Some(unit) = self.routes.remove(&route) else {
            return false;
        };
        for (idx, gen) in unit.entries {
            if self.slot_in(idx, gen, State::Routing) {
                self.remove_caller(idx, code, now);
            }
        }
        true
    }

    // ---------------------------------------------------------------- outputs

    pub fn poll_output(&mut self) -> Option<Output> {
        let o = self.out.get_mut(self.out_read)?;
        let o = core::mem::replace(o, Output::Tick);
        self.out_read += 1;
        if self.out_read == self.out.len() {
            self.out.clear();
            self.out_read = 0;
        }
        Some(o)
    }

    /// Every pending output to `f`, oldest first, as repeated [`Engine::poll_output`] would give
    /// them (the wasm shell's drain): each moves out with a `Tick` left in its place, and the
    /// vector is cleared once read through.
    pub fn drain_outputs(&mut self, mut f: impl FnMut(Output)) {
        let read = core::mem::take(&mut self.out_read);
        for o in &mut self.out[read..] {
            f(core::mem::replace(o, Output::Tick));
        }
        self.out.clear();
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
            self.run_expiry = f64::INFINITY; // its timer is gone
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
            circuits_open: self.circuits_open(),
            ..self.stats.clone()
        }
    }

    /// Callers accepted and not yet settled.
    pub fn unsettled(&self) -> usize {
        self.live
    }

    /// Item slots the table holds (plain runs take ids without slots).
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.items.len()
    }

    /// (free ids, ids handed out so far): equal once nothing is live, reserved or held by a key.
    #[cfg(test)]
    pub(crate) fn free_ids_of(&self) -> (u32, u32) {
        (self.free_items.iter().map(|r| r.1).sum(), self.ids_end)
    }

    /// Queue an output. Out of line: each inlined `push` repeated its capacity check.
    #[inline(never)]
    fn emit(&mut self, o: Output) {
        self.out.push(o);
    }

    /// Bookkeeping after every input: completed flushes, and compaction of stale timers.
    fn after_input(&mut self, _now: f64) {
        while let Some(id) = self.flushes.pop_done() {
            self.emit(Output::Flushed { flush: id });
        }
        let bound = 64 + 4 * (self.live + self.in_flight_batches + self.units.len() + self.keys.len());
        if self.timers.len() > bound {
            let mut timers = core::mem::take(&mut self.timers);
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
