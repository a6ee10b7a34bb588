//! The item table: slots by id, reused after they are freed (`gen` tells a reused slot from
//! the one a stale reference meant). Ids are handed out from `ids_end` up when none is free;
//! the table holds a slot only for ids some item needed one for: plain items in runs never
//! do, so a plain workload keeps no table at all. Free ids are kept as runs sorted by id,
//! adjacent ones merged (`free_ids`).

use super::*;

impl Engine {
    #[inline(never)]
    pub(super) fn alloc_item(&mut self) -> u32 {
        let id = self.take_ids(1).0;
        self.ensure_slots(id + 1);
        id
    }

    /// The table holds a slot for every id below `end`.
    #[inline(never)]
    pub(super) fn ensure_slots(&mut self, end: u32) {
        Engine::grow_slots(&mut self.items, end);
    }

    /// As `ensure_slots`, on the table alone (for callers that hold another part of the engine).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn grow_slots(items: &mut Vec<Item>, end: u32) {
        while items.len() < end as usize {
            items.push(Item::vacant());
        }
    }

    /// Up to `want` (≥ 1) free ids in a row, the lowest first: (first, count ≥ 1). New ids
    /// when none is free (their slots come with their first use, see `ensure_slots`).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn take_ids(&mut self, want: u32) -> (u32, u32) {
        match self.free_items.front_mut() {
            Some(r) => {
                let (first, n) = (r.0, r.1.min(want));
                r.0 += n;
                r.1 -= n;
                if r.1 == 0 {
                    self.free_items.pop_front();
                }
                (first, n)
            }
            None => {
                let first = self.ids_end;
                self.ids_end += want;
                (first, want)
            }
        }
    }

    /// Ids `first..first + n` are free (slots reset already, or never written: a run's).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn free_ids(&mut self, first: u32, n: u32) {
        // Kept sorted by id, adjacent runs merged: keyed batches (ids taken in arrival order,
        // other keys' between them) free ids that do not adjoin the run freed before.
        let runs = self.free_items.as_mut_slice();
        let i = runs.partition_point(|r| r.0 < first);
        if i > 0 && runs[i - 1].0 + runs[i - 1].1 == first {
            runs[i - 1].1 += n;
            if i < runs.len() && first + n == runs[i].0 {
                runs[i - 1].1 += runs[i].1;
                self.free_items.remove(i);
            }
        } else if i < runs.len() && first + n == runs[i].0 {
            runs[i] = (first, n + runs[i].1);
        } else {
            self.free_items.insert(i, (first, n));
        }
    }

    pub(super) fn free_item(&mut self, idx: u32) {
        // Reset what the next use reads before writing it (cheaper than a whole vacant Item).
        let it = &mut self.items[idx as usize];
        it.gen = (it.gen + 1) & !RUN; // below the queue's run mark
        it.state = State::Free;
        it.attempt = 1;
        it.sends = 0;
        it.primary = NONE;
        it.caller_settled = false;
        if it.followers.capacity() != 0 {
            it.followers = Vec::new();
        }
        it.dedupe = None;
        self.free_ids(idx, 1);
    }

    pub(super) fn slot_in(&self, idx: u32, gen: u32, state: State) -> bool {
        let it = &self.items[idx as usize];
        it.gen == gen && it.state == state
    }

    pub(super) fn in_flight_slot(&self, idx: u32, gen: u32) -> bool {
        self.slot_in(idx, gen, State::InFlight)
    }

    pub(super) fn live_slots(&self, entries: &[Slot]) -> Vec<Slot> {
        entries.iter().copied().filter(|&(i, g)| self.in_flight_slot(i, g)).collect()
    }

    pub(super) fn caller_live(&self, idx: u32) -> bool {
        self.items.get(idx as usize).is_some_and(|it| it.state != State::Free && !it.caller_settled)
    }
}
