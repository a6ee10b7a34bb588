//! Options, their defaults and their ranges. The shell decodes JS options straight into
//! [`Config`]; [`Config::validate`] is the one place that says what is allowed.

use serde::Deserialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    Reject,
    Wait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMode {
    Partial,
    FailFast,
    Atomic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    Full,
    Equal,
    None,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct BudgetConfig {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            max_tokens: 100.0,
            token_ratio: 0.1,
        }
    }
}

/// `budget: false` turns throttling off; an object (or nothing) keeps it on.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum BudgetOption {
    Enabled(bool),
    Config(BudgetConfig),
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
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

/// Every engine option of the contract. Numbers are `f64` as they arrive from JS, so that a
/// negative or fractional count is a range error naming the option, not a decode failure.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
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
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// Wrong type or unknown name (JS `TypeError`).
    Type,
    /// Right type, value out of range (JS `RangeError`).
    Range,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ConfigErrorKind,
    /// Dotted option path, e.g. `retry.maxAttempts`.
    pub option: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hyperbatch: option `{}` {}", self.option, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Largest delay a host timer takes (setTimeout clamps above 2^31−1 ms).
pub const MAX_DELAY_MS: f64 = 2_147_483_647.0;

fn range(option: &str, message: String) -> ConfigError {
    ConfigError {
        kind: ConfigErrorKind::Range,
        option: option.to_string(),
        message,
    }
}

fn int_in(option: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v.fract() == 0.0 && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(range(
            option,
            format!("must be an integer in {lo}..={hi}, got {v}"),
        ))
    }
}

fn num_in(option: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(range(
            option,
            format!("must be a number in {lo}..={hi}, got {v}"),
        ))
    }
}

fn positive(option: &str, v: f64, hi: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 && v <= hi {
        Ok(())
    } else {
        Err(range(
            option,
            format!("must be a number > 0 and <= {hi}, got {v}"),
        ))
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        const U32: f64 = u32::MAX as f64;
        int_in("maxBatchSize", self.max_batch_size, 1.0, 100_000.0)?;
        num_in("maxWaitMs", self.max_wait_ms, 0.0, MAX_DELAY_MS)?;
        if let Some(w) = self.max_batch_weight {
            positive("maxBatchWeight", w, f64::MAX)?;
        }
        int_in("maxQueued", self.max_queued, 1.0, U32)?;
        int_in("maxInFlight", self.max_in_flight, 1.0, U32)?;
        if let Some(n) = self.max_in_flight_per_key {
            int_in("maxInFlightPerKey", n, 1.0, U32)?;
        }
        if let Some(t) = self.timeout_ms {
            positive("timeoutMs", t, MAX_DELAY_MS)?;
        }
        let r = &self.retry;
        int_in("retry.maxAttempts", r.max_attempts, 1.0, 1000.0)?;
        num_in("retry.baseDelayMs", r.base_delay_ms, 0.0, MAX_DELAY_MS)?;
        num_in("retry.maxDelayMs", r.max_delay_ms, 0.0, MAX_DELAY_MS)?;
        num_in("retry.multiplier", r.multiplier, 1.0, 1000.0)?;
        num_in(
            "retry.maxRetryAfterMs",
            r.max_retry_after_ms,
            0.0,
            MAX_DELAY_MS,
        )?;
        if let Some(b) = r.budget() {
            positive("retry.budget.maxTokens", b.max_tokens, 1e9)?;
            num_in("retry.budget.tokenRatio", b.token_ratio, 0.0, b.max_tokens)?;
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
        self.max_in_flight_per_key
            .map_or(usize::MAX, |n| n as usize)
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
        let c = Config {
            max_batch_size: 0.0,
            ..Config::default()
        };
        let e = c.validate().unwrap_err();
        assert_eq!(
            (e.kind, e.option.as_str()),
            (ConfigErrorKind::Range, "maxBatchSize")
        );
        let mut c = Config::default();
        c.retry.max_attempts = 1.5;
        assert_eq!(c.validate().unwrap_err().option, "retry.maxAttempts");
        let mut c = Config::default();
        c.retry.budget = BudgetOption::Config(BudgetConfig {
            max_tokens: -1.0,
            token_ratio: 0.1,
        });
        assert_eq!(c.validate().unwrap_err().option, "retry.budget.maxTokens");
        let c = Config {
            max_wait_ms: f64::NAN,
            ..Config::default()
        };
        assert_eq!(c.validate().unwrap_err().option, "maxWaitMs");
        let c = Config {
            max_batch_size: 100_001.0,
            ..Config::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("maxBatchSize"));
    }

    #[test]
    fn budget_false_disables() {
        let mut r = RetryConfig::default();
        assert!(r.budget().is_some());
        r.budget = BudgetOption::Enabled(false);
        assert!(r.budget().is_none());
    }
}
