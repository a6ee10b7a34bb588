//! How items come in: `add` (checks, then queued, waiting for room, or joined to an equal
//! queued item's slot), keyed adds the host never cancels (`add_plain`, as runs of one), plain
//! adds in bulk (`reserve_plain`, `add_reserved`), a retried item
//! rejoining its queue, waiting adds admitted as room frees, and what a grown queue triggers
//! (a tick when full, the end of the turn, or its window timer).

use super::*;

impl Engine {
    /// Accept an item into `key`'s queue (or [`UNROUTED`] for `resolveKeys`). The transport is
    /// never called from here: due work is dispatched by [`Engine::handle_time`] on the
    /// [`Output::Tick`] this may emit. Under an open circuit the item is accepted and settled at
    /// once: its `Settle` (E_CIRCUIT_OPEN) is among the outputs, so the host must know the id
    /// before it drains them.
    pub fn add(
        &mut self,
        key: KeyId,
        weight: f64,
        deadline: Option<f64>,
        dedupe: Option<&str>,
        now: f64,
    ) -> Result<(ItemId, Admission), AddError> {
        let r = self.try_add(key, weight, deadline, dedupe, now);
        if r.is_err() && self.key_valid(key) {
            self.maybe_release_key(key);
        }
        r
    }

    /// An item of weight 1 with no deadline and no dedupe key that the host never cancels (it has
    /// no signal): as `add(key, 1.0, None, None, now)`, but when it is queued at once it queues as
    /// a run of one (see `runs.rs`), so its slot is never written unless something needs it
    /// alone. [`Engine::cancel`] does not find such an item while it is in a run.
    pub fn add_plain(&mut self, key: KeyId, now: f64) -> Result<(ItemId, Admission), AddError> {
        if key == UNROUTED
            || !self.key_valid(key)
            || self.plain_refusal().is_err()
            || self.waiting > 0
            || self.queued >= self.cfg.queued_cap()
            || self.keys[key as usize].circuit.is_open()
        {
            return self.add(key, 1.0, None, None, now);
        }
        let id = self.key_id_for(key);
        let (order, seq) = (self.next_order, self.flushes.number());
        self.next_order += 1;
        self.keys[key as usize].queue.push_run(Entry::run_of(order, seq, now, id, 1, f64::INFINITY));
        self.stats.items += 1;
        self.live += 1;
        self.queued += 1;
        self.queue_grew(key, false);
        Ok((id, Admission::Queued))
    }

    /// The next id of key `k`'s block, taking a new block when it is used up.
    fn key_id_for(&mut self, k: KeyId) -> u32 {
        if self.keys[k as usize].ids.1 == 0 {
            let block = self.keys[k as usize].ids_block.max(1);
            let ids = self.take_ids(block);
            let key = &mut self.keys[k as usize];
            key.ids = ids;
            key.ids_block = (2 * block).min(self.cfg.batch_size() as u32);
        }
        let ids = &mut self.keys[k as usize].ids;
        ids.0 += 1;
        ids.1 -= 1;
        ids.0 - 1
    }

    /// One plain item (default queue, weight 1, no deadline) sent at once in a call of its own,
    /// as `add` then `flush` would send it when nothing else waits to go on the default queue:
    /// for a host that makes the call itself (`hyperbatch/dataloader`'s batches). The call is
    /// returned here, not output as an [`Output::Dispatch`]; the host reports its end with
    /// `complete` or `fail` as for any call, and a successful end is not output either (no
    /// [`Output::Succeeded`], no [`Output::BatchEnd`]): the host knows it. Other outcomes (a
    /// cancel, a timeout, a failure) are output as for any call. Refused, with the state
    /// unchanged, when `add` would refuse (E_CLOSED, E_TOO_LARGE, E_FULL), or with E_FULL when
    /// the call cannot start now: items queued on the default key, or no room under
    /// `maxInFlight`, `maxInFlightPerKey` or its circuit.
    pub fn call_now(&mut self, now: f64) -> Result<(ItemId, BatchId), AddError> {
        let k = DEFAULT_KEY;
        self.plain_refusal()?;
        let room = self.queued < self.cfg.queued_cap() && self.waiting == 0 && self.keys[k as usize].queue.is_empty();
        if !(room && self.may_start(k, now)) {
            return Err(AddError::Rejected(ErrorCode::Full));
        }
        let idx = self.alloc_item();
        let (_, gen) = self.stamp_plain(idx);
        self.stats.items += 1;
        self.live += 1;
        Ok((idx, self.start_call(k, vec![(idx, gen)], Vec::new(), now, true)))
    }

    /// Why a plain item (default queue, weight 1) cannot be accepted at all: closed, or heavier
    /// than `maxBatchWeight`.
    fn plain_refusal(&self) -> Result<(), AddError> {
        if self.closed {
            return Err(AddError::Rejected(ErrorCode::Closed));
        }
        if matches!(self.cfg.max_batch_weight, Some(cap) if 1.0 > cap) {
            return Err(AddError::Rejected(ErrorCode::TooLarge));
        }
        Ok(())
    }

    /// A slot becomes a plain item arriving now: default key, weight 1, no deadline, the next
    /// flush number and arrival order. Returns its order and generation.
    #[inline]
    fn stamp_plain(&mut self, idx: u32) -> (u64, u32) {
        let (seq, order) = (self.flushes.number(), self.next_order);
        self.next_order += 1;
        let it = &mut self.items[idx as usize];
        it.key = DEFAULT_KEY;
        it.weight = 1.0;
        it.deadline = f64::INFINITY;
        it.seq = seq;
        it.order = order;
        (order, it.gen)
    }

    pub(super) fn try_add(
        &mut self,
        key: KeyId,
        weight: f64,
        deadline: Option<f64>,
        dedupe: Option<&str>,
        now: f64,
    ) -> Result<(ItemId, Admission), AddError> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(AddError::Invalid(InputError::InvalidWeight(weight)));
        }
        if let Some(d) = deadline {
            if d.is_nan() {
                return Err(AddError::Invalid(InputError::InvalidDeadline(d)));
            }
        }
        if !self.key_valid(key) {
            return Err(AddError::Invalid(InputError::UnknownKey(key)));
        }
        if self.closed {
            return Err(AddError::Rejected(ErrorCode::Closed));
        }
        if matches!(self.cfg.max_batch_weight, Some(cap) if weight > cap) {
            return Err(AddError::Rejected(ErrorCode::TooLarge));
        }
        let deadline = deadline.unwrap_or(f64::INFINITY);
        if now > deadline {
            return Err(AddError::Rejected(ErrorCode::Deadline));
        }
        // A duplicate of a queued item takes no room: it shares that item's slot.
        let joins = match dedupe {
            Some(d) if key != UNROUTED => self.keys[key as usize].queue.dedupe.get(d).copied(),
            _ => None,
        };
        let room = self.queued < self.cfg.queued_cap() && self.waiting == 0;
        // An add to an open circuit settles with E_CIRCUIT_OPEN in `enqueue`, whatever the room.
        let refused = key != UNROUTED && self.keys[key as usize].circuit.refuses(now);
        if joins.is_none() && !room && !refused && self.cfg.when_full == WhenFull::Reject {
            return Err(AddError::Rejected(ErrorCode::Full));
        }

        let idx = self.alloc_item();
        Ok((idx, self.accept(idx, key, weight, deadline, dedupe, joins, room || refused, now)))
    }

    /// Take the item `idx` (allocated, not yet live) in: admission was decided by the caller.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept(
        &mut self,
        idx: u32,
        key: KeyId,
        weight: f64,
        deadline: f64,
        dedupe: Option<&str>,
        joins: Option<u32>,
        room: bool,
        now: f64,
    ) -> Admission {
        let seq = self.flushes.number();
        {
            let it = &mut self.items[idx as usize];
            it.key = key;
            it.weight = weight;
            it.deadline = deadline;
            it.seq = seq;
            it.dedupe = dedupe.map(Into::into);
        }
        self.stats.items += 1;
        self.live += 1;
        if deadline.is_finite() {
            let gen = self.items[idx as usize].gen;
            self.timers.push(next_after(deadline), Timer::Expire { item: idx, gen });
        }
        if let Some(primary) = joins {
            self.join(idx, primary, now);
            Admission::Joined
        } else if room {
            self.enqueue(idx, now);
            Admission::Queued
        } else {
            self.items[idx as usize].state = State::Waiting;
            self.waiting += 1;
            self.keys[key as usize].waiting += 1;
            self.waiters.push_back((idx, self.items[idx as usize].gen));
            Admission::Waiting
        }
    }

    /// Ids the next plain adds will get, in order (see [`Engine::add_reserved`]): up to `max`,
    /// and no more than can be added before one of them makes the engine ask for a
    /// [`Output::Tick`] (the default queue fills by size or weight, `maxQueued` is reached). So
    /// a host that records plain adds itself and hands them over as soon as it has used every
    /// reserved id dispatches as promptly as with one `add` per item. Empty when plain adds must
    /// go through [`Engine::add`] (closed, full, adds waiting for room, a weight cap below 1).
    /// The ids are consecutive (fewer than `max` when the oldest free ids in a row are fewer)
    /// and stay out of `add`'s reach until used: ids reserved before and not handed out now stay
    /// held, in order, and go out first at the next call.
    pub fn reserve_plain(&mut self, max: usize) -> core::ops::Range<ItemId> {
        let want = self.plain_room().min(max).min(u32::MAX as usize / 2) as u32;
        if self.reserved.1 == 0 && want > 0 {
            self.reserved = self.take_ids(want);
        }
        let (first, n) = (self.reserved.0, self.reserved.1.min(want));
        self.reserved_shown = n as usize;
        first..first + n
    }

    /// How many plain adds the default queue takes before one of them must tick the host.
    pub(super) fn plain_room(&self) -> usize {
        let cap = self.cfg.max_batch_weight.unwrap_or(f64::INFINITY);
        // An open circuit refuses adds one by one (E_CIRCUIT_OPEN): they take the single path.
        if self.closed || self.waiting > 0 || cap < 1.0 || self.keys[DEFAULT_KEY as usize].circuit.is_open() {
            return 0;
        }
        let queued_room = self.cfg.queued_cap().saturating_sub(self.queued);
        if self.tick_requested {
            return queued_room; // a full queue asks for nothing more until the tick
        }
        let q = &self.keys[DEFAULT_KEY as usize].queue;
        let size_room = self.cfg.batch_size().saturating_sub(q.live);
        // The item that pushes the weight over the cap ticks; truncation (floor, as it is ≥ 1) errs early, never late.
        let weight_room = if cap.is_finite() { (cap - q.weight).max(1.0) as usize } else { usize::MAX };
        queued_room.min(size_room).min(weight_room)
    }

    /// Plain adds in bulk: the first `n` ids of [`Engine::reserve_plain`] join the default queue
    /// (weight 1, no dedupe, `deadline` each or none), in order, exactly as `n` calls of
    /// `add(DEFAULT_KEY, 1.0, deadline, None, now)` that each return [`Admission::Queued`] would.
    /// Refused with the state unchanged when fewer ids are reserved, or when not all of them
    /// would be queued (closed, too heavy, `maxQueued` reached, adds waiting for room, the
    /// deadline passed): such adds go through [`Engine::add`]. The remaining reserved ids stay
    /// reserved. With a deadline near (see `deadline.rs`) the queue may ask for a [`Output::Tick`]
    /// before the reservation's last id.
    pub fn add_reserved(&mut self, n: usize, deadline: Option<f64>, now: f64) -> Result<(), AddError> {
        if n > self.reserved_shown {
            return Err(AddError::Invalid(InputError::NotReserved { asked: n, reserved: self.reserved_shown }));
        }
        let deadline = match deadline {
            Some(d) if d.is_nan() => return Err(AddError::Invalid(InputError::InvalidDeadline(d))),
            d => d.unwrap_or(f64::INFINITY),
        };
        self.plain_refusal()?;
        if now > deadline {
            return Err(AddError::Rejected(ErrorCode::Deadline));
        }
        if self.waiting > 0 || self.queued + n > self.cfg.queued_cap() {
            return Err(AddError::Rejected(ErrorCode::Full));
        }
        if n == 0 {
            return Ok(());
        }
        let n32 = n as u32;
        let first = self.reserved.0;
        self.reserved = (first + n32, self.reserved.1 - n32);
        self.reserved_shown -= n;
        let (order, seq) = (self.next_order, self.flushes.number_n(n));
        self.next_order += n as u64;
        let run = Entry::run_of(order, seq, now, first, n32, deadline);
        self.keys[DEFAULT_KEY as usize].queue.push_run(run);
        self.stats.items += n as u64;
        self.live += n;
        self.queued += n;
        // What the adds' growth triggers, as one add after another would: the queue's window (or
        // the end of the turn), or, once full or under backpressure, a tick.
        let due = deadline.is_finite() && self.arm_run_deadline(order + n as u64 - 1, deadline, now);
        self.queue_grew(DEFAULT_KEY, due);
        Ok(())
    }

    /// Put an item (new, admitted from waiting, or routed) at the back of its key's queue.
    pub(super) fn enqueue(&mut self, idx: u32, now: f64) {
        if self.circuit_refuses_entry(idx, now) {
            return;
        }
        let (k, gen, weight, deadline) = {
            let it = &self.items[idx as usize];
            (it.key, it.gen, it.weight, it.deadline)
        };
        if k != UNROUTED {
            let d = self.items[idx as usize].dedupe.as_deref();
            if let Some(&p) = d.and_then(|d| self.keys[k as usize].queue.dedupe.get(d)) {
                self.join(idx, p, now);
                return;
            }
        }
        let order = self.next_order;
        self.next_order += 1;
        let it = &mut self.items[idx as usize];
        it.order = order;
        it.state = State::Queued;
        let q = &mut self.keys[k as usize].queue;
        q.push_back(Entry::item(order, idx, gen, now), weight);
        if k != UNROUTED {
            if let Some(d) = &it.dedupe {
                q.dedupe.insert(d.clone(), idx);
            }
        }
        self.queued += 1;
        self.item_queued(k, idx, deadline, now);
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn join(&mut self, idx: u32, primary: u32, now: f64) {
        let it = &mut self.items[idx as usize];
        it.state = State::Follower;
        it.primary = primary;
        let deadline = it.deadline;
        // Appended after the slot's last follower (`primary` of the slot): they settle in order.
        let p = &mut self.items[primary as usize];
        let last = core::mem::replace(&mut p.primary, idx);
        let k = p.key;
        if p.followers == NONE {
            p.followers = idx;
        } else {
            self.items[last as usize].followers = idx;
        }
        // The slot (queued: only queued slots take followers) goes by this caller's deadline too.
        if deadline.is_finite() {
            self.arm_item_deadline(k, primary, deadline, now);
        }
    }

    /// A retried item rejoins its key's queue at its original place.
    pub(super) fn requeue(&mut self, idx: u32, now: f64) {
        let it = &mut self.items[idx as usize];
        it.state = State::Queued;
        let (k, gen, order, weight, deadline) = (it.key, it.gen, it.order, it.weight, it.deadline);
        let key = &mut self.keys[k as usize];
        key.retry_waiting -= 1;
        key.queue.insert_ordered(Entry::item(order, idx, gen, now), weight);
        self.ready_stale = true;
        // Its backoff was its wait: it goes with the next batch of its key.
        self.due_through(k, order, false);
        self.item_queued(k, idx, deadline, now);
    }

    /// Item `idx` (its deadline `deadline`) joined key `k`'s queue.
    fn item_queued(&mut self, k: KeyId, idx: u32, deadline: f64, now: f64) {
        let due = deadline.is_finite() && self.arm_item_deadline(k, idx, deadline, now);
        self.queue_grew(k, due);
    }

    /// Key `k`'s queue grew (`due`: a deadline made it due already, a tick asked for).
    pub(super) fn queue_grew(&mut self, k: KeyId, due: bool) {
        if due {
            return;
        }
        let q = &self.keys[k as usize].queue;
        let full = q.live >= self.cfg.batch_size() || matches!(self.cfg.max_batch_weight, Some(cap) if q.weight >= cap);
        if full || self.closed || self.under_pressure() {
            self.schedule_due(k, true);
        } else if self.cfg.max_wait_ms == 0.0 || self.adaptive_idle(k) {
            self.schedule_turn_end(k);
        } else {
            self.arm_window(k);
        }
    }

    pub(super) fn admit_waiters(&mut self, now: f64) {
        while self.queued < self.cfg.queued_cap() {
            let Some((idx, gen)) = self.waiters.pop_front() else {
                break;
            };
            if !self.slot_in(idx, gen, State::Waiting) {
                continue;
            }
            self.waiting -= 1;
            let k = self.items[idx as usize].key;
            self.keys[k as usize].waiting -= 1;
            self.enqueue(idx, now);
            if self.items[idx as usize].gen != gen {
                // Refused by its key's open circuit: settled, not admitted. It may have been the
                // last the key held: a closed batcher's key goes now, nothing else would release it.
                self.maybe_release_key(k);
                continue;
            }
            // It waited for room already: it goes with its key's next batch.
            if self.items[idx as usize].state == State::Queued {
                self.due_through(k, self.items[idx as usize].order, true);
            }
            self.emit(Output::Admitted { item: idx });
        }
    }
}
