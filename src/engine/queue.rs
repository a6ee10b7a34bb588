//! A key's queue: items waiting for their first send (or re-queued after a retryable item
//! error), in arrival order, plus the per-key state that decides when it dispatches.

use super::fifo::Fifo;
use super::str_map::StrMap;

/// A queue slot. `order` is the arrival order in this queue (a retried item keeps its own,
/// so it rejoins ahead of newer items); its generation detects a slot freed since it was queued.
///
/// A *run* entry stands for [`Entry::run`] plain items (weight 1, no dedupe, one `deadline`
/// for all) with consecutive ids from `item`, orders from `order` and flush numbers from `seq`:
/// plain adds in bulk queue as one entry, keyed adds without options (`add_plain`) as one entry
/// each, and their slots are not written until something needs them one by one (see
/// `machine/runs.rs`). Such an entry is always live (a run past its deadline leaves the queue at once).
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub order: u64,
    /// A run's first flush number (unused otherwise: the slot holds its own).
    pub seq: u64,
    /// When it (re)entered the queue: its `maxWaitMs` window starts here.
    pub at: f64,
    /// A run's deadline (`f64::INFINITY`: none); an item entry's is in its slot.
    pub deadline: f64,
    pub item: u32,
    /// The slot's generation (below `RUN`), or `RUN | length` for a run.
    tag: u32,
}

/// Marks a run in [`Entry`]'s tag; item generations stay below it.
pub const RUN: u32 = 1 << 31;

const _: () = assert!(core::mem::size_of::<Entry>() == 40);

impl Entry {
    pub fn item(order: u64, item: u32, gen: u32, at: f64) -> Entry {
        debug_assert!(gen < RUN);
        Entry { order, seq: 0, at, deadline: f64::INFINITY, item, tag: gen }
    }

    /// A run of `len` (≥ 1) plain items, all with `deadline`.
    pub fn run_of(order: u64, seq: u64, at: f64, first: u32, len: u32, deadline: f64) -> Entry {
        Entry { order, seq, at, deadline, item: first, tag: RUN | len }
    }

    /// The generation of the slot an item entry was queued with.
    pub fn gen(&self) -> u32 {
        self.tag
    }

    /// How many plain items a run entry stands for; 0 for an item entry.
    pub fn run(&self) -> u32 {
        if self.tag & RUN != 0 {
            self.tag & !RUN
        } else {
            0
        }
    }

    /// A run entry gives its first `n` (fewer than it has) items away.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub fn skip(&mut self, n: u32) {
        self.item += n;
        self.order += u64::from(n);
        self.seq += u64::from(n);
        self.tag -= n;
    }
}

#[derive(Debug, Default)]
pub struct Queue {
    pub entries: Fifo<Entry>,
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
        debug_assert!(self.entries.last().is_none_or(|b| b.order < e.order));
        self.entries.push_back(e);
        self.live += 1;
        self.weight += weight;
    }

    /// Queue a run of plain items, merged into the last entry when it is a run this one continues
    /// (ids, orders and flush numbers in a row, the same arrival time and deadline): plain adds handed over in
    /// several parts of one turn make one entry.
    pub fn push_run(&mut self, e: Entry) {
        let n = e.run();
        self.live += n as usize;
        self.weight += f64::from(n);
        if let Some(b) = self.entries.back_mut() {
            let len = b.run();
            let next = u64::from(len);
            if len > 0
                && b.item + len == e.item
                && b.order + next == e.order
                && b.seq + next == e.seq
                && b.at == e.at
                && b.deadline == e.deadline
            {
                b.tag += n;
                return;
            }
        }
        self.entries.push_back(e);
    }

    /// Insert by `order`: a retried item keeps its place among its key's waiting items.
    pub fn insert_ordered(&mut self, e: Entry, weight: f64) {
        let pos = self.entries.partition_point(|x| x.order < e.order);
        self.entries.insert(pos, e);
        self.live += 1;
        self.weight += weight;
        self.retried += 1;
    }

    /// Account for a live entry that leaves the queue (cut into a batch, aborted, expired).
    pub fn forget(&mut self, weight: f64, retried: bool) {
        self.forget_n(1, weight, retried);
    }

    /// Account for `n` live items that leave the queue, `weight` in all.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub fn forget_n(&mut self, n: usize, weight: f64, retried: bool) {
        self.live -= n;
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

    /// Item `idx` leaves the queue: the dedupe key `d` no longer finds it (unless it names
    /// another item by now). Out of line: two callers.
    #[inline(never)]
    pub fn unlist_dedupe(&mut self, d: Option<&str>, idx: u32) {
        if let Some(d) = d {
            if self.dedupe.get(d) == Some(&idx) {
                self.dedupe.remove(d);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(item: u32, run: u32, order: u64, seq: u64, at: f64) -> Entry {
        Entry::run_of(order, seq, at, item, run, f64::INFINITY)
    }

    /// The entries' (first id, run length).
    fn shape(q: &Queue) -> Vec<(u32, u32)> {
        q.entries.iter().map(|e| (e.item, e.run())).collect()
    }

    // Kills push_run's merge test: `b.run > 0` → `==` / `<` (never merges), each `+` → `*` and
    // each `==` → `!=` (merges what does not continue the last run, or never merges). A wrongly
    // merged entry hands its items out with the last run's ids, orders, flush numbers or moment.
    #[test]
    fn a_run_merges_only_into_the_run_it_continues() {
        let mut q = Queue::default();
        q.push_run(run(3, 2, 10, 20, 0.0));
        q.push_run(run(5, 3, 12, 22, 0.0));
        assert_eq!(shape(&q), [(3, 5)], "ids, orders, numbers in a row, same moment: one entry");
        assert_eq!((q.live, q.weight), (5, 5.0));
        // Each differs from a continuation (ids 8.., orders 15.., numbers 25.., at 0) in one field,
        // so that the `*` mutants (3 * 5 = 15, …) would take it for one.
        let breaks = [
            run(15, 1, 15, 25, 0.0),                // ids
            run(8, 1, 50, 25, 0.0),                 // orders
            run(8, 1, 15, 100, 0.0),                // flush numbers
            run(8, 1, 15, 25, 1.0),                 // moment
            Entry::run_of(15, 25, 0.0, 8, 1, 99.0), // deadline
        ];
        for b in breaks {
            let mut q = Queue::default();
            q.push_run(run(3, 5, 10, 20, 0.0));
            q.push_run(b);
            assert_eq!(shape(&q), [(3, 5), (b.item, 1)], "{b:?} does not continue the run");
            assert_eq!(q.live, 6);
        }
        // A single item never takes a run in.
        let mut q = Queue::default();
        q.push_back(Entry::item(10, 3, 0, 0.0), 1.0);
        q.push_run(run(4, 2, 11, 0, 0.0));
        assert_eq!(shape(&q), [(3, 0), (4, 2)]);
    }
}
