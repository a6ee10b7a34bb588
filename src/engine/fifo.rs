//! A first-in first-out queue of small `Copy` records: a vector read from a front index, reset
//! once read through and compacted once the read part is the larger half. Less code in the .wasm
//! than a `VecDeque` (whose growth and wrap-around ship per element type): the key queues and
//! their ready units use it too, so no `VecDeque` ships (-0.3 KB gzip).

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

    /// Put `v` before the front: into the read part when it has room.
    pub(crate) fn push_front(&mut self, v: T) {
        self.insert(0, v);
    }

    /// Put `v` at `pos` from the front (the key queues' ordered inserts, which are rare).
    pub(crate) fn insert(&mut self, pos: usize, v: T) {
        if pos == 0 && self.head > 0 {
            self.head -= 1;
            self.items[self.head] = v;
        } else {
            self.items.insert(self.head + pos, v);
        }
    }

    /// Keep the first `len` items.
    pub(crate) fn truncate(&mut self, len: usize) {
        self.items.truncate(self.head + len);
    }

    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.head = 0;
    }

    /// Keep only the items `f` accepts, in order.
    pub(crate) fn retain(&mut self, f: impl FnMut(&T) -> bool) {
        self.items.drain(..self.head);
        self.head = 0;
        self.items.retain(f);
    }
}

/// The unread items as a slice (`iter`, `len`, `last`, indexing…).
impl<T> core::ops::Deref for Fifo<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[self.head..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// `steps` random steps on a Fifo and a VecDeque model side by side; `step` gets both, the
    /// step's random number and its index.
    fn walk(seed: u64, steps: u32, mut step: impl FnMut(&mut Fifo<u32>, &mut VecDeque<u32>, u64, u32)) -> Fifo<u32> {
        let (mut fifo, mut model, mut seed) = (Fifo::default(), VecDeque::new(), seed);
        for i in 0..steps {
            crate::engine::xorshift(&mut seed);
            step(&mut fifo, &mut model, seed, i);
        }
        fifo
    }

    #[test]
    fn behaves_like_a_vec_deque_and_compacts() {
        walk(0x2545_F491_4F6C_DD1D, 50_000, |fifo, model, seed, step| {
            if seed % 5 < 3 {
                fifo.push_back(step);
                model.push_back(step);
            } else {
                assert_eq!(fifo.pop_front(), model.pop_front());
            }
            assert_eq!(fifo.front(), model.front());
            assert!(fifo.as_mut_slice().iter().eq(model.iter()));
            assert!(fifo.items.len() <= 2 * model.len() + 17, "the read part is compacted away");
        });
    }

    #[test]
    fn inserts_and_retain_behave_like_a_vec_deque() {
        let mut fifo = walk(0x9E37_79B9_7F4A_7C15, 20_000, |fifo, model, seed, step| {
            match seed % 8 {
                0..=2 => {
                    fifo.push_back(step);
                    model.push_back(step);
                }
                3 => {
                    fifo.push_front(step);
                    model.push_front(step);
                }
                4 => {
                    let pos = (seed >> 8) as usize % (model.len() + 1);
                    fifo.insert(pos, step);
                    model.insert(pos, step);
                }
                5 if step % 16 == 0 => {
                    fifo.retain(|&v| v % 3 != 0);
                    model.retain(|&v| v % 3 != 0);
                }
                _ => assert_eq!(fifo.pop_front(), model.pop_front()),
            }
            assert!(fifo.iter().eq(model.iter()));
        });
        fifo.clear();
        assert!(fifo.is_empty() && fifo.front().is_none());
    }

    #[test]
    fn push_front_after_a_pop_reuses_the_read_part() {
        // A retried item put back at the front of its queue (`insert_ordered` at 0) must not
        // shift the whole queue along when the slot it left is still there.
        let mut fifo = Fifo::default();
        (0..100u32).for_each(|i| fifo.push_back(i));
        let first = fifo.pop_front().unwrap();
        let cap = fifo.items.capacity();
        fifo.push_front(first);
        assert_eq!((fifo.head, fifo.items.len(), fifo.items.capacity()), (0, 100, cap), "no shift, no growth");
        assert!(fifo.iter().copied().eq(0..100));
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
