//! Starting calls: taking a batch off the front of a queue (or a ready unit, or the routing
//! queue for `resolveKeys`) and emitting its [`Output::Dispatch`]. Which key goes when is
//! decided in `due.rs`.

use super::{next_after, Batch, Engine, Run, Slot, State, Timer, Unit, NONE};
use crate::engine::{BatchId, Dispatch, ErrorCode, KeyId, Outcome, Output, UNROUTED};
use crate::prelude::*;

impl Engine {
    /// Take the front batch off a queue: up to `maxBatchSize` items, stopping before the item
    /// that would push the weight over `maxBatchWeight`. A batch of plain runs alone stays runs;
    /// one that mixes them with other items gets them as slots (see `runs.rs`).
    pub(super) fn cut(&mut self, k: KeyId, now: f64) -> (Vec<Slot>, Vec<Run>) {
        let size = self.cfg.batch_size().min(self.keys[k as usize].queue.live);
        let cap = self.cfg.max_batch_weight.unwrap_or(f64::INFINITY);
        let mut entries = Vec::new();
        let mut runs: Vec<Run> = Vec::new();
        let mut count = 0;
        // Callers past their deadline, in queue order: runs, and single items as runs of length 0.
        let mut expired: Vec<Run> = Vec::new();
        let mut weight = 0.0;
        let key = &mut self.keys[k as usize];
        while count < size {
            let Some(e) = key.queue.entries.front_mut() else {
                break;
            };
            // Whether the front entry is used up this step: one pop below for every case (each
            // `pop_front` inlined its compaction check).
            let mut used_up = true;
            if e.run() > 0 && now > e.deadline {
                // As for an item below: past its deadline, the run settles instead of being sent.
                expired.push(Run::of(e, e.run()));
            } else if e.run() > 0 {
                // Plain items, weight 1 each: as many as fit, taken off the front of the run.
                let room = (e.run() as usize).min(size - count);
                let mut take = 0;
                if cap == f64::INFINITY && entries.is_empty() {
                    take = room;
                    weight += room as f64; // whole numbers so far: exact
                } else {
                    while take < room && (count + take == 0 || weight + 1.0 <= cap) {
                        weight += 1.0;
                        take += 1;
                    }
                }
                if take == 0 {
                    break;
                }
                let r = Run::of(e, take as u32);
                if take < e.run() as usize {
                    e.skip(take as u32);
                    used_up = false;
                }
                self.queued -= take;
                key.queue.forget_n(take, take as f64, false);
                count += take;
                if entries.is_empty() {
                    runs.push(r);
                } else {
                    entries.reserve(size - entries.len());
                    Engine::stamp_run(&mut self.items, &mut self.timers, k, r, State::InFlight, &mut entries);
                }
            } else {
                let e = *e;
                let it = &mut self.items[e.item as usize];
                // A stale entry (its slot freed since) just goes.
                if it.gen == e.gen() {
                    // `now` may show a deadline passed before the host ran its timer: that caller
                    // settles instead of being sent (a slot carrying followers still goes).
                    let passed = !it.caller_settled && now > it.deadline;
                    let send = !passed || it.followers != NONE;
                    if send && count != 0 && weight + it.weight > cap {
                        break;
                    }
                    if passed {
                        expired.push(Run { first: e.item, len: 0, order: 0, seq: 0, deadline: 0.0 });
                    }
                    let first_send = it.sends == 0;
                    if first_send {
                        self.queued -= 1;
                    }
                    key.queue.unlist_dedupe(it.dedupe.as_deref(), e.item);
                    key.queue.forget(it.weight, !first_send);
                    if send {
                        weight += it.weight;
                        it.state = State::InFlight;
                        // Room for the whole batch, allocated once; runs taken before this item are
                        // needed as slots now, ahead of it.
                        entries.reserve(size - entries.len());
                        for r in core::mem::take(&mut runs) {
                            Engine::stamp_run(&mut self.items, &mut self.timers, k, r, State::InFlight, &mut entries);
                        }
                        entries.push((e.item, e.gen()));
                        count += 1;
                    }
                }
            }
            if used_up {
                key.queue.entries.pop_front();
            }
        }
        for r in &expired {
            if r.len == 0 {
                self.expire_unsent(r.first);
            } else {
                self.expire_run(r); // out of the queue's count only now
            }
        }
        let key = &mut self.keys[k as usize];
        if key.queue.is_empty() {
            key.window_at = f64::INFINITY;
        }
        self.admit_waiters(now);
        (entries, runs)
    }

    /// A caller whose deadline passed while its slot was being taken for a send settles with
    /// E_DEADLINE; the slot is freed unless followers still ride on it.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn expire_unsent(&mut self, idx: u32) {
        let outcome = Outcome::Code(ErrorCode::Deadline);
        self.count_settled(idx, outcome);
        let release = self.items[idx as usize].followers == NONE;
        self.emit(Output::Settle { item: idx, outcome, release });
        if release {
            self.free_item(idx);
        } else {
            self.items[idx as usize].caller_settled = true;
        }
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn dispatch(&mut self, k: KeyId, entries: Vec<Slot>, runs: Vec<Run>, now: f64) {
        if !entries.is_empty() || !runs.is_empty() {
            self.start_call(k, entries, runs, now, false);
        }
    }

    /// Put `entries` or `runs` (one of them not empty) in flight as one call of key `k`, output
    /// as a [`Dispatch`] unless `direct` (the host starts it itself: see `call_now`).
    pub(super) fn start_call(
        &mut self,
        k: KeyId,
        entries: Vec<Slot>,
        runs: Vec<Run>,
        now: f64,
        direct: bool,
    ) -> BatchId {
        debug_assert_ne!(k, UNROUTED, "the routing queue dispatches through dispatch_route");
        let batch = self.next_batch;
        self.next_batch += 1;
        let (mut attempt, mut deadline, mut weight) = (1, f64::INFINITY, 0.0);
        let mut ids = Vec::with_capacity(entries.len() + runs.iter().map(|r| r.len as usize).sum::<usize>());
        for &(idx, _) in &entries {
            // Its callers still waiting: not one that left (aborted, expired), its followers too.
            deadline = deadline.min(self.slot_deadline(idx));
            let it = &mut self.items[idx as usize];
            it.state = State::InFlight;
            it.batch = batch;
            if it.sends > 0 {
                self.stats.retries += 1;
            }
            it.sends += 1;
            attempt = attempt.max(it.attempt);
            weight += it.weight;
            ids.push(idx);
        }
        // Plain runs: first sends, weight 1 each; their slots stay unwritten.
        for r in &runs {
            deadline = deadline.min(r.deadline);
            for id in r.first..r.first + r.len {
                ids.push(id);
            }
        }
        if entries.is_empty() {
            weight = ids.len() as f64;
        }
        self.stats.batches += 1;
        self.in_flight_batches += 1;
        self.in_flight_items += ids.len();
        self.keys[k as usize].in_flight += 1;
        if let Some(t) = self.cfg.timeout_ms {
            self.timers.push(now + t, Timer::CallTimeout(batch));
        }
        if !runs.is_empty() && deadline.is_finite() {
            self.timers.push(next_after(deadline), Timer::CallDeadline(batch));
        }
        let wanted = ids.len();
        let b = Batch {
            key: k,
            entries,
            runs,
            size: wanted,
            attempt,
            weight,
            started: now,
            timed_out: false,
            wanted,
            abandoned: false,
            direct,
        };
        self.batches.insert(batch, b);
        self.circuit_sent(k, batch);
        if !direct {
            let deadline = deadline.is_finite().then_some(deadline);
            self.emit(Output::Dispatch(Dispatch { batch, key: k, items: ids, attempt, deadline, weight }));
        }
        batch
    }

    pub(super) fn dispatch_unit(&mut self, u: u64, now: f64) {
        if let Some(unit) = self.units.remove(&u) {
            let mut live = Vec::with_capacity(unit.entries.len());
            for (i, g) in unit.entries {
                if !self.slot_in(i, g, State::InUnit) {
                    continue;
                }
                let it = &self.items[i as usize];
                if !it.caller_settled && now > it.deadline {
                    let send = it.followers != NONE;
                    self.expire_unsent(i);
                    if !send {
                        continue;
                    }
                }
                live.push((i, g));
            }
            self.dispatch(unit.key, live, Vec::new(), now);
        }
    }

    pub(super) fn dispatch_route(&mut self, now: f64) {
        let size = self.cfg.batch_size();
        let mut entries = Vec::new();
        let q = &mut self.keys[UNROUTED as usize].queue;
        while entries.len() < size {
            let Some(e) = q.entries.pop_front() else {
                break;
            };
            let it = &mut self.items[e.item as usize];
            if it.gen != e.gen() {
                continue;
            }
            it.state = State::Routing; // still counted in `queued`: not sent yet
            q.forget(it.weight, false);
            entries.push((e.item, e.gen()));
        }
        let key = &mut self.keys[UNROUTED as usize];
        if key.queue.is_empty() {
            // As in `cut`: an empty queue has no window, so the next item arms a new one.
            key.window_at = f64::INFINITY;
        }
        if entries.is_empty() {
            return;
        }
        let route = self.next_route;
        self.next_route += 1;
        let items = entries.iter().map(|&(i, _)| i).collect();
        self.routes.insert(route, Unit::unit(UNROUTED, entries));
        if let Some(t) = self.cfg.timeout_ms {
            self.timers.push(now + t, Timer::RouteTimeout(route));
        }
        self.emit(Output::Route { route, items });
    }
}
