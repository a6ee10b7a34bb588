//! Engine tests written against mutants that cargo-mutants found surviving the other tests
//! (scripts/mutants.sh). Each test names the mutant it kills.

// Native only, like the other engine tests.
#![cfg(not(target_arch = "wasm32"))]

use hyperbatch::engine::{
    BudgetConfig, BudgetOption, Config, Dispatch, Engine, ErrorCode, InputError, ItemId, ItemResult, Jitter, Output,
    DEFAULT_KEY,
};

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

/// The option `validate` blames for `c`, or None when it accepts it.
fn blamed(c: &Config) -> Option<&'static str> {
    c.validate().err().map(|e| e.option)
}

/// Checks one option: every value in `ok` is accepted, every value in `bad` is refused with this
/// option named (and the value reported as given).
fn edges(option: &str, set: impl Fn(&mut Config, f64), ok: &[f64], bad: &[f64]) {
    for &v in ok {
        let mut c = Config::default();
        set(&mut c, v);
        assert_eq!(blamed(&c), None, "{option} = {v} must be accepted");
    }
    for &v in bad {
        let mut c = Config::default();
        set(&mut c, v);
        let e = c.validate().expect_err(&format!("{option} = {v} must be refused"));
        assert_eq!(e.option, option, "{option} = {v}");
        assert!(e.value.to_bits() == v.to_bits(), "{option}: reported {} for {v}", e.value);
    }
}

// Kills: config.rs num_in `&&` → `||` (both), and every `>=`/`<=` → `>`/`<` edge of num_in and
// int_in: each range is probed at both ends, just outside, and with NaN and ±infinity.
#[test]
fn every_numeric_option_is_checked_at_its_edges() {
    const T: f64 = 2_147_483_647.0;
    const U32: f64 = u32::MAX as f64;
    edges("maxBatchSize", |c, v| c.max_batch_size = v, &[1.0, 100_000.0], &[0.0, 100_001.0, 2.5, NAN, INF]);
    edges("maxWaitMs", |c, v| c.max_wait_ms = v, &[0.0, 0.5, T], &[-0.1, T + 1.0, NAN, INF, -INF]);
    edges("maxBatchWeight", |c, v| c.max_batch_weight = Some(v), &[0.001, 1e12], &[0.0, -1.0, NAN, INF]);
    edges("maxQueued", |c, v| c.max_queued = v, &[1.0, U32], &[0.0, U32 + 1.0, 1.5, NAN]);
    edges("maxInFlight", |c, v| c.max_in_flight = v, &[1.0, U32], &[0.0, U32 + 1.0, 1.5, NAN]);
    edges("maxInFlightPerKey", |c, v| c.max_in_flight_per_key = Some(v), &[1.0, U32], &[0.0, U32 + 1.0, NAN]);
    edges("timeoutMs", |c, v| c.timeout_ms = Some(v), &[0.001, T], &[0.0, -1.0, T + 1.0, NAN, INF]);
    edges("retry.maxAttempts", |c, v| c.retry.max_attempts = v, &[1.0, 1000.0], &[0.0, 1001.0, 2.5, NAN]);
    edges("retry.baseDelayMs", |c, v| c.retry.base_delay_ms = v, &[0.0, T], &[-1.0, T + 1.0, NAN, INF]);
    edges("retry.maxDelayMs", |c, v| c.retry.max_delay_ms = v, &[0.0, T], &[-1.0, T + 1.0, NAN, INF]);
    edges("retry.multiplier", |c, v| c.retry.multiplier = v, &[1.0, 1.5, 1000.0], &[0.99, 1000.5, NAN, INF]);
    edges("retry.maxRetryAfterMs", |c, v| c.retry.max_retry_after_ms = v, &[0.0, T], &[-1.0, T + 1.0, NAN]);
    let budget = |t: f64, r: f64| BudgetOption::Config(BudgetConfig { max_tokens: t, token_ratio: r });
    edges("retry.budget.maxTokens", |c, v| c.retry.budget = budget(v, 0.0), &[0.5, 1e9], &[0.0, -1.0, NAN, INF]);
    edges("retry.budget.tokenRatio", |c, v| c.retry.budget = budget(10.0, v), &[0.0, 10.0], &[-0.1, 10.5, NAN]);
    // budget: false skips the budget's checks altogether.
    let mut c = Config::default();
    c.retry.budget = BudgetOption::Enabled(false);
    assert_eq!(blamed(&c), None);
}

// Kills: mod.rs ErrorCode::as_str → "" / "xyzzy". The codes are the contract's strings.
#[test]
fn error_codes_are_the_contract_strings() {
    use ErrorCode::*;
    let all =
        [Config, Closed, Full, TooLarge, Aborted, Deadline, Timeout, Transport, ResultShape, FailFast, Atomic, Route];
    let names: Vec<&str> = all.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "E_CONFIG",
            "E_CLOSED",
            "E_FULL",
            "E_TOO_LARGE",
            "E_ABORTED",
            "E_DEADLINE",
            "E_TIMEOUT",
            "E_TRANSPORT",
            "E_RESULT_SHAPE",
            "E_FAIL_FAST",
            "E_ATOMIC",
            "E_ROUTE"
        ]
    );
    // The discriminants are the wire codes the JS shell indexes its CODES table with.
    assert!(all.iter().enumerate().all(|(i, c)| *c as usize == i));
}

// Kills: mod.rs `<impl Display for InputError>::fmt` → Ok(Default::default()) (an empty message).
#[test]
fn input_errors_say_what_was_wrong() {
    let cases = [
        (InputError::InvalidWeight(-2.0), "-2"),
        (InputError::InvalidDeadline(NAN), "NaN"),
        (InputError::UnknownKey(41), "41"),
        (InputError::UnknownItem(42), "42"),
        (InputError::UnknownBatch(43), "43"),
        (InputError::UnknownRoute(44), "44"),
        (InputError::ResultCount { batch: 45, expected: 3, got: 2 }, "45 has 3 items but 2"),
        (InputError::TimedOut(46), "46 timed out"),
    ];
    for (e, needle) in cases {
        let text = e.to_string();
        assert!(text.contains(needle), "{e:?} displays as {text:?}");
    }
}

/// An engine with exact retries (no jitter) and a window that never fires by itself.
fn engine(c: Config) -> Engine {
    Engine::new(c, 7).expect("valid config")
}

fn quiet() -> Config {
    let mut c = Config { max_wait_ms: 1e9, ..Config::default() };
    c.retry.jitter = Jitter::None;
    c.retry.base_delay_ms = 1.0;
    c.retry.budget = BudgetOption::Enabled(false);
    c
}

fn add(e: &mut Engine, weight: f64, now: f64) -> ItemId {
    e.add(DEFAULT_KEY, weight, None, None, now).expect("accepted").0
}

fn dispatches(e: &mut Engine) -> Vec<Dispatch> {
    std::iter::from_fn(|| e.poll_output())
        .filter_map(|o| match o {
            Output::Dispatch(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn retry_after(ms: f64) -> ItemResult {
    ItemResult::Err { retryable: true, retry_after_ms: Some(ms) }
}

// Kills: queue.rs insert_ordered `x.order < e.order` → `==` (a rejoining item would go to the
// front of its queue, ahead of an older item that rejoined just before it).
#[test]
fn items_that_rejoin_their_queue_keep_arrival_order() {
    let mut e = engine(quiet());
    let a = add(&mut e, 1.0, 0.0);
    let b = add(&mut e, 1.0, 0.0);
    e.flush(0.0);
    let d = dispatches(&mut e);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].items, [a, b]);
    e.complete(d[0].batch, &[retry_after(10.0), retry_after(20.0)], 0.0).unwrap();
    let c = add(&mut e, 1.0, 5.0);
    e.handle_time(5.0);
    assert!(dispatches(&mut e).is_empty(), "c waits for its window");
    // Both backoffs end before this call: a rejoins, then b, then the queue dispatches.
    e.handle_time(25.0);
    let d = dispatches(&mut e);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].items, [a, b, c], "a, b in arrival order, the newer c behind them");
    assert_eq!(d[0].attempt, 2);
}

// Kills: queue.rs insert_ordered `self.weight += weight` → `-=` / `*=` (the queue's weight would
// be wrong once a rejoined item has left: too low, a full queue waits; too high, it goes early).
#[test]
fn a_rejoined_item_counts_toward_the_weight_cap() {
    let mut e = engine(Config { max_batch_weight: Some(10.0), ..quiet() });
    let a = add(&mut e, 6.0, 0.0);
    e.flush(0.0);
    let d = dispatches(&mut e);
    assert_eq!(d[0].items, [a]);
    e.complete(d[0].batch, &[retry_after(5.0)], 0.0).unwrap();
    let x = add(&mut e, 5.0, 1.0);
    e.handle_time(1.0);
    assert!(dispatches(&mut e).is_empty());
    // a rejoins ahead of x: 6 + 5 > 10, so a leaves alone and x (5) stays under the cap.
    e.handle_time(5.0);
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| (d.items.clone(), d.weight)).collect::<Vec<_>>(), [(vec![a], 6.0)]);
    // y (6) would push x's queue over the cap: x leaves alone.
    let y = add(&mut e, 6.0, 6.0);
    e.handle_time(6.0);
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| (d.items.clone(), d.weight)).collect::<Vec<_>>(), [(vec![x], 5.0)]);
    e.flush(7.0);
    assert_eq!(dispatches(&mut e).iter().map(|d| d.items.clone()).collect::<Vec<_>>(), [vec![y]]);
}

// Kills: queue.rs forget `self.weight -= weight` → `/=` (what stays queued after a cut would
// carry the wrong weight, and the next cap check would be off).
#[test]
fn the_weight_left_after_a_cut_is_what_is_still_queued() {
    let mut e = engine(Config { max_batch_weight: Some(10.0), ..quiet() });
    let ids: Vec<ItemId> = (0..3).map(|_| add(&mut e, 4.0, 0.0)).collect();
    e.handle_time(0.0);
    // 4 + 4 + 4 > 10: the first two leave, the third stays (weight 4).
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| (d.items.clone(), d.weight)).collect::<Vec<_>>(), [(ids[..2].to_vec(), 8.0)]);
    let d4 = add(&mut e, 4.0, 1.0);
    e.handle_time(1.0);
    assert!(dispatches(&mut e).is_empty(), "4 + 4 <= 10 waits for its window");
    let d5 = add(&mut e, 4.0, 2.0);
    e.handle_time(2.0);
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), [vec![ids[2], d4]], "4 + 4 + 4 > 10");
    e.flush(3.0);
    assert_eq!(dispatches(&mut e).iter().map(|d| d.items.clone()).collect::<Vec<_>>(), [vec![d5]]);
}
