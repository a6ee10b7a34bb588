//! Plain items as runs of ids. Plain adds in bulk (`add_reserved`, with one deadline or none)
//! take consecutive ids and queue as one entry; a batch cut from such entries alone goes in flight as runs, and when
//! every item of it succeeds it settles and frees them as runs: the slots of its items are
//! never written. So the plain path costs the engine per batch, not per item.
//!
//! Keyed items with nothing else to them (`add_plain`: weight 1, no deadline, no dedupe key, never
//! cancelled) queue as runs of one: a run of several would need consecutive arrival orders, which
//! adds to other keys in between break, and the order across keys is read from them. They still
//! skip the slot: a batch of them goes in flight as its runs, one per item, and settles and frees
//! them without writing one. Each key takes its ids from a block of free ids it holds (`Key::ids`,
//! growing to `maxBatchSize`), so its batches' ids lie close together whatever other keys took
//! between; what the blocks leave apart, the free list merges (`items.rs`).
//!
//! Anything that needs the items one by one writes their slots first (*materialises* them):
//! a batch that mixes plain and other items (at the cut), a call that fails or has an item
//! error (before its outcome is applied), a queue whose circuit opens. From then on they are
//! ordinary items, exactly as if each had been added alone. Plain items have no signal: the
//! engine's `cancel` does not reach them while they are in a run. A run's deadline is its key's
//! to watch while it is a run (`deadline.rs`); once its slots are written, each has its own.

use super::*;

impl Engine {
    /// Write the slots of `n` plain items of key `key` from `r` as `state` (arrival order, flush
    /// number, weight 1, the run's deadline, whose expiry gets a timer); their
    /// `(index, generation)`s go to `slots`.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn stamp_run(
        items: &mut Table<Item>,
        timers: &mut Timers,
        key: KeyId,
        r: Run,
        state: State,
        slots: &mut Vec<Slot>,
    ) {
        Engine::grow_slots(items, r.first + r.len); // the run's ids may be new: their slots come now
        for j in 0..r.len {
            let idx = r.first + j;
            let it = &mut items[idx as usize];
            it.key = key;
            it.weight = 1.0;
            it.deadline = r.deadline;
            it.seq = r.seq + u64::from(j);
            it.order = r.order + u64::from(j);
            it.state = state;
            slots.push((idx, it.gen));
        }
        if r.deadline.is_finite() {
            timers.push(next_after(r.deadline), Timer::ExpireRun { first: r.first, len: r.len });
        }
    }

    /// A call of plain runs is needed item by item (a failure, an item error): its items become
    /// ordinary in-flight items of the call, in order.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn materialise_call(&mut self, batch: BatchId, b: &mut Batch) {
        Engine::stamp_call(
            &mut self.items,
            &mut self.timers,
            b.key,
            batch,
            core::mem::take(&mut b.runs),
            &mut b.entries,
        );
    }

    #[inline(never)]
    pub(super) fn stamp_call(
        items: &mut Table<Item>,
        timers: &mut Timers,
        key: KeyId,
        batch: BatchId,
        runs: Vec<Run>,
        entries: &mut Vec<Slot>,
    ) {
        for r in runs {
            let from = entries.len();
            Engine::stamp_run(items, timers, key, r, State::InFlight, entries);
            for &(idx, _) in &entries[from..] {
                let it = &mut items[idx as usize];
                it.batch = batch;
                it.sends = 1;
            }
        }
    }

    /// Every item of key `k`'s queued runs gets its slot written as queued, for a pass over the
    /// slots that takes every queued item of the key out (`reject_unsent`): the run entries stay
    /// until the last item leaves and the queue is cleared with them.
    pub(super) fn stamp_queued_runs(&mut self, k: KeyId) {
        let mut scratch = Vec::new();
        // By index: the slots are written while the queue is read.
        for i in 0..self.keys[k as usize].queue.entries.len() {
            let e = self.keys[k as usize].queue.entries[i];
            if e.run() > 0 {
                let r = Run::of(&e, e.run());
                Engine::stamp_run(&mut self.items, &mut self.timers, k, r, State::Queued, &mut scratch);
            }
        }
    }

    /// A call of plain runs succeeded: its items settle and their ids are free again.
    #[inline(never)]
    pub(super) fn settle_runs(&mut self, runs: &[Run]) {
        for r in runs {
            self.flushes.settled_run(r.seq, r.len);
            self.free_ids(r.first, r.len);
        }
    }
}
