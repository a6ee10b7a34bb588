//! One timer structure for all keys: a min-heap of (time, event). Entries are never removed
//! in place; an entry whose subject has moved on is skipped when it reaches the top.
//!
//! Most timers are pushed in time order (a deadline or window a fixed span after "now", which
//! only grows): those go to a sorted run, a deque whose front is its earliest, so pushing and
//! popping them (stale ones included: one per item with a deadline) costs O(1) instead of
//! O(log n) sifts through the heap. The heap holds only the ones that came out of order.

use alloc::vec::Vec;
use core::cmp::Ordering;

use super::{BatchId, KeyId, RouteId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// A key's oldest queued item reaches `maxWaitMs`.
    Window(KeyId),
    /// A queued item's deadline is near: its queue must dispatch.
    DeadlineFlush { item: u32, gen: u32 },
    /// An item's deadline has passed: E_DEADLINE.
    Expire { item: u32, gen: u32 },
    /// Items `first..first + len`, once a run with a deadline (their slots written since):
    /// those whose deadline has passed get E_DEADLINE.
    ExpireRun { first: u32, len: u32 },
    /// A queued run's deadline is near: the default queue's entries up to this order must dispatch.
    RunFlush(u64),
    /// A deadline of the default queue's runs (queued or in flight) has passed: E_DEADLINE.
    RunExpiry,
    /// A backed-off item rejoins its key's queue.
    ItemRetry { item: u32, gen: u32 },
    /// A backed-off batch (atomic or batch-level retry) is ready to resend.
    Unit(u64),
    /// A call holding runs reaches the earliest of their deadlines: it is needed item by item
    /// (its slots are written, their expiry timers settle those whose deadline passed).
    CallDeadline(BatchId),
    /// A transport call outlived `timeoutMs`.
    CallTimeout(BatchId),
    /// A `resolveKeys` call outlived `timeoutMs`: its items still routing fail.
    RouteTimeout(RouteId),
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
    // Reversed: the heap is a max-heap, we want the earliest (then oldest) first.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.total_cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// A binary max-heap in `Entry`'s (reversed) order: the earliest entry first. Not generic, and
/// not `BinaryHeap`: the timers and the engine's due keys ([`ReadyKeys`]) share its two sifts.
#[derive(Debug, Default)]
struct Heap(Vec<Entry>);

impl Heap {
    /// The one sift-up (`push`, `retain` and the due keys share it).
    #[inline(never)]
    fn insert(&mut self, e: Entry) {
        let h = &mut self.0;
        let mut i = h.len();
        h.push(e);
        while i > 0 && h[(i - 1) / 2] < e {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h[i] = e;
    }
    /// The top taken out, the last entry sifted down from the top in its place. (Not
    /// `BinaryHeap`: its pop sifts to the bottom and back up, 0.3 KB more of the .wasm.)
    #[inline(never)]
    fn pop(&mut self) -> Option<Entry> {
        let h = &mut self.0;
        let last = h.pop()?;
        let Some(&top) = h.first() else { return Some(last) };
        let mut i = 0;
        loop {
            let mut child = 2 * i + 1;
            if child >= h.len() {
                break;
            }
            if child + 1 < h.len() && h[child + 1] > h[child] {
                child += 1;
            }
            if h[child] <= last {
                break;
            }
            h[i] = h[child];
            i = child;
        }
        h[i] = last;
        Some(top)
    }
}

/// Due keys by the arrival order of their oldest item, oldest first (then the lower key id):
/// the timers' heap, each key an entry at its oldest order.
#[derive(Debug, Default)]
pub struct ReadyKeys(Heap);

impl ReadyKeys {
    // Out of line: `run_due` pushes in three places.
    #[inline(never)]
    pub fn push(&mut self, oldest: u64, k: KeyId) {
        // Orders count items: exact as f64 (below 2^53).
        self.0.insert(Entry { at: oldest as f64, seq: u64::from(k), timer: Timer::Window(k) });
    }
    pub fn pop(&mut self) -> Option<(u64, KeyId)> {
        self.0.pop().map(|e| (e.at as u64, e.seq as KeyId))
    }
    /// Every key, in no particular order; empty after.
    pub fn take_keys(&mut self) -> impl Iterator<Item = KeyId> {
        core::mem::take(&mut self.0 .0).into_iter().map(|e| e.seq as KeyId)
    }
}

/// `repr(C)`, the vectors first: inside the engine they then sit at offsets below 128 (see `Engine`).
#[derive(Debug)]
#[repr(C)]
pub struct Timers {
    /// Entries in (time, seq) order, each pushed no earlier than the one before it; those
    /// before `head` are popped (a Vec, not a VecDeque: the heap's Vec code serves both).
    run: Vec<Entry>,
    head: usize,
    heap: Heap,
    seq: u64,
    /// The wake-up last reported to the host, and the earliest entry pushed since: when the
    /// latter is earlier, the host's timer must be re-armed.
    reported: f64,
    earliest_new: f64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: Heap::default(),
            run: Vec::new(),
            head: 0,
            seq: 0,
            reported: f64::INFINITY,
            earliest_new: f64::INFINITY,
        }
    }
}

impl Timers {
    // Out of line: six callers, each an inlined sift-up in the .wasm.
    #[inline(never)]
    pub fn push(&mut self, at: f64, timer: Timer) {
        self.seq += 1;
        self.earliest_new = self.earliest_new.min(at);
        let entry = Entry { at, seq: self.seq, timer };
        // `>=` on times: a later seq at the same time sorts after, as in the heap.
        if self.head == self.run.len() {
            self.run.clear();
            self.head = 0;
        } else if self.head > 64 && self.head * 2 > self.run.len() {
            self.compact_run(); // popped entries do not pile up in front of a never-empty run
        }
        if self.run.last().is_none_or(|last| at >= last.at) {
            self.run.push(entry);
        } else {
            self.heap.insert(entry);
        }
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
    /// Whether the earliest entry is the run's front (else the heap's top, if any).
    #[inline(never)]
    fn run_first(&self) -> bool {
        match (self.run.get(self.head), self.heap.0.first()) {
            (Some(r), Some(h)) => r > h, // `Ord` is reversed: greater = earlier
            (r, _) => r.is_some(),
        }
    }
    pub fn peek(&self) -> Option<(f64, Timer)> {
        let e = if self.run_first() { self.run.get(self.head) } else { self.heap.0.first() };
        e.map(|e| (e.at, e.timer))
    }
    #[inline(never)]
    pub fn pop(&mut self) -> Option<(f64, Timer)> {
        if self.run_first() {
            let e = self.run[self.head];
            self.head += 1;
            Some((e.at, e.timer))
        } else {
            self.heap.pop().map(|e| (e.at, e.timer))
        }
    }
    /// Drop the popped entries from the front of the run.
    fn compact_run(&mut self) {
        let live = self.run.len() - self.head;
        self.run.copy_within(self.head.., 0);
        self.run.truncate(live);
        self.head = 0;
    }
    pub fn len(&self) -> usize {
        self.heap.0.len() + self.run.len() - self.head
    }
    pub fn clear(&mut self) {
        self.heap.0.clear();
        self.run.clear();
        self.head = 0;
    }
    /// Drop every entry `keep` rejects (used to compact stale entries).
    pub fn retain(&mut self, mut keep: impl FnMut(f64, Timer) -> bool) {
        // The heap's kept entries pushed again (with their own `seq`): no rebuild or `retain` code in
        // the .wasm next to the sift-up `push` ships anyway. Compaction is rare (see `after_input`).
        for e in core::mem::take(&mut self.heap.0) {
            if keep(e.at, e.timer) {
                self.heap.insert(e);
            }
        }
        // The run's kept entries moved to its front, in order: it stays sorted.
        let mut kept = 0;
        for i in self.head..self.run.len() {
            let e = self.run[i];
            if keep(e.at, e.timer) {
                self.run[kept] = e;
                kept += 1;
            }
        }
        self.run.truncate(kept);
        self.head = 0;
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

    /// A run that is never empty (steady traffic) still drops what was popped from it.
    #[test]
    fn a_steady_run_keeps_no_popped_entries() {
        let mut t = Timers::default();
        for i in 0..100u32 {
            t.push(f64::from(i), Timer::Window(i));
        }
        for i in 100..10_000u32 {
            t.push(f64::from(i), Timer::Window(i));
            assert_eq!(t.pop(), Some((f64::from(i - 100), Timer::Window(i - 100))));
            assert!(t.run.len() <= 2 * t.len() + 65, "{} entries held for {} timers", t.run.len(), t.len());
        }
    }

    /// The sorted run and the heap together pop exactly as one heap would: earliest first, then
    /// in push order; `retain` and `len` cover both. Pushes mix in-order runs (the run) with
    /// out-of-order times (the heap), pops interleaved; checked against a sorted list.
    #[test]
    fn run_and_heap_pop_in_time_then_push_order() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| crate::engine::xorshift(&mut rng) % n;
        for _ in 0..200 {
            let mut t = Timers::default();
            let mut model: Vec<(f64, u64, u32)> = Vec::new(); // (at, push number, id)
            let (mut pushes, mut now) = (0u32, 0.0);
            for _ in 0..400 {
                match next(6) {
                    0..=2 => {
                        now += next(3) as f64; // time goes on: a fixed span after it is in order
                        let at = if next(3) == 0 { now - next(5) as f64 } else { now + 10.0 };
                        t.push(at, Timer::Window(pushes));
                        model.push((at, u64::from(pushes), pushes));
                        pushes += 1;
                    }
                    3 | 4 => {
                        model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                        let want =
                            (!model.is_empty()).then(|| model.remove(0)).map(|(at, _, id)| (at, Timer::Window(id)));
                        assert_eq!(t.peek(), want);
                        assert_eq!(t.pop(), want);
                    }
                    _ => {
                        let drop = next(4) as u32;
                        t.retain(|_, timer| !matches!(timer, Timer::Window(id) if id % 4 == drop));
                        model.retain(|&(_, _, id)| id % 4 != drop);
                    }
                }
                assert_eq!(t.len(), model.len());
                // Popped entries do not pile up in front of the run: a push compacts them.
                if t.head > 0 && t.head < t.run.len() {
                    let (head, len) = (t.head, t.run.len());
                    t.push(f64::INFINITY, Timer::Window(u32::MAX));
                    assert!(t.head <= 64 || t.head * 2 <= t.run.len(), "{head} popped of {len}, then a push");
                    model.push((f64::INFINITY, u64::MAX, u32::MAX));
                }
            }
        }
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
