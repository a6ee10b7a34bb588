//! Which queues dispatch now, and in what order.
//!
//! A key is *due* when its queue must send (full by size or weight, its window closed, a
//! deadline near, a flush, backpressure, closing; adaptive: no call of its key in flight, or one
//! just ended) or it holds a ready unit (a resend). Due keys are served oldest first, one batch at a time: the key whose oldest waiting item arrived first
//! sends next (the contract's "order across keys"). Keys that must wait for `maxInFlight` stay
//! in the `ready` heap until a call ends; one held back by `maxInFlightPerKey` is scheduled
//! again when one of its own calls ends.

use super::{Engine, Entry, State};
use crate::engine::{KeyId, Output, UNROUTED};

impl Engine {
    /// Mark a key due; with `tick`, ask the host for a [`Output::Tick`] (the next microtask).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn schedule_due(&mut self, k: KeyId, tick: bool) {
        let key = &mut self.keys[k as usize];
        if !key.scheduled {
            key.scheduled = true;
            self.due.push(k);
        }
        if tick {
            self.request_tick();
        }
    }

    /// Ask the host for a [`Output::Tick`] (the next microtask), once until it comes.
    pub(super) fn request_tick(&mut self) {
        if !self.tick_requested {
            self.tick_requested = true;
            self.emit(Output::Tick);
        }
    }

    /// Mark a key due at the end of the turn (its `maxWaitMs: 0` window): [`Output::TurnEnd`],
    /// unless a wake-up at least as early is already asked for.
    pub(super) fn schedule_turn_end(&mut self, k: KeyId) {
        self.schedule_due(k, false);
        if !self.tick_requested && !self.turn_end_requested {
            self.turn_end_requested = true;
            self.emit(Output::TurnEnd);
        }
    }

    /// Every entry of key `k` up to `order` is due now (a deadline near, a retry's backoff over,
    /// an add that waited for room).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn due_through(&mut self, k: KeyId, order: u64, tick: bool) {
        let q = &mut self.keys[k as usize].queue;
        q.due_before = q.due_before.max(order + 1);
        self.schedule_due(k, tick);
    }

    /// Everything queued now is due (a flush, backpressure).
    pub(super) fn due_all_queued(&mut self) {
        let upto = self.next_order;
        for k in 0..self.keys.len() as KeyId {
            let key = &mut self.keys[k as usize];
            if key.alive && !key.queue.is_empty() {
                key.queue.due_before = key.queue.due_before.max(upto);
                self.schedule_due(k, false);
            }
        }
    }

    /// Backpressure is a flush trigger: `queued` reached `maxQueued`, or adds wait for room.
    pub(super) fn under_pressure(&self) -> bool {
        self.waiting > 0 || self.queued >= self.cfg.queued_cap()
    }

    /// Dispatch every due key, oldest first, while the in-flight caps allow.
    ///
    /// Keys still due when `maxInFlight` is reached stay in `ready` (and `scheduled`): the next
    /// call to end resumes here, so a call's end costs O(log keys), not a pass over every due key.
    pub(super) fn run_due(&mut self, now: f64) {
        if self.under_pressure() {
            self.due_all_queued();
        }
        // `scheduled` stays set while a key is in `ready`: scheduling it again is a no-op. A key
        // with nothing waiting does not enter `ready`: an item admitted into it later schedules
        // it afresh, with its true oldest.
        let mut ready = core::mem::take(&mut self.ready);
        if core::mem::take(&mut self.ready_stale) {
            for k in ready.take_keys() {
                match self.oldest(k, now) {
                    Some(oldest) if self.keys[k as usize].alive => ready.push(oldest, k),
                    _ => self.settle_schedule(k),
                }
            }
        }
        loop {
            while let Some(k) = self.due.pop() {
                if k == UNROUTED {
                    // resolveKeys calls are not transport calls: no cap, no order among keys.
                    self.serve(k, now);
                    continue;
                }
                match self.oldest(k, now) {
                    Some(oldest) if self.keys[k as usize].alive => ready.push(oldest, k),
                    _ => self.settle_schedule(k),
                }
            }
            if self.in_flight_batches >= self.cfg.in_flight_cap() {
                break; // the rest of `ready` waits for a call to end
            }
            let Some((oldest, k)) = ready.pop() else {
                break;
            };
            match self.oldest(k, now) {
                Some(now_oldest) if now_oldest != oldest => ready.push(now_oldest, k),
                None => self.settle_schedule(k),
                Some(_) => self.serve(k, now),
            }
        }
        self.ready = ready;
    }

    /// Send what key `k` owes now, one batch; if more may be due it competes again by its new oldest.
    fn serve(&mut self, k: KeyId, now: f64) {
        if self.dispatch_next(k, now) {
            self.keys[k as usize].scheduled = false;
            self.schedule_due(k, false);
        } else {
            self.settle_schedule(k);
        }
    }

    /// A key leaves the due set: it waits for its window (or nothing) again.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    fn settle_schedule(&mut self, k: KeyId) {
        let key = &mut self.keys[k as usize];
        key.scheduled = false;
        if key.alive {
            self.arm_window(k);
            self.maybe_release_key(k);
        }
    }

    /// The arrival order of a key's oldest item that its next batch would send (queued, or in
    /// a ready unit); `None` when nothing waits. A queued item whose deadline has passed is
    /// skipped (the cut expires it instead of sending it, unless followers ride on it), unless
    /// only such items wait: then the key still goes, for its cut to expire them.
    fn oldest(&mut self, k: KeyId, now: f64) -> Option<u64> {
        self.purge_front(k);
        let key = &self.keys[k as usize];
        let live = |e: &&Entry| self.entry_live(e);
        let sendable = |e: &&Entry| {
            // A run: plain items, one deadline (and maybe no slots yet).
            if e.run() > 0 {
                now <= e.deadline
            } else {
                let it = &self.items[e.item as usize];
                it.caller_settled || now <= it.deadline || it.followers != super::NONE
            }
        };
        // The first live and sendable entry, else the first live one: one pass (two `find`s
        // each inlined a two-slice search in the .wasm).
        let (mut queued, mut first_live) = (None, None);
        for e in key.queue.entries.iter() {
            if live(&e) {
                if sendable(&e) {
                    queued = Some(e.order);
                    break;
                }
                first_live = first_live.or(Some(e.order));
            }
        }
        let queued = queued.or(first_live);
        let unit = match key.ready_units.front() {
            // A unit whose items all left still has to be taken off: it counts as oldest.
            Some(u) => Some(
                self.units
                    .get(u)
                    .and_then(|u| u.entries.iter().find(|&&(i, g)| self.slot_in(i, g, State::InUnit)))
                    .map_or(0, |&(i, _)| self.items[i as usize].order),
            ),
            None => None,
        };
        match (queued, unit) {
            (Some(q), Some(u)) => Some(q.min(u)),
            (q, u) => q.or(u),
        }
    }

    /// Send one batch (or one `resolveKeys` call) of this key if it is due and the caps allow.
    /// Returns whether something was taken off the key (then more may be due).
    fn dispatch_next(&mut self, k: KeyId, now: f64) -> bool {
        let has_units = !self.keys[k as usize].ready_units.is_empty();
        if !has_units && !self.queue_due(k, now) {
            return false;
        }
        if k == UNROUTED {
            self.dispatch_route(now);
            return true;
        }
        debug_assert!(self.in_flight_batches < self.cfg.in_flight_cap(), "run_due checks the cap first");
        if self.keys[k as usize].circuit.refuses(now) {
            // Its circuit refuses, yet something of it waits to be sent: the clock went back
            // below the reopening time after the circuit had let it through. Refused now, as
            // when the circuit opened (nothing would wake the key at the reopening time).
            self.reject_unsent(k, now);
            return false;
        }
        if !self.may_start(k, now) {
            return false; // scheduled again when one of this key's calls ends
        }
        match self.keys[k as usize].ready_units.pop_front() {
            Some(u) => self.dispatch_unit(u, now),
            None => {
                let (entries, runs) = self.cut(k, now);
                self.dispatch(k, entries, runs, now);
            }
        }
        true
    }

    /// Whether key `k` may start a call now: under `maxInFlight`, `maxInFlightPerKey` and its circuit.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn may_start(&self, k: KeyId, now: f64) -> bool {
        self.in_flight_batches < self.cfg.in_flight_cap()
            && self.keys[k as usize].in_flight < self.cfg.per_key_cap()
            && self.circuit_allows_send(k, now)
    }

    /// A call ended: the call's own key competes again, and keys waiting in `ready` for
    /// capacity go on, oldest first.
    pub(super) fn capacity_freed(&mut self, k: KeyId, now: f64) {
        let key = &mut self.keys[k as usize];
        if key.alive {
            if self.cfg.adaptive {
                // Adaptive: what gathered while the call was out goes now.
                key.queue.due_before = key.queue.due_before.max(self.next_order);
            }
            self.schedule_due(k, false);
        }
        self.run_due(now);
    }

    /// A run of plain items is always live (they cannot leave a queue but by being sent).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    fn entry_live(&self, e: &Entry) -> bool {
        e.run() > 0 || self.items[e.item as usize].gen == e.gen()
    }

    /// Drop dead entries from the front, so the front is a live item.
    pub(super) fn purge_front(&mut self, k: KeyId) {
        while let Some(e) = self.keys[k as usize].queue.entries.front() {
            if self.entry_live(e) {
                break;
            }
            self.keys[k as usize].queue.entries.pop_front();
        }
    }

    /// When the oldest window of this key closes.
    fn window_deadline(&mut self, k: KeyId) -> f64 {
        self.purge_front(k);
        let q = &self.keys[k as usize].queue;
        let oldest = if q.retried == 0 {
            q.entries.front().map_or(f64::INFINITY, |e| e.at)
        } else {
            let mut oldest = f64::INFINITY;
            for e in q.entries.iter() {
                if self.entry_live(e) {
                    oldest = oldest.min(e.at);
                }
            }
            oldest
        };
        oldest + self.cfg.max_wait_ms
    }

    pub(super) fn arm_window(&mut self, k: KeyId) {
        // A key at its `maxInFlightPerKey` cap sends when one of its calls ends (`capacity_freed`
        // schedules it then): a window timer could only fire into the same refusal, and one
        // already past would be reported to the host as a wake-up due now, over and over.
        let key = &self.keys[k as usize];
        if key.queue.is_empty() || key.in_flight >= self.cfg.per_key_cap() || self.circuit_holds(k) {
            return;
        }
        let at = self.window_deadline(k);
        let key = &mut self.keys[k as usize];
        if at < key.window_at {
            key.window_at = at;
            self.timers.push(at, super::Timer::Window(k));
        }
    }

    /// Adaptive flush: a key with no transport call in flight gains nothing by waiting, so its
    /// queue sends at the end of the turn (the routing queue's `resolveKeys` calls are not
    /// transport calls: it always does).
    pub(super) fn adaptive_idle(&self, k: KeyId) -> bool {
        self.cfg.adaptive && self.keys[k as usize].in_flight == 0
    }

    /// The queue must send now (units aside).
    fn queue_due(&mut self, k: KeyId, now: f64) -> bool {
        if self.keys[k as usize].queue.is_empty() {
            return false;
        }
        let window = self.window_deadline(k);
        let q = &self.keys[k as usize].queue;
        self.closed
            || self.adaptive_idle(k)
            || q.live >= self.cfg.batch_size()
            || matches!(self.cfg.max_batch_weight, Some(cap) if q.weight >= cap)
            || window <= now
            || q.entries.front().is_some_and(|e| e.order < q.due_before)
    }
}
