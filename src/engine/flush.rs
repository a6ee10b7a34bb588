//! Which items a `flush()` waits for. Items get increasing sequence numbers on `add`; a flush
//! taken at sequence W is done once every item with seq ≤ W has settled. `SeqWindow` tracks
//! the lowest unsettled seq in O(1) amortized per item.

use alloc::collections::VecDeque;

#[derive(Debug, Default)]
pub struct SeqWindow {
    /// Sequence number of `settled[0]`.
    base: u64,
    settled: VecDeque<bool>,
}

impl SeqWindow {
    /// The seq the next item gets.
    pub fn next(&self) -> u64 {
        self.base + self.settled.len() as u64
    }
    pub fn push(&mut self) -> u64 {
        let s = self.next();
        self.settled.push_back(false);
        s
    }
    pub fn settle(&mut self, seq: u64) {
        let i = (seq - self.base) as usize;
        self.settled[i] = true;
        while self.settled.front() == Some(&true) {
            self.settled.pop_front();
            self.base += 1;
        }
    }
    /// True when every seq below `upto` has settled.
    pub fn all_settled_below(&self, upto: u64) -> bool {
        self.base >= upto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_watermark_advances_over_settled_prefix() {
        let mut w = SeqWindow::default();
        let s: Vec<u64> = (0..4).map(|_| w.push()).collect();
        w.settle(s[1]);
        w.settle(s[3]);
        assert!(!w.all_settled_below(1));
        w.settle(s[0]);
        assert!(w.all_settled_below(2) && !w.all_settled_below(3));
        w.settle(s[2]);
        assert!(w.all_settled_below(4));
        assert_eq!(w.next(), 4);
    }
}
