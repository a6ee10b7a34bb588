//! The Rust API with no runtime feature (`cargo test --features api`): `build_with_driver` on
//! `futures::executor`, with a hand-advanced clock (`LocalPool`, exact timings) and with the
//! default timer on a `ThreadPool` (adds from several threads).
// Native: threads and blocking executors. On wasm32, tests/api_web.rs covers build_with_driver.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::executor::{block_on, LocalPool, ThreadPool};
use futures::future::join_all;
use futures::task::{LocalSpawnExt, SpawnExt};
use hyperbatch::{
    AddOptions, Batch, BatchResult, Batcher, Builder, ErrorCode, Instant, ItemError, Jitter, RetryConfig, Runtime,
    TransportError,
};

const MS: Duration = Duration::from_millis(1);

/// A clock that moves only when the test says so.
#[derive(Clone)]
struct Manual(Arc<Mutex<Clock>>);

struct Clock {
    origin: Instant,
    offset: Duration,
    sleepers: Vec<Waker>,
}

impl Manual {
    fn new() -> Manual {
        Manual(Arc::new(Mutex::new(Clock { origin: Instant::now(), offset: Duration::ZERO, sleepers: Vec::new() })))
    }
    fn elapsed(&self) -> Duration {
        self.0.lock().unwrap().offset
    }
    fn advance(&self, d: Duration) {
        let wakers = {
            let mut c = self.0.lock().unwrap();
            c.offset += d;
            std::mem::take(&mut c.sleepers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

struct Sleep {
    clock: Manual,
    until: Duration,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut c = self.clock.0.lock().unwrap();
        if c.offset >= self.until {
            Poll::Ready(())
        } else {
            c.sleepers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Runtime for Manual {
    type Sleep = Sleep;
    fn now(&self) -> Instant {
        let c = self.0.lock().unwrap();
        c.origin + c.offset
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Sleep { clock: self.clone(), until: self.elapsed() + d }
    }
}

/// The calls a transport saw: (ms on the manual clock, items).
type Calls = Arc<Mutex<Vec<(u64, Vec<u32>)>>>;

/// A doubling batcher on the manual clock, its driver spawned on `pool`; `fail_first` calls fail with 503.
fn manual(builder: Builder<u32, u32>, pool: &LocalPool, fail_first: usize) -> (Batcher<u32, u32>, Manual, Calls) {
    let clock = Manual::new();
    let calls: Calls = Arc::default();
    let (c, t) = (calls.clone(), clock.clone());
    let (b, driver) = builder.build_with_driver_on(clock.clone(), move |batch: Batch<u32>| {
        let n = {
            let mut c = c.lock().unwrap();
            c.push((t.elapsed().as_millis() as u64, batch.items.to_vec()));
            c.len()
        };
        async move {
            if n <= fail_first {
                return Err(TransportError::new("unavailable").status(503));
            }
            Ok(batch.items.iter().map(|n| Ok(n * 2)).collect())
        }
    });
    pool.spawner().spawn_local(driver).unwrap();
    (b, clock, calls)
}

fn seen(calls: &Calls) -> Vec<(u64, Vec<u32>)> {
    calls.lock().unwrap().clone()
}

#[test]
fn the_window_closes_exactly_at_max_wait() {
    let mut pool = LocalPool::new();
    let (b, clock, calls) = manual(Batcher::builder().max_wait(10 * MS), &pool, 0);
    let x = pool.spawner().spawn_local_with_handle(b.add(1)).unwrap();
    pool.run_until_stalled();
    clock.advance(9 * MS);
    pool.run_until_stalled();
    assert!(seen(&calls).is_empty(), "not before the window ends");
    clock.advance(MS);
    pool.run_until_stalled();
    assert_eq!(seen(&calls), vec![(10, vec![1])]);
    assert_eq!(pool.run_until(x).unwrap(), 2);
}

#[test]
fn a_full_queue_goes_without_time_moving() {
    let mut pool = LocalPool::new();
    let (b, _clock, calls) = manual(Batcher::builder().max_batch_size(2).max_wait(Duration::from_secs(60)), &pool, 0);
    let r = pool.run_until(join_all([b.add(1), b.add(2)]));
    assert_eq!(r.into_iter().map(Result::unwrap).collect::<Vec<_>>(), vec![2, 4]);
    assert_eq!(seen(&calls), vec![(0, vec![1, 2])]);
}

#[test]
fn retries_wait_their_backoff() {
    let mut pool = LocalPool::new();
    let retry = RetryConfig::default().jitter(Jitter::None).base_delay(100 * MS);
    let (b, clock, calls) = manual(Batcher::builder().retry(retry), &pool, 1);
    let x = pool.spawner().spawn_local_with_handle(b.add(5)).unwrap();
    clock.advance(10 * MS);
    pool.run_until_stalled();
    clock.advance(99 * MS);
    pool.run_until_stalled();
    assert_eq!(seen(&calls).len(), 1, "the retry waits 100 ms");
    clock.advance(MS);
    pool.run_until_stalled();
    assert_eq!(seen(&calls), vec![(10, vec![5]), (110, vec![5])]);
    assert_eq!(pool.run_until(x).unwrap(), 10);
}

#[test]
fn a_deadline_pulls_its_queue_forward() {
    let mut pool = LocalPool::new();
    let (b, clock, calls) = manual(Batcher::builder().max_wait(Duration::from_secs(10)), &pool, 0);
    let due = clock.now() + 100 * MS;
    let x =
        pool.spawner().spawn_local_with_handle(b.add_with(1, AddOptions { deadline: Some(due), ..Default::default() }));
    let x = x.unwrap();
    for _ in 0..100 {
        pool.run_until_stalled();
        clock.advance(MS);
    }
    assert_eq!(pool.run_until(x).unwrap(), 2);
    let at = seen(&calls)[0].0;
    assert!((80..100).contains(&at), "sent at {at} ms");
}

#[test]
fn a_dropped_add_is_never_sent() {
    let mut pool = LocalPool::new();
    let (b, clock, calls) = manual(Batcher::builder(), &pool, 0);
    let kept = pool.spawner().spawn_local_with_handle(b.add(1)).unwrap();
    drop(b.add(2));
    clock.advance(10 * MS);
    assert_eq!(pool.run_until(kept).unwrap(), 2);
    assert_eq!(seen(&calls), vec![(10, vec![1])]);
    assert_eq!((b.stats().succeeded, b.stats().failed), (1, 1));
}

#[test]
fn the_driver_ends_after_close_and_every_item_settled() {
    let mut pool = LocalPool::new();
    let clock = Manual::new();
    let (b, driver) =
        Batcher::builder()
            .max_wait(Duration::from_secs(60))
            .build_with_driver_on(clock, |batch: Batch<u32>| async move {
                Ok(batch.items.iter().map(|n| Ok(*n)).collect())
            });
    let driver = pool.spawner().spawn_local_with_handle(driver).unwrap();
    let pending: Vec<_> = (0..3).map(|n| b.add(n)).collect();
    pool.run_until(b.close());
    assert!(pool.run_until(join_all(pending)).iter().all(Result::is_ok));
    pool.run_until(driver); // ends on its own
    assert_eq!(pool.run_until(b.add(9)).unwrap_err().code(), ErrorCode::Closed);
}

#[test]
fn dropping_the_driver_fails_pending_adds() {
    let (b, driver) = Batcher::builder()
        .build_with_driver(|batch: Batch<u32>| async move { Ok(batch.items.iter().map(|n| Ok(*n)).collect()) });
    let pending = b.add(1);
    drop(driver);
    assert_eq!(block_on(pending).unwrap_err().code(), ErrorCode::Closed);
    assert_eq!(block_on(b.add(2)).unwrap_err().code(), ErrorCode::Closed);
    block_on(b.flush()); // nothing left to drive: resolves at once
}

#[test]
fn bisect_on_a_thread_pool() {
    let pool = ThreadPool::builder().pool_size(2).create().unwrap();
    let (b, driver) = Batcher::builder().build_with_driver(|batch: Batch<u32>| async move {
        if batch.items.contains(&3) {
            return Err(TransportError::new("poison").retryable(false));
        }
        Ok(batch.items.iter().map(|n| Ok(n + 1)).collect())
    });
    pool.spawn_ok(driver);
    let r = block_on(join_all((0..6).map(|n| b.add(n))));
    for (n, r) in r.into_iter().enumerate() {
        match n {
            3 => assert_eq!(r.unwrap_err().code(), ErrorCode::Transport),
            n => assert_eq!(r.unwrap(), n as u32 + 1),
        }
    }
}

/// Adds from four threads at once, with keys and random faults (real timer): every accepted item
/// settles exactly once with its own value or an error.
#[test]
fn adds_from_many_threads_settle_exactly_once() {
    let pool = ThreadPool::builder().pool_size(2).create().unwrap();
    let calls = Arc::new(Mutex::new(0u64));
    let c = calls.clone();
    let (b, driver) = Batcher::builder()
        .max_batch_size(16)
        .max_wait(MS)
        .key_of(|n: &u32| n % 5)
        .retry(RetryConfig::default().base_delay(MS).max_attempts(3))
        .build_with_driver(move |batch: Batch<u32>| {
            let n = {
                let mut c = c.lock().unwrap();
                *c += 1;
                *c
            };
            async move {
                futures_timer::Delay::new(Duration::from_micros(n % 700)).await;
                match n % 9 {
                    0 => Err(TransportError::new("503").status(503)),
                    1 => Err(TransportError::new("422").status(422)),
                    2 => Ok(vec![]),
                    _ => Ok(batch
                        .items
                        .iter()
                        .map(|&i| if (i as u64 + n) % 11 == 0 { Err(ItemError::new("no")) } else { Ok(i * 3) })
                        .collect()),
                }
            }
        });
    let driver = pool.spawn_with_handle(driver).unwrap();
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let b = b.clone();
            std::thread::spawn(move || {
                let adds: Vec<_> = (0..500).map(|i| (t * 1000 + i, b.add(t * 1000 + i))).collect();
                for (i, f) in adds {
                    if let Ok(v) = block_on(f) {
                        assert_eq!(v, i * 3, "item {i} got another item's value");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = b.stats();
    assert_eq!((s.items, s.succeeded + s.failed), (2000, 2000), "{s:?}");
    assert!(s.succeeded > 1000 && s.failed > 0, "{s:?}");
    drop(b); // the last handle: the driver ends
    block_on(driver);
}

#[test]
fn config_errors_come_back_from_try_build() {
    let r =
        Batcher::builder().max_wait(Duration::from_secs(1 << 40)).try_build_with_driver(|b: Batch<u32>| async move {
            Ok(b.items.iter().map(|n| Ok(*n)).collect()) as BatchResult<u32>
        });
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Config);
    assert!(e.to_string().starts_with("hyperbatch: option `max_wait` must be"), "{e}");
}

#[test]
fn keys_dispatch_independently_and_hooks_see_each_call() {
    let mut pool = LocalPool::new();
    let hooks = Arc::new(Mutex::new(Vec::new()));
    let (s, e) = (hooks.clone(), hooks.clone());
    let builder = Batcher::builder()
        .key_of(|n: &u32| if *n < 10 { "small" } else { "big" })
        .on_batch_start(move |info| s.lock().unwrap().push(("start", info.key.map(str::to_owned), info.items.to_vec())))
        .on_batch_end(move |info| {
            let results: Vec<u32> = info.results.unwrap().iter().map(|r| *r.as_ref().unwrap()).collect();
            e.lock().unwrap().push(("end", info.key.map(str::to_owned), results));
        });
    let (b, clock, calls) = manual(builder, &pool, 0);
    let all = pool.spawner().spawn_local_with_handle(join_all([b.add(1), b.add(20), b.add(2)])).unwrap();
    clock.advance(10 * MS);
    let r: Vec<u32> = pool.run_until(all).into_iter().map(Result::unwrap).collect();
    assert_eq!(r, vec![2, 40, 4]);
    let mut seen = seen(&calls);
    seen.sort();
    assert_eq!(seen, vec![(10, vec![1, 2]), (10, vec![20])]);
    let mut hooks = hooks.lock().unwrap().clone();
    hooks.sort();
    let small = Some("small".to_owned());
    let big = Some("big".to_owned());
    assert_eq!(
        hooks,
        vec![
            ("end", big.clone(), vec![40]),
            ("end", small.clone(), vec![2, 4]),
            ("start", big, vec![20]),
            ("start", small, vec![1, 2]),
        ]
    );
}

#[test]
fn hostile_callbacks_on_a_local_pool_fail_their_items_not_the_driver() {
    let mut pool = LocalPool::new();
    let clock = Manual::new();
    let retry = RetryConfig::default().max_attempts(1).classify(|_| panic!("classify blew up"));
    let (b, driver) = Batcher::builder()
        .retry(retry)
        .key_of(|n: &u32| (*n % 10 != 1).then_some(*n)) // 1, 11, … go through the router
        .resolve_keys(|items: Vec<u32>| async move {
            assert!(!items.contains(&1), "router blew up");
            Ok(items.iter().map(|_| Some("k")).collect())
        })
        .build_with_driver_on(clock.clone(), |batch: Batch<u32>| {
            assert!(!batch.items.contains(&2), "transport blew up");
            async move { Ok(batch.items.iter().map(|n| Ok(*n)).collect()) }
        });
    pool.spawner().spawn_local(driver).unwrap();
    let (a, c, d) = (b.add(1), b.add(2), b.add(3));
    let run = |pool: &mut LocalPool, clock: &Manual| {
        for _ in 0..5 {
            pool.run_until_stalled();
            clock.advance(10 * MS);
        }
    };
    run(&mut pool, &clock);
    assert_eq!(pool.run_until(a).unwrap_err().code(), ErrorCode::Route);
    assert_eq!(pool.run_until(c).unwrap_err().code(), ErrorCode::Transport);
    assert_eq!(pool.run_until(d).unwrap(), 3, "other keys are unaffected");
    let e = b.add(21);
    run(&mut pool, &clock);
    assert_eq!(pool.run_until(e).unwrap(), 21, "the router and the driver still run");
}

#[test]
fn a_driver_polled_after_it_ended_stays_ended() {
    let (b, mut driver) = Batcher::builder()
        .build_with_driver(|batch: Batch<u32>| async move { Ok(batch.items.iter().map(|n| Ok(*n)).collect()) });
    let pending = b.add(5);
    drop(b.close());
    block_on(&mut driver);
    assert_eq!(block_on(pending).unwrap(), 5);
    block_on(&mut driver); // again: no panic, no work
    assert_eq!(block_on(b.add(6)).unwrap_err().code(), ErrorCode::Closed);
}
