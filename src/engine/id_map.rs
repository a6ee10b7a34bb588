//! A map from the engine's own ids (batches, routes, units) to their records. Those ids are
//! handed out in increasing order and never reused, so a vector sorted by id, appended to, is
//! enough: a lookup is a binary search, and it ships far less code in the .wasm than one hash
//! map per value type. A removal leaves a hole; holes are swept once they outnumber the live
//! entries, so memory follows what is live even while one old id stays (a call that hangs).
//! The values sit in a slab whose free slots are reused, so the search and the sweep are not
//! generic: they ship once, not once per value type.

use super::table::Table;
use crate::prelude::*;

/// The ids, each with the slot of its value in [`IdMap`]'s slab. Not generic: the search and the
/// sweep ship once for every value type.
#[derive(Debug, Default)]
struct Index {
    /// Sorted by id; slot `HOLE`: removed.
    entries: Vec<(u64, u32)>,
    live: usize,
}

const HOLE: u32 = u32::MAX;

impl Index {
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    fn find(&self, id: u64) -> Option<u32> {
        let i = self.entries.binary_search_by_key(&id, |e| e.0).ok()?;
        let slot = self.entries[i].1;
        (slot != HOLE).then_some(slot)
    }

    // Inlined: IdMap<Batch>, its one caller, is the only instantiation (-31 B gzip).
    fn remove(&mut self, id: u64) -> Option<u32> {
        let i = self.entries.binary_search_by_key(&id, |e| e.0).ok()?;
        let slot = core::mem::replace(&mut self.entries[i].1, HOLE);
        if slot == HOLE {
            return None;
        }
        self.live -= 1;
        if self.live == 0 {
            self.entries.clear();
        } else if self.entries.len() - self.live > self.live + 8 {
            // A sweep costs what the holes it removes cost to make: amortised O(1).
            // (A copy loop: `retain` ships several times this code.)
            let mut kept = 0;
            for i in 0..self.entries.len() {
                let e = self.entries[i];
                if e.1 != HOLE {
                    self.entries[kept] = e;
                    kept += 1;
                }
            }
            self.entries.truncate(kept);
        }
        Some(slot)
    }
}

#[derive(Debug)]
pub(crate) struct IdMap<V> {
    index: Index,
    /// The values by slot; `None`: a free slot, listed in `free`.
    slots: Table<Option<V>>,
    free: Vec<u32>,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap { index: Index::default(), slots: Table(Vec::new()), free: Vec::new() }
    }
}

impl<V> IdMap<V> {
    /// `id` must be above every id inserted before.
    pub(crate) fn insert(&mut self, id: u64, v: V) {
        debug_assert!(self.index.entries.last().is_none_or(|e| e.0 < id), "ids must increase");
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(v);
                s
            }
            None => {
                self.slots.push(Some(v));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.entries.push((id, slot));
        self.index.live += 1;
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(crate) fn get(&self, id: &u64) -> Option<&V> {
        self.slots[self.index.find(*id)? as usize].as_ref()
    }

    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut V> {
        self.slots[self.index.find(*id)? as usize].as_mut()
    }

    pub(crate) fn contains_key(&self, id: &u64) -> bool {
        self.index.find(*id).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.index.live
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(crate) fn remove(&mut self, id: &u64) -> Option<V> {
        let slot = self.index.remove(*id)?;
        self.free.push(slot);
        self.slots[slot as usize].take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_a_map_and_sweeps_its_holes() {
        let (mut map, mut model) = (IdMap::default(), BTreeMap::new());
        let mut next = 1u64;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            crate::engine::xorshift(&mut seed);
            let id = 1 + seed % next;
            match seed % 7 {
                0..=2 => {
                    map.insert(next, next * 10);
                    model.insert(next, next * 10);
                    next += 1;
                }
                3 | 4 => assert_eq!(map.remove(&id), model.remove(&id)),
                5 => {
                    if let Some(v) = map.get_mut(&id) {
                        *v += 1;
                        *model.get_mut(&id).unwrap() += 1;
                    }
                }
                _ => assert_eq!(map.contains_key(&id), model.contains_key(&id)),
            }
            assert_eq!(map.get(&id), model.get(&id));
            assert_eq!(map.len(), model.len());
            assert!(map.index.entries.len() <= 2 * map.len() + 9, "holes are swept");
            assert_eq!(map.slots.len(), map.len() + map.free.len(), "every slot is live or free");
        }
        assert_eq!(map.remove(&next), None, "never inserted");
    }

    // The sweep point exactly: holes are kept (sweeping on every removal would make removal
    // O(n)) until they outnumber the live entries by more than 8, and never longer.
    #[test]
    fn holes_are_swept_once_they_outnumber_live_entries_by_more_than_8() {
        let mut map = IdMap::default();
        for id in 1..=20 {
            map.insert(id, ());
        }
        for id in 1..=14 {
            map.remove(&id);
            assert_eq!(map.index.entries.len(), 20, "{id} holes, {} live: kept", map.len());
        }
        map.remove(&15);
        assert_eq!((map.index.entries.len(), map.len()), (5, 5), "15 holes > 5 live + 8: swept");
        assert_eq!(map.get(&16), Some(&()));
    }

    #[test]
    fn an_old_live_id_does_not_hold_every_hole_after_it() {
        let mut map = IdMap::default();
        map.insert(1, ());
        for id in 2..10_000 {
            map.insert(id, ());
            map.remove(&id);
        }
        assert_eq!(map.len(), 1);
        assert!(map.index.entries.len() <= 11);
        assert_eq!(map.remove(&1), Some(()));
    }
}
