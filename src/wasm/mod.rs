//! The wasm shell around [`crate::engine::Engine`]. No policy lives here: it decodes
//! options, forwards numeric inputs, and encodes outputs into one `f64` buffer that the JS
//! side reads through a view on wasm memory (one boundary crossing per drain, not per item).
//! Promises, item values and the host timer stay in JS (`pkg-template/core.js`).
//!
//! Every export takes and returns numbers only (lists and strings are written at `input`), so
//! JS needs no generated glue: core.js instantiates the module itself and calls
//! `core_<method>(pointer, …)` (see `bind` there). The exports are plain `extern "C"` functions
//! (see `exports!`), not wasm-bindgen's: its wrappers around a `Rc<RefCell>` with a borrow check
//! and a throwing import cost about 3 KB of the .wasm, and a numbers-only shell that never calls
//! JS cannot be re-entered.

use crate::prelude::*;

use crate::engine::{
    AddError, BudgetConfig, BudgetOption, CircuitConfig, Class, Config, ConfigError, Engine, ErrorMode, Failure,
    FailureKind, ItemResult, Jitter, Outcome, Output, RetryConfig, WhenFull,
};

pub mod wire;

use wire::*;

fn opt(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Options arrive as numbers at their `wire::P_*` index (NaN or missing: not given). Names and
/// types were checked in JS; the engine's `Config::validate` checks the values.
// Out of line: `Core::new` decodes the defaults through it too (-180 B gzip against inlining it
// into `configure` and building `Config::default()` in `new`).
#[inline(never)]
fn decode_config(p: &[f64]) -> Config {
    // Copied into a fixed array first: each read is then a load, not a bounds check.
    let mut a = [f64::NAN; PARAM_COUNT];
    let n = p.len().min(PARAM_COUNT);
    a[..n].copy_from_slice(&p[..n]);
    let at = |i: usize| opt(a[i]);
    let d = Config::default();
    let r = d.retry.clone();
    let budget = match at(P_BUDGET) {
        Some(0.0) => BudgetOption::Enabled(false),
        _ => {
            let b = BudgetConfig::default();
            BudgetOption::Config(BudgetConfig {
                max_tokens: at(P_MAX_TOKENS).unwrap_or(b.max_tokens),
                token_ratio: at(P_TOKEN_RATIO).unwrap_or(b.token_ratio),
            })
        }
    };
    Config {
        max_batch_size: at(P_MAX_BATCH_SIZE).unwrap_or(d.max_batch_size),
        max_wait_ms: at(P_MAX_WAIT_MS).unwrap_or(d.max_wait_ms),
        max_batch_weight: at(P_MAX_BATCH_WEIGHT),
        max_queued: at(P_MAX_QUEUED).unwrap_or(d.max_queued),
        when_full: if at(P_WHEN_FULL) == Some(WHEN_FULL_WAIT) { WhenFull::Wait } else { WhenFull::Reject },
        max_in_flight: at(P_MAX_IN_FLIGHT).unwrap_or(d.max_in_flight),
        max_in_flight_per_key: at(P_MAX_IN_FLIGHT_PER_KEY),
        timeout_ms: at(P_TIMEOUT_MS),
        error_mode: match at(P_ERROR_MODE) {
            Some(ERROR_MODE_FAIL_FAST) => ErrorMode::FailFast,
            Some(ERROR_MODE_ATOMIC) => ErrorMode::Atomic,
            _ => ErrorMode::Partial,
        },
        bisect: at(P_BISECT) != Some(0.0),
        adaptive: at(P_ADAPTIVE) == Some(1.0),
        circuit_breaker: (at(P_CIRCUIT_BREAKER) == Some(1.0)).then(|| {
            let c = CircuitConfig::default();
            CircuitConfig {
                failure_threshold: at(P_FAILURE_THRESHOLD).unwrap_or(c.failure_threshold),
                reset_ms: at(P_RESET_MS).unwrap_or(c.reset_ms),
            }
        }),
        retry: RetryConfig {
            max_attempts: at(P_MAX_ATTEMPTS).unwrap_or(r.max_attempts),
            base_delay_ms: at(P_BASE_DELAY_MS).unwrap_or(r.base_delay_ms),
            max_delay_ms: at(P_MAX_DELAY_MS).unwrap_or(r.max_delay_ms),
            multiplier: at(P_MULTIPLIER).unwrap_or(r.multiplier),
            jitter: match at(P_JITTER) {
                Some(JITTER_EQUAL) => Jitter::Equal,
                Some(JITTER_NONE) => Jitter::None,
                _ => Jitter::Full,
            },
            max_retry_after_ms: at(P_MAX_RETRY_AFTER_MS).unwrap_or(r.max_retry_after_ms),
            budget,
        },
    }
}

/// The engine plus its output buffer. `repr(C)`, the engine first: its fields keep the offsets
/// they have in the engine's own code (below 128 for the most used ones: one byte shorter each).
#[repr(C)]
pub struct Core {
    engine: Engine,
    buf: Vec<f64>,
    /// `route_done`'s keys.
    ids: Vec<u32>,
    /// What JS writes (at the pointer `input` returns) before a call that takes a list or a
    /// string: numbers for `configure`, `complete` and `route_done`, UTF-8 bytes for `intern`
    /// and `add_dedupe`. Lists and strings cross in memory, not as wasm-bindgen arguments.
    input: Vec<f64>,
    /// `ItemResult::Ok` as many times as the largest call `complete_ok` was given.
    /// The option `configure` refused (see `problem`).
    problem: Option<ConfigError>,
    /// What `stats` wrote last, read by JS at the pointer it returns.
    stats: [f64; STATS_LEN],
}

impl Core {
    /// An idle engine on the default options until `configure` sets the caller's.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Core {
        Core {
            // The defaults (no option given) are valid (tested in the engine): this cannot fail.
            engine: Engine::new(decode_config(&[]), 0).unwrap_or_else(|_| core::arch::wasm32::unreachable()),
            buf: Vec::new(),
            ids: Vec::new(),
            input: Vec::new(),
            problem: None,
            stats: [0.0; STATS_LEN],
        }
    }

    /// The first `n` numbers of `input` are the options (see `decode_config`), `seed` the
    /// jitter seed. A value out of range does not throw (that would need a JS import and glue)
    /// but keeps the engine as it was and returns the length of the
    /// problem text (see `problem`); 0 when the options were accepted.
    pub fn configure(&mut self, n: usize, seed: f64) -> usize {
        let cfg = decode_config(&self.input[..n.min(self.input.len())]);
        match Engine::new(cfg, seed as u64) {
            Ok(engine) => {
                self.engine = engine;
                self.problem = None;
            }
            Err(e) => self.problem = Some(e),
        }
        self.problem()
    }

    /// Room for `n` numbers (`8 * n` bytes) at the returned pointer, for JS to fill before a
    /// call that reads `input` (valid until the next call).
    pub fn input(&mut self, n: usize) -> *mut f64 {
        if self.input.len() < n {
            self.input = vec![0.0; n]; // the old contents are not needed: JS writes the new ones
        }
        self.input.as_mut_ptr()
    }

    /// 0 when `configure` accepted the options; else 2, the numbers it wrote into the buffer at
    /// `buf_ptr`: the refused option's `ConfigOption` and its `Rule`. core.js names both, makes
    /// the RangeError and frees the Core.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub fn problem(&mut self) -> usize {
        self.buf.clear();
        if let Some(e) = &self.problem {
            self.buf.extend([f64::from(e.option as u8), f64::from(e.rule as u8)]);
        }
        self.buf.len()
    }

    /// The key id of the name in the first `n` bytes of `input` (UTF-8).
    pub fn intern(&mut self, n: usize) -> u32 {
        self.engine.intern(text(&self.input, n))
    }

    /// `≥ 0`: `id << 1 | must_drain` (output pending or the wake-up moved earlier); `< 0`: the rejection (see `add_error`).
    pub fn add(&mut self, key: u32, weight: f64, deadline: f64, now: f64) -> i32 {
        let r = self.engine.add(key, weight, opt(deadline), None, now);
        self.add_result(r.map(|(id, _)| id))
    }

    /// As `add` with weight 1, no deadline, for an item never cancelled (see `Engine::add_plain`).
    pub fn add_plain(&mut self, key: u32, now: f64) -> i32 {
        let r = self.engine.add_plain(key, now);
        self.add_result(r.map(|(id, _)| id))
    }

    /// As `add`, with the dedupe key in the first `n` bytes of `input` (UTF-8).
    pub fn add_dedupe(&mut self, key: u32, weight: f64, deadline: f64, n: usize, now: f64) -> i32 {
        let r = self.engine.add(key, weight, opt(deadline), Some(text(&self.input, n)), now);
        self.add_result(r.map(|(id, _)| id))
    }

    /// One item sent at once in a call the caller makes itself (see `Engine::call_now`):
    /// `≥ 0`: `batch * 2 + must_drain`; `< 0`: the refusal, as `add`'s.
    pub fn call_now(&mut self, now: f64) -> f64 {
        match self.engine.call_now(now) {
            Ok((_, batch)) => ((batch << 1) | u64::from(self.engine_has_output())) as f64,
            Err(e) => f64::from(refusal(&e)),
        }
    }

    /// Plain adds recorded by JS: the first `n` reserved ids join the default queue, with
    /// `deadline` each (NaN: none; see `Engine::add_reserved`). `0`/`1`: accepted (`1`: output
    /// pending); `< 0`: as `add`.
    pub fn add_reserved(&mut self, n: u32, deadline: f64, now: f64) -> i32 {
        let r = self.engine.add_reserved(n as usize, opt(deadline), now);
        self.add_result(r.map(|()| 0))
    }

    /// Up to `max` (at most `RESERVE_MAX`) consecutive ids for the next plain adds (see
    /// `Engine::reserve_plain`): `first * RESERVE_SPAN + count`.
    pub fn reserve(&mut self, max: u32) -> f64 {
        let ids = self.engine.reserve_plain((max as usize).min(RESERVE_MAX));
        f64::from(ids.start) * f64::from(RESERVE_SPAN) + ids.len() as f64
    }

    fn add_result(&self, r: Result<u32, AddError>) -> i32 {
        match r {
            Ok(id) => ((id as i32) << 1) | i32::from(self.engine_has_output()),
            Err(e) => refusal(&e),
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

    /// Every entry succeeded. `COMPLETE_LATE`: the batch is no longer in flight (a late answer);
    /// `COMPLETE_DRAIN`: output is pending or the wake-up moved earlier; else `COMPLETE_DONE`.
    pub fn complete_ok(&mut self, batch: f64, n: u32, now: f64) -> u32 {
        match self.engine.complete_ok(batch as u64, n as usize, now) {
            Err(_) => COMPLETE_LATE,
            Ok(()) if self.engine_has_output() => COMPLETE_DRAIN,
            Ok(()) => COMPLETE_DONE,
        }
    }

    /// `input`: `n` codes (`RESULT_OK`, `RESULT_ERROR`, `RESULT_RETRYABLE`), then `n`
    /// retry-after floors (NaN for none).
    pub fn complete(&mut self, batch: f64, n: usize, now: f64) -> bool {
        let (codes, retry_after) = self.input.split_at(n.min(self.input.len()));
        let results: Vec<ItemResult> = codes
            .iter()
            .zip(retry_after)
            .map(|(&c, &ra)| match c as u8 {
                RESULT_OK => ItemResult::Ok,
                c => ItemResult::Err { retryable: c == RESULT_RETRYABLE, retry_after_ms: opt(ra) },
            })
            .collect();
        self.engine.complete(batch as u64, &results, now).is_ok()
    }

    /// `kind`: `FAIL_*`; `retryable`: `RETRYABLE_*`; `class`: `CLASS_*` (see `wire`).
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
                FAIL_TIMEOUT => FailureKind::Timeout,
                FAIL_SHAPE => FailureKind::ResultShape,
                _ => FailureKind::Thrown,
            },
            retryable: match retryable {
                RETRYABLE_NO => Some(false),
                RETRYABLE_YES => Some(true),
                _ => None,
            },
            status: opt(status),
            retry_after_ms: opt(retry_after),
            class: match class {
                CLASS_RETRY => Some(Class::Retry),
                CLASS_BISECT => Some(Class::Bisect),
                CLASS_FAIL => Some(Class::Fail),
                _ => None,
            },
        };
        self.engine.fail(batch as u64, failure, now).is_ok()
    }

    /// `input`: `n` key ids, one per routed item; 0 where `resolveKeys` gave none.
    pub fn route_done(&mut self, route: f64, n: usize, now: f64) -> bool {
        self.ids.clear();
        for &k in self.input.iter().take(n) {
            self.ids.push(k as u32); // (smaller in the .wasm than `extend`'s reserve-and-copy)
        }
        self.engine.route_done(route as u64, &self.ids, now).is_ok()
    }

    pub fn route_failed(&mut self, route: f64, now: f64) {
        let _ = self.engine.route_failed(route as u64, now);
    }

    /// When to call `handle_time` next (epoch ms), NaN for never.
    pub fn next_wake(&mut self) -> f64 {
        self.engine.poll_timeout().unwrap_or(f64::NAN)
    }

    /// Writes `[queued, inFlightBatches, inFlightItems, batches, items, succeeded, failed, retries,
    /// bisects, throttled, circuitsOpen]` (`STATS_LEN` f64s) and returns where (valid until the
    /// next `stats`). Not into the drain buffer: a hook may ask for stats while JS reads that.
    pub fn stats(&mut self) -> *const f64 {
        let s = self.engine.stats();
        self.stats = [
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
            s.circuits_open,
        ]
        .map(|n| n as f64);
        self.stats.as_ptr()
    }

    /// Pointer to the output buffer filled by `drain` (valid until the next call).
    pub fn buf_ptr(&self) -> *const f64 {
        self.buf.as_ptr()
    }

    /// Encode every pending output into the buffer; returns its length in f64s.
    pub fn drain(&mut self) -> usize {
        self.buf.clear();
        let buf = &mut self.buf;
        self.engine.drain_outputs(|o| encode(buf, o));
        self.buf.len()
    }
}

/// The module's exports: `core_<method>(core, …)` calls `Core::<method>` on the `Core` that
/// `core_new` made, until [`free_core`] drops it.
macro_rules! exports {
    ($($export:ident => $method:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?;)*) => {$(
        /// # Safety
        /// `core` came from [`core_new`] and was not given to [`free_core`]; no other call runs
        /// on it (JS is single-threaded and the module calls no JS).
        #[no_mangle]
        #[allow(clippy::too_many_arguments)]
        pub unsafe extern "C" fn $export(core: *mut Core, $($arg: $ty),*) $(-> $ret)? {
            // SAFETY: see above.
            unsafe { (*core).$method($($arg),*) }
        }
    )*};
}

exports! {
    core_configure => configure(n: usize, seed: f64) -> usize;
    core_input => input(n: usize) -> *mut f64;
    core_problem => problem() -> usize;
    core_intern => intern(n: usize) -> u32;
    core_add => add(key: u32, weight: f64, deadline: f64, now: f64) -> i32;
    core_add_plain => add_plain(key: u32, now: f64) -> i32;
    core_add_dedupe => add_dedupe(key: u32, weight: f64, deadline: f64, n: usize, now: f64) -> i32;
    core_call_now => call_now(now: f64) -> f64;
    core_add_reserved => add_reserved(n: u32, deadline: f64, now: f64) -> i32;
    core_reserve => reserve(max: u32) -> f64;
    core_cancel => cancel(id: u32, now: f64) -> bool;
    core_handle_time => handle_time(now: f64);
    core_flush => flush(now: f64) -> f64;
    core_close => close(now: f64) -> f64;
    core_complete_ok => complete_ok(batch: f64, n: u32, now: f64) -> u32;
    core_complete => complete(batch: f64, n: usize, now: f64) -> bool;
    core_fail => fail(batch: f64, kind: u8, retryable: u8, status: f64, retry_after: f64, class: u8, now: f64) -> bool;
    core_route_done => route_done(route: f64, n: usize, now: f64) -> bool;
    core_route_failed => route_failed(route: f64, now: f64);
    core_next_wake => next_wake() -> f64;
    core_stats => stats() -> *const f64;
    core_buf_ptr => buf_ptr() -> *const f64;
    core_drain => drain() -> usize;
}

/// A new `Core` (see `Core::new`), owned by JS through the returned pointer until [`free_core`].
#[no_mangle]
pub extern "C" fn core_new() -> *mut Core {
    Box::into_raw(Box::new(Core::new()))
}

/// Drops a `Core`. Not `core_…`: JS binds those as methods (core.js `bind`).
///
/// # Safety
/// `core` came from [`core_new`] and is not used after this.
#[no_mangle]
pub unsafe extern "C" fn free_core(core: *mut Core) {
    // SAFETY: see above.
    drop(unsafe { Box::from_raw(core) });
}

/// Why an add was refused, as `add` returns it (below zero).
#[inline(never)]
fn refusal(e: &AddError) -> i32 {
    match e {
        AddError::Rejected(code) => -(*code as i32),
        AddError::Invalid(_) => ADD_INVALID,
    }
}

/// The first `n` bytes of `input` as text.
fn text(input: &[f64], n: usize) -> &str {
    let n = n.min(8 * input.len());
    // SAFETY: `input` owns `8 * input.len()` initialised bytes and `n` is within them. The bytes
    // are UTF-8: JS wrote them with `TextEncoder.encodeInto` (core.js `putText`), the same trust
    // wasm-bindgen's own `&str` arguments place in the glue (they are not validated either);
    // checking here would ship `from_utf8` (700 B).
    unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(input.as_ptr().cast::<u8>(), n)) }
}

fn encode(b: &mut Vec<f64>, o: Output) {
    // The output's variant number is its wire tag (`Output::tag`, checked in `wire`); the records
    // of one id share one `put` (each arm had built its own pair).
    let tag = f64::from(o.tag());
    let id = match o {
        Output::Tick | Output::TurnEnd => return put(b, &[tag]),
        Output::Dispatch(d) => {
            put(b, &[tag, d.batch as f64, d.key as f64, d.attempt as f64]);
            // A run of consecutive ids (plain adds, see `Engine::reserve_plain`) goes as its first id.
            let run = d.items.windows(2).all(|w| w[1] == w[0] + 1);
            let first = if run { f64::from(d.items[0]) } else { -1.0 };
            put(b, &[d.deadline.unwrap_or(f64::NAN), d.weight, d.items.len() as f64, first]);
            if !run {
                put_ids(b, &d.items);
            }
            return;
        }
        Output::Route { route, items } => {
            put(b, &[tag, route as f64, items.len() as f64]);
            return put_ids(b, &items);
        }
        Output::Settle { item, outcome, release } => {
            let arg = match outcome {
                Outcome::Ok { index: a }
                | Outcome::ItemError { index: a }
                | Outcome::Transport { attempts: a }
                | Outcome::FailFast { cause: a }
                | Outcome::Atomic { cause: a }
                | Outcome::CircuitOpen { key: a } => a,
                Outcome::BatchError => 0,
                Outcome::Code(code) => code as u32,
            };
            let kind = f64::from(outcome.kind());
            return put(b, &[tag, item as f64, kind, arg as f64, f64::from(u8::from(release))]);
        }
        Output::BatchEnd(e) => {
            put(b, &[tag, e.batch as f64, e.key as f64, e.size as f64, e.weight, e.attempt as f64]);
            return put(b, &[e.duration_ms, e.succeeded as f64, e.failed as f64, f64::from(u8::from(e.batch_error))]);
        }
        Output::CircuitChange { key, state } => return put(b, &[tag, key as f64, f64::from(state as u8)]),
        Output::Succeeded { batch } | Output::CallTimedOut { batch } | Output::Abandoned { batch } => batch as f64,
        Output::Flushed { flush } => flush as f64,
        Output::Release { item } | Output::Admitted { item } => f64::from(item),
        Output::KeyReleased { key } => f64::from(key),
    };
    put(b, &[tag, id]);
}

/// Appends a list of ids (a dispatch's or a route's items). Out of line: one loop for both.
#[inline(never)]
fn put_ids(b: &mut Vec<f64>, ids: &[u32]) {
    b.extend(ids.iter().map(|&i| f64::from(i)));
}

/// Appends one output's numbers. Out of line: each `extend([..])` inlined its own capacity check
/// and copy into `drain`.
#[inline(never)]
fn put(b: &mut Vec<f64>, xs: &[f64]) {
    b.extend_from_slice(xs);
}
