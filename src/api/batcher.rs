//! The caller's handle: [`Batcher`] and the future of one add, [`AddFuture`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::channel::oneshot;

use super::builder::Builder;
use super::driver::Shared;
use super::error::Error;
use super::options::AddOptions;

/// Batches `add(item)` calls into transport calls. A cheap handle: clone it freely; the batcher
/// closes (sending what is queued) when the last handle is dropped.
///
/// Built by [`Batcher::builder`]; see the [crate docs](crate) for the picture.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use hyperbatch::{Batch, Batcher};
/// let squares = Batcher::builder()
///     .max_batch_size(50)
///     .build(|batch: Batch<u64>| async move { Ok(batch.items.iter().map(|n| Ok(n * n)).collect()) });
/// let (a, b) = futures::join!(squares.add(3), squares.add(4));
/// assert_eq!((a.unwrap(), b.unwrap()), (9, 16));
/// assert_eq!(squares.stats().batches, 1);
/// # }
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// ```
pub struct Batcher<I, O> {
    pub(crate) shared: Arc<Shared<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        self.shared.hold();
        Batcher { shared: self.shared.clone() }
    }
}

impl<I, O> Drop for Batcher<I, O> {
    fn drop(&mut self) {
        self.shared.release();
    }
}

impl<I, O> std::fmt::Debug for Batcher<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("stats", &self.shared.stats()).finish()
    }
}

impl<I: Clone + 'static, O: 'static> Batcher<I, O> {
    /// A builder with the contract's defaults: batches of up to 100 items, a 10 ms window, one
    /// queue, 4 calls in flight, 3 attempts.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = hyperbatch::Batcher::<u32, String>::builder().max_wait(Duration::from_millis(5));
    /// # let _ = builder;
    /// ```
    pub fn builder() -> Builder<I, O> {
        Builder::new()
    }

    /// Queues `item` now and returns its outcome's future. Dropping the future before it
    /// resolves aborts the item: if it was not sent yet it leaves its queue and is never sent.
    ///
    /// ```
    /// # async fn demo(users: hyperbatch::Batcher<u64, String>) -> Result<(), hyperbatch::Error> {
    /// let name = users.add(42).await?;
    /// # Ok(()) }
    /// ```
    pub fn add(&self, item: I) -> AddFuture<I, O> {
        self.shared.add(item, AddOptions::default())
    }

    /// [`add`](Batcher::add) with a key, a weight or a deadline for this item.
    ///
    /// ```
    /// # async fn demo(users: hyperbatch::Batcher<u64, String>) {
    /// use std::time::Duration;
    /// use hyperbatch::{AddOptions, Instant};
    /// let due = Instant::now() + Duration::from_millis(200);
    /// let r = users.add_with(42, AddOptions { key: Some("eu".into()), deadline: Some(due), ..Default::default() }).await;
    /// # let _ = r; }
    /// ```
    pub fn add_with(&self, item: I, options: AddOptions) -> AddFuture<I, O> {
        self.shared.add(item, options)
    }

    /// Dispatches everything queued now; the future resolves when those items have settled.
    /// The dispatch happens when `flush` is called, not when the future is first polled.
    ///
    /// ```
    /// # async fn demo(b: hyperbatch::Batcher<u32, u32>) {
    /// let pending = b.add(1);
    /// b.flush().await; // sent without waiting for the window
    /// assert!(pending.await.is_ok());
    /// # }
    /// ```
    pub fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = self.shared.flush();
        async move {
            if let Some(done) = done {
                let _ = done.await;
            }
        }
    }

    /// Refuses later adds (`E_CLOSED`), sends everything queued, and resolves once every
    /// accepted item has settled and no call is in flight. Idempotent.
    ///
    /// ```
    /// # async fn demo(b: hyperbatch::Batcher<u32, u32>) {
    /// let pending = b.add(1);
    /// b.close().await;
    /// assert!(pending.await.is_ok());
    /// assert_eq!(b.add(2).await.unwrap_err().code(), hyperbatch::ErrorCode::Closed);
    /// # }
    /// ```
    pub fn close(&self) -> impl Future<Output = ()> + Send + 'static {
        let done = self.shared.close();
        async move {
            if let Some(done) = done {
                let _ = done.await;
            }
        }
    }

    /// Counters since construction and the current queue sizes.
    ///
    /// ```
    /// # fn demo(b: hyperbatch::Batcher<u32, u32>) {
    /// let s = b.stats();
    /// println!("{} items in {} calls, {} retries", s.items, s.batches, s.retries);
    /// # }
    /// ```
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }
}

/// Counters since construction (the contract's `stats()`). Its fields are the contract's, so it
/// can be written as a literal to compare against.
///
/// ```
/// let s = hyperbatch::Stats::default();
/// assert_eq!((s.items, s.batches), (0, 0));
/// assert_eq!(s, hyperbatch::Stats { queued: 0, ..Default::default() });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Items waiting in queues (not in flight, not waiting for room).
    pub queued: u64,
    /// Transport calls in flight.
    pub in_flight_batches: u64,
    /// Items in those calls.
    pub in_flight_items: u64,
    /// Transport calls made.
    pub batches: u64,
    /// Items accepted by `add`.
    pub items: u64,
    /// Items settled with a value.
    pub succeeded: u64,
    /// Items settled with an error (aborts and deadlines included).
    pub failed: u64,
    /// Item re-sends.
    pub retries: u64,
    /// Splits made by bisect.
    pub bisects: u64,
    /// Retries the budget refused.
    pub throttled: u64,
    /// Keys whose circuit is open now.
    pub circuits_open: u64,
}

/// The outcome of one [`Batcher::add`]. The item was queued when `add` returned; dropping this
/// future before it resolves aborts the item (a queued item is removed and never sent).
///
/// ```
/// # async fn demo(b: hyperbatch::Batcher<u32, u32>) {
/// let f = b.add(1);
/// drop(f); // aborted: never sent
/// # }
/// ```
#[must_use = "dropping the future aborts the item"]
pub struct AddFuture<I, O> {
    pub(crate) state: AddState<I, O>,
}

pub(crate) enum AddState<I, O> {
    /// Accepted: item `id` of generation `gen`.
    Queued {
        shared: Arc<Shared<I, O>>,
        id: u32,
        gen: u32,
        outcome: oneshot::Receiver<Result<O, Error>>,
    },
    /// Refused by `add` itself.
    Refused(Option<Error>),
    Done,
}

impl<I, O> Future for AddFuture<I, O> {
    type Output = Result<O, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = match &mut self.state {
            AddState::Queued { outcome, .. } => match Pin::new(outcome).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(r)) => r,
                // The driver is gone without settling: it was dropped or panicked.
                Poll::Ready(Err(oneshot::Canceled)) => Err(Error::closed()),
            },
            AddState::Refused(e) => Err(e.take().expect("AddFuture polled after completion")),
            AddState::Done => panic!("AddFuture polled after completion"),
        };
        self.state = AddState::Done;
        Poll::Ready(r)
    }
}

/// Usable in `futures::select!` as it is: terminated once it has resolved.
impl<I, O> futures::future::FusedFuture for AddFuture<I, O> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, AddState::Done)
    }
}

impl<I, O> Drop for AddFuture<I, O> {
    fn drop(&mut self) {
        if let AddState::Queued { shared, id, gen, .. } = &self.state {
            shared.abort(*id, *gen);
        }
    }
}

impl<I, O> std::fmt::Debug for AddFuture<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddFuture")
    }
}
