//! What the caller's transport gets ([`Batch`]) and returns ([`BatchResult`]), and the hooks'
//! views of a call ([`BatchInfo`], [`BatchEndInfo`]).

use std::future::Future;
use std::time::Duration;

use web_time::Instant;

use super::error::{Error, ItemError, TransportError};

/// What a transport returns: one entry per item, in order, or a batch-level failure.
///
/// ```
/// use hyperbatch::{BatchResult, ItemError};
/// let r: BatchResult<u32> = Ok(vec![Ok(1), Err(ItemError::new("missing"))]);
/// # let _ = r;
/// ```
pub type BatchResult<O> = Result<Vec<Result<O, ItemError>>, TransportError>;

/// One transport call: the items to send and where to send them.
///
/// ```
/// use hyperbatch::{Batch, BatchResult};
/// async fn transport(batch: Batch<u32>) -> BatchResult<u32> {
///     // batch.key routes the call; batch.items holds the items in arrival order.
///     Ok(batch.items.iter().map(|n| Ok(n * 2)).collect())
/// }
/// # let _ = transport;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Batch<I> {
    /// The call's id, unique per batcher (as `onBatchStart`'s `id`).
    pub id: u64,
    /// The queue's key (`None` for the default queue).
    pub key: Option<String>,
    /// The items, in arrival order; an item is the same value on every attempt. The transport
    /// owns them (`batch.items.into_iter()` yields the items themselves).
    pub items: Vec<I>,
    /// The highest attempt number among the items (1 on a first send).
    pub attempt: u32,
    /// The earliest item deadline.
    pub deadline: Option<Instant>,
    /// Pass it to `fetch`'s `keepalive` so that the request outlives the page: `true` only for
    /// the calls of the flush that [`flush_on_hide`](crate::Builder::flush_on_hide) makes when
    /// the page is hidden, `false` for every other call.
    ///
    /// ```
    /// use hyperbatch::{Batch, BatchResult};
    /// async fn transport(batch: Batch<u32>) -> BatchResult<u32> {
    ///     // In the browser: RequestInit's keepalive (web-sys) or `{ keepalive }` in JS.
    ///     let keepalive = batch.keepalive;
    ///     # let _ = keepalive;
    ///     Ok(batch.items.iter().map(|n| Ok(*n)).collect())
    /// }
    /// # let _ = transport;
    /// ```
    pub keepalive: bool,
}

impl<I> Batch<I> {
    /// A batch as the batcher would hand it over on a first send: `items` on the default queue,
    /// id 0, attempt 1, no deadline, not keepalive. `Batch` is `#[non_exhaustive]` (fields may be
    /// added), so this is how code outside the crate makes one, to unit-test a transport or to
    /// call one transport from another; set the public fields to change the rest.
    ///
    /// ```
    /// use hyperbatch::{Batch, BatchResult};
    /// async fn double(batch: Batch<u32>) -> BatchResult<u32> {
    ///     Ok(batch.items.iter().map(|n| Ok(n * 2)).collect())
    /// }
    /// let mut batch = Batch::new(vec![1, 2]);
    /// batch.key = Some("eu".to_owned());
    /// batch.attempt = 2;
    /// let out = futures::executor::block_on(double(batch)).unwrap();
    /// assert_eq!(out.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [2, 4]);
    /// ```
    pub fn new(items: Vec<I>) -> Self {
        Batch { id: 0, key: None, items, attempt: 1, deadline: None, keepalive: false }
    }
}

/// The function a batcher calls with each batch. Implemented for every
/// `FnMut(Batch<I>) -> impl Future<Output = BatchResult<O>>`, so a closure (one that updates
/// what it captured too: the driver alone calls it) or an `async fn` will do.
///
/// The call is cancelled by dropping its future: on `timeout`, and when every caller of the
/// batch has gone (aborted or past its deadline).
///
/// ```
/// use hyperbatch::{Batch, BatchResult, Transport};
/// fn check<T: Transport<u32, String>>(_: T) {}
/// check(|batch: Batch<u32>| async move {
///     Ok(batch.items.iter().map(|n| Ok(n.to_string())).collect()) as BatchResult<String>
/// });
/// ```
pub trait Transport<I, O>: 'static {
    /// The call's future.
    type Future: Future<Output = BatchResult<O>> + 'static;
    /// Starts a call for `batch`.
    fn call(&mut self, batch: Batch<I>) -> Self::Future;
}

impl<I, O, F, Fut> Transport<I, O> for F
where
    F: FnMut(Batch<I>) -> Fut + 'static,
    Fut: Future<Output = BatchResult<O>> + 'static,
{
    type Future = Fut;
    fn call(&mut self, batch: Batch<I>) -> Fut {
        self(batch)
    }
}

/// What `on_batch_start` sees: once per transport call, before it starts.
///
/// ```
/// let b = hyperbatch::Batcher::<u32, u32>::builder()
///     .on_batch_start(|info| println!("call {} with {} items: {:?}", info.id, info.size, info.items));
/// # let _ = b;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchInfo<'a, I> {
    /// The call's id ([`Batch::id`]).
    pub id: u64,
    /// The queue's key.
    pub key: Option<&'a str>,
    /// Number of items.
    pub size: usize,
    /// Sum of the items' weights.
    pub weight: f64,
    /// [`Batch::attempt`].
    pub attempt: u32,
    /// The call's items, the same values the transport gets.
    pub items: &'a [I],
}

/// What `on_batch_end` sees: once per transport call, when it ended.
///
/// ```
/// let b = hyperbatch::Batcher::<u32, u32>::builder().on_batch_end(|info| {
///     let failed: Vec<_> = match info.results {
///         Some(results) => info.items.iter().zip(results).filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect(),
///         None => info.items.iter().collect(), // the whole call failed: info.error says why
///     };
///     println!("call {} took {:?}; failed: {failed:?}", info.id, info.duration);
/// });
/// # let _ = b;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchEndInfo<'a, I, O> {
    /// The call's id.
    pub id: u64,
    /// The queue's key.
    pub key: Option<&'a str>,
    /// Number of items.
    pub size: usize,
    /// Sum of the items' weights.
    pub weight: f64,
    /// [`Batch::attempt`].
    pub attempt: u32,
    /// How long the call took.
    pub duration: Duration,
    /// Items settled with a value by this call.
    pub succeeded: usize,
    /// Items settled with an error by this call.
    pub failed: usize,
    /// The call's items.
    pub items: &'a [I],
    /// The transport's results, `None` when the call failed at batch level.
    pub results: Option<&'a [Result<O, ItemError>]>,
    /// The batch-level error as callers would see it (`E_TIMEOUT`, `E_RESULT_SHAPE`, or
    /// `E_TRANSPORT` wrapping the transport's own error).
    pub error: Option<&'a Error>,
}
