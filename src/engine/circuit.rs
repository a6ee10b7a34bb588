//! A key's circuit breaker (the contract's `circuitBreaker`), as a pure state machine: it
//! counts the key's consecutive calls that failed at batch level, opens at the threshold, lets
//! the key's first batch after `resetMs` go alone as a probe, and closes or opens again on the
//! probe's verdict. No timer runs for the reset: the probe is simply the next batch sent once
//! `resetMs` has passed. The engine (`machine/circuit.rs`) applies its answers to the key's
//! items; this file knows nothing of items.

use super::config::CircuitConfig;
use super::BatchId;

/// What `onCircuitChange` reports. The discriminants are the shell's wire codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CircuitState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
enum Phase {
    #[default]
    Closed,
    /// Adds are refused until `until`; from then on the key's next batch is the probe.
    Open { until: f64 },
    /// The probe is out (`Some`), or it ended with no verdict (every item aborted: our own
    /// doing) and the next batch is the probe again.
    HalfOpen { probe: Option<BatchId> },
}

/// One key's breaker. `Default` is closed with no failure counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Circuit {
    failures: u32,
    phase: Phase,
}

impl Circuit {
    /// Closed with nothing counted: the key holds no circuit state worth keeping.
    pub fn is_default(&self) -> bool {
        *self == Circuit::default()
    }

    /// Open (whether or not `resetMs` has passed): counted in `stats().circuitsOpen`.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Adds and waiting items of the key are rejected (E_CIRCUIT_OPEN) at `now`.
    pub fn refuses(&self, now: f64) -> bool {
        matches!(self.phase, Phase::Open { until } if now < until)
    }

    /// Whether the key may start a call now, with `in_flight` of its calls out. A probe goes
    /// alone: no other call of the key in flight, and nothing else while it is out.
    pub fn may_send(&self, in_flight: usize, now: f64) -> bool {
        match self.phase {
            Phase::Closed => true,
            Phase::Open { until } => now >= until && in_flight == 0,
            Phase::HalfOpen { probe } => probe.is_none() && in_flight == 0,
        }
    }

    /// The key sent `batch` (allowed by [`Circuit::may_send`]). Returns the new state when it
    /// changed: an open circuit whose reset passed is half-open from this moment.
    pub fn sent(&mut self, batch: BatchId) -> Option<CircuitState> {
        match self.phase {
            Phase::Closed => None,
            Phase::Open { .. } => {
                self.phase = Phase::HalfOpen { probe: Some(batch) };
                Some(CircuitState::HalfOpen)
            }
            Phase::HalfOpen { .. } => {
                self.phase = Phase::HalfOpen { probe: Some(batch) };
                None
            }
        }
    }

    /// A call of the key ended: `Some(true)` it returned an array (of the right length),
    /// `Some(false)` it failed at batch level (a wrong-shaped result too), `None` no verdict
    /// (abandoned: every item was aborted). Returns the new state when it changed.
    pub fn call_ended(
        &mut self,
        cfg: &CircuitConfig,
        batch: BatchId,
        ok: Option<bool>,
        now: f64,
    ) -> Option<CircuitState> {
        let probe = self.phase == Phase::HalfOpen { probe: Some(batch) };
        match ok {
            None => {
                if probe {
                    self.phase = Phase::HalfOpen { probe: None };
                }
                None
            }
            Some(true) => {
                self.failures = 0;
                probe.then(|| {
                    self.phase = Phase::Closed;
                    CircuitState::Closed
                })
            }
            Some(false) => {
                self.failures = self.failures.saturating_add(1);
                let opens = probe || (self.phase == Phase::Closed && f64::from(self.failures) >= cfg.failure_threshold);
                opens.then(|| {
                    self.phase = Phase::Open { until: now + cfg.reset_ms };
                    CircuitState::Open
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: CircuitConfig = CircuitConfig { failure_threshold: 3.0, reset_ms: 100.0 };

    #[test]
    fn opens_after_threshold_consecutive_failures_and_a_success_resets_the_count() {
        let mut c = Circuit::default();
        assert_eq!(c.call_ended(&CFG, 1, Some(false), 0.0), None);
        assert_eq!(c.call_ended(&CFG, 2, Some(false), 0.0), None);
        assert_eq!(c.call_ended(&CFG, 3, Some(true), 0.0), None, "a success resets the count");
        assert_eq!(c.failures, 0);
        assert_eq!(c.call_ended(&CFG, 4, Some(false), 0.0), None);
        assert_eq!(c.call_ended(&CFG, 5, Some(false), 0.0), None);
        assert_eq!(c.call_ended(&CFG, 6, None, 0.0), None, "no verdict counts nothing");
        assert_eq!(c.call_ended(&CFG, 7, Some(false), 50.0), Some(CircuitState::Open));
        assert!(c.is_open() && c.refuses(149.9) && !c.refuses(150.0));
        assert_eq!(c.call_ended(&CFG, 8, Some(false), 60.0), None, "already open: stays open");
        assert!(!c.refuses(150.0), "a later failure does not extend the reset");
    }

    #[test]
    fn the_probe_goes_alone_after_reset_and_decides() {
        let mut c = Circuit::default();
        for b in 0..3 {
            c.call_ended(&CFG, b, Some(false), 0.0);
        }
        assert!(!c.may_send(0, 99.0), "not before resetMs");
        assert!(!c.may_send(1, 100.0), "not while another call of the key is out");
        assert!(c.may_send(0, 100.0));
        assert_eq!(c.sent(10), Some(CircuitState::HalfOpen));
        assert!(!c.is_open() && !c.refuses(100.0));
        assert!(!c.may_send(1, 100.0) && !c.may_send(0, 100.0), "nothing else while the probe is out");
        assert_eq!(c.call_ended(&CFG, 10, Some(false), 120.0), Some(CircuitState::Open), "probe failed");
        assert!(c.refuses(219.0) && c.may_send(0, 220.0));
        c.sent(11);
        assert_eq!(c.call_ended(&CFG, 11, None, 230.0), None, "an abandoned probe has no verdict");
        assert!(c.may_send(0, 230.0));
        assert_eq!(c.sent(12), None, "still half-open: the next batch is the probe");
        assert_eq!(c.call_ended(&CFG, 12, Some(true), 240.0), Some(CircuitState::Closed));
        assert!(c.is_default() && c.may_send(5, 240.0));
    }
}
