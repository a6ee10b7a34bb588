//! Engine tests written against mutants that cargo-mutants found surviving the other tests
//! (scripts/mutants.sh). Each test names the mutant it kills.

// Native only, like the other engine tests.
#![cfg(not(target_arch = "wasm32"))]

use hyperbatch::engine::{
    backoff_delay, AddError, BudgetConfig, BudgetOption, Config, Dispatch, Engine, ErrorCode, ErrorMode, Failure,
    InputError, ItemId, ItemResult, Jitter, Output, RetryConfig, Rng, DEFAULT_KEY, UNROUTED,
};

const INF: f64 = f64::INFINITY;
const NAN: f64 = f64::NAN;

/// The option `validate` blames for `c`, or None when it accepts it.
fn blamed(c: &Config) -> Option<&'static str> {
    c.validate().err().map(|e| e.option.path())
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
        assert_eq!(e.option.path(), option, "{option} = {v}");
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

// Kills: retry.rs Rng::next_u64 → 0 / 1 and each of its `^` → `|`/`&`, `>>` → `<<`. SplitMix64's
// published outputs for seed 0 (the jitter must be the generator the engine documents).
#[test]
fn rng_is_splitmix64() {
    let mut r = Rng::new(0);
    assert_eq!(
        [r.next_u64(), r.next_u64(), r.next_u64()],
        [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F]
    );
}

// Kills: retry.rs Rng::next_f64 → 0.0 / 1.0 (every jittered delay would be 0, or exactly d).
#[test]
fn rng_floats_fill_the_unit_interval() {
    let mut r = Rng::new(12345);
    let xs: Vec<f64> = (0..1000).map(|_| r.next_f64()).collect();
    assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    assert!((0.45..0.55).contains(&mean), "mean {mean}");
    for q in 0..10 {
        let lo = q as f64 / 10.0;
        let n = xs.iter().filter(|x| (lo..lo + 0.1).contains(*x)).count();
        assert!((60..140).contains(&n), "{n} of 1000 draws in [{lo}, {lo} + 0.1)");
    }
}

fn delays(jitter: Jitter, hint: Option<f64>) -> Vec<f64> {
    let cfg = RetryConfig { jitter, base_delay_ms: 400.0, max_delay_ms: 400.0, ..RetryConfig::default() };
    let mut rng = Rng::new(99);
    (0..200).map(|_| backoff_delay(&cfg, 1, hint, &mut rng)).collect()
}

// Kills: retry.rs backoff_delay `capped / 2.0 * rng` → `capped % 2.0 * rng` (equal jitter would
// be d/2 always), and with next_f64 → 0.0 / 1.0, full jitter as 0 or as none.
#[test]
fn jitter_modes_spread_over_their_ranges() {
    let spread = |xs: &[f64], lo: f64, hi: f64| {
        assert!(xs.iter().all(|x| (lo..=hi).contains(x)), "outside [{lo}, {hi}]: {xs:?}");
        let mid = (lo + hi) / 2.0;
        assert!(xs.iter().filter(|x| **x < mid).count() > 60, "too few below {mid}");
        assert!(xs.iter().filter(|x| **x > mid).count() > 60, "too few above {mid}");
    };
    spread(&delays(Jitter::Full, None), 0.0, 400.0);
    spread(&delays(Jitter::Equal, None), 200.0, 400.0);
    assert!(delays(Jitter::None, None).iter().all(|x| *x == 400.0));
}

// Kills: retry.rs backoff_delay `*h > 0.0` → `<` / `==` / true (positive hints ignored, or NaN
// and negative ones taken). Hints that are not positive numbers are ignored; a positive one,
// Infinity too (the contract's "a floor, itself clamped to maxRetryAfterMs"), is a floor clamped
// to maxRetryAfterMs (60 s by default).
#[test]
fn a_retry_after_hint_must_be_a_positive_number() {
    for hint in [f64::NAN, -5.0, f64::NEG_INFINITY] {
        assert_eq!(delays(Jitter::None, Some(hint)), delays(Jitter::None, None), "hint {hint}");
    }
    assert!(delays(Jitter::None, Some(1000.0)).iter().all(|x| *x == 1000.0));
    assert!(delays(Jitter::None, Some(1e9)).iter().all(|x| *x == 60_000.0));
    assert!(delays(Jitter::None, Some(f64::INFINITY)).iter().all(|x| *x == 60_000.0));
}

// Kills: timers.rs Timers::push `self.seq += 1` → `*=` (timers due at the same moment would fire
// in heap order, not in the order they were set): queues whose windows close at the same
// moment dispatch in the order their oldest items arrived.
#[test]
fn queues_due_at_the_same_moment_dispatch_in_arrival_order() {
    let mut e = engine(Config { max_wait_ms: 10.0, max_in_flight: 100.0, ..quiet() });
    let keys: Vec<_> = (0..16).map(|i| e.intern(&format!("k{i}"))).collect();
    let items: Vec<ItemId> = keys.iter().map(|&k| e.add(k, 1.0, None, None, 0.0).unwrap().0).collect();
    e.handle_time(0.0);
    assert!(dispatches(&mut e).is_empty());
    e.handle_time(10.0);
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| d.key).collect::<Vec<_>>(), keys);
    assert_eq!(d.iter().map(|d| d.items[0]).collect::<Vec<_>>(), items);
}

// Kills: timers.rs Timers::reported → (), and moved_earlier → true / false / `<` → `==`/`>`/`<=`:
// needs_poll() says whether the host's timer must be re-armed, and only when a wake-up earlier
// than the one last polled has appeared.
#[test]
fn needs_poll_reports_an_earlier_wake_up_only() {
    let mut e = engine(Config { max_wait_ms: 100.0, ..quiet() });
    let slow = e.intern("slow");
    let fast = e.intern("fast");
    e.add(slow, 1.0, None, None, 0.0).unwrap();
    assert!(e.needs_poll(), "a first wake-up appeared");
    while e.poll_output().is_some() {}
    assert!(!e.has_output());
    assert_eq!(e.poll_timeout(), Some(100.0));
    assert!(!e.needs_poll(), "nothing changed since the wake-up was polled");
    // A deadline that needs an earlier wake-up than the one polled.
    e.add(fast, 1.0, Some(50.0), None, 1.0).unwrap();
    while e.poll_output().is_some() {}
    assert!(e.needs_poll(), "an earlier wake-up appeared");
    let t = e.poll_timeout().unwrap();
    assert!(t < 100.0);
    assert!(!e.needs_poll(), "polled again");
    // A later timer (a window at 105) is no reason to re-arm.
    e.add(fast, 1.0, None, None, 5.0).unwrap();
    while e.poll_output().is_some() {}
    assert!(!e.needs_poll(), "a later timer needs no re-arm");
    // The same time as the one polled needs none either.
    let again = e.intern("again");
    e.add(again, 1.0, Some(t + 10.0), None, 5.0).unwrap();
    while e.poll_output().is_some() {}
    assert_eq!(e.poll_timeout(), Some(t));
}

// Kills (machine.rs sample): Engine::config → a default Config; key_name's guard
// `k.alive && key > DEFAULT_KEY` → true / `||` / `>=`.
#[test]
fn config_and_key_names_read_back() {
    let c = Config { max_batch_size: 7.0, ..quiet() };
    let mut e = engine(c.clone());
    assert_eq!(e.config(), &c);
    let k = e.intern("shard-a");
    assert_eq!(e.key_name(k), Some("shard-a"));
    assert_eq!(e.intern("shard-a"), k, "interning is idempotent");
    assert_eq!(e.key_name(DEFAULT_KEY), None, "the default queue has no name");
    assert_eq!(e.key_name(UNROUTED), None, "the routing queue has no name");
    assert_eq!(e.key_name(k + 100), None, "an unknown id has no name");
    // Once the key is released (its queue emptied), its id has no name until it is interned again.
    let item = e.add(k, 1.0, None, None, 0.0).unwrap().0;
    e.flush(0.0);
    assert!(e.has_output(), "a dispatch is waiting");
    let d = dispatches(&mut e);
    assert!(!e.has_output());
    assert_eq!(d[0].items, [item]);
    e.complete(d[0].batch, &[ItemResult::Ok], 1.0).unwrap();
    let released: Vec<_> = std::iter::from_fn(|| e.poll_output())
        .filter_map(|o| match o {
            Output::KeyReleased { key } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(released, [k]);
    assert_eq!(e.key_name(k), None, "a released id has no name");
}

// Kills (machine.rs): Engine::is_closed → true / false.
#[test]
fn is_closed_after_close_only() {
    let mut e = engine(quiet());
    assert!(!e.is_closed());
    e.flush(0.0);
    assert!(!e.is_closed(), "flush does not close");
    e.close(1.0);
    assert!(e.is_closed());
    assert_eq!(
        e.add(DEFAULT_KEY, 1.0, None, None, 2.0).unwrap_err(),
        hyperbatch::engine::AddError::Rejected(ErrorCode::Closed)
    );
}

fn outputs(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

// Kills (machine.rs): requeue `key.retry_waiting -= 1` → `+=` / `/=` (a key whose item came back
// from its backoff would never be idle again, so its id would never be released).
#[test]
fn a_key_is_released_once_its_retried_item_settles_not_before() {
    let mut e = engine(quiet());
    let k = e.intern("k");
    let item = e.add(k, 1.0, None, None, 0.0).unwrap().0;
    e.flush(0.0);
    assert!(e.has_output(), "a dispatch is waiting");
    let d = dispatches(&mut e);
    assert!(!e.has_output());
    e.complete(d[0].batch, &[retry_after(10.0)], 1.0).unwrap();
    assert!(!outputs(&mut e).iter().any(|o| matches!(o, Output::KeyReleased { .. })), "waiting to retry");
    e.handle_time(11.0);
    let d = dispatches(&mut e);
    assert_eq!((d[0].items.clone(), d[0].attempt), (vec![item], 2));
    e.complete(d[0].batch, &[ItemResult::Ok], 12.0).unwrap();
    let released: Vec<_> = outputs(&mut e)
        .into_iter()
        .filter_map(|o| match o {
            Output::KeyReleased { key } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(released, [k]);
}

// Kills (machine.rs): fail's `bisect && errorMode == Partial && live > 1` → `||` (twice) and
// `> 1` → `>= 1`: only a partial-mode batch of two or more items is ever split.
#[test]
fn only_partial_batches_of_two_or_more_are_bisected() {
    let bad_request = || Failure { status: Some(400.0), ..Failure::thrown() };
    for (mode, n, bisect, split) in [
        (ErrorMode::Partial, 2, true, true),
        (ErrorMode::Partial, 1, true, false),
        (ErrorMode::Partial, 2, false, false),
        (ErrorMode::FailFast, 2, true, false),
        (ErrorMode::Atomic, 2, true, false),
    ] {
        let mut e = engine(Config { error_mode: mode, bisect, ..quiet() });
        let items: Vec<ItemId> = (0..n).map(|_| add(&mut e, 1.0, 0.0)).collect();
        e.flush(0.0);
        let d = dispatches(&mut e);
        assert_eq!(d[0].items, items);
        e.fail(d[0].batch, bad_request(), 1.0).unwrap();
        e.handle_time(100.0);
        let sizes: Vec<usize> = dispatches(&mut e).iter().map(|d| d.items.len()).collect();
        let halves = !sizes.is_empty() && sizes.iter().all(|&s| s < n);
        assert_eq!(halves, split, "{mode:?}, {n} items, bisect {bisect}: resent as {sizes:?}");
        assert_eq!(e.stats().bisects > 0, split, "{mode:?}, {n} items, bisect {bisect}");
    }
}

/// The keys the engine released in `out`.
fn released(out: &[Output]) -> Vec<hyperbatch::engine::KeyId> {
    out.iter()
        .filter_map(|o| match o {
            Output::KeyReleased { key } => Some(*key),
            _ => None,
        })
        .collect()
}

// Kills: machine.rs drop_slot `State::RetryWait => retry_waiting -= 1` → `+=` / `/=` (a key whose
// item was aborted during its backoff would never be idle again, so its id would never be released).
#[test]
fn a_key_is_released_once_an_item_aborted_during_its_backoff_leaves() {
    let mut e = engine(quiet());
    let k = e.intern("k");
    let item = e.add(k, 1.0, None, None, 0.0).unwrap().0;
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.complete(d[0].batch, &[retry_after(50.0)], 1.0).unwrap();
    assert!(released(&outputs(&mut e)).is_empty(), "waiting to retry");
    e.cancel(item, 2.0).unwrap();
    assert_eq!(released(&outputs(&mut e)), [k], "nothing is left of the key once its item is aborted");
    e.handle_time(100.0);
    assert!(dispatches(&mut e).is_empty(), "the aborted item is not resent");
}

// Kills: machine.rs fire `Timer::Unit` `key.pending_units -= 1` → `+=` / `/=` (a key whose batch
// waited out its retry delay as a unit would never be idle again, so its id would never be released).
#[test]
fn a_key_is_released_once_its_retried_batch_settles() {
    let mut e = engine(quiet());
    let k = e.intern("k");
    let items: Vec<ItemId> = (0..2).map(|_| e.add(k, 1.0, None, None, 0.0).unwrap().0).collect();
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.fail(d[0].batch, Failure { status: Some(503.0), ..Failure::thrown() }, 1.0).unwrap();
    let out = outputs(&mut e);
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "the batch waits for its retry delay");
    assert!(released(&out).is_empty(), "the key still holds the batch waiting to retry");
    e.handle_time(100.0);
    e.handle_time(100.0); // the tick the unit's timer asked for
    let d = dispatches(&mut e);
    assert_eq!((d.len(), d[0].items.clone(), d[0].attempt), (1, items, 2), "resent whole");
    e.complete(d[0].batch, &[ItemResult::Ok, ItemResult::Ok], 101.0).unwrap();
    assert_eq!(released(&outputs(&mut e)), [k], "the key is released once its batch settled");
}

/// The items settled with E_DEADLINE in `out`.
fn expired(out: &[Output]) -> Vec<ItemId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Settle { item, outcome: hyperbatch::engine::Outcome::Code(ErrorCode::Deadline), .. } => Some(*item),
            _ => None,
        })
        .collect()
}

/// A batch [a (deadline 50, with a dedupe follower), c (deadline 50)] fails with a 503 and waits
/// to be resent as a unit; its unit is ready but held by `maxInFlight: 1` until another call
/// ends at `end` (before the engine has seen any time past the deadlines). Returns (a, c, the
/// dispatches and outputs from that end, the engine).
fn unit_held_past(end: f64) -> (ItemId, ItemId, Vec<Output>, Engine) {
    let mut e = engine(Config { max_in_flight: 1.0, ..quiet() });
    let a = e.add(DEFAULT_KEY, 1.0, Some(50.0), Some("a"), 0.0).unwrap().0;
    e.add(DEFAULT_KEY, 1.0, None, Some("a"), 0.0).unwrap(); // joins a's slot
    let c = e.add(DEFAULT_KEY, 1.0, Some(50.0), None, 0.0).unwrap().0;
    e.flush(0.0);
    let x = dispatches(&mut e);
    assert_eq!(x[0].items, [a, c]);
    e.fail(x[0].batch, Failure { status: Some(503.0), ..Failure::thrown() }, 1.0).unwrap();
    e.add(DEFAULT_KEY, 1.0, None, None, 1.0).unwrap();
    e.flush(1.0);
    let y = dispatches(&mut e);
    assert_eq!(y.len(), 1, "the other call holds the only slot");
    e.handle_time(10.0);
    e.handle_time(10.0);
    assert!(dispatches(&mut e).is_empty(), "the unit waits for capacity");
    e.complete(y[0].batch, &[ItemResult::Ok], end).unwrap();
    let out = outputs(&mut e);
    (a, c, out, e)
}

// Kills: dispatch.rs dispatch_unit `!it.caller_settled && now > it.deadline`: delete `!`, `>` →
// `==` / `>=`; `send = !it.followers.is_empty()` delete `!`; `if !send` delete `!`. A resent
// unit whose callers' deadlines passed while it waited for capacity sends only the slot that
// still carries a follower; the deadlines' own callers settle with E_DEADLINE, unsent.
#[test]
fn a_unit_held_past_its_deadlines_sends_only_slots_with_followers() {
    let (a, c, out, _) = unit_held_past(60.0);
    let sent: Vec<Vec<ItemId>> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dispatch(d) => Some(d.items.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [vec![a]], "c expired unsent; a's slot goes for its follower");
    assert_eq!(expired(&out), [a, c]);
    // Exactly at the deadline it has not passed yet: both are sent.
    let (a, c, out, _) = unit_held_past(50.0);
    assert!(out.iter().any(|o| matches!(o, Output::Dispatch(d) if d.items == [a, c])), "{out:?}");
    assert!(expired(&out).is_empty());
}

// Kills: machine.rs fire `Timer::Expire` `!it.caller_settled && now > it.deadline` → `||`, and
// timer_live `Timer::Expire` `&&` → `||` (both): once a caller settled with E_DEADLINE while its
// slot went on for a follower, its deadline timer is dead. It settles nothing a second time, and
// it is no wake-up to report.
#[test]
fn a_deadline_timer_is_dead_once_its_caller_settled() {
    let (a, _, out, mut e) = unit_held_past(60.0);
    assert!(expired(&out).contains(&a));
    assert_eq!(e.poll_timeout(), None, "nothing is left to wake up for: a's caller already settled");
    // poll_timeout dropped the dead timer: a fresh engine shows that it would not fire either.
    let (a, _, _, mut e) = unit_held_past(60.0);
    e.handle_time(61.0);
    let out = outputs(&mut e);
    assert!(!out.iter().any(|o| matches!(o, Output::Settle { item, .. } if *item == a)), "settled twice: {out:?}");
}

// Kills: machine.rs timer_live `Timer::Window` `key.window_at == at && !key.queue.is_empty()` →
// `||`: the window timer of a batch already sent is dead, although the queue holds newer items
// (whose own window closes later); it is no wake-up to report.
#[test]
fn a_window_timer_is_dead_once_its_batch_was_sent() {
    let mut e = engine(Config { max_wait_ms: 100.0, ..quiet() });
    add(&mut e, 1.0, 0.0);
    assert_eq!(e.poll_timeout(), Some(100.0));
    e.flush(0.0);
    assert_eq!(dispatches(&mut e).len(), 1);
    add(&mut e, 1.0, 10.0);
    assert_eq!(e.poll_timeout(), Some(110.0), "the first window's timer is stale");
}

// Kills: dispatch.rs cut `weight + it.weight > cap` → `>=`: a batch may reach the weight cap
// exactly; only an item that would push it over waits for the next batch.
#[test]
fn a_batch_fills_up_to_exactly_the_weight_cap() {
    let mut e = engine(Config { max_batch_weight: Some(2.0), ..quiet() });
    let items: Vec<ItemId> = (0..3).map(|_| add(&mut e, 1.0, 0.0)).collect();
    e.flush(0.0);
    let sent: Vec<Vec<ItemId>> = dispatches(&mut e).into_iter().map(|d| d.items).collect();
    assert_eq!(sent, [items[..2].to_vec(), items[2..].to_vec()]);
}

// Kills: due.rs entry_live → true, and purge_front → (): the window of a queue is its oldest
// *live* item's. Once the first item is aborted, the window is the second one's, so nothing goes
// when the first one's window would have closed.
#[test]
fn an_aborted_item_takes_its_window_with_it() {
    let mut e = engine(Config { max_wait_ms: 100.0, ..quiet() });
    let first = add(&mut e, 1.0, 0.0);
    let second = add(&mut e, 1.0, 50.0);
    e.cancel(first, 60.0).unwrap();
    e.handle_time(100.0);
    e.handle_time(100.0);
    assert!(dispatches(&mut e).is_empty(), "the second item's window is still open");
    assert_eq!(e.poll_timeout(), Some(150.0));
    e.handle_time(150.0);
    e.handle_time(150.0);
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [vec![second]]);
}

// Kills: units.rs left_unit → (), `unit.live -= 1` → `+=` / `/=`, `unit.live > 0` → `>=`: a unit
// (a batch waiting for its backoff to be resent) whose items were all aborted is dropped at once,
// and its key with it; one held by capacity is dropped unsent.
#[test]
fn a_unit_whose_items_all_left_is_dropped_with_its_key() {
    let unavailable = || Failure { status: Some(503.0), ..Failure::thrown() };
    // Waiting for its backoff timer.
    let mut e = engine(quiet());
    let k = e.intern("k");
    let items: Vec<ItemId> = (0..2).map(|_| e.add(k, 1.0, None, None, 0.0).unwrap().0).collect();
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.fail(d[0].batch, unavailable(), 1.0).unwrap();
    assert!(released(&outputs(&mut e)).is_empty());
    e.cancel(items[0], 1.2).unwrap();
    assert!(released(&outputs(&mut e)).is_empty(), "one item is still in the unit");
    e.cancel(items[1], 1.4).unwrap();
    assert_eq!(released(&outputs(&mut e)), [k], "nothing is left of the key");
    e.handle_time(50.0);
    e.handle_time(50.0);
    assert!(dispatches(&mut e).is_empty());
    // Ready, but held by maxInFlight behind another key's call.
    let mut e = engine(Config { max_in_flight: 1.0, ..quiet() });
    let (k, other) = (e.intern("k"), e.intern("other"));
    let items: Vec<ItemId> = (0..2).map(|_| e.add(k, 1.0, None, None, 0.0).unwrap().0).collect();
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.fail(d[0].batch, unavailable(), 1.0).unwrap();
    e.add(other, 1.0, None, None, 1.0).unwrap();
    e.flush(1.0);
    let held = dispatches(&mut e);
    assert_eq!(held.len(), 1, "the other key's call holds the only slot");
    e.handle_time(10.0);
    e.handle_time(10.0);
    assert!(dispatches(&mut e).is_empty(), "the unit waits for capacity");
    for &item in &items {
        e.cancel(item, 11.0).unwrap();
    }
    // The key stays listed as due until capacity frees; then nothing is sent and it goes.
    e.complete(held[0].batch, &[ItemResult::Ok], 12.0).unwrap();
    let out = outputs(&mut e);
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "{out:?}");
    assert_eq!(released(&out), [other, k]);
}

// Kills: due.rs run_due `Some(now_oldest) if now_oldest != oldest` → false: a key waiting for
// capacity competes by its oldest item *now*. Its first item aborted while it waited, so another
// key's older item goes first.
#[test]
fn a_key_waiting_for_capacity_competes_by_its_oldest_item_now() {
    let mut e = engine(Config { max_in_flight: 1.0, ..quiet() });
    let (z, a, b) = (e.intern("z"), e.intern("a"), e.intern("b"));
    e.add(z, 1.0, None, None, 0.0).unwrap();
    e.flush(0.0);
    let busy = dispatches(&mut e);
    assert_eq!(busy.len(), 1);
    let a1 = e.add(a, 1.0, None, None, 1.0).unwrap().0;
    let b1 = e.add(b, 1.0, None, None, 2.0).unwrap().0;
    let a2 = e.add(a, 1.0, None, None, 3.0).unwrap().0;
    e.flush(3.0);
    assert!(dispatches(&mut e).is_empty(), "held by maxInFlight");
    e.cancel(a1, 4.0).unwrap();
    e.complete(busy[0].batch, &[ItemResult::Ok], 5.0).unwrap();
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), [vec![b1]], "b1 is older than a2");
    e.complete(d[0].batch, &[ItemResult::Ok], 6.0).unwrap();
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [vec![a2]]);
}

/// Adds `n` items for `resolveKeys` and returns them with the route call that classifies them.
fn routed(e: &mut Engine, n: usize) -> (Vec<ItemId>, hyperbatch::engine::RouteId) {
    let items: Vec<ItemId> = (0..n).map(|_| e.add(UNROUTED, 1.0, None, None, 0.0).unwrap().0).collect();
    e.flush(0.0);
    let route = outputs(e)
        .into_iter()
        .find_map(|o| match o {
            Output::Route { route, items: got } => {
                assert_eq!(got, items);
                Some(route)
            }
            _ => None,
        })
        .expect("a resolveKeys call");
    (items, route)
}

// Kills: machine.rs route_done's release loop `k > DEFAULT_KEY && key_valid(k)` → `==` / `<`
// (a key interned for an answer whose item left meanwhile would never be released) and → `||`
// (an id that names no key would be looked up: a panic instead of E_ROUTE).
#[test]
fn route_answers_release_unused_keys_and_refuse_unknown_ids() {
    let mut e = engine(quiet());
    let (items, route) = routed(&mut e, 2);
    e.cancel(items[0], 1.0).unwrap();
    outputs(&mut e);
    let (fresh, unknown) = (e.intern("fresh"), 999);
    e.route_done(route, &[fresh, unknown], 2.0).unwrap();
    let out = outputs(&mut e);
    assert_eq!(released(&out), [fresh], "its only item was aborted during the route call");
    let settled: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Settle { item, outcome, .. } => Some((*item, *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(settled, [(items[1], hyperbatch::engine::Outcome::Code(ErrorCode::Route))]);
    assert_eq!(e.unsettled(), 0);
}

/// How many plain adds `reserve_plain` hands out now (asking for plenty).
fn plain_room(e: &mut Engine) -> usize {
    e.reserve_plain(1000).len()
}

// Kills: admission.rs reserve_plain → empty, its `reserved.len() < want` → `>`; plain_room → 0 and
// its guard `closed || waiting > 0 || cap < 1.0 || circuit open` (each `||` → `&&`, `waiting > 0`
// → `==`/`<`/`>=`, `cap < 1.0` → `==`/`>`/`<=`): plain adds in bulk get as many ids as can be
// added before one must tick the host, and none when they must go through `add`.
#[test]
fn reserve_plain_hands_out_what_the_default_queue_takes_before_a_tick() {
    let mut e = engine(Config { max_batch_size: 5.0, ..quiet() });
    assert_eq!(plain_room(&mut e), 5, "up to maxBatchSize");
    let ids = e.reserve_plain(2).collect::<Vec<_>>();
    e.add_reserved(2, None, 0.0).unwrap();
    assert_eq!(plain_room(&mut e), 3);
    e.flush(1.0);
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [ids]);
    e.close(2.0);
    assert_eq!(plain_room(&mut e), 0, "closed");
    // A weight cap: each plain add weighs 1, so a cap of exactly 1 takes one, below 1 none.
    let mut e = engine(Config { max_batch_weight: Some(1.0), ..quiet() });
    assert_eq!(plain_room(&mut e), 1);
    let mut e = engine(Config { max_batch_weight: Some(0.5), ..quiet() });
    assert_eq!(plain_room(&mut e), 0, "a plain add is too heavy");
    // Adds waiting for room (whenFull: "wait") go first.
    let mut e = engine(Config { max_queued: 1.0, when_full: hyperbatch::engine::WhenFull::Wait, ..quiet() });
    let k = e.intern("k");
    e.add(k, 1.0, None, None, 0.0).unwrap();
    outputs(&mut e);
    e.add(k, 1.0, None, None, 0.0).unwrap();
    outputs(&mut e);
    let mut waiting = engine(Config { max_queued: 1.0, when_full: hyperbatch::engine::WhenFull::Wait, ..quiet() });
    assert_eq!(plain_room(&mut waiting), 1, "room for one");
    assert_eq!(plain_room(&mut e), 0, "an add waits");
    // Bulk adds are refused while adds wait for room, even an empty one (kills add_reserved's
    // `waiting > 0 || queued + n > cap` → `&&`, and `waiting > 0` → `<`).
    let full = hyperbatch::engine::AddError::Rejected(ErrorCode::Full);
    assert_eq!(e.add_reserved(0, None, 0.0), Err(full));
    assert_eq!(waiting.add_reserved(0, None, 0.0), Ok(()));
    // The default queue's circuit is open: adds are refused one by one.
    let breaker = Some(hyperbatch::engine::CircuitConfig { failure_threshold: 1.0, reset_ms: 100.0 });
    let mut e = engine(Config { circuit_breaker: breaker, ..quiet() });
    add(&mut e, 1.0, 0.0);
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.fail(d[0].batch, Failure { status: Some(400.0), ..Failure::thrown() }, 1.0).unwrap();
    assert_eq!(e.stats().circuits_open, 1);
    assert_eq!(plain_room(&mut e), 0, "circuit open");
}

// Kills: admission.rs try_add `refused = key != UNROUTED && ..` → `==`: an add to a key whose
// circuit is open settles with E_CIRCUIT_OPEN whatever the room, not E_FULL.
#[test]
fn an_add_to_an_open_circuit_is_refused_by_it_even_when_full() {
    let breaker = Some(hyperbatch::engine::CircuitConfig { failure_threshold: 1.0, reset_ms: 100.0 });
    let mut e = engine(Config { circuit_breaker: breaker, max_queued: 1.0, ..quiet() });
    let (down, other) = (e.intern("down"), e.intern("other"));
    e.add(down, 1.0, None, None, 0.0).unwrap();
    e.flush(0.0);
    let d = dispatches(&mut e);
    e.fail(d[0].batch, Failure { status: Some(400.0), ..Failure::thrown() }, 1.0).unwrap();
    outputs(&mut e);
    e.add(other, 1.0, None, None, 2.0).unwrap(); // maxQueued reached
    assert_eq!(
        e.add(other, 1.0, None, None, 2.0).unwrap_err(),
        hyperbatch::engine::AddError::Rejected(ErrorCode::Full)
    );
    let (item, _) = e.add(down, 1.0, None, None, 2.0).expect("accepted, then settled by the circuit");
    let out = outputs(&mut e);
    assert!(
        out.iter().any(|o| matches!(o, Output::Settle { item: i, outcome: hyperbatch::engine::Outcome::CircuitOpen { .. }, .. } if *i == item)),
        "{out:?}"
    );
}

#[test]
fn add_reserved_takes_only_ids_the_last_reservation_handed_out() {
    // Kills `reserved_shown -= n` → `+=` / `/=` in add_reserved: what is left of a reservation
    // is what it handed out less what was added; ids held back for the next call are not the
    // host's to add.
    let mut e = engine(Config { max_batch_size: 1000.0, ..quiet() });
    assert_eq!(e.reserve_plain(10).len(), 10);
    e.add_reserved(6, None, 0.0).expect("6 of 10");
    e.add_reserved(4, None, 0.0).expect("the other 4");
    assert!(matches!(
        e.add_reserved(1, None, 0.0),
        Err(AddError::Invalid(InputError::NotReserved { asked: 1, reserved: 0 }))
    ));
    // A smaller reservation hands out fewer ids and holds the rest back, in order.
    let first: Vec<_> = e.reserve_plain(10).collect();
    assert_eq!(e.reserve_plain(3).collect::<Vec<_>>(), &first[..3]);
    assert!(e.add_reserved(4, None, 0.0).is_err(), "only 3 were handed out");
    e.add_reserved(3, None, 0.0).expect("the 3");
    assert_eq!(e.reserve_plain(10).collect::<Vec<_>>(), first[3..], "the held-back ids go out next, in order");
}

/// `n` plain adds in bulk at `now`, as core.js makes them: reserve, then hand over what was taken.
fn bulk(e: &mut Engine, n: usize, now: f64) -> Vec<ItemId> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let got: Vec<ItemId> = e.reserve_plain(n - ids.len()).collect();
        assert!(!got.is_empty(), "no room for plain adds");
        e.add_reserved(got.len(), None, now).unwrap();
        ids.extend(got);
    }
    ids
}

fn ok_all(e: &mut Engine, d: &Dispatch, now: f64) {
    e.complete(d.batch, &vec![ItemResult::Ok; d.items.len()], now).unwrap();
    outputs(e);
}

// Kills (the plain-runs commit): fifo.rs front_mut → None (take_ids would grow the slot table for
// every reservation: freed ids never came back), back_mut → None and items.rs free_ids
// `last.0 + last.1 == first` → `!=` / `*` (freed batches would stay separate runs, so one
// reservation would stop at the first), `last.1 += n` → `*=` (the merged run would claim ids the
// table does not have).
#[test]
fn plain_batches_freed_in_order_come_back_as_one_reservation() {
    let mut e = engine(Config { max_batch_size: 6.0, ..quiet() });
    let a = bulk(&mut e, 3, 0.0);
    e.flush(0.0);
    let da = dispatches(&mut e);
    let b = bulk(&mut e, 3, 1.0);
    e.flush(1.0);
    let db = dispatches(&mut e);
    assert_eq!((a.clone(), b.clone()), ((0..3).collect(), (3..6).collect()));
    ok_all(&mut e, &da[0], 2.0);
    ok_all(&mut e, &db[0], 2.0);
    assert_eq!(e.reserve_plain(6), 0..6, "both freed batches, merged, in order");
    e.add_reserved(6, None, 3.0).unwrap();
    assert_eq!(e.reserve_plain(6), 6..12, "none free: the table grows");
}

// Kills: queue.rs push_run `b.at == e.at` → `!=`: plain adds handed over at different moments stay
// separate entries, each with its own maxWaitMs window; merged, what is left of the later adds after
// a cut would wait from the earlier moment.
#[test]
fn plain_adds_from_a_later_turn_keep_their_own_window() {
    let mut e = engine(Config { max_batch_size: 3.0, max_wait_ms: 10.0, ..quiet() });
    let early = bulk(&mut e, 2, 0.0);
    // The third fills the batch (a tick is asked for); two more are taken before the tick.
    let late = bulk(&mut e, 3, 5.0);
    e.handle_time(5.0);
    let d = dispatches(&mut e);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].items, [early[0], early[1], late[0]]);
    e.handle_time(12.0);
    assert!(dispatches(&mut e).is_empty(), "the last two arrived at 5: due at 15");
    e.handle_time(15.0);
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [late[1..].to_vec()]);
}

// Kills: deadline.rs call_took `e.run == 0 && slot_in(..) && deadline.is_finite()` → `||` (either
// `&&`): a lengthened lead re-arms the deadlines of live queued items only. An entry left behind by
// a cancelled item (or a run, whose first slot was never written) keeps a stale deadline in its
// slot: armed, it made the queue due at once.
#[test]
fn a_longer_lead_does_not_rearm_the_deadline_of_a_cancelled_item() {
    let mut e = engine(quiet());
    add(&mut e, 1.0, 0.0);
    e.flush(0.0);
    let slow = dispatches(&mut e);
    let queued = add(&mut e, 1.0, 1.0);
    let (gone, _) = e.add(DEFAULT_KEY, 1.0, Some(100.0), None, 1.0).unwrap();
    e.cancel(gone, 2.0).unwrap();
    outputs(&mut e);
    // A 50 ms call: the lead becomes 50 ms, and 100 − 50 ≤ now.
    ok_all(&mut e, &slow[0], 50.0);
    e.handle_time(50.0);
    assert!(dispatches(&mut e).is_empty(), "nothing queued has a deadline: the window (1e9 ms) holds");
    e.flush(60.0);
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [vec![queued]]);
}

// Kills: dispatch.rs cut `(e.run as usize).min(size - count)` → `size + count`: a run cut after
// other items gives the batch only the room maxBatchSize leaves.
#[test]
fn a_plain_run_after_other_items_fills_only_the_room_left() {
    let mut e = engine(Config { max_batch_size: 4.0, ..quiet() });
    let a = bulk(&mut e, 2, 0.0);
    let single = add(&mut e, 1.0, 0.0);
    let b = bulk(&mut e, 3, 0.0); // the first fills the batch, two more come before the tick
    e.handle_time(0.0);
    let sent: Vec<_> = dispatches(&mut e).into_iter().map(|d| d.items).collect();
    assert_eq!(sent, [vec![a[0], a[1], single, b[0]]]);
    e.flush(1.0);
    assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), [b[1..].to_vec()]);
}

// Kills: due.rs oldest's `e.run > 0 || it.caller_settled || now <= it.deadline || ..` → `&&` (the
// first `||`) and `e.run > 0` → `<`: a queued run is always sendable. Its first slot, never written,
// still holds the deadline of the item that used the id before; read, the run looked expired, so
// its key competed for capacity by a later item's order and another key went first.
#[test]
fn a_plain_run_competes_by_its_own_order_whatever_its_slot_held_before() {
    let mut e = engine(Config { max_in_flight: 1.0, ..quiet() });
    let other = e.intern("other");
    let blocker = e.intern("blocker");
    let (expired, _) = e.add(DEFAULT_KEY, 1.0, Some(5.0), None, 0.0).unwrap();
    e.add(blocker, 1.0, None, None, 0.0).unwrap();
    e.flush(0.0);
    let first = dispatches(&mut e);
    assert_eq!(first[0].items, [expired]);
    e.complete(first[0].batch, &[ItemResult::Ok], 1.0).unwrap();
    let held = dispatches(&mut e); // the blocker's batch goes now, and holds the only slot
    assert_eq!(held[0].key, blocker);
    let run = bulk(&mut e, 1, 2.0);
    assert_eq!(run, [expired], "the run reuses the freed id");
    let later = e.add(other, 1.0, None, None, 2.0).unwrap().0;
    let single = add(&mut e, 1.0, 2.0);
    e.flush(3.0);
    assert!(dispatches(&mut e).is_empty(), "maxInFlight");
    // At 10 the old deadline (5) has passed; the run, older than `later`, still goes first.
    e.complete(held[0].batch, &[ItemResult::Ok], 10.0).unwrap();
    e.handle_time(10.0);
    let next = dispatches(&mut e);
    assert_eq!(
        next.iter().map(|d| (d.key, d.items.clone())).collect::<Vec<_>>(),
        [(DEFAULT_KEY, vec![run[0], single])]
    );
    e.complete(next[0].batch, &[ItemResult::Ok; 2], 11.0).unwrap();
    let last: Vec<_> = dispatches(&mut e).into_iter().map(|d| (d.key, d.items)).collect();
    assert_eq!(last, [(other, vec![later])]);
}

// Kills: runs.rs stamp_run `it.order = r.order + j` → `*`: the items of a plain run written one by
// one (here, after an item error) keep their arrival orders, so a retried one rejoins its queue
// ahead of items that came after it.
#[test]
fn a_retried_item_of_a_plain_run_rejoins_ahead_of_later_items() {
    let mut c = quiet();
    c.retry.max_attempts = 3.0;
    let mut e = engine(c);
    bulk(&mut e, 5, 0.0);
    e.flush(0.0);
    dispatches(&mut e);
    let run = bulk(&mut e, 3, 0.0); // arrival orders 5, 6, 7
    e.flush(0.0);
    let d = dispatches(&mut e);
    assert_eq!(d[0].items, run);
    let later = [add(&mut e, 1.0, 0.0), add(&mut e, 1.0, 0.0)]; // orders 8, 9
    let retry = ItemResult::Err { retryable: true, retry_after_ms: None };
    e.complete(d[0].batch, &[ItemResult::Ok, ItemResult::Ok, retry], 1.0).unwrap();
    outputs(&mut e);
    e.handle_time(5.0); // its backoff (1 ms) is over: it rejoins, and its queue is due
    let sent: Vec<_> = dispatches(&mut e).into_iter().map(|d| d.items).collect();
    assert_eq!(sent, [vec![run[2], later[0], later[1]]]);
}

// ---------------------------------------------------------------- session 11: deadline runs

/// `n` deadline adds in bulk at `now`, one deadline for all, as core.js records them.
fn bulk_by(e: &mut Engine, n: usize, deadline: f64, now: f64) -> Vec<ItemId> {
    let ids: Vec<ItemId> = e.reserve_plain(n).collect();
    assert_eq!(ids.len(), n, "room for {n}");
    e.add_reserved(n, Some(deadline), now).expect("accepted");
    ids
}

fn sent(out: &[Output]) -> Vec<Vec<ItemId>> {
    out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect()
}

// Kills: admission.rs add_reserved `now > deadline` → `>=`: a deadline equal to now has not
// passed, for deadline adds in bulk as for `add` (which accepts it); the items go at once.
#[test]
fn a_deadline_equal_to_now_is_accepted_in_bulk_as_by_add() {
    assert!(engine(quiet()).add(DEFAULT_KEY, 1.0, Some(5.0), None, 5.0).is_ok(), "add takes it");
    let mut e = engine(quiet());
    let run = bulk_by(&mut e, 2, 5.0, 5.0);
    e.handle_time(5.0);
    let out = outputs(&mut e);
    assert_eq!(sent(&out), [run], "sent at once");
    assert!(expired(&out).is_empty());
}

// Kills: admission.rs add_reserved `order + n - 1` → `+ 1` / `/ 1`: a run whose deadline is near
// makes its queue due through the run's last item only; an add after it waits for its window.
#[test]
fn a_near_deadline_run_makes_due_only_itself_not_the_adds_after_it() {
    let mut e = engine(Config { max_batch_size: 2.0, ..quiet() });
    let run = bulk_by(&mut e, 2, 5.0, 0.0); // lead 10 ms: due at once
    let later = add(&mut e, 1.0, 0.0);
    e.handle_time(0.0);
    assert_eq!(sent(&outputs(&mut e)), [run]);
    e.handle_time(1.0);
    assert!(sent(&outputs(&mut e)).is_empty(), "the later add is not due: its window is 1e9 ms");
    e.flush(2.0);
    assert_eq!(sent(&outputs(&mut e)), [vec![later]]);
}

// Kills: deadline.rs expire_runs `now > e.deadline` → `>=` and dispatch.rs cut `now > e.deadline`
// → `>=`: a run's deadline passes only once `now` is after it. Held back by maxInFlightPerKey,
// the run whose deadline is 20 expires at 21; the one whose deadline is 21 is still sent at 21.
#[test]
fn a_queued_run_whose_deadline_is_now_is_sent_not_expired() {
    let mut e = engine(Config { max_wait_ms: 0.0, max_in_flight_per_key: Some(1.0), ..quiet() });
    bulk(&mut e, 1, 0.0);
    e.handle_time(0.0);
    let first = dispatches(&mut e);
    let early = bulk_by(&mut e, 2, 20.0, 1.0);
    let late = bulk_by(&mut e, 2, 21.0, 1.0);
    e.handle_time(21.0);
    let out = outputs(&mut e);
    assert_eq!(expired(&out), early, "only the run whose deadline passed: {out:?}");
    e.complete(first[0].batch, &[ItemResult::Ok], 21.0).unwrap();
    let out = outputs(&mut e);
    assert!(expired(&out).is_empty(), "{out:?}");
    assert_eq!(sent(&out), [late]);
}

// Kills: deadline.rs call_took `e.run() > 0 && e.deadline.is_finite()` → `e.run() == 0 && ..` /
// `< 0`, and `e.order + run − 1` → `e.order * run − 1` (a run of one: due through the item
// before it): when a long call lengthens the lead, a queued run's deadline is armed again,
// earlier, as an item's is: the run goes at once (100 − 50 ≤ 50), not at 90 as the first lead
// (10 ms) had it.
#[test]
fn a_longer_lead_sends_a_queued_run_with_a_deadline_earlier() {
    let mut e = engine(quiet());
    bulk(&mut e, 1, 0.0);
    e.flush(0.0);
    let slow = dispatches(&mut e);
    let run = bulk_by(&mut e, 1, 100.0, 1.0);
    assert_eq!(e.poll_timeout(), Some(90.0), "deadline − the first lead");
    e.complete(slow[0].batch, &[ItemResult::Ok], 50.0).unwrap();
    e.handle_time(50.0);
    assert_eq!(sent(&outputs(&mut e)), [run], "the lead is 50 ms now");
}

// Kills: deadline.rs call_took `e.order + run − 1` → `+ 1` / `/ 1`: armed again, a run's deadline
// makes its queue due through the run's last item only, not the add after it.
#[test]
fn a_run_armed_again_by_a_longer_lead_makes_due_only_itself() {
    let mut e = engine(Config { max_batch_size: 2.0, max_in_flight: 1.0, ..quiet() });
    bulk(&mut e, 1, 0.0);
    e.flush(0.0);
    let slow = dispatches(&mut e);
    let run = bulk_by(&mut e, 2, 100.0, 1.0);
    let later = add(&mut e, 1.0, 1.0); // the queue is full now, but maxInFlight holds it
    e.handle_time(1.0);
    assert!(dispatches(&mut e).is_empty());
    e.complete(slow[0].batch, &[ItemResult::Ok], 50.0).unwrap();
    let d = dispatches(&mut e);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), [run]);
    e.complete(d[0].batch, &[ItemResult::Ok; 2], 51.0).unwrap();
    e.handle_time(51.0);
    assert!(sent(&outputs(&mut e)).is_empty(), "the later add waits for its window");
    e.flush(52.0);
    assert_eq!(sent(&outputs(&mut e)), [vec![later]]);
}

// Kills: time.rs timer_live CallDeadline `!b.runs.is_empty()` → `is_empty()`, ExpireRun
// `first + len` → `*` and `state != Free` → `==`: a host that sleeps until `poll_timeout` must be
// woken for the deadline of runs in flight, whether the call still holds them as runs (a
// CallDeadline timer) or has written their slots (an ExpireRun timer: here after an item error
// and a resend). The earlier run `x` takes the queue's one RunExpiry timer, which would wake the
// host at the same moment otherwise.
#[test]
fn a_host_woken_by_poll_timeout_expires_runs_in_flight() {
    let mut c = quiet();
    c.max_wait_ms = 0.0;
    c.retry.max_attempts = 3.0;
    for resend in [false, true] {
        let mut e = engine(c.clone());
        let x = bulk_by(&mut e, 2, 20.0, 0.0);
        e.handle_time(0.0);
        let first = dispatches(&mut e);
        let y = bulk_by(&mut e, 1, 50.0, 1.0); // one id, from 2: `2 * 1` would be no range
        e.handle_time(1.0);
        let second = dispatches(&mut e);
        assert_eq!([first[0].items.clone(), second[0].items.clone()], [x.clone(), y.clone()]);
        if resend {
            let retry = ItemResult::Err { retryable: true, retry_after_ms: None };
            e.complete(second[0].batch, &[retry], 10.0).unwrap();
            outputs(&mut e);
            e.handle_time(11.0); // backoff 1 ms: resent, their slots written
            assert_eq!(dispatches(&mut e).into_iter().map(|d| d.items).collect::<Vec<_>>(), std::slice::from_ref(&y));
        }
        e.handle_time(21.0);
        assert_eq!(expired(&outputs(&mut e)), x);
        let at = e.poll_timeout();
        assert_eq!(at, Some(50f64.next_up()), "resend {resend}: woken for y's deadline");
        e.handle_time(at.unwrap());
        assert_eq!(expired(&outputs(&mut e)), y, "resend {resend}");
    }
}
