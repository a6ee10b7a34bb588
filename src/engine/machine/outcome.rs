//! Outcomes: a call's answer (`complete`) or failure (`fail`) settles, retries or resends its
//! items; callers that give up (abort, deadline, route failure) leave wherever they are.

use super::*;

impl Engine {
    /// The transport answered `batch` with one entry per item.
    pub fn complete(&mut self, batch: BatchId, results: &[ItemResult], now: f64) -> Result<(), InputError> {
        self.answered(batch, results.len(), results, now)
    }

    /// The transport answered `batch` with `n` entries, every one a success: as `complete` with
    /// `n` [`ItemResult::Ok`]s, without a pass over them (a plain call costs the engine O(1)).
    pub fn complete_ok(&mut self, batch: BatchId, n: usize, now: f64) -> Result<(), InputError> {
        self.answered(batch, n, &[], now)
    }

    /// `results`: one per item, or empty when all `n` succeeded.
    fn answered(&mut self, batch: BatchId, n: usize, results: &[ItemResult], now: f64) -> Result<(), InputError> {
        let b = self.batches.get(&batch).ok_or(InputError::UnknownBatch(batch))?;
        if b.timed_out {
            return Err(InputError::TimedOut(batch));
        }
        let size = b.size;
        if n != size {
            return Err(InputError::ResultCount { batch, expected: size, got: n });
        }
        let mut b = self.end_call(batch);
        let retryable_entry = |r: &ItemResult| matches!(r, ItemResult::Err { retryable: true, .. });
        // A call that returns a retryable item error costs a token, as a failed call does.
        if b.abandoned {
            // Our own abort: no verdict on the transport.
        } else if results.iter().any(retryable_entry) {
            self.budget.on_failure();
        } else {
            self.budget.on_success();
        }
        let first_err = results.iter().position(|r| !matches!(r, ItemResult::Ok));
        if first_err.is_some() {
            self.materialise_call(batch, &mut b); // outcomes item by item
        }
        let max_attempts = self.cfg.max_attempts();
        let (mut ok, mut failed) = (0u32, 0u32);
        let mut tally = |o: Outcome| if o.is_ok() { ok += 1 } else { failed += 1 };

        let mode = self.cfg.error_mode;
        // Atomic: a retryable first error resends the whole call if the budget allows; else every
        // item still in it settles with E_ATOMIC in the loop below (counted as throttled when
        // only the budget refused the resend).
        let (mut resend, mut throttled) = (None, false);
        if let (ErrorMode::Atomic, Some(first)) = (mode, first_err) {
            if let ItemResult::Err { retryable: true, retry_after_ms } = results[first] {
                if b.attempt < max_attempts {
                    if self.budget.allows_retry() {
                        resend = Some(retry_after_ms);
                    } else {
                        throttled = true;
                    }
                }
            }
        }

        match (first_err, resend) {
            (None, _) if self.whole(&b) => {
                // One record for the call instead of one per item (the common case).
                for &(idx, _) in &b.entries {
                    self.flushes.settled(self.items[idx as usize].seq);
                    self.free_item(idx);
                }
                self.settle_runs(&b.runs);
                ok = size as u32;
                self.live -= size;
                self.stats.succeeded += u64::from(ok);
                if !b.direct {
                    self.emit(Output::Succeeded { batch });
                }
            }
            (_, Some(hint)) => {
                let live = self.live_slots(&b.entries);
                self.retry_unit(b.key, live, b.attempt, hint, now);
            }
            // Item by item, one loop for every mode: an entry's own result, E_FAIL_FAST for the
            // successes of a call with an error, a retry for a retryable error in partial mode,
            // E_ATOMIC for every entry of an atomic call with an error.
            (first, None) => {
                let atomic = if mode == ErrorMode::Atomic { first } else { None };
                for (i, &(idx, gen)) in b.entries.iter().enumerate() {
                    if !self.in_flight_slot(idx, gen) {
                        continue;
                    }
                    let index = i as u32;
                    let o = match (atomic, results.get(i)) {
                        (Some(cause), _) => {
                            self.stats.throttled += u64::from(throttled);
                            Outcome::Atomic { cause: cause as u32 }
                        }
                        // `results` is empty when every entry succeeded (`complete_ok`).
                        (None, None | Some(ItemResult::Ok)) => match first {
                            Some(cause) if mode == ErrorMode::FailFast => Outcome::FailFast { cause: cause as u32 },
                            _ => Outcome::Ok { index },
                        },
                        (None, Some(&ItemResult::Err { retryable: true, retry_after_ms }))
                            if mode == ErrorMode::Partial =>
                        {
                            if self.items[idx as usize].attempt >= max_attempts {
                                Outcome::ItemError { index }
                            } else if self.budget.allows_retry() {
                                self.retry_item(idx, retry_after_ms, now);
                                continue;
                            } else {
                                self.stats.throttled += 1;
                                Outcome::ItemError { index }
                            }
                        }
                        (None, Some(ItemResult::Err { .. })) => Outcome::ItemError { index },
                    };
                    tally(o);
                    self.settle_slot(idx, o);
                }
            }
        }
        self.batch_ended(batch, &b, now, ok, failed, false);
        Ok(())
    }

    /// Every slot of the call is still in it, with its own caller and no follower (plain runs
    /// always are).
    pub(super) fn whole(&self, b: &Batch) -> bool {
        b.entries.iter().all(|&(idx, gen)| {
            let it = &self.items[idx as usize];
            self.in_flight_slot(idx, gen) && it.followers == NONE && !it.caller_settled
        })
    }

    /// The transport threw or rejected, timed out, or returned a result of the wrong shape.
    pub fn fail(&mut self, batch: BatchId, failure: Failure, now: f64) -> Result<(), InputError> {
        if !self.batches.contains_key(&batch) {
            return Err(InputError::UnknownBatch(batch));
        }
        let mut b = self.end_call(batch);
        self.materialise_call(batch, &mut b);
        if !b.abandoned {
            self.budget.on_failure();
        }
        let live = self.live_slots(&b.entries);
        let attempt = live.iter().map(|&(i, _)| self.items[i as usize].attempt).max().unwrap_or(1);
        let bisectable = self.cfg.bisect && self.cfg.error_mode == ErrorMode::Partial && live.len() > 1;
        let mut failed = 0;
        match failure.class() {
            Class::Retry if attempt < self.cfg.max_attempts() && self.budget.allows_retry() => {
                self.retry_unit(b.key, live, attempt, failure.retry_after_ms, now);
            }
            Class::Bisect if bisectable => self.bisect(b.key, &live),
            class => {
                if class == Class::Retry && attempt < self.cfg.max_attempts() {
                    self.stats.throttled += live.len() as u64;
                }
                for (idx, _) in live {
                    let o = match failure.kind {
                        FailureKind::Timeout | FailureKind::ResultShape => Outcome::BatchError,
                        FailureKind::Thrown => Outcome::Transport { attempts: self.items[idx as usize].sends },
                    };
                    failed += 1;
                    self.settle_slot(idx, o);
                }
            }
        }
        self.batch_ended(batch, &b, now, 0, failed, true);
        Ok(())
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn end_call(&mut self, batch: BatchId) -> Batch {
        let b = self.batches.remove(&batch).expect("checked by the caller");
        self.in_flight_batches -= 1;
        self.in_flight_items -= b.size;
        self.keys[b.key as usize].in_flight -= 1;
        b
    }

    /// The call is over (`batch_error`: it failed, else it was answered): the circuit's verdict,
    /// its BatchEnd, its duration, its capacity. One call for `answered` and `fail`: each had its
    /// own copies of the circuit's and this tail in the .wasm.
    pub(super) fn batch_ended(&mut self, batch: BatchId, b: &Batch, now: f64, ok: u32, failed: u32, batch_error: bool) {
        // An abandoned call's failure may be our own abort: no verdict on the transport.
        let verdict = if batch_error { (!b.abandoned).then_some(false) } else { Some(true) };
        self.circuit_call_ended(b.key, batch, verdict, now);
        if !b.direct {
            self.emit(Output::BatchEnd(BatchEnd {
                batch,
                key: b.key,
                size: b.size as u32,
                weight: b.weight,
                attempt: b.attempt,
                duration_ms: now - b.started,
                succeeded: ok,
                failed,
                batch_error,
            }));
        }
        if !b.abandoned {
            self.call_took(b.key, now - b.started, now);
        }
        self.capacity_freed(b.key, now);
        self.after_input(now);
    }

    pub(super) fn retry_item(&mut self, idx: u32, retry_after_ms: Option<f64>, now: f64) {
        let attempt = self.items[idx as usize].attempt;
        let delay = backoff_delay(&self.cfg.retry, attempt, retry_after_ms, &mut self.rng);
        let it = &mut self.items[idx as usize];
        it.attempt += 1;
        it.state = State::RetryWait;
        let gen = it.gen;
        self.keys[it.key as usize].retry_waiting += 1;
        self.timers.push(now + delay, Timer::ItemRetry { item: idx, gen });
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn count_settled(&mut self, idx: u32, outcome: Outcome) {
        self.live -= 1;
        self.flushes.settled(self.items[idx as usize].seq);
        if outcome.is_ok() {
            self.stats.succeeded += 1;
        } else {
            self.stats.failed += 1;
        }
    }

    /// A slot's call is over: its followers and (if still waiting) its own caller settle.
    pub(super) fn settle_slot(&mut self, idx: u32, outcome: Outcome) {
        self.settle_followers(idx, outcome);
        if self.items[idx as usize].caller_settled {
            self.emit(Output::Release { item: idx });
        } else {
            self.count_settled(idx, outcome);
            self.emit(Output::Settle { item: idx, outcome, release: true });
        }
        self.free_item(idx);
    }

    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn settle_followers(&mut self, idx: u32, outcome: Outcome) {
        let mut f = core::mem::replace(&mut self.items[idx as usize].followers, NONE);
        while f != NONE {
            let next = self.items[f as usize].followers;
            self.count_settled(f, outcome);
            self.emit(Output::Settle { item: f, outcome, release: true });
            self.free_item(f);
            f = next;
        }
    }

    /// One caller gives up (abort, deadline, route failure). Its slot goes too unless
    /// followers still ride on it.
    // Out of line: inlined at each caller, it made the .wasm larger.
    #[inline(never)]
    pub(super) fn remove_caller(&mut self, idx: u32, code: ErrorCode, now: f64) {
        let outcome = Outcome::Code(code);
        self.count_settled(idx, outcome);
        let it = &mut self.items[idx as usize];
        if it.state == State::Follower {
            let (p, next) = (it.primary, it.followers);
            self.emit(Output::Settle { item: idx, outcome, release: true });
            self.free_item(idx);
            // Unlinked from its slot's list: after the one before it (or the slot), which
            // becomes the slot's last follower if it was.
            let mut prev = p;
            while self.items[prev as usize].followers != idx {
                prev = self.items[prev as usize].followers;
            }
            self.items[prev as usize].followers = next;
            let primary = &mut self.items[p as usize];
            if primary.primary == idx {
                primary.primary = prev;
            }
            if primary.caller_settled && primary.followers == NONE {
                self.drop_slot(p, now);
            }
            return;
        }
        if it.followers != NONE {
            it.caller_settled = true;
            self.emit(Output::Settle { item: idx, outcome, release: false });
            return;
        }
        self.emit(Output::Settle { item: idx, outcome, release: true });
        self.drop_slot(idx, now);
    }

    /// Take a slot with no caller left out of wherever it is, and free it.
    pub(super) fn drop_slot(&mut self, idx: u32, now: f64) {
        let it = &self.items[idx as usize];
        let k = it.key;
        // Its key looked up once for every state's bookkeeping.
        let key = &mut self.keys[k as usize];
        match it.state {
            State::Queued => {
                key.queue.forget(it.weight, it.sends > 0);
                if it.sends == 0 {
                    self.queued -= 1;
                }
                key.queue.unlist_dedupe(it.dedupe.as_deref(), idx);
                if key.queue.is_empty() {
                    key.window_at = f64::INFINITY;
                }
            }
            State::Waiting => {
                self.waiting -= 1;
                key.waiting -= 1;
            }
            State::Routing => self.queued -= 1,
            State::RetryWait => key.retry_waiting -= 1,
            State::InUnit => self.left_unit(it.batch),
            State::InFlight | State::Follower | State::Free => {}
        }
        let it = &self.items[idx as usize];
        let left_call = (it.state == State::InFlight).then_some(it.batch);
        if it.caller_settled {
            self.emit(Output::Release { item: idx });
        }
        self.free_item(idx);
        if let Some(batch) = left_call {
            self.slot_left_call(batch); // after the slot's last output: its call may be abandoned
        }
        self.admit_waiters(now);
        if self.key_valid(k) {
            self.maybe_release_key(k);
        }
    }
}
