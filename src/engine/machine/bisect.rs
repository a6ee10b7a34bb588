//! Bisect: a batch-level failure classified `"bisect"` (a 400, 413 or 422; `retryable: false`)
//! splits the call's items in halves, each resent as a unit at once, ahead of its key's queue;
//! recursively, one poison item ends up failing alone while its batchmates succeed.

use super::*;

impl Engine {
    /// Resend `live` (more than one slot of a failed call of key `k`) as two halves, now.
    pub(super) fn bisect(&mut self, k: KeyId, live: &[Slot]) {
        self.stats.bisects += 1;
        let (left, right) = live.split_at(live.len() / 2);
        let (l, r) = (self.new_unit(k, left.to_vec()), self.new_unit(k, right.to_vec()));
        let key = &mut self.keys[k as usize];
        key.ready_units.push_front(r);
        key.ready_units.push_front(l);
        self.ready_stale = true;
        self.schedule_due(k, false);
    }
}
