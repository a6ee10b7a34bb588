//! Units: a batch sent again as it was (atomic mode, batch-level retries, bisect halves). A
//! unit waits for its backoff timer, then for its key's turn, and is dropped once no slot is in it.

use super::*;

impl Engine {
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn new_unit(&mut self, key: KeyId, entries: Vec<Slot>) -> u64 {
        let u = self.next_unit;
        self.next_unit += 1;
        for &(idx, _) in &entries {
            self.items[idx as usize].state = State::InUnit;
            self.items[idx as usize].batch = u;
        }
        self.units.insert(u, Unit::unit(key, entries));
        u
    }

    /// A slot left unit `u` (aborted, expired): a unit nobody waits for any more is dropped now,
    /// so that neither it nor its key outlives its items.
    pub(super) fn left_unit(&mut self, u: u64) {
        let Some(unit) = self.units.get_mut(&u) else {
            return;
        };
        unit.wanted -= 1;
        if unit.wanted > 0 {
            return;
        }
        let k = unit.key;
        self.units.remove(&u);
        let key = &mut self.keys[k as usize];
        // Unit ids are unique: `retain` removes at most one. (Not `remove(i)`: its wrap-around
        // copy is a second ~600 B instantiation in the .wasm, next to the queue's `insert`.)
        let before = key.ready_units.len();
        key.ready_units.retain(|&r| r != u);
        if key.ready_units.len() == before {
            key.pending_units -= 1; // its timer had not fired: a stale timer now
        }
    }

    /// Resend these items as one batch after the backoff for `attempt`.
    pub(super) fn retry_unit(&mut self, key: KeyId, entries: Vec<Slot>, attempt: u32, hint: Option<f64>, now: f64) {
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
}
