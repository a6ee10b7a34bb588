//! Option types of the builder and of `add_with`. They carry values only: every rule about them
//! lives in the engine (`engine::Config::validate` and what it decides from them).

use std::sync::Arc;
use std::time::Duration;

use web_time::Instant;

use super::error::TransportError;
use crate::engine;

/// How a batch's item errors affect its other items (JavaScript's `errorMode`).
///
/// ```
/// let b = hyperbatch::Batcher::<u32, u32>::builder().error_mode(hyperbatch::ErrorMode::FailFast);
/// # let _ = b;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorMode {
    /// Each item settles on its own outcome (the default).
    #[default]
    Partial,
    /// The first item error rejects the batch's other items with `E_FAIL_FAST`; no bisect, no
    /// per-item retry.
    FailFast,
    /// All or nothing: any item error rejects every item with `E_ATOMIC`; a retryable one resends
    /// the whole batch.
    Atomic,
}

/// What `add` does when `max_queued` items are waiting (JavaScript's `whenFull`).
///
/// ```
/// let b = hyperbatch::Batcher::<u32, u32>::builder().max_queued(1000).when_full(hyperbatch::WhenFull::Wait);
/// # let _ = b;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenFull {
    /// Fail the add with `E_FULL` (the default).
    #[default]
    Reject,
    /// Keep the add's future pending until there is room.
    Wait,
}

/// The jitter applied to backoff delays (AWS "full" or "equal" jitter, or none).
///
/// ```
/// let r = hyperbatch::RetryConfig::default().jitter(hyperbatch::Jitter::None);
/// # let _ = r;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in \[0, delay\] (the default).
    #[default]
    Full,
    /// delay/2 plus uniform in \[0, delay/2\].
    Equal,
    /// Exactly the exponential delay.
    None,
}

/// What to do with a batch-level failure (the answer of `RetryConfig::classify`).
///
/// ```
/// use hyperbatch::{Class, RetryConfig};
/// let r = RetryConfig::default().classify(|e| if e.status_code() == Some(409) { Class::Fail } else { Class::Retry });
/// # let _ = r;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Resend the batch after a backoff delay.
    Retry,
    /// Split the batch in halves to isolate a poison item.
    Bisect,
    /// Fail every item now.
    Fail,
}

/// The retry budget (gRPC-style throttling): each failed call costs one token, each success
/// refunds `token_ratio`; retries stop while tokens ≤ `max_tokens` / 2.
///
/// ```
/// let r = hyperbatch::RetryConfig::default().budget(hyperbatch::RetryBudget { max_tokens: 10.0, token_ratio: 0.5 });
/// # let _ = r;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    /// Tokens when full (default 100).
    pub max_tokens: f64,
    /// Refund per successful call (default 0.1).
    pub token_ratio: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        let d = engine::BudgetConfig::default();
        RetryBudget { max_tokens: d.max_tokens, token_ratio: d.token_ratio }
    }
}

/// A `classify` function, as [`RetryConfig::classify`] holds it.
pub type Classify = Arc<dyn Fn(&TransportError) -> Class + Send + Sync>;

/// Retries of failed calls and items (JavaScript's `retry` option). Defaults: 3 attempts, 50 ms
/// base delay doubling up to 5 s, full jitter, retry-after hints up to 60 s, a budget of 100 tokens.
///
/// Set it with the methods, or as a struct (the fields are the JavaScript options; the builder
/// checks their ranges):
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::RetryConfig;
/// let retry = RetryConfig::default()
///     .max_attempts(5)
///     .base_delay(Duration::from_millis(20))
///     .max_delay(Duration::from_secs(1))
///     .no_budget();
/// let same = RetryConfig {
///     max_attempts: 5,
///     base_delay: Duration::from_millis(20),
///     max_delay: Duration::from_secs(1),
///     budget: None,
///     ..RetryConfig::default()
/// };
/// assert_eq!(format!("{retry:?}"), format!("{same:?}"));
/// let b = hyperbatch::Batcher::<u32, u32>::builder().retry(retry);
/// # let _ = b;
/// ```
#[derive(Clone)]
pub struct RetryConfig {
    /// `maxAttempts`: sends per item, the first included (default 3, 1..=1000).
    pub max_attempts: u32,
    /// `baseDelayMs`: the delay before the second attempt (default 50 ms).
    pub base_delay: Duration,
    /// `maxDelayMs`: the longest backoff delay (default 5 s).
    pub max_delay: Duration,
    /// `multiplier`: growth of the delay per attempt (default 2, 1..=1000).
    pub multiplier: f64,
    /// `jitter` (default [`Jitter::Full`]).
    pub jitter: Jitter,
    /// `maxRetryAfterMs`: the largest retry-after hint honoured (default 60 s).
    pub max_retry_after: Duration,
    /// `budget` (default [`RetryBudget::default`]); `None` is `budget: false`.
    pub budget: Option<RetryBudget>,
    /// `classify(err)` (default: the contract's rule, see [`TransportError`](crate::TransportError)).
    pub classify: Option<Classify>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        let d = engine::RetryConfig::default();
        RetryConfig {
            max_attempts: d.max_attempts as u32,
            base_delay: Duration::from_millis(d.base_delay_ms as u64),
            max_delay: Duration::from_millis(d.max_delay_ms as u64),
            multiplier: d.multiplier,
            jitter: Jitter::Full,
            max_retry_after: Duration::from_millis(d.max_retry_after_ms as u64),
            budget: Some(RetryBudget::default()),
            classify: None,
        }
    }
}

impl std::fmt::Debug for RetryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryConfig")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("multiplier", &self.multiplier)
            .field("jitter", &self.jitter)
            .field("max_retry_after", &self.max_retry_after)
            .field("budget", &self.budget)
            .field("classify", &self.classify.is_some())
            .finish()
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl RetryConfig {
    /// The engine's form (ranges are checked when the batcher is built).
    pub(crate) fn to_engine(&self) -> engine::RetryConfig {
        engine::RetryConfig {
            max_attempts: f64::from(self.max_attempts),
            base_delay_ms: ms(self.base_delay),
            max_delay_ms: ms(self.max_delay),
            multiplier: self.multiplier,
            jitter: match self.jitter {
                Jitter::Full => engine::Jitter::Full,
                Jitter::Equal => engine::Jitter::Equal,
                Jitter::None => engine::Jitter::None,
            },
            max_retry_after_ms: ms(self.max_retry_after),
            budget: match self.budget {
                Some(b) => engine::BudgetOption::Config(engine::BudgetConfig {
                    max_tokens: b.max_tokens,
                    token_ratio: b.token_ratio,
                }),
                None => engine::BudgetOption::Enabled(false),
            },
        }
    }

    /// Sends per item, the first included (default 3); 1 turns retries off.
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().max_attempts(1);
    /// # let _ = r;
    /// ```
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The delay before the second attempt (default 50 ms).
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().base_delay(std::time::Duration::from_millis(10));
    /// # let _ = r;
    /// ```
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// The longest backoff delay (default 5 s).
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().max_delay(std::time::Duration::from_secs(2));
    /// # let _ = r;
    /// ```
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Growth of the delay per attempt (default 2).
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().multiplier(3.0);
    /// # let _ = r;
    /// ```
    pub fn multiplier(mut self, m: impl Into<f64>) -> Self {
        self.multiplier = m.into();
        self
    }

    /// The jitter [`Jitter::Full`].
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().jitter(hyperbatch::Jitter::Equal);
    /// # let _ = r;
    /// ```
    pub fn jitter(mut self, j: Jitter) -> Self {
        self.jitter = j;
        self
    }

    /// The largest retry-after hint honoured (default 60 s).
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().max_retry_after(std::time::Duration::from_secs(5));
    /// # let _ = r;
    /// ```
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Decides what a batch-level failure does, instead of the default rule (see
    /// [`TransportError`](crate::TransportError)): the transport's own errors, and calls that
    /// timed out or answered with the wrong number of entries
    /// ([`TransportError::code`](crate::TransportError::code)). One that panics leaves the
    /// default rule.
    ///
    /// ```
    /// use hyperbatch::{Class, RetryConfig};
    /// let r = RetryConfig::default().classify(|e| match e.status_code() {
    ///     Some(404) => Class::Fail,
    ///     _ => Class::Retry,
    /// });
    /// # let _ = r;
    /// ```
    pub fn classify(mut self, f: impl Fn(&TransportError) -> Class + Send + Sync + 'static) -> Self {
        self.classify = Some(Arc::new(f));
        self
    }

    /// The retry budget [`RetryBudget::default`].
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().budget(hyperbatch::RetryBudget::default());
    /// # let _ = r;
    /// ```
    pub fn budget(mut self, b: RetryBudget) -> Self {
        self.budget = Some(b);
        self
    }

    /// No retry budget: retries are limited by `max_attempts` alone (`budget: false`).
    ///
    /// ```
    /// let r = hyperbatch::RetryConfig::default().no_budget();
    /// # let _ = r;
    /// ```
    pub fn no_budget(mut self) -> Self {
        self.budget = None;
        self
    }
}

/// The per-key circuit breaker (JavaScript's `circuitBreaker`).
///
/// ```
/// let c = hyperbatch::CircuitBreaker::default();
/// assert_eq!((c.failure_threshold, c.reset), (5, std::time::Duration::from_secs(10)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitBreaker {
    /// Consecutive batch-level failures that open the circuit (default 5).
    pub failure_threshold: u32,
    /// How long it stays open before a probe may go (default 10 s).
    pub reset: Duration,
}

impl CircuitBreaker {
    /// Consecutive batch-level failures that open a key's circuit (`failureThreshold`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = hyperbatch::CircuitBreaker::default().failure_threshold(3).reset(Duration::from_secs(1));
    /// assert_eq!((c.failure_threshold, c.reset), (3, Duration::from_secs(1)));
    /// ```
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.failure_threshold = n;
        self
    }

    /// How long a key's circuit stays open before its probe may go (`resetMs`).
    ///
    /// ```
    /// let c = hyperbatch::CircuitBreaker::default().reset(std::time::Duration::from_millis(500));
    /// # let _ = c;
    /// ```
    pub fn reset(mut self, d: Duration) -> Self {
        self.reset = d;
        self
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        let d = engine::CircuitConfig::default();
        CircuitBreaker {
            failure_threshold: d.failure_threshold as u32,
            reset: Duration::from_secs_f64(d.reset_ms / 1000.0),
        }
    }
}

/// A key's circuit state, as `on_circuit_change` reports it.
///
/// ```
/// assert_ne!(hyperbatch::CircuitState::Open, hyperbatch::CircuitState::Closed);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Items of the key fail with `E_CIRCUIT_OPEN`.
    Open,
    /// The probe batch is out.
    HalfOpen,
}

/// What `on_circuit_change` sees.
///
/// ```
/// let b = hyperbatch::Batcher::<u32, u32>::builder().on_circuit_change(|info| {
///     if let Some(e) = info.error { eprintln!("{:?} opened: {e}", info.key) }
/// });
/// # let _ = b;
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct CircuitInfo<'a> {
    /// The key (`None` for the default queue).
    pub key: Option<&'a str>,
    /// Its new state.
    pub state: CircuitState,
    /// When it opened: the batch-level failure that opened it.
    pub error: Option<&'a super::Error>,
}

/// Per-item options of [`Batcher::add_with`](crate::Batcher::add_with) (JavaScript's `AddOptions`
/// but `signal`: dropping the future is the abort).
///
/// ```
/// use std::time::Duration;
/// use hyperbatch::{AddOptions, Instant};
/// let opts = AddOptions { key: Some("eu".into()), deadline: Some(Instant::now() + Duration::from_secs(1)), ..Default::default() };
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// The item's queue, instead of `key_of(item)`.
    pub key: Option<String>,
    /// The item's weight, instead of `weight_of(item)`.
    pub weight: Option<f64>,
    /// When the item fails with `E_DEADLINE` if it has not settled; its queue dispatches early
    /// enough for the call to start before it.
    pub deadline: Option<Instant>,
}

/// A value that names a queue (`key_of`, `dedupe_by`): strings and integers, compared by their
/// text; `None` means "no key" (the default queue, or `resolve_keys` when configured).
///
/// ```
/// use hyperbatch::IntoKey;
/// assert_eq!(42u32.into_key().as_deref(), Some("42"));
/// assert_eq!(None::<&str>.into_key(), None);
/// ```
pub trait IntoKey {
    /// The key's text, or `None` for no key.
    fn into_key(self) -> Option<String>;
}

impl IntoKey for String {
    fn into_key(self) -> Option<String> {
        Some(self)
    }
}

impl IntoKey for &str {
    fn into_key(self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl IntoKey for std::borrow::Cow<'_, str> {
    fn into_key(self) -> Option<String> {
        Some(self.into_owned())
    }
}

impl IntoKey for Arc<str> {
    fn into_key(self) -> Option<String> {
        Some((*self).to_owned())
    }
}

impl<K: IntoKey> IntoKey for Option<K> {
    fn into_key(self) -> Option<String> {
        self.and_then(IntoKey::into_key)
    }
}

macro_rules! int_keys {
    ($($t:ty)*) => {$(
        impl IntoKey for $t {
            fn into_key(self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
int_keys!(u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize char bool);
