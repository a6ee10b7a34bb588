//! `Table<T>`: a `Vec` indexed only by ids the engine itself handed out — item slots, key ids,
//! an `IdMap`'s slab slots — so an index is in range by construction. Host input never indexes
//! one unchecked: an item id or key id the host gives is looked up with `get` first
//! (`caller_live`, `key_valid`, `slot_in` behind them).
//!
//! The shipped build (wasm32 without `std`) indexes without the bounds check: each check was a
//! compare and a trap at every `items[..]`/`keys[..]`, about 150 of them: -269 B gzip of the
//! .wasm (-1.4 KB raw), -64 B more for `IdMap`'s slots. Every other build (native tests, the
//! property tests, cargo-fuzz, the Rust API, the wasm-bindgen tests) keeps the checked index,
//! so an index out of range there still panics where the tests can see it.

use crate::prelude::*;

#[derive(Debug)]
pub(crate) struct Table<T>(pub(crate) Vec<T>);

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table(Vec::new())
    }
}

impl<T> core::ops::Deref for Table<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> core::ops::DerefMut for Table<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

/// The shipped build: see the module docs.
const UNCHECKED: bool = cfg!(all(target_arch = "wasm32", not(feature = "std")));

impl<T> core::ops::Index<usize> for Table<T> {
    type Output = T;
    #[inline(always)]
    fn index(&self, i: usize) -> &T {
        if UNCHECKED {
            // SAFETY: `i` is an id the engine handed out for this table (module docs).
            unsafe { self.0.get_unchecked(i) }
        } else {
            &self.0[i]
        }
    }
}

impl<T> core::ops::IndexMut<usize> for Table<T> {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut T {
        if UNCHECKED {
            // SAFETY: as `index`.
            unsafe { self.0.get_unchecked_mut(i) }
        } else {
            &mut self.0[i]
        }
    }
}
