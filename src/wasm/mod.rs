//! The wasm-bindgen shell around [`crate::engine::Engine`]. No policy lives here: it decodes
//! options, forwards numeric inputs, and encodes outputs into one `f64` buffer that the JS
//! side reads through a view on wasm memory (one boundary crossing per drain, not per item).
//! Promises, item values and the host timer stay in JS (`pkg-template/core.js`).

use js_sys::Float64Array;
use wasm_bindgen::prelude::*;

use crate::engine::{
    AddError, BudgetConfig, BudgetOption, Class, Config, Engine, ErrorCode, ErrorMode, Failure, FailureKind,
    InputError, ItemResult, Jitter, Outcome, Output, RetryConfig, WhenFull,
};

// Output tags, mirrored in pkg-template/core.js.
const TICK: f64 = 0.0;
const DISPATCH: f64 = 1.0;
const ROUTE: f64 = 2.0;
const SETTLE: f64 = 3.0;
const RELEASE: f64 = 4.0;
const TIMED_OUT: f64 = 5.0;
const BATCH_END: f64 = 6.0;
const ADMITTED: f64 = 7.0;
const KEY_RELEASED: f64 = 8.0;
const FLUSHED: f64 = 9.0;
const ABANDONED: f64 = 10.0;
const TURN_END: f64 = 11.0;
const SUCCEEDED: f64 = 12.0;

/// Most ids one `reserve` hands out: plain adds are handed over at least this often.
const RESERVE_MAX: usize = 1024;

fn opt(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Options arrive as numbers in the order of `PARAMS` in core.js (NaN: not given). Names and
/// types were checked in JS; the engine's `Config::validate` checks the values.
fn decode_config(p: &[f64]) -> Config {
    let at = |i: usize| p.get(i).copied().and_then(opt);
    let d = Config::default();
    let r = d.retry.clone();
    let budget = match at(16) {
        Some(0.0) => BudgetOption::Enabled(false),
        _ => {
            let b = BudgetConfig::default();
            BudgetOption::Config(BudgetConfig {
                max_tokens: at(17).unwrap_or(b.max_tokens),
                token_ratio: at(18).unwrap_or(b.token_ratio),
            })
        }
    };
    Config {
        max_batch_size: at(0).unwrap_or(d.max_batch_size),
        max_wait_ms: at(1).unwrap_or(d.max_wait_ms),
        max_batch_weight: at(2),
        max_queued: at(3).unwrap_or(d.max_queued),
        when_full: if at(4) == Some(1.0) { WhenFull::Wait } else { WhenFull::Reject },
        max_in_flight: at(5).unwrap_or(d.max_in_flight),
        max_in_flight_per_key: at(6),
        timeout_ms: at(7),
        error_mode: match at(8) {
            Some(1.0) => ErrorMode::FailFast,
            Some(2.0) => ErrorMode::Atomic,
            _ => ErrorMode::Partial,
        },
        bisect: at(9) != Some(0.0),
        adaptive: at(19) == Some(1.0),
        retry: RetryConfig {
            max_attempts: at(10).unwrap_or(r.max_attempts),
            base_delay_ms: at(11).unwrap_or(r.base_delay_ms),
            max_delay_ms: at(12).unwrap_or(r.max_delay_ms),
            multiplier: at(13).unwrap_or(r.multiplier),
            jitter: match at(14) {
                Some(1.0) => Jitter::Equal,
                Some(2.0) => Jitter::None,
                _ => Jitter::Full,
            },
            max_retry_after_ms: at(15).unwrap_or(r.max_retry_after_ms),
            budget,
        },
    }
}

/// The module's memory: JS reads the output buffer through a view on it.
#[wasm_bindgen]
pub fn linear_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The engine plus its output buffer.
#[wasm_bindgen]
pub struct Core {
    engine: Engine,
    buf: Vec<f64>,
    /// The ids of the last `reserve`, read by JS through `ids_ptr`.
    ids: Vec<u32>,
    /// `ItemResult::Ok` as many times as the largest call `complete_ok` was given.
    oks: Vec<ItemResult>,
}

#[wasm_bindgen]
impl Core {
    /// `params`: the options as numbers (see `decode_config`); `seed`: jitter seed. A value out
    /// of range throws the string "option\trule" (core.js makes the RangeError).
    #[wasm_bindgen(constructor)]
    pub fn new(params: &[f64], seed: f64) -> Result<Core, JsValue> {
        match Engine::new(decode_config(params), seed as u64) {
            // The buffer grows to the largest drain: a short-lived engine does not hold 8 KiB it never used.
            Ok(engine) => Ok(Core { engine, buf: Vec::new(), ids: Vec::new(), oks: Vec::new() }),
            Err(e) => {
                let mut msg = String::from(e.option);
                msg.push('\t');
                msg.push_str(e.rule);
                Err(JsValue::from_str(&msg))
            }
        }
    }

    pub fn intern(&mut self, name: &str) -> u32 {
        self.engine.intern(name)
    }

    /// `≥ 0`: `id << 1 | must_drain` (output pending or the wake-up moved earlier); `< 0`: the rejection (see `add_error`).
    pub fn add(&mut self, key: u32, weight: f64, deadline: f64, now: f64) -> i32 {
        let r = self.engine.add(key, weight, opt(deadline), None, now);
        self.add_result(r.map(|(id, _)| id))
    }

    pub fn add_dedupe(&mut self, key: u32, weight: f64, deadline: f64, dedupe: &str, now: f64) -> i32 {
        let r = self.engine.add(key, weight, opt(deadline), Some(dedupe), now);
        self.add_result(r.map(|(id, _)| id))
    }

    /// Plain adds recorded by JS: the first `n` reserved ids join the default queue (see
    /// `Engine::add_reserved`). `0`/`1`: accepted (`1`: output pending); `< 0`: as `add`.
    pub fn add_reserved(&mut self, n: u32, now: f64) -> i32 {
        let r = self.engine.add_reserved(n as usize, now);
        self.add_result(r.map(|()| 0))
    }

    /// Ids for the next plain adds (see `Engine::reserve_plain`), at `ids_ptr`; returns how many.
    pub fn reserve(&mut self) -> u32 {
        let ids = self.engine.reserve_plain(RESERVE_MAX);
        self.ids.clear();
        self.ids.extend_from_slice(ids);
        self.ids.len() as u32
    }

    /// Pointer to the ids of the last `reserve` (valid until the next call).
    pub fn ids_ptr(&self) -> *const u32 {
        self.ids.as_ptr()
    }

    fn add_result(&self, r: Result<u32, AddError>) -> i32 {
        match r {
            Ok(id) => ((id as i32) << 1) | i32::from(self.engine_has_output()),
            Err(AddError::Rejected(ErrorCode::Closed)) => -1,
            Err(AddError::Rejected(ErrorCode::Full)) => -2,
            Err(AddError::Rejected(ErrorCode::TooLarge)) => -3,
            Err(AddError::Rejected(ErrorCode::Deadline)) => -4,
            Err(AddError::Rejected(_)) => -9,
            Err(AddError::Invalid(InputError::InvalidWeight(_))) => -10,
            Err(AddError::Invalid(InputError::InvalidDeadline(_))) => -11,
            Err(AddError::Invalid(_)) => -12,
        }
    }

    fn engine_has_output(&self) -> bool {
        self.engine.needs_poll()
    }

    /// Abort an item; false when it has already settled.
    pub fn cancel(&mut self, id: u32, now: f64) -> bool {
        self.engine.cancel(id, now).is_ok()
    }

    pub fn handle_time(&mut self, now: f64) {
        self.engine.handle_time(now);
    }

    pub fn flush(&mut self, now: f64) -> f64 {
        self.engine.flush(now) as f64
    }

    pub fn close(&mut self, now: f64) -> f64 {
        self.engine.close(now) as f64
    }

    /// Every entry succeeded. False: the batch is no longer in flight (a late answer).
    pub fn complete_ok(&mut self, batch: f64, n: u32, now: f64) -> bool {
        let n = n as usize;
        if self.oks.len() < n {
            self.oks.resize(n, ItemResult::Ok);
        }
        self.engine.complete(batch as u64, &self.oks[..n], now).is_ok()
    }

    /// `codes[i]`: 0 ok, 1 error, 2 retryable error (`retry_after[i]`, NaN for none).
    pub fn complete(&mut self, batch: f64, codes: &[u8], retry_after: &[f64], now: f64) -> bool {
        let results: Vec<ItemResult> = codes
            .iter()
            .zip(retry_after)
            .map(|(&c, &ra)| match c {
                0 => ItemResult::Ok,
                c => ItemResult::Err { retryable: c == 2, retry_after_ms: opt(ra) },
            })
            .collect();
        self.engine.complete(batch as u64, &results, now).is_ok()
    }

    /// `kind`: 0 thrown, 1 timeout, 2 result shape; `retryable`: 0 unknown, 1 false, 2 true;
    /// `class`: 0 default, 1 retry, 2 bisect, 3 fail.
    #[allow(clippy::too_many_arguments)]
    pub fn fail(
        &mut self,
        batch: f64,
        kind: u8,
        retryable: u8,
        status: f64,
        retry_after: f64,
        class: u8,
        now: f64,
    ) -> bool {
        let failure = Failure {
            kind: match kind {
                1 => FailureKind::Timeout,
                2 => FailureKind::ResultShape,
                _ => FailureKind::Thrown,
            },
            retryable: match retryable {
                1 => Some(false),
                2 => Some(true),
                _ => None,
            },
            status: opt(status),
            retry_after_ms: opt(retry_after),
            class: match class {
                1 => Some(Class::Retry),
                2 => Some(Class::Bisect),
                3 => Some(Class::Fail),
                _ => None,
            },
        };
        self.engine.fail(batch as u64, failure, now).is_ok()
    }

    /// One key id per routed item; 0 where `resolveKeys` gave none.
    pub fn route_done(&mut self, route: f64, keys: &[u32], now: f64) -> bool {
        self.engine.route_done(route as u64, keys, now).is_ok()
    }

    pub fn route_failed(&mut self, route: f64, now: f64) {
        let _ = self.engine.route_failed(route as u64, now);
    }

    /// When to call `handle_time` next (epoch ms), NaN for never.
    pub fn next_wake(&mut self) -> f64 {
        self.engine.poll_timeout().unwrap_or(f64::NAN)
    }

    /// `[queued, inFlightBatches, inFlightItems, batches, items, succeeded, failed, retries,
    /// bisects, throttled]`.
    pub fn stats(&self) -> Float64Array {
        let s = self.engine.stats();
        let v = [
            s.queued,
            s.in_flight_batches,
            s.in_flight_items,
            s.batches,
            s.items,
            s.succeeded,
            s.failed,
            s.retries,
            s.bisects,
            s.throttled,
        ];
        let v: Vec<f64> = v.iter().map(|&n| n as f64).collect();
        Float64Array::from(&v[..])
    }

    /// Pointer to the output buffer filled by `drain` (valid until the next call).
    pub fn buf_ptr(&self) -> *const f64 {
        self.buf.as_ptr()
    }

    /// Encode every pending output into the buffer; returns its length in f64s.
    pub fn drain(&mut self) -> usize {
        self.buf.clear();
        while let Some(o) = self.engine.poll_output() {
            encode(&mut self.buf, o);
        }
        self.buf.len()
    }
}

fn encode(b: &mut Vec<f64>, o: Output) {
    match o {
        Output::Tick => b.push(TICK),
        Output::TurnEnd => b.push(TURN_END),
        Output::Dispatch(d) => {
            b.extend([DISPATCH, d.batch as f64, d.key as f64, d.attempt as f64]);
            b.extend([d.deadline.unwrap_or(f64::NAN), d.weight, d.items.len() as f64]);
            b.extend(d.items.iter().map(|&i| i as f64));
        }
        Output::Route { route, items } => {
            b.extend([ROUTE, route as f64, items.len() as f64]);
            b.extend(items.iter().map(|&i| i as f64));
        }
        Output::Settle { item, outcome, release } => {
            let (kind, arg) = match outcome {
                Outcome::Ok { index } => (0, index),
                Outcome::ItemError { index } => (1, index),
                Outcome::Transport { attempts } => (2, attempts),
                Outcome::BatchError => (3, 0),
                Outcome::FailFast { cause } => (4, cause),
                Outcome::Atomic { cause } => (5, cause),
                Outcome::Code(code) => (6, code as u32),
            };
            b.extend([SETTLE, item as f64, kind as f64, arg as f64, f64::from(u8::from(release))]);
        }
        Output::Succeeded { batch } => b.extend([SUCCEEDED, batch as f64]),
        Output::Release { item } => b.extend([RELEASE, item as f64]),
        Output::CallTimedOut { batch } => b.extend([TIMED_OUT, batch as f64]),
        Output::Abandoned { batch } => b.extend([ABANDONED, batch as f64]),
        Output::BatchEnd(e) => {
            b.extend([BATCH_END, e.batch as f64, e.key as f64, e.size as f64, e.weight, e.attempt as f64]);
            b.extend([e.duration_ms, e.succeeded as f64, e.failed as f64, f64::from(u8::from(e.batch_error))]);
        }
        Output::Admitted { item } => b.extend([ADMITTED, item as f64]),
        Output::KeyReleased { key } => b.extend([KEY_RELEASED, key as f64]),
        Output::Flushed { flush } => b.extend([FLUSHED, flush as f64]),
    }
}
