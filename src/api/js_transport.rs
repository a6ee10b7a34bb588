//! [`JsTransport`]: a transport written in JavaScript, for a Rust batcher in the browser. Items go
//! to JS and results come back through serde-wasm-bindgen; failures follow the JS face's rules.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use js_sys::{Array, Function, Object, Promise, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_time::Instant;

use super::error::{ItemError, TransportError};
use super::transport::{Batch, BatchResult, Transport};

/// A transport that calls a JavaScript function: `f(items, {id, key, attempt, signal, deadline, keepalive})`, where
/// `items` is the batch's items converted by serde-wasm-bindgen (JSON-compatible: structs and maps
/// become plain objects, `None` becomes `null`), `key` is the queue's key or `undefined`, and
/// `signal` an `AbortSignal` that aborts when the batcher gives the call up (its `timeout`, or
/// every caller of the batch gone), as the JS face's `batch.signal` does: hand it to `fetch`.
/// `deadline` is the earliest item deadline in epoch ms (like `Date.now()`), or `undefined`.
/// `keepalive` is [`Batch::keepalive`] (true on the calls of a
/// [`flush_on_hide`](crate::Builder::flush_on_hide) flush): `fetch`'s option of that name.
///
/// The function returns (or resolves to) an array with one entry per item, in order. An entry
/// that is a JS `Error` fails that item ([`ItemError`]; `retryable: true` and `retryAfterMs` are
/// read as in JS); any other entry is converted to `O` (an entry that does not convert fails its
/// item). A result that is not an array fails the batch with `E_RESULT_SHAPE`, as does one of the
/// wrong length. A throw or a rejected promise fails the whole call with a [`TransportError`]
/// carrying the thrown value's `message`, `status`, `retryable` and `retryAfterMs` (or a
/// `Retry-After` header on its `response`, as the JS face reads it), so the
/// default classification is JavaScript's: status 400, 413, 422 or `retryable: false` bisect,
/// anything else retries.
///
/// ```no_run
/// # #[cfg(all(target_arch = "wasm32", feature = "web"))]
/// # async fn demo() -> Result<(), hyperbatch::Error> {
/// use hyperbatch::{Batcher, JsTransport};
///
/// // Usually handed in from JS (a #[wasm_bindgen] function's argument); here built in place.
/// let f: js_sys::Function = js_sys::Function::new_with_args(
///     "ids, info",
///     "return fetch('/users/batch', { method: 'POST', body: JSON.stringify({ ids }), signal: info.signal,
///                                     keepalive: info.keepalive })
///        .then(async (r) => { if (!r.ok) throw Object.assign(new Error(await r.text()), { status: r.status });
///                             return (await r.json()).results; })",
/// );
/// let users: Batcher<u64, String> = Batcher::builder().build(JsTransport::new(f));
/// let name = users.add(42).await?;
/// # Ok(()) }
/// ```
pub struct JsTransport<I, O> {
    function: Function,
    types: PhantomData<fn(I) -> O>,
}

impl<I, O> JsTransport<I, O> {
    /// A transport calling `function` once per batch.
    ///
    /// ```no_run
    /// # #[cfg(all(target_arch = "wasm32", feature = "web"))] {
    /// let double = js_sys::Function::new_with_args("items", "return items.map((n) => 2 * n)");
    /// let transport = hyperbatch::JsTransport::<u32, u32>::new(double);
    /// # let _ = transport; }
    /// ```
    pub fn new(function: Function) -> Self {
        JsTransport { function, types: PhantomData }
    }
}

impl<I, O> Clone for JsTransport<I, O> {
    fn clone(&self) -> Self {
        JsTransport::new(self.function.clone())
    }
}

impl<I, O> std::fmt::Debug for JsTransport<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsTransport").field("function", &self.function).finish()
    }
}

impl<I, O> Transport<I, O> for JsTransport<I, O>
where
    I: Serialize + 'static,
    O: DeserializeOwned + 'static,
{
    type Future = Pin<Box<dyn Future<Output = BatchResult<O>>>>;

    fn call(&mut self, batch: Batch<I>) -> Self::Future {
        // Called now, as the JS face calls its transport: the request leaves before any poll.
        let abort = AbortOnDrop(Some(AbortController::new()));
        let returned = start(&self.function, &batch, &abort);
        Box::pin(async move {
            let settled = JsFuture::from(Promise::resolve(&returned?)).await;
            abort.disarm(); // the call ended on its own: nothing to abort
            let result = settled.map_err(transport_error)?;
            if !Array::is_array(&result) {
                // As no entries: the driver fails the batch with E_RESULT_SHAPE ("got 0").
                return Ok(Vec::new());
            }
            // A wrong length is the driver's to report (E_RESULT_SHAPE, naming both counts).
            Ok(result.unchecked_into::<Array>().iter().enumerate().map(|(i, e)| entry(i, e)).collect())
        })
    }
}

/// Converts the items and calls the function; a synchronous throw fails the call like a rejection.
fn start<I: Serialize>(function: &Function, batch: &Batch<I>, abort: &AbortOnDrop) -> Result<JsValue, TransportError> {
    let json = serde_wasm_bindgen::Serializer::json_compatible();
    let items = batch.items.serialize(&json).map_err(|e| {
        // The items cannot be sent as they are: resending them would fail the same way.
        TransportError::new(format!("JsTransport: the items do not convert to JavaScript: {e}")).retryable(false)
    })?;
    let info = Object::new();
    let key = batch.key.as_deref().map_or(JsValue::UNDEFINED, JsValue::from_str);
    let signal = abort.0.as_ref().map_or(JsValue::UNDEFINED, AbortController::signal);
    // As the JS face's batch.deadline: epoch ms (like Date.now()), or undefined.
    let deadline = batch.deadline.map_or(JsValue::UNDEFINED, |at| {
        let now = Instant::now();
        let left = at.checked_duration_since(now).map_or_else(|| -ms(now - at), ms);
        JsValue::from(js_sys::Date::now() + left)
    });
    let fields = [
        ("id", JsValue::from(batch.id as f64)),
        ("key", key),
        ("attempt", batch.attempt.into()),
        ("signal", signal),
        ("deadline", deadline),
        ("keepalive", batch.keepalive.into()),
    ];
    for (name, value) in fields {
        Reflect::set(&info, &name.into(), &value).expect("setting a property of a plain object");
    }
    function.call2(&JsValue::UNDEFINED, &items, &info).map_err(transport_error)
}

#[wasm_bindgen]
extern "C" {
    /// The global `AbortController` (browsers, workers, Node, Deno; js-sys has no binding).
    type AbortController;
    #[wasm_bindgen(constructor)]
    fn new() -> AbortController;
    #[wasm_bindgen(method, getter)]
    fn signal(this: &AbortController) -> JsValue;
    #[wasm_bindgen(method)]
    fn abort(this: &AbortController);
}

/// Aborts the call's signal when the batcher drops the call before it ended.
struct AbortOnDrop(Option<AbortController>);

impl AbortOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.abort();
        }
    }
}

/// One result entry: a JS `Error` fails its item, anything else converts to `O`.
fn entry<O: DeserializeOwned>(index: usize, value: JsValue) -> Result<O, ItemError> {
    if value.is_instance_of::<js_sys::Error>() {
        let mut error = ItemError::new(message_of(&value));
        if property(&value, "retryable").as_bool() == Some(true) {
            error = error.retryable();
        }
        if let Some(delay) = retry_after_of(&value) {
            error = error.retry_after(delay);
        }
        return Err(error);
    }
    serde_wasm_bindgen::from_value(value)
        .map_err(|e| ItemError::new(format!("JsTransport: result entry {index} does not convert: {e}")))
}

/// A thrown or rejected value as a batch-level failure, with the fields JS's classification reads.
fn transport_error(thrown: JsValue) -> TransportError {
    let mut error = TransportError::new(message_of(&thrown));
    let status = property(&thrown, "status").as_f64();
    if let Some(status) = status.filter(|s| s.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(s)) {
        error = error.status(status as u16);
    }
    if let Some(retryable) = property(&thrown, "retryable").as_bool() {
        error = error.retryable(retryable);
    }
    if let Some(delay) = retry_after_of(&thrown).or_else(|| retry_after_header(&thrown)) {
        error = error.retry_after(delay);
    }
    error
}

/// `retryAfterMs` when it is a finite number >= 0.
fn retry_after_of(value: &JsValue) -> Option<Duration> {
    let ms = property(value, "retryAfterMs").as_f64()?;
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// A `Retry-After` header on the thrown value's `response`, read as the JS face reads it: from a
/// fetch `Headers` (`get`) or a plain object (the name in any case); seconds (digits) or an
/// HTTP date (all of whose forms have an hh:mm:ss), anything else is no hint.
fn retry_after_header(thrown: &JsValue) -> Option<Duration> {
    let headers = property(&property(thrown, "response"), "headers");
    let get = property(&headers, "get");
    let value = match get.dyn_ref::<Function>() {
        Some(get) => get.call1(&headers, &"retry-after".into()).ok()?,
        None if headers.is_object() => {
            let name = Reflect::own_keys(&headers)
                .ok()?
                .iter()
                .find(|name| name.as_string().is_some_and(|name| name.eq_ignore_ascii_case("retry-after")))?;
            Reflect::get(&headers, &name).ok()?
        }
        None => return None,
    };
    let text = value.as_string()?;
    let text = text.trim();
    if is_decimal(text) {
        // Seconds past what a Duration holds (1e308) are a huge hint, clamped like any other.
        return Some(Duration::try_from_secs_f64(text.parse().ok()?).unwrap_or(Duration::MAX));
    }
    let is_date = text.as_bytes().windows(7).any(|w| {
        w[0].is_ascii_digit() && w[1] == b':' && w[4] == b':' && [2, 3, 5, 6].iter().all(|&i| w[i].is_ascii_digit())
    });
    let at = if is_date { js_sys::Date::parse(text) } else { f64::NAN };
    (!at.is_nan()).then(|| Duration::from_secs_f64((at - js_sys::Date::now()).max(0.0) / 1000.0))
}

/// Digits, an optional fraction and an optional exponent (`1`, `1.5`, `1e3`): no sign, no hex
/// (the JS face's test of a Retry-After in seconds).
fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (number, exponent) = text.split_once(['e', 'E']).map_or((text, None), |(n, e)| (n, Some(e)));
    let number = match number.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(number),
    };
    number && exponent.is_none_or(|e| digits(e.strip_prefix('+').unwrap_or(e)))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `value[name]` for an object, `undefined` for anything else (or a throwing getter).
fn property(value: &JsValue, name: &str) -> JsValue {
    if !value.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

/// An `Error`'s (or any object's) string `message`, a string itself, or the value's debug form.
fn message_of(value: &JsValue) -> String {
    if let Some(message) = property(value, "message").as_string() {
        return message;
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
