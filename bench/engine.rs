//! Native micro-benchmark of the engine's hot path: add → dispatch → complete(ok) → settle,
//! per item, as a shell drives it (interning keys through a name cache that `KeyReleased`
//! invalidates, answering `Tick` with `handle_time`, completing every `Dispatch` at once).
//!
//! `cargo bench --bench engine` (add `-- --quick` for a short run, or `-- 10000:1000000:stream`
//! for one case, e.g. under `perf record`). No criterion: plain
//! `std::time::Instant`, best of several runs on a warmed-up engine.
//!
//! Cases: 1 key (the default queue) or 10,000 interned keys; 1e3 or 1e6 items; maxBatchSize
//! 100, maxWaitMs 0 (DataLoader-style: due work goes out at the end of the turn).
//! - burst: every item is added in one turn, then the turn ends (one Tick);
//! - stream: turns of 1,000 adds each, every turn's batches answered before the next.
//! - plain-burst, plain-stream (1 key): the same, with adds made as core.js makes plain ones
//!   (ids reserved in bulk with `reserve_plain`, handed over with `add_reserved`).
//! - run-burst, run-stream: the same, with adds made as core.js makes keyed ones without a signal,
//!   deadline, weight or dedupe key (`add_plain`: queued as runs of one, no item slot written).
//!
//! The cost per item must stay flat from 1e3 to 1e6 items and from 1 to 10,000 keys (no
//! per-item scan of the queues, the keys or the items). With 10,000 keys a 1,000-item turn
//! puts ~1 item in each queue, so those batches hold one item: that case measures the
//! per-batch cost, amortized over one item.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hyperbatch::engine::{Config, Engine, ItemResult, KeyId, Output, DEFAULT_KEY};

const BATCH: usize = 100;
const TURN: usize = 1_000;

/// A minimal shell: key names interned through a cache, every call answered at once.
struct Shell {
    e: Engine,
    names: Vec<String>,
    /// Name index → interned id (None: not interned, or released since).
    cache: Vec<Option<KeyId>>,
    /// Key id → name index, to drop a released id from the cache.
    by_id: Vec<u32>,
    ok: Vec<ItemResult>,
    now: f64,
    settled: u64,
    /// The size of the call just answered.
    last_size: u64,
    batches: u64,
    /// Plain adds in bulk (`reserve_plain` + `add_reserved`), one key only.
    plain: bool,
    /// Adds through `add_plain` instead of `add`.
    runs: bool,
}

impl Shell {
    fn new(keys: usize, items: usize) -> Shell {
        let cfg = Config {
            max_batch_size: BATCH as f64,
            max_wait_ms: 0.0,
            max_queued: items.max(TURN) as f64,
            max_in_flight: 1e6,
            ..Config::default()
        };
        Shell {
            e: Engine::new(cfg, 1).expect("valid config"),
            names: if keys == 1 { Vec::new() } else { (0..keys).map(|i| format!("shard-{i}")).collect() },
            cache: vec![None; keys],
            by_id: Vec::new(),
            ok: vec![ItemResult::Ok; BATCH],
            now: 0.0,
            settled: 0,
            last_size: 0,
            batches: 0,
            plain: false,
            runs: false,
        }
    }

    fn key(&mut self, i: usize) -> KeyId {
        if self.names.is_empty() {
            return DEFAULT_KEY;
        }
        if let Some(k) = self.cache[i] {
            return k;
        }
        let k = self.e.intern(&self.names[i]);
        if self.by_id.len() <= k as usize {
            self.by_id.resize(k as usize + 1, 0);
        }
        self.by_id[k as usize] = i as u32;
        self.cache[i] = Some(k);
        k
    }

    /// Drain outputs, answering every call at once with all-ok results.
    fn drain(&mut self) {
        while let Some(o) = self.e.poll_output() {
            match o {
                Output::Dispatch(d) => {
                    self.batches += 1;
                    self.last_size = d.items.len() as u64; // its Succeeded comes out of this complete
                    self.e.complete(d.batch, &self.ok[..d.items.len()], self.now).expect("in flight");
                }
                Output::Settle { .. } => self.settled += 1,
                Output::Succeeded { .. } => self.settled += self.last_size,
                Output::KeyReleased { key } => {
                    let i = self.by_id[key as usize] as usize;
                    self.cache[i] = None;
                }
                Output::Tick | Output::TurnEnd | Output::BatchEnd(_) => {} // run() calls handle_time
                o => panic!("unexpected {o:?}"),
            }
        }
    }

    /// Add `items` items round-robin over the keys, `turn` per turn; settle them all.
    fn run(&mut self, items: usize, turn: usize) {
        let keys = self.cache.len();
        let settled = self.settled;
        let mut added = 0;
        while added < items {
            let n = turn.min(items - added);
            if self.plain {
                // As core.js adds plain items: ids reserved up to 1,024 at a time, handed over in bulk.
                let mut left = n;
                while left > 0 {
                    let got = black_box(self.e.reserve_plain(left.min(1024))).len();
                    assert!(got > 0, "room for plain adds");
                    self.e.add_reserved(got, None, self.now).expect("accepted");
                    left -= got;
                }
            } else {
                for j in 0..n {
                    let k = self.key((added + j) % keys);
                    let r = if self.runs {
                        self.e.add_plain(k, self.now)
                    } else {
                        self.e.add(k, 1.0, None, None, self.now)
                    };
                    black_box(r.expect("accepted"));
                }
            }
            added += n;
            self.drain(); // a Tick
            self.e.handle_time(self.now); // the end of the turn
            self.drain();
            self.now += 1.0;
        }
        assert_eq!(self.settled - settled, items as u64, "every item settled");
        assert_eq!(self.e.unsettled(), 0);
    }
}

/// How the benchmark adds its items.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `add`, one item at a time.
    Add,
    /// `reserve_plain` + `add_reserved` (one key only).
    Plain,
    /// `add_plain`, one item at a time.
    Runs,
}

fn mode_name(mode: Mode, burst: bool) -> &'static str {
    match (mode, burst) {
        (Mode::Plain, true) => "plain-burst",
        (Mode::Plain, false) => "plain-stream",
        (Mode::Runs, true) => "run-burst",
        (Mode::Runs, false) => "run-stream",
        (Mode::Add, true) => "burst",
        (Mode::Add, false) => "stream",
    }
}

struct Row {
    keys: usize,
    items: usize,
    mode: &'static str,
    ns_per_item: f64,
    items_per_batch: f64,
}

fn measure(keys: usize, items: usize, burst: bool, mode: Mode, quick: bool) -> Row {
    let turn = if burst { items } else { TURN };
    let mut shell = Shell::new(keys, items);
    shell.plain = mode == Mode::Plain;
    shell.runs = mode == Mode::Runs;
    // Runs of at least ~1e6 items per sample (1e3-item runs are repeated); best of a few.
    let reps = (1_000_000 / items).max(1) / if quick { 10 } else { 1 };
    let samples = if quick { 2 } else { 7 };
    shell.run(items, turn); // warm-up: grow every table to its working size
    let mut best = Duration::MAX;
    let (b0, s0) = (shell.batches, shell.settled);
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..reps.max(1) {
            shell.run(items, turn);
        }
        best = best.min(t.elapsed());
    }
    let total = (reps.max(1) * items) as f64;
    Row {
        keys,
        items,
        mode: mode_name(mode, burst),
        ns_per_item: best.as_nanos() as f64 / total,
        items_per_batch: (shell.settled - s0) as f64 / (shell.batches - b0) as f64,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `-- --quick` shortens the run.
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Vec<String> = std::env::args().filter(|a| a.contains(':')).collect();
    println!("hyperbatch engine: add → dispatch → complete(ok) → settle, maxBatchSize {BATCH}");
    println!("{:>7} {:>9} {:>7} {:>10} {:>11}", "keys", "items", "turns", "ns/item", "items/call");
    let mut worst: f64 = 0.0;
    for keys in [1, 10_000] {
        for items in [1_000, 1_000_000] {
            for (burst, mode) in
                [true, false].into_iter().flat_map(|b| [Mode::Add, Mode::Runs, Mode::Plain].map(|m| (b, m)))
            {
                if (!burst && items <= TURN) || (mode == Mode::Plain && keys > 1) {
                    continue; // one turn either way; plain adds go to the default queue only
                }
                let name = mode_name(mode, burst);
                if !only.is_empty() && !only.contains(&format!("{keys}:{items}:{name}")) {
                    continue;
                }
                let r = measure(keys, items, burst, mode, quick);
                worst = worst.max(r.ns_per_item);
                println!(
                    "{:>7} {:>9} {:>7} {:>10.1} {:>11.1}",
                    r.keys, r.items, r.mode, r.ns_per_item, r.items_per_batch
                );
            }
        }
    }
    println!("worst case: {worst:.1} ns/item");
}
