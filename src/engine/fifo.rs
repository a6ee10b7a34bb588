//! A first-in first-out queue of small `Copy` records: a vector read from a front index, reset
//! once read through and compacted once the read part is the larger half. Less code in the .wasm
//! than a `VecDeque` (whose growth and wrap-around ship per element type).

use crate::prelude::*;

#[derive(Debug)]
pub(crate) struct Fifo<T> {
    items: Vec<T>,
    /// Items before it have been popped.
    head: usize,
    /// Items `compact` moved, in all (tests check the amortised bound).
    #[cfg(test)]
    moved: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo {
            items: Vec::new(),
            head: 0,
            #[cfg(test)]
            moved: 0,
        }
    }
}

impl<T: Copy> Fifo<T> {
    pub(crate) fn push_back(&mut self, v: T) {
        self.items.push(v);
    }

    pub(crate) fn front(&self) -> Option<&T> {
        self.items.get(self.head)
    }

    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        self.items.get_mut(self.head)
    }

    /// The newest item (read part aside: the vector is cleared once read through).
    pub(crate) fn back_mut(&mut self) -> Option<&mut T> {
        self.items.last_mut()
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        let v = *self.items.get(self.head)?;
        self.head += 1;
        if self.head == self.items.len() {
            self.items.clear();
            self.head = 0;
        } else if self.head > 16 && 2 * self.head > self.items.len() {
            self.compact();
        }
        Some(v)
    }

    /// Amortised O(1): the items moved are fewer than those popped since the last move.
    // Out of line: a call only once per move, not per pop.
    #[inline(never)]
    fn compact(&mut self) {
        #[cfg(test)]
        {
            self.moved += self.items.len() - self.head;
        }
        self.items.copy_within(self.head.., 0);
        self.items.truncate(self.items.len() - self.head);
        self.head = 0;
    }

    /// The queued items, front first.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[self.head..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn behaves_like_a_vec_deque_and_compacts() {
        let (mut fifo, mut model) = (Fifo::default(), VecDeque::new());
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for step in 0..50_000u32 {
            crate::engine::xorshift(&mut seed);
            if seed % 5 < 3 {
                fifo.push_back(step);
                model.push_back(step);
            } else {
                assert_eq!(fifo.pop_front(), model.pop_front());
            }
            assert_eq!(fifo.front(), model.front());
            assert!(fifo.as_mut_slice().iter().eq(model.iter()));
            assert!(fifo.items.len() <= 2 * model.len() + 17, "the read part is compacted away");
        }
    }

    #[test]
    fn compaction_moves_fewer_items_than_were_popped() {
        // Filled, then drained down to a few, again and again: the free list's pattern (batches
        // settle and free their ids, reservations take them). Compacting too early or on every
        // pop would move far more than that.
        let (mut fifo, mut popped) = (Fifo::default(), 0);
        for _ in 0..20 {
            (0..1000u32).for_each(|i| fifo.push_back(i));
            while fifo.as_mut_slice().len() > 10 {
                fifo.pop_front();
                popped += 1;
            }
        }
        assert!(fifo.moved <= popped, "moved {} items for {popped} pops", fifo.moved);
        assert!(fifo.moved > 0, "the read part was compacted at all");
    }
}
