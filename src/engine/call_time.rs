//! A key's running estimate of how long its transport calls take. It sets the lead of
//! deadline-aware dispatch: a queue holding an item with a deadline dispatches at the latest at
//! deadline − lead, so the call starts before the deadline although host timers fire late.

use super::str_map::StrMap;
use crate::prelude::*;

/// The lead is never below this (and is this before any call of the key has ended): Node and
/// browser timers fire 1–5 ms late.
pub const MIN_LEAD_MS: f64 = 10.0;

/// Weight of the newest call in the moving average (an EWMA, like TCP's smoothed RTT, but
/// quicker to follow a change).
const NEWEST_WEIGHT: f64 = 0.25;

/// Estimates of keys whose ids were released, kept by name so that a key coming back with its
/// traffic keeps its lead. Bounded: past this many names the store starts over.
const RETIRED_CAP: usize = 1024;

/// The running estimate for one key.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CallTime {
    mean_ms: Option<f64>,
}

impl CallTime {
    /// A call of this key ended after `duration_ms`. Returns whether the lead grew (queued
    /// deadlines must then be re-armed earlier).
    pub fn record(&mut self, duration_ms: f64) -> bool {
        if !duration_ms.is_finite() {
            return false;
        }
        let sample = duration_ms.max(0.0);
        let before = self.lead_ms();
        self.mean_ms = Some(match self.mean_ms {
            None => sample,
            Some(mean) => mean + NEWEST_WEIGHT * (sample - mean),
        });
        self.lead_ms() > before
    }

    /// How long before an item's deadline its queue must dispatch.
    pub fn lead_ms(&self) -> f64 {
        self.mean_ms.map_or(MIN_LEAD_MS, |m| m.max(MIN_LEAD_MS))
    }
}

/// Estimates of released keys, by name.
#[derive(Debug, Default)]
pub struct RetiredCallTimes {
    /// Name → index in `times`: the map type the engine already has for key names.
    by_name: StrMap,
    times: Vec<CallTime>,
    /// Slots of `times` whose name was taken.
    free: Vec<u32>,
}

impl RetiredCallTimes {
    /// Keep the estimate of a key whose id is being released. Only one above the floor is
    /// worth keeping: below it the lead is the floor anyway, and keys come and go with their
    /// traffic (one allocation per release would show on the hot path).
    pub fn keep(&mut self, name: &str, time: CallTime) {
        if time.lead_ms() <= MIN_LEAD_MS {
            return;
        }
        if self.by_name.len() >= RETIRED_CAP {
            self.by_name.clear();
            self.times.clear();
            self.free.clear();
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.times[i as usize] = time;
                i
            }
            None => {
                self.times.push(time);
                (self.times.len() - 1) as u32
            }
        };
        if let Some(old) = self.by_name.insert(name.into(), i) {
            self.free.push(old);
        }
    }

    /// The estimate a key of this name had when its id was released, if any.
    pub fn take(&mut self, name: &str) -> CallTime {
        if self.by_name.is_empty() {
            return CallTime::default();
        }
        match self.by_name.remove(name) {
            Some(i) => {
                self.free.push(i);
                self.times[i as usize]
            }
            None => CallTime::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_is_ten_ms_until_a_call_ends_then_follows_the_moving_average() {
        let mut t = CallTime::default();
        assert_eq!(t.lead_ms(), MIN_LEAD_MS);
        assert!(t.record(200.0), "the first call sets the estimate");
        assert_eq!(t.lead_ms(), 200.0);
        assert!(!t.record(100.0));
        assert_eq!(t.lead_ms(), 175.0, "moves a quarter of the way to the newest call");
        for _ in 0..50 {
            t.record(1.0);
        }
        assert_eq!(t.lead_ms(), MIN_LEAD_MS, "never below the floor");
        assert!(!t.record(f64::NAN) && !t.record(f64::INFINITY));
    }

    #[test]
    fn a_released_key_gets_its_estimate_back_by_name() {
        let mut store = RetiredCallTimes::default();
        let mut t = CallTime::default();
        t.record(300.0);
        store.keep("a", t);
        store.keep("b", CallTime::default());
        let mut fast = CallTime::default();
        fast.record(3.0);
        store.keep("c", fast);
        assert_eq!(store.take("a").lead_ms(), 300.0);
        assert_eq!(store.take("a"), CallTime::default(), "taken once");
        assert_eq!(store.take("b"), CallTime::default());
        assert_eq!(store.take("c"), CallTime::default(), "at the floor: nothing worth keeping");
    }

    #[test]
    fn slots_are_reused_and_the_store_starts_over_at_its_cap() {
        let mut store = RetiredCallTimes::default();
        let time = |ms| {
            let mut t = CallTime::default();
            t.record(ms);
            t
        };
        store.keep("a", time(100.0));
        store.keep("a", time(200.0));
        assert_eq!(store.take("a").lead_ms(), 200.0, "the newest estimate of a name");
        for n in 0..RETIRED_CAP {
            store.keep(&n.to_string(), time(50.0));
            assert_eq!(store.take(&n.to_string()).lead_ms(), 50.0);
        }
        assert!(store.times.len() <= 2, "taken slots are reused");
        for n in 0..RETIRED_CAP {
            store.keep(&n.to_string(), time(50.0));
        }
        store.keep("last", time(70.0));
        assert_eq!(store.take("0"), CallTime::default(), "full: the store started over");
        assert_eq!(store.take("last").lead_ms(), 70.0);
    }
}
