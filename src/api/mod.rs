//! The Rust API: the same engine for Rust callers, on any async runtime.
//!
//! ```text
//!  caller ──add(item)──▶ Batcher (handle) ──add/cancel/flush/close──▶ Engine (src/engine)
//!    ▲                        shared state, one lock                      │ outputs
//!    └── AddFuture ◀── Driver task: transport calls, hooks, one timer ◀───┘
//!                      (tokio task | spawn_local | any executor)
//! ```
//!
//! [`Batcher::builder`] has one method per option of the JavaScript `Batcher`. The driver is a
//! future: the `tokio` feature spawns it (`build`), so does `web` on wasm32 (`build`, with
//! `spawn_local`; and `JsTransport`), [`Builder::build_with_driver`] hands it to you for any
//! executor. Its clock and timer come from a [`Runtime`].
#![deny(missing_docs)]

mod batcher;
mod builder;
mod driver;
mod error;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
mod js_transport;
mod options;
mod runtime;
mod transport;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
mod web;

pub use batcher::{AddFuture, Batcher, Stats};
pub use builder::{Builder, Driver};
pub use error::{Error, ErrorCode, ItemError, TransportError};
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub use js_transport::JsTransport;
pub use options::{
    AddOptions, CircuitBreaker, CircuitInfo, CircuitState, Class, Classify, ErrorMode, IntoKey, Jitter, RetryBudget,
    RetryConfig, WhenFull,
};
pub use runtime::Runtime;
pub use transport::{Batch, BatchEndInfo, BatchInfo, BatchResult, Transport};
/// The clock of deadlines: `std::time::Instant` natively, `performance.now()` on wasm32.
pub use web_time::Instant;
