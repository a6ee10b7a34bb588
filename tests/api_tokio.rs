//! The Rust API on tokio (`cargo test --features tokio`): the contract's behaviours that are not
//! JavaScript-specific. Tests run on tokio's paused clock, so windows and backoff delays are
//! exact and cost no real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use hyperbatch::{
    AddOptions, Batch, BatchResult, Batcher, ErrorCode, ErrorMode, Instant, ItemError, Jitter, RetryBudget,
    RetryConfig, TransportError, WhenFull,
};
use tokio::time::sleep;

const MS: Duration = Duration::from_millis(1);

/// What one transport call saw: its key, items, attempt, and when it started (ms since the test began).
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    key: Option<String>,
    items: Vec<u32>,
    attempt: u32,
    at: u64,
}

#[derive(Clone)]
struct Log {
    start: tokio::time::Instant,
    calls: Arc<Mutex<Vec<Seen>>>,
}

impl Log {
    fn new() -> Log {
        Log { start: tokio::time::Instant::now(), calls: Arc::default() }
    }
    fn record(&self, b: &Batch<u32>) {
        let at = self.start.elapsed().as_millis() as u64;
        let key = b.key.as_deref().map(str::to_owned);
        self.calls.lock().unwrap().push(Seen { key, items: b.items.to_vec(), attempt: b.attempt, at });
    }
    fn calls(&self) -> Vec<Seen> {
        self.calls.lock().unwrap().clone()
    }
    fn items(&self) -> Vec<Vec<u32>> {
        self.calls().into_iter().map(|c| c.items).collect()
    }
}

fn doubled(b: &Batch<u32>) -> BatchResult<u32> {
    Ok(b.items.iter().map(|n| Ok(n * 2)).collect())
}

/// A batcher that doubles its items and logs its calls.
fn doubler(builder: hyperbatch::Builder<u32, u32>) -> (Batcher<u32, u32>, Log) {
    let log = Log::new();
    let l = log.clone();
    let b = builder.build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move { doubled(&batch) }
    });
    (b, log)
}

fn no_jitter() -> RetryConfig {
    RetryConfig::default().jitter(Jitter::None).base_delay(100 * MS)
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_dispatches_at_once() {
    let (b, log) = doubler(Batcher::builder().max_batch_size(3).max_wait(Duration::from_secs(3600)));
    let r = join_all((1..=7).map(|n| b.add(n))).await;
    // 7 items: two full batches at once; the third waits for its window.
    assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), vec![2, 4, 6, 8, 10, 12, 14]);
    let calls = log.calls();
    assert_eq!(log.items(), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    assert_eq!((calls[0].at, calls[1].at, calls[2].at), (0, 0, 3_600_000));
}

#[tokio::test(start_paused = true)]
async fn a_queue_dispatches_when_its_window_ends() {
    let (b, log) = doubler(Batcher::builder().max_wait(50 * MS));
    let first = b.add(1);
    sleep(20 * MS).await;
    let second = b.add(2);
    assert_eq!((first.await.unwrap(), second.await.unwrap()), (2, 4));
    let calls = log.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].items.clone(), calls[0].at), (vec![1, 2], 50), "the window starts at the first item");
}

#[tokio::test(start_paused = true)]
async fn max_wait_zero_batches_the_adds_made_before_the_driver_runs() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::ZERO));
    let pending: Vec<_> = (0..5).map(|n| b.add(n)).collect();
    assert!(log.calls().is_empty(), "nothing is sent from inside add()");
    join_all(pending).await;
    assert_eq!(log.items(), vec![vec![0, 1, 2, 3, 4]]);
}

#[tokio::test(start_paused = true)]
async fn keys_get_their_own_queues_and_batches() {
    let (b, log) = doubler(Batcher::builder().key_of(|n: &u32| if n % 2 == 0 { "even" } else { "odd" }));
    let opts = AddOptions { key: Some("override".into()), ..Default::default() };
    let r = join_all((0..6).map(|n| b.add(n)).chain([b.add_with(99, opts)])).await;
    assert!(r.iter().all(Result::is_ok));
    let mut calls: Vec<_> = log.calls().into_iter().map(|c| (c.key.unwrap(), c.items)).collect();
    calls.sort();
    assert_eq!(
        calls,
        vec![("even".into(), vec![0, 2, 4]), ("odd".into(), vec![1, 3, 5]), ("override".into(), vec![99])]
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_is_retried_with_backoff() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().retry(no_jitter()).build(move |batch: Batch<u32>| {
        l.record(&batch);
        let n = l.calls().len();
        async move {
            match n {
                1 => Err(TransportError::new("unavailable").status(503)),
                2 => Err(TransportError::new("slow down").status(429).retry_after(300 * MS)),
                _ => doubled(&batch),
            }
        }
    });
    assert_eq!(b.add(21).await.unwrap(), 42);
    let calls = log.calls();
    // Sent at 10 ms (window); 100 ms backoff; then 200 ms, floored by the 300 ms retry-after.
    let at: Vec<_> = calls.iter().map(|c| (c.at, c.attempt)).collect();
    assert_eq!(at, vec![(10, 1), (110, 2), (410, 3)]);
    assert_eq!(b.stats().retries, 2);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_item_error_resends_that_item_alone() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().retry(no_jitter()).build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move {
            Ok(batch
                .items
                .iter()
                .map(|&n| if n == 2 && batch.attempt == 1 { Err(ItemError::new("busy").retryable()) } else { Ok(n) })
                .collect())
        }
    });
    let r = join_all((1..=3).map(|n| b.add(n))).await;
    assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(log.items(), vec![vec![1, 2, 3], vec![2]]);
}

#[tokio::test(start_paused = true)]
async fn an_item_error_that_never_clears_reaches_its_caller() {
    let b = Batcher::builder().retry(no_jitter().max_attempts(2)).build(|batch: Batch<u32>| async move {
        Ok(batch.items.iter().map(|_| Err(ItemError::new("still busy").retryable())).collect::<Vec<Result<u32, _>>>())
    });
    let e = b.add(1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Item);
    assert_eq!(e.item_error().unwrap().to_string(), "still busy");
    assert_eq!(b.stats().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn bisect_isolates_a_poison_item() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move {
            if batch.items.contains(&5) {
                Err(TransportError::new("bad request").status(400))
            } else {
                doubled(&batch)
            }
        }
    });
    let r = join_all((0..8).map(|n| b.add(n))).await;
    for (n, r) in r.into_iter().enumerate() {
        if n == 5 {
            let e = r.unwrap_err();
            assert_eq!(e.code(), ErrorCode::Transport);
            assert_eq!(e.transport_error().unwrap().status_code(), Some(400));
            assert_eq!(
                e.to_string(),
                "hyperbatch: transport failed after 4 attempts: bad request",
                "8, 4, 2, then 1 item"
            );
        } else {
            assert_eq!(r.unwrap(), n as u32 * 2);
        }
    }
    assert!(log.items().contains(&vec![5]), "the poison item was sent alone");
    assert!(b.stats().bisects >= 3);
}

#[tokio::test(start_paused = true)]
async fn the_budget_stops_retries_of_a_failing_service() {
    let log = Log::new();
    let l = log.clone();
    let budget = RetryBudget { max_tokens: 4.0, token_ratio: 0.1 };
    let b = Batcher::builder().max_batch_size(1).retry(no_jitter().max_attempts(10).budget(budget)).build(
        move |batch: Batch<u32>| {
            l.record(&batch);
            async { Err::<Vec<Result<u32, ItemError>>, _>(TransportError::new("down").status(503)) }
        },
    );
    let r = join_all((0..4).map(|n| b.add(n))).await;
    assert!(r.iter().all(|r| r.as_ref().unwrap_err().code() == ErrorCode::Transport));
    let s = b.stats();
    // 4 tokens: two failures leave 2 = max/2, so every later retry is refused.
    assert!(s.throttled >= 1, "{s:?}");
    assert!(log.calls().len() < 4 * 10, "the budget cut retries short: {} calls", log.calls().len());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_makes_its_queue_dispatch_in_time() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::from_secs(10)));
    let due = Instant::now() + 100 * MS;
    assert_eq!(b.add_with(4, AddOptions { deadline: Some(due), ..Default::default() }).await.unwrap(), 8);
    let at = log.calls()[0].at;
    assert!((80..100).contains(&at), "sent before the deadline, not after the window: {at} ms");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_passes_in_flight_fails_the_item() {
    let b = Batcher::builder().build(|batch: Batch<u32>| async move {
        sleep(Duration::from_secs(1)).await;
        doubled(&batch)
    });
    let due = Instant::now() + 200 * MS;
    let late = b.add_with(1, AddOptions { deadline: Some(due), ..Default::default() });
    let other = b.add(2);
    let started = tokio::time::Instant::now();
    assert_eq!(late.await.unwrap_err().code(), ErrorCode::Deadline);
    assert!(started.elapsed() < 300 * MS);
    assert_eq!(other.await.unwrap(), 4, "its batchmate is unaffected");
    let past = b.add_with(3, AddOptions { deadline: Some(Instant::now() - MS), ..Default::default() });
    assert_eq!(past.await.unwrap_err().code(), ErrorCode::Deadline);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_aborts_a_queued_item() {
    let (b, log) = doubler(Batcher::builder().max_wait(50 * MS));
    let keep = b.add(1);
    drop(b.add(2));
    assert_eq!(keep.await.unwrap(), 2);
    assert_eq!(log.items(), vec![vec![1]], "the dropped item was never sent");
    let s = b.stats();
    assert_eq!((s.items, s.succeeded, s.failed), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_call_whose_callers_all_left_is_cancelled() {
    let finished = Arc::new(Mutex::new(0));
    let f = finished.clone();
    let b = Batcher::builder().max_wait(MS).build(move |batch: Batch<u32>| {
        let f = f.clone();
        async move {
            sleep(Duration::from_secs(1)).await;
            *f.lock().unwrap() += 1;
            doubled(&batch)
        }
    });
    let pending = b.add(1);
    // Let the call start, then walk away from it.
    let r = tokio::time::timeout(100 * MS, pending).await;
    assert!(r.is_err());
    b.close().await;
    assert_eq!(*finished.lock().unwrap(), 0, "the transport future was dropped, not run to its end");
    assert_eq!(b.stats().in_flight_batches, 0);
}

#[tokio::test(start_paused = true)]
async fn close_sends_everything_and_waits() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::from_secs(3600)));
    let pending: Vec<_> = (0..5).map(|n| b.add(n)).collect();
    let started = tokio::time::Instant::now();
    b.close().await;
    assert!(started.elapsed() < 10 * MS, "close does not wait for the window");
    let r = join_all(pending).await;
    assert!(r.iter().all(Result::is_ok));
    assert_eq!(log.items(), vec![vec![0, 1, 2, 3, 4]]);
    assert_eq!(b.add(9).await.unwrap_err().code(), ErrorCode::Closed);
    b.close().await; // idempotent
    b.flush().await; // resolves at once once closed
}

#[tokio::test(start_paused = true)]
async fn flush_sends_now_and_resolves_when_those_items_settle() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::from_secs(3600)));
    let pending = b.add(3);
    let started = tokio::time::Instant::now();
    b.flush().await;
    assert!(started.elapsed() < 10 * MS);
    assert_eq!(pending.await.unwrap(), 6);
    assert_eq!(log.items(), vec![vec![3]]);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_still_sends_what_is_queued() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::from_secs(3600)));
    let pending = b.add(5);
    drop(b);
    assert_eq!(pending.await.unwrap(), 10);
    assert_eq!(log.items(), vec![vec![5]]);
}

#[tokio::test(start_paused = true)]
async fn a_call_past_its_timeout_fails_with_e_timeout() {
    let b = Batcher::builder().timeout(100 * MS).retry(RetryConfig::default().max_attempts(1)).build(
        |batch: Batch<u32>| async move {
            sleep(Duration::from_secs(5)).await;
            doubled(&batch)
        },
    );
    let e = b.add(1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout);
    assert_eq!(e.to_string(), "hyperbatch: the transport call took longer than timeout (100 ms)");
}

#[tokio::test(start_paused = true)]
async fn a_result_of_the_wrong_length_is_a_shape_error() {
    let b = Batcher::builder().build(|_: Batch<u32>| async { Ok(vec![]) as BatchResult<u32> });
    let e = b.add(1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::ResultShape);
    assert_eq!(e.to_string(), "hyperbatch: transport must return an array of 1 entries, got an array of 0");
}

#[tokio::test(start_paused = true)]
async fn error_modes_fail_fast_and_atomic() {
    for (mode, code) in [(ErrorMode::FailFast, ErrorCode::FailFast), (ErrorMode::Atomic, ErrorCode::Atomic)] {
        let b = Batcher::builder().error_mode(mode).build(|batch: Batch<u32>| async move {
            Ok(batch.items.iter().map(|&n| if n == 1 { Err(ItemError::new("nope")) } else { Ok(n) }).collect())
        });
        let r = join_all((0..3).map(|n| b.add(n))).await;
        let e0 = r[0].as_ref().unwrap_err();
        assert_eq!(e0.code(), code);
        assert_eq!(e0.item_error().unwrap().to_string(), "nope", "cause = the first failing entry");
        let own = if mode == ErrorMode::FailFast { ErrorCode::Item } else { ErrorCode::Atomic };
        assert_eq!(r[1].as_ref().unwrap_err().code(), own);
    }
}

#[tokio::test(start_paused = true)]
async fn duplicates_share_one_slot() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().dedupe_by(|n: &u32| *n).build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move { Ok(batch.items.iter().map(|n| Ok(format!("v{n}"))).collect()) }
    });
    let r = join_all([b.add(1), b.add(2), b.add(1)]).await;
    assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), ["v1", "v2", "v1"]);
    assert_eq!(log.items(), vec![vec![1, 2]]);
}

#[tokio::test(start_paused = true)]
async fn backpressure_rejects_or_waits() {
    let (b, _) = doubler(Batcher::builder().max_queued(2).max_wait(Duration::from_secs(1)));
    let (x, y) = (b.add(1), b.add(2));
    assert_eq!(b.add(3).await.unwrap_err().code(), ErrorCode::Full);
    assert!(x.await.is_ok() && y.await.is_ok());

    let (b, log) = doubler(
        Batcher::builder().max_queued(2).max_wait(Duration::from_secs(1)).when_full(WhenFull::Wait).max_batch_size(100),
    );
    let r = join_all((0..5).map(|n| b.add(n))).await;
    assert!(r.iter().all(Result::is_ok));
    assert!(log.calls().iter().all(|c| c.at < 100), "backpressure flushes instead of waiting for windows");
}

#[tokio::test(start_paused = true)]
async fn weight_caps_batches_and_rejects_an_item_too_heavy_alone() {
    let (b, log) = doubler(Batcher::builder().max_batch_weight(10.0).weight_of(|n: &u32| *n as f64));
    let r = join_all([b.add(4), b.add(5), b.add(3), b.add(11)]).await;
    assert_eq!(r[3].as_ref().unwrap_err().code(), ErrorCode::TooLarge);
    assert_eq!(log.items(), vec![vec![4, 5], vec![3]]);
}

#[tokio::test(start_paused = true)]
async fn resolve_keys_routes_items_without_a_key() {
    let (b, log) = doubler(Batcher::builder().key_of(|n: &u32| (*n >= 100).then_some("big")).resolve_keys(
        |items: Vec<u32>| async move {
            Ok(items.iter().map(|n| if *n == 7 { None } else { Some(format!("r{}", n % 2)) }).collect())
        },
    ));
    let r = join_all([b.add(1), b.add(2), b.add(7), b.add(100)]).await;
    assert_eq!(r[2].as_ref().unwrap_err().code(), ErrorCode::Route);
    assert!(r[0].is_ok() && r[1].is_ok() && r[3].is_ok());
    let mut keys: Vec<_> = log.calls().into_iter().map(|c| c.key.unwrap()).collect();
    keys.sort();
    assert_eq!(keys, ["big", "r0", "r1"]);
}

#[tokio::test(start_paused = true)]
async fn config_errors_name_the_option() {
    let e = Batcher::builder().max_batch_size(0).try_build(|b: Batch<u32>| async move { doubled(&b) }).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Config);
    assert_eq!(e.to_string(), "hyperbatch: option `max_batch_size` must be an integer from 1 to 100000, got 0");
    let e = Batcher::builder()
        .retry(RetryConfig::default().max_attempts(0))
        .try_build(|b: Batch<u32>| async move { doubled(&b) })
        .unwrap_err();
    assert!(e.to_string().contains("`retry.max_attempts`"), "{e}");
}

/// Hooks: one start and one end per transport call, each with that call's own items and results.
#[derive(Debug, Clone, PartialEq)]
enum Hook {
    Start { id: u64, items: Vec<u32>, attempt: u32 },
    End { id: u64, items: Vec<u32>, results: Option<Vec<Result<u32, String>>>, error: Option<ErrorCode>, ok: usize },
}

fn hooked(builder: hyperbatch::Builder<u32, u32>) -> (hyperbatch::Builder<u32, u32>, Arc<Mutex<Vec<Hook>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s, e) = (seen.clone(), seen.clone());
    let builder = builder
        .on_batch_start(move |info| {
            s.lock().unwrap().push(Hook::Start { id: info.id, items: info.items.to_vec(), attempt: info.attempt })
        })
        .on_batch_end(move |info| {
            let results =
                info.results.map(|r| r.iter().map(|r| r.as_ref().map(|v| *v).map_err(|e| e.to_string())).collect());
            e.lock().unwrap().push(Hook::End {
                id: info.id,
                items: info.items.to_vec(),
                results,
                error: info.error.map(|e| e.code()),
                ok: info.succeeded,
            });
        });
    (builder, seen)
}

#[tokio::test(start_paused = true)]
async fn hooks_see_each_calls_items_and_results_once() {
    // Call 1 fails (retried), call 2 answers with one item error, bisect isolates 13 in later calls.
    let (builder, seen) = hooked(Batcher::builder().retry(no_jitter()));
    let calls = Arc::new(Mutex::new(0));
    let b = builder.build(move |batch: Batch<u32>| {
        let n = {
            let mut c = calls.lock().unwrap();
            *c += 1;
            *c
        };
        async move {
            if n == 1 {
                return Err(TransportError::new("flaky"));
            }
            if batch.items.contains(&13) {
                return Err(TransportError::new("poison").retryable(false));
            }
            Ok(batch.items.iter().map(|&n| if n == 2 { Err(ItemError::new("two")) } else { Ok(n) }).collect())
        }
    });
    let r = join_all([b.add(1), b.add(2), b.add(3), b.add(13)]).await;
    assert!(r[0].is_ok() && r[2].is_ok());
    assert_eq!(r[1].as_ref().unwrap_err().code(), ErrorCode::Item);
    assert_eq!(r[3].as_ref().unwrap_err().code(), ErrorCode::Transport);

    let seen = seen.lock().unwrap().clone();
    let starts: Vec<_> =
        seen.iter().filter_map(|h| if let Hook::Start { id, .. } = h { Some(*id) } else { None }).collect();
    let ends: Vec<_> =
        seen.iter().filter_map(|h| if let Hook::End { id, .. } = h { Some(*id) } else { None }).collect();
    assert_eq!(starts.len(), b.stats().batches as usize, "one start per call");
    assert_eq!(starts, ends, "one end per call, in the same order here");
    for h in &seen {
        let Hook::End { id, items, results, error, ok } = h else { continue };
        let start = seen.iter().find(|s| matches!(s, Hook::Start { id: i, .. } if i == id)).unwrap();
        let Hook::Start { items: started, .. } = start else { unreachable!() };
        assert_eq!(items, started, "the end hook sees the call's own items");
        match (results, error) {
            (Some(results), None) => {
                assert_eq!(results.len(), items.len());
                for (item, r) in items.iter().zip(results) {
                    assert_eq!(r, &if *item == 2 { Err("two".into()) } else { Ok(*item) });
                }
                assert_eq!(*ok, results.iter().filter(|r| r.is_ok()).count());
            }
            (None, Some(code)) => assert_eq!(*code, ErrorCode::Transport),
            other => panic!("results xor error: {other:?}"),
        }
    }
    // The first call's batch-level failure, then a retry of the same items with attempt 2.
    assert!(matches!(&seen[1], Hook::End { results: None, error: Some(ErrorCode::Transport), .. }));
    assert!(matches!(&seen[2], Hook::Start { attempt: 2, items, .. } if items == &vec![1, 2, 3, 13]));
    assert!(seen.iter().any(|h| matches!(h, Hook::Start { items, .. } if items == &vec![13])), "bisect's lone call");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_hook_changes_no_outcome() {
    let (b, _) = doubler(Batcher::builder().on_batch_start(|_| panic!("hook")).on_batch_end(|_| panic!("hook")));
    assert_eq!(b.add(2).await.unwrap(), 4);
}

/// SplitMix64: the fault schedule of a seed, replayable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every accepted item settles exactly once, with its own value, whatever the transport does:
/// values, item errors, batch errors of every class, wrong shapes, hangs past the timeout,
/// and callers walking away.
#[tokio::test(start_paused = true)]
async fn every_item_settles_exactly_once_under_random_faults() {
    for seed in 0..40u64 {
        let rng = Arc::new(Mutex::new(Rng(seed)));
        let r = rng.clone();
        let base = Batcher::builder()
            .seed(seed)
            .max_batch_size(1 + (seed % 7) as usize)
            .max_wait(Duration::from_millis(seed % 3))
            .key_of(move |n: &u32| n % (1 + (seed % 3) as u32))
            .timeout(200 * MS)
            .max_in_flight(1 + (seed % 4) as usize)
            .error_mode([ErrorMode::Partial, ErrorMode::FailFast, ErrorMode::Atomic][(seed % 5).min(2) as usize])
            .retry(RetryConfig::default().base_delay(5 * MS).max_attempts(1 + (seed % 4) as u32));
        // Half the seeds with a circuit breaker that opens and probes during the run.
        let breaker = hyperbatch::CircuitBreaker { failure_threshold: 2, reset: 50 * MS };
        let base = if seed % 2 == 0 { base.circuit_breaker(breaker) } else { base };
        let (builder, seen) = hooked(base);
        let b = builder.build(move |batch: Batch<u32>| {
            let (fault, delay, mask) = {
                let mut r = r.lock().unwrap();
                (r.below(10), r.below(30), r.next())
            };
            async move {
                sleep(Duration::from_millis(delay)).await;
                let ok = |n: u32| n + 1000;
                match fault {
                    0 => Err(TransportError::new("503").status(503)),
                    1 => Err(TransportError::new("400").status(400)),
                    2 => Ok(vec![]),
                    3 => {
                        sleep(Duration::from_secs(1)).await;
                        Ok(batch.items.iter().map(|&n| Ok(ok(n))).collect())
                    }
                    _ => Ok(batch
                        .items
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| match (mask >> (2 * i % 64)) & 7 {
                            0 => Err(ItemError::new("gone")),
                            1 => Err(ItemError::new("busy").retryable()),
                            _ => Ok(ok(n)),
                        })
                        .collect()),
                }
            }
        });
        let mut kept = Vec::new();
        let mut dropped = 0;
        for n in 0..60u32 {
            let f = b.add(n);
            let (walk_away, pause) = {
                let mut r = rng.lock().unwrap();
                (r.below(8) == 0, r.below(20))
            };
            if walk_away {
                drop(f);
                dropped += 1;
            } else {
                kept.push((n, tokio::spawn(f)));
            }
            if n % 10 == 0 {
                sleep(Duration::from_millis(pause)).await;
            }
        }
        b.close().await;
        for (n, handle) in kept {
            let r = tokio::time::timeout(Duration::from_secs(60), handle).await.expect("settled").unwrap();
            if let Ok(v) = r {
                assert_eq!(v, n + 1000, "seed {seed}: item {n} got another item's value");
            }
        }
        let s = b.stats();
        assert_eq!(s.items, 60, "seed {seed}");
        assert_eq!(s.succeeded + s.failed, 60, "seed {seed}: every item settled once: {s:?}");
        assert!(seed % 2 == 0 || s.circuits_open == 0, "seed {seed}");
        assert!(s.failed >= dropped, "seed {seed}");
        assert_eq!((s.queued, s.in_flight_batches, s.in_flight_items), (0, 0, 0), "seed {seed}");
        let seen = seen.lock().unwrap();
        let starts = seen.iter().filter(|h| matches!(h, Hook::Start { .. })).count();
        let ends = seen.iter().filter(|h| matches!(h, Hook::End { .. })).count();
        assert_eq!((starts, ends), (s.batches as usize, s.batches as usize), "seed {seed}: hooks once per call");
    }
}

#[tokio::test(start_paused = true)]
async fn a_transport_that_panics_fails_its_call_not_the_batcher() {
    let b = Batcher::builder().retry(RetryConfig::default().max_attempts(1)).build(|batch: Batch<u32>| {
        if batch.items.contains(&1) {
            panic!("boom before the future");
        }
        async move {
            if batch.items.contains(&2) {
                panic!("boom inside");
            }
            doubled(&batch)
        }
    });
    for n in [1, 2] {
        let e = b.add(n).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Transport);
        assert!(e.to_string().contains("the transport panicked: boom"), "{e}");
    }
    assert_eq!(b.add(3).await.unwrap(), 6, "the batcher still works");
}

#[tokio::test(start_paused = true)]
async fn add_queues_at_call_time_not_at_first_poll() {
    let (b, log) = doubler(Batcher::builder().max_wait(Duration::from_secs(1)));
    let pending = b.add(1);
    assert_eq!((b.stats().items, b.stats().queued), (1, 1), "queued before any poll");
    let flushed = b.flush(); // dispatches now, not when awaited
    sleep(MS).await;
    assert_eq!(log.items(), vec![vec![1]]);
    flushed.await;
    assert_eq!(pending.await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn adaptive_sends_a_lone_item_at_once_and_gathers_under_load() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().adaptive(true).max_wait(Duration::from_secs(1)).build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move {
            sleep(50 * MS).await;
            doubled(&batch)
        }
    });
    let first = b.add(1);
    sleep(10 * MS).await;
    let more: Vec<_> = (2..5).map(|n| b.add(n)).collect();
    assert_eq!(first.await.unwrap(), 2);
    join_all(more).await;
    let calls = log.calls();
    assert_eq!((calls[0].at, calls[0].items.clone()), (0, vec![1]), "no wait with nothing in flight");
    assert_eq!((calls[1].at, calls[1].items.clone()), (50, vec![2, 3, 4]), "gathered until the call ended");
}

#[tokio::test(start_paused = true)]
async fn one_call_per_key_at_a_time_keeps_order() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder().max_batch_size(2).max_in_flight_per_key(1).build(move |batch: Batch<u32>| {
        l.record(&batch);
        async move {
            sleep(10 * MS).await;
            doubled(&batch)
        }
    });
    join_all((0..6).map(|n| b.add(n))).await;
    let calls = log.calls();
    assert_eq!(log.items(), vec![vec![0, 1], vec![2, 3], vec![4, 5]]);
    assert!(calls.windows(2).all(|w| w[1].at >= w[0].at + 10), "never two calls at once: {calls:?}");
}

#[tokio::test(start_paused = true)]
async fn classify_overrides_the_default_rule() {
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder()
        .retry(no_jitter().classify(|e| {
            if e.status_code() == Some(503) {
                hyperbatch::Class::Fail
            } else {
                hyperbatch::Class::Retry
            }
        }))
        .build(move |batch: Batch<u32>| {
            l.record(&batch);
            async { Err::<Vec<Result<u32, ItemError>>, _>(TransportError::new("down").status(503)) }
        });
    let e = b.add(1).await.unwrap_err();
    assert_eq!((e.code(), e.attempts()), (ErrorCode::Transport, Some(1)));
    assert_eq!(log.calls().len(), 1, "a 503 would retry by default; classify said fail");
}

#[tokio::test(start_paused = true)]
async fn a_failing_key_opens_its_circuit_then_probes_and_closes() {
    use hyperbatch::{CircuitBreaker, CircuitState};
    let healthy = Arc::new(Mutex::new(false));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let (h, c) = (healthy.clone(), changes.clone());
    let log = Log::new();
    let l = log.clone();
    let b = Batcher::builder()
        .retry(RetryConfig::default().max_attempts(1))
        .circuit_breaker(CircuitBreaker { failure_threshold: 2, reset: Duration::from_secs(1) })
        .on_circuit_change(move |info| c.lock().unwrap().push((info.state, info.error.map(|e| e.to_string()))))
        .build(move |batch: Batch<u32>| {
            l.record(&batch);
            let ok = *h.lock().unwrap();
            async move {
                if ok {
                    doubled(&batch)
                } else {
                    Err(TransportError::new("down").status(503))
                }
            }
        });
    for n in 0..2 {
        assert_eq!(b.add(n).await.unwrap_err().code(), ErrorCode::Transport);
    }
    assert_eq!(b.stats().circuits_open, 1);
    let e = b.add(2).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::CircuitOpen);
    assert_eq!(e.to_string(), "hyperbatch: the key's circuit is open: down");
    assert!(std::error::Error::source(&e).is_some(), "cause = the failure that opened it");
    assert_eq!(log.calls().len(), 2, "no call while open");
    *healthy.lock().unwrap() = true;
    sleep(Duration::from_secs(1)).await;
    assert_eq!(b.add(3).await.unwrap(), 6, "the probe goes and closes the circuit");
    assert_eq!(b.stats().circuits_open, 0);
    let changes = changes.lock().unwrap().clone();
    let states: Vec<_> = changes.iter().map(|(s, _)| *s).collect();
    assert_eq!(states, [CircuitState::Open, CircuitState::HalfOpen, CircuitState::Closed]);
    assert!(changes[0].1.as_deref().unwrap().contains("down"));
}

#[tokio::test(start_paused = true)]
async fn flush_on_hide_is_accepted_natively_and_every_call_is_not_keepalive() {
    // No document here: the option changes nothing, so builder code is the same on every target.
    let keepalive = Arc::new(Mutex::new(Vec::new()));
    let k = keepalive.clone();
    let b = Batcher::builder().max_wait(10 * MS).flush_on_hide(true).build(move |batch: Batch<u32>| {
        k.lock().unwrap().push(batch.keepalive);
        async move { doubled(&batch) }
    });
    let (x, y) = futures::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (2, 4));
    let z = b.add(3);
    b.flush().await;
    assert_eq!(z.await.unwrap(), 6);
    b.close().await;
    assert_eq!(*keepalive.lock().unwrap(), [false, false]);
}
