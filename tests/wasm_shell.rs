//! The wasm shell's own behaviour, tested through the public `Core` API in a real wasm runtime:
//! `wasm-pack test --node` and `wasm-pack test --headless --chrome` (scripts/test-wasm.sh).
//! Option decoding, the problem (option and rule numbers), the add return code, the output buffer
//! encoding and the stats vector (read back through views on the module's memory, as core.js does).
//! The engine's policy is tested natively in src/engine/tests.rs; on the host this file is empty.
#![cfg(target_arch = "wasm32")]

use hyperbatch::engine::{ConfigOption, Rule};
use hyperbatch::wasm::wire::{
    ADD_CLOSED, ADD_FULL, ADD_INVALID, ADD_TOO_LARGE, CIRCUIT, COMPLETE_DONE, COMPLETE_DRAIN, COMPLETE_LATE,
    PARAM_COUNT, P_MAX_IN_FLIGHT, RESERVE_SPAN, STATS_LEN, SUCCEEDED, UNROUTED,
};
use hyperbatch::wasm::Core;
use js_sys::{Float64Array, Uint8Array, WebAssembly};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

const NO: f64 = f64::NAN;
const N_PARAMS: usize = PARAM_COUNT;
const DEFAULT_KEY: u32 = 1;
const E_ABORTED: f64 = 4.0;

/// A decoded output record (tags as in src/wasm/mod.rs and core.js).
#[derive(Debug, PartialEq)]
enum Rec {
    Tick,
    TurnEnd,
    Dispatch { batch: f64, key: f64, attempt: f64, deadline: f64, weight: f64, items: Vec<f64> },
    Route { route: f64, items: Vec<f64> },
    Settle { item: f64, kind: f64, arg: f64, release: f64 },
    Succeeded { batch: f64 },
    Other { tag: f64, fields: Vec<f64> },
}

fn params(set: &[(usize, f64)]) -> Vec<f64> {
    let mut p = vec![NO; N_PARAMS];
    for &(i, v) in set {
        p[i] = v;
    }
    p
}

/// A Core configured the way core.js does it: the options written at `input`, then `configure`.
fn configured(p: &[f64], seed: f64) -> (Core, usize) {
    let mut c = Core::new();
    let n = put(&mut c, p);
    let problem = c.configure(n, seed);
    (c, problem)
}

fn core(set: &[(usize, f64)]) -> Core {
    let (mut c, problem_len) = configured(&params(set), 1.0);
    assert_eq!(problem_len, 0, "refused {set:?}: {:?}", problem(&mut c));
    c
}

/// Numbers written where the Core reads its input, as core.js's `put` does; returns how many.
fn put(c: &mut Core, numbers: &[f64]) -> usize {
    let at = c.input(numbers.len());
    Float64Array::new_with_byte_offset_and_length(&memory().buffer(), at as u32, numbers.len() as u32)
        .copy_from(numbers);
    numbers.len()
}

/// A string written as UTF-8 where the Core reads its input, as core.js's `putText` does.
fn put_text(c: &mut Core, text: &str) -> usize {
    let at = c.input(text.len().div_ceil(8));
    Uint8Array::new_with_byte_offset_and_length(&memory().buffer(), at as u32, text.len() as u32)
        .copy_from(text.as_bytes());
    text.len()
}

fn intern(c: &mut Core, name: &str) -> u32 {
    let n = put_text(c, name);
    c.intern(n)
}

/// The module's memory, as the runtime entries hand it to core.js.
fn memory() -> WebAssembly::Memory {
    wasm_bindgen::memory().dyn_into().expect("the module's memory is a WebAssembly.Memory")
}

/// `problem()` read the way core.js reads it, from the buffer at `buf_ptr`: the option's and
/// the rule's numbers, named here by the engine's `ConfigOption` and `Rule` (in core.js by the
/// lists the build generates from them); as "option\trule", or "" when there is none.
fn problem(c: &mut Core) -> String {
    let n = c.problem();
    let view = Float64Array::new_with_byte_offset_and_length(&memory().buffer(), c.buf_ptr() as u32, n as u32);
    match view.to_vec()[..] {
        [] => String::new(),
        [option, rule] => format!("{}\t{}", ConfigOption::ALL[option as usize].path(), Rule::ALL[rule as usize].text()),
        ref other => panic!("a problem is two numbers, got {other:?}"),
    }
}

fn new_err(set: &[(usize, f64)]) -> String {
    let e = problem(&mut configured(&params(set), 1.0).0);
    assert!(!e.is_empty(), "constructor accepted {set:?}");
    e
}

/// `drain()`, then the buffer read the way core.js reads it: a Float64Array view on the
/// module's memory at `buf_ptr`.
fn drain(c: &mut Core) -> Vec<f64> {
    let len = c.drain();
    let view = Float64Array::new_with_byte_offset_and_length(&memory().buffer(), c.buf_ptr() as u32, len as u32);
    let v = view.to_vec();
    assert_eq!(v.len(), len);
    v
}

fn decode(b: &[f64]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = b[i];
        let (rec, len) = match tag as u32 {
            0 => (Rec::Tick, 1),
            11 => (Rec::TurnEnd, 1),
            1 => {
                // A run of ids in a row is sent as its first id; any other list, after -1.
                let (n, first) = (b[i + 6] as usize, b[i + 7]);
                let (items, len) = if first >= 0.0 {
                    ((0..n).map(|j| first + j as f64).collect(), 8)
                } else {
                    assert_eq!(first, -1.0);
                    (b[i + 8..i + 8 + n].to_vec(), 8 + n)
                };
                let r = Rec::Dispatch {
                    batch: b[i + 1],
                    key: b[i + 2],
                    attempt: b[i + 3],
                    deadline: b[i + 4],
                    weight: b[i + 5],
                    items,
                };
                (r, len)
            }
            2 => {
                let n = b[i + 2] as usize;
                (Rec::Route { route: b[i + 1], items: b[i + 3..i + 3 + n].to_vec() }, 3 + n)
            }
            3 => (Rec::Settle { item: b[i + 1], kind: b[i + 2], arg: b[i + 3], release: b[i + 4] }, 5),
            t if f64::from(t) == SUCCEEDED => (Rec::Succeeded { batch: b[i + 1] }, 2),
            6 => (Rec::Other { tag, fields: b[i + 1..i + 10].to_vec() }, 10),
            4 | 5 | 7 | 8 | 9 | 10 => (Rec::Other { tag, fields: vec![b[i + 1]] }, 2),
            t if f64::from(t) == CIRCUIT => (Rec::Other { tag, fields: b[i + 1..i + 3].to_vec() }, 3),
            t => panic!("unknown tag {t} at {i} in {b:?}"),
        };
        out.push(rec);
        i += len;
    }
    assert_eq!(i, b.len(), "records end exactly at the buffer's end");
    out
}

fn dispatches(recs: &[Rec]) -> Vec<&Rec> {
    recs.iter().filter(|r| matches!(r, Rec::Dispatch { .. })).collect()
}

fn settles(recs: &[Rec]) -> Vec<(f64, f64, f64)> {
    recs.iter()
        .filter_map(|r| match *r {
            Rec::Settle { item, kind, arg, .. } => Some((item, kind, arg)),
            _ => None,
        })
        .collect()
}

/// `add` on the default key; returns (id, must_drain flag).
fn add(c: &mut Core, weight: f64, deadline: f64, now: f64) -> (f64, i32) {
    let r = c.add(DEFAULT_KEY, weight, deadline, now);
    assert!(r >= 0, "add rejected: {r}");
    (f64::from(r >> 1), r & 1)
}

/// `stats()`, read the way core.js reads it: `STATS_LEN` f64s at the pointer it returns.
fn stats(c: &mut Core) -> Vec<f64> {
    let at = c.stats();
    Float64Array::new_with_byte_offset_and_length(&memory().buffer(), at as u32, STATS_LEN as u32).to_vec()
}

#[wasm_bindgen_test]
fn default_params_construct_an_idle_core() {
    let mut c = core(&[]);
    assert!(c.next_wake().is_nan(), "idle: no wake-up");
    assert_eq!(c.drain(), 0);
    assert_eq!(drain(&mut c), Vec::<f64>::new());
    assert_eq!(stats(&mut c), vec![0.0; 11]);
}

#[wasm_bindgen_test]
fn short_params_mean_defaults() {
    // Missing trailing entries read as "not given", like NaN.
    let (mut c, problem_len) = configured(&[], 7.0);
    assert_eq!(problem_len, 0, "empty params are all defaults");
    assert!(c.next_wake().is_nan());
}

#[wasm_bindgen_test]
fn out_of_range_option_throws_option_tab_rule() {
    let e = new_err(&[(0, 0.0)]);
    assert!(e.starts_with("maxBatchSize\t"), "{e:?}");
    let (option, rule) = e.split_once('\t').unwrap();
    assert_eq!(option, "maxBatchSize");
    assert!(!rule.is_empty() && !rule.contains('\t'), "{e:?}");

    assert!(new_err(&[(0, 1.5)]).starts_with("maxBatchSize\t"), "not an integer");
    assert!(new_err(&[(2, -1.0)]).starts_with("maxBatchWeight\t"));
    assert!(new_err(&[(7, 0.0)]).starts_with("timeoutMs\t"));
}

#[wasm_bindgen_test]
fn a_refused_core_is_idle_and_repeats_its_problem() {
    let (mut c, problem_len) = configured(&params(&[(0, 0.0)]), 1.0);
    let first = problem(&mut c);
    assert_eq!(problem_len, c.problem(), "configure returns the problem's length");
    assert_eq!(first, "maxBatchSize\tan integer from 1 to 100000");
    assert_eq!(problem(&mut c), first, "problem() rewrites the same text");
    assert!(c.next_wake().is_nan(), "the stand-in engine is idle");
    assert_eq!(stats(&mut c), vec![0.0; STATS_LEN]);
}

#[wasm_bindgen_test]
fn add_returns_id_shifted_with_the_must_drain_flag() {
    // maxWaitMs 0: the first add asks for the end of the turn.
    let mut c = core(&[(1, 0.0)]);
    let r1 = c.add(DEFAULT_KEY, 1.0, NO, 0.0);
    assert!(r1 >= 0);
    assert_eq!(r1 & 1, 1, "output pending: the turn end");
    assert_eq!(decode(&drain(&mut c)), vec![Rec::TurnEnd]);
    let r2 = c.add(DEFAULT_KEY, 1.0, NO, 0.0);
    assert_eq!(r2 & 1, 0, "turn end already requested, nothing to drain");
    assert_eq!(c.drain(), 0);
    assert_ne!(r1 >> 1, r2 >> 1, "distinct ids");
    assert_eq!(stats(&mut c)[0], 2.0, "two queued");
}

#[wasm_bindgen_test]
fn adaptive_param_sends_a_lone_item_at_the_end_of_the_turn() {
    // maxWaitMs 60000, adaptive (index 19): no call in flight, so the end of the turn.
    let mut c = core(&[(1, 60_000.0), (19, 1.0)]);
    assert_eq!(c.add(DEFAULT_KEY, 1.0, NO, 0.0) & 1, 1);
    assert_eq!(decode(&drain(&mut c)), vec![Rec::TurnEnd]);
    let mut fixed = core(&[(1, 60_000.0), (19, 0.0)]);
    fixed.add(DEFAULT_KEY, 1.0, NO, 0.0);
    assert_eq!(decode(&drain(&mut fixed)), vec![], "a fixed window waits for its timer");
}

#[wasm_bindgen_test]
fn circuit_breaker_params_and_records() {
    // circuitBreaker (index 20) { failureThreshold (21): 1, resetMs (22): 100 }, no retries.
    assert_eq!(new_err(&[(20, 1.0), (21, 0.0)]), "circuitBreaker.failureThreshold\tan integer from 1 to 4294967295");
    let mut c = core(&[(10, 1.0), (20, 1.0), (21, 1.0), (22, 100.0)]);
    let key = intern(&mut c, "s1");
    c.add(key, 1.0, NO, 0.0);
    c.handle_time(20.0);
    let batch = match dispatches(&decode(&drain(&mut c)))[..] {
        [Rec::Dispatch { batch, .. }] => *batch,
        ref d => panic!("{d:?}"),
    };
    assert!(c.fail(batch, 0, 0, NO, NO, 0, 30.0));
    let recs = decode(&drain(&mut c));
    // [12, key, state]: 1 open.
    assert!(recs.contains(&Rec::Other { tag: 12.0, fields: vec![f64::from(key), 1.0] }), "{recs:?}");
    assert_eq!(stats(&mut c)[10], 1.0, "circuitsOpen");
    let r = c.add(key, 1.0, NO, 40.0);
    let recs = decode(&drain(&mut c));
    // [3, item, kind 7 (E_CIRCUIT_OPEN), arg = key, release]
    assert_eq!(settles(&recs), vec![(f64::from(r >> 1), 7.0, f64::from(key))], "{recs:?}");
}

#[wasm_bindgen_test]
fn add_rejections_are_negative_codes() {
    let mut c = core(&[(2, 10.0)]);
    // A refusal is its ErrorCode negated; anything else (a weight core.js would have refused) ADD_INVALID.
    assert_eq!(c.add(DEFAULT_KEY, -1.0, NO, 0.0), ADD_INVALID, "invalid weight");
    assert_eq!(c.add(DEFAULT_KEY, f64::INFINITY, NO, 0.0), ADD_INVALID, "invalid weight");
    assert_eq!(c.add(DEFAULT_KEY, 11.0, NO, 0.0), ADD_TOO_LARGE, "E_TOO_LARGE");
    c.close(0.0);
    assert_eq!(c.add(DEFAULT_KEY, 1.0, NO, 0.0), ADD_CLOSED, "E_CLOSED");
}

#[wasm_bindgen_test]
fn dispatch_record_layout() {
    // maxBatchSize 2, maxWaitMs 10.
    let mut c = core(&[(0, 2.0), (1, 10.0)]);
    let (a, _) = add(&mut c, 1.5, NO, 0.0);
    let (b, flag) = add(&mut c, 2.0, 500.0, 0.0);
    assert_eq!(flag, 1, "the batch is full: a tick is pending");
    let buf = drain(&mut c);
    assert_eq!(decode(&buf), vec![Rec::Tick], "only a tick (the next microtask): no dispatch from inside add");

    c.handle_time(1.0);
    let buf = drain(&mut c);
    // [1, batch, key, attempt, deadline, weight, n, first]: a and b are ids in a row
    assert_eq!(b, a + 1.0);
    assert_eq!(buf[..4], [1.0, 1.0, f64::from(DEFAULT_KEY), 1.0]);
    assert_eq!(buf[4], 500.0, "the batch deadline is its earliest item deadline");
    assert_eq!(buf[5..8], [3.5, 2.0, a]);
    assert_eq!(buf.len(), 8, "one dispatch, nothing else: {buf:?}");
    assert_eq!(stats(&mut c)[..3], [0.0, 1.0, 2.0], "[queued, inFlightBatches, inFlightItems]");
}

#[wasm_bindgen_test]
fn dispatch_of_ids_not_in_a_row_lists_them_after_minus_one() {
    // maxBatchSize 3, maxWaitMs 10: a, b, c queued, b aborted, the window sends a and c.
    let mut c = core(&[(0, 3.0), (1, 10.0)]);
    let (a, _) = add(&mut c, 1.0, NO, 0.0);
    let (b, _) = add(&mut c, 1.0, NO, 0.0);
    let (z, _) = add(&mut c, 1.0, NO, 0.0);
    assert!(c.cancel(b as u32, 0.0));
    drain(&mut c);
    c.handle_time(20.0);
    let buf = drain(&mut c);
    // [1, batch, key, attempt, deadline, weight, n, -1, ids...]
    assert_eq!(buf[5..10], [2.0, 2.0, -1.0, a, z], "{buf:?}");
    assert_eq!(buf.len(), 10, "one dispatch, nothing else: {buf:?}");
}

#[wasm_bindgen_test]
fn dispatch_without_deadline_encodes_nan() {
    let mut c = core(&[(0, 1.0)]);
    let (a, _) = add(&mut c, 1.0, NO, 0.0);
    c.handle_time(0.0);
    let recs = decode(&drain(&mut c));
    let d = dispatches(&recs);
    assert_eq!(d.len(), 1, "{recs:?}");
    match d[0] {
        Rec::Dispatch { deadline, items, attempt, .. } => {
            assert!(deadline.is_nan());
            assert_eq!((items.clone(), *attempt), (vec![a], 1.0));
        }
        _ => unreachable!(),
    }
}

#[wasm_bindgen_test]
fn complete_ok_settles_every_item_by_position() {
    let mut c = core(&[(0, 3.0)]);
    let ids: Vec<f64> = (0..3).map(|_| add(&mut c, 1.0, NO, 0.0).0).collect();
    c.handle_time(0.0);
    let recs = decode(&drain(&mut c));
    let batch = match dispatches(&recs)[..] {
        [Rec::Dispatch { batch, items, .. }] => {
            assert_eq!(items, &ids);
            *batch
        }
        _ => panic!("{recs:?}"),
    };

    assert_eq!(c.complete_ok(batch, 3, 5.0), COMPLETE_DRAIN);
    let recs = decode(&drain(&mut c));
    // [12, batch]: every item of the call resolves with its own entry, one record for all.
    assert!(recs.contains(&Rec::Succeeded { batch }), "{recs:?}");
    assert_eq!(settles(&recs), vec![], "no record per item: {recs:?}");
    assert_eq!(c.complete_ok(batch, 3, 6.0), COMPLETE_LATE, "a late answer: the batch is no longer in flight");
    let s = stats(&mut c);
    assert_eq!(s.len(), 11);
    // [queued, inFlightBatches, inFlightItems, batches, items, succeeded, failed, ...]
    assert_eq!(s[..7], [0.0, 0.0, 0.0, 1.0, 3.0, 3.0, 0.0]);
    assert!(c.next_wake().is_nan(), "idle again");
}

#[wasm_bindgen_test]
fn call_now_starts_a_call_that_outputs_nothing() {
    // maxInFlight 1: the second call cannot start while the first is out.
    let mut c = core(&[(P_MAX_IN_FLIGHT, 1.0)]);
    let r = c.call_now(1.0);
    assert!(r >= 2.0 && r % 2.0 == 0.0, "batch * 2, nothing to drain: {r}");
    let batch = r / 2.0;
    assert_eq!(drain(&mut c), Vec::<f64>::new(), "no Dispatch: the caller makes the call");
    assert_eq!(stats(&mut c)[..5], [0.0, 1.0, 1.0, 1.0, 1.0], "in flight, counted");
    assert_eq!(c.call_now(2.0), f64::from(ADD_FULL), "maxInFlight reached");
    assert_eq!(c.complete_ok(batch, 1, 3.0), COMPLETE_DONE, "a success outputs nothing");
    assert_eq!(drain(&mut c), Vec::<f64>::new());
    assert_eq!(stats(&mut c)[..7], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    assert!(c.next_wake().is_nan(), "idle again");
    c.close(4.0);
    drain(&mut c);
    assert_eq!(c.call_now(5.0), f64::from(ADD_CLOSED));
}

#[wasm_bindgen_test]
fn complete_with_codes_settles_item_errors() {
    let mut c = core(&[(0, 2.0), (10, 1.0)]);
    let (a, _) = add(&mut c, 1.0, NO, 0.0);
    let (b, _) = add(&mut c, 1.0, NO, 0.0);
    c.handle_time(0.0);
    let recs = decode(&drain(&mut c));
    let batch = match dispatches(&recs)[..] {
        [Rec::Dispatch { batch, .. }] => *batch,
        _ => panic!("{recs:?}"),
    };
    let n = put(&mut c, &[0.0, 1.0, NO, NO]) / 2;
    assert!(c.complete(batch, n, 1.0));
    let recs = decode(&drain(&mut c));
    assert_eq!(settles(&recs), vec![(a, 0.0, 0.0), (b, 1.0, 1.0)], "ok at 0, item error at 1: {recs:?}");
}

#[wasm_bindgen_test]
fn cancel_settles_with_e_aborted() {
    let mut c = core(&[]);
    let (a, _) = add(&mut c, 1.0, NO, 0.0);
    let (b, _) = add(&mut c, 1.0, NO, 0.0);
    drain(&mut c);
    assert!(c.cancel(a as u32, 1.0));
    let recs = decode(&drain(&mut c));
    // [3, item, kind 6 (code), arg = E_ABORTED, release]
    assert_eq!(settles(&recs), vec![(a, 6.0, E_ABORTED)], "{recs:?}");
    assert!(!c.cancel(a as u32, 2.0), "already settled");
    assert_eq!(stats(&mut c)[0], 1.0, "b still queued");

    c.handle_time(10.0);
    let recs = decode(&drain(&mut c));
    match dispatches(&recs)[..] {
        [Rec::Dispatch { items, .. }] => assert_eq!(items, &vec![b]),
        _ => panic!("{recs:?}"),
    }
}

#[wasm_bindgen_test]
fn next_wake_follows_the_window() {
    // maxWaitMs 10 (default): the window starts at the first item.
    let mut c = core(&[]);
    assert!(c.next_wake().is_nan());
    add(&mut c, 1.0, NO, 100.0);
    assert_eq!(c.next_wake(), 110.0);
    add(&mut c, 1.0, NO, 105.0);
    assert_eq!(c.next_wake(), 110.0);
    c.handle_time(109.0);
    assert!(dispatches(&decode(&drain(&mut c))).is_empty(), "not due yet");
    c.handle_time(110.0);
    let recs = decode(&drain(&mut c));
    let batch = match dispatches(&recs)[..] {
        [Rec::Dispatch { batch, items, .. }] => {
            assert_eq!(items.len(), 2);
            *batch
        }
        _ => panic!("{recs:?}"),
    };
    assert!(c.next_wake().is_nan(), "only in flight, no timeout: no timer");
    assert_eq!(c.complete_ok(batch, 2, 120.0), COMPLETE_DRAIN);
    drain(&mut c);
    assert!(c.next_wake().is_nan());
}

#[wasm_bindgen_test]
fn flush_dispatches_now_and_buffer_is_reused() {
    let mut c = core(&[]);
    let (a, _) = add(&mut c, 1.0, NO, 0.0);
    drain(&mut c);
    c.flush(0.0);
    c.handle_time(0.0);
    let first = decode(&drain(&mut c));
    match dispatches(&first)[..] {
        [Rec::Dispatch { items, .. }] => assert_eq!(items, &vec![a]),
        _ => panic!("{first:?}"),
    }
    // The buffer is cleared on each drain: nothing left over from the last one.
    assert_eq!(c.drain(), 0);
}

#[wasm_bindgen_test]
fn intern_gives_stable_key_ids() {
    let mut c = core(&[(0, 1.0)]);
    let k = intern(&mut c, "users");
    assert_eq!(intern(&mut c, "users"), k);
    assert_ne!(k, DEFAULT_KEY);
    assert_ne!(intern(&mut c, "orders"), k);
    let r = c.add(k, 1.0, NO, 0.0);
    assert!(r >= 0);
    c.handle_time(0.0);
    let recs = decode(&drain(&mut c));
    match dispatches(&recs)[..] {
        [Rec::Dispatch { key, items, .. }] => {
            assert_eq!(*key, f64::from(k));
            assert_eq!(items, &vec![f64::from(r >> 1)]);
        }
        _ => panic!("{recs:?}"),
    }
}

/// `reserve()`, then the ids read the way core.js reads them: `first * RESERVE_SPAN + count`.
fn reserve(c: &mut Core) -> Vec<f64> {
    let r = c.reserve(1024);
    let n = r % f64::from(RESERVE_SPAN);
    let first = (r - n) / f64::from(RESERVE_SPAN);
    (0..n as u32).map(|j| first + f64::from(j)).collect()
}

#[wasm_bindgen_test]
fn reserved_ids_take_plain_adds_in_bulk() {
    let mut c = core(&[(0, 3.0)]); // maxBatchSize 3
    let ids = reserve(&mut c);
    assert_eq!(ids.len(), 3, "room until the queue is full: {ids:?}");
    assert!(c.add_reserved(2, f64::NAN, 0.0) >= 0);
    assert_eq!(decode(&drain(&mut c)), vec![], "two of three: no tick yet");
    assert_eq!(c.add_reserved(1, f64::NAN, 0.0), 1, "the third fills the queue: output pending");
    assert_eq!(decode(&drain(&mut c)), vec![Rec::Tick]);
    assert!(c.add_reserved(1, f64::NAN, 0.0) < 0, "no id left reserved");
    c.handle_time(0.0);
    let recs = decode(&drain(&mut c));
    assert!(matches!(dispatches(&recs)[..], [Rec::Dispatch { items, .. }] if *items == ids), "{recs:?}");
    assert_eq!(stats(&mut c)[4], 3.0, "three items accepted");
}

#[wasm_bindgen_test]
fn dedupe_text_is_read_from_text() {
    let mut c = core(&[]);
    let add_dedupe = |c: &mut Core, text: &str| {
        let n = put_text(c, text);
        let r = c.add_dedupe(DEFAULT_KEY, 1.0, NO, n, 0.0);
        assert!(r >= 0, "add_dedupe rejected: {r}");
    };
    add_dedupe(&mut c, "a");
    add_dedupe(&mut c, "a");
    add_dedupe(&mut c, "é");
    drain(&mut c);
    c.flush(0.0);
    let recs = decode(&drain(&mut c));
    match dispatches(&recs)[..] {
        [Rec::Dispatch { items, .. }] => assert_eq!(items.len(), 2, "equal texts share a slot: {recs:?}"),
        _ => panic!("{recs:?}"),
    }
}

#[wasm_bindgen_test]
fn route_done_reads_key_ids_from_input() {
    let mut c = core(&[]);
    let key = intern(&mut c, "k");
    for _ in 0..2 {
        assert!(c.add(UNROUTED, 1.0, NO, 0.0) >= 0);
    }
    c.flush(0.0);
    let recs = decode(&drain(&mut c));
    let (route, items) = match &recs.iter().find(|r| matches!(r, Rec::Route { .. })) {
        Some(Rec::Route { route, items }) => (*route, items.clone()),
        _ => panic!("no route record: {recs:?}"),
    };
    assert_eq!(items.len(), 2);
    let n = put(&mut c, &[f64::from(key)]);
    assert!(!c.route_done(route, n, 0.0), "one key for two items is refused");
    let n = put(&mut c, &[f64::from(key), f64::from(DEFAULT_KEY)]);
    assert!(c.route_done(route, n, 0.0));
    c.flush(0.0);
    let mut keys: Vec<f64> = decode(&drain(&mut c))
        .iter()
        .filter_map(|r| match r {
            Rec::Dispatch { key, .. } => Some(*key),
            _ => None,
        })
        .collect();
    keys.sort_by(f64::total_cmp);
    assert_eq!(keys, vec![f64::from(DEFAULT_KEY), f64::from(key)], "each item in the queue of its key");
}
