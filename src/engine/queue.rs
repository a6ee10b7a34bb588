//! A key's queue: items waiting for their first send (or re-queued after a retryable item
//! error), in arrival order, plus the per-key state that decides when it dispatches.

use super::str_map::StrMap;
use alloc::collections::VecDeque;

/// A queue slot. `order` is the arrival order in this queue (a retried item keeps its own,
/// so it rejoins ahead of newer items); `gen` detects a slot freed since it was queued.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub order: u64,
    pub item: u32,
    pub gen: u32,
    /// When it (re)entered the queue: its `maxWaitMs` window starts here.
    pub at: f64,
}

#[derive(Debug, Default)]
pub struct Queue {
    pub entries: VecDeque<Entry>,
    /// Live entries (dead ones are skipped lazily).
    pub live: usize,
    /// Sum of live entries' weights.
    pub weight: f64,
    /// Live entries that came back for a retry (they may sit ahead of older windows).
    pub retried: usize,
    /// Every entry with `order` below this is due now (flush, deadlines).
    pub due_before: u64,
    /// Dedupe key → the queued item that carries it.
    pub dedupe: StrMap,
}

impl Queue {
    pub fn push_back(&mut self, e: Entry, weight: f64) {
        debug_assert!(self.entries.back().is_none_or(|b| b.order < e.order));
        self.entries.push_back(e);
        self.live += 1;
        self.weight += weight;
    }

    /// Insert by `order`: a retried item keeps its place among its key's waiting items.
    pub fn insert_ordered(&mut self, e: Entry, weight: f64) {
        let pos = self.entries.partition_point(|x| x.order < e.order);
        // Pushed at the back, then swapped into place: `VecDeque::insert` ships its own
        // wrap-around copy (about 600 B of the .wasm). A retry is not the hot path.
        self.entries.push_back(e);
        for i in (pos + 1..self.entries.len()).rev() {
            self.entries.swap(i, i - 1);
        }
        self.live += 1;
        self.weight += weight;
        self.retried += 1;
    }

    /// Account for a live entry that leaves the queue (cut into a batch, aborted, expired).
    pub fn forget(&mut self, weight: f64, retried: bool) {
        self.live -= 1;
        self.weight -= weight;
        if retried {
            self.retried -= 1;
        }
        if self.live == 0 {
            // No float drift survives an empty queue; dead entries go with it.
            self.weight = 0.0;
            self.entries.clear();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}
