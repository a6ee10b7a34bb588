//! One timer structure for all keys: a min-heap of (time, event). Entries are never removed
//! in place; an entry whose subject has moved on is skipped when it reaches the top.

use alloc::collections::BinaryHeap;
use core::cmp::Ordering;

use super::{BatchId, KeyId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A key's oldest queued item reaches `maxWaitMs`.
    Window(KeyId),
    /// A queued item's deadline is near: its queue must dispatch.
    DeadlineFlush { item: u32, gen: u32 },
    /// An item's deadline has passed: E_DEADLINE.
    Expire { item: u32, gen: u32 },
    /// A backed-off item rejoins its key's queue.
    ItemRetry { item: u32, gen: u32 },
    /// A backed-off batch (atomic or batch-level retry) is ready to resend.
    Unit(u64),
    /// A transport call outlived `timeoutMs`.
    CallTimeout(BatchId),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    at: f64,
    seq: u64,
    timer: Timer,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap, we want the earliest (then oldest) first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.total_cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

#[derive(Debug)]
pub struct Timers {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// The wake-up last reported to the host, and the earliest entry pushed since: when the
    /// latter is earlier, the host's timer must be re-armed.
    reported: f64,
    earliest_new: f64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), seq: 0, reported: f64::INFINITY, earliest_new: f64::INFINITY }
    }
}

impl Timers {
    // Out of line: six callers, each an inlined sift-up in the .wasm.
    #[inline(never)]
    pub fn push(&mut self, at: f64, timer: Timer) {
        self.seq += 1;
        self.earliest_new = self.earliest_new.min(at);
        self.insert(Entry { at, seq: self.seq, timer });
    }
    /// The heap's one sift-up (`push` and `retain` share it).
    #[inline(never)]
    fn insert(&mut self, e: Entry) {
        self.heap.push(e);
    }
    /// Record the wake-up the host now knows about.
    pub fn reported(&mut self, at: Option<f64>) {
        self.reported = at.unwrap_or(f64::INFINITY);
        self.earliest_new = f64::INFINITY;
    }
    /// A timer earlier than the reported wake-up was pushed since it was reported.
    pub fn moved_earlier(&self) -> bool {
        self.earliest_new < self.reported
    }
    pub fn peek(&self) -> Option<(f64, Timer)> {
        self.heap.peek().map(|e| (e.at, e.timer))
    }
    pub fn pop(&mut self) -> Option<(f64, Timer)> {
        self.heap.pop().map(|e| (e.at, e.timer))
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn clear(&mut self) {
        self.heap.clear();
    }
    /// Drop every entry `keep` rejects (used to compact stale entries).
    pub fn retain(&mut self, mut keep: impl FnMut(f64, Timer) -> bool) {
        // The kept entries pushed again (with their own `seq`): no rebuild or `retain` code in the
        // .wasm next to the sift-up `push` ships anyway. Compaction is rare (see `after_input`).
        for e in core::mem::take(&mut self.heap).into_vec() {
            if keep(e.at, e.timer) {
                self.insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_insertion_order() {
        let mut t = Timers::default();
        t.push(5.0, Timer::Window(1));
        t.push(1.0, Timer::Window(2));
        t.push(1.0, Timer::Window(3));
        assert_eq!(t.pop(), Some((1.0, Timer::Window(2))));
        assert_eq!(t.pop(), Some((1.0, Timer::Window(3))));
        assert_eq!(t.pop(), Some((5.0, Timer::Window(1))));
        assert_eq!(t.pop(), None);
    }

    #[test]
    fn retain_keeps_the_order_of_what_it_keeps() {
        let mut t = Timers::default();
        for (k, at) in [9.0, 3.0, 7.0, 3.0, 1.0, 8.0, 3.0, 2.0, 3.0].into_iter().enumerate() {
            t.push(at, Timer::Window(k as u32));
        }
        t.retain(|_, timer| !matches!(timer, Timer::Window(k) if k % 3 == 0));
        let popped: Vec<_> = core::iter::from_fn(|| t.pop()).collect();
        let kept = [(1.0, 4), (2.0, 7), (3.0, 1), (3.0, 8), (7.0, 2), (8.0, 5)];
        assert_eq!(popped, kept.map(|(at, k)| (at, Timer::Window(k))), "earliest first, ties in push order");
    }
}
