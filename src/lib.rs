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
//! - [`app`]: the Leptos UI, rendered on the server and hydrated in the browser: pages,
//!   then the parts a page mounts once live (`later`), then the parts, then the page's
//!   state. Its service worker, `public/sw.js` (served as `/sw.js`), lets a page that was
//!   open once load again while the browser is offline.
//! - `server` (feature `ssr`): the axum server, in layers that point one way: `broker`
//!   (the domain and the live tier: the room log, names, presence and typing, the live
//!   bus, each a trait with a memory and a Redis implementation), `chat` (the use cases
//!   both the API and the no-JS forms call), `http` (routes, extractors, SSE, assets),
//!   and `config` and `state` on top. `docs/ARCHITECTURE.md` follows a request and an
//!   event through them, and keeps the ledger of where the code departs from the
//!   framework.
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
