//! Scenario tests of the engine, one contract rule each.

use super::*;

fn cfg() -> Config {
    let mut c = Config { max_wait_ms: 10.0, ..Config::default() };
    c.retry.jitter = Jitter::None;
    c.retry.base_delay_ms = 10.0;
    c
}

struct H {
    e: Engine,
    /// Every call dispatched, with its items: what an `Output::Succeeded` settles.
    sent: std::collections::HashMap<BatchId, Vec<ItemId>>,
}

impl H {
    fn new(c: Config) -> H {
        H { e: Engine::new(c, 1).unwrap(), sent: Default::default() }
    }
    fn add(&mut self, now: f64) -> ItemId {
        self.add_to(DEFAULT_KEY, 1.0, None, now)
    }
    fn add_to(&mut self, key: KeyId, weight: f64, deadline: Option<f64>, now: f64) -> ItemId {
        self.e.add(key, weight, deadline, None, now).expect("accepted").0
    }
    /// The outputs, with each `Succeeded` spelled out as the `Settle` per item it stands for.
    fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Dispatch(ref d) => {
                    self.sent.insert(d.batch, d.items.clone());
                    out.push(o);
                }
                Output::Succeeded { batch } => {
                    for (i, &item) in self.sent[&batch].iter().enumerate() {
                        out.push(Output::Settle { item, outcome: Outcome::Ok { index: i as u32 }, release: true });
                    }
                }
                o => out.push(o),
            }
        }
        out
    }
    fn dispatches(&mut self) -> Vec<Dispatch> {
        self.drain()
            .into_iter()
            .filter_map(|o| match o {
                Output::Dispatch(d) => Some(d),
                _ => None,
            })
            .collect()
    }
    fn settles(out: &[Output]) -> Vec<(ItemId, Outcome)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Settle { item, outcome, .. } => Some((*item, *outcome)),
                _ => None,
            })
            .collect()
    }
    /// The next `resolveKeys` call among the outputs (`what` names it when there is none).
    fn route(&mut self, what: &str) -> RouteId {
        self.drain()
            .into_iter()
            .find_map(|o| match o {
                Output::Route { route, .. } => Some(route),
                _ => None,
            })
            .expect(what)
    }
    fn time(&mut self, now: f64) -> Vec<Dispatch> {
        self.e.handle_time(now);
        self.dispatches()
    }
    fn ok(&mut self, d: &Dispatch, now: f64) -> Vec<Output> {
        self.e.complete(d.batch, &vec![ItemResult::Ok; d.items.len()], now).unwrap();
        self.drain()
    }
}

fn err(retryable: bool) -> ItemResult {
    ItemResult::Err { retryable, retry_after_ms: None }
}

#[test]
fn size_flush_waits_for_the_tick() {
    let mut h = H::new(Config { max_batch_size: 3.0, ..cfg() });
    let ids: Vec<_> = (0..4).map(|_| h.add(0.0)).collect();
    let out = h.drain();
    assert_eq!(out, vec![Output::Tick], "no dispatch from inside add");
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].items, ids[..3]);
    assert_eq!(d[0].attempt, 1);
    assert_eq!(h.e.stats().queued, 1);
}

#[test]
fn interval_window_starts_at_first_item() {
    let mut h = H::new(cfg());
    let a = h.add(100.0);
    let b = h.add(105.0);
    assert_eq!(h.e.poll_timeout(), Some(110.0));
    assert!(h.time(109.0).is_empty());
    let d = h.time(110.0);
    assert_eq!(d[0].items, vec![a, b]);
    assert_eq!(h.e.poll_timeout(), None, "nothing queued: no timer while only in flight w/o timeout");
}

#[test]
fn tick_mode_sends_everything_at_end_of_turn() {
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    for _ in 0..250 {
        h.add(0.0);
    }
    // The zero window asks for the end of the turn; the full queue (100) for the next microtask.
    assert_eq!(h.drain(), vec![Output::TurnEnd, Output::Tick]);
    assert_eq!(h.e.poll_timeout(), None, "a tick is a microtask, not a timer");
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items.len()).collect::<Vec<_>>(), vec![100, 100, 50]);
}

#[test]
fn zero_window_waits_for_the_end_of_the_turn_not_a_microtask() {
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    h.add(0.0);
    h.add(0.0);
    assert_eq!(h.drain(), vec![Output::TurnEnd], "one TurnEnd per turn, no microtask Tick");
    h.add(0.0); // a later promise job of the same turn
    assert_eq!(h.drain(), vec![], "still the same TurnEnd");
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items.len()).collect::<Vec<_>>(), vec![3], "one batch at the end of the turn");
    h.add(1.0);
    assert_eq!(h.drain(), vec![Output::TurnEnd], "the next turn asks again");
}

#[test]
fn an_abort_sends_nothing_before_its_turn_ends() {
    // Two queued items of a zero window aborted one after the other (one signal shared): the
    // first abort must not send the second, whose own abort comes next in the same turn.
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let (a, b) = (h.add(0.0), h.add(0.0));
    assert_eq!(h.drain(), vec![Output::TurnEnd]);
    h.e.cancel(a, 0.0).unwrap();
    assert!(h.dispatches().is_empty(), "nothing is sent from inside an abort");
    h.e.cancel(b, 0.0).unwrap();
    assert!(h.time(0.0).is_empty(), "both left their queue: no call at the end of the turn");
    assert_eq!(h.e.stats().batches, 0);
    // An abort of one of two items: the other still goes at the end of the turn, alone.
    let (c, d) = (h.add(1.0), h.add(1.0));
    h.e.cancel(c, 1.0).unwrap();
    assert!(h.dispatches().is_empty());
    assert_eq!(h.time(1.0).iter().map(|x| x.items.clone()).collect::<Vec<_>>(), vec![vec![d]]);
}

#[test]
fn weight_cap_cuts_before_overflow_and_rejects_too_large() {
    let mut h = H::new(Config { max_batch_weight: Some(10.0), ..cfg() });
    let a = h.add_to(DEFAULT_KEY, 4.0, None, 0.0);
    let b = h.add_to(DEFAULT_KEY, 4.0, None, 0.0);
    assert_eq!(h.drain(), vec![], "8 <= 10: not due yet");
    let c = h.add_to(DEFAULT_KEY, 4.0, None, 0.0);
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].items.clone(), d[0].weight), (vec![a, b], 8.0));
    assert_eq!(h.time(10.0)[0].items, vec![c]);
    assert_eq!(h.e.add(DEFAULT_KEY, 11.0, None, None, 0.0), Err(AddError::Rejected(ErrorCode::TooLarge)));
}

#[test]
fn a_queue_whose_weight_reaches_the_cap_is_full() {
    // As maxBatchSize: a queue holding exactly maxBatchWeight asks for a tick and goes at it,
    // not at its window (no item of weight > 0 could join it).
    let mut h = H::new(Config { max_batch_weight: Some(10.0), max_wait_ms: 1000.0, ..cfg() });
    let a = h.add_to(DEFAULT_KEY, 4.0, None, 0.0);
    assert_eq!(h.drain(), vec![], "4 < 10: its window");
    let b = h.add_to(DEFAULT_KEY, 6.0, None, 0.0);
    assert_eq!(h.drain(), vec![Output::Tick], "4 + 6 = 10: full");
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].items.clone(), d[0].weight), (vec![a, b], 10.0));
    // Plain items in bulk (weight 1 each) fill a cap of 3 the same way.
    let mut h = H::new(Config { max_batch_weight: Some(3.0), max_wait_ms: 1000.0, ..cfg() });
    let ids = h.e.reserve_plain(3);
    assert_eq!(ids.len(), 3, "room for three before the cap");
    h.e.add_reserved(3, None, 0.0).unwrap();
    assert_eq!(h.drain(), vec![Output::Tick]);
    assert_eq!(h.time(0.0)[0].items, ids.collect::<Vec<_>>());
}

#[test]
fn keys_dispatch_independently() {
    let mut h = H::new(Config { max_batch_size: 2.0, ..cfg() });
    let (ka, kb) = (h.e.intern("a"), h.e.intern("b"));
    assert_eq!(h.e.key_name(ka), Some("a"));
    let a1 = h.add_to(ka, 1.0, None, 0.0);
    let b1 = h.add_to(kb, 1.0, None, 0.0);
    let a2 = h.add_to(ka, 1.0, None, 0.0);
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].key, d[0].items.clone()), (ka, vec![a1, a2]));
    let d2 = h.time(10.0);
    assert_eq!((d2[0].key, d2[0].items.clone()), (kb, vec![b1]));
    h.ok(&d[0], 11.0);
    let out = h.ok(&d2[0], 11.0);
    assert!(out.contains(&Output::KeyReleased { key: kb }));
}

#[test]
fn results_map_by_position_and_count() {
    let mut h = H::new(cfg());
    let ids: Vec<_> = (0..3).map(|_| h.add(0.0)).collect();
    let d = h.time(10.0).remove(0);
    let out = h.ok(&d, 12.0);
    let s = H::settles(&out);
    assert_eq!(s, ids.iter().enumerate().map(|(i, &id)| (id, Outcome::Ok { index: i as u32 })).collect::<Vec<_>>());
    let st = h.e.stats();
    assert_eq!((st.batches, st.items, st.succeeded, st.failed, st.in_flight_batches), (1, 3, 3, 0, 0));
    assert!(out.iter().any(
        |o| matches!(o, Output::BatchEnd(BatchEnd { size: 3, succeeded: 3, duration_ms, .. }) if *duration_ms == 2.0)
    ));
}

#[test]
fn retryable_item_error_requeues_that_item_in_order() {
    let mut h = H::new(cfg());
    let a = h.add(0.0);
    let b = h.add(0.0);
    let d = h.time(10.0).remove(0);
    h.e.complete(d.batch, &[ItemResult::Ok, err(true)], 10.0).unwrap();
    let s = H::settles(&h.drain());
    assert_eq!(s, vec![(a, Outcome::Ok { index: 0 })]);
    let c = h.add(12.0); // newer item, queued while b backs off
    assert_eq!(h.e.poll_timeout(), Some(20.0), "baseDelay 10 after attempt 1");
    let d2 = h.time(22.0);
    assert_eq!(d2.len(), 1);
    assert_eq!(d2[0].items, vec![b, c], "b keeps its place ahead of newer items");
    assert_eq!(d2[0].attempt, 2);
    assert_eq!(h.e.stats().retries, 1);
}

#[test]
fn retryable_item_error_gives_up_after_max_attempts() {
    let mut h = H::new(cfg());
    let a = h.add(0.0);
    let mut now = 10.0;
    for attempt in 1..=3 {
        let d = h.time(now).remove(0);
        assert_eq!(d.attempt, attempt);
        h.e.complete(d.batch, &[err(true)], now).unwrap();
        now = h.e.poll_timeout().unwrap_or(now);
    }
    // attempt 3 failed: the item's own error
    let st = h.e.stats();
    assert_eq!((st.failed, st.retries, st.batches), (1, 2, 3));
    assert_eq!(h.e.poll_timeout(), None);
    let _ = a;
}

#[test]
fn retry_after_hint_is_a_floor() {
    let mut h = H::new(cfg());
    h.add(0.0);
    let d = h.time(10.0).remove(0);
    h.e.complete(d.batch, &[ItemResult::Err { retryable: true, retry_after_ms: Some(500.0) }], 10.0).unwrap();
    assert_eq!(h.e.poll_timeout(), Some(510.0));
}

#[test]
fn batch_level_retry_resends_then_wraps_in_transport_error() {
    let mut h = H::new(cfg());
    let ids = [h.add(0.0), h.add(0.0)];
    let mut now = 10.0;
    let mut delays = vec![];
    for attempt in 1..=3 {
        let d = h.time(now).remove(0);
        assert_eq!((d.items.as_slice(), d.attempt), (&ids[..], attempt));
        h.e.fail(d.batch, Failure { status: Some(503.0), ..Failure::thrown() }, now).unwrap();
        if let Some(t) = h.e.poll_timeout() {
            delays.push(t - now);
            now = t;
        }
    }
    assert_eq!(delays, vec![10.0, 20.0], "base · 2^(k−1)");
    let s = H::settles(&h.drain());
    assert_eq!(s, vec![(ids[0], Outcome::Transport { attempts: 3 }), (ids[1], Outcome::Transport { attempts: 3 })]);
}

#[test]
fn timeout_and_shape_errors_reach_callers_as_they_are() {
    let mut c = cfg();
    c.timeout_ms = Some(50.0);
    c.retry.max_attempts = 1.0;
    let mut h = H::new(c);
    let a = h.add(0.0);
    let d = h.time(10.0).remove(0);
    assert_eq!(h.e.poll_timeout(), Some(60.0));
    h.e.handle_time(60.0);
    assert_eq!(h.drain(), vec![Output::CallTimedOut { batch: d.batch }]);
    assert_eq!(h.e.complete(d.batch, &[ItemResult::Ok], 61.0), Err(InputError::TimedOut(d.batch)));
    h.e.fail(d.batch, Failure::of_kind(FailureKind::Timeout), 60.0).unwrap();
    assert_eq!(H::settles(&h.drain()), vec![(a, Outcome::BatchError)]);
    let b = h.add(70.0);
    let d = h.time(80.0).remove(0);
    h.e.fail(d.batch, Failure::of_kind(FailureKind::ResultShape), 80.0).unwrap();
    assert_eq!(H::settles(&h.drain()), vec![(b, Outcome::BatchError)]);
}

#[test]
fn bisect_isolates_one_poison_item() {
    let mut h = H::new(Config { max_batch_size: 8.0, ..cfg() });
    let ids: Vec<_> = (0..8).map(|_| h.add(0.0)).collect();
    let poison = ids[5];
    let mut pending = h.time(0.0);
    let mut settled = vec![];
    let mut calls = 0;
    while let Some(d) = pending.pop() {
        calls += 1;
        if d.items.contains(&poison) {
            h.e.fail(d.batch, Failure { status: Some(400.0), ..Failure::thrown() }, 1.0).unwrap();
        } else {
            h.e.complete(d.batch, &vec![ItemResult::Ok; d.items.len()], 1.0).unwrap();
        }
        let out = h.drain();
        settled.extend(H::settles(&out));
        pending.extend(out.into_iter().filter_map(|o| match o {
            Output::Dispatch(d) => Some(d),
            _ => None,
        }));
    }
    assert_eq!(settled.len(), 8);
    let bad: Vec<_> = settled.iter().filter(|(_, o)| !o.is_ok()).collect();
    assert_eq!(bad, vec![&(poison, Outcome::Transport { attempts: 4 })], "8 → 4 → 2 → 1: four calls carried it");
    assert_eq!(h.e.stats().bisects, 3);
    assert_eq!(calls, 7);
}

#[test]
fn bisect_off_fails_the_whole_batch() {
    let mut h = H::new(Config { bisect: false, ..cfg() });
    h.add(0.0);
    h.add(0.0);
    let d = h.time(10.0).remove(0);
    h.e.fail(d.batch, Failure { retryable: Some(false), ..Failure::thrown() }, 10.0).unwrap();
    assert_eq!(H::settles(&h.drain()).len(), 2);
    assert_eq!(h.e.stats().bisects, 0);
}

#[test]
fn fail_fast_rejects_the_rest_with_the_first_cause() {
    let mut h = H::new(Config { error_mode: ErrorMode::FailFast, ..cfg() });
    let ids: Vec<_> = (0..3).map(|_| h.add(0.0)).collect();
    let d = h.time(10.0).remove(0);
    h.e.complete(d.batch, &[ItemResult::Ok, err(true), err(false)], 10.0).unwrap();
    assert_eq!(
        H::settles(&h.drain()),
        vec![
            (ids[0], Outcome::FailFast { cause: 1 }),
            (ids[1], Outcome::ItemError { index: 1 }),
            (ids[2], Outcome::ItemError { index: 2 }),
        ]
    );
}

#[test]
fn atomic_resends_whole_batch_on_retryable_then_rejects_all() {
    let mut h = H::new(Config { error_mode: ErrorMode::Atomic, ..cfg() });
    let ids: Vec<_> = (0..3).map(|_| h.add(0.0)).collect();
    let d = h.time(10.0).remove(0);
    h.e.complete(d.batch, &[ItemResult::Ok, err(true), ItemResult::Ok], 10.0).unwrap();
    assert!(H::settles(&h.drain()).is_empty());
    let d2 = h.time(20.0).remove(0);
    assert_eq!((d2.items.clone(), d2.attempt), (ids.clone(), 2));
    h.e.complete(d2.batch, &[ItemResult::Ok, ItemResult::Ok, err(false)], 20.0).unwrap();
    assert_eq!(H::settles(&h.drain()), ids.iter().map(|&i| (i, Outcome::Atomic { cause: 2 })).collect::<Vec<_>>());
}

#[test]
fn atomic_batch_failure_is_never_bisected() {
    let mut c = Config { error_mode: ErrorMode::Atomic, ..cfg() };
    c.retry.max_attempts = 1.0;
    let mut h = H::new(c);
    h.add(0.0);
    h.add(0.0);
    let d = h.time(10.0).remove(0);
    h.e.fail(d.batch, Failure { status: Some(400.0), ..Failure::thrown() }, 10.0).unwrap();
    assert_eq!(H::settles(&h.drain()).len(), 2);
    assert_eq!(h.e.stats().bisects, 0);
}

#[test]
fn budget_stops_retries_and_counts_throttled() {
    let mut c = cfg();
    c.retry.max_attempts = 10.0;
    c.retry.budget = BudgetOption::Config(BudgetConfig { max_tokens: 4.0, token_ratio: 1.0 });
    let mut h = H::new(c);
    let a = h.add(0.0);
    let mut now = 10.0;
    let (mut sends, mut settled) = (0, vec![]);
    h.e.handle_time(now);
    loop {
        let out = h.drain();
        settled.extend(H::settles(&out));
        let Some(Output::Dispatch(d)) = out.into_iter().find(|o| matches!(o, Output::Dispatch(_))) else {
            break;
        };
        sends += 1;
        h.e.fail(d.batch, Failure::thrown(), now).unwrap();
        now = h.e.poll_timeout().unwrap_or(now);
        h.e.handle_time(now);
    }
    // tokens 4 → 3 (retry) → 2 (2 is not > 4/2: refused)
    assert_eq!(sends, 2);
    assert_eq!(h.e.stats().throttled, 1);
    assert_eq!(settled, vec![(a, Outcome::Transport { attempts: 2 })]);
}

#[test]
fn abort_removes_queued_and_detaches_in_flight() {
    let mut h = H::new(cfg());
    let a = h.add(0.0);
    let b = h.add(0.0);
    h.e.cancel(a, 1.0).unwrap();
    assert_eq!(H::settles(&h.drain()), vec![(a, Outcome::Code(ErrorCode::Aborted))]);
    assert_eq!(h.e.stats().queued, 1);
    let c = h.add(2.0);
    let d = h.time(10.0).remove(0);
    assert_eq!(d.items, vec![b, c]);
    h.e.cancel(c, 11.0).unwrap();
    assert_eq!(H::settles(&h.drain()), vec![(c, Outcome::Code(ErrorCode::Aborted))]);
    let out = h.ok(&d, 12.0);
    assert_eq!(H::settles(&out), vec![(b, Outcome::Ok { index: 0 })], "the aborted item's result is ignored");
    assert_eq!(h.e.cancel(c, 13.0), Err(InputError::UnknownItem(c)));
    assert_eq!(h.e.stats().failed, 2);
}

#[test]
fn deadline_flushes_queue_in_time_and_expires_late_items() {
    let mut h = H::new(Config { max_wait_ms: 1000.0, ..cfg() });
    let a = h.add_to(DEFAULT_KEY, 1.0, Some(50.0), 0.0);
    assert_eq!(h.e.poll_timeout(), Some(50.0 - MIN_LEAD_MS), "queue dispatches before the deadline");
    let d = h.time(45.0).remove(0);
    assert_eq!((d.items.clone(), d.deadline), (vec![a], Some(50.0)));
    h.e.handle_time(50.0);
    assert!(H::settles(&h.drain()).is_empty(), "not passed at exactly the deadline");
    let t = h.e.poll_timeout().unwrap();
    assert!(t > 50.0 && t < 50.001);
    h.e.handle_time(t);
    assert_eq!(H::settles(&h.drain()), vec![(a, Outcome::Code(ErrorCode::Deadline))]);
    let late = h.ok(&d, 60.0);
    assert!(H::settles(&late).is_empty());
    // a queue blocked by maxInFlight: the queued item expires and is never sent
    assert_eq!(h.e.add(DEFAULT_KEY, 1.0, Some(10.0), None, 20.0), Err(AddError::Rejected(ErrorCode::Deadline)));
}

#[test]
fn queued_item_past_deadline_is_never_sent() {
    let mut h = H::new(Config { max_in_flight: 1.0, max_batch_size: 1.0, ..cfg() });
    let a = h.add(0.0);
    let b = h.add_to(DEFAULT_KEY, 1.0, Some(30.0), 0.0);
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    h.e.handle_time(29.0);
    h.e.handle_time(31.0);
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(b, Outcome::Code(ErrorCode::Deadline))]);
    let out = h.ok(&d[0], 40.0);
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "b was never sent");
    let _ = a;
}

#[test]
fn backpressure_reject_and_wait() {
    let mut h = H::new(Config { max_queued: 2.0, ..cfg() });
    h.add(0.0);
    h.add(0.0);
    assert_eq!(h.e.add(DEFAULT_KEY, 1.0, None, None, 0.0), Err(AddError::Rejected(ErrorCode::Full)));

    let mut h = H::new(Config { max_queued: 2.0, when_full: WhenFull::Wait, ..cfg() });
    h.add(0.0);
    h.add(0.0);
    let (c, adm) = h.e.add(DEFAULT_KEY, 1.0, None, None, 0.0).unwrap();
    assert_eq!(adm, Admission::Waiting);
    assert_eq!(h.e.stats().queued, 2, "waiting adds are not counted");
    h.e.handle_time(0.0);
    let out = h.drain();
    assert!(out.contains(&Output::Admitted { item: c }));
    assert_eq!(h.e.stats().queued, 0, "the full queue went at the tick, and the admitted add with it");
}

#[test]
fn in_flight_caps_global_and_per_key() {
    let mut h = H::new(Config { max_batch_size: 1.0, max_in_flight: 2.0, max_in_flight_per_key: Some(1.0), ..cfg() });
    let (ka, kb) = (h.e.intern("a"), h.e.intern("b"));
    let a1 = h.add_to(ka, 1.0, None, 0.0);
    let a2 = h.add_to(ka, 1.0, None, 0.0);
    let b1 = h.add_to(kb, 1.0, None, 0.0);
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items[0]).collect::<Vec<_>>().len(), 2);
    assert_eq!(h.e.stats().in_flight_batches, 2);
    let da = d.iter().find(|d| d.key == ka).unwrap().clone();
    assert_eq!(da.items, vec![a1]);
    let out = h.ok(&da, 1.0);
    let next: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect();
    assert_eq!(next, vec![vec![a2]], "strict per-key order: a2 only after a1");
    let _ = b1;
}

#[test]
fn a_key_held_by_its_in_flight_cap_reports_no_past_wake_up() {
    // Its window closed while its call is out: the call's end sends it, no timer can. A wake-up
    // reported at or before the last handle_time made hosts spin (core.js re-armed a 0 ms timer
    // until the call ended; the Rust driver looped).
    let mut h = H::new(Config { max_batch_size: 2.0, max_in_flight_per_key: Some(1.0), ..cfg() });
    let items: Vec<_> = (0..6).map(|_| h.add(0.0)).collect();
    let d = h.time(0.0);
    assert_eq!(d.len(), 1, "one call at a time for the key");
    for t in [10.0, 11.0, 50.0] {
        assert!(h.time(t).is_empty(), "nothing sent while the key's call is out");
        let next = h.e.poll_timeout();
        assert!(next.is_none_or(|at| at > t), "wake-up {next:?} after handle_time({t})");
    }
    let out = h.ok(&d[0], 60.0);
    let next: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect();
    assert_eq!(next, vec![items[2..4].to_vec()], "the call's end sends the overdue batch at once");
}

#[test]
fn dedupe_shares_one_slot() {
    let mut h = H::new(cfg());
    let (a, _) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap();
    let (b, adm) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap();
    let (c, _) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap();
    assert_eq!(adm, Admission::Joined);
    h.e.cancel(c, 1.0).unwrap();
    h.e.cancel(a, 1.0).unwrap();
    let out = h.drain();
    assert_eq!(
        out,
        vec![
            Output::Settle { item: c, outcome: Outcome::Code(ErrorCode::Aborted), release: true },
            Output::Settle { item: a, outcome: Outcome::Code(ErrorCode::Aborted), release: false },
        ]
    );
    let d = h.time(10.0).remove(0);
    assert_eq!(d.items, vec![a], "one slot, carried by a's value");
    let out = h.ok(&d, 11.0);
    assert_eq!(
        out.iter().filter(|o| matches!(o, Output::Settle { .. } | Output::Release { .. })).cloned().collect::<Vec<_>>(),
        vec![Output::Settle { item: b, outcome: Outcome::Ok { index: 0 }, release: true }, Output::Release { item: a }]
    );
    // after dispatch, the same key opens a new slot
    let (_, adm) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 12.0).unwrap();
    assert_eq!(adm, Admission::Queued);
}

// The followers are a list through the item table (the slot's first, each one's next, the
// slot's last): one leaving from the front, the middle or the end relinks it, and a later one
// joins after the last still there; they settle in the order they joined.
#[test]
fn dedupe_followers_leave_from_anywhere_and_settle_in_join_order() {
    let mut h = H::new(cfg());
    let ids: Vec<_> = (0..5).map(|_| h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap().0).collect();
    let [a, b, c, d, e] = ids[..] else { unreachable!() };
    for gone in [c, e] {
        h.e.cancel(gone, 1.0).unwrap(); // the middle, then the last
    }
    let (f, adm) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 2.0).unwrap();
    assert_eq!(adm, Admission::Joined);
    h.e.cancel(b, 3.0).unwrap(); // the first
    h.drain();
    let call = h.time(10.0).remove(0);
    assert_eq!(call.items, vec![a]);
    let ok = Outcome::Ok { index: 0 };
    assert_eq!(H::settles(&h.ok(&call, 11.0)), vec![(d, ok), (f, ok), (a, ok)]);
}

#[test]
fn unrouted_items_are_classified_in_batches() {
    let mut h = H::new(cfg());
    let ids: Vec<_> = (0..3).map(|_| h.add_to(UNROUTED, 1.0, None, 0.0)).collect();
    h.e.handle_time(10.0);
    let out = h.drain();
    let Some(Output::Route { route, items }) = out.into_iter().find(|o| matches!(o, Output::Route { .. })) else {
        panic!("one route call")
    };
    assert_eq!(items, ids);
    assert_eq!(h.e.route_done(route, &[1], 10.0), Err(InputError::ResultCount { batch: route, expected: 3, got: 1 }));
    let k = h.e.intern("east");
    h.e.route_done(route, &[k, UNROUTED, k], 11.0).unwrap();
    assert_eq!(H::settles(&h.drain()), vec![(ids[1], Outcome::Code(ErrorCode::Route))]);
    let d = h.time(21.0).remove(0);
    assert_eq!((d.key, d.items), (k, vec![ids[0], ids[2]]));
}

#[test]
fn flush_and_close_drain_everything() {
    let mut h = H::new(Config { max_wait_ms: 1000.0, ..cfg() });
    let a = h.add(0.0);
    let f = h.e.flush(1.0);
    let d = h.dispatches().remove(0);
    assert_eq!(d.items, vec![a]);
    let b = h.add(2.0);
    let out = h.ok(&d, 3.0);
    assert!(out.contains(&Output::Flushed { flush: f }), "b came after the flush");
    let c = h.e.close(4.0);
    let d = h.dispatches().remove(0);
    assert_eq!(d.items, vec![b]);
    assert_eq!(h.e.add(DEFAULT_KEY, 1.0, None, None, 5.0), Err(AddError::Rejected(ErrorCode::Closed)));
    let out = h.ok(&d, 6.0);
    assert!(out.contains(&Output::Flushed { flush: c }));
    assert_eq!((h.e.unsettled(), h.e.poll_timeout()), (0, None));
    let again = h.e.close(7.0);
    assert!(h.drain().contains(&Output::Flushed { flush: again }), "close is idempotent");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let mut h = H::new(cfg());
    for w in [f64::NAN, -1.0, f64::INFINITY] {
        assert!(matches!(
            h.e.add(DEFAULT_KEY, w, None, None, 0.0),
            Err(AddError::Invalid(InputError::InvalidWeight(_)))
        ));
    }
    assert!(matches!(h.e.add(DEFAULT_KEY, 1.0, Some(f64::NAN), None, 0.0), Err(AddError::Invalid(_))));
    assert_eq!(h.e.add(999, 1.0, None, None, 0.0), Err(AddError::Invalid(InputError::UnknownKey(999))));
    assert_eq!(h.e.complete(42, &[], 0.0), Err(InputError::UnknownBatch(42)));
    assert_eq!(h.e.fail(42, Failure::thrown(), 0.0), Err(InputError::UnknownBatch(42)));
    assert_eq!(h.e.route_done(7, &[], 0.0), Err(InputError::UnknownRoute(7)));
    h.add(0.0);
    let d = h.time(10.0).remove(0);
    let e = h.e.complete(d.batch, &[ItemResult::Ok, ItemResult::Ok], 10.0).unwrap_err();
    assert!(e.to_string().contains("1 items but 2 results"));
    h.ok(&d, 10.0);
    assert_eq!(
        h.e.complete(d.batch, &[ItemResult::Ok], 10.0),
        Err(InputError::UnknownBatch(d.batch)),
        "second outcome"
    );
    assert_eq!(h.e.stats().succeeded, 1);
}

#[test]
fn config_errors_name_the_option() {
    let e = Engine::new(Config { max_in_flight: 0.0, ..cfg() }, 0).err().unwrap();
    assert_eq!(e.option.path(), "maxInFlight");
}

#[test]
fn no_wakeup_while_idle_even_with_stale_timers() {
    let mut h = H::new(Config { timeout_ms: Some(100.0), ..cfg() });
    let a = h.add_to(DEFAULT_KEY, 1.0, Some(10_000.0), 0.0);
    h.e.cancel(a, 1.0).unwrap();
    assert_eq!(h.e.poll_timeout(), None);
    h.add(2.0);
    let d = h.time(12.0).remove(0);
    assert_eq!(h.e.poll_timeout(), Some(112.0));
    h.ok(&d, 13.0);
    assert_eq!(h.e.poll_timeout(), None);
}

// Found by tests/engine_props.rs: an add waiting for room holds its key. Releasing the key
// under it made the waiter enter a dead (or reused) key's queue and never settle.
#[test]
fn a_key_with_a_waiting_add_is_not_released() {
    let mut h = H::new(Config { max_queued: 1.0, when_full: WhenFull::Wait, ..cfg() });
    let k = h.e.intern("c");
    let a = h.add(0.0); // takes the only room
    let (w, adm) = h.e.add(k, 1.0, None, None, 0.0).unwrap();
    assert_eq!(adm, Admission::Waiting);
    let (x, _) = h.e.add(k, 1.0, None, None, 0.0).unwrap();
    assert_eq!(h.e.key_name(k), Some("c"));
    // Backpressure: every queue is due; sending a (at the tick, not inside the abort) admits w,
    // which goes at once.
    h.e.cancel(x, 1.0).unwrap();
    let mut out = h.drain();
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "nothing is sent from inside an abort");
    h.e.handle_time(1.0);
    out.extend(h.drain());
    assert!(!out.contains(&Output::KeyReleased { key: k }), "w still waits for key c");
    let d: Vec<_> = out.into_iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d) } else { None }).collect();
    assert_eq!(d[0].items, vec![a]);
    let d = d[1].clone();
    assert_eq!((d.key, d.items.clone()), (k, vec![w]), "w admitted and sent");
    let out = h.ok(&d, 21.0);
    assert_eq!(H::settles(&out), vec![(w, Outcome::Ok { index: 0 })]);
    assert!(out.contains(&Output::KeyReleased { key: k }));
}

// Found by tests/engine_props.rs: the routing queue kept a stale window time after a route
// call emptied it, so the next unrouted item armed no timer and waited forever.
#[test]
fn routing_queue_rearms_its_window_after_a_route_call() {
    let mut h = H::new(cfg());
    h.add_to(UNROUTED, 1.0, None, 0.0);
    h.e.flush(1.0);
    assert!(h.drain().iter().any(|o| matches!(o, Output::Route { .. })));
    assert_eq!(h.e.poll_timeout(), None, "the window timer is stale now");
    h.add_to(UNROUTED, 1.0, None, 20.0);
    assert_eq!(h.e.poll_timeout(), Some(30.0));
    h.e.handle_time(30.0);
    assert!(h.drain().iter().any(|o| matches!(o, Output::Route { .. })));
}

// Found by tests/engine_props.rs: an input that arrives after a queued item's deadline but
// before the host ran its expiry timer must not send that item.
#[test]
fn an_item_past_its_deadline_is_not_sent_by_a_late_timer() {
    let mut h = H::new(Config { max_in_flight: 1.0, max_batch_size: 1.0, ..cfg() });
    let a = h.add(0.0);
    let b = h.add_to(DEFAULT_KEY, 1.0, Some(30.0), 0.0);
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    // The transport answers at 40; b's expiry timer (just after 30) has not run yet.
    let out = h.ok(&d[0], 40.0);
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "b is past its deadline: never sent");
    assert_eq!(H::settles(&out), vec![(a, Outcome::Ok { index: 0 }), (b, Outcome::Code(ErrorCode::Deadline))]);
    assert_eq!(h.e.stats().queued, 0);
    h.e.handle_time(40.0);
    assert!(H::settles(&h.drain()).is_empty(), "settled once");
    assert_eq!(h.e.poll_timeout(), None);
}

// ---------------------------------------------------------------- deadline-aware dispatch

#[test]
fn deadline_lead_is_ten_ms_before_any_call_ended() {
    // The contract's example: maxWaitMs 10000, A due in 100 ms, B in 300 ms. Host timers fire
    // late, so the queue must go well before the deadline (not 1 ms before).
    let mut h = H::new(Config { max_wait_ms: 10_000.0, ..cfg() });
    let a = h.add_to(DEFAULT_KEY, 1.0, Some(100.0), 0.0);
    let b = h.add_to(DEFAULT_KEY, 1.0, Some(300.0), 0.0);
    assert_eq!(h.e.poll_timeout(), Some(90.0));
    let d = h.time(95.0); // the timer fired 5 ms late
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].items.clone(), d[0].deadline), (vec![a, b], Some(100.0)));
}

#[test]
fn deadline_lead_follows_the_keys_call_time() {
    let mut h = H::new(Config { max_wait_ms: 10_000.0, ..cfg() });
    let k = h.e.intern("slow");
    h.add_to(k, 1.0, None, 0.0);
    let d = h.time(10_000.0).remove(0);
    h.ok(&d, 10_200.0); // this key's calls take 200 ms
    assert_eq!(h.e.key_name(k), None, "the idle key was released");
    let k = h.e.intern("slow");
    let a = h.add_to(k, 1.0, Some(11_000.0), 10_300.0);
    assert_eq!(h.e.poll_timeout(), Some(10_800.0), "deadline − 200 ms: the estimate survives the key's release");
    assert_eq!(h.time(10_800.0)[0].items, vec![a]);

    // A deadline closer than the lead: dispatched at the end of the turn, not later.
    let b = h.add_to(k, 1.0, Some(11_100.0), 10_950.0);
    assert_eq!(h.drain(), vec![Output::Tick]);
    assert_eq!(h.time(10_950.0)[0].items, vec![b]);
}

#[test]
fn a_longer_call_moves_queued_deadlines_earlier() {
    let mut h = H::new(Config { max_wait_ms: 10_000.0, max_in_flight_per_key: Some(2.0), ..cfg() });
    let first = h.add(0.0);
    let d = h.time(10_000.0).remove(0);
    assert_eq!(d.items, vec![first]);
    let a = h.add_to(DEFAULT_KEY, 1.0, Some(11_000.0), 10_100.0);
    assert_eq!(h.e.poll_timeout(), Some(10_990.0));
    // The call took 500 ms: the lead is now 500 ms, so a's queue is due at once.
    let out = h.ok(&d, 10_500.0);
    let sent: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect();
    assert_eq!(sent, vec![vec![a]]);
}

// ---------------------------------------------------------------- order across keys

#[test]
fn queues_due_together_dispatch_oldest_first() {
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let keys: Vec<KeyId> = names.iter().map(|n| h.e.intern(n)).collect();
    for &k in &keys {
        h.add_to(k, 1.0, None, 0.0);
    }
    h.add_to(keys[0], 1.0, None, 0.0);
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.key).collect::<Vec<_>>(), keys[..4], "maxInFlight 4: the four oldest");

    // a, b, a in one tick: a's batch first.
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let (ka, kb) = (h.e.intern("a"), h.e.intern("b"));
    let a1 = h.add_to(ka, 1.0, None, 0.0);
    let b1 = h.add_to(kb, 1.0, None, 0.0);
    let a2 = h.add_to(ka, 1.0, None, 0.0);
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), vec![vec![a1, a2], vec![b1]]);
}

#[test]
fn one_timer_firing_for_several_windows_dispatches_oldest_first() {
    let mut h = H::new(Config { max_wait_ms: 10.0, ..cfg() });
    let (ka, kb, kc) = (h.e.intern("a"), h.e.intern("b"), h.e.intern("c"));
    let c = h.add_to(kc, 1.0, None, 0.0);
    let b = h.add_to(kb, 1.0, None, 1.0);
    let a = h.add_to(ka, 1.0, None, 2.0);
    let d = h.time(50.0); // a late timer: all three windows closed
    assert_eq!(d.iter().map(|d| d.items[0]).collect::<Vec<_>>(), vec![c, b, a]);
}

#[test]
fn capacity_freed_goes_to_the_oldest_waiting_queue() {
    let mut h = H::new(Config { max_wait_ms: 0.0, max_in_flight: 1.0, ..cfg() });
    let (ka, kb, kc) = (h.e.intern("a"), h.e.intern("b"), h.e.intern("c"));
    let a = h.add_to(ka, 1.0, None, 0.0);
    let d = h.time(0.0);
    let c = h.add_to(kc, 1.0, None, 1.0);
    let b = h.add_to(kb, 1.0, None, 2.0);
    assert!(h.time(2.0).is_empty(), "maxInFlight 1");
    let out = h.ok(&d[0], 3.0);
    assert_eq!(H::settles(&out), vec![(a, Outcome::Ok { index: 0 })]);
    let next: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items[0]) } else { None }).collect();
    assert_eq!(next, vec![c]);
    let _ = b;
}

// ---------------------------------------------------------------- backpressure flush

#[test]
fn backpressure_flushes_within_the_tick() {
    // The contract's example: maxQueued 10, maxWaitMs 2000, whenFull wait, twelve adds.
    let mut h = H::new(Config { max_queued: 10.0, max_wait_ms: 2000.0, when_full: WhenFull::Wait, ..cfg() });
    let ids: Vec<_> = (0..12).map(|_| h.add(0.0)).collect();
    assert_eq!(h.drain(), vec![Output::Tick]);
    let d = h.time(1.0);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), vec![ids[..10].to_vec(), ids[10..].to_vec()]);
    assert_eq!(h.e.stats().queued, 0);
}

#[test]
fn backpressure_flush_goes_on_while_adds_wait() {
    let mut h =
        H::new(Config { max_queued: 2.0, max_wait_ms: 2000.0, max_in_flight: 1.0, when_full: WhenFull::Wait, ..cfg() });
    let ids: Vec<_> = (0..5).map(|_| h.add(0.0)).collect();
    let d = h.time(0.0);
    assert_eq!(d.len(), 1, "maxInFlight 1");
    assert_eq!(d[0].items, ids[..2]);
    let out = h.ok(&d[0], 5.0);
    let next: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect();
    assert_eq!(next, vec![ids[2..4].to_vec()], "the queue is full again: no window wait");
    // no pressure left: a lone item waits for its window again
    let d = next;
    let _ = d;
}

#[test]
fn reaching_max_queued_flushes_every_key_oldest_first() {
    let mut h = H::new(Config { max_queued: 3.0, max_wait_ms: 2000.0, ..cfg() });
    let (ka, kb) = (h.e.intern("a"), h.e.intern("b"));
    let b1 = h.add_to(kb, 1.0, None, 0.0);
    let a1 = h.add_to(ka, 1.0, None, 0.0);
    assert_eq!(h.drain(), vec![], "not full yet: windows");
    let a2 = h.add_to(ka, 1.0, None, 0.0);
    assert_eq!(h.drain(), vec![Output::Tick]);
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), vec![vec![b1], vec![a1, a2]]);
    assert_eq!(h.e.add(DEFAULT_KEY, 1.0, None, None, 0.0).map(|r| r.1), Ok(Admission::Queued));
    assert_eq!(h.drain(), vec![], "room again: back to windows");
}

// ---------------------------------------------------------------- abandoned calls

#[test]
fn a_call_whose_items_were_all_aborted_is_abandoned_once() {
    let mut h = H::new(cfg());
    let (a, b) = (h.add(0.0), h.add(0.0));
    let d = h.time(10.0).remove(0);
    h.e.cancel(a, 11.0).unwrap();
    assert!(!h.drain().contains(&Output::Abandoned { batch: d.batch }), "b still waits");
    h.e.cancel(b, 12.0).unwrap();
    let out = h.drain();
    assert_eq!(out.iter().filter(|o| matches!(o, Output::Abandoned { .. })).count(), 1);
    assert!(out.contains(&Output::Abandoned { batch: d.batch }));
    assert_eq!(h.e.stats().in_flight_batches, 1, "in flight until the transport answers");
    // The transport rejects on the aborted signal: nothing settles, nothing is retried.
    h.e.fail(d.batch, Failure::thrown(), 13.0).unwrap();
    let out = h.drain();
    assert!(H::settles(&out).is_empty());
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))));
    assert_eq!(h.e.stats().in_flight_batches, 0);
}

#[test]
fn a_call_whose_items_all_passed_their_deadlines_is_abandoned() {
    let mut h = H::new(cfg());
    let a = h.add_to(DEFAULT_KEY, 1.0, Some(40.0), 0.0);
    let b = h.add_to(DEFAULT_KEY, 1.0, Some(50.0), 0.0);
    let d = h.time(10.0).remove(0);
    h.e.handle_time(45.0);
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(a, Outcome::Code(ErrorCode::Deadline))]);
    assert!(!out.contains(&Output::Abandoned { batch: d.batch }));
    let t = h.e.poll_timeout().unwrap();
    h.e.handle_time(t);
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(b, Outcome::Code(ErrorCode::Deadline))]);
    assert!(out.contains(&Output::Abandoned { batch: d.batch }));
}

#[test]
fn a_dedupe_follower_keeps_the_call_wanted() {
    let mut h = H::new(cfg());
    let (p, _) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap();
    let (f, adm) = h.e.add(DEFAULT_KEY, 1.0, None, Some("x"), 0.0).unwrap();
    assert_eq!(adm, Admission::Joined);
    let d = h.time(10.0).remove(0);
    h.e.cancel(p, 11.0).unwrap();
    assert!(!h.drain().contains(&Output::Abandoned { batch: d.batch }), "the follower waits for it");
    h.e.cancel(f, 12.0).unwrap();
    assert!(h.drain().contains(&Output::Abandoned { batch: d.batch }));
}

#[test]
fn an_abandoned_call_costs_no_retry_token() {
    let mut c = cfg();
    c.retry.budget = BudgetOption::Config(BudgetConfig { max_tokens: 4.0, token_ratio: 0.0 });
    let mut h = H::new(c);
    let a = h.add(0.0);
    let d = h.time(10.0).remove(0);
    h.e.cancel(a, 11.0).unwrap();
    h.drain();
    h.e.fail(d.batch, Failure::thrown(), 12.0).unwrap();
    h.drain();
    // Four tokens: b's own retryable error costs one; had the abandoned call cost one too,
    // 2 <= 4 / 2 would refuse b's retry.
    let b = h.add(20.0);
    let d = h.time(30.0).remove(0);
    h.e.complete(d.batch, &[err(true)], 31.0).unwrap();
    let out = h.drain();
    assert!(H::settles(&out).is_empty(), "b is retried: the abandoned call cost nothing");
    assert_eq!(h.e.stats().throttled, 0);
    let _ = b;
}

// ------------------------------------------------------------------------------ adaptive

fn adaptive() -> Config {
    Config { adaptive: true, max_wait_ms: 50.0, max_batch_size: 4.0, ..cfg() }
}

#[test]
fn adaptive_lone_item_goes_at_the_end_of_the_turn() {
    let mut h = H::new(adaptive());
    h.add(0.0);
    h.add(0.0);
    assert_eq!(h.drain(), vec![Output::TurnEnd], "no call in flight: the end of the turn, no timer");
    let d = h.time(0.0);
    assert_eq!(d.iter().map(|d| d.items.len()).collect::<Vec<_>>(), vec![2]);
    // Fixed window for comparison: the same adds wait for maxWaitMs.
    let mut f = H::new(Config { adaptive: false, ..adaptive() });
    f.add(0.0);
    assert_eq!(f.drain(), vec![]);
    assert_eq!(f.e.poll_timeout(), Some(50.0));
}

#[test]
fn adaptive_gathers_while_a_call_is_out_and_sends_when_it_ends() {
    let mut h = H::new(adaptive());
    h.add(0.0);
    let first = h.time(0.0);
    assert_eq!(first.len(), 1);
    // The call is out: later adds gather behind it, on a maxWaitMs window.
    h.add(1.0);
    h.add(2.0);
    assert_eq!(h.drain(), vec![], "no TurnEnd while a call of the key is in flight");
    assert_eq!(h.e.poll_timeout(), Some(51.0), "maxWaitMs after the first gathered item");
    assert!(h.time(20.0).is_empty(), "still gathering");
    let out = h.ok(&first[0], 30.0);
    let sent: Vec<usize> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dispatch(d) => Some(d.items.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![2], "the call's end sends what gathered, at once");
}

#[test]
fn adaptive_never_waits_past_max_wait_ms() {
    let mut h = H::new(adaptive());
    h.add(0.0);
    let first = h.time(0.0);
    h.add(5.0);
    assert!(h.time(54.0).is_empty());
    let d = h.time(55.0);
    assert_eq!(d.len(), 1, "the window closes at 5 + 50 though the first call is still out");
    // Full by size: sends at once even with calls out.
    for _ in 0..4 {
        h.add(60.0);
    }
    assert_eq!(h.drain(), vec![Output::Tick]);
    assert_eq!(h.time(60.0).iter().map(|d| d.items.len()).collect::<Vec<_>>(), vec![4]);
    drop(first);
}

#[test]
fn adaptive_call_end_sends_while_other_calls_of_the_key_are_out() {
    let mut h = H::new(adaptive());
    h.add(0.0);
    let a = h.time(0.0);
    h.add(1.0);
    let b = h.time(51.0); // by window, with `a` still out
    assert_eq!((a.len(), b.len()), (1, 1));
    h.add(60.0);
    assert_eq!(h.drain(), vec![], "two calls out: gather");
    let out = h.ok(&a[0], 70.0);
    assert!(out.iter().any(|o| matches!(o, Output::Dispatch(d) if d.items.len() == 1)), "one ended: send");
}

#[test]
fn adaptive_keys_are_independent() {
    let mut h = H::new(adaptive());
    let k = h.e.intern("other");
    h.add(0.0);
    let a = h.time(0.0);
    assert_eq!(a.len(), 1);
    h.add(1.0); // default key: its call is out, gathers
    h.add_to(k, 1.0, None, 1.0); // other key: nothing out, end of turn
    assert_eq!(h.drain(), vec![Output::TurnEnd]);
    let d = h.time(1.0);
    assert_eq!(d.iter().map(|d| d.key).collect::<Vec<_>>(), vec![k]);
}

// ------------------------------------------------------------------------- circuit breaker

fn breaker(threshold: f64, max_attempts: f64) -> Config {
    let mut c =
        Config { circuit_breaker: Some(CircuitConfig { failure_threshold: threshold, reset_ms: 100.0 }), ..cfg() };
    c.retry.max_attempts = max_attempts;
    c.retry.budget = BudgetOption::Enabled(false);
    c
}

fn circuit_changes(out: &[Output]) -> Vec<(KeyId, CircuitState)> {
    out.iter()
        .filter_map(|o| match o {
            Output::CircuitChange { key, state } => Some((*key, *state)),
            _ => None,
        })
        .collect()
}

fn sent(out: &[Output]) -> Vec<Dispatch> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dispatch(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

impl H {
    fn fail_call(&mut self, d: &Dispatch, now: f64) -> Vec<Output> {
        self.e.fail(d.batch, Failure::thrown(), now).unwrap();
        self.drain()
    }
}

#[test]
fn circuit_opens_at_the_threshold_and_rejects_later_adds_without_a_call() {
    let mut h = H::new(breaker(2.0, 1.0));
    let k = h.e.intern("s1");
    h.add_to(k, 1.0, None, 0.0);
    let d = h.time(10.0);
    assert!(circuit_changes(&h.fail_call(&d[0], 11.0)).is_empty(), "one failure of two");
    h.add_to(k, 1.0, None, 12.0);
    let d = h.time(22.0);
    let out = h.fail_call(&d[0], 23.0);
    assert_eq!(circuit_changes(&out), vec![(k, CircuitState::Open)]);
    assert_eq!(h.e.stats().circuits_open, 1);
    let c = h.add_to(k, 1.0, None, 30.0);
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(c, Outcome::CircuitOpen { key: k })]);
    assert!(h.time(1000.0).is_empty() && sent(&out).is_empty(), "no call for a refused add");
    assert_eq!(h.e.stats().batches, 2);
}

#[test]
fn a_success_resets_the_count_and_retries_count_as_calls() {
    let mut h = H::new(breaker(3.0, 5.0));
    h.add(0.0);
    let d = h.time(10.0);
    h.fail_call(&d[0], 11.0); // 1
    let d = h.time(30.0); // the retry (backoff 10 ms)
    assert_eq!(d[0].attempt, 2);
    h.fail_call(&d[0], 31.0); // 2
    let d = h.time(60.0);
    h.ok(&d[0], 61.0); // reset
    h.add(70.0);
    let d = h.time(80.0);
    h.fail_call(&d[0], 81.0); // 1
    let d = h.time(100.0);
    h.fail_call(&d[0], 101.0); // 2
    let d = h.time(200.0);
    assert_eq!(d[0].attempt, 3);
    let out = h.fail_call(&d[0], 201.0); // 3: opens
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::Open)]);
}

#[test]
fn opening_rejects_queued_items_and_items_waiting_to_retry() {
    let mut h = H::new(Config { max_in_flight_per_key: Some(2.0), ..breaker(2.0, 5.0) });
    let a = h.add(0.0);
    let first = h.time(10.0);
    let b = h.add(11.0);
    let second = h.time(21.0);
    assert_eq!(second[0].items, vec![b]);
    h.fail_call(&first[0], 22.0); // a waits to retry
    let c = h.add(23.0); // queued
    let out = h.fail_call(&second[0], 24.0); // opens: a (retry wait), b (its retry) and c reject
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::Open)]);
    let mut rejected: Vec<ItemId> = H::settles(&out)
        .into_iter()
        .map(|(i, o)| {
            assert_eq!(o, Outcome::CircuitOpen { key: DEFAULT_KEY });
            i
        })
        .collect();
    rejected.sort_unstable();
    assert_eq!(rejected, vec![a, b, c]);
    assert!(h.time(10_000.0).is_empty(), "nothing left to send");
    assert_eq!(h.e.stats().queued, 0);
    assert_eq!(h.e.unsettled(), 0);
}

#[test]
fn after_reset_the_next_batch_is_a_lone_probe_and_its_success_closes() {
    let mut h = H::new(Config { max_batch_size: 2.0, ..breaker(1.0, 1.0) });
    h.add(0.0);
    let d = h.time(10.0);
    h.fail_call(&d[0], 20.0); // open until 120
    let early = h.add(119.0);
    assert_eq!(H::settles(&h.drain()), vec![(early, Outcome::CircuitOpen { key: DEFAULT_KEY })]);
    let p = h.add(120.0);
    h.e.handle_time(130.0);
    let out = h.drain();
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::HalfOpen)]);
    let probe = sent(&out);
    assert_eq!(probe[0].items, vec![p]);
    assert_eq!(h.e.stats().circuits_open, 0, "half-open is not open");
    // Items added while the probe is out wait for it, though full by size and past their window.
    let waiting: Vec<ItemId> = (0..3).map(|_| h.add(131.0)).collect();
    assert!(h.time(131.0).is_empty() && h.time(500.0).is_empty(), "nothing goes past the probe");
    assert_eq!(h.e.poll_timeout(), None, "no timer while waiting for the probe");
    let out = h.ok(&probe[0], 600.0);
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::Closed)]);
    let after: Vec<ItemId> = sent(&out).into_iter().flat_map(|d| d.items).collect();
    assert_eq!(after, waiting, "the waiting items go once it closed");
}

#[test]
fn a_failed_probe_opens_again_for_reset_ms_and_rejects_what_waited() {
    let mut h = H::new(breaker(1.0, 3.0));
    h.add(0.0);
    let d = h.time(10.0);
    let out = h.fail_call(&d[0], 20.0); // open until 120; the item's retry rejects
    assert_eq!(H::settles(&out).len(), 1);
    h.add(150.0);
    let probe = h.time(160.0);
    let w = h.add(161.0);
    // A wrong-shaped result counts as a failure.
    h.e.fail(probe[0].batch, Failure::of_kind(FailureKind::ResultShape), 170.0).unwrap();
    let out = h.drain();
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::Open)]);
    assert!(H::settles(&out).contains(&(w, Outcome::CircuitOpen { key: DEFAULT_KEY })));
    let refused = h.add(269.0);
    assert_eq!(H::settles(&h.drain()), vec![(refused, Outcome::CircuitOpen { key: DEFAULT_KEY })]);
    h.add(270.0);
    let out = {
        h.e.handle_time(280.0);
        h.drain()
    };
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::HalfOpen)], "probes again after 170 + 100");
}

#[test]
fn the_probe_waits_for_a_call_out_since_before_the_circuit_opened() {
    let mut h = H::new(Config { max_in_flight_per_key: Some(2.0), ..breaker(1.0, 1.0) });
    h.add(0.0);
    let a = h.time(10.0);
    h.add(11.0);
    let b = h.time(21.0);
    h.fail_call(&a[0], 22.0); // open until 122, b still out
    h.add(200.0);
    assert!(h.time(300.0).is_empty(), "a probe goes alone");
    let out = h.ok(&b[0], 310.0);
    // A success of an older call does not close it: its end lets the probe go.
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::HalfOpen)]);
    let probe = sent(&out);
    assert_eq!(probe.len(), 1);
    assert_eq!(circuit_changes(&h.ok(&probe[0], 320.0)), vec![(DEFAULT_KEY, CircuitState::Closed)]);
}

#[test]
fn other_keys_are_unaffected_and_a_key_keeps_its_circuit_through_a_lull() {
    let mut h = H::new(breaker(2.0, 1.0));
    let (k, other) = (h.e.intern("down"), h.e.intern("up"));
    h.add_to(k, 1.0, None, 0.0);
    let d = h.time(10.0);
    h.fail_call(&d[0], 11.0);
    // The key is idle now, with one failure counted: it keeps its id and its count.
    assert!(h.drain().iter().all(|o| !matches!(o, Output::KeyReleased { .. })));
    assert_eq!(h.e.intern("down"), k);
    h.add_to(k, 1.0, None, 20.0);
    let d = h.time(30.0);
    assert_eq!(circuit_changes(&h.fail_call(&d[0], 31.0)), vec![(k, CircuitState::Open)]);
    let o = h.add_to(other, 1.0, None, 40.0);
    let d = h.time(50.0);
    assert_eq!(d[0].items, vec![o], "another key sends as usual");
    let out = h.ok(&d[0], 51.0);
    assert!(out.contains(&Output::KeyReleased { key: other }));
    // Probe and close: the key is released once idle again.
    h.add_to(k, 1.0, None, 200.0);
    let probe = h.time(210.0);
    let out = h.ok(&probe[0], 211.0);
    assert_eq!(circuit_changes(&out), vec![(k, CircuitState::Closed)]);
    assert!(out.contains(&Output::KeyReleased { key: k }));
}

#[test]
fn an_abandoned_probe_leaves_the_circuit_half_open_for_the_next_batch() {
    let mut h = H::new(breaker(1.0, 1.0));
    h.add(0.0);
    let d = h.time(10.0);
    h.fail_call(&d[0], 11.0);
    let p = h.add(200.0);
    let probe = h.time(210.0);
    h.e.cancel(p, 211.0).unwrap();
    assert!(h.drain().contains(&Output::Abandoned { batch: probe[0].batch }));
    h.e.fail(probe[0].batch, Failure::thrown(), 212.0).unwrap(); // our own abort: no verdict
    assert!(circuit_changes(&h.drain()).is_empty());
    h.add(213.0);
    let out = {
        h.e.handle_time(223.0);
        h.drain()
    };
    assert!(circuit_changes(&out).is_empty(), "still half-open");
    let next = sent(&out);
    assert_eq!(next.len(), 1, "the next batch is the probe");
    assert_eq!(circuit_changes(&h.ok(&next[0], 230.0)), vec![(DEFAULT_KEY, CircuitState::Closed)]);
}

#[test]
fn close_releases_keys_kept_only_for_their_circuit() {
    let mut h = H::new(breaker(1.0, 1.0));
    let k = h.e.intern("down");
    h.add_to(k, 1.0, None, 0.0);
    let d = h.time(10.0);
    h.fail_call(&d[0], 11.0); // open; the key is idle but keeps its circuit
    h.e.close(12.0);
    assert!(h.drain().contains(&Output::KeyReleased { key: k }), "found by the fuzzer: it was never released");
    assert_eq!(h.e.stats().circuits_open, 0);
}

#[test]
fn a_routed_item_refused_by_an_open_circuit_frees_its_room_for_waiters() {
    // Found by the engine fuzzer: the room the routed item held was never handed to the adds
    // waiting for it.
    let mut c = Config { max_queued: 1.0, when_full: WhenFull::Wait, ..breaker(1.0, 1.0) };
    c.max_wait_ms = 0.0;
    let mut h = H::new(c);
    let k = h.e.intern("down");
    h.add_to(k, 1.0, None, 0.0);
    let d = h.time(0.0);
    h.fail_call(&d[0], 1.0); // k open until 101
    let routed = h.add_to(UNROUTED, 1.0, None, 2.0);
    let (waiter, admission) = h.e.add(DEFAULT_KEY, 1.0, None, None, 2.0).unwrap();
    assert_eq!(admission, Admission::Waiting);
    h.e.handle_time(2.0);
    let route = h.route("a resolveKeys call");
    h.e.route_done(route, &[k], 3.0).unwrap();
    let out = h.drain();
    assert!(H::settles(&out).contains(&(routed, Outcome::CircuitOpen { key: k })));
    assert!(out.contains(&Output::Admitted { item: waiter }), "the waiter gets the room: {out:?}");
}

#[test]
fn call_now_starts_a_call_at_once_and_its_success_outputs_nothing() {
    let mut h = H::new(Config { max_in_flight: 1.0, ..cfg() });
    let (item, batch) = h.e.call_now(0.0).unwrap();
    assert_eq!(h.drain(), vec![], "no Dispatch: the host makes the call");
    let s = h.e.stats();
    assert_eq!((s.items, s.batches, s.in_flight_batches, s.in_flight_items), (1, 1, 1, 1));
    // maxInFlight reached: the next one cannot start now, and nothing changes.
    assert_eq!(h.e.call_now(1.0), Err(AddError::Rejected(ErrorCode::Full)));
    assert_eq!(h.e.stats(), s);
    h.e.complete(batch, &[ItemResult::Ok], 2.0).unwrap();
    assert_eq!(h.drain(), vec![], "no Succeeded, no BatchEnd");
    let s = h.e.stats();
    assert_eq!((s.succeeded, s.in_flight_batches, h.e.unsettled()), (1, 0, 0));
    assert_eq!(h.e.cancel(item, 3.0), Err(InputError::UnknownItem(item)), "settled");
    assert_eq!(h.e.poll_timeout(), None, "idle again");
}

#[test]
fn call_now_never_overtakes_queued_items_and_its_failures_are_output() {
    let mut h = H::new(cfg());
    let queued = h.add(0.0);
    h.drain();
    assert_eq!(h.e.call_now(1.0), Err(AddError::Rejected(ErrorCode::Full)), "an item waits on the default queue");
    let d = h.time(10.0);
    assert_eq!(d[0].items, vec![queued]);
    // The queue is empty again: a direct call starts beside the one in flight.
    let (item, batch) = h.e.call_now(11.0).unwrap();
    h.e.fail(batch, Failure { retryable: Some(false), ..Failure::thrown() }, 12.0).unwrap();
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(item, Outcome::Transport { attempts: 1 })], "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::BatchEnd(_))), "a direct call's end is the host's: {out:?}");
    h.e.close(13.0);
    assert_eq!(h.e.call_now(14.0), Err(AddError::Rejected(ErrorCode::Closed)));
}

#[test]
fn a_flush_covers_items_still_waiting_for_resolve_keys() {
    let mut h = H::new(Config { max_wait_ms: 3000.0, ..cfg() });
    let a = h.add_to(UNROUTED, 1.0, None, 0.0);
    let f = h.e.flush(1.0);
    let route = h.route("the flush sends the routing queue at once");
    // An item added after the flush and routed with a later call is not covered by it.
    let b = h.add_to(UNROUTED, 1.0, None, 2.0);
    let k = h.e.intern("east");
    h.e.route_done(route, &[k], 5.0).unwrap();
    let d = h.dispatches();
    assert_eq!(d.len(), 1, "a is due at once, not after maxWaitMs");
    assert_eq!((d[0].key, d[0].items.clone()), (k, vec![a]));
    let out = h.ok(&d[0], 6.0);
    assert!(out.contains(&Output::Flushed { flush: f }));
    h.e.handle_time(3002.0);
    let route = h.route("b is routed when its window ends");
    let k = h.e.intern("east"); // released when a's call ended; the host interns each answer
    h.e.route_done(route, &[k], 3002.0).unwrap();
    assert!(h.dispatches().is_empty(), "b waits for its key's window: the flush came before it");
    assert_eq!(h.e.poll_timeout(), Some(3002.0 + 3000.0));
    assert_eq!(h.time(3002.0 + 3000.0)[0].items, vec![b]);
}

// A `resolveKeys` call outliving `timeoutMs` fails its items (the hosts report E_ROUTE caused by
// E_TIMEOUT), completes the flush waiting on them, and its late answer changes nothing.
#[test]
fn a_route_call_past_timeout_fails_its_items_and_ignores_a_late_answer() {
    let mut h = H::new(Config { timeout_ms: Some(50.0), max_wait_ms: 3000.0, ..cfg() });
    let a = h.add_to(UNROUTED, 1.0, None, 0.0);
    let f = h.e.flush(1.0);
    let route = h.route("the flush sends the routing queue at once");
    assert_eq!(h.e.poll_timeout(), Some(51.0), "the route call's timeout is armed");
    h.e.handle_time(50.0);
    assert!(H::settles(&h.drain()).is_empty(), "not before timeoutMs");
    h.e.handle_time(51.0);
    let out = h.drain();
    assert_eq!(H::settles(&out), vec![(a, Outcome::Code(ErrorCode::Timeout))]);
    assert!(out.contains(&Output::Flushed { flush: f }));
    assert_eq!(h.e.stats().queued, 0);
    let k = h.e.intern("east");
    assert_eq!(h.e.route_done(route, &[k], 60.0), Err(InputError::UnknownRoute(route)));
    assert!(h.drain().iter().all(|o| !matches!(o, Output::Dispatch(_) | Output::Settle { .. })));
    assert!(h.e.poll_timeout().is_none(), "nothing left to wake for");
    // A route call answered in time has its timer go stale.
    let b = h.add_to(UNROUTED, 1.0, None, 100.0);
    h.e.flush(100.0);
    let route = h.route("routed again");
    let k = h.e.intern("east");
    h.e.route_done(route, &[k], 101.0).unwrap();
    let d = h.dispatches();
    assert_eq!(d[0].items, vec![b]);
    h.ok(&d[0], 102.0);
    h.e.handle_time(200.0);
    assert!(H::settles(&h.drain()).is_empty());
}

// Opening rejects what the key has not sent, wherever it waits, even when that is all it holds
// (kills machine/circuit.rs reject_unsent's early exit mutants: `waiting > 0`, `retry_waiting > 0`
// → `==`/`<`, `||` → `&&`, `!ready_units.is_empty()` → delete `!`), and nothing of another key
// (kills `it.key == k && unsent(..)` → `||`).
#[test]
fn opening_rejects_an_add_waiting_for_room_and_spares_other_keys() {
    // maxInFlight 2 is taken by a call of k and one of `other`; `other` (maxInFlightPerKey 1)
    // holds x queued, which fills maxQueued: w, an add to k, waits for room.
    let c = Config {
        max_queued: 1.0,
        when_full: WhenFull::Wait,
        max_in_flight: 2.0,
        max_in_flight_per_key: Some(1.0),
        ..breaker(1.0, 1.0)
    };
    let mut h = H::new(c);
    let (k, other) = (h.e.intern("down"), h.e.intern("up"));
    h.add_to(k, 1.0, None, 0.0);
    let a = h.time(10.0);
    h.add_to(other, 1.0, None, 11.0);
    let y = h.time(21.0);
    let x = h.add_to(other, 1.0, None, 22.0);
    let (w, admission) = h.e.add(k, 1.0, None, None, 23.0).unwrap();
    assert_eq!(admission, Admission::Waiting);
    assert!(h.time(23.0).is_empty());
    let out = h.fail_call(&a[0], 24.0);
    assert_eq!(circuit_changes(&out), vec![(k, CircuitState::Open)]);
    let failed = (a[0].items[0], Outcome::Transport { attempts: 1 });
    assert_eq!(H::settles(&out), vec![failed, (w, Outcome::CircuitOpen { key: k })], "w, not x: {out:?}");
    let out = h.ok(&y[0], 25.0);
    assert_eq!(sent(&out).iter().map(|d| d.items.clone()).collect::<Vec<_>>(), vec![vec![x]]);
}

#[test]
fn opening_rejects_an_item_waiting_to_retry_when_nothing_else_waits() {
    let mut h = H::new(Config { max_in_flight_per_key: Some(2.0), ..breaker(1.0, 2.0) });
    let a = h.add(0.0);
    let first = h.time(10.0);
    h.add(11.0);
    let second = h.time(21.0);
    h.e.complete(first[0].batch, &[err(true)], 22.0).unwrap(); // a waits to retry (a success for the circuit)
    assert!(H::settles(&h.drain()).is_empty());
    // A 400 of a lone item is not retried: only a is left unsent when the circuit opens.
    h.e.fail(second[0].batch, Failure { status: Some(400.0), ..Failure::thrown() }, 23.0).unwrap();
    let out = h.drain();
    assert_eq!(circuit_changes(&out), vec![(DEFAULT_KEY, CircuitState::Open)]);
    assert!(H::settles(&out).contains(&(a, Outcome::CircuitOpen { key: DEFAULT_KEY })), "{out:?}");
    assert!(h.time(1000.0).is_empty());
    assert_eq!(h.e.unsettled(), 0);
}

#[test]
fn opening_rejects_a_ready_unit_held_by_capacity() {
    let mut h = H::new(Config { max_in_flight: 2.0, ..breaker(2.0, 5.0) });
    let k = h.e.intern("down");
    let other = h.e.intern("up");
    let a = h.add_to(k, 1.0, None, 0.0);
    let first = h.time(10.0);
    h.add_to(k, 1.0, None, 11.0);
    let second = h.time(21.0);
    h.fail_call(&first[0], 22.0); // a is resent as a unit after 10 ms; one failure of two
    h.add_to(other, 1.0, None, 23.0);
    h.e.flush(23.0);
    assert_eq!(h.dispatches().iter().map(|d| d.key).collect::<Vec<_>>(), vec![other], "the second slot");
    assert!(h.time(40.0).is_empty(), "a's unit is ready but waits for capacity");
    h.e.fail(second[0].batch, Failure { status: Some(400.0), ..Failure::thrown() }, 41.0).unwrap();
    let out = h.drain();
    assert_eq!(circuit_changes(&out), vec![(k, CircuitState::Open)]);
    assert!(H::settles(&out).contains(&(a, Outcome::CircuitOpen { key: k })), "{out:?}");
    assert!(sent(&out).is_empty());
}

// A routed item that joins a dedupe slot queued after the flush: the flush covers it, so the slot
// goes at once (kills `it.gen == gen && queued` → `||` in flushed_route, which sent it only by luck).
#[test]
fn a_flush_covers_a_routed_item_that_joins_a_later_dedupe_slot() {
    let mut h = H::new(Config { max_wait_ms: 3000.0, ..cfg() });
    let (a, _) = h.e.add(UNROUTED, 1.0, None, Some("x"), 0.0).unwrap();
    let f = h.e.flush(1.0);
    let route = h.route("the flush sends the routing queue at once");
    let k = h.e.intern("east");
    let (p, _) = h.e.add(k, 1.0, None, Some("x"), 2.0).unwrap(); // after the flush: its window
    h.e.route_done(route, &[k], 5.0).unwrap();
    let d = h.dispatches();
    assert_eq!(d.len(), 1, "the slot a joined goes at once, not after maxWaitMs");
    assert_eq!((d[0].key, d[0].items.clone()), (k, vec![p]));
    let out = h.ok(&d[0], 6.0);
    assert!(H::settles(&out).iter().any(|&(i, _)| i == a), "a settles with the slot: {out:?}");
    assert!(out.contains(&Output::Flushed { flush: f }));
}

#[test]
fn drain_outputs_gives_what_poll_output_would_after_a_partial_poll() {
    // Two engines fed the same inputs: one polled, one polled once and then drained.
    let run = |drain: bool| {
        let mut e = Engine::new(Config { max_batch_size: 2.0, ..cfg() }, 1).unwrap();
        for _ in 0..5 {
            e.add(DEFAULT_KEY, 1.0, None, None, 0.0).unwrap();
        }
        e.handle_time(0.0);
        let mut out = vec![e.poll_output().expect("an output")];
        if drain {
            e.drain_outputs(|o| out.push(o));
        } else {
            while let Some(o) = e.poll_output() {
                out.push(o);
            }
        }
        assert!(!e.has_output());
        e.flush(1.0);
        e.drain_outputs(|o| out.push(o));
        assert_eq!(e.poll_output(), None);
        out
    };
    let polled = run(false);
    assert!(polled.iter().filter(|o| matches!(o, Output::Dispatch(_))).count() >= 2, "{polled:?}");
    assert_eq!(run(true), polled);
}

#[test]
fn freed_ids_come_back_in_order_so_plain_batches_are_runs() {
    // What lets the shell send a plain batch as its first id (`Output::Dispatch` as a run): ids
    // freed by settled batches, and reserved ids given back, are handed out again in order.
    let mut h = H::new(Config { max_batch_size: 100.0, max_queued: 1e6, max_in_flight: 1e6, ..cfg() });
    let is_run = |d: &Dispatch| d.items.iter().zip(d.items[0]..).all(|(&i, j)| i == j);
    let mut now = 0.0;
    for round in 0..20 {
        // Reservations of several sizes, the last ones partly used and given back (as a host
        // does when a turn ends), 1,000 adds in all.
        let mut added = 0;
        for (k, want) in [8usize, 16, 1024, 3, 1024].into_iter().cycle().enumerate() {
            if added == 1000 {
                break;
            }
            let ids = h.e.reserve_plain(want).collect::<Vec<_>>();
            let take = if k % 3 == 2 { ids.len() / 2 } else { ids.len() }.min(1000 - added);
            h.e.add_reserved(take, None, now).unwrap();
            added += take;
        }
        now += 10.0;
        let sent = h.time(now);
        assert_eq!(sent.iter().map(|d| d.items.len()).sum::<usize>(), 1000, "round {round}");
        if round > 0 {
            let split = sent.iter().filter(|d| !is_run(d)).count();
            assert!(split <= 1, "round {round}: {split} of {} batches are not runs", sent.len());
        }
        for d in &sent {
            h.ok(d, now);
        }
        assert_eq!(h.e.stats().queued + h.e.stats().in_flight_items, 0);
    }
}

// ---------------------------------------------------------------- plain items as runs

impl H {
    /// `n` plain adds in bulk, as core.js makes them: reserve, then hand over what was taken.
    fn bulk(&mut self, n: usize, now: f64) -> Vec<ItemId> {
        let mut ids = Vec::new();
        while ids.len() < n {
            let got: Vec<ItemId> = self.e.reserve_plain(n - ids.len()).collect();
            assert!(!got.is_empty(), "no room for plain adds");
            self.e.add_reserved(got.len(), None, now).unwrap();
            ids.extend(got);
        }
        ids
    }
}

#[test]
fn plain_runs_mixed_with_other_items_go_in_queue_order() {
    // A batch that mixes runs with an item added alone writes the runs' slots (in order) and
    // settles item by item; a batch of runs alone settles as one record.
    let mut h = H::new(Config { max_batch_size: 7.0, ..cfg() });
    let mut want = h.bulk(3, 0.0);
    want.push(h.add_to(DEFAULT_KEY, 1.0, Some(1e9), 0.0));
    want.extend(h.bulk(3, 0.0));
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].items, want);
    assert_eq!((d[0].weight, d[0].deadline), (7.0, Some(1e9)));
    h.e.complete(
        d[0].batch,
        &[ItemResult::Ok, err(false), ItemResult::Ok, ItemResult::Ok, ItemResult::Ok, ItemResult::Ok, ItemResult::Ok],
        1.0,
    )
    .unwrap();
    let out = h.drain();
    let settled = H::settles(&out);
    let expected: Vec<(ItemId, Outcome)> = want
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let index = i as u32;
            (id, if i == 1 { Outcome::ItemError { index } } else { Outcome::Ok { index } })
        })
        .collect();
    assert_eq!(settled, expected);
    let s = h.e.stats();
    assert_eq!((s.succeeded, s.failed, s.queued, s.in_flight_items), (6, 1, 0, 0));
    // Freed, the ids come back as one run: the next plain batch settles with one record.
    let again = h.bulk(7, 2.0);
    let d = h.time(2.0);
    assert_eq!(d[0].items, again);
    h.e.complete(d[0].batch, &[ItemResult::Ok; 7], 3.0).unwrap();
    let mut raw = Vec::new();
    h.e.drain_outputs(|o| raw.push(o));
    assert!(raw.contains(&Output::Succeeded { batch: d[0].batch }), "{raw:?}");
    assert!(!raw.iter().any(|o| matches!(o, Output::Settle { .. })), "{raw:?}");
}

/// Batches of `size`, up to `attempts` calls per item, no retry budget.
fn retrying(size: f64, attempts: f64) -> H {
    let mut c = Config { max_batch_size: size, ..cfg() };
    c.retry.max_attempts = attempts;
    c.retry.budget = BudgetOption::Enabled(false);
    H::new(c)
}

#[test]
fn a_failed_plain_call_retries_its_items_one_by_one() {
    // The call's runs become ordinary items when it fails: resent as a unit, then one retryable
    // item error re-queues that item alone; every caller settles once, with its own entry.
    let mut h = retrying(4.0, 3.0);
    let ids = h.bulk(4, 0.0);
    let d = h.time(0.0);
    assert_eq!(d[0].items, ids);
    h.e.fail(d[0].batch, Failure { status: Some(503.0), ..Failure::thrown() }, 1.0).unwrap();
    assert!(H::settles(&h.drain()).is_empty(), "retried, not settled");
    let d = h.time(50.0);
    assert_eq!((d[0].items.clone(), d[0].attempt), (ids.clone(), 2));
    h.e.complete(d[0].batch, &[ItemResult::Ok, ItemResult::Ok, err(true), ItemResult::Ok], 51.0).unwrap();
    let out = h.drain();
    let firsts: Vec<_> = H::settles(&out).into_iter().map(|(i, _)| i).collect();
    assert_eq!(firsts, [ids[0], ids[1], ids[3]]);
    let d = h.time(200.0);
    assert_eq!((d[0].items.clone(), d[0].attempt), (vec![ids[2]], 3));
    let out = h.ok(&d[0], 201.0);
    assert_eq!(H::settles(&out), [(ids[2], Outcome::Ok { index: 0 })]);
    let s = h.e.stats();
    assert_eq!((s.succeeded, s.failed, s.retries, s.queued, s.in_flight_items), (4, 0, 5, 0, 0));
    assert_eq!(h.e.unsettled(), 0);
}

#[test]
fn an_opening_circuit_refuses_queued_plain_runs() {
    // The default key's circuit opens while plain runs wait in its queue: each of their callers
    // settles with E_CIRCUIT_OPEN, the queue empties, and plain adds go one by one (refused).
    let mut c = breaker(1.0, 1.0);
    c.max_in_flight = 1.0;
    let mut h = H::new(c);
    let first = h.bulk(2, 0.0);
    let d = h.time(10.0);
    assert_eq!(d[0].items, first);
    let queued = h.bulk(5, 11.0);
    assert_eq!(h.e.stats().queued, 5);
    h.e.fail(d[0].batch, Failure { status: Some(500.0), ..Failure::thrown() }, 12.0).unwrap();
    let out = h.drain();
    let settled = H::settles(&out);
    for id in first.iter().chain(&queued) {
        assert_eq!(settled.iter().filter(|(i, _)| i == id).count(), 1, "item {id} settled once: {out:?}");
    }
    let circuit: Vec<_> =
        settled.iter().filter(|(_, o)| matches!(o, Outcome::CircuitOpen { .. })).map(|p| p.0).collect();
    assert_eq!(circuit, queued);
    let s = h.e.stats();
    assert_eq!((s.queued, s.failed, s.circuits_open), (0, 7, 1));
    assert_eq!(h.e.reserve_plain(10).len(), 0, "plain adds go through add while the circuit is open");
    assert_eq!(h.e.unsettled(), 0);
    // Half-open after reset_ms: the probe goes, succeeds, and plain runs flow again.
    let probe = h.add(200.0);
    let d = h.time(211.0);
    assert_eq!(d[0].items, [probe]);
    h.ok(&d[0], 212.0);
    let ids = h.bulk(3, 213.0);
    let d = h.time(300.0);
    assert_eq!(d[0].items, ids);
    let out = h.ok(&d[0], 301.0);
    assert_eq!(H::settles(&out).len(), 3);
}

#[test]
fn a_flush_waits_for_plain_runs_split_across_calls() {
    // Flush numbers of runs: settled as runs, a flush is done once every item before it settled.
    let mut h = H::new(Config { max_batch_size: 4.0, ..cfg() });
    h.bulk(4, 0.0);
    let a = h.time(0.0);
    h.bulk(4, 0.0);
    let b = h.time(0.0);
    let more = h.bulk(2, 0.0);
    let f = h.e.flush(1.0);
    let c = h.dispatches();
    assert_eq!(c.len(), 1, "the flush sends the rest");
    assert_eq!(c[0].items, more);
    let flushed = |out: &[Output]| out.contains(&Output::Flushed { flush: f });
    assert!(!flushed(&h.ok(&b[0], 2.0)));
    assert!(!flushed(&h.ok(&c[0], 3.0)));
    assert!(flushed(&h.ok(&a[0], 4.0)), "the last of the flush's items settled");
}

#[test]
fn a_weight_cap_cuts_plain_runs_by_weight() {
    let mut h = H::new(Config { max_batch_weight: Some(2.5), max_batch_size: 100.0, ..cfg() });
    let ids = h.bulk(5, 0.0);
    let sent: Vec<Vec<ItemId>> = h.time(0.0).into_iter().map(|d| d.items).collect();
    assert_eq!(sent, [ids[0..2].to_vec(), ids[2..4].to_vec()]);
    let d = h.time(100.0);
    assert_eq!((d[0].items.clone(), d[0].weight), (vec![ids[4]], 1.0));
}

#[test]
fn a_plain_item_in_a_run_is_not_cancelled() {
    // Plain adds have no signal: while it travels in a run, `cancel` does not find it and
    // changes nothing; once its call failed and it is an ordinary item again, it can be.
    let mut h = retrying(2.0, 2.0);
    let ids = h.bulk(2, 0.0);
    let before = h.e.stats();
    assert_eq!(h.e.cancel(ids[0], 0.0), Err(InputError::UnknownItem(ids[0])));
    assert_eq!(h.e.stats(), before);
    let d = h.time(0.0);
    assert_eq!(h.e.cancel(ids[1], 0.0), Err(InputError::UnknownItem(ids[1])));
    h.e.fail(d[0].batch, Failure { status: Some(503.0), ..Failure::thrown() }, 1.0).unwrap();
    h.drain();
    assert_eq!(h.e.cancel(ids[1], 2.0), Ok(()));
    assert_eq!(H::settles(&h.drain()), [(ids[1], Outcome::Code(ErrorCode::Aborted))]);
    let d = h.time(100.0);
    assert_eq!(d[0].items, [ids[0]]);
}

#[test]
fn plain_items_in_runs_take_ids_but_no_slots() {
    // A plain workload keeps no item table (what made a queued item cost 579 bytes in Node, 242
    // now); slots come with the first item that needs one, and cover the ids below it.
    let mut h = H::new(Config { max_batch_size: 100.0, max_queued: 1e6, max_in_flight: 1e6, ..cfg() });
    for round in 0..10 {
        let ids = h.bulk(1000, round as f64 * 10.0);
        let sent = h.time(round as f64 * 10.0 + 1.0);
        assert_eq!(sent.iter().map(|d| d.items.len()).sum::<usize>(), ids.len());
        for d in &sent {
            h.ok(d, round as f64 * 10.0 + 2.0);
        }
    }
    assert_eq!(h.e.slots(), 0, "plain runs wrote slots");
    assert_eq!(h.e.unsettled(), 0);
    // An item added alone needs its slot: the table grows to its id, reused ids first.
    let k = h.e.intern("k");
    let id = h.add_to(k, 1.0, None, 200.0);
    assert!(id < 1000, "freed ids come back first, got {id}");
    assert_eq!(h.e.slots(), id as usize + 1);
    // A run needed item by item (its call failed: bisected here) gets its slots then.
    let ids = h.bulk(3, 200.0);
    let d = h.time(300.0);
    let plain = d.iter().find(|d| d.items == ids).expect("the plain batch");
    h.e.fail(plain.batch, Failure { retryable: Some(false), ..Failure::thrown() }, 301.0).unwrap();
    let halves: Vec<Vec<ItemId>> = h.dispatches().into_iter().map(|d| d.items).collect();
    assert_eq!(halves.concat(), ids, "bisected into {halves:?}");
    assert!(h.e.slots() > *ids.iter().max().unwrap() as usize);
}

// ---------------------------------------------------------------- keyed items as runs

impl H {
    /// `keys` names interned (or their ids again, while they live).
    fn keys(&mut self, keys: usize) -> Vec<KeyId> {
        (0..keys).map(|k| self.e.intern(&format!("k{k}"))).collect()
    }
}

#[test]
fn keyed_plain_adds_keep_fifo_per_key_and_order_across_keys() {
    // Interleaved `add_plain`s to three keys, queued as runs of one: every batch holds its key's
    // items in arrival order, and at the end of the turn the queue whose oldest item arrived
    // first goes first, also for what a full cut leaves behind (maxBatchSize 2).
    let mut h = H::new(Config { max_batch_size: 2.0, max_wait_ms: 0.0, max_in_flight: 1e6, ..cfg() });
    let [a, b, c] = h.keys(3)[..] else { unreachable!() };
    // The key interned last arrives first: key ids do not decide the order.
    let arrivals = [c, a, b, a, b, a, c, b, b, a];
    let mut queued: Vec<(KeyId, ItemId)> = Vec::new();
    for &k in &arrivals {
        queued.push((k, h.e.add_plain(k, 0.0).unwrap().0));
    }
    // The expected calls: repeatedly the key of the oldest item left, its two oldest items.
    let mut want: Vec<(KeyId, Vec<ItemId>)> = Vec::new();
    let mut left = queued.clone();
    while let Some(&(k, _)) = left.first() {
        let items: Vec<ItemId> = left.iter().filter(|e| e.0 == k).take(2).map(|e| e.1).collect();
        left.retain(|e| !items.contains(&e.1));
        want.push((k, items));
    }
    let sent = h.time(0.0);
    let got: Vec<(KeyId, Vec<ItemId>)> = sent.iter().map(|d| (d.key, d.items.clone())).collect();
    assert_eq!(got, want);
    for d in &sent {
        h.ok(d, 0.0);
    }
    assert_eq!(h.e.unsettled(), 0);
    assert_eq!(h.e.slots(), 0, "no item slot was written");
}

#[test]
fn interleaved_keyed_batches_leave_free_ids_in_long_runs() {
    // Keyed batches free ids that are not adjacent (each key's items took ids among the other
    // keys'); merged again, a plain reservation after many of them is still a whole batch long,
    // not one id.
    let mut h = H::new(Config { max_batch_size: 20.0, max_wait_ms: 0.0, max_queued: 1e6, max_in_flight: 1e6, ..cfg() });
    let mut now = 0.0;
    for round in 0..30 {
        let keys = h.keys(50);
        for i in 0..1000 {
            h.e.add_plain(keys[i % 50], now).unwrap();
        }
        let sent = h.time(now);
        assert_eq!(sent.len(), 50);
        for d in &sent {
            h.ok(d, now);
        }
        assert_eq!(h.e.reserve_plain(1000).len(), 20, "round {round}: a reservation as long as a batch");
        now += 1.0;
    }
    assert_eq!(h.e.slots(), 0, "no item slot was written");
}

#[test]
fn a_key_released_gives_its_held_ids_back() {
    // A key holds a block of free ids for its next adds; released, it gives back those it did not
    // use, so keys that come and go leave every id free once nothing is queued.
    let mut h = H::new(Config { max_batch_size: 100.0, max_wait_ms: 0.0, ..cfg() });
    for round in 0..200 {
        let k = h.e.intern(&format!("k{round}"));
        for _ in 0..1 + round % 13 {
            h.e.add_plain(k, 0.0).unwrap();
        }
        for d in h.time(0.0) {
            h.ok(&d, 0.0);
        }
        assert!(h.e.key_name(k).is_none(), "round {round}: the idle key was released");
        let (free, handed_out) = h.e.free_ids_of();
        assert_eq!(free, handed_out, "round {round}: every id is free again");
    }
    assert!(h.e.free_ids_of().1 < 100, "ids are reused, not taken anew");
}

// ---------------------------------------------------------------- deadline runs

impl H {
    /// `n` deadline adds in bulk (one deadline for all), as core.js records them.
    fn bulk_by(&mut self, n: usize, deadline: f64, now: f64) -> Vec<ItemId> {
        let ids: Vec<ItemId> = self.e.reserve_plain(n).collect();
        assert_eq!(ids.len(), n, "room for {n}");
        self.e.add_reserved(n, Some(deadline), now).unwrap();
        ids
    }
}

fn deadline_settles(out: &[Output]) -> Vec<ItemId> {
    H::settles(out).into_iter().filter(|&(_, o)| o == Outcome::Code(ErrorCode::Deadline)).map(|(i, _)| i).collect()
}

#[test]
fn a_queued_run_past_its_deadline_is_never_sent() {
    // The key's one call is out (maxInFlightPerKey 1): the run waits past its deadline, then
    // settles with E_DEADLINE at once, and the call's end sends nothing.
    let mut h = H::new(Config { max_wait_ms: 0.0, max_in_flight_per_key: Some(1.0), ..cfg() });
    h.bulk(1, 0.0);
    let first = h.time(0.0).remove(0);
    let run = h.bulk_by(3, 20.0, 1.0);
    assert!(h.time(15.0).is_empty(), "held by the per-key cap");
    assert_eq!(h.e.poll_timeout(), Some(20f64.next_up()), "its expiry");
    h.e.handle_time(21.0);
    let out = h.drain();
    assert_eq!(deadline_settles(&out), run);
    assert_eq!(h.e.stats().queued, 0);
    let out = h.ok(&first, 22.0);
    assert!(!out.iter().any(|o| matches!(o, Output::Dispatch(_))), "nothing left to send: {out:?}");
    assert_eq!((h.e.stats().failed, h.e.stats().succeeded), (3, 1));
}

#[test]
fn a_cut_that_expires_the_queues_last_run_closes_its_window() {
    // A flush after the run's deadline, before any timer ran: the cut expires the run, which
    // leaves the queue empty, so its window (at 100) closes with it. The next add opens a window
    // of its own (60 + 100), the one wake-up asked for.
    let mut h = H::new(Config { max_wait_ms: 100.0, ..cfg() });
    let run = h.bulk_by(2, 50.0, 0.0);
    h.e.flush(60.0);
    assert_eq!(deadline_settles(&h.drain()), run);
    h.e.handle_time(60.0); // the run's own timers, past
    h.add(60.0);
    h.drain();
    assert_eq!(h.e.poll_timeout(), Some(160.0));
}

#[test]
fn a_run_past_its_deadline_at_the_cut_settles_instead_of_going() {
    // No timer ran since the deadline passed: the call's end (now past it) finds the run in the
    // queue; it expires there, not sent.
    let mut h = H::new(Config { max_wait_ms: 0.0, max_in_flight_per_key: Some(1.0), ..cfg() });
    h.bulk(1, 0.0);
    let first = h.time(0.0).remove(0);
    let late = h.bulk_by(2, 20.0, 1.0);
    let fresh = h.bulk_by(2, 100.0, 2.0);
    let out = h.ok(&first, 30.0);
    assert_eq!(deadline_settles(&out), late);
    let sent: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.clone()) } else { None }).collect();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].items.clone(), sent[0].deadline), (fresh, Some(100.0)));
}

#[test]
fn run_items_in_flight_fail_with_deadline_at_once_and_abandon_the_call() {
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let run = h.bulk_by(3, 50.0, 0.0);
    let d = h.time(0.0).remove(0);
    assert_eq!((d.items.clone(), d.deadline), (run.clone(), Some(50.0)));
    h.e.handle_time(51.0);
    let out = h.drain();
    assert_eq!(deadline_settles(&out), run, "each at once, in flight");
    assert!(out.contains(&Output::Abandoned { batch: d.batch }), "nobody waits: {out:?}");
    let out = h.ok(&d, 60.0);
    assert!(H::settles(&out).is_empty(), "their results are ignored: {out:?}");
    assert_eq!((h.e.stats().failed, h.e.stats().succeeded, h.e.stats().in_flight_items), (3, 0, 0));
}

#[test]
fn batch_deadline_is_the_earliest_of_mixed_runs_and_each_run_expires_alone() {
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let mut want = h.bulk_by(2, 300.0, 0.0);
    want.extend(h.bulk(2, 0.0));
    let soon = h.bulk_by(2, 200.0, 0.0);
    want.extend(&soon);
    let d = h.time(0.0);
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].items.clone(), d[0].deadline), (want.clone(), Some(200.0)));
    h.e.handle_time(201.0);
    assert_eq!(deadline_settles(&h.drain()), soon, "only the run whose deadline passed");
    let out = h.ok(&d[0], 210.0);
    let ok: Vec<_> = H::settles(&out).into_iter().filter(|(_, o)| o.is_ok()).collect();
    let expect: Vec<_> = want[..4].iter().enumerate().map(|(i, &id)| (id, Outcome::Ok { index: i as u32 })).collect();
    assert_eq!(ok, expect, "the rest settle with their own entries");
    // The later run's deadline no longer rides on anything: nothing expires at 300.
    h.e.handle_time(301.0);
    assert!(h.drain().is_empty());
    assert_eq!((h.e.stats().failed, h.e.stats().succeeded), (2, 4));
}

#[test]
fn a_run_with_its_deadline_near_goes_before_its_window_and_by_arrival_across_keys() {
    // maxWaitMs 1000: the run (deadline 30, lead 10) is due at 20, before its window, and the
    // keyed item that came earlier but is not due stays; due together, the older goes first.
    let mut h = H::new(Config { max_wait_ms: 1000.0, max_in_flight: 1.0, ..cfg() });
    let k = h.e.intern("k");
    let keyed = h.add_to(k, 1.0, Some(25.0), 0.0);
    let run = h.bulk_by(2, 30.0, 1.0);
    assert_eq!(h.e.poll_timeout(), Some(15.0), "the keyed item's lead comes first");
    let d = h.time(22.0); // late: both leads began; maxInFlight 1: the older first
    assert_eq!(d.iter().map(|d| d.items.clone()).collect::<Vec<_>>(), vec![vec![keyed]]);
    let out = h.ok(&d[0], 23.0);
    let sent: Vec<_> =
        out.iter().filter_map(|o| if let Output::Dispatch(d) = o { Some(d.items.clone()) } else { None }).collect();
    assert_eq!(sent, vec![run]);
}

#[test]
fn runs_with_different_deadlines_stay_apart_and_reserve_as_plain_adds_do() {
    // A deadline passed at the handover: refused, nothing changes; the ids stay reserved.
    let mut h = H::new(Config { max_wait_ms: 0.0, ..cfg() });
    let ids: Vec<ItemId> = h.e.reserve_plain(4).collect();
    let before = h.e.stats();
    assert_eq!(h.e.add_reserved(2, Some(5.0), 6.0), Err(AddError::Rejected(ErrorCode::Deadline)));
    let nan = h.e.add_reserved(2, Some(f64::NAN), 6.0);
    assert!(matches!(nan, Err(AddError::Invalid(InputError::InvalidDeadline(_)))), "{nan:?}");
    assert_eq!(h.e.stats(), before);
    h.e.add_reserved(2, Some(50.0), 6.0).unwrap();
    h.e.add_reserved(2, Some(60.0), 6.0).unwrap();
    let d = h.time(6.0).remove(0);
    assert_eq!((d.items.clone(), d.deadline), (ids.clone(), Some(50.0)));
    h.e.handle_time(55.0);
    assert_eq!(deadline_settles(&h.drain()), ids[..2]);
}
