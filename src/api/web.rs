//! The `web` runtime (wasm32): the driver is a `wasm_bindgen_futures::spawn_local` task, its timer
//! is `gloo_timers`' `setTimeout`, its clock `performance.now()` (through `web_time::Instant`).
//! Works wherever those globals exist: browsers, workers, Node, Deno.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventTarget, VisibilityState};
use web_time::Instant;

use super::batcher::Batcher;
use super::builder::Builder;
use super::driver::Shared;
use super::error::Error;
use super::runtime::Runtime;
use super::transport::Transport;

/// The longest delay `setTimeout` takes (2^31 - 1 ms); a longer wait re-arms when it ends.
const MAX_TIMEOUT_MS: u32 = i32::MAX as u32;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Web;

impl Runtime for Web {
    type Sleep = TimeoutFuture;
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        // Rounded up: a timer that fires early would only make the driver arm another one.
        let ms = duration.as_nanos().div_ceil(1_000_000);
        TimeoutFuture::new(u32::try_from(ms).unwrap_or(MAX_TIMEOUT_MS).min(MAX_TIMEOUT_MS))
    }
}

// With `tokio` too, tokio's `build` stands (the two features are for different targets).
#[cfg(not(feature = "tokio"))]
impl<I: Clone + 'static, O: 'static> Builder<I, O> {
    /// Builds the batcher with its driver on this thread's JavaScript event loop
    /// (`wasm_bindgen_futures::spawn_local`; `setTimeout` timers, `performance.now()` clock).
    /// Neither the transport nor the items need to be `Send`: a transport may hold `JsValue`s
    /// and await `JsFuture`s.
    ///
    /// # Panics
    /// When an option is out of range (the message names it); see [`try_build`](Builder::try_build).
    ///
    /// ```no_run
    /// # #[cfg(all(target_arch = "wasm32", feature = "web"))]
    /// # async fn demo() {
    /// use hyperbatch::{Batch, Batcher};
    /// let b = Batcher::builder().build(|batch: Batch<u32>| async move {
    ///     Ok(batch.items.iter().map(|n| Ok(n + 1)).collect())
    /// });
    /// assert_eq!(b.add(1).await.unwrap(), 2);
    /// # }
    /// ```
    pub fn build<T: Transport<I, O>>(self, transport: T) -> Batcher<I, O> {
        self.try_build(transport).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`build`](Builder::build), or the `E_CONFIG` error.
    ///
    /// ```no_run
    /// # #[cfg(all(target_arch = "wasm32", feature = "web"))] {
    /// use hyperbatch::{Batch, BatchResult, Batcher, ErrorCode};
    /// let r = Batcher::builder().max_batch_size(0).try_build(|b: Batch<u32>| async move {
    ///     Ok(b.items.iter().map(|n| Ok(*n)).collect()) as BatchResult<u32>
    /// });
    /// assert_eq!(r.unwrap_err().code(), ErrorCode::Config);
    /// # }
    /// ```
    pub fn try_build<T: Transport<I, O>>(self, transport: T) -> Result<Batcher<I, O>, Error> {
        let (batcher, driver) = self.parts(Web, transport)?;
        wasm_bindgen_futures::spawn_local(driver);
        Ok(batcher)
    }
}

/// One batcher's page-hide listeners; dropping them removes them (and frees the closure).
struct HideListeners {
    targets: Vec<(EventTarget, &'static str)>,
    on_hide: Closure<dyn FnMut(Event)>,
}

impl Drop for HideListeners {
    fn drop(&mut self) {
        for (target, kind) in &self.targets {
            let _ = target.remove_event_listener_with_callback(kind, self.on_hide.as_ref().unchecked_ref());
        }
    }
}

thread_local! {
    /// The listeners of each batcher built with `flush_on_hide`, by `Shared::hide_id`. Kept here,
    /// not in the batcher, because JS objects are not `Send` and the batcher's handles are.
    static HIDE_LISTENERS: RefCell<HashMap<usize, HideListeners>> = RefCell::new(HashMap::new());
}

/// `flush_on_hide`: `visibilitychange` to hidden on `document`, and `pagehide` on `window`, flush
/// every queue as keepalive calls. Nothing without a document (Node, Deno, workers).
pub(crate) fn listen_for_hide<I: 'static, O: 'static>(shared: &Arc<Shared<I, O>>) {
    let Some(window) = web_sys::window() else { return };
    let Some(document) = window.document() else { return };
    let weak: Weak<Shared<I, O>> = Arc::downgrade(shared);
    let doc = document.clone();
    let on_hide = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
        if event.type_() == "visibilitychange" && doc.visibility_state() != VisibilityState::Hidden {
            return;
        }
        if let Some(shared) = weak.upgrade() {
            shared.hide();
        }
    });
    let mut targets = Vec::new();
    for (target, kind) in [(EventTarget::from(document), "visibilitychange"), (window.into(), "pagehide")] {
        if target.add_event_listener_with_callback(kind, on_hide.as_ref().unchecked_ref()).is_ok() {
            targets.push((target, kind));
        }
    }
    let listeners = HideListeners { targets, on_hide };
    HIDE_LISTENERS.with(|all| all.borrow_mut().insert(shared.hide_id(), listeners));
}

/// Removes a batcher's page-hide listeners (none registered, or already removed: nothing).
pub(crate) fn stop_listening_for_hide(id: usize) {
    // Taken out first: the listeners are dropped (removed) outside the map's borrow.
    let listeners = HIDE_LISTENERS.try_with(|all| all.borrow_mut().remove(&id)).ok().flatten();
    drop(listeners);
}
