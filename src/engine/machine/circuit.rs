//! The circuit breaker applied to a key's items (the state machine is `engine/circuit.rs`).
//! While a key's circuit refuses, its items that have not been sent (queued, waiting for room,
//! waiting to retry, in a unit waiting to be resent) and every later add under it reject with
//! E_CIRCUIT_OPEN without a call. A key whose circuit holds state keeps its id (it is not
//! released), so the count and the open state outlive a lull in its traffic.

use super::{Engine, Slot, State};
use crate::engine::{BatchId, KeyId, Outcome, Output, DEFAULT_KEY, UNROUTED};
use crate::prelude::*;

impl Engine {
    /// An item entering key `k`'s queue is refused: it settles with E_CIRCUIT_OPEN instead.
    /// The item is in no container (new, admitted from waiting, or routed).
    pub(super) fn circuit_refuses_entry(&mut self, idx: u32, now: f64) -> bool {
        let k = self.items[idx as usize].key;
        if k == UNROUTED || !self.keys[k as usize].circuit.refuses(now) {
            return false;
        }
        let outcome = Outcome::CircuitOpen { key: k };
        self.count_settled(idx, outcome);
        self.emit(Output::Settle { item: idx, outcome, release: true });
        self.free_item(idx);
        true
    }

    /// Whether key `k` may start a call now (a probe goes alone, nothing goes past it).
    pub(super) fn circuit_allows_send(&self, k: KeyId, now: f64) -> bool {
        let key = &self.keys[k as usize];
        key.circuit.may_send(key.in_flight, now)
    }

    /// Key `k` waits for one of its calls to end before it may send (the probe, or a call out
    /// since before the circuit opened): no window timer is armed for it, that call's end
    /// schedules it.
    pub(super) fn circuit_holds(&self, k: KeyId) -> bool {
        let key = &self.keys[k as usize];
        !key.circuit.is_default() && !key.circuit.may_send(key.in_flight, f64::INFINITY)
    }

    /// Key `k` started call `batch`.
    pub(super) fn circuit_sent(&mut self, k: KeyId, batch: BatchId) {
        if let Some(state) = self.keys[k as usize].circuit.sent(batch) {
            self.emit(Output::CircuitChange { key: k, state });
        }
    }

    /// A call of key `k` ended (`ok`: it returned an array; `None`: abandoned, no verdict). Its
    /// items have been settled, re-queued or put in units already: if the circuit refuses now,
    /// everything of the key that has not been sent rejects.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn circuit_call_ended(&mut self, k: KeyId, batch: BatchId, ok: Option<bool>, now: f64) {
        let Some(cfg) = &self.cfg.circuit_breaker else {
            return;
        };
        if let Some(state) = self.keys[k as usize].circuit.call_ended(cfg, batch, ok, now) {
            self.emit(Output::CircuitChange { key: k, state });
        }
        if self.keys[k as usize].circuit.refuses(now) {
            self.reject_unsent(k, now);
        }
    }

    /// Every slot of key `k` not sent yet settles with E_CIRCUIT_OPEN (its followers too).
    pub(super) fn reject_unsent(&mut self, k: KeyId, now: f64) {
        let key = &self.keys[k as usize];
        let holds = !key.queue.is_empty()
            || key.waiting > 0
            || key.retry_waiting > 0
            || key.pending_units > 0
            || !key.ready_units.is_empty();
        if !holds {
            return;
        }
        self.stamp_queued_runs(k); // found by their slots below
        let unsent = |state| matches!(state, State::Queued | State::Waiting | State::RetryWait | State::InUnit);
        // A loop, not `filter…collect` (more code in the .wasm).
        let mut slots: Vec<Slot> = Vec::new();
        for (i, it) in self.items.iter().enumerate() {
            if it.key == k && unsent(it.state) {
                slots.push((i as u32, it.gen));
            }
        }
        let outcome = Outcome::CircuitOpen { key: k };
        for (idx, gen) in slots {
            let it = &self.items[idx as usize];
            if it.gen != gen || !unsent(it.state) {
                continue; // settled meanwhile (a waiter admitted and refused by an earlier drop)
            }
            self.settle_followers(idx, outcome);
            let it = &mut self.items[idx as usize];
            if !it.caller_settled {
                it.caller_settled = true;
                self.count_settled(idx, outcome);
                self.emit(Output::Settle { item: idx, outcome, release: false });
            }
            self.drop_slot(idx, now); // out of its queue or unit; Release follows
        }
    }

    /// Closing: a key kept only for its circuit's state (idle, nothing counted for it any more
    /// but the circuit) is released now; no add will need it.
    pub(super) fn release_circuit_keys(&mut self) {
        for k in DEFAULT_KEY + 1..self.keys.len() as KeyId {
            if self.keys[k as usize].alive && !self.keys[k as usize].circuit.is_default() {
                self.maybe_release_key(k);
            }
        }
    }

    /// Keys whose circuit is open now.
    pub(super) fn circuits_open(&self) -> u64 {
        self.keys.iter().filter(|k| k.alive && k.circuit.is_open()).count() as u64
    }
}
