//! The errors of the Rust API: [`Error`] (what a caller gets), [`ItemError`] (a transport failing
//! one item) and [`TransportError`] (a transport failing the whole call).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A cause carried by an error, shared so that every caller of a batch can hold it.
type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The `code` of an [`Error`]: the contract's codes, as in JavaScript.
///
/// ```
/// use hyperbatch::ErrorCode;
/// assert_eq!(ErrorCode::Transport.as_str(), "E_TRANSPORT");
/// assert_eq!(ErrorCode::Closed.to_string(), "E_CLOSED");
/// assert_eq!(ErrorCode::Closed, "E_CLOSED");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `E_CONFIG`: an option or add option out of range.
    Config,
    /// `E_CLOSED`: the batcher is closed (or its driver is gone).
    Closed,
    /// `E_FULL`: `max_queued` items are waiting and `when_full` is `Reject`.
    Full,
    /// `E_TOO_LARGE`: the item alone weighs more than `max_batch_weight`.
    TooLarge,
    /// `E_ABORTED`: the item was aborted (its `add` future was dropped).
    Aborted,
    /// `E_DEADLINE`: the item's deadline passed before it settled.
    Deadline,
    /// `E_TIMEOUT`: the transport call outlived `timeout`.
    Timeout,
    /// `E_TRANSPORT`: the call failed at batch level; [`Error::transport_error`] is the cause.
    Transport,
    /// `E_RESULT_SHAPE`: the transport returned a result count other than the batch's size.
    ResultShape,
    /// `E_FAIL_FAST`: another item of the batch failed (`ErrorMode::FailFast`).
    FailFast,
    /// `E_ATOMIC`: the atomic batch failed (`ErrorMode::Atomic`).
    Atomic,
    /// `E_ROUTE`: `resolve_keys` failed or gave no key for the item.
    Route,
    /// `E_CIRCUIT_OPEN`: the key's circuit breaker is open.
    CircuitOpen,
    /// `E_ITEM`: the transport failed this item with an [`ItemError`] (JavaScript hands the
    /// entry itself to the caller; Rust wraps it, see [`Error::item_error`]).
    Item,
}

impl ErrorCode {
    /// The code as JavaScript spells it, e.g. `"E_TIMEOUT"`.
    ///
    /// ```
    /// assert_eq!(hyperbatch::ErrorCode::Timeout.as_str(), "E_TIMEOUT");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Config => "E_CONFIG",
            ErrorCode::Closed => "E_CLOSED",
            ErrorCode::Full => "E_FULL",
            ErrorCode::TooLarge => "E_TOO_LARGE",
            ErrorCode::Aborted => "E_ABORTED",
            ErrorCode::Deadline => "E_DEADLINE",
            ErrorCode::Timeout => "E_TIMEOUT",
            ErrorCode::Transport => "E_TRANSPORT",
            ErrorCode::ResultShape => "E_RESULT_SHAPE",
            ErrorCode::FailFast => "E_FAIL_FAST",
            ErrorCode::Atomic => "E_ATOMIC",
            ErrorCode::Route => "E_ROUTE",
            ErrorCode::CircuitOpen => "E_CIRCUIT_OPEN",
            ErrorCode::Item => "E_ITEM",
        }
    }
}

/// A code compares equal to its JavaScript spelling: `e.code() == "E_CLOSED"`.
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a caller's `add` failed. Every error the library makes has a [`code`](Error::code).
///
/// ```
/// use hyperbatch::{Error, ErrorCode};
/// # async fn demo(b: hyperbatch::Batcher<u32, u32>) {
/// match b.add(7).await {
///     Ok(v) => println!("{v}"),
///     Err(e) if e.code() == ErrorCode::Transport => eprintln!("{e} after {:?} calls", e.attempts()),
///     Err(e) => eprintln!("{}: {e}", e.code()),
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Error {
    code: ErrorCode,
    message: String,
    attempts: Option<u32>,
    source: Option<Source>,
}

#[derive(Clone, Debug)]
enum Source {
    Item(ItemError),
    Transport(TransportError),
    Other(Cause),
}

impl Error {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error { code, message: message.into(), attempts: None, source: None }
    }

    pub(crate) fn closed() -> Error {
        Error::new(ErrorCode::Closed, "hyperbatch: the batcher is closed")
    }

    pub(crate) fn aborted() -> Error {
        Error::new(ErrorCode::Aborted, "hyperbatch: the item was aborted")
    }

    /// E_TRANSPORT after `attempts` calls, `cause` = the transport's error.
    pub(crate) fn transport(cause: &TransportError, attempts: u32) -> Error {
        let s = if attempts == 1 { "" } else { "s" };
        Error {
            attempts: Some(attempts),
            source: Some(Source::Transport(cause.clone())),
            ..Error::new(
                ErrorCode::Transport,
                format!("hyperbatch: transport failed after {attempts} attempt{s}: {cause}"),
            )
        }
    }

    /// A batch-level failure as a hook sees it: the transport's own error, not yet counted.
    pub(crate) fn call_failed(cause: &TransportError) -> Error {
        Error {
            source: Some(Source::Transport(cause.clone())),
            ..Error::new(ErrorCode::Transport, format!("hyperbatch: transport call failed: {cause}"))
        }
    }

    pub(crate) fn item(cause: &ItemError) -> Error {
        Error { source: Some(Source::Item(cause.clone())), ..Error::new(ErrorCode::Item, cause.message.clone()) }
    }

    pub(crate) fn with_item_cause(code: ErrorCode, message: &str, cause: &ItemError) -> Error {
        Error { source: Some(Source::Item(cause.clone())), ..Error::new(code, message) }
    }

    pub(crate) fn with_cause(mut self, cause: Cause) -> Error {
        self.source = Some(Source::Other(cause));
        self
    }

    /// The contract's code, e.g. [`ErrorCode::Transport`].
    ///
    /// ```
    /// # async fn demo(b: hyperbatch::Batcher<u32, u32>) {
    /// b.close().await;
    /// assert_eq!(b.add(1).await.unwrap_err().code(), hyperbatch::ErrorCode::Closed);
    /// # }
    /// ```
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// Transport calls made for the item (set on [`ErrorCode::Transport`] errors).
    ///
    /// ```
    /// # fn demo(e: hyperbatch::Error) {
    /// if let Some(n) = e.attempts() { eprintln!("gave up after {n} calls"); }
    /// # }
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// The transport's error for this item: set on [`ErrorCode::Item`] (the item's own error)
    /// and on [`ErrorCode::FailFast`] / [`ErrorCode::Atomic`] (the batch's first failing entry).
    ///
    /// ```
    /// # fn demo(e: hyperbatch::Error) {
    /// if let Some(item) = e.item_error() { assert_eq!(item.to_string(), e.to_string()); }
    /// # }
    /// ```
    pub fn item_error(&self) -> Option<&ItemError> {
        match &self.source {
            Some(Source::Item(e)) => Some(e),
            _ => None,
        }
    }

    /// The transport's batch-level error (set on [`ErrorCode::Transport`]).
    ///
    /// ```
    /// # fn demo(e: hyperbatch::Error) {
    /// if let Some(t) = e.transport_error() { eprintln!("HTTP status {:?}", t.status_code()); }
    /// # }
    /// ```
    pub fn transport_error(&self) -> Option<&TransportError> {
        match &self.source {
            Some(Source::Transport(e)) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.source {
            Some(Source::Item(e)) => Some(e),
            Some(Source::Transport(e)) => Some(e),
            Some(Source::Other(e)) => Some(&**e),
            None => None,
        }
    }
}

/// A transport's failure of one item: return it in that item's entry.
///
/// A retryable item error re-queues that item alone (up to `max_attempts`); `retry_after` is a
/// floor on its next delay. Its caller gets an [`Error`] with [`ErrorCode::Item`] whose
/// [`item_error`](Error::item_error) is this value.
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::ItemError;
/// let busy = ItemError::new("rate limited").retryable().retry_after(Duration::from_millis(200));
/// assert!(busy.is_retryable());
/// assert_eq!(busy.to_string(), "rate limited");
/// ```
#[derive(Clone, Debug)]
pub struct ItemError {
    message: String,
    retryable: bool,
    retry_after: Option<Duration>,
    source: Option<Cause>,
}

impl ItemError {
    /// A permanent failure of one item with this message.
    ///
    /// ```
    /// let e = hyperbatch::ItemError::new("no such user");
    /// assert!(!e.is_retryable());
    /// ```
    pub fn new(message: impl Into<String>) -> ItemError {
        ItemError { message: message.into(), retryable: false, retry_after: None, source: None }
    }

    /// Marks the failure as transient: the item is sent again.
    ///
    /// ```
    /// assert!(hyperbatch::ItemError::new("busy").retryable().is_retryable());
    /// ```
    pub fn retryable(mut self) -> ItemError {
        self.retryable = true;
        self
    }

    /// A floor on the delay before the item's next attempt (clamped to `max_retry_after`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let e = hyperbatch::ItemError::new("busy").retryable().retry_after(Duration::from_secs(1));
    /// assert_eq!(e.retry_after_hint(), Some(Duration::from_secs(1)));
    /// ```
    pub fn retry_after(mut self, delay: Duration) -> ItemError {
        self.retry_after = Some(delay);
        self
    }

    /// Attaches the underlying error, returned by [`source`](std::error::Error::source).
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("disk");
    /// assert!(hyperbatch::ItemError::new("write failed").with_source(io).source().is_some());
    /// ```
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> ItemError {
        self.source = Some(Arc::new(source));
        self
    }

    /// Whether the item is retried.
    ///
    /// ```
    /// assert!(!hyperbatch::ItemError::new("gone").is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The retry-after hint, if one was given.
    ///
    /// ```
    /// assert_eq!(hyperbatch::ItemError::new("gone").retry_after_hint(), None);
    /// ```
    pub fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// `Err("no such user".into())` in a transport's entry.
///
/// ```
/// let e: hyperbatch::ItemError = "no such user".into();
/// assert_eq!(e.to_string(), "no such user");
/// ```
impl From<&str> for ItemError {
    fn from(message: &str) -> ItemError {
        ItemError::new(message)
    }
}

impl From<String> for ItemError {
    fn from(message: String) -> ItemError {
        ItemError::new(message)
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ItemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A transport's failure of the whole call: return it as `Err`.
///
/// It is classified as in JavaScript (unless `RetryConfig::classify` says otherwise):
/// `retryable(false)` or status 400, 413 or 422 → bisect (split the batch to isolate a poison
/// item); anything else (network errors, 408, 429, 5xx) → retry with backoff, `retry_after`
/// being a floor on the delay. Callers that never get through see [`ErrorCode::Transport`]
/// with this error as [`transport_error`](Error::transport_error).
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::TransportError;
/// let e = TransportError::new("service unavailable").status(503).retry_after(Duration::from_secs(2));
/// assert_eq!(e.status_code(), Some(503));
/// assert_eq!(e.to_string(), "service unavailable");
/// ```
#[derive(Clone, Debug)]
pub struct TransportError {
    message: String,
    status: Option<u16>,
    retryable: Option<bool>,
    retry_after: Option<Duration>,
    source: Option<Cause>,
    /// Set when the library made the failure (`E_TIMEOUT`, `E_RESULT_SHAPE`) for `classify`.
    code: Option<ErrorCode>,
}

impl TransportError {
    /// A batch-level failure with this message.
    ///
    /// ```
    /// let e = hyperbatch::TransportError::new("connection reset");
    /// assert_eq!(e.is_retryable(), None);
    /// ```
    pub fn new(message: impl Into<String>) -> TransportError {
        TransportError {
            message: message.into(),
            status: None,
            retryable: None,
            retry_after: None,
            source: None,
            code: None,
        }
    }

    /// A batch-level failure the library made (`E_TIMEOUT`, `E_RESULT_SHAPE`), as `classify` sees it.
    pub(crate) fn of_code(code: ErrorCode, message: impl Into<String>) -> TransportError {
        TransportError { code: Some(code), ..TransportError::new(message) }
    }

    /// `None` for the transport's own errors; [`ErrorCode::Timeout`] or
    /// [`ErrorCode::ResultShape`] when `classify` is asked about a call that outlived `timeout`
    /// or answered with the wrong number of entries (as JavaScript's `classify` gets those errors).
    ///
    /// ```
    /// use hyperbatch::{Class, ErrorCode, RetryConfig};
    /// // Retry everything but timeouts.
    /// let r = RetryConfig::default().classify(|e| match e.code() {
    ///     Some(ErrorCode::Timeout) => Class::Fail,
    ///     _ => Class::Retry,
    /// });
    /// # let _ = r;
    /// assert_eq!(hyperbatch::TransportError::new("x").code(), None);
    /// ```
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }

    /// The HTTP status of the failed call (400, 413 and 422 bisect; others retry).
    ///
    /// ```
    /// assert_eq!(hyperbatch::TransportError::new("bad").status(422).status_code(), Some(422));
    /// ```
    pub fn status(mut self, status: u16) -> TransportError {
        self.status = Some(status);
        self
    }

    /// `false`: the batch itself is at fault (bisect it); `true`: retry it.
    ///
    /// ```
    /// let e = hyperbatch::TransportError::new("poison").retryable(false);
    /// assert_eq!(e.is_retryable(), Some(false));
    /// ```
    pub fn retryable(mut self, retryable: bool) -> TransportError {
        self.retryable = Some(retryable);
        self
    }

    /// A floor on the delay before the retry (a `Retry-After` header), clamped to
    /// `max_retry_after`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let e = hyperbatch::TransportError::new("429").status(429).retry_after(Duration::from_secs(3));
    /// assert_eq!(e.retry_after_hint(), Some(Duration::from_secs(3)));
    /// ```
    pub fn retry_after(mut self, delay: Duration) -> TransportError {
        self.retry_after = Some(delay);
        self
    }

    /// Attaches the underlying error (an I/O or HTTP client error).
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::other("refused");
    /// assert!(hyperbatch::TransportError::new("connect").with_source(io).source().is_some());
    /// ```
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> TransportError {
        self.source = Some(Arc::new(source));
        self
    }

    /// The status given with [`status`](TransportError::status).
    ///
    /// ```
    /// assert_eq!(hyperbatch::TransportError::new("x").status_code(), None);
    /// ```
    pub fn status_code(&self) -> Option<u16> {
        self.status
    }

    /// The flag given with [`retryable`](TransportError::retryable), if any.
    ///
    /// ```
    /// assert_eq!(hyperbatch::TransportError::new("x").retryable(true).is_retryable(), Some(true));
    /// ```
    pub fn is_retryable(&self) -> Option<bool> {
        self.retryable
    }

    /// The retry-after hint, if one was given.
    ///
    /// ```
    /// assert_eq!(hyperbatch::TransportError::new("x").retry_after_hint(), None);
    /// ```
    pub fn retry_after_hint(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// `Err("connection reset".into())` from a transport.
///
/// ```
/// let e: hyperbatch::TransportError = "connection reset".into();
/// assert_eq!(e.to_string(), "connection reset");
/// ```
impl From<&str> for TransportError {
    fn from(message: &str) -> TransportError {
        TransportError::new(message)
    }
}

impl From<String> for TransportError {
    fn from(message: String) -> TransportError {
        TransportError::new(message)
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
