//! Retry throttling as in gRPC proposal A6: failures cost a token, successes refund
//! `tokenRatio`, and retries are allowed only while tokens > maxTokens / 2.

use super::config::BudgetConfig;

#[derive(Clone, Debug)]
pub struct Budget {
    cfg: Option<BudgetConfig>,
    tokens: f64,
}

impl Budget {
    pub fn new(cfg: Option<BudgetConfig>) -> Self {
        let tokens = cfg.as_ref().map_or(0.0, |c| c.max_tokens);
        Budget { cfg, tokens }
    }
    pub fn on_failure(&mut self) {
        if self.cfg.is_some() {
            self.tokens = (self.tokens - 1.0).max(0.0);
        }
    }
    pub fn on_success(&mut self) {
        if let Some(c) = &self.cfg {
            self.tokens = (self.tokens + c.token_ratio).min(c.max_tokens);
        }
    }
    pub fn allows_retry(&self) -> bool {
        self.cfg.as_ref().is_none_or(|c| self.tokens > c.max_tokens / 2.0)
    }
    pub fn tokens(&self) -> f64 {
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_below_half_and_recovers() {
        let mut b = Budget::new(Some(BudgetConfig { max_tokens: 10.0, token_ratio: 0.5 }));
        for _ in 0..4 {
            b.on_failure();
        }
        assert!(b.allows_retry()); // 6 > 5
        b.on_failure();
        assert!(!b.allows_retry()); // 5 is not > 5
        b.on_success();
        assert!(b.allows_retry()); // 5.5
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.tokens(), 10.0);
    }

    #[test]
    fn disabled_always_allows() {
        let mut b = Budget::new(None);
        for _ in 0..1000 {
            b.on_failure();
        }
        assert!(b.allows_retry());
    }
}
