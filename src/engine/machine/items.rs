//! The item table: slots by id, reused after they are freed (`gen` tells a reused slot from
//! the one a stale reference meant). Ids are handed out from `ids_end` up when none is free;
//! the table holds a slot only for ids some item needed one for: plain items in runs never
//! do, so a plain workload keeps no table at all. Free ids are kept as runs, oldest freed
//! first, merged again by id when they have fragmented (`merge_free_ids`).

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
    pub(super) fn grow_slots(items: &mut Table<Item>, end: u32) {
        while items.len() < end as usize {
            items.push(Item::vacant());
        }
    }

    /// Up to `want` (≥ 1) free ids in a row, oldest freed first: (first, count ≥ 1). New ids
    /// when none is free (their slots come with their first use, see `ensure_slots`).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn take_ids(&mut self, want: u32) -> (u32, u32) {
        // Many short runs, and not enough ids at the front: merge the adjacent ones (see below).
        let short = self.free_items.front().is_some_and(|r| r.1 < want);
        if short && self.free_items.len() > 2 * self.free_merged + 64 {
            self.merge_free_ids();
        }
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

    /// The free runs sorted by id, adjacent ones merged. Keyed batches (ids taken in arrival
    /// order, other keys' between them) free ids that do not adjoin the run freed before, so the
    /// list fragments and a reservation would get one id; merged, it gets runs again. Amortised
    /// O(log n) per freed run: the list has at least doubled since the last merge.
    fn merge_free_ids(&mut self) {
        let runs = self.free_items.as_mut_slice();
        sort_by_first(runs);
        let mut kept = 0;
        for i in 0..runs.len() {
            let r = runs[i];
            if kept > 0 && runs[kept - 1].0 + runs[kept - 1].1 == r.0 {
                runs[kept - 1].1 += r.1;
            } else {
                runs[kept] = r;
                kept += 1;
            }
        }
        self.free_items.truncate(kept);
        self.free_merged = kept;
    }

    /// Ids `first..first + n` are free (slots reset already, or never written: a run's).
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn free_ids(&mut self, first: u32, n: u32) {
        if let Some(last) = self.free_items.back_mut() {
            if last.0 + last.1 == first {
                last.1 += n;
                return;
            }
        }
        self.free_items.push_back((first, n));
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn free_item(&mut self, idx: u32) {
        // Reset what the next use reads before writing it (cheaper than a whole vacant Item).
        let it = &mut self.items[idx as usize];
        it.gen = (it.gen + 1) & !RUN; // below the queue's run mark
        it.state = State::Free;
        it.attempt = 1;
        it.sends = 0;
        it.primary = NONE;
        it.caller_settled = false;
        it.followers = NONE;
        it.dedupe = None;
        self.free_ids(idx, 1);
    }

    pub(super) fn slot_in(&self, idx: u32, gen: u32, state: State) -> bool {
        let it = &self.items[idx as usize];
        it.gen == gen && it.state == state
    }

    /// The earliest deadline among the callers slot `idx` still has: its own caller's (unless
    /// settled: aborted or expired) and its followers' (`dedupeBy`); INFINITY for none.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn slot_deadline(&self, idx: u32) -> f64 {
        let it = &self.items[idx as usize];
        let mut d = if it.caller_settled { f64::INFINITY } else { it.deadline };
        let mut f = it.followers;
        while f != NONE {
            d = d.min(self.items[f as usize].deadline);
            f = self.items[f as usize].followers;
        }
        d
    }

    pub(super) fn in_flight_slot(&self, idx: u32, gen: u32) -> bool {
        self.slot_in(idx, gen, State::InFlight)
    }

    pub(super) fn live_slots(&self, entries: &[Slot]) -> Vec<Slot> {
        // A loop into room for all: `filter().collect()` shipped its own growth path (-43 B gzip).
        let mut live = Vec::with_capacity(entries.len());
        for &(i, g) in entries {
            if self.in_flight_slot(i, g) {
                live.push((i, g));
            }
        }
        live
    }

    pub(super) fn caller_live(&self, idx: u32) -> bool {
        self.items.get(idx as usize).is_some_and(|it| it.state != State::Free && !it.caller_settled)
    }
}

/// Heapsort by first id: `sort_unstable` ships 3 KB more of .wasm for the merge's one use. One
/// sift loop for both phases: the heap built (`i` ≥ len), then its top swapped out each step.
fn sort_by_first(v: &mut [(u32, u32)]) {
    let len = v.len();
    for i in (0..len + len / 2).rev() {
        let (mut root, end) = if i >= len {
            (i - len, len)
        } else {
            v.swap(0, i);
            (0, i)
        };
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                break;
            }
            if child + 1 < end && v[child].0 < v[child + 1].0 {
                child += 1;
            }
            if v[root].0 >= v[child].0 {
                break;
            }
            v.swap(root, child);
            root = child;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sort_by_first_sorts_like_the_standard_sort() {
        let mut seed = 0x2545_F491_4F6C_DD1D;
        for len in 0..200 {
            let mut v: Vec<(u32, u32)> = (0..len)
                .map(|i| {
                    crate::engine::xorshift(&mut seed);
                    ((seed % 50) as u32, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|r| r.0);
            super::sort_by_first(&mut v);
            assert!(v.iter().map(|r| r.0).eq(want.iter().map(|r| r.0)), "len {len}");
            let mut seconds: Vec<u32> = v.iter().map(|r| r.1).collect();
            seconds.sort_unstable();
            assert!(seconds.into_iter().eq(0..len), "len {len}: the same runs");
        }
    }
}
