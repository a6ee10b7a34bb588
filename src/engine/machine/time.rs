//! Time: `handle_time` fires every timer due by `now`; each kind of timer has its handler here,
//! and a timer whose reason went away (its item settled, its window closed) is dead.

use super::*;

impl Engine {
    /// Time has moved to `now`: fire due timers and dispatch every queue that is due.
    /// Call it on [`Output::Tick`] (at the end of the turn) and at [`Engine::poll_timeout`].
    pub fn handle_time(&mut self, now: f64) {
        self.tick_requested = false;
        self.turn_end_requested = false;
        while let Some((at, timer)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.fire(at, timer, now);
        }
        self.run_due(now);
        self.after_input(now);
    }

    pub(super) fn fire(&mut self, at: f64, timer: Timer, now: f64) {
        match timer {
            Timer::Window(k) => {
                let key = &mut self.keys[k as usize];
                if key.alive && key.window_at == at {
                    key.window_at = f64::INFINITY;
                    self.schedule_due(k, false);
                }
            }
            Timer::DeadlineFlush { item, gen } => {
                if self.slot_in(item, gen, State::Queued) {
                    let it = &self.items[item as usize];
                    self.due_through(it.key, it.order, false);
                }
            }
            Timer::Expire { item, gen } => {
                let it = &self.items[item as usize];
                if it.gen == gen && it.state != State::Free && !it.caller_settled && now > it.deadline {
                    self.remove_caller(item, ErrorCode::Deadline, now);
                }
            }
            Timer::ExpireRun { first, len } => {
                // A slot reused since holds an item of its own: expired too if its deadline passed.
                for idx in first..first + len {
                    let it = &self.items[idx as usize];
                    if it.state != State::Free && !it.caller_settled && now > it.deadline {
                        self.remove_caller(idx, ErrorCode::Deadline, now);
                    }
                }
            }
            Timer::RunFlush(order) => self.due_through(DEFAULT_KEY, order, false),
            Timer::RunExpiry => {
                if self.run_expiry == at {
                    self.expire_runs(now);
                }
            }
            Timer::ItemRetry { item, gen } => {
                if self.slot_in(item, gen, State::RetryWait) {
                    self.requeue(item, now);
                }
            }
            Timer::Unit(u) => {
                if let Some(unit) = self.units.get(&u) {
                    let k = unit.key;
                    let key = &mut self.keys[k as usize];
                    key.pending_units -= 1;
                    key.ready_units.push_back(u);
                    self.ready_stale = true;
                    self.schedule_due(k, false);
                }
            }
            Timer::CallDeadline(batch) => {
                if let Some(b) = self.batches.get_mut(&batch) {
                    let runs = core::mem::take(&mut b.runs);
                    Engine::stamp_call(&mut self.items, &mut self.timers, b.key, batch, runs, &mut b.entries);
                }
            }
            Timer::CallTimeout(batch) => {
                if let Some(b) = self.batches.get_mut(&batch) {
                    if !b.timed_out {
                        b.timed_out = true;
                        self.emit(Output::CallTimedOut { batch });
                    }
                }
            }
            Timer::RouteTimeout(route) => {
                self.fail_route(route, ErrorCode::Timeout, now);
            }
        }
    }

    pub(super) fn timer_live(&self, at: f64, timer: Timer) -> bool {
        match timer {
            Timer::Window(k) => {
                let key = &self.keys[k as usize];
                key.alive && key.window_at == at && !key.queue.is_empty()
            }
            Timer::DeadlineFlush { item, gen } => self.slot_in(item, gen, State::Queued),
            Timer::Expire { item, gen } => {
                let it = &self.items[item as usize];
                it.gen == gen && it.state != State::Free && !it.caller_settled
            }
            Timer::ExpireRun { first, len } => (first..first + len).any(|idx| {
                let it = &self.items[idx as usize];
                it.state != State::Free && !it.caller_settled
            }),
            Timer::RunFlush(order) => {
                self.keys[DEFAULT_KEY as usize].queue.entries.front().is_some_and(|e| e.order <= order)
            }
            Timer::RunExpiry => self.run_expiry == at,
            Timer::ItemRetry { item, gen } => self.slot_in(item, gen, State::RetryWait),
            Timer::Unit(u) => self.units.contains_key(&u),
            Timer::CallDeadline(b) => self.batches.get(&b).is_some_and(|b| !b.runs.is_empty()),
            Timer::CallTimeout(b) => self.batches.get(&b).is_some_and(|b| !b.timed_out),
            Timer::RouteTimeout(r) => self.routes.contains_key(&r),
        }
    }
}
