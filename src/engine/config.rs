//! Options, their defaults and their ranges. The shell decodes JS options into [`Config`]
//! (names and types); [`Config::validate`] is the one place that says which values are allowed.

use core::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    Reject,
    Wait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorMode {
    Partial,
    FailFast,
    Atomic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    Full,
    Equal,
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetConfig {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig { max_tokens: 100.0, token_ratio: 0.1 }
    }
}

/// `budget: false` turns throttling off; an object (or nothing) keeps it on.
#[derive(Clone, Debug, PartialEq)]
pub enum BudgetOption {
    Enabled(bool),
    Config(BudgetConfig),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    pub max_attempts: f64,
    pub base_delay_ms: f64,
    pub max_delay_ms: f64,
    pub multiplier: f64,
    pub jitter: Jitter,
    pub max_retry_after_ms: f64,
    pub budget: BudgetOption,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3.0,
            base_delay_ms: 50.0,
            max_delay_ms: 5000.0,
            multiplier: 2.0,
            jitter: Jitter::Full,
            max_retry_after_ms: 60_000.0,
            budget: BudgetOption::Config(BudgetConfig::default()),
        }
    }
}

impl RetryConfig {
    pub fn budget(&self) -> Option<BudgetConfig> {
        match &self.budget {
            BudgetOption::Enabled(false) => None,
            BudgetOption::Enabled(true) => Some(BudgetConfig::default()),
            BudgetOption::Config(c) => Some(c.clone()),
        }
    }
}

/// `circuitBreaker`: per key, open after this many consecutive calls failed at batch level;
/// after `resetMs` the key's next batch goes alone as a probe (see `circuit.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitConfig {
    pub failure_threshold: f64,
    pub reset_ms: f64,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        CircuitConfig { failure_threshold: 5.0, reset_ms: 10_000.0 }
    }
}

/// Every engine option of the contract. Numbers are `f64` as they arrive from JS, so that a
/// negative or fractional count is a range error naming the option, not a decode failure.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub max_batch_size: f64,
    pub max_wait_ms: f64,
    pub max_batch_weight: Option<f64>,
    pub max_queued: f64,
    pub when_full: WhenFull,
    pub max_in_flight: f64,
    pub max_in_flight_per_key: Option<f64>,
    pub timeout_ms: Option<f64>,
    pub error_mode: ErrorMode,
    pub retry: RetryConfig,
    pub bisect: bool,
    /// `maxWaitMs` is a ceiling: a key with no call in flight sends at the end of the turn; one
    /// with calls in flight gathers until one of them ends (see `machine/due.rs`).
    pub adaptive: bool,
    /// `None`: no circuit breaker.
    pub circuit_breaker: Option<CircuitConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_batch_size: 100.0,
            max_wait_ms: 10.0,
            max_batch_weight: None,
            max_queued: 10_000.0,
            when_full: WhenFull::Reject,
            max_in_flight: 4.0,
            max_in_flight_per_key: None,
            timeout_ms: None,
            error_mode: ErrorMode::Partial,
            retry: RetryConfig::default(),
            bisect: true,
            adaptive: false,
            circuit_breaker: None,
        }
    }
}

/// A numeric option that `validate` checks. The wasm shell reports one by its number, and
/// core.js names it from the list the build generates from `path` (so the names stay out of
/// the .wasm: -0.3 KB gzip).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConfigOption {
    MaxBatchSize = 0,
    MaxWaitMs = 1,
    MaxBatchWeight = 2,
    MaxQueued = 3,
    MaxInFlight = 4,
    MaxInFlightPerKey = 5,
    TimeoutMs = 6,
    MaxAttempts = 7,
    BaseDelayMs = 8,
    MaxDelayMs = 9,
    Multiplier = 10,
    MaxRetryAfterMs = 11,
    MaxTokens = 12,
    TokenRatio = 13,
    FailureThreshold = 14,
    ResetMs = 15,
}

impl ConfigOption {
    /// Every option, by number.
    pub const ALL: [ConfigOption; 16] = [
        ConfigOption::MaxBatchSize,
        ConfigOption::MaxWaitMs,
        ConfigOption::MaxBatchWeight,
        ConfigOption::MaxQueued,
        ConfigOption::MaxInFlight,
        ConfigOption::MaxInFlightPerKey,
        ConfigOption::TimeoutMs,
        ConfigOption::MaxAttempts,
        ConfigOption::BaseDelayMs,
        ConfigOption::MaxDelayMs,
        ConfigOption::Multiplier,
        ConfigOption::MaxRetryAfterMs,
        ConfigOption::MaxTokens,
        ConfigOption::TokenRatio,
        ConfigOption::FailureThreshold,
        ConfigOption::ResetMs,
    ];

    /// Its dotted path in the options, e.g. `retry.maxAttempts`.
    pub fn path(self) -> &'static str {
        match self {
            ConfigOption::MaxBatchSize => "maxBatchSize",
            ConfigOption::MaxWaitMs => "maxWaitMs",
            ConfigOption::MaxBatchWeight => "maxBatchWeight",
            ConfigOption::MaxQueued => "maxQueued",
            ConfigOption::MaxInFlight => "maxInFlight",
            ConfigOption::MaxInFlightPerKey => "maxInFlightPerKey",
            ConfigOption::TimeoutMs => "timeoutMs",
            ConfigOption::MaxAttempts => "retry.maxAttempts",
            ConfigOption::BaseDelayMs => "retry.baseDelayMs",
            ConfigOption::MaxDelayMs => "retry.maxDelayMs",
            ConfigOption::Multiplier => "retry.multiplier",
            ConfigOption::MaxRetryAfterMs => "retry.maxRetryAfterMs",
            ConfigOption::MaxTokens => "retry.budget.maxTokens",
            ConfigOption::TokenRatio => "retry.budget.tokenRatio",
            ConfigOption::FailureThreshold => "circuitBreaker.failureThreshold",
            ConfigOption::ResetMs => "circuitBreaker.resetMs",
        }
    }
}

/// What a numeric option allows, in words (static text, so the wasm shell needs no number
/// formatting). Reported by number like `ConfigOption`, and named in core.js from the list the
/// build generates from `text` (-0.1 KB gzip of the .wasm and core.js together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Rule {
    BatchSize = 0,
    Delay = 1,
    Positive = 2,
    Count = 3,
    Timeout = 4,
    Attempts = 5,
    Multiplier = 6,
    AtLeastTokenRatio = 7,
    UpToMaxTokens = 8,
}

impl Rule {
    /// Every rule, by number.
    pub const ALL: [Rule; 9] = [
        Rule::BatchSize,
        Rule::Delay,
        Rule::Positive,
        Rule::Count,
        Rule::Timeout,
        Rule::Attempts,
        Rule::Multiplier,
        Rule::AtLeastTokenRatio,
        Rule::UpToMaxTokens,
    ];

    /// The rule in words, as the error message says it ("must be ...").
    pub fn text(self) -> &'static str {
        match self {
            Rule::BatchSize => "an integer from 1 to 100000",
            Rule::Delay => "a number from 0 to 2147483647 (ms)",
            Rule::Positive => "a finite number > 0",
            Rule::Count => "an integer from 1 to 4294967295",
            Rule::Timeout => "a number > 0 and <= 2147483647 (ms)",
            Rule::Attempts => "an integer from 1 to 1000",
            Rule::Multiplier => "a number from 1 to 1000",
            Rule::AtLeastTokenRatio => "a number >= tokenRatio (default 0.1)",
            Rule::UpToMaxTokens => "a number from 0 to maxTokens",
        }
    }
}

/// A value out of its range: the option, what it allows, and `value`, what was given.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    pub option: ConfigOption,
    pub rule: Rule,
    pub value: f64,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hyperbatch: option `{}` must be {}, got {}", self.option.path(), self.rule.text(), self.value)
    }
}

impl core::error::Error for ConfigError {}

/// Largest delay a host timer takes (setTimeout clamps above 2^31-1 ms).
pub const MAX_DELAY_MS: f64 = 2_147_483_647.0;

fn check(ok: bool, option: ConfigOption, rule: Rule, value: f64) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError { option, rule, value })
    }
}

// Out of line (as num_in): inlined at each of validate's checks, 430 B more of the .wasm.
#[inline(never)]
fn int_in(v: f64, lo: f64, hi: f64) -> bool {
    // Every bound is below 2^53, so the cast is exact for values in range (core has no `fract`).
    v >= lo && v <= hi && v == v as i64 as f64
}

#[inline(never)]
fn num_in(v: f64, lo: f64, hi: f64) -> bool {
    v.is_finite() && v >= lo && v <= hi
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        use ConfigOption::*;
        const U32: f64 = u32::MAX as f64;
        let v = self.max_batch_size;
        check(int_in(v, 1.0, 100_000.0), MaxBatchSize, Rule::BatchSize, v)?;
        check(num_in(self.max_wait_ms, 0.0, MAX_DELAY_MS), MaxWaitMs, Rule::Delay, self.max_wait_ms)?;
        if let Some(w) = self.max_batch_weight {
            check(w.is_finite() && w > 0.0, MaxBatchWeight, Rule::Positive, w)?;
        }
        check(int_in(self.max_queued, 1.0, U32), MaxQueued, Rule::Count, self.max_queued)?;
        check(int_in(self.max_in_flight, 1.0, U32), MaxInFlight, Rule::Count, self.max_in_flight)?;
        if let Some(n) = self.max_in_flight_per_key {
            check(int_in(n, 1.0, U32), MaxInFlightPerKey, Rule::Count, n)?;
        }
        if let Some(t) = self.timeout_ms {
            check(t > 0.0 && t <= MAX_DELAY_MS, TimeoutMs, Rule::Timeout, t)?;
        }
        let r = &self.retry;
        check(int_in(r.max_attempts, 1.0, 1000.0), MaxAttempts, Rule::Attempts, r.max_attempts)?;
        check(num_in(r.base_delay_ms, 0.0, MAX_DELAY_MS), BaseDelayMs, Rule::Delay, r.base_delay_ms)?;
        check(num_in(r.max_delay_ms, 0.0, MAX_DELAY_MS), MaxDelayMs, Rule::Delay, r.max_delay_ms)?;
        check(num_in(r.multiplier, 1.0, 1000.0), Multiplier, Rule::Multiplier, r.multiplier)?;
        check(num_in(r.max_retry_after_ms, 0.0, MAX_DELAY_MS), MaxRetryAfterMs, Rule::Delay, r.max_retry_after_ms)?;
        if let Some(b) = r.budget() {
            let t = b.max_tokens;
            check(t.is_finite() && t > 0.0, MaxTokens, Rule::Positive, t)?;
            let ratio = b.token_ratio;
            // Both >= 0 but ratio > maxTokens: blame the one set off its default (maxTokens: 0.05 alone is the culprit).
            if ratio == BudgetConfig::default().token_ratio {
                check(ratio <= t, MaxTokens, Rule::AtLeastTokenRatio, t)?;
            }
            check(num_in(ratio, 0.0, t), TokenRatio, Rule::UpToMaxTokens, ratio)?;
        }
        if let Some(c) = &self.circuit_breaker {
            let t = c.failure_threshold;
            check(int_in(t, 1.0, U32), FailureThreshold, Rule::Count, t)?;
            check(num_in(c.reset_ms, 0.0, MAX_DELAY_MS), ResetMs, Rule::Delay, c.reset_ms)?;
        }
        Ok(())
    }

    pub(crate) fn batch_size(&self) -> usize {
        self.max_batch_size as usize
    }
    pub(crate) fn queued_cap(&self) -> usize {
        self.max_queued as usize
    }
    pub(crate) fn in_flight_cap(&self) -> usize {
        self.max_in_flight as usize
    }
    pub(crate) fn per_key_cap(&self) -> usize {
        self.max_in_flight_per_key.map_or(usize::MAX, |n| n as usize)
    }
    pub(crate) fn max_attempts(&self) -> u32 {
        self.retry.max_attempts as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn range_errors_name_the_option() {
        let c = Config { max_batch_size: 0.0, ..Config::default() };
        let e = c.validate().unwrap_err();
        assert_eq!((e.option, e.value), (ConfigOption::MaxBatchSize, 0.0));
        assert_eq!(e.to_string(), "hyperbatch: option `maxBatchSize` must be an integer from 1 to 100000, got 0");
        let mut c = Config::default();
        c.retry.max_attempts = 1.5;
        assert_eq!(c.validate().unwrap_err().option.path(), "retry.maxAttempts");
        let mut c = Config::default();
        c.retry.budget = BudgetOption::Config(BudgetConfig { max_tokens: -1.0, token_ratio: 0.1 });
        assert_eq!(c.validate().unwrap_err().option.path(), "retry.budget.maxTokens");
        c.retry.budget = BudgetOption::Config(BudgetConfig { max_tokens: 0.05, token_ratio: 0.1 });
        assert_eq!(
            c.validate().unwrap_err().option.path(),
            "retry.budget.maxTokens",
            "the default ratio is not the culprit"
        );
        let c = Config { max_wait_ms: f64::NAN, ..Config::default() };
        assert_eq!(c.validate().unwrap_err().option.path(), "maxWaitMs");
        let c = Config { timeout_ms: Some(0.0), ..Config::default() };
        assert_eq!(c.validate().unwrap_err().option.path(), "timeoutMs");
        let breaker = |failure_threshold, reset_ms| Config {
            circuit_breaker: Some(CircuitConfig { failure_threshold, reset_ms }),
            ..Config::default()
        };
        assert_eq!(breaker(0.0, 10.0).validate().unwrap_err().option.path(), "circuitBreaker.failureThreshold");
        assert_eq!(breaker(2.5, 10.0).validate().unwrap_err().option.path(), "circuitBreaker.failureThreshold");
        assert_eq!(breaker(5.0, -1.0).validate().unwrap_err().option.path(), "circuitBreaker.resetMs");
        assert_eq!(breaker(5.0, f64::NAN).validate().unwrap_err().option.path(), "circuitBreaker.resetMs");
        breaker(1.0, 0.0).validate().unwrap();
    }

    #[test]
    fn budget_false_disables() {
        let mut r = RetryConfig::default();
        assert!(r.budget().is_some());
        r.budget = BudgetOption::Enabled(false);
        assert!(r.budget().is_none());
    }

    #[test]
    fn options_are_listed_by_number_with_distinct_paths() {
        for (i, o) in ConfigOption::ALL.into_iter().enumerate() {
            assert_eq!(o as usize, i, "{o:?}");
            assert_eq!(ConfigOption::ALL.iter().filter(|p| p.path() == o.path()).count(), 1, "{o:?}");
        }
    }

    #[test]
    fn rules_are_listed_by_number() {
        for (i, r) in Rule::ALL.into_iter().enumerate() {
            assert_eq!(r as usize, i, "{r:?}");
        }
    }

    #[test]
    fn option_names_and_rules_are_ascii() {
        // Every option path and rule is a literal in this file (`ConfigOption::path`, `Rule::text`); kept ASCII.
        assert!(include_str!("config.rs").is_ascii(), "src/engine/config.rs holds a non-ASCII character");
    }
}
