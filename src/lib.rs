//! hyperbatch: client-side request batching.
//!
//! ```text
//!  JS caller ──add(item)──▶ wasm shell ──add(key, weight, deadline, now)──▶ Engine
//!                            ▲    │                                           │
//!   transport(batch) ◀───────┘    └──────── poll_output() / poll_timeout() ◀───┘
//!                     Dispatch{batch, key, items, attempt} | Settle{item, outcome} | Tick | …
//! ```
//!
//! [`engine`] is the product: a deterministic, sans-IO state machine that owns queues, flush
//! decisions, retries, bisect, budget, backpressure and stats. It never reads a clock and never
//! calls JS. The `wasm` module (built for `wasm32` only) is the shell: it holds no policy.
//!
//! The npm build compiles it for wasm32 without the `std` feature: `no_std` + `alloc`, a size-class
//! allocator (`heap`) and a panic handler that traps, so no formatting machinery ships (Cargo.toml).
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

/// What the std prelude brings, for the `no_std` build (with std it names the same items).
#[allow(unused_imports)]
mod prelude {
    pub use alloc::{borrow::ToOwned, boxed::Box, string::String, vec, vec::Vec};
}

pub mod engine;

// The Rust API: the default `api` feature (`tokio`, `web` add runtimes); the npm build passes
// --no-default-features, so its .wasm has none of it.
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "api")]
pub use api::*;

// Public so tests/wasm_shell.rs (wasm-bindgen-test) can reach `Core`; JS sees only the exports.
#[cfg(target_arch = "wasm32")]
pub mod wasm;

// The allocator: size classes over memory.grow (src/heap.rs), smaller than dlmalloc and talc.
#[cfg(any(test, target_arch = "wasm32"))]
mod heap;
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: heap::WasmHeap = heap::WasmHeap(core::cell::UnsafeCell::new(heap::Heap::new()));

// A panic is a bug (the engine returns errors for bad input): trap, without formatting a message.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
