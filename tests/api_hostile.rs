//! The Rust API under hostile use, seen from an outside crate (`cargo test --features tokio`):
//! user callbacks that panic, transports that hang or answer wrongly, futures and handles dropped
//! at every stage, close racing adds on a multi-threaded runtime, every option at its bounds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use futures::FutureExt;
use hyperbatch::{
    AddOptions, Batch, BatchResult, Batcher, Builder, CircuitBreaker, Class, ErrorCode, Instant, ItemError,
    RetryBudget, RetryConfig, Stats, TransportError, WhenFull,
};
use tokio::time::sleep;

const MS: Duration = Duration::from_millis(1);

fn doubled(b: &Batch<u32>) -> BatchResult<u32> {
    Ok(b.items.iter().map(|n| Ok(n * 2)).collect())
}

/// Every accepted item is accounted for once, and nothing is queued or in flight.
fn settled(s: Stats) {
    assert_eq!(s.items, s.succeeded + s.failed, "{s:?}");
    assert_eq!((s.queued, s.in_flight_batches, s.in_flight_items), (0, 0, 0), "{s:?}");
}

#[test]
fn handles_and_errors_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<Batcher<u32, String>>();
    send::<hyperbatch::AddFuture<u32, String>>();
    send_sync::<hyperbatch::Error>();
    send_sync::<ItemError>();
    send_sync::<TransportError>();
    send::<hyperbatch::Driver>();
}

#[tokio::test(start_paused = true)]
async fn stats_compare_against_a_literal() {
    // As a JavaScript test compares `stats()` with an object: every field named, or some and `..`.
    let b = Batcher::builder().build(|batch: Batch<u32>| async move { doubled(&batch) });
    join_all((0..3).map(|n| b.add(n))).await;
    let expected = Stats {
        queued: 0,
        in_flight_batches: 0,
        in_flight_items: 0,
        batches: 1,
        items: 3,
        succeeded: 3,
        failed: 0,
        retries: 0,
        bisects: 0,
        throttled: 0,
        circuits_open: 0,
    };
    assert_eq!(b.stats(), expected);
    assert_eq!(b.stats(), Stats { batches: 1, items: 3, succeeded: 3, ..Stats::default() });
}

#[tokio::test(start_paused = true)]
async fn the_js_option_names_and_codes_work_in_rust() {
    // `weigh(item)` is a JS option like the others: its builder method has its name.
    // Numbers as a JS caller writes them: integers where the option is a float.
    let b = Batcher::builder()
        .max_batch_weight(3)
        .weigh(|n: &u32| *n)
        .retry(RetryConfig::default().multiplier(2))
        .build(|batch: Batch<u32>| async move { doubled(&batch) });
    let e = b.add(4).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::TooLarge);
    assert_eq!(e.code(), "E_TOO_LARGE", "a code compares with its JS spelling");
    assert_ne!(e.code(), "E_FULL");
    assert_eq!(b.add(3).await.unwrap(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_transport_owns_its_batch_as_plain_values() {
    // What a transport written against the contract does with `batch.items` and `batch.key`.
    #[allow(clippy::ptr_arg)] // as a caller's client might be written
    async fn fetch(key: &str, ids: &Vec<u32>) -> Vec<String> {
        ids.iter().map(|id| format!("{key}:{id}")).collect()
    }
    let b = Batcher::builder().key_of(|n: &u32| n % 2).build(|batch: Batch<u32>| async move {
        let mut sum = 0;
        for id in &batch.items {
            sum += id;
        }
        let key: String = batch.key.clone().unwrap();
        assert!(batch.key == Some("0".to_string()) || batch.key == Some("1".to_string()));
        assert_eq!(sum, batch.items.iter().sum::<u32>());
        let names = fetch(&key, &batch.items).await;
        let echoed: Vec<u32> = batch.items.into_iter().collect();
        Ok(names.into_iter().zip(echoed).map(|(name, id)| Ok(format!("{name}={id}"))).collect())
    });
    let (a, c) = futures::join!(b.add(1), b.add(2));
    assert_eq!((a.unwrap(), c.unwrap()), ("1:1=1".to_owned(), "0:2=2".to_owned()));
}

#[test]
fn option_structs_have_the_contract_defaults_and_can_be_written_as_literals() {
    let r = RetryConfig::default();
    assert_eq!(
        (r.max_attempts, r.base_delay, r.max_delay, r.multiplier, r.jitter, r.max_retry_after),
        (3, 50 * MS, 5000 * MS, 2.0, hyperbatch::Jitter::Full, 60_000 * MS)
    );
    assert_eq!(r.budget, Some(RetryBudget { max_tokens: 100.0, token_ratio: 0.1 }));
    assert!(r.classify.is_none());
    let c = CircuitBreaker::default();
    assert_eq!((c.failure_threshold, c.reset), (5, Duration::from_secs(10)));
    assert_eq!(
        CircuitBreaker::default().failure_threshold(2).reset(MS),
        CircuitBreaker { failure_threshold: 2, reset: MS }
    );
    // Out of range as a literal too: the builder names the field.
    let bad = RetryConfig { max_attempts: 0, ..RetryConfig::default() };
    let e = try_build(Batcher::builder().retry(bad)).unwrap_err();
    assert!(e.to_string().contains("`retry.max_attempts`"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_retry_config_literal_drives_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig {
        max_attempts: 5,
        base_delay: 10 * MS,
        jitter: hyperbatch::Jitter::None,
        budget: None,
        classify: Some(Arc::new(|_: &TransportError| Class::Retry)),
        ..RetryConfig::default()
    };
    let b = Batcher::builder().max_wait(MS).retry(retry).build(move |_: Batch<u32>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { Err::<Vec<Result<u32, ItemError>>, _>(TransportError::new("down").status(400)) }
    });
    let e = b.add(1).await.unwrap_err();
    assert_eq!((e.code(), e.attempts()), (ErrorCode::Transport, Some(5)), "classify said retry, 5 attempts: {e}");
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn errors_convert_from_strings_in_a_transport() {
    let b = Batcher::builder().retry(RetryConfig::default().max_attempts(1)).build(|batch: Batch<u32>| async move {
        if batch.items.contains(&0) {
            return Err("service down".into());
        }
        Ok(batch.items.iter().map(|&n| if n == 2 { Err(format!("no {n}").into()) } else { Ok(n) }).collect())
    });
    let (a, c) = futures::join!(b.add(1), b.add(2));
    assert_eq!(a.unwrap(), 1);
    assert_eq!(c.unwrap_err().to_string(), "no 2");
    let e = b.add(0).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Transport);
    assert_eq!(e.transport_error().unwrap().to_string(), "service down");
}

#[tokio::test(start_paused = true)]
async fn a_transport_may_update_what_it_captured() {
    // An FnMut closure: the driver alone calls the transport, one call at a time.
    let mut calls = 0u32;
    let b = Batcher::builder().max_batch_size(2).build(move |batch: Batch<u32>| {
        calls += 1;
        let attempt = calls;
        async move { Ok(batch.items.iter().map(|n| Ok(n * 10 + attempt)).collect()) }
    });
    let rs = join_all((1..=4).map(|n| b.add(n))).await;
    assert_eq!(rs.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [11, 21, 32, 42]);
}

#[tokio::test(start_paused = true)]
async fn an_add_future_works_in_select_as_it_is() {
    let b = Batcher::builder().max_wait(10 * MS).build(|batch: Batch<u32>| async move { doubled(&batch) });
    let (mut a, mut c) = (b.add(1), b.add(2));
    let mut got = Vec::new();
    for _ in 0..2 {
        futures::select! {
            r = a => got.push(r.unwrap()),
            r = c => got.push(r.unwrap()),
        }
    }
    got.sort();
    assert_eq!(got, [2, 4]);
    assert!(futures::future::FusedFuture::is_terminated(&a));
}

#[tokio::test(start_paused = true)]
async fn a_classify_that_panics_falls_back_to_the_default_rule() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig::default().base_delay(MS).classify(|_| panic!("classify blew up"));
    let b = Batcher::builder().retry(retry).build(move |batch: Batch<u32>| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                Err(TransportError::new("unavailable").status(503))
            } else {
                doubled(&batch)
            }
        }
    });
    // The default rule retries a 503: the second call answers.
    assert_eq!(b.add(1).await.unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(b.add(2).await.unwrap(), 4, "the batcher still works");
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn a_resolve_keys_that_panics_fails_its_items_with_e_route() {
    let b = Batcher::builder()
        .key_of(|n: &u32| if *n >= 100 { Some(*n) } else { None })
        .resolve_keys(|items: Vec<u32>| {
            if items.contains(&1) {
                panic!("router blew up before its future");
            }
            async move {
                if items.contains(&2) {
                    panic!("router blew up inside");
                }
                Ok(items.iter().map(|n| Some(n % 3)).collect())
            }
        })
        .build(|batch: Batch<u32>| async move { doubled(&batch) });
    for n in [1, 2] {
        let e = b.add(n).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Route, "{e}");
    }
    assert_eq!(b.add(3).await.unwrap(), 6, "the router still runs");
    assert_eq!(b.add(100).await.unwrap(), 200, "keyed items still go");
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn a_resolve_keys_past_the_timeout_fails_its_items_with_e_route_caused_by_e_timeout() {
    // As in JavaScript: the timeout bounds resolve_keys calls too, so close() cannot hang on one.
    let b = Batcher::builder()
        .timeout(Duration::from_millis(50))
        .resolve_keys(|items: Vec<u32>| async move {
            if items.contains(&1) {
                std::future::pending::<()>().await;
            }
            Ok(items.iter().map(|n| Some(n % 3)).collect())
        })
        .build(|batch: Batch<u32>| async move { doubled(&batch) });
    let e = b.add(1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Route, "{e}");
    let cause = std::error::Error::source(&e).expect("a cause");
    let cause = cause.downcast_ref::<hyperbatch::Error>().expect("an hyperbatch::Error cause");
    assert_eq!(cause.code(), ErrorCode::Timeout);
    assert_eq!(b.add(3).await.unwrap(), 6, "the router still runs");
    b.close().await;
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn classify_decides_about_timeouts_too() {
    // As in JavaScript, a custom classify sees every batch-level failure, E_TIMEOUT included.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let retry = RetryConfig::default().classify(move |e| {
        s.lock().unwrap().push(e.code());
        Class::Fail
    });
    let b = Batcher::builder().timeout(10 * MS).retry(retry).build(move |_: Batch<u32>| {
        c.fetch_add(1, Ordering::SeqCst);
        futures::future::pending::<BatchResult<u32>>()
    });
    let e = b.add(1).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Timeout);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "classified Fail: no retry");
    assert_eq!(
        *seen.lock().unwrap(),
        [Some(ErrorCode::Timeout)],
        "classify tells E_TIMEOUT from the transport's errors"
    );
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn classify_decides_about_shape_errors_too() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig::default().base_delay(MS).classify(|e| {
        assert_eq!(e.code(), Some(ErrorCode::ResultShape));
        Class::Retry
    });
    let b = Batcher::builder().retry(retry).build(move |batch: Batch<u32>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Ok(vec![]) // the wrong length
            } else {
                doubled(&batch)
            }
        }
    });
    assert_eq!(b.add(1).await.unwrap(), 2, "classified Retry: the second call answers");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_an_add_in_flight_aborts_it_alone() {
    let b = Batcher::builder().max_wait(MS).build(|batch: Batch<u32>| async move {
        sleep(50 * MS).await;
        doubled(&batch)
    });
    let a = b.add(1);
    let c = b.add(2);
    sleep(5 * MS).await;
    assert_eq!(b.stats().in_flight_items, 2);
    drop(a);
    assert_eq!(c.await.unwrap(), 4, "its batchmate is unaffected");
    let s = b.stats();
    assert_eq!((s.succeeded, s.failed), (1, 1), "the dropped add counts as failed (aborted)");
    settled(s);
}

#[tokio::test(start_paused = true)]
async fn dropping_an_add_that_waits_for_room_gives_its_place_up() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let b =
        Batcher::builder().max_queued(1).when_full(WhenFull::Wait).max_wait(10 * MS).build(move |batch: Batch<u32>| {
            s.lock().unwrap().extend(batch.items.iter().copied());
            async move { doubled(&batch) }
        });
    let first = b.add(1);
    let waiting = b.add(2);
    let third = b.add(3);
    drop(waiting);
    assert_eq!(first.await.unwrap(), 2);
    assert_eq!(third.await.unwrap(), 6);
    b.close().await;
    assert!(!sent.lock().unwrap().contains(&2), "{:?}", sent.lock().unwrap());
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn dropping_an_add_that_waits_to_retry_stops_its_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig::default().base_delay(Duration::from_millis(100)).jitter(hyperbatch::Jitter::None);
    let b =
        Batcher::builder().max_wait(MS).retry(retry).build(move |batch: Batch<u32>| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(batch.items.iter().map(|_| Err(ItemError::new("busy").retryable())).collect()) as BatchResult<u32>
            }
        });
    let a = b.add(1);
    sleep(20 * MS).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(a);
    sleep(Duration::from_secs(1)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "never re-sent");
    b.close().await;
    settled(b.stats());
}

/// A batcher whose first transport call fails with a retryable reset and whose later calls
/// double their items; retries wait 100 ms. Also returns the count of calls made.
fn reset_once_then_doubled(max_wait: Duration) -> (Batcher<u32, u32>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig::default().base_delay(Duration::from_millis(100)).jitter(hyperbatch::Jitter::None);
    let b = Batcher::builder().max_wait(max_wait).retry(retry).build(move |batch: Batch<u32>| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                Err(TransportError::new("reset"))
            } else {
                doubled(&batch)
            }
        }
    });
    (b, calls)
}

#[tokio::test(start_paused = true)]
async fn close_waits_for_items_waiting_to_retry() {
    let (b, _calls) = reset_once_then_doubled(MS);
    let a = b.add(1);
    sleep(20 * MS).await;
    b.close().await;
    assert_eq!(a.now_or_never().expect("settled before close resolved").unwrap(), 2);
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn flush_resolves_once_its_items_settled_retries_included() {
    let (b, calls) = reset_once_then_doubled(Duration::from_secs(10));
    let a = b.add(1);
    let started = tokio::time::Instant::now();
    b.flush().await;
    assert!(started.elapsed() >= Duration::from_millis(100), "waited for the retry");
    assert_eq!(a.now_or_never().expect("settled before flush resolved").unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A flush with nothing queued resolves at once; one after close too.
    let t = tokio::time::Instant::now();
    b.flush().await;
    assert_eq!(t.elapsed(), Duration::ZERO);
    b.close().await;
    assert!(b.flush().now_or_never().is_some());
}

#[tokio::test(start_paused = true)]
async fn close_settles_adds_that_wait_for_room() {
    let b = Batcher::builder()
        .max_queued(1)
        .when_full(WhenFull::Wait)
        .max_wait(Duration::from_secs(5))
        .build(|batch: Batch<u32>| async move { doubled(&batch) });
    let adds: Vec<_> = (0..5).map(|n| b.add(n)).collect();
    b.close().await;
    for (n, a) in adds.into_iter().enumerate() {
        let r = a.now_or_never().expect("every add settled before close resolved");
        match r {
            Ok(v) => assert_eq!(v, 2 * n as u32),
            Err(e) => assert_eq!(e.code(), ErrorCode::Closed, "{e}"),
        }
    }
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn a_hanging_transport_is_let_go_when_every_caller_left() {
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    let b = Batcher::builder().max_wait(MS).build(move |_: Batch<u32>| {
        let flag = Flag(d.clone());
        async move {
            let _flag = flag;
            futures::future::pending::<BatchResult<u32>>().await
        }
    });
    let a = b.add(1);
    sleep(5 * MS).await;
    assert_eq!(b.stats().in_flight_batches, 1);
    let closing = tokio::spawn(b.close());
    sleep(5 * MS).await;
    assert!(!closing.is_finished(), "close waits for the call");
    drop(a);
    closing.await.unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the transport's future was dropped");
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn results_of_the_wrong_length_either_way_fail_every_item() {
    for extra in [false, true] {
        let b = Batcher::builder().retry(RetryConfig::default().max_attempts(1)).build(
            move |batch: Batch<u32>| async move {
                let mut r: Vec<Result<u32, ItemError>> = batch.items.iter().map(|n| Ok(*n)).collect();
                if extra {
                    r.push(Ok(0));
                } else {
                    r.pop();
                }
                Ok(r)
            },
        );
        let rs = join_all((0..3).map(|n| b.add(n))).await;
        for r in rs {
            assert_eq!(r.unwrap_err().code(), ErrorCode::ResultShape);
        }
        settled(b.stats());
    }
}

#[tokio::test(start_paused = true)]
async fn adds_after_close_and_flushes_after_close_resolve_at_once() {
    let b = Batcher::builder().build(|batch: Batch<u32>| async move { doubled(&batch) });
    b.close().await;
    b.close().await; // idempotent
    assert_eq!(b.add(1).now_or_never().unwrap().unwrap_err().code(), ErrorCode::Closed);
    let with = b.add_with(2, AddOptions { key: Some("k".into()), ..Default::default() });
    assert_eq!(with.now_or_never().unwrap().unwrap_err().code(), ErrorCode::Closed);
    assert!(b.flush().now_or_never().is_some());
    assert_eq!(b.stats().items, 0);
}

#[tokio::test(start_paused = true)]
async fn a_clone_dropped_does_not_close_the_batcher() {
    let b = Batcher::builder().build(|batch: Batch<u32>| async move { doubled(&batch) });
    let c = b.clone();
    drop(c);
    assert_eq!(b.add(1).await.unwrap(), 2);
    let d = b.clone();
    drop(b);
    assert_eq!(d.add(2).await.unwrap(), 4, "one handle left: still open");
}

#[tokio::test(start_paused = true)]
async fn many_keys_each_get_their_results_by_position() {
    let b = Batcher::builder().max_in_flight(64).max_queued(100_000).key_of(|n: &u32| n % 5000).build(
        |batch: Batch<u32>| async move {
            let key: u32 = batch.key.as_deref().unwrap().parse().unwrap();
            assert!(batch.items.iter().all(|n| n % 5000 == key), "one key per call");
            doubled(&batch)
        },
    );
    let rs = join_all((0..20_000u32).map(|n| b.add(n))).await;
    for (n, r) in rs.into_iter().enumerate() {
        assert_eq!(r.unwrap(), 2 * n as u32);
    }
    let s = b.stats();
    assert_eq!(s.batches, 5000);
    settled(s);
    // Keys come and go: a second round reuses what the first released.
    let rs = join_all((0..20_000u32).map(|n| b.add(n))).await;
    assert!(rs.iter().all(Result::is_ok));
    settled(b.stats());
}

#[tokio::test(start_paused = true)]
async fn deadlines_in_the_past_or_before_the_batcher_are_refused() {
    let b = Batcher::builder().build(|batch: Batch<u32>| async move { doubled(&batch) });
    let past = Instant::now() - Duration::from_secs(3600);
    let e = b.add_with(1, AddOptions { deadline: Some(past), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Deadline);
    for w in [f64::NAN, f64::INFINITY, -1.0] {
        let e = b.add_with(1, AddOptions { weight: Some(w), ..Default::default() }).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::Config, "weight {w}");
    }
    assert_eq!(b.add(1).await.unwrap(), 2);
    settled(b.stats());
}

/// "`Display`s like the JS messages" (audit16): the messages a JS caller reads for the same
/// outcome, option names aside (`max_queued` for `maxQueued`). A deadline already passed at
/// `add_with` read "has already passed", where JS (and Rust for a deadline passing later) says
/// "the item's deadline passed".
#[tokio::test(start_paused = true)]
async fn errors_display_as_the_js_messages() {
    let b = Batcher::builder().max_wait(MS).retry(RetryConfig::default().max_attempts(1)).build(
        |batch: Batch<u32>| async move {
            match batch.items[0] {
                0 => Err(TransportError::new("down")),
                1 => {
                    sleep(Duration::from_secs(60)).await;
                    doubled(&batch)
                }
                _ => doubled(&batch),
            }
        },
    );
    let past = Instant::now() - Duration::from_secs(1);
    let at_add = b.add_with(2, AddOptions { deadline: Some(past), ..Default::default() }).await.unwrap_err();
    let soon = Instant::now() + 10 * MS;
    let later = b.add_with(1, AddOptions { deadline: Some(soon), ..Default::default() }).await.unwrap_err();
    for e in [&at_add, &later] {
        assert_eq!((e.code(), e.to_string().as_str()), (ErrorCode::Deadline, "hyperbatch: the item's deadline passed"));
    }
    let failed = b.add(0).await.unwrap_err();
    assert_eq!(failed.to_string(), "hyperbatch: transport failed after 1 attempt: down");
    b.close().await;
    assert_eq!(b.add(3).await.unwrap_err().to_string(), "hyperbatch: the batcher is closed");
}

fn try_build(builder: Builder<u32, u32>) -> Result<(), hyperbatch::Error> {
    builder.try_build_with_driver(|batch: Batch<u32>| async move { doubled(&batch) }).map(drop)
}

#[test]
fn every_bound_is_checked_and_named() {
    let b = Batcher::<u32, u32>::builder;
    let r = RetryConfig::default;
    let max_ms = Duration::from_millis(2_147_483_647);
    let over_ms = max_ms + MS;
    let u32max = u32::MAX as usize;
    let cases: Vec<(&str, Builder<u32, u32>, bool)> = vec![
        ("max_batch_size", b().max_batch_size(0), false),
        ("max_batch_size", b().max_batch_size(1), true),
        ("max_batch_size", b().max_batch_size(100_000), true),
        ("max_batch_size", b().max_batch_size(100_001), false),
        ("max_batch_size", b().max_batch_size(usize::MAX), false),
        ("max_wait", b().max_wait(Duration::ZERO), true),
        ("max_wait", b().max_wait(max_ms), true),
        ("max_wait", b().max_wait(over_ms), false),
        ("max_wait", b().max_wait(Duration::MAX), false),
        ("max_batch_weight", b().max_batch_weight(0.0), false),
        ("max_batch_weight", b().max_batch_weight(f64::NAN), false),
        ("max_batch_weight", b().max_batch_weight(f64::INFINITY), false),
        ("max_batch_weight", b().max_batch_weight(-1.0), false),
        ("max_batch_weight", b().max_batch_weight(f64::MIN_POSITIVE), true),
        ("max_queued", b().max_queued(0), false),
        ("max_queued", b().max_queued(u32max), true),
        ("max_queued", b().max_queued(u32max + 1), false),
        ("max_in_flight", b().max_in_flight(0), false),
        ("max_in_flight", b().max_in_flight(u32max), true),
        ("max_in_flight", b().max_in_flight(u32max + 1), false),
        ("max_in_flight_per_key", b().max_in_flight_per_key(0), false),
        ("max_in_flight_per_key", b().max_in_flight_per_key(1), true),
        ("max_in_flight_per_key", b().max_in_flight_per_key(u32max + 1), false),
        ("timeout", b().timeout(Duration::ZERO), false),
        ("timeout", b().timeout(Duration::from_nanos(1)), true),
        ("timeout", b().timeout(max_ms), true),
        ("timeout", b().timeout(over_ms), false),
        ("retry.max_attempts", b().retry(r().max_attempts(0)), false),
        ("retry.max_attempts", b().retry(r().max_attempts(1000)), true),
        ("retry.max_attempts", b().retry(r().max_attempts(1001)), false),
        ("retry.max_attempts", b().retry(r().max_attempts(u32::MAX)), false),
        ("retry.base_delay", b().retry(r().base_delay(over_ms)), false),
        ("retry.max_delay", b().retry(r().max_delay(Duration::MAX)), false),
        ("retry.multiplier", b().retry(r().multiplier(0.5)), false),
        ("retry.multiplier", b().retry(r().multiplier(f64::NAN)), false),
        ("retry.multiplier", b().retry(r().multiplier(f64::INFINITY)), false),
        ("retry.multiplier", b().retry(r().multiplier(1.0)), true),
        ("retry.multiplier", b().retry(r().multiplier(1000.0)), true),
        ("retry.multiplier", b().retry(r().multiplier(1000.5)), false),
        ("retry.max_retry_after", b().retry(r().max_retry_after(over_ms)), false),
        ("retry.budget.max_tokens", b().retry(r().budget(RetryBudget { max_tokens: 0.0, token_ratio: 0.0 })), false),
        (
            "retry.budget.max_tokens",
            b().retry(r().budget(RetryBudget { max_tokens: f64::NAN, token_ratio: 0.1 })),
            false,
        ),
        (
            "retry.budget.token_ratio",
            b().retry(r().budget(RetryBudget { max_tokens: 10.0, token_ratio: f64::NAN })),
            false,
        ),
        ("retry.budget.token_ratio", b().retry(r().budget(RetryBudget { max_tokens: 10.0, token_ratio: -0.5 })), false),
        (
            "circuit_breaker.failure_threshold",
            b().circuit_breaker(CircuitBreaker { failure_threshold: 0, reset: MS }),
            false,
        ),
        ("circuit_breaker.reset", b().circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: over_ms }), false),
        (
            "circuit_breaker.reset",
            b().circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::ZERO }),
            true,
        ),
    ];
    for (option, builder, ok) in cases {
        match try_build(builder) {
            Ok(()) => assert!(ok, "{option}: accepted"),
            Err(e) => {
                assert!(!ok, "{option}: refused: {e}");
                assert_eq!(e.code(), ErrorCode::Config);
                assert!(e.to_string().contains(&format!("`{option}`")), "{option}: {e}");
            }
        }
    }
}

#[test]
fn a_config_error_from_build_panics_with_its_message() {
    let r = std::panic::catch_unwind(|| {
        Batcher::<u32, u32>::builder()
            .max_batch_size(0)
            .build_with_driver(|batch: Batch<u32>| async move { doubled(&batch) })
    });
    let p = r.unwrap_err();
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("max_batch_size"), "{msg}");
}

/// Close racing adds from other threads: once `close()` resolves, every add future that exists
/// is ready (settled before close, or refused after it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_racing_adds_on_many_threads_drops_nothing() {
    for round in 0..20 {
        // Odd rounds: a small queue whose adds wait for room, so close also races waiting adds.
        let wait = round % 2 == 1;
        let builder = Batcher::builder().max_wait(MS).max_batch_size(7);
        let builder = if wait { builder.max_queued(5).when_full(WhenFull::Wait) } else { builder };
        let b = builder.build(|batch: Batch<u32>| async move {
            tokio::task::yield_now().await;
            doubled(&batch)
        });
        let futures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let adders: Vec<_> = (0..3)
            .map(|t| {
                let (b, futures, stop) = (b.clone(), futures.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = t * 1_000_000;
                    while !stop.load(Ordering::SeqCst) {
                        let f = b.add(n);
                        futures.lock().unwrap().push((n, f));
                        n += 1;
                        if n % 16 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        sleep(Duration::from_micros(300 * (round % 5) + 100)).await;
        b.close().await;
        let pending: Vec<_> = std::mem::take(&mut *futures.lock().unwrap());
        let (mut ok, mut closed) = (0, 0);
        for (n, f) in pending {
            match f.now_or_never() {
                Some(Ok(v)) => {
                    assert_eq!(v, 2 * n);
                    ok += 1
                }
                Some(Err(e)) => {
                    // Refused at add: closed, or full when the adders outrun the transport.
                    assert!(e.code() == ErrorCode::Closed || e.code() == ErrorCode::Full, "{e}");
                    closed += 1
                }
                None => panic!("round {round}: add {n} still pending after close resolved"),
            }
        }
        stop.store(true, Ordering::SeqCst);
        for a in adders {
            a.await.unwrap();
        }
        // Adds made before close but recorded after the take above settled too; later ones were refused.
        for (n, f) in std::mem::take(&mut *futures.lock().unwrap()) {
            match f.now_or_never().expect("settled or refused at once") {
                Ok(v) => {
                    assert_eq!(v, 2 * n);
                    ok += 1
                }
                Err(e) => assert!(e.code() == ErrorCode::Closed || e.code() == ErrorCode::Full, "{e}"),
            }
        }
        let s = b.stats();
        assert_eq!(s.succeeded, ok as u64, "round {round}");
        assert_eq!(s.items, ok as u64, "round {round}: refused adds are not items ({closed} refused)");
        settled(s);
    }
}

/// FIFO per key with `max_in_flight_per_key(1)`, adds from many tasks on a multi-threaded runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_holds_across_threads() {
    let seen = Arc::new(Mutex::new(Vec::<(String, Vec<u32>)>::new()));
    let s = seen.clone();
    let b =
        Batcher::builder().max_wait(MS).max_batch_size(5).max_in_flight_per_key(1).key_of(|n: &u32| n / 100_000).build(
            move |batch: Batch<u32>| {
                s.lock().unwrap().push((batch.key.as_deref().unwrap().to_owned(), batch.items.to_vec()));
                async move {
                    tokio::task::yield_now().await;
                    doubled(&batch)
                }
            },
        );
    let tasks: Vec<_> = (0..4u32)
        .map(|t| {
            let b = b.clone();
            tokio::spawn(async move {
                // Each task adds its own key's items in order, awaiting every few.
                let mut pending = Vec::new();
                for i in 0..200 {
                    pending.push(b.add(t * 100_000 + i));
                    if i % 10 == 9 {
                        for (j, r) in join_all(pending.drain(..)).await.into_iter().enumerate() {
                            let _ = j;
                            r.unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut last: std::collections::HashMap<String, u32> = Default::default();
    for (key, items) in seen.lock().unwrap().iter() {
        for &n in items {
            if let Some(&prev) = last.get(key) {
                assert!(n > prev, "key {key}: {n} after {prev}");
            }
            last.insert(key.clone(), n);
        }
    }
    settled(b.stats());
}

#[test]
fn current_thread_runtime_with_real_timers() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        let b = Batcher::builder().max_wait(2 * MS).retry(RetryConfig::default().base_delay(MS)).build(
            |batch: Batch<u32>| async move {
                if batch.attempt == 1 && batch.items.contains(&3) {
                    return Err(TransportError::new("flaky"));
                }
                doubled(&batch)
            },
        );
        let rs = join_all((0..10).map(|n| b.add(n))).await;
        for (n, r) in rs.into_iter().enumerate() {
            assert_eq!(r.unwrap(), 2 * n as u32);
        }
        b.close().await;
        settled(b.stats());
    });
}

#[test]
fn a_runtime_shut_down_fails_what_it_left_with_e_closed() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let (b, pending) = rt.block_on(async {
        let b = Batcher::builder().build(|_: Batch<u32>| futures::future::pending::<BatchResult<u32>>());
        let pending = b.add(1);
        sleep(20 * MS).await;
        (b, pending)
    });
    drop(rt);
    let e = futures::executor::block_on(pending).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Closed);
    assert_eq!(b.add(2).now_or_never().unwrap().unwrap_err().code(), ErrorCode::Closed);
    assert!(b.close().now_or_never().is_some(), "close resolves at once");
}

/// Concurrent transport calls never exceed `max_in_flight`, across many keys and threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_caps_concurrent_calls() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let b =
        Batcher::builder().max_wait(MS).max_in_flight(3).key_of(|n: &u32| n % 50).build(move |batch: Batch<u32>| {
            let (n, p) = (n.clone(), p.clone());
            async move {
                let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(c, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_micros(200)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                doubled(&batch)
            }
        });
    let rs = join_all((0..2000u32).map(|i| b.add(i))).await;
    assert!(rs.into_iter().enumerate().all(|(i, r)| r.unwrap() == 2 * i as u32));
    assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
    assert_eq!(b.stats().in_flight_batches, 0);
}

/// A synchronous loop of adds with `max_wait(0)` makes full batches on a current-thread runtime
/// with real timers. (On a multi-thread runtime the driver runs beside the loop, so it may cut
/// the window while the loop still adds: there is no "tick" shared by threads.)
#[test]
fn max_wait_zero_gathers_a_loop_of_adds_on_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async {
        for round in 0..20 {
            let b =
                Batcher::builder().max_wait(Duration::ZERO).build(|batch: Batch<u32>| async move { doubled(&batch) });
            let adds: Vec<_> = (0..250).map(|n| b.add(n)).collect();
            join_all(adds).await;
            assert_eq!(b.stats().batches, 3, "round {round}");
        }
    });
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_dropped_leaves_its_twin_its_outcome() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let b = Batcher::builder().dedupe_by(|n: &u32| *n).build(move |batch: Batch<u32>| {
        s.lock().unwrap().push(batch.items.clone());
        async move { doubled(&batch) }
    });
    let a = b.add(7);
    let twin = b.add(7);
    drop(a);
    assert_eq!(twin.await.unwrap(), 14);
    let (x, y) = (b.add(8), b.add(8));
    drop((x, y));
    b.close().await;
    assert_eq!(*sent.lock().unwrap(), vec![vec![7]], "both twins gone: never sent");
    settled(b.stats());
}

/// A twin that joins a queued slot with a deadline makes the slot go by it (not expire unsent at
/// the end of a long window), and the slot carries the deadlines of the callers still waiting
/// only: not one of a twin that left (audit15).
#[tokio::test(start_paused = true)]
async fn a_duplicates_deadline_sends_its_slot_in_time_and_leaves_with_it() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let s = sent.clone();
    let start = tokio::time::Instant::now();
    let b =
        Batcher::builder().max_wait(Duration::from_secs(10)).dedupe_by(|n: &u32| *n).build(move |batch: Batch<u32>| {
            s.lock().unwrap().push((start.elapsed(), batch.deadline));
            async move { doubled(&batch) }
        });
    let first = b.add(7);
    let due = Instant::now() + 100 * MS;
    let twin = b.add_with(7, AddOptions { deadline: Some(due), ..Default::default() });
    assert_eq!(twin.await.unwrap(), 14, "sent by the twin's deadline, not expired");
    assert_eq!(first.await.unwrap(), 14);
    let (at, deadline) = sent.lock().unwrap()[0];
    assert!(at < 100 * MS, "sent before the deadline, not after the window: {at:?}");
    let deadline = deadline.expect("batch.deadline is the twin's deadline");
    assert!(deadline.max(due) - deadline.min(due) < Duration::from_micros(1), "{deadline:?} vs {due:?}");
    let leaving =
        b.add_with(8, AddOptions { deadline: Some(Instant::now() + Duration::from_secs(60)), ..Default::default() });
    let staying = b.add(8);
    drop(leaving);
    b.flush().await;
    assert_eq!(staying.await.unwrap(), 16);
    assert_eq!(sent.lock().unwrap()[1].1, None, "the caller left has no deadline");
    settled(b.stats());
}

/// Once every handle is gone and every item settled, the driver ends and drops the transport.
#[tokio::test(start_paused = true)]
async fn the_driver_ends_and_frees_the_transport_when_the_last_handle_goes() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for queued in [false, true] {
        let freed = Arc::new(AtomicUsize::new(0));
        let flag = Flag(freed.clone());
        let b = Batcher::builder().max_wait(Duration::from_secs(60)).build(move |batch: Batch<u32>| {
            let _ = &flag;
            async move { doubled(&batch) }
        });
        let pending = queued.then(|| b.add(1));
        drop(b);
        if let Some(p) = pending {
            assert_eq!(p.await.unwrap(), 2, "the last handle's drop sent what was queued");
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(freed.load(Ordering::SeqCst), 1, "queued: {queued}: the driver ended");
    }
}

/// User code the batcher calls (key_of, hooks, the transport) may itself add to the batcher.
#[tokio::test(start_paused = true)]
async fn callbacks_may_add_to_their_own_batcher() {
    let cell: Arc<std::sync::OnceLock<Batcher<u32, u32>>> = Arc::default();
    let follow_ups = Arc::new(Mutex::new(Vec::new()));
    let (c1, c2, f1, f2) = (cell.clone(), cell.clone(), follow_ups.clone(), follow_ups.clone());
    let b = Batcher::builder()
        .on_batch_start(move |info| {
            if info.items.contains(&1) {
                f1.lock().unwrap().push(c1.get().unwrap().add(100));
            }
        })
        .build(move |batch: Batch<u32>| {
            if batch.items.contains(&2) {
                f2.lock().unwrap().push(c2.get().unwrap().add(200));
            }
            async move { doubled(&batch) }
        });
    assert!(cell.set(b.clone()).is_ok());
    let (x, y) = futures::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (2, 4));
    let more: Vec<_> = std::mem::take(&mut *follow_ups.lock().unwrap());
    let rs: Vec<u32> = join_all(more).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(rs, [200, 400]);
    b.close().await;
    settled(b.stats());
}

/// An item value counted while alive: the batcher keeps none once its item has settled.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);
impl Counted {
    fn new(n: u32, live: &Arc<AtomicUsize>) -> Counted {
        live.fetch_add(1, Ordering::SeqCst);
        Counted(n, live.clone())
    }
}
impl Clone for Counted {
    fn clone(&self) -> Self {
        Counted::new(self.0, &self.1)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn no_item_value_is_kept_once_its_item_settled() {
    let live = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let retry = RetryConfig::default().base_delay(MS).jitter(hyperbatch::Jitter::None);
    let b = Batcher::builder().max_wait(MS).max_batch_size(4).dedupe_by(|c: &Counted| c.0 % 7).retry(retry).build(
        move |batch: Batch<Counted>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                sleep(5 * MS).await;
                if n % 3 == 0 {
                    return Err(TransportError::new("flaky"));
                }
                Ok(batch.items.iter().map(|c| if c.0 % 5 == 0 { Err(ItemError::new("no")) } else { Ok(c.0) }).collect())
            }
        },
    );
    for round in 0..3u32 {
        let mut adds: Vec<_> = (0..40).map(|n| Some(b.add(Counted::new(round * 100 + n, &live)))).collect();
        sleep(2 * MS).await;
        // Drop every third add while queued or in flight, await the rest.
        for (i, a) in adds.iter_mut().enumerate() {
            if i % 3 == 0 {
                a.take();
            }
        }
        join_all(adds.into_iter().flatten()).await;
        sleep(Duration::from_millis(50)).await;
        settled(b.stats());
        assert_eq!(live.load(Ordering::SeqCst), 0, "round {round}: item values still held");
    }
}

#[tokio::test(start_paused = true)]
async fn atomic_resends_the_whole_batch_on_a_retryable_item_error() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let retry = RetryConfig::default().base_delay(MS);
    let b =
        Batcher::builder().error_mode(hyperbatch::ErrorMode::Atomic).retry(retry).build(move |batch: Batch<u32>| {
            s.lock().unwrap().push((batch.attempt, batch.items.clone()));
            async move {
                if batch.attempt == 1 {
                    let busy = |n: &u32| if *n == 1 { Err(ItemError::new("busy").retryable()) } else { Ok(*n) };
                    Ok(batch.items.iter().map(busy).collect())
                } else {
                    doubled(&batch)
                }
            }
        });
    let rs = join_all((0..3).map(|n| b.add(n))).await;
    assert_eq!(rs.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(*seen.lock().unwrap(), [(1, vec![0, 1, 2]), (2, vec![0, 1, 2])], "resent as a unit");
    assert_eq!(b.stats().retries, 3);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_and_atomic_never_bisect_and_fail_fast_never_retries_an_item() {
    // A 400 (bisect by default) fails the whole batch unsplit; a 503 is retried whole.
    for mode in [hyperbatch::ErrorMode::FailFast, hyperbatch::ErrorMode::Atomic] {
        for (status, calls) in [(400, 1), (503, 3)] {
            let retry = RetryConfig::default().base_delay(MS).no_budget();
            let b = Batcher::builder().error_mode(mode).retry(retry).build(move |_: Batch<u32>| async move {
                Err::<Vec<Result<u32, ItemError>>, _>(TransportError::new("refused").status(status))
            });
            let rs = join_all((0..4).map(|n| b.add(n))).await;
            for r in rs {
                let e = r.unwrap_err();
                assert_eq!((e.code(), e.attempts()), (ErrorCode::Transport, Some(calls)), "{mode:?} {status}: {e}");
            }
            let s = b.stats();
            assert_eq!((s.bisects, s.batches), (0, calls as u64), "{mode:?} {status}: never split");
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let b = Batcher::builder().error_mode(hyperbatch::ErrorMode::FailFast).build(move |batch: Batch<u32>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            let busy = |n: &u32| if *n == 1 { Err(ItemError::new("busy").retryable()) } else { Ok(*n) };
            Ok(batch.items.iter().map(busy).collect())
        }
    });
    let rs = join_all((0..3).map(|n| b.add(n))).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no per-item retry in fail_fast");
    let codes: Vec<_> = rs.iter().map(|r| r.as_ref().unwrap_err().code()).collect();
    assert_eq!(codes, [ErrorCode::FailFast, ErrorCode::Item, ErrorCode::FailFast]);
    assert_eq!(rs[1].as_ref().unwrap_err().to_string(), "busy", "the failing item gets its own error");
}

#[tokio::test(start_paused = true)]
async fn a_size_flush_goes_once_the_adding_task_yields_never_inside_add() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let b = Batcher::builder().max_batch_size(10).max_wait(Duration::from_secs(60)).build(move |batch: Batch<u32>| {
        c.fetch_add(1, Ordering::SeqCst);
        async move { doubled(&batch) }
    });
    let adds: Vec<_> = (0..10).map(|n| b.add(n)).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "never called from inside add");
    tokio::task::yield_now().await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "sent as soon as the driver ran, not after the window");
    assert!(join_all(adds).await.into_iter().all(|r| r.is_ok()));
}

#[tokio::test(start_paused = true)]
async fn backpressure_flushes_instead_of_waiting_for_windows() {
    // The contract's example: maxQueued 10, maxWaitMs 2000, whenFull wait, twelve adds at once.
    let b = Batcher::builder()
        .max_queued(10)
        .max_wait(Duration::from_secs(2))
        .when_full(WhenFull::Wait)
        .build(|batch: Batch<u32>| async move { doubled(&batch) });
    let start = tokio::time::Instant::now();
    let rs = join_all((0..12).map(|n| b.add(n))).await;
    assert!(rs.iter().all(Result::is_ok));
    assert!(start.elapsed() < Duration::from_millis(20), "took {:?}", start.elapsed());
    assert!(b.stats().queued <= 10);
}

// ---- audit13: the circuit breaker from outside (0.2) ----

/// A failing transport whose calls `healthy` can mend, counting its calls.
fn breaker(
    builder: Builder<u32, u32>,
    fail: impl Fn() -> TransportError + Send + Sync + 'static,
) -> (Batcher<u32, u32>, Arc<Mutex<bool>>, Arc<AtomicUsize>) {
    let healthy = Arc::new(Mutex::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (h, c, fail) = (healthy.clone(), calls.clone(), Arc::new(fail));
    let b = builder.retry(RetryConfig::default().max_attempts(1)).build(move |batch: Batch<u32>| {
        c.fetch_add(1, Ordering::SeqCst);
        let ok = *h.lock().unwrap();
        let fail = fail.clone();
        async move {
            if ok {
                doubled(&batch)
            } else {
                Err(fail())
            }
        }
    });
    (b, healthy, calls)
}

#[tokio::test]
async fn a_circuit_hook_that_panics_changes_no_outcome() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let builder = Batcher::builder()
        // A panic's backtrace can take tens of ms to print: a reset well past that.
        .circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::from_millis(500) })
        .on_circuit_change(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
            panic!("circuit hook blew up");
        });
    let (b, healthy, calls) = breaker(builder, || TransportError::new("down").status(503));
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::Transport);
    assert_eq!(b.add(2).await.unwrap_err().code(), ErrorCode::CircuitOpen);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no call while open");
    *healthy.lock().unwrap() = true;
    sleep(Duration::from_millis(550)).await;
    assert_eq!(b.add(3).await.unwrap(), 6, "the probe goes and closes the circuit");
    assert_eq!(b.add(4).await.unwrap(), 8);
    assert_eq!(seen.load(Ordering::SeqCst), 3, "open, half-open, closed: each reported once");
    b.close().await;
    settled(b.stats());
}

#[tokio::test]
async fn e_circuit_open_has_the_opening_failure_as_its_source() {
    let builder =
        Batcher::builder().circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::from_secs(60) });
    let (b, _, _) = breaker(builder, || TransportError::new("down").status(503));
    let first = b.add(1).await.unwrap_err();
    let e = b.add(2).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::CircuitOpen);
    let cause = std::error::Error::source(&e).expect("E_CIRCUIT_OPEN has a source");
    let cause = cause.downcast_ref::<hyperbatch::Error>().expect("the source is the batch-level error");
    assert_eq!(cause.transport_error().and_then(TransportError::status_code), Some(503), "{cause}");
    assert_eq!(first.transport_error().map(ToString::to_string), cause.transport_error().map(ToString::to_string));
}

#[tokio::test]
async fn a_circuit_opened_by_timeouts_or_shapes_names_them() {
    // A call past `timeout`: E_CIRCUIT_OPEN's cause is the E_TIMEOUT.
    let b = Batcher::builder()
        .timeout(5 * MS)
        .retry(RetryConfig::default().max_attempts(1))
        .circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::from_secs(60) })
        .build(|_: Batch<u32>| futures::future::pending::<BatchResult<u32>>());
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::Timeout);
    let e = b.add(2).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::CircuitOpen);
    let cause = std::error::Error::source(&e).and_then(|c| c.downcast_ref::<hyperbatch::Error>()).expect("a cause");
    assert_eq!(cause.code(), ErrorCode::Timeout, "{cause}");
    // A result of the wrong length: E_RESULT_SHAPE.
    let b = Batcher::<u32, u32>::builder()
        .retry(RetryConfig::default().max_attempts(1))
        .circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::from_secs(60) })
        .build(|_: Batch<u32>| async { Ok(Vec::new()) });
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::ResultShape);
    let e = b.add(2).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::CircuitOpen);
    let cause = std::error::Error::source(&e).and_then(|c| c.downcast_ref::<hyperbatch::Error>()).expect("a cause");
    assert_eq!(cause.code(), ErrorCode::ResultShape, "{cause}");
}

#[tokio::test]
async fn a_keys_open_circuit_leaves_other_keys_alone() {
    let b = Batcher::<u32, u32>::builder()
        .key_of(|n: &u32| if n % 2 == 0 { "even" } else { "odd" })
        .retry(RetryConfig::default().max_attempts(1))
        .circuit_breaker(CircuitBreaker { failure_threshold: 1, reset: Duration::from_secs(60) })
        .build(|batch: Batch<u32>| async move {
            if batch.key.as_deref() == Some("odd") {
                Err(TransportError::new("odd shard down").status(503))
            } else {
                doubled(&batch)
            }
        });
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::Transport);
    assert_eq!(b.add(3).await.unwrap_err().code(), ErrorCode::CircuitOpen);
    assert_eq!(
        b.add_with(5, AddOptions { key: Some("odd".into()), ..AddOptions::default() }).await.unwrap_err().code(),
        ErrorCode::CircuitOpen
    );
    assert_eq!(b.add(2).await.unwrap(), 4, "the even key still calls");
    assert_eq!(b.add_with(7, AddOptions { key: Some("even".into()), ..AddOptions::default() }).await.unwrap(), 14);
    assert_eq!(b.stats().circuits_open, 1);
}

// ---- audit16b ----

type Router = fn(Vec<u32>) -> futures::future::BoxFuture<'static, Result<Vec<Option<String>>, TransportError>>;

/// "`Display`s like the JS messages" (audit16b): the same failures as the JS face's, message for
/// message, option names aside (hyperbatch's JS messages, read from the built package). A weight
/// out of range read "add refused: weight must be …" where JS says "option `weight` must be …";
/// a wrong result count "must return 1 entries, got 2" where JS says "an array of 1 entries, got
/// an array of 2" (and so for resolve_keys' keys); a resolve_keys past the timeout did not say the
/// timeout ("(20 ms)"), and its E_TIMEOUT cause read otherwise than its E_ROUTE.
#[tokio::test(start_paused = true)]
async fn every_failure_displays_as_the_js_message() {
    use std::error::Error as _;
    fn text(r: Result<u32, hyperbatch::Error>) -> (String, String) {
        let e = r.unwrap_err();
        (format!("{} {e}", e.code()), e.source().map(|s| s.to_string()).unwrap_or_default())
    }
    let once = || RetryConfig::default().max_attempts(1);
    let echo = |b: Batch<u32>| async move { doubled(&b) };
    let b = Batcher::builder().max_batch_weight(5.0).build(echo);
    let weighed = |w: f64| b.add_with(1, AddOptions { weight: Some(w), ..Default::default() });
    assert_eq!(text(weighed(10.0).await).0, "E_TOO_LARGE hyperbatch: item weight 10 exceeds max_batch_weight");
    for (w, shown) in [(f64::NAN, "NaN"), (-1.0, "-1"), (f64::INFINITY, "Infinity")] {
        let expected = format!("E_CONFIG hyperbatch: option `weight` must be a finite number >= 0, got {shown}");
        assert_eq!(text(weighed(w).await).0, expected);
    }
    let b = Batcher::builder()
        .retry(once())
        .build(|b: Batch<u32>| async move { Ok(b.items.iter().map(|n| Ok(*n)).chain([Ok(0)]).collect()) });
    let expected = "E_RESULT_SHAPE hyperbatch: transport must return an array of 1 entries, got an array of 2";
    assert_eq!(text(b.add(1).await).0, expected);
    let route = |resolve: Router| {
        Batcher::builder().timeout(20 * MS).key_of(|_: &u32| None::<String>).resolve_keys(resolve).build(echo)
    };
    let short = route(|_| async { Ok(Vec::new()) }.boxed());
    assert_eq!(
        text(short.add(1).await),
        (
            "E_ROUTE hyperbatch: resolve_keys failed: resolve_keys must return an array of 1 keys, got an array of 0"
                .into(),
            "resolve_keys must return an array of 1 keys, got an array of 0".into()
        )
    );
    let hung = route(|_| futures::future::pending().boxed());
    let msg = "hyperbatch: resolve_keys took longer than timeout (20 ms)";
    assert_eq!(text(hung.add(1).await), (format!("E_ROUTE {msg}"), msg.into()));
}
