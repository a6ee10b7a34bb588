//! Abandoned calls: when every item of a call in flight has been aborted or has passed its
//! deadline (and no dedupe follower still rides on one of its slots), nobody waits for the call
//! any more. The shell then aborts the call's `batch.signal` (an E_ABORTED reason), so a
//! transport that hands it to `fetch` cancels the request. The call still counts in flight
//! until its outcome is reported; that outcome settles nothing and, being our own doing,
//! neither costs a retry token nor feeds the key's call-time estimate.

use super::Engine;
use crate::engine::{BatchId, Output};

impl Engine {
    /// An in-flight slot of `batch` lost its last caller.
    pub(super) fn slot_left_call(&mut self, batch: BatchId) {
        let Some(b) = self.batches.get_mut(&batch) else {
            return;
        };
        b.wanted -= 1;
        // A timed-out call's signal has aborted already, and its failure is the transport's.
        if b.wanted == 0 && !b.timed_out {
            b.abandoned = true;
            self.emit(Output::Abandoned { batch });
        }
    }
}
