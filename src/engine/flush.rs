//! Which items a `flush()` waits for: every caller accepted before it. Items get increasing
//! sequence numbers on `add`; a flush taken when the next number is W counts the callers still
//! unsettled then (all numbered below W) and is done when that count reaches 0. While no flush
//! is pending, an item costs one counter increment.

use super::fifo::Fifo;

use super::FlushId;

#[derive(Clone, Copy, Debug)]
struct Pending {
    id: FlushId,
    /// Items numbered below this are the flush's.
    upto: u64,
    /// The flush's items not settled yet.
    left: usize,
}

#[derive(Debug, Default)]
pub struct Flushes {
    next_seq: u64,
    /// In the order taken: a later flush covers every item of an earlier one, so they finish in order.
    pending: Fifo<Pending>,
}

impl Flushes {
    /// The number of a newly accepted item.
    pub fn number(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// The first of `n` numbers for items accepted together (plain adds in bulk).
    pub fn number_n(&mut self, n: usize) -> u64 {
        let s = self.next_seq;
        self.next_seq += n as u64;
        s
    }

    /// A flush of every item accepted so far, `unsettled` of which have not settled.
    pub fn open(&mut self, id: FlushId, unsettled: usize) {
        self.pending.push_back(Pending { id, upto: self.next_seq, left: unsettled });
    }

    /// The item numbered `seq` settled.
    pub fn settled(&mut self, seq: u64) {
        self.settled_run(seq, 1); // one loop in the .wasm
    }

    /// The `n` items numbered from `seq` settled.
    // Out of line: three callers.
    #[inline(never)]
    pub fn settled_run(&mut self, seq: u64, n: u32) {
        for p in self.pending.as_mut_slice().iter_mut().rev() {
            if seq >= p.upto {
                break; // earlier flushes end lower still
            }
            p.left -= (p.upto - seq).min(u64::from(n)) as usize;
        }
    }

    /// The oldest flush, once all of its items have settled.
    pub fn pop_done(&mut self) -> Option<FlushId> {
        match self.pending.front() {
            Some(p) if p.left == 0 => self.pending.pop_front().map(|p| p.id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_is_done_once_the_items_before_it_settled() {
        let mut f = Flushes::default();
        let s: Vec<u64> = (0..3).map(|_| f.number()).collect();
        f.open(1, 3);
        let later = f.number();
        f.open(2, 4);
        f.settled(s[1]);
        f.settled(later);
        f.settled(s[2]);
        assert_eq!(f.pop_done(), None);
        f.settled(s[0]);
        assert_eq!(f.pop_done(), Some(1));
        assert_eq!(f.pop_done(), Some(2));
        assert_eq!(f.pop_done(), None);
    }

    // Kills settled_run `(p.upto - seq)` → `+`: a run that a flush's end falls inside (plain
    // adds merged into one queue entry across a flush) counts only its items before that end.
    #[test]
    fn a_run_across_a_flush_settles_only_its_part_before_it() {
        let mut f = Flushes::default();
        let one = f.number();
        let run = f.number_n(3);
        f.open(1, 4); // items 0..4: `one` and the run's first 3
        let more = f.number_n(2);
        f.open(2, 6);
        assert_eq!((run, more), (1, 4));
        // The queue merged both parts: they settle as one run of 5 from `run`.
        f.settled_run(run, 5);
        assert_eq!(f.pop_done(), None, "`one` is still out");
        f.settled(one);
        assert_eq!(f.pop_done(), Some(1));
        assert_eq!(f.pop_done(), Some(2));
    }
}
