//! The Rust API on the `web` runtime (spawn_local, setTimeout, performance.now) and
//! `JsTransport`, in a real JavaScript runtime: `wasm-pack test --node` and `--headless --chrome`
//! with `--features web` (scripts/test-rust-web.sh). The engine's policy is tested natively; these
//! check that the browser runtime drives it (windows, flush, abort) and that JS transports'
//! results and failures map to the contract's outcomes.
#![cfg(all(target_arch = "wasm32", feature = "web"))]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::future::join_all;
use hyperbatch::{AddOptions, Batch, BatchResult, Batcher, ErrorCode, Instant, JsTransport, RetryConfig};
use js_sys::Function;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

/// A long window: a batch that leaves before it did so for another reason.
const LONG: Duration = Duration::from_secs(30);

/// The items of each transport call, in call order.
type Calls = Rc<RefCell<Vec<Vec<u32>>>>;

/// A Rust transport that records each batch's items and answers `n * 10`.
fn recording() -> (Calls, impl Fn(Batch<u32>) -> std::future::Ready<BatchResult<u32>>) {
    let calls = Rc::new(RefCell::new(Vec::new()));
    let seen = calls.clone();
    let transport = move |batch: Batch<u32>| {
        seen.borrow_mut().push(batch.items.to_vec());
        std::future::ready(Ok(batch.items.iter().map(|n| Ok(n * 10)).collect()))
    };
    (calls, transport)
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

#[wasm_bindgen_test]
async fn a_full_queue_dispatches_at_once() {
    let (calls, transport) = recording();
    let b = Batcher::builder().max_batch_size(3).max_wait(LONG).build(transport);
    let started = Instant::now();
    let out: Vec<u32> = join_all((1..=6).map(|n| b.add(n))).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, [10, 20, 30, 40, 50, 60]);
    assert!(started.elapsed() < LONG);
    assert_eq!(*calls.borrow(), [vec![1, 2, 3], vec![4, 5, 6]]);
}

#[wasm_bindgen_test]
async fn the_window_dispatches_after_max_wait() {
    let (calls, transport) = recording();
    let b = Batcher::builder().max_batch_size(100).max_wait(Duration::from_millis(40)).build(transport);
    let started = Instant::now();
    let (x, y) = futures::join!(b.add(1), b.add(2));
    let waited = started.elapsed();
    assert_eq!((x.unwrap(), y.unwrap()), (10, 20));
    assert_eq!(*calls.borrow(), [vec![1, 2]]);
    // setTimeout may fire a little late, never early (the runtime rounds up).
    assert!(waited >= Duration::from_millis(39), "sent after {waited:?}");
    assert!(waited < Duration::from_secs(1), "sent after {waited:?}");
}

#[wasm_bindgen_test]
async fn flush_sends_without_waiting_for_the_window() {
    let (calls, transport) = recording();
    let b = Batcher::builder().max_wait(LONG).build(transport);
    let pending = b.add(4);
    b.flush().await;
    assert_eq!(*calls.borrow(), [vec![4]]);
    assert_eq!(pending.await.unwrap(), 40);
}

#[wasm_bindgen_test]
async fn a_dropped_add_is_aborted_and_never_sent() {
    let (calls, transport) = recording();
    let b = Batcher::builder().max_wait(Duration::from_millis(20)).build(transport);
    let kept = b.add(1);
    let dropped = b.add(2);
    drop(dropped);
    assert_eq!(kept.await.unwrap(), 10);
    sleep(30).await;
    assert_eq!(*calls.borrow(), [vec![1]]);
    let stats = b.stats();
    assert_eq!((stats.items, stats.succeeded, stats.failed), (2, 1, 1));
}

#[wasm_bindgen_test]
async fn close_sends_what_is_queued_then_refuses() {
    let (calls, transport) = recording();
    let b = Batcher::builder().max_wait(LONG).build(transport);
    let pending = b.add(3);
    b.close().await;
    assert_eq!(pending.await.unwrap(), 30);
    assert_eq!(*calls.borrow(), [vec![3]]);
    assert_eq!(b.add(4).await.unwrap_err().code(), ErrorCode::Closed);
}

#[wasm_bindgen_test]
async fn build_with_driver_runs_on_any_local_executor_with_settimeout_timers() {
    // The runtime-agnostic driver (futures-timer over setTimeout), spawned by the caller. Its
    // transport must be Send (the Driver is), hence Arc<Mutex> here.
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let transport = move |batch: Batch<u32>| {
        seen.lock().unwrap().push(batch.items.to_vec());
        std::future::ready(Ok(batch.items.iter().map(|n| Ok(n * 10)).collect()))
    };
    let (b, driver) = Batcher::builder().max_wait(Duration::from_millis(30)).build_with_driver(transport);
    wasm_bindgen_futures::spawn_local(driver);
    let started = Instant::now();
    let (x, y) = futures::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (10, 20));
    assert!(started.elapsed() >= Duration::from_millis(29), "sent after {:?}", started.elapsed());
    assert_eq!(*calls.lock().unwrap(), [vec![1, 2]]);
}

#[wasm_bindgen_test]
fn try_build_refuses_an_out_of_range_option() {
    let (calls, transport) = recording();
    let err = Batcher::builder().max_batch_size(0).try_build(transport).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Config);
    assert!(err.to_string().contains("max_batch_size"), "{err}");
    assert!(calls.borrow().is_empty());
}

// ---- JsTransport ----------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize)]
struct Query {
    id: u32,
    tag: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Answer {
    id: u32,
    echo: String,
}

/// A JS transport from source. Tests that record calls use a global of their own name.
fn js(body: &str) -> Function {
    Function::new_with_args("items, info", body)
}

fn no_retry() -> RetryConfig {
    RetryConfig::default().max_attempts(1)
}

#[wasm_bindgen_test]
async fn js_transport_converts_items_and_results_both_ways() {
    // The items arrive as plain JSON-like objects (None → null); info has the call's id and attempt.
    let f = js(
        "globalThis.jsSeen = { items, info };
         return Promise.resolve(items.map((q) => ({ id: q.id, echo: `${q.tag}/${info.attempt}/${typeof info.id}` })));",
    );
    let b: Batcher<Query, Answer> = Batcher::builder().max_wait(LONG).max_batch_size(2).build(JsTransport::new(f));
    let (x, y) = futures::join!(b.add(Query { id: 1, tag: Some("a".into()) }), b.add(Query { id: 2, tag: None }));
    assert_eq!(x.unwrap(), Answer { id: 1, echo: "a/1/number".into() });
    assert_eq!(y.unwrap(), Answer { id: 2, echo: "null/1/number".into() });
    let seen = js_sys::Reflect::get(&js_sys::global(), &"jsSeen".into()).unwrap();
    let items = js_sys::Reflect::get(&seen, &"items".into()).unwrap();
    assert_eq!(String::from(js_sys::JSON::stringify(&items).unwrap()), r#"[{"id":1,"tag":"a"},{"id":2,"tag":null}]"#);
    // An ordinary call: not keepalive.
    assert_eq!(eval("globalThis.jsSeen.info.keepalive"), false);
    // The call ended on its own: its signal stays unaborted.
    assert_eq!(eval("globalThis.jsSeen.info.signal instanceof AbortSignal && !jsSeen.info.signal.aborted"), true);
}

/// "Every option of the JS `Batcher` has a builder method" (audit16b): `resolve_keys`' future had
/// to be `Send`, so in the browser a router could not await JavaScript (a `JsFuture` of `fetch`,
/// a timer) as a JS `resolveKeys` does; this did not compile. On wasm32 it need not be `Send`.
#[wasm_bindgen_test]
async fn a_resolve_keys_may_await_javascript() {
    use js_sys::{Array, Promise};
    let (calls, transport) = recording();
    let b = Batcher::builder()
        .max_wait(Duration::from_millis(5))
        .key_of(|_: &u32| None::<String>)
        .resolve_keys(|items: Vec<u32>| async move {
            let route = js("return new Promise((r) => setTimeout(() => r(items.map((n) => `k${n % 2}`)), 5));");
            let items = items.iter().map(|&n| JsValue::from(n)).collect::<Array>();
            let keys = route.call2(&JsValue::NULL, &items, &JsValue::UNDEFINED).expect("the router runs");
            let keys = wasm_bindgen_futures::JsFuture::from(Promise::from(keys))
                .await
                .map_err(|_| hyperbatch::TransportError::new("the router rejected"))?;
            Ok(Array::from(&keys).iter().map(|k| k.as_string()).collect())
        })
        .build(transport);
    let out: Vec<u32> = join_all((1..=4).map(|n| b.add(n))).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, [10, 20, 30, 40]);
    let mut seen = calls.borrow().clone();
    seen.sort();
    assert_eq!(seen, [vec![1, 3], vec![2, 4]]);
}

/// The value of a JS expression.
fn eval(expression: &str) -> JsValue {
    js_sys::eval(expression).expect("the expression runs")
}

#[wasm_bindgen_test]
async fn a_timed_out_call_aborts_its_signal() {
    // Never answers; the batcher's timeout gives the call up, which must abort `info.signal`.
    let f = js("globalThis.jsTimedOut = info.signal; return new Promise(() => {});");
    let b: Batcher<u32, u32> = Batcher::builder()
        .max_wait(LONG)
        .max_batch_size(1)
        .timeout(Duration::from_millis(20))
        .retry(no_retry())
        .build(JsTransport::new(f));
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::Timeout);
    assert_eq!(eval("globalThis.jsTimedOut.aborted"), true);
}

#[wasm_bindgen_test]
async fn a_deadline_dispatches_early_then_fails_the_item_and_aborts_the_call() {
    // The window is long, the deadline short: the queue leaves early; the call never answers, so
    // the item fails E_DEADLINE on time, and with its only caller gone the call's signal aborts.
    let f = js("globalThis.jsDeadline = info.signal; globalThis.jsDeadlineAt = info.deadline;
         return new Promise(() => {});");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).build(JsTransport::new(f));
    let started = Instant::now();
    let due = started + Duration::from_millis(40);
    let due_epoch = js_sys::Date::now() + 40.0;
    let err = b.add_with(1, AddOptions { deadline: Some(due), ..Default::default() }).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.code(), ErrorCode::Deadline);
    assert!(waited >= Duration::from_millis(39) && waited < Duration::from_secs(1), "failed after {waited:?}");
    assert_eq!(b.stats().batches, 1, "sent before the deadline, not after the window");
    assert_eq!(eval("globalThis.jsDeadline.aborted"), true);
    // aud16: info.deadline is the JS face's batch.deadline, epoch ms (it was missing).
    let at = eval("globalThis.jsDeadlineAt").as_f64().expect("info.deadline is a number");
    assert!((at - due_epoch).abs() < 20.0, "info.deadline {at}, expected about {due_epoch}");
}

#[wasm_bindgen_test]
async fn js_transport_takes_a_plain_array_too() {
    let f = js("return items.map((n) => n + 1);");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).max_batch_size(3).build(JsTransport::new(f));
    let out: Vec<u32> = join_all((1..=3).map(|n| b.add(n))).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, [2, 3, 4]);
}

#[wasm_bindgen_test]
async fn a_js_error_entry_fails_only_its_item() {
    let f = js("return items.map((n) => n === 2 ? new Error(`no ${n}`) : n * 3);");
    let b: Batcher<u32, u32> =
        Batcher::builder().max_wait(LONG).max_batch_size(3).retry(no_retry()).build(JsTransport::new(f));
    let out = join_all((1..=3).map(|n| b.add(n))).await;
    assert_eq!(*out[0].as_ref().unwrap(), 3);
    assert_eq!(*out[2].as_ref().unwrap(), 9);
    let err = out[1].as_ref().unwrap_err();
    assert_eq!(err.code(), ErrorCode::Item);
    assert_eq!(err.item_error().expect("the entry's error").to_string(), "no 2");
}

#[wasm_bindgen_test]
async fn a_retryable_js_error_entry_is_sent_again_after_its_retry_after() {
    // First call: item 2 fails retryable with retryAfterMs 30; the resend carries it alone.
    let f = js("globalThis.jsCalls = (globalThis.jsCalls ?? []);
         globalThis.jsCalls.push(items.slice());
         return items.map((n) => n === 2 && globalThis.jsCalls.length === 1
           ? Object.assign(new Error('busy'), { retryable: true, retryAfterMs: 30 }) : n);");
    let b: Batcher<u32, u32> = Batcher::builder()
        .max_wait(LONG)
        .max_batch_size(2)
        .retry(RetryConfig::default().base_delay(Duration::from_millis(1)).max_delay(Duration::from_millis(1)))
        .build(JsTransport::new(f));
    let started = Instant::now();
    let (x, y) = futures::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (1, 2));
    assert!(started.elapsed() >= Duration::from_millis(29), "resent after {:?}", started.elapsed());
    let calls = js_sys::Reflect::get(&js_sys::global(), &"jsCalls".into()).unwrap();
    assert_eq!(String::from(js_sys::JSON::stringify(&calls).unwrap()), "[[1,2],[2]]");
    assert_eq!(b.stats().retries, 1);
}

#[wasm_bindgen_test]
async fn a_thrown_error_with_a_5xx_status_is_retried_then_fails_the_call() {
    let f = js("globalThis.jsThrows = (globalThis.jsThrows ?? 0) + 1;
         throw Object.assign(new Error('unavailable'), { status: 503 });");
    let b: Batcher<u32, u32> = Batcher::builder()
        .max_wait(LONG)
        .max_batch_size(1)
        .retry(RetryConfig::default().max_attempts(2).base_delay(Duration::from_millis(1)).no_budget())
        .build(JsTransport::new(f));
    let err = b.add(1).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Transport);
    assert_eq!(err.attempts(), Some(2));
    let cause = err.transport_error().expect("the thrown error");
    assert_eq!((cause.status_code(), cause.to_string().as_str()), (Some(503), "unavailable"));
    assert_eq!(js_sys::Reflect::get(&js_sys::global(), &"jsThrows".into()).unwrap(), JsValue::from(2));
}

/// aud16: "`err.retryAfterMs` (or a `Retry-After` header on `err.response`) is a floor on the
/// delay", and JsTransport's failures "follow the JS face's rules": a function that throws as the
/// recipes do (`Object.assign(new Error(...), { status: res.status, response: res })`) had its
/// Retry-After ignored. Read from a `Headers` or a plain object (any spelling), seconds or a date;
/// garbage is no hint. The hint rides on the call's error (no retry here, so no timing).
#[wasm_bindgen_test]
async fn a_retry_after_header_on_the_thrown_response_is_the_calls_hint() {
    let cases = [
        ("new Headers({ 'Retry-After': '2' })", Some(2000)),
        ("{ 'Content-Type': 'text/plain', 'RETRY-AFTER': ' 3 ' }", Some(3000)),
        ("{ 'retry-after': '1.5' }", Some(1500)),
        ("new Headers({ 'Retry-After': new Date(Date.now() + 90000).toUTCString() })", Some(89_000)),
        ("{ 'retry-after': '0x3c' }", None),
        ("{ 'retry-after': 'soon 2030' }", None),
        ("new Headers()", None),
    ];
    for (headers, floor_ms) in cases {
        let f = js(&format!(
            "throw Object.assign(new Error('busy'), {{ status: 503, response: {{ status: 503, headers: {headers} }} }});"
        ));
        let b: Batcher<u32, u32> =
            Batcher::builder().max_wait(LONG).max_batch_size(1).retry(no_retry()).build(JsTransport::new(f));
        let err = b.add(1).await.unwrap_err();
        let hint = err.transport_error().expect("the thrown error").retry_after_hint();
        match floor_ms {
            // A date has whole seconds: 90 s ahead is 89 to 90 s from now.
            Some(ms) => assert!(
                hint.is_some_and(|h| h >= Duration::from_millis(ms) && h <= Duration::from_millis(ms + 1000)),
                "{headers}: {hint:?}"
            ),
            None => assert_eq!(hint, None, "{headers}"),
        }
    }
}

#[wasm_bindgen_test]
async fn a_rejection_with_status_400_bisects_to_the_poison_item() {
    // Rejects (async) any batch holding 13: bisect isolates it; the others succeed.
    let f = js("return new Promise((resolve, reject) => setTimeout(() => items.includes(13)
           ? reject(Object.assign(new Error('bad item'), { status: 400 }))
           : resolve(items.map((n) => -n)), 1));");
    let b: Batcher<u32, i64> =
        Batcher::builder().max_wait(LONG).max_batch_size(4).retry(no_retry()).build(JsTransport::new(f));
    let out = join_all([11, 12, 13, 14].map(|n| b.add(n))).await;
    assert_eq!(*out[0].as_ref().unwrap(), -11);
    assert_eq!(*out[1].as_ref().unwrap(), -12);
    assert_eq!(*out[3].as_ref().unwrap(), -14);
    let err = out[2].as_ref().unwrap_err();
    assert_eq!(err.code(), ErrorCode::Transport);
    assert_eq!(err.transport_error().and_then(|e| e.status_code()), Some(400));
    assert!(b.stats().bisects >= 1);
}

#[wasm_bindgen_test]
async fn retryable_false_on_a_thrown_value_is_read_too() {
    // Not an Error object: a plain object with retryable: false still classifies (bisect, then fail).
    let f = js("throw { message: 'refused', retryable: false };");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).max_batch_size(1).build(JsTransport::new(f));
    let err = b.add(1).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Transport);
    assert_eq!(err.attempts(), Some(1), "not retried");
    let cause = err.transport_error().expect("the thrown value");
    assert_eq!((cause.is_retryable(), cause.to_string().as_str()), (Some(false), "refused"));
}

#[wasm_bindgen_test]
async fn a_result_of_the_wrong_length_fails_every_item_with_e_result_shape() {
    let f = js("return items.slice(1);");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).max_batch_size(2).build(JsTransport::new(f));
    let out = join_all([1, 2].map(|n| b.add(n))).await;
    for r in &out {
        assert_eq!(r.as_ref().unwrap_err().code(), ErrorCode::ResultShape);
    }
    assert_eq!(b.stats().batches, 1, "a wrong shape is not retried");
}

#[wasm_bindgen_test]
async fn a_result_that_is_not_an_array_fails_with_e_result_shape() {
    let f = js("return { results: items };");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).max_batch_size(1).build(JsTransport::new(f));
    assert_eq!(b.add(1).await.unwrap_err().code(), ErrorCode::ResultShape);
}

#[wasm_bindgen_test]
async fn an_entry_that_does_not_convert_fails_its_item() {
    let f = js("return items.map((n) => n === 1 ? 'one' : n);");
    let b: Batcher<u32, u32> =
        Batcher::builder().max_wait(LONG).max_batch_size(2).retry(no_retry()).build(JsTransport::new(f));
    let (x, y) = futures::join!(b.add(1), b.add(2));
    let err = x.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Item);
    assert!(err.to_string().contains("entry 0"), "{err}");
    assert_eq!(y.unwrap(), 2);
}

// ---- flush_on_hide --------------------------------------------------------------------------
// Chromium has a document: the tests hide the page with synthetic events, overriding
// `document.visibilityState` as the JS face's browser test does. Node has none: the option
// must do nothing there.

/// One transport call as `flush_on_hide` tests see it.
#[derive(Clone, Debug, PartialEq)]
struct Sent {
    key: Option<String>,
    items: Vec<u32>,
    keepalive: bool,
}

type SentLog = Rc<RefCell<Vec<Sent>>>;

/// A transport that records each call's key, items and keepalive flag, and answers `n * 10`.
fn recording_keepalive() -> (SentLog, impl Fn(Batch<u32>) -> std::future::Ready<BatchResult<u32>>) {
    let sent = Rc::new(RefCell::new(Vec::new()));
    let log = sent.clone();
    let transport = move |batch: Batch<u32>| {
        let key = batch.key.as_deref().map(str::to_owned);
        log.borrow_mut().push(Sent { key, items: batch.items.to_vec(), keepalive: batch.keepalive });
        std::future::ready(Ok(batch.items.iter().map(|n| Ok(n * 10)).collect()))
    };
    (sent, transport)
}

/// `f`'s output, or a panic if it takes longer than `ms` (the items wait on a long window).
async fn within<T>(ms: u32, f: impl std::future::Future<Output = T>) -> T {
    match futures::future::select(Box::pin(f), Box::pin(sleep(ms))).await {
        futures::future::Either::Left((out, _)) => out,
        futures::future::Either::Right(_) => panic!("not settled within {ms} ms"),
    }
}

fn has_document() -> bool {
    eval("typeof document === 'object' && document !== null") == JsValue::TRUE
}

/// `visibilitychange` with `document.visibilityState` overridden to `state` meanwhile.
fn visibility_change(state: &str) {
    eval(&format!(
        "Object.defineProperty(document, 'visibilityState', {{ value: '{state}', configurable: true }});
         document.dispatchEvent(new Event('visibilitychange'));
         delete document.visibilityState;"
    ));
}

fn page_hide() {
    eval("window.dispatchEvent(new Event('pagehide'))");
}

#[wasm_bindgen_test]
async fn visibilitychange_to_hidden_sends_every_queue_at_once_as_keepalive_calls() {
    if !has_document() {
        return; // Node: see flush_on_hide_does_nothing_without_a_document
    }
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder().max_wait(LONG).key_of(|n: &u32| n % 2).flush_on_hide(true).build(transport);
    let pending = join_all((1..=4).map(|n| b.add(n)));
    sleep(20).await;
    visibility_change("visible"); // not a hide
    sleep(20).await;
    assert!(sent.borrow().is_empty(), "nothing leaves before the page is hidden: {:?}", sent.borrow());
    let started = Instant::now();
    visibility_change("hidden");
    let out: Vec<u32> = within(1000, pending).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, [10, 20, 30, 40]);
    assert!(started.elapsed() < Duration::from_secs(1), "sent after {:?}", started.elapsed());
    let mut calls = sent.borrow().clone();
    calls.sort_by_key(|c| c.key.clone());
    assert_eq!(
        calls,
        [
            Sent { key: Some("0".into()), items: vec![2, 4], keepalive: true },
            Sent { key: Some("1".into()), items: vec![1, 3], keepalive: true },
        ]
    );
    // A later call, flushed the ordinary way, is not keepalive.
    let later = b.add(5);
    b.flush().await;
    assert_eq!(later.await.unwrap(), 50);
    assert_eq!(sent.borrow().last(), Some(&Sent { key: Some("1".into()), items: vec![5], keepalive: false }));
}

#[wasm_bindgen_test]
async fn pagehide_sends_every_queue_at_once_as_keepalive_calls() {
    if !has_document() {
        return;
    }
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder().max_wait(LONG).flush_on_hide(true).build(transport);
    // flush() dispatches 1 and 2 before the hide (the driver has not started that call yet when
    // the event comes): only the hide's own call, 3, is keepalive.
    let (x, y) = (b.add(1), b.add(2));
    let flushed = b.flush();
    let z = b.add(3);
    let started = Instant::now();
    page_hide();
    let (x, y, z, ()) = within(1000, async { futures::join!(x, y, z, flushed) }).await;
    assert_eq!((x.unwrap(), y.unwrap(), z.unwrap()), (10, 20, 30));
    assert!(started.elapsed() < Duration::from_secs(1), "sent after {:?}", started.elapsed());
    assert_eq!(
        *sent.borrow(),
        [Sent { key: None, items: vec![1, 2], keepalive: false }, Sent { key: None, items: vec![3], keepalive: true }]
    );
    // A later call is an ordinary one.
    let later = b.add(4);
    b.flush().await;
    assert_eq!(later.await.unwrap(), 40);
    assert!(!sent.borrow()[2].keepalive);
}

#[wasm_bindgen_test]
async fn js_transport_gets_keepalive_in_its_info() {
    if !has_document() {
        return;
    }
    let f = js("(globalThis.jsKeepalive ??= []).push(info.keepalive); return items;");
    let b: Batcher<u32, u32> = Batcher::builder().max_wait(LONG).flush_on_hide(true).build(JsTransport::new(f));
    let pending = b.add(1);
    sleep(10).await;
    page_hide();
    assert_eq!(within(1000, pending).await.unwrap(), 1);
    let later = b.add(2);
    b.flush().await;
    assert_eq!(later.await.unwrap(), 2);
    assert_eq!(eval("JSON.stringify(globalThis.jsKeepalive)"), "[true,false]");
}

/// A transport that records each call like `recording_keepalive`, answers `n * 10`, and holds
/// the calls `hold(call index, items)` names for 50 ms, or fails them with a 503.
fn gated(
    hold: impl Fn(usize, &[u32]) -> Option<bool> + 'static,
) -> (SentLog, impl Fn(Batch<u32>) -> futures::future::LocalBoxFuture<'static, BatchResult<u32>>) {
    use futures::FutureExt;
    let sent: SentLog = Rc::new(RefCell::new(Vec::new()));
    let log = sent.clone();
    let transport = move |batch: Batch<u32>| {
        let n = log.borrow().len();
        let key = batch.key.as_deref().map(str::to_owned);
        log.borrow_mut().push(Sent { key, items: batch.items.to_vec(), keepalive: batch.keepalive });
        let what = hold(n, &batch.items);
        async move {
            match what {
                Some(true) => sleep(50).await,
                Some(false) => return Err(hyperbatch::TransportError::new("unavailable").status(503)),
                None => {}
            }
            Ok(batch.items.iter().map(|n| Ok(n * 10)).collect())
        }
        .boxed_local()
    };
    (sent, transport)
}

/// "every queue dispatches at once … and those calls carry `batch.keepalive = true`" (audit16b):
/// the hide flush's items that `max_in_flight` held back went out as ordinary calls once a slot
/// freed (`keepalive` false), where JS keeps every call of that flush keepalive (audit12).
#[wasm_bindgen_test]
async fn the_hide_flushs_items_held_back_by_max_in_flight_go_out_as_keepalive_calls() {
    if !has_document() {
        return;
    }
    let (sent, transport) = gated(|_, items| (items[0] == 1).then_some(true));
    let b = Batcher::builder().max_wait(LONG).max_in_flight(1).flush_on_hide(true).build(transport);
    let first = b.add(1);
    drop(b.flush());
    sleep(5).await;
    let rest = join_all([b.add(2), b.add(3)]);
    visibility_change("hidden");
    let (first, rest) = within(1000, async { futures::join!(first, rest) }).await;
    assert_eq!((first.unwrap(), rest.into_iter().map(Result::unwrap).collect::<Vec<_>>()), (10, vec![20, 30]));
    assert_eq!(
        *sent.borrow(),
        [Sent { key: None, items: vec![1], keepalive: false }, Sent { key: None, items: vec![2, 3], keepalive: true }]
    );
    // Once that flush has settled, calls are ordinary again.
    let late = b.add(5);
    b.flush().await;
    assert_eq!(late.await.unwrap(), 50);
    assert_eq!(sent.borrow().last(), Some(&Sent { key: None, items: vec![5], keepalive: false }));
}

/// (audit16b) The same for an item waiting to retry at the hide: its resend is the flush's.
#[wasm_bindgen_test]
async fn an_item_waiting_to_retry_at_the_hide_is_resent_as_a_keepalive_call() {
    if !has_document() {
        return;
    }
    let (sent, transport) = gated(|n, _| (n == 0).then_some(false));
    let retry = RetryConfig::default().base_delay(Duration::from_millis(20)).jitter(hyperbatch::Jitter::None);
    let b = Batcher::builder().max_wait(LONG).retry(retry).flush_on_hide(true).build(transport);
    let item = b.add(1);
    drop(b.flush());
    sleep(5).await;
    page_hide();
    assert_eq!(within(1000, item).await.unwrap(), 10);
    assert_eq!(
        *sent.borrow(),
        [Sent { key: None, items: vec![1], keepalive: false }, Sent { key: None, items: vec![1], keepalive: true }]
    );
}

/// (audit16b) And for items still being routed by `resolve_keys` at the hide.
#[wasm_bindgen_test]
async fn items_being_routed_at_the_hide_go_out_as_keepalive_calls() {
    if !has_document() {
        return;
    }
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder()
        .max_wait(LONG)
        .key_of(|_: &u32| None::<String>)
        // Answered when the driver next runs, after the hide's own dispatches (a router that
        // awaits a timer is not `Send`, as resolve_keys' future must be).
        .resolve_keys(|items: Vec<u32>| async move { Ok(items.iter().map(|_| Some("k")).collect()) })
        .flush_on_hide(true)
        .build(transport);
    let items = join_all([b.add(1), b.add(2)]);
    visibility_change("hidden");
    let out: Vec<u32> = within(1000, items).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(out, [10, 20]);
    assert_eq!(*sent.borrow(), [Sent { key: Some("k".into()), items: vec![1, 2], keepalive: true }]);
}

#[wasm_bindgen_test]
async fn without_flush_on_hide_the_page_hide_events_send_nothing() {
    if !has_document() {
        return;
    }
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder().max_wait(LONG).flush_on_hide(false).build(transport);
    let pending = b.add(1);
    sleep(10).await;
    visibility_change("hidden");
    page_hide();
    sleep(30).await;
    assert!(sent.borrow().is_empty(), "sent on hide: {:?}", sent.borrow());
    b.flush().await;
    assert_eq!(pending.await.unwrap(), 10);
    assert_eq!(*sent.borrow(), [Sent { key: None, items: vec![1], keepalive: false }]);
}

/// Records the page-hide listeners added to and removed from `document` and `window` (own
/// properties shadowing EventTarget's methods, which web-sys calls by name); `live()` lists
/// those still registered, `stop()` removes the shims.
fn track_listeners() {
    eval(
        "globalThis.hbListeners = (() => {
           const live = [];
           const targets = [document, window];
           for (const t of targets) {
             t.addEventListener = function (type, fn, opts) {
               live.push([this, type, fn]);
               return EventTarget.prototype.addEventListener.call(this, type, fn, opts);
             };
             t.removeEventListener = function (type, fn, opts) {
               const i = live.findIndex(([x, y, f]) => x === this && y === type && f === fn);
               if (i >= 0) live.splice(i, 1);
               return EventTarget.prototype.removeEventListener.call(this, type, fn, opts);
             };
           }
           return {
             live: () => live.map(([t, type]) => `${t === document ? 'document' : 'window'}:${type}`).sort().join(' '),
             stop: () => { for (const t of targets) { delete t.addEventListener; delete t.removeEventListener; } },
           };
         })();",
    );
}

fn live_listeners() -> String {
    eval("globalThis.hbListeners.live()").as_string().unwrap()
}

#[wasm_bindgen_test]
async fn close_and_the_drivers_end_remove_the_listeners() {
    if !has_document() {
        return;
    }
    track_listeners();
    let both = "document:visibilitychange window:pagehide";
    // close() removes them: later hide events reach nothing.
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder().max_wait(LONG).flush_on_hide(true).build(transport);
    assert_eq!(live_listeners(), both);
    let pending = b.add(1);
    b.close().await;
    assert_eq!(pending.await.unwrap(), 10);
    assert_eq!(live_listeners(), "");
    visibility_change("hidden");
    page_hide();
    sleep(20).await;
    assert_eq!(*sent.borrow(), [Sent { key: None, items: vec![1], keepalive: false }]);
    // The driver's end removes them too: here a driver dropped unspawned, its batcher still held.
    let echo = |batch: Batch<u32>| std::future::ready(Ok(batch.items.iter().map(|n| Ok(*n)).collect()));
    let (held, driver) = Batcher::builder().flush_on_hide(true).build_with_driver(echo);
    assert_eq!(live_listeners(), both);
    drop(driver);
    assert_eq!(live_listeners(), "");
    assert_eq!(held.add(1).await.unwrap_err().code(), ErrorCode::Closed);
    // So does dropping every handle (which closes the batcher), and the option off adds none.
    let (_, transport) = recording_keepalive();
    drop(Batcher::builder().flush_on_hide(true).build(transport));
    let (_, transport) = recording_keepalive();
    let off = Batcher::builder().flush_on_hide(false).build(transport);
    assert_eq!(live_listeners(), "");
    drop(off);
    eval("globalThis.hbListeners.stop()");
}

#[wasm_bindgen_test]
async fn flush_on_hide_does_nothing_without_a_document() {
    if has_document() {
        return; // Chromium: see the tests above
    }
    let (sent, transport) = recording_keepalive();
    let b = Batcher::builder().max_wait(Duration::from_millis(20)).flush_on_hide(true).build(transport);
    let (x, y) = futures::join!(b.add(1), b.add(2));
    assert_eq!((x.unwrap(), y.unwrap()), (10, 20));
    assert_eq!(*sent.borrow(), [Sent { key: None, items: vec![1, 2], keepalive: false }]);
    // Events on the global (Node has EventTarget, no document) reach no listener.
    eval("globalThis.dispatchEvent?.(new Event('pagehide'))");
    let later = b.add(3);
    sleep(5).await;
    assert_eq!(sent.borrow().len(), 1);
    assert_eq!(later.await.unwrap(), 30);
    assert!(!sent.borrow()[1].keepalive);
    b.close().await;
}
