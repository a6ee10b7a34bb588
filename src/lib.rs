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

pub mod engine;

// The Rust API: opt-in by feature (`api`, `tokio`, `web`), so the npm package's .wasm has none of it.
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "api")]
pub use api::*;

// Public so tests/wasm_shell.rs (wasm-bindgen-test) can reach `Core`; JS sees only the exports.
#[cfg(target_arch = "wasm32")]
pub mod wasm;
