//! [`Builder`]: one method per option of the JavaScript `Batcher`, then `build` on a runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;

use super::batcher::Batcher;
use super::driver::{self, Hooks, Options};
use super::error::{Error, TransportError};
use super::options::{ms, CircuitBreaker, CircuitInfo, ErrorMode, IntoKey, RetryConfig, WhenFull};
use super::runtime::Runtime;
use super::transport::{BatchEndInfo, BatchInfo, Transport};
use crate::engine;

/// Configures a [`Batcher`]. Every method mirrors a JavaScript option (the docs name it);
/// `build` (with the `tokio` feature, or `web` on wasm32) or [`build_with_driver`](Builder::build_with_driver)
/// finishes it.
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::{Batch, Batcher, RetryConfig};
/// let (users, driver) = Batcher::builder()
///     .max_batch_size(100)
///     .max_wait(Duration::from_millis(10))
///     .key_of(|id: &u64| id % 4) // one queue per shard
///     .retry(RetryConfig::default())
///     .build_with_driver(|batch: Batch<u64>| async move {
///         Ok(batch.items.iter().map(|id| Ok(format!("user {id}"))).collect())
///     });
/// # let _ = (users, driver);
/// ```
#[must_use = "a builder does nothing until built"]
pub struct Builder<I, O> {
    config: engine::Config,
    options: Options<I, O>,
    seed: Option<u64>,
}

impl<I, O> std::fmt::Debug for Builder<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A [`Driver`]'s boxed task (`Send` but on wasm32, where `resolve_keys` futures need not be).
#[cfg(not(target_arch = "wasm32"))]
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
#[cfg(target_arch = "wasm32")]
type Task = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// The batcher's engine loop, returned by [`Builder::build_with_driver`]: spawn it on any
/// executor. It runs the transport calls and the timer, and ends once the batcher is closed
/// (or every handle dropped) and every item has settled. Dropping it fails pending items
/// with `E_CLOSED`. On wasm32 it is not `Send` (a `resolve_keys` future there need not be):
/// spawn it with `wasm_bindgen_futures::spawn_local` or a local executor.
///
/// ```
/// use hyperbatch::{Batch, Batcher};
/// let (b, driver) = Batcher::builder().build_with_driver(|batch: Batch<u32>| async move {
///     Ok(batch.items.iter().map(|n| Ok(n + 1)).collect())
/// });
/// let mut pool = futures::executor::LocalPool::new();
/// use futures::task::LocalSpawnExt; // a local spawn: the driver is not `Send` on wasm32
/// pool.spawner().spawn_local(driver).unwrap();
/// assert_eq!(pool.run_until(b.add(1)).unwrap(), 2);
/// ```
#[must_use = "the driver does nothing unless spawned or awaited"]
pub struct Driver {
    task: Task,
}

impl Future for Driver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.task.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Driver")
    }
}

impl<I: Clone + 'static, O: 'static> Builder<I, O> {
    pub(crate) fn new() -> Self {
        Builder { config: engine::Config::default(), options: Options::default(), seed: None }
    }

    /// `maxBatchSize` (default 100): a queue dispatches as soon as it holds this many items (1..=100000).
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().max_batch_size(25);
    /// # let _ = b;
    /// ```
    pub fn max_batch_size(mut self, n: usize) -> Self {
        self.config.max_batch_size = n as f64;
        self
    }

    /// `maxWaitMs` (default 10 ms): a queue dispatches at most this long after its first item; zero
    /// dispatches once the adds made before the driver next runs have joined. On a current-thread
    /// executor that is JavaScript's "end of the tick" (a loop of adds goes out together); on a
    /// multi-thread one the driver may run on another thread while a loop is still adding.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().max_wait(std::time::Duration::ZERO);
    /// # let _ = b;
    /// ```
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.config.max_wait_ms = ms(d);
        self
    }

    /// `maxBatchWeight` (default none): a queue dispatches before the next item would push its weight
    /// over the cap; an item heavier than the cap alone fails with `E_TOO_LARGE`.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<String, u32>::builder()
    ///     .max_batch_weight(64.0 * 1024.0)
    ///     .weight_of(|s: &String| s.len() as f64);
    /// # let _ = b;
    /// ```
    pub fn max_batch_weight(mut self, cap: impl Into<f64>) -> Self {
        self.config.max_batch_weight = Some(cap.into());
        self
    }

    /// `weigh(item)` (default 1): an item's weight for `max_batch_weight` (finite, ≥ 0).
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<Vec<u8>, u32>::builder().weight_of(|bytes: &Vec<u8>| bytes.len() as f64);
    /// # let _ = b;
    /// ```
    pub fn weight_of<W: Into<f64>>(mut self, f: impl Fn(&I) -> W + Send + Sync + 'static) -> Self {
        self.options.weight_of = Some(Box::new(move |item| f(item).into()));
        self
    }

    /// `weigh(item)` by its JavaScript name: the same as [`weight_of`](Builder::weight_of).
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<String, u32>::builder().max_batch_weight(1024.0).weigh(|s: &String| s.len() as f64);
    /// # let _ = b;
    /// ```
    pub fn weigh<W: Into<f64>>(self, f: impl Fn(&I) -> W + Send + Sync + 'static) -> Self {
        self.weight_of(f)
    }

    /// `keyOf(item)` (default one queue): one queue per key; queues dispatch independently, and
    /// [`Batch::key`](crate::Batch::key) tells the transport where to send. `None` means no key.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<(String, u64), u32>::builder().key_of(|(region, _): &(String, u64)| region.clone());
    /// # let _ = b;
    /// ```
    pub fn key_of<K: IntoKey>(mut self, f: impl Fn(&I) -> K + Send + Sync + 'static) -> Self {
        self.options.key_of = Some(Box::new(move |item| f(item).into_key()));
        self
    }

    /// `resolveKeys(items)` (default none): items with no key are gathered (same window and size
    /// rules) and routed by this async function, one key per item; an error or a `None` fails
    /// the item with `E_ROUTE`.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u64, u32>::builder()
    ///     .key_of(|_: &u64| None::<String>)
    ///     .resolve_keys(|items: Vec<u64>| async move { Ok(items.iter().map(|id| Some(id % 3)).collect()) });
    /// # let _ = b;
    /// ```
    ///
    /// On wasm32 the future need not be `Send`, so a browser's router may await JavaScript
    /// (a `JsFuture` of `fetch`, a timer), as a JS `resolveKeys` does.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn resolve_keys<K, F, Fut>(mut self, f: F) -> Self
    where
        K: IntoKey,
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<K>, TransportError>> + Send + 'static,
    {
        self.options.resolve_keys = Some(Box::new(move |items| -> driver::RouteFuture {
            f(items).map(|r| r.map(|keys| keys.into_iter().map(IntoKey::into_key).collect())).boxed()
        }));
        self
    }

    /// `resolveKeys(items)` on wasm32: as on other targets, but the future need not be `Send`.
    #[cfg(target_arch = "wasm32")]
    pub fn resolve_keys<K, F, Fut>(mut self, f: F) -> Self
    where
        K: IntoKey,
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<K>, TransportError>> + 'static,
    {
        self.options.resolve_keys = Some(Box::new(move |items| -> driver::RouteFuture {
            f(items).map(|r| r.map(|keys| keys.into_iter().map(IntoKey::into_key).collect())).boxed_local()
        }));
        self
    }

    /// `dedupeBy(item)` (default none): items with equal dedupe keys in the same queue window share one
    /// slot, and every caller gets a clone of the same outcome.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u64, String>::builder().dedupe_by(|id: &u64| *id);
    /// # let _ = b;
    /// ```
    pub fn dedupe_by<K: IntoKey>(mut self, f: impl Fn(&I) -> K + Send + Sync + 'static) -> Self
    where
        O: Clone,
    {
        self.options.dedupe_by = Some(Box::new(move |item| f(item).into_key()));
        self.options.clone_output = Some(O::clone);
        self
    }

    /// `maxQueued` (default 10000): items waiting (not in flight) before `when_full` applies.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().max_queued(500);
    /// # let _ = b;
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.config.max_queued = n as f64;
        self
    }

    /// `whenFull` [`WhenFull::Reject`]: fail with `E_FULL`, or wait for room.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().when_full(hyperbatch::WhenFull::Wait);
    /// # let _ = b;
    /// ```
    pub fn when_full(mut self, w: WhenFull) -> Self {
        self.config.when_full = match w {
            WhenFull::Reject => engine::WhenFull::Reject,
            WhenFull::Wait => engine::WhenFull::Wait,
        };
        self
    }

    /// `maxInFlight` (default 4): concurrent transport calls.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().max_in_flight(16);
    /// # let _ = b;
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n as f64;
        self
    }

    /// `maxInFlightPerKey` (default none): concurrent calls per key; 1 gives strict per-key order.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().max_in_flight_per_key(1);
    /// # let _ = b;
    /// ```
    pub fn max_in_flight_per_key(mut self, n: usize) -> Self {
        self.config.max_in_flight_per_key = Some(n as f64);
        self
    }

    /// `timeoutMs` (default none): a call running longer is dropped (cancelled) and fails with
    /// `E_TIMEOUT`, then is classified like any batch-level failure (retried by default).
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().timeout(std::time::Duration::from_secs(2));
    /// # let _ = b;
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.config.timeout_ms = Some(ms(d));
        self
    }

    /// `errorMode` [`ErrorMode::Partial`].
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().error_mode(hyperbatch::ErrorMode::Atomic);
    /// # let _ = b;
    /// ```
    pub fn error_mode(mut self, mode: ErrorMode) -> Self {
        self.config.error_mode = match mode {
            ErrorMode::Partial => engine::ErrorMode::Partial,
            ErrorMode::FailFast => engine::ErrorMode::FailFast,
            ErrorMode::Atomic => engine::ErrorMode::Atomic,
        };
        self
    }

    /// `retry` [`RetryConfig::default`]: attempts, backoff, classification and budget.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().retry(hyperbatch::RetryConfig::default().max_attempts(5));
    /// # let _ = b;
    /// ```
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.config.retry = retry.to_engine();
        self.options.classify = retry.classify;
        self
    }

    /// `bisect` (default true): a batch-level failure classified as bisect splits the batch in halves,
    /// recursively, so one poison item fails alone.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().bisect(false);
    /// # let _ = b;
    /// ```
    pub fn bisect(mut self, on: bool) -> Self {
        self.config.bisect = on;
        self
    }

    /// `adaptive` (default false): `max_wait` becomes a ceiling; a key with no call in flight sends at
    /// once, one with calls in flight gathers until one of them ends.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().adaptive(true);
    /// # let _ = b;
    /// ```
    pub fn adaptive(mut self, on: bool) -> Self {
        self.config.adaptive = on;
        self
    }

    /// `onBatchStart(info)`: called once per transport call, before it starts, with its items.
    /// A hook that panics changes no outcome.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().on_batch_start(|info| eprintln!("sending {:?}", info.items));
    /// # let _ = b;
    /// ```
    pub fn on_batch_start(mut self, f: impl Fn(&BatchInfo<'_, I>) + Send + Sync + 'static) -> Self {
        self.options.hooks.start = Some(Box::new(f));
        self
    }

    /// `onBatchEnd(info)`: called once per transport call when it ended, with its items and
    /// results (borrowed, before callers get them). A hook that panics changes no outcome.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().on_batch_end(|info| {
    ///     eprintln!("{} ok, {} failed in {:?}", info.succeeded, info.failed, info.duration)
    /// });
    /// # let _ = b;
    /// ```
    pub fn on_batch_end(mut self, f: impl Fn(&BatchEndInfo<'_, I, O>) + Send + Sync + 'static) -> Self {
        self.options.hooks.end = Some(Box::new(f));
        self
    }

    /// `circuitBreaker` (default none): per key, after `failure_threshold` consecutive calls
    /// failed at batch level the key's circuit opens: its unsent items and later adds fail with
    /// `E_CIRCUIT_OPEN` without a call; after `reset` its next batch goes alone as a probe.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hyperbatch::CircuitBreaker;
    /// let b = hyperbatch::Batcher::<u32, u32>::builder()
    ///     .circuit_breaker(CircuitBreaker { failure_threshold: 3, reset: Duration::from_secs(5) });
    /// # let _ = b;
    /// ```
    pub fn circuit_breaker(mut self, c: CircuitBreaker) -> Self {
        self.config.circuit_breaker =
            Some(engine::CircuitConfig { failure_threshold: f64::from(c.failure_threshold), reset_ms: ms(c.reset) });
        self
    }

    /// `onCircuitChange(info)`: a key's circuit opened, went half-open (its probe is out) or
    /// closed. A hook that panics changes nothing.
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder()
    ///     .on_circuit_change(|info| eprintln!("{:?} is now {:?}", info.key, info.state));
    /// # let _ = b;
    /// ```
    pub fn on_circuit_change(mut self, f: impl Fn(&CircuitInfo<'_>) + Send + Sync + 'static) -> Self {
        self.options.hooks.circuit = Some(Box::new(f));
        self
    }

    /// `flushOnHide` (default false): in a browser, when the page is hidden (`visibilitychange`
    /// to `"hidden"` on `document`, or `pagehide` on `window`), every queue dispatches at once,
    /// regardless of windows, and those calls carry [`Batch::keepalive`](crate::Batch::keepalive)
    /// `= true`: pass it to `fetch` so the request outlives the page (browsers cap keepalive bodies
    /// at 64 KiB in total, so cap batches with [`max_batch_weight`](Builder::max_batch_weight) in
    /// bytes). That flush's calls sent later (items held back by `max_in_flight`, being routed,
    /// or waiting to retry at the hide) carry `true` too, as every call made until its items have
    /// settled does. Other calls carry `false`. `close()` and the driver's end remove the
    /// listeners.
    ///
    /// It listens only with the `web` feature on wasm32 where there is a `document`; elsewhere
    /// (native, tokio, Node, Deno, workers) it does nothing, so the same builder code runs
    /// everywhere.
    ///
    /// ```
    /// # #[cfg(not(target_arch = "wasm32"))] { // a thread pool: native only
    /// use hyperbatch::{Batch, BatchResult, Batcher};
    /// let (events, driver) = Batcher::builder()
    ///     .max_wait(std::time::Duration::from_secs(5))
    ///     .max_batch_weight(32.0 * 1024.0) // bytes: keepalive bodies share 64 KiB
    ///     .weight_of(|event: &String| event.len() as f64)
    ///     .flush_on_hide(true)
    ///     .build_with_driver(|batch: Batch<String>| async move {
    ///         // In the browser: web-sys's RequestInit::set_keepalive(batch.keepalive), then fetch.
    ///         assert!(!batch.keepalive, "only a page-hide flush's calls are keepalive");
    ///         Ok(batch.items.iter().map(|_| Ok(())).collect()) as BatchResult<()>
    ///     });
    /// futures::executor::ThreadPool::new().unwrap().spawn_ok(driver);
    /// let sent = events.add("page view".to_owned());
    /// futures::executor::block_on(events.flush()); // natively there is no page to hide
    /// assert!(futures::executor::block_on(sent).is_ok());
    /// # }
    /// ```
    pub fn flush_on_hide(mut self, on: bool) -> Self {
        self.options.flush_on_hide = on;
        self
    }

    /// Seeds the backoff jitter so that a run replays exactly (random by default).
    ///
    /// ```
    /// let b = hyperbatch::Batcher::<u32, u32>::builder().seed(7);
    /// # let _ = b;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the batcher and its driver, driven by `runtime`'s clock and timer. Errors with
    /// `E_CONFIG` when an option is out of range.
    pub(crate) fn parts<T, R>(self, runtime: R, transport: T) -> Result<driver::Parts<I, O, T, R>, Error>
    where
        T: Transport<I, O>,
        R: Runtime,
    {
        let seed = self.seed.unwrap_or_else(random_seed);
        let runtime = Arc::new(runtime);
        driver::start(self.config, self.options, seed, runtime, transport)
    }

    /// Builds the batcher and its [`Driver`], a future to spawn on any executor, with a
    /// runtime-agnostic timer (`futures-timer`).
    ///
    /// # Panics
    /// When an option is out of range (the message names it); see
    /// [`try_build_with_driver`](Builder::try_build_with_driver).
    ///
    /// ```
    /// # #[cfg(not(target_arch = "wasm32"))] { // a thread pool: native only
    /// use hyperbatch::{Batch, Batcher};
    /// let (b, driver) = Batcher::builder().build_with_driver(|batch: Batch<u32>| async move {
    ///     Ok(batch.items.iter().map(|n| Ok(n * 10)).collect())
    /// });
    /// let pool = futures::executor::ThreadPool::new().unwrap();
    /// pool.spawn_ok(driver);
    /// assert_eq!(futures::executor::block_on(b.add(4)).unwrap(), 40);
    /// # }
    /// ```
    pub fn build_with_driver<T>(self, transport: T) -> (Batcher<I, O>, Driver)
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        I: Send + Sync,
        O: Send,
    {
        self.try_build_with_driver(transport).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build_with_driver`](Builder::build_with_driver), or the `E_CONFIG` error.
    ///
    /// ```
    /// use hyperbatch::{Batch, BatchResult, Batcher, ErrorCode};
    /// let r = Batcher::builder().max_batch_size(0).try_build_with_driver(|b: Batch<u32>| async move {
    ///     Ok(b.items.iter().map(|n| Ok(*n)).collect()) as BatchResult<u32>
    /// });
    /// let e = r.unwrap_err();
    /// assert_eq!(e.code(), ErrorCode::Config);
    /// assert!(e.to_string().contains("max_batch_size"));
    /// ```
    pub fn try_build_with_driver<T>(self, transport: T) -> Result<(Batcher<I, O>, Driver), Error>
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        I: Send + Sync,
        O: Send,
    {
        self.try_build_with_driver_on(super::runtime::AnyExecutor, transport)
    }

    /// [`build_with_driver`](Builder::build_with_driver) on another clock and timer.
    ///
    /// # Panics
    /// When an option is out of range.
    ///
    /// ```
    /// # #[cfg(not(target_arch = "wasm32"))] {
    /// use std::time::Duration;
    /// use hyperbatch::{Batch, Batcher, Instant, Runtime};
    /// struct Timer;
    /// impl Runtime for Timer {
    ///     type Sleep = futures_timer::Delay;
    ///     fn now(&self) -> Instant { Instant::now() }
    ///     fn sleep(&self, d: Duration) -> Self::Sleep { futures_timer::Delay::new(d) }
    /// }
    /// let (b, driver) = Batcher::builder().build_with_driver_on(Timer, |batch: Batch<u32>| async move {
    ///     Ok(batch.items.iter().map(|n| Ok(*n)).collect())
    /// });
    /// # let _ = (b, driver); }
    /// ```
    pub fn build_with_driver_on<T, R>(self, runtime: R, transport: T) -> (Batcher<I, O>, Driver)
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        R: Runtime,
        R::Sleep: Send,
        I: Send + Sync,
        O: Send,
    {
        self.try_build_with_driver_on(runtime, transport).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build_with_driver_on`](Builder::build_with_driver_on), or the `E_CONFIG` error.
    ///
    /// ```
    /// # #[cfg(not(target_arch = "wasm32"))] {
    /// # use std::time::Duration;
    /// # use hyperbatch::{Batch, BatchResult, Batcher, Instant, Runtime};
    /// # struct Timer;
    /// # impl Runtime for Timer {
    /// #     type Sleep = futures_timer::Delay;
    /// #     fn now(&self) -> Instant { Instant::now() }
    /// #     fn sleep(&self, d: Duration) -> Self::Sleep { futures_timer::Delay::new(d) }
    /// # }
    /// let r = Batcher::builder().max_in_flight(0).try_build_with_driver_on(Timer, |b: Batch<u32>| async move {
    ///     Ok(b.items.iter().map(|n| Ok(*n)).collect()) as BatchResult<u32>
    /// });
    /// assert!(r.is_err());
    /// # }
    /// ```
    pub fn try_build_with_driver_on<T, R>(self, runtime: R, transport: T) -> Result<(Batcher<I, O>, Driver), Error>
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        R: Runtime,
        R::Sleep: Send,
        I: Send + Sync,
        O: Send,
    {
        let (batcher, task) = self.parts(runtime, transport)?;
        Ok((batcher, Driver { task: Box::pin(task) }))
    }

    /// Builds the batcher with its driver running as a tokio task (tokio's clock and timers).
    /// Call it inside a tokio runtime.
    ///
    /// # Panics
    /// When an option is out of range (see [`try_build`](Builder::try_build)), or outside a
    /// tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use hyperbatch::{Batch, Batcher};
    /// let b = Batcher::builder().build(|batch: Batch<u32>| async move { Ok(batch.items.iter().map(|n| Ok(n + 1)).collect()) });
    /// assert_eq!(b.add(1).await.unwrap(), 2);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn build<T>(self, transport: T) -> Batcher<I, O>
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        I: Send + Sync,
        O: Send,
    {
        self.try_build(transport).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build`](Builder::build), or the `E_CONFIG` error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use hyperbatch::{Batch, BatchResult, Batcher};
    /// let r = Batcher::builder().max_queued(0).try_build(|b: Batch<u32>| async move {
    ///     Ok(b.items.iter().map(|n| Ok(*n)).collect()) as BatchResult<u32>
    /// });
    /// assert_eq!(r.unwrap_err().code(), hyperbatch::ErrorCode::Config);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn try_build<T>(self, transport: T) -> Result<Batcher<I, O>, Error>
    where
        T: Transport<I, O> + Send,
        T::Future: Send,
        I: Send + Sync,
        O: Send,
    {
        let (batcher, task) = self.parts(super::runtime::Tokio, transport)?;
        tokio::spawn(task);
        Ok(batcher)
    }
}

/// A jitter seed that differs per batcher (std's per-process random hash keys).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(&h as *const _ as usize);
    h.finish()
}

impl<I, O> Default for Hooks<I, O> {
    fn default() -> Self {
        Hooks { start: None, end: None, circuit: None }
    }
}
