//! tiny-chat: a room-based chat for the browser.
//!
//! # Layout
//!
//! - [`message`]: the wire types shared by server and browser (`ChatMessage`, `RoomName`,
//!   `DisplayName`, `MessageText`, `MessageId`), each with the rules of `docs/API.md` in
//!   its `parse`.
//! - [`awareness`]: presence, typing and the many-room stream's wire types, and the
//!   `@name` mention rules, shared likewise.
//! - [`markdown`]: the safe Markdown subset of "Rendering", parsed to a small tree that
//!   the server-rendered page and the browser both render (`app::rich_text`).
//! - [`app`]: the Leptos UI, rendered on the server and hydrated in the browser. Its
//!   service worker, `public/sw.js` (served as `/sw.js`), lets a page that was open once
//!   load again while the browser is offline.
//! - `server` (feature `ssr`): the axum server. Its own module docs map it: config,
//!   state, the broker trait with its memory and Redis implementations, the in-process
//!   fan-out hub, sessions, the HTTP API, SSE, and operations endpoints.
//! - `hydrate()` (feature `hydrate`): the WASM entry point.

// Leptos view types nest deeply; the hydrate build needs more than the default 128.
#![recursion_limit = "256"]

pub mod app;
pub mod awareness;
pub mod markdown;
pub mod message;

#[cfg(feature = "ssr")]
pub mod server;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // The event stream's round trip overlaps hydration (`app/live/shared/early.rs`). The
    // browser sends a request only once the task that asked for it is over, so hydration
    // runs in the next one.
    if app::live::open_early() {
        leptos::prelude::set_timeout(
            || leptos::mount::hydrate_body(app::App),
            std::time::Duration::ZERO,
        );
    } else {
        leptos::mount::hydrate_body(app::App);
    }
}
