//! Deadline-aware dispatch: a queue holding an item with a deadline dispatches at the latest at
//! deadline − lead, where the lead is its key's estimate of transport call time
//! ([`CallTime`](crate::engine::call_time::CallTime), never below 10 ms), so that the call
//! starts before the deadline although host timers fire late. Never after the deadline itself:
//! an item whose deadline has passed is expired, not sent.
//!
//! Runs (see `runs.rs`) carry one deadline for all their items; those with a deadline are the
//! default queue's (plain adds in bulk), and one expiry timer serves them all, at the earliest
//! of their deadlines (`Engine::run_expiry`): when it fires, the queued runs past their deadline
//! leave unsent, and the timer is armed again for the runs left. A call in flight with runs has
//! a timer at their earliest deadline (`Timer::CallDeadline`): from then on it is needed item by
//! item, its slots written with their deadlines and expiry timers.

use super::{next_after, Engine, Run, State, Timer};
use crate::engine::{ErrorCode, KeyId, Outcome, Output, DEFAULT_KEY};
use crate::prelude::*;

impl Engine {
    /// Queued items up to arrival order `order` have a deadline: their queue is due now if the
    /// lead has already begun (returns true), else `timer` makes it due at deadline − lead.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn arm_deadline(&mut self, k: KeyId, order: u64, deadline: f64, timer: Timer, now: f64) -> bool {
        let flush_at = deadline - self.keys[k as usize].call_time.lead_ms();
        if flush_at <= now {
            self.due_through(k, order, true);
            return true;
        }
        // Its queue sends it by `now + maxWaitMs` anyway (the window of the queue's oldest item,
        // which came no later; a full, pressed, closed or adaptive-idle queue sends sooner; one
        // held by its per-key cap or circuit would be held at `flush_at` too): no timer needed.
        if flush_at >= now + self.cfg.max_wait_ms {
            return false;
        }
        self.timers.push(flush_at, timer);
        false
    }

    /// The deadline of queued item `idx` (see `arm_deadline`).
    pub(super) fn arm_item_deadline(&mut self, k: KeyId, idx: u32, deadline: f64, now: f64) -> bool {
        let it = &self.items[idx as usize];
        let (order, gen) = (it.order, it.gen);
        self.arm_deadline(k, order, deadline, Timer::DeadlineFlush { item: idx, gen }, now)
    }

    /// A run with a deadline joined the default queue: its last arrival order is `last`.
    pub(super) fn arm_run_deadline(&mut self, last: u64, deadline: f64, now: f64) -> bool {
        self.arm_run_expiry(deadline);
        self.arm_deadline(DEFAULT_KEY, last, deadline, Timer::RunFlush(last), now)
    }

    /// The default queue's runs expire no later than just after `deadline`.
    fn arm_run_expiry(&mut self, deadline: f64) {
        let at = next_after(deadline);
        if at < self.run_expiry {
            self.run_expiry = at;
            self.timers.push(at, Timer::RunExpiry);
        }
    }

    /// The run expiry timer fired: the default queue's runs past their deadline settle with
    /// E_DEADLINE, unsent; the timer is armed again for the runs left. (A call in flight with
    /// runs has a timer of its own, `Timer::CallDeadline`.)
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn expire_runs(&mut self, now: f64) {
        self.run_expiry = f64::INFINITY;
        let mut next = f64::INFINITY;
        // Out of the queue as it is read: a copy loop (`retain` ships several times this code).
        let (mut i, mut kept, mut gone) = (0, 0, false);
        while let Some(&e) = self.keys[DEFAULT_KEY as usize].queue.entries.get(i) {
            i += 1;
            if e.run() > 0 && now > e.deadline {
                // Its accounting may empty the queue (nothing live left): then the loop ends.
                self.expire_run(&Run::of(&e, e.run()));
                gone = true;
                continue;
            }
            next = next.min(e.deadline); // an item entry's is INFINITY (its slot has its own)
            self.keys[DEFAULT_KEY as usize].queue.entries.as_mut_slice()[kept] = e;
            kept += 1;
        }
        let key = &mut self.keys[DEFAULT_KEY as usize];
        key.queue.entries.truncate(kept);
        if gone {
            if key.queue.is_empty() {
                key.window_at = f64::INFINITY; // as in `cut`: the next item arms a new window
            }
            self.admit_waiters(now);
        }
        if next.is_finite() {
            self.arm_run_expiry(next);
        }
    }

    /// A run of the default queue, taken out of its entries, passed its deadline: its items leave
    /// the queue's count and settle with E_DEADLINE, their ids free again.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn expire_run(&mut self, r: &Run) {
        let outcome = Outcome::Code(ErrorCode::Deadline);
        for id in r.first..r.first + r.len {
            self.emit(Output::Settle { item: id, outcome, release: true });
        }
        self.queued -= r.len as usize;
        self.keys[DEFAULT_KEY as usize].queue.forget_n(r.len as usize, f64::from(r.len), false);
        self.stats.failed += u64::from(r.len);
        self.live -= r.len as usize;
        self.flushes.settled_run(r.seq, r.len);
        self.free_ids(r.first, r.len);
    }

    /// A call of key `k` ended after `duration_ms`. When that lengthens the lead, the queued
    /// deadlines of the key are armed again, earlier (the later timers fire harmlessly).
    pub(super) fn call_took(&mut self, k: KeyId, duration_ms: f64, now: f64) {
        if !self.keys[k as usize].alive || !self.keys[k as usize].call_time.record(duration_ms) {
            return;
        }
        // A loop, not `filter…collect`: that inlined its iterator twice in the .wasm.
        let mut with_deadline: Vec<(u64, f64, Timer)> = Vec::new();
        for e in self.keys[k as usize].queue.entries.iter() {
            if e.run() > 0 && e.deadline.is_finite() {
                let last = e.order + u64::from(e.run()) - 1;
                with_deadline.push((last, e.deadline, Timer::RunFlush(last)));
            } else if e.run() == 0 && self.slot_in(e.item, e.gen(), State::Queued) {
                let deadline = self.items[e.item as usize].deadline;
                if deadline.is_finite() {
                    with_deadline.push((e.order, deadline, Timer::DeadlineFlush { item: e.item, gen: e.gen() }));
                }
            }
        }
        for (order, deadline, timer) in with_deadline {
            self.arm_deadline(k, order, deadline, timer, now);
        }
    }
}
