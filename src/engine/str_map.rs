//! The engine's one map from text to an id: key names, dedupe keys, retired call times. Open
//! addressing with linear probing and backward-shift deletion (no tombstones). One small
//! non-generic type instead of a hashbrown instantiation: about 2 KB less in the .wasm.

use crate::prelude::*;

/// FxHash's step, a word at a time then the tail a byte at a time (rustc-hash's own `write`
/// is 200 B more of the .wasm; a byte-only loop is 74 B gzip less but slower on dedupe keys).
/// Its inputs are the application's own keys, so there is no seed (none to draw in no_std).
/// The table index is taken from the top bits, which the last multiply mixes best.
#[inline(never)]
fn hash(name: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut words = name.as_bytes().chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    for &b in words.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h
}

#[derive(Debug, Default)]
pub(crate) struct StrMap {
    /// A power of two in length (or empty); `None`: a free slot.
    slots: Vec<(Option<Box<str>>, u32)>,
    len: usize,
}

impl StrMap {
    /// Where probing for `name` starts.
    fn home(&self, name: &str) -> usize {
        // `slots.len()` is a power of two, at least 8, whenever a name is looked up.
        (hash(name) >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The slot holding `name`.
    #[inline(never)]
    fn find(&self, name: &str) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(name);
        loop {
            match &self.slots[i].0 {
                None => return None,
                Some(k) if **k == *name => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(crate) fn get(&self, name: &str) -> Option<&u32> {
        self.find(name).map(|i| &self.slots[i].1)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets `name` to `v`; returns the value it replaces.
    pub(crate) fn insert(&mut self, name: Box<str>, v: u32) -> Option<u32> {
        if let Some(i) = self.find(&name) {
            return Some(core::mem::replace(&mut self.slots[i].1, v));
        }
        // At most 3/4 full, so probe runs stay short.
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        self.place(name, v);
        self.len += 1;
        None
    }

    /// Puts an entry known to be absent into the first free slot of its probe run.
    #[inline(never)]
    fn place(&mut self, name: Box<str>, v: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(&name);
        while self.slots[i].0.is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = (Some(name), v);
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let n = (2 * self.slots.len()).max(8);
        let old = core::mem::take(&mut self.slots);
        self.slots.resize_with(n, || (None, 0));
        for (name, v) in old {
            if let Some(name) = name {
                self.place(name, v);
            }
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> Option<u32> {
        let mut hole = self.find(name)?;
        let v = self.slots[hole].1;
        self.slots[hole].0 = None;
        self.len -= 1;
        // Backward shift: an entry after the hole moves into it unless its home lies
        // (cyclically) after the hole, so that every probe run stays unbroken.
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let home = match &self.slots[j].0 {
                None => return Some(v),
                Some(k) => self.home(k),
            };
            // Distance from home to j, and from the hole to j: the entry may move back iff
            // its home is not strictly between the hole and j.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = core::mem::take(&mut self.slots[j]);
                hole = j;
            }
        }
    }

    /// Empties the map, keeping its table.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(crate) fn clear(&mut self) {
        if self.len != 0 {
            for s in &mut self.slots {
                s.0 = None;
            }
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_like_a_map() {
        let (mut map, mut model) = (StrMap::default(), BTreeMap::<String, u32>::new());
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for step in 0..60_000u32 {
            crate::engine::xorshift(&mut seed);
            // Few names, so inserts, hits, removals and long probe runs all happen; the range
            // changes over time so the map grows, drains and refills.
            let range = [40, 400, 4000][(step / 20_000) as usize];
            let name = format!("k{}", seed % range);
            match seed % 11 {
                0..=4 => assert_eq!(map.insert(name.as_str().into(), step), model.insert(name, step)),
                5..=8 => assert_eq!(map.remove(&name), model.remove(&name)),
                9 => assert_eq!(map.get(&name), model.get(&name)),
                _ => {
                    if seed % 1000 == 0 {
                        map.clear();
                        model.clear();
                    }
                }
            }
            assert_eq!(map.len(), model.len());
            assert_eq!(map.is_empty(), model.is_empty());
        }
        for (name, v) in &model {
            assert_eq!(map.get(name), Some(v), "{name}");
        }
        let live = map.slots.iter().filter(|s| s.0.is_some()).count();
        assert_eq!(live, model.len());
    }

    #[test]
    fn removal_keeps_colliding_entries_reachable() {
        // A small table where many names share probe runs, wrapping around its end.
        let mut map = StrMap::default();
        let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        for (i, n) in names.iter().enumerate() {
            map.insert(n.as_str().into(), i as u32);
        }
        assert_eq!(map.slots.len(), 8);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(map.remove(n), Some(i as u32));
            for (j, m) in names.iter().enumerate().skip(i + 1) {
                assert_eq!(map.get(m), Some(&(j as u32)), "{m} after removing {n}");
            }
        }
        assert!(map.is_empty());
        assert_eq!(map.get("n0"), None);
    }
}
