//! A page that reserves and then completes `n` rate-limit leases against the example server's
//! batch endpoints (examples/server: `POST /v1/reserve/batch`, `POST /v1/complete/batch`), one
//! `add` per lease, all at once: hyperbatch's Rust API gathers them into batches.
//!
//! Two transports, to show both ways: reservations are fetched from Rust (`web-sys`), completions
//! through [`JsTransport`], a function the page hands in.

use std::time::Duration;

use futures::future::join_all;
use hyperbatch::{Batch, BatchResult, Batcher, JsTransport, TransportError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The limit key the page draws from (serve.mjs gives it room for every lease).
pub const LIMIT_KEY: &str = "example:requests";

#[derive(Clone, Serialize)]
struct Amount {
    key: &'static str,
    amount: u32,
}

#[derive(Clone, Serialize)]
struct Reserve {
    lease_id: String,
    requirements: Vec<Amount>,
}

#[derive(Deserialize)]
struct Reservation {
    allowed: bool,
    reserved_at_unix_ms: f64,
    error: String,
    lease_id: Option<String>,
}

#[derive(Clone, Serialize)]
struct ActualAmount {
    key: &'static str,
    actual_amount: u32,
}

#[derive(Clone, Serialize)]
struct Complete {
    lease_id: String,
    actuals: Vec<ActualAmount>,
}

#[derive(Deserialize)]
struct Completion {
    ok: bool,
    error: String,
    lease_id: Option<String>,
}

/// What one lease went through, as the page shows it.
#[derive(Serialize)]
struct Outcome {
    lease_id: String,
    /// The lease the reservation's answer names (the server's, upper case).
    reserved: Option<String>,
    reserved_at_unix_ms: f64,
    /// The lease the completion's answer names.
    completed: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    outcomes: Vec<Outcome>,
    reserve_calls: u64,
    complete_calls: u64,
}

/// A ULID for lease `i`: 26 Crockford base32 characters, unique per page run (`run_id`).
fn lease_id(run_id: u32, i: u32) -> String {
    format!("01HB{run_id:011}{i:011}")
}

/// POSTs `{requests}` to `path` and returns `results`; a non-2xx answer fails the whole call with
/// its status, so hyperbatch classifies it as JavaScript would (400 bisects, 503 retries).
async fn post_batch<T: Serialize, R: DeserializeOwned>(path: &str, requests: &[T]) -> BatchResult<R> {
    let failed = |what: &str, e: JsValue| TransportError::new(format!("{path}: {what}: {e:?}"));
    let body = serde_json::to_string(&Requests { requests }).map_err(|e| TransportError::new(e.to_string()))?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body));
    let headers = web_sys::Headers::new().map_err(|e| failed("headers", e))?;
    headers.set("content-type", "application/json").map_err(|e| failed("headers", e))?;
    init.set_headers(&headers);
    let window = web_sys::window().ok_or_else(|| TransportError::new("no window"))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(path, &init))
        .await
        .map_err(|e| failed("fetch", e))?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(|e| failed("body", e))?).await.map_err(|e| failed("body", e))?;
    let text = text.as_string().unwrap_or_default();
    if !response.ok() {
        return Err(TransportError::new(format!("{path}: {}: {text}", response.status())).status(response.status()));
    }
    let answer: Results<R> = serde_json::from_str(&text).map_err(|e| TransportError::new(e.to_string()))?;
    Ok(answer.results.into_iter().map(Ok).collect())
}

#[derive(Serialize)]
struct Requests<'a, T> {
    requests: &'a [T],
}

#[derive(Deserialize)]
struct Results<R> {
    results: Vec<R>,
}

/// Reserves and completes `n` leases, each through its own `add`s; resolves to the report
/// (`{outcomes, reserve_calls, complete_calls}`). `complete(requests)` is the page's transport for
/// completions: it returns (a promise of) one result per request.
#[wasm_bindgen]
pub async fn run(n: u32, run_id: u32, complete: js_sys::Function) -> Result<JsValue, JsValue> {
    let reserve: Batcher<Reserve, Reservation> = Batcher::builder()
        .max_batch_size(16)
        .max_wait(Duration::from_millis(5))
        .build(|batch: Batch<Reserve>| async move { post_batch("/v1/reserve/batch", &batch.items).await });
    let completer: Batcher<Complete, Completion> =
        Batcher::builder().max_batch_size(16).max_wait(Duration::from_millis(5)).build(JsTransport::new(complete));

    let leases = (0..n).map(|i| {
        let (reserve, completer) = (reserve.clone(), completer.clone());
        async move {
            let lease = lease_id(run_id, i);
            let mut outcome = Outcome {
                lease_id: lease.clone(),
                reserved: None,
                reserved_at_unix_ms: 0.0,
                completed: None,
                error: None,
            };
            let requirements = vec![Amount { key: LIMIT_KEY, amount: 1 }];
            let reservation = match reserve.add(Reserve { lease_id: lease.clone(), requirements }).await {
                Ok(r) if r.allowed => r,
                Ok(r) => return Outcome { error: Some(format!("denied: {}", r.error)), ..outcome },
                Err(e) => return Outcome { error: Some(e.to_string()), ..outcome },
            };
            outcome.reserved = reservation.lease_id;
            outcome.reserved_at_unix_ms = reservation.reserved_at_unix_ms;
            let actuals = vec![ActualAmount { key: LIMIT_KEY, actual_amount: 1 }];
            match completer.add(Complete { lease_id: lease, actuals }).await {
                Ok(c) if c.ok => outcome.completed = c.lease_id,
                Ok(c) => outcome.error = Some(format!("not completed: {}", c.error)),
                Err(e) => outcome.error = Some(e.to_string()),
            }
            outcome
        }
    });
    let outcomes = join_all(leases).await;
    let report = Report { outcomes, reserve_calls: reserve.stats().batches, complete_calls: completer.stats().batches };
    report.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(JsValue::from)
}
