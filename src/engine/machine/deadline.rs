//! Deadline-aware dispatch: a queue holding an item with a deadline dispatches at the latest at
//! deadline − lead, where the lead is its key's estimate of transport call time
//! ([`CallTime`](crate::engine::call_time::CallTime), never below 10 ms), so that the call
//! starts before the deadline although host timers fire late. Never after the deadline itself:
//! an item whose deadline has passed is expired, not sent.

use super::{Engine, State, Timer};
use crate::engine::KeyId;
use crate::prelude::*;

impl Engine {
    /// A queued item has a deadline: its queue is due now if the lead has already begun
    /// (returns true), else a timer makes it due at deadline − lead.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn arm_deadline(&mut self, k: KeyId, idx: u32, deadline: f64, now: f64) -> bool {
        let flush_at = deadline - self.keys[k as usize].call_time.lead_ms();
        let it = &self.items[idx as usize];
        if flush_at <= now {
            self.due_through(k, it.order, true);
            return true;
        }
        // Its queue sends it by `now + maxWaitMs` anyway (the window of the queue's oldest item,
        // which came no later; a full, pressed, closed or adaptive-idle queue sends sooner; one
        // held by its per-key cap or circuit would be held at `flush_at` too): no timer needed.
        if flush_at >= now + self.cfg.max_wait_ms {
            return false;
        }
        let gen = it.gen;
        self.timers.push(flush_at, Timer::DeadlineFlush { item: idx, gen });
        false
    }

    /// A call of key `k` ended after `duration_ms`. When that lengthens the lead, the queued
    /// deadlines of the key are armed again, earlier (the later timers fire harmlessly).
    pub(super) fn call_took(&mut self, k: KeyId, duration_ms: f64, now: f64) {
        if !self.keys[k as usize].alive || !self.keys[k as usize].call_time.record(duration_ms) {
            return;
        }
        // A loop, not `filter…collect`: that inlined its iterator twice in the .wasm.
        let mut with_deadline: Vec<(u32, f64)> = Vec::new();
        for e in self.keys[k as usize].queue.entries.iter() {
            // A run has no deadline (and maybe no slots yet).
            if e.run() == 0 && self.slot_in(e.item, e.gen(), State::Queued) {
                let deadline = self.items[e.item as usize].deadline;
                if deadline.is_finite() {
                    with_deadline.push((e.item, deadline));
                }
            }
        }
        for (idx, deadline) in with_deadline {
            self.arm_deadline(k, idx, deadline, now);
        }
    }
}
