//! Reserve/Complete through one `hyperbatch::Batcher` (the Rust API on tokio), against the
//! example server's batch endpoints (`examples/server`):
//!
//! ```sh
//! node examples/server/server.mjs --limit recipe:rpm=5/300 --port 0   # prints {"urls":[URL]}
//! cargo run --manifest-path examples/rust-native/Cargo.toml -- URL
//! ```
//!
//! One batcher, two queues: `key_of` sends a request with `actuals` to `/v1/complete/batch` and
//! any other to `/v1/reserve/batch`. A reservation the rate limit denies becomes a retryable
//! `ItemError` with the server's `retry_after_ms`, so that item alone waits and goes again; every
//! call asks the server to fail 20% of requests with 503, which the batcher retries. Exits 0 when
//! every job was reserved and completed exactly once and no window granted more than its capacity.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use hyperbatch::{Batch, BatchResult, Batcher, ItemError, Jitter, RetryConfig, TransportError};
use serde_json::{json, Value};

const LIMIT_KEY: &str = "recipe:rpm";
const CAPACITY: usize = 5; // reservations per window, as the server is started with
const JOBS: usize = 24;

type Http = Client<HttpConnector, Full<Bytes>>;

/// One request to the server: a reservation, or a completion (it has `actuals`).
fn reserve(lease: &str, job: usize) -> Value {
    json!({ "lease_id": lease, "job_id": format!("job-{job}"), "requirements": [{ "key": LIMIT_KEY, "amount": 1 }] })
}

fn complete(lease: &str, job: usize) -> Value {
    json!({ "lease_id": lease, "job_id": format!("job-{job}"), "actuals": [{ "key": LIMIT_KEY, "actual_amount": 1 }] })
}

async fn post(http: &Http, url: String, body: Value) -> Result<(u16, Option<Duration>, Value), TransportError> {
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("x-fault-503-rate", "0.2")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| TransportError::new(e.to_string()))?;
    let res = http.request(req).await.map_err(|e| TransportError::new("request failed").with_source(e))?;
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = res.into_body().collect().await.map_err(|e| TransportError::new("body").with_source(e))?.to_bytes();
    Ok((status, retry_after, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// The transport: one POST per batch; per-item answers become values or item errors.
async fn send(http: Http, base: String, batch: Batch<Value>) -> BatchResult<Value> {
    let endpoint = batch.key.as_deref().unwrap_or("reserve").to_owned();
    let (status, retry_after, body) =
        post(&http, format!("{base}/v1/{endpoint}/batch"), json!({ "requests": &*batch.items })).await?;
    if status != 200 {
        // Status drives the default classification: 400/413/422 bisect, the rest retry.
        let mut e = TransportError::new(format!("{endpoint}: HTTP {status}")).status(status);
        if let Some(d) = retry_after {
            e = e.retry_after(d);
        }
        return Err(e);
    }
    let results = body["results"].as_array().cloned().unwrap_or_default();
    Ok(results
        .into_iter()
        .map(|r| {
            let error = r["error"].as_str().unwrap_or("");
            if !error.is_empty() {
                Err(ItemError::new(format!("{endpoint}: {error}")))
            } else if endpoint == "reserve" && r["allowed"] == false {
                let wait = Duration::from_millis(r["retry_after_ms"].as_u64().unwrap_or(0));
                Err(ItemError::new("rate limited").retryable().retry_after(wait))
            } else {
                Ok(r)
            }
        })
        .collect())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Some(base) = std::env::args().nth(1) else {
        eprintln!("usage: rust-native URL  (the example server's URL)");
        return std::process::ExitCode::from(2);
    };
    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let (h, b) = (http.clone(), base.clone());
    let batcher = Batcher::builder()
        .key_of(|r: &Value| if r.get("actuals").is_some() { "complete" } else { "reserve" })
        .max_batch_size(100)
        .max_wait(Duration::from_millis(5))
        // Denied reservations wait for the next window (the server's hint), so allow a few rounds.
        .retry(RetryConfig::default().max_attempts(8).max_retry_after(Duration::from_secs(2)).jitter(Jitter::None))
        .build(move |batch: Batch<Value>| send(h.clone(), b.clone(), batch));

    let started = Instant::now();
    let jobs: Vec<_> = (0..JOBS)
        .map(|job| {
            let batcher = batcher.clone();
            tokio::spawn(async move {
                let lease = format!("01JX{job:022}");
                let reserved = batcher.add(reserve(&lease, job)).await?;
                let completed = batcher.add(complete(&lease, job)).await?;
                Ok::<_, hyperbatch::Error>((reserved, completed["ok"] == true))
            })
        })
        .collect();
    let mut ok = true;
    for (job, handle) in jobs.into_iter().enumerate() {
        match handle.await.expect("job task") {
            Ok((reserved, completed)) => {
                println!("job-{job}: reserved at {}, completed: {completed}", reserved["reserved_at_unix_ms"]);
                ok &= completed;
            }
            Err(e) => {
                println!("job-{job}: {} {e}", e.code());
                ok = false;
            }
        }
    }
    let stats = batcher.stats();
    batcher.close().await;

    // Audit against the server: each lease reserved and completed once, no window over capacity.
    let state = get(&http, format!("{base}/v1/state")).await;
    let audit = get(&http, format!("{base}/v1/audit")).await;
    let mut per_window: HashMap<u64, usize> = HashMap::new();
    for r in state["reservations"].as_array().into_iter().flatten() {
        *per_window.entry(r["taken"][0]["window_start"].as_u64().unwrap_or(0)).or_default() += 1;
    }
    let reserve = &audit["/v1/reserve/batch"];
    let complete = &audit["/v1/complete/batch"];
    println!(
        "{JOBS} jobs in {:?}: {} calls, {} item retries, reserve applied {} (duplicates {}), complete applied {}, \
         grants per window {:?}",
        started.elapsed(),
        stats.batches,
        stats.retries,
        reserve["applied"],
        reserve["duplicates"],
        complete["applied"],
        per_window.values().collect::<Vec<_>>(),
    );
    ok &= state["reservations"].as_array().map(Vec::len) == Some(JOBS)
        && state["completions"].as_array().map(Vec::len) == Some(JOBS)
        && per_window.values().all(|&n| n <= CAPACITY);
    println!("{}", if ok { "ok: every job reserved and completed within the limit" } else { "FAILED" });
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

async fn get(http: &Http, url: String) -> Value {
    let req = hyper::Request::get(url).body(Full::new(Bytes::new())).expect("request");
    let res = http.request(req).await.expect("GET");
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).expect("JSON")
}
