//! Retry policy: classification of batch-level failures, exponential backoff with jitter
//! (AWS SDK v3 "full"/"equal" jitter), and the seedable PRNG that draws the jitter.

use super::config::{Jitter, RetryConfig};

/// What to do with a batch-level failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Retry,
    Bisect,
    Fail,
}

/// Where a batch-level failure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The transport threw or rejected.
    Thrown,
    /// The call outlived `timeoutMs` (E_TIMEOUT).
    Timeout,
    /// The transport's result was not an array of the right length (E_RESULT_SHAPE).
    ResultShape,
}

/// The facts the shell reads off a batch-level error; the engine decides.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Failure {
    pub kind: FailureKind,
    /// `err.retryable`, when it is a boolean.
    pub retryable: Option<bool>,
    /// `err.status`, when it is a number.
    pub status: Option<f64>,
    /// `err.retryAfterMs` or a `Retry-After` header, in ms.
    pub retry_after_ms: Option<f64>,
    /// The user's `classify(err)`, when one is configured.
    pub class: Option<Class>,
}

impl Failure {
    pub fn thrown() -> Self {
        Failure { kind: FailureKind::Thrown, retryable: None, status: None, retry_after_ms: None, class: None }
    }
    pub fn of_kind(kind: FailureKind) -> Self {
        Failure { kind, ..Failure::thrown() }
    }

    /// The contract's default `classify`: caller mistakes bisect, shape errors fail,
    /// everything else (network, 408, 429, 5xx, timeouts) retries.
    pub fn default_class(&self) -> Class {
        if self.kind == FailureKind::ResultShape {
            return Class::Fail;
        }
        let client_error = matches!(self.status, Some(s) if s == 400.0 || s == 413.0 || s == 422.0);
        if self.retryable == Some(false) || client_error {
            Class::Bisect
        } else {
            Class::Retry
        }
    }

    pub fn class(&self) -> Class {
        self.class.unwrap_or_else(|| self.default_class())
    }
}

/// SplitMix64: tiny, fast, and exactly replayable from a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `base^n` by squaring, as compiler-rt's `__powidf2` computes `f64::powi` (which core lacks).
fn powi(mut base: f64, mut n: u32) -> f64 {
    let mut r = 1.0;
    loop {
        if n & 1 == 1 {
            r *= base;
        }
        n /= 2;
        if n == 0 {
            return r;
        }
        base *= base;
    }
}

/// The delay before attempt k+1, after the k-th failure: min(maxDelayMs, base · mult^(k−1)),
/// jittered; a retry-after hint is a floor, itself clamped to `maxRetryAfterMs`.
pub fn backoff_delay(cfg: &RetryConfig, failed_attempt: u32, retry_after_ms: Option<f64>, rng: &mut Rng) -> f64 {
    let exp = powi(cfg.multiplier, failed_attempt.saturating_sub(1).min(1024));
    // 0 · ∞ (the power overflows, 1000^103) is NaN, and NaN.min(max) is max: max(0) makes it 0.
    let capped = (cfg.base_delay_ms * exp).max(0.0).min(cfg.max_delay_ms);
    let jittered = match cfg.jitter {
        Jitter::None => capped,
        Jitter::Full => capped * rng.next_f64(),
        Jitter::Equal => capped / 2.0 + capped / 2.0 * rng.next_f64(),
    };
    let floor = retry_after_ms.filter(|h| *h > 0.0).map_or(0.0, |h| h.min(cfg.max_retry_after_ms));
    jittered.max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(jitter: Jitter) -> RetryConfig {
        RetryConfig { jitter, ..RetryConfig::default() }
    }

    #[test]
    fn exponential_and_capped() {
        let mut rng = Rng::new(1);
        let c = cfg(Jitter::None);
        let d: Vec<f64> = (1..=9).map(|k| backoff_delay(&c, k, None, &mut rng)).collect();
        assert_eq!(d, vec![50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0, 5000.0]);
    }

    #[test]
    fn no_base_is_no_delay_even_where_the_power_overflows() {
        let mut rng = Rng::new(1);
        let c = RetryConfig { base_delay_ms: 0.0, multiplier: 1000.0, ..cfg(Jitter::None) };
        for k in [1, 103, 104, 1000] {
            assert_eq!(backoff_delay(&c, k, None, &mut rng), 0.0, "attempt {k}");
        }
    }

    #[test]
    fn jitter_bounds() {
        let mut rng = Rng::new(7);
        for k in 1..6 {
            let cap = 50.0 * 2f64.powi(k - 1);
            let f = backoff_delay(&cfg(Jitter::Full), k as u32, None, &mut rng);
            assert!((0.0..=cap).contains(&f));
            let e = backoff_delay(&cfg(Jitter::Equal), k as u32, None, &mut rng);
            assert!((cap / 2.0..=cap).contains(&e));
        }
    }

    #[test]
    fn retry_after_is_a_clamped_floor() {
        let mut rng = Rng::new(1);
        let c = RetryConfig { max_retry_after_ms: 1000.0, ..cfg(Jitter::None) };
        assert_eq!(backoff_delay(&c, 1, Some(700.0), &mut rng), 700.0);
        assert_eq!(backoff_delay(&c, 1, Some(90_000.0), &mut rng), 1000.0);
        assert_eq!(backoff_delay(&c, 1, Some(10.0), &mut rng), 50.0);
        assert_eq!(backoff_delay(&c, 1, Some(f64::NAN), &mut rng), 50.0);
        // Infinite is huge: clamped like any hint above the cap, not ignored.
        assert_eq!(backoff_delay(&c, 1, Some(f64::INFINITY), &mut rng), 1000.0);
        assert_eq!(backoff_delay(&c, 1, Some(f64::NEG_INFINITY), &mut rng), 50.0);
    }

    #[test]
    fn default_classification() {
        let mut f = Failure::thrown();
        assert_eq!(f.class(), Class::Retry);
        f.status = Some(503.0);
        assert_eq!(f.class(), Class::Retry);
        f.status = Some(429.0);
        assert_eq!(f.class(), Class::Retry);
        for s in [400.0, 413.0, 422.0] {
            f.status = Some(s);
            assert_eq!(f.class(), Class::Bisect);
        }
        let f = Failure { retryable: Some(false), ..Failure::thrown() };
        assert_eq!(f.class(), Class::Bisect);
        assert_eq!(Failure::of_kind(FailureKind::ResultShape).class(), Class::Fail);
        assert_eq!(Failure::of_kind(FailureKind::Timeout).class(), Class::Retry);
        let f = Failure { class: Some(Class::Fail), ..Failure::thrown() };
        assert_eq!(f.class(), Class::Fail);
    }

    #[test]
    fn rng_replays() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..4).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn powi_matches_std_bit_for_bit() {
        for base in [1.0, 1.5, 2.0, 2.5, 3.0, 10.0, 0.1, 1e-3, 7.77] {
            for n in 0..=1024u32 {
                assert_eq!(powi(base, n).to_bits(), base.powi(n as i32).to_bits(), "{base}^{n}");
            }
        }
    }
}
