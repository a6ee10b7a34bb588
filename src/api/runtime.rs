//! The runtime seam: the clock and the timer the driver uses. Each runtime feature implements
//! [`Runtime`] and spawns the driver its own way (`tokio::spawn`, `spawn_local`); the driver
//! itself only needs `now()` and `sleep()`. `Builder::parts` hands a runtime feature the driver
//! unboxed, so it is `Send` only when the transport and the timer are (`tokio::spawn` needs it,
//! `wasm_bindgen_futures::spawn_local` does not).

use std::future::Future;
use std::time::Duration;

use web_time::Instant;

/// A clock and a timer for the driver. Implement it to run a batcher on another timer (smol,
/// async-std, a test clock) with [`Builder::build_with_driver_on`](crate::Builder::build_with_driver_on).
///
/// The driver arms at most one sleep at a time and drops it when the wake-up moves.
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::{Instant, Runtime};
///
/// #[derive(Clone)]
/// struct Smol;
/// impl Runtime for Smol {
///     type Sleep = futures::future::Ready<()>; // a real one would be a timer future
///     fn now(&self) -> Instant { Instant::now() }
///     fn sleep(&self, _: Duration) -> Self::Sleep { futures::future::ready(()) }
/// }
/// ```
pub trait Runtime: Send + Sync + 'static {
    /// The timer's future.
    type Sleep: Future<Output = ()> + 'static;
    /// The current time (monotonic).
    fn now(&self) -> Instant;
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

/// The timer of `build_with_driver`: `futures-timer` (one helper thread natively, `setTimeout`
/// through gloo-timers on wasm32), on any executor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AnyExecutor;

impl Runtime for AnyExecutor {
    type Sleep = futures_timer::Delay;
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        futures_timer::Delay::new(duration)
    }
}

/// tokio's clock and timers (so `tokio::time::pause` drives a batcher too).
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tokio;

#[cfg(feature = "tokio")]
impl Runtime for Tokio {
    type Sleep = tokio::time::Sleep;
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }
}
