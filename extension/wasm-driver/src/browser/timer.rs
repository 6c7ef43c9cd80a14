//! One `setTimeout` kept armed for a sans-IO machine's next deadline (the engine's,
//! membership's): re-armed after every step, its callback made once.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use swarmload_core::engine::Time;

/// The longest single wait; a later deadline is simply re-armed when it fires.
const MAX_WAIT_MS: f64 = 60_000.0;

#[derive(Default)]
pub struct Timer {
    id: Option<i32>,
    callback: Option<Closure<dyn FnMut()>>,
}

impl Timer {
    /// Clears the pending timeout, if any.
    pub fn clear(&mut self) {
        if let (Some(w), Some(id)) = (web_sys::window(), self.id.take()) {
            w.clear_timeout_with_handle(id);
        }
    }

    /// The timeout fired: nothing is pending any more.
    pub fn fired(&mut self) {
        self.id = None;
    }

    /// Arms for `due` (none: stays clear); `callback` is made the first time.
    pub fn arm(
        &mut self,
        due: Option<Time>,
        now_ms: f64,
        callback: impl FnOnce() -> Closure<dyn FnMut()>,
    ) {
        self.clear();
        let (Some(due), Some(window)) = (due, web_sys::window()) else {
            return;
        };
        let wait = (crate::dto::time_to_ms(due) - now_ms).clamp(0.0, MAX_WAIT_MS);
        let cb = self.callback.get_or_insert_with(callback);
        self.id = window
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                cb.as_ref().unchecked_ref(),
                wait.ceil() as i32,
            )
            .ok();
    }
}
