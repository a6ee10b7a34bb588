//! Keys: interning names to ids, and releasing an id once its key holds nothing (no queued,
//! waiting, in-flight or resent item), so that key churn does not grow the engine.

use super::*;

impl Engine {
    /// The id of a named key, creating its queue if needed. Stays valid until
    /// [`Output::KeyReleased`] names it.
    pub fn intern(&mut self, name: &str) -> KeyId {
        if let Some(&k) = self.key_ids.get(name) {
            return k;
        }
        let k = match self.free_keys.pop() {
            Some(k) => {
                self.keys[k as usize].revive(name);
                k
            }
            None => {
                self.keys.push(Key::new(name));
                (self.keys.len() - 1) as KeyId
            }
        };
        self.key_ids.insert(name.into(), k);
        self.keys[k as usize].call_time = self.retired_call_times.take(name);
        k
    }

    /// A key's name; `None` for the default queue, the routing queue and free ids.
    pub fn key_name(&self, key: KeyId) -> Option<&str> {
        match self.keys.get(key as usize) {
            Some(k) if k.alive && key > DEFAULT_KEY => Some(&k.name),
            _ => None,
        }
    }

    pub(super) fn key_valid(&self, key: KeyId) -> bool {
        self.keys.get(key as usize).is_some_and(|k| k.alive)
    }

    pub(super) fn maybe_release_key(&mut self, k: KeyId) {
        if k <= DEFAULT_KEY {
            return;
        }
        let key = &self.keys[k as usize];
        let idle = key.alive
            && key.queue.is_empty()
            && key.in_flight == 0
            && key.ready_units.is_empty()
            && key.pending_units == 0
            && key.retry_waiting == 0
            && key.waiting == 0
            && !key.scheduled
            && (key.circuit.is_default() || self.closed); // a closed batcher takes no more adds
        if idle {
            let key = &mut self.keys[k as usize];
            let ((first, n), name, time) = (key.ids, core::mem::take(&mut key.name), key.call_time);
            key.retire();
            if n > 0 {
                self.free_ids(first, n); // its unused block
            }
            self.retired_call_times.keep(&name, time);
            self.key_ids.remove(&name);
            self.free_keys.push(k);
            self.emit(Output::KeyReleased { key: k });
        }
    }
}
