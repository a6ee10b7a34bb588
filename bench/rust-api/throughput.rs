//! Native throughput of hyperbatch's Rust API against the closest crates, in one run: items per
//! second through a no-op transport, with one queue key and with 10,000 keys.
//!
//!   cargo bench --manifest-path bench/rust-api/Cargo.toml
//!
//! Load: `CLIENTS` tasks on a multi-thread tokio runtime, each adding its share of the items one
//! after another (await, then the next). Every batcher: batches of up to 100, a 1 ms window
//! (dataloader has none: it dispatches after 10 yields), results mapped by position. A run's
//! rate is items / wall time; `ROUNDS` rounds (after a warm-up) run every case once, in turn,
//! and the medians are reported. dataloader has no per-key queues (its keys are the items), so it has no 10,000-key row.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_aint_one::{BatchingPolicy, Limits, OnFull, Processor};
use hyperbatch::{Batch, Batcher};

const CLIENTS: u64 = 1_000;
const ROUNDS: usize = 7;
const WINDOW: Duration = Duration::from_millis(1);

/// Runs `CLIENTS` tasks adding `items` items in total; returns items per second.
async fn drive<F, Fut>(items: u64, add: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send,
{
    let add = Arc::new(add);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let add = add.clone();
            tokio::spawn(async move {
                let mut i = c;
                while i < items {
                    assert_eq!(add(i).await, i, "a result went to another caller");
                    i += CLIENTS;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    items as f64 / started.elapsed().as_secs_f64()
}

fn hyperbatch_batcher(keys: u64) -> Batcher<u64, u64> {
    let builder = Batcher::builder().max_batch_size(100).max_wait(WINDOW).max_in_flight(1024).max_queued(1 << 20);
    let builder = if keys > 1 { builder.key_of(move |i: &u64| i % keys) } else { builder };
    builder.build(|batch: Batch<u64>| async move { Ok(batch.items.iter().map(|&i| Ok(i)).collect()) })
}

async fn hyperbatch_rate(items: u64, keys: u64) -> f64 {
    let b = hyperbatch_batcher(keys);
    let rate = drive(items, move |i| {
        let f = b.add(i);
        async move { f.await.unwrap() }
    })
    .await;
    rate
}

#[derive(Clone)]
struct Noop;

impl Processor for Noop {
    type Key = u64;
    type Input = u64;
    type Output = u64;
    type Error = String;
    type Resources = ();
    async fn acquire_resources(&self, _key: u64) -> Result<(), String> {
        Ok(())
    }
    async fn process(&self, _key: u64, inputs: impl Iterator<Item = u64> + Send, _: ()) -> Result<Vec<u64>, String> {
        Ok(inputs.collect())
    }
}

async fn batch_aint_one_rate(items: u64, keys: u64) -> f64 {
    let b = batch_aint_one::Batcher::builder()
        .name("bench")
        .processor(Noop)
        .limits(Limits::builder().max_batch_size(100).max_key_queued_items(1 << 20).build())
        .batching_policy(BatchingPolicy::Duration(WINDOW, OnFull::Process))
        .build();
    drive(items, move |i| {
        let b = b.clone();
        async move { b.add(i % keys, i).await.unwrap() }
    })
    .await
}

struct NoopLoad;

impl dataloader::BatchFn<u64, u64> for NoopLoad {
    async fn load(&mut self, keys: &[u64]) -> HashMap<u64, u64> {
        keys.iter().map(|&k| (k, k)).collect()
    }
}

async fn dataloader_rate(items: u64) -> f64 {
    let loader = dataloader::non_cached::Loader::new(NoopLoad).with_max_batch_size(100);
    drive(items, move |i| {
        let l = loader.clone();
        async move { l.load(i).await }
    })
    .await
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let items = 200_000;
        // Rounds interleave the crates, so that load from elsewhere on the machine hits them alike;
        // the ratios are medians of per-round ratios.
        let mut rate: HashMap<&str, Vec<f64>> = HashMap::new();
        for round in 0..=ROUNDS {
            let r = [
                ("hb1", hyperbatch_rate(items, 1).await),
                ("ba1", batch_aint_one_rate(items, 1).await),
                ("dl", dataloader_rate(items).await),
                ("hb10k", hyperbatch_rate(items, 10_000).await),
                ("ba10k", batch_aint_one_rate(items, 10_000).await),
            ];
            if round == 0 {
                continue; // warm-up
            }
            for (name, v) in r {
                rate.entry(name).or_default().push(v);
            }
        }
        let m = |k: &str| median(rate[k].clone());
        let ratio = |a: &str, b: &str| median(rate[a].iter().zip(&rate[b]).map(|(x, y)| x / y).collect());
        println!("items/s, median of {ROUNDS} interleaved rounds of {items} items from {CLIENTS} tasks (no-op transport)");
        println!("| crate | 1 key | 10,000 keys |");
        println!("|---|---:|---:|");
        println!("| hyperbatch (Rust API, tokio) | {:.0} | {:.0} |", m("hb1"), m("hb10k"));
        println!("| batch-aint-one 0.16 | {:.0} | {:.0} |", m("ba1"), m("ba10k"));
        println!("| dataloader 0.18 (non_cached) | {:.0} | n/a |", m("dl"));
        println!(
            "same-round ratios: hyperbatch / batch-aint-one = {:.2} (1 key), {:.2} (10,000 keys); hyperbatch / dataloader = {:.2}",
            ratio("hb1", "ba1"),
            ratio("hb10k", "ba10k"),
            ratio("hb1", "dl")
        );
    });
}
