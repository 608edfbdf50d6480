//! The Web Lock whose holder leads.

use super::link;
use crate::app::live::plan::CHANNEL;
use leptos::prelude::window;
use std::{cell::Cell, rc::Rc};
use wasm_bindgen::{JsCast, JsValue, closure::Closure};
use web_sys::LockOptions;

/// Whether this browser has what sharing needs: Web Locks (only in a secure context)
/// and BroadcastChannel.
pub(super) fn shared_supported() -> bool {
    let window = window();
    let has = |target: &JsValue, name: &str| {
        js_sys::Reflect::get(target, &JsValue::from_str(name))
            .is_ok_and(|value| !value.is_undefined() && !value.is_null())
    };
    has(&window.navigator().into(), "locks") && has(&window.into(), "BroadcastChannel")
}

/// Asks for the lock (or, with `steal`, takes it from a leader that stopped answering).
/// When granted, this tab leads until it gives the lock back; if another tab steals it,
/// the request's promise rejects and this tab follows, and waits for the lock again.
pub(super) fn request_lead(steal: bool) {
    let held_once = Rc::new(Cell::new(false));
    let granted = Closure::once_into_js({
        let held_once = Rc::clone(&held_once);
        move |_lock: JsValue| -> js_sys::Promise {
            held_once.set(true);
            js_sys::Promise::new(&mut |resolve, _reject| link().lead(resolve))
        }
    });
    let options = LockOptions::new();
    options.set_steal(steal);
    let held = window().navigator().locks().request_with_options(
        CHANNEL,
        &options,
        granted.unchecked_ref(),
    );
    let taken = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let link = link();
        if !held_once.get() {
            // Refused without ever being held (an opaque origin, say): no sharing here.
            link.go_solo();
            return;
        }
        link.step_down();
        if !link.away.get() {
            request_lead(false);
        }
    });
    let _ = held.catch(&taken);
    taken.forget();
}
