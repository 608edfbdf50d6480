//! The Leptos UI: rendered on the server (readable, and usable for posting, without
//! JavaScript), then hydrated into a live chat.
//!
//! Pages, then the parts they mount once live, then the parts, then the page's state;
//! nothing points back up:
//!
//! - Pages: [`lobby`] (`/`, pick a name and a room) and [`room`] (`/r/{room}`), with the
//!   room's hydrated frame: its header and `message_list` (the scrolling list).
//! - `later`: what a page hydrates, and the parts it mounts once live.
//! - The parts: `messages` (the rows, `@name` mentions), `composer` (the message box:
//!   typing, completing `@name`), `members` (who is here: a sidebar, or a sheet on small
//!   screens), `sidebar` (recent rooms with their unread counts, notifications), `rooms`
//!   (the lobby's body), `typing` (who is typing), `sign_in`, and `identity` and
//!   `outbox` below.
//! - [`feed`]: what the room page knows, kept current by the tab's one event stream.
//! - [`live`]: the browser's one event stream, shared by its tabs.
//! - [`outbox`]: messages typed and not yet sent, kept through a lost connection.
//! - [`data`]: server functions for rendering and for the no-JS forms.
//! - [`identity`]: who you are (avatar, name, sign-out, change of name).
//! - [`client`]: browser-only calls (the JSON API, localStorage, local time,
//!   notifications, the service worker of `public/sw.js` for offline reloads).

pub mod client;
mod composer;
pub mod data;
pub mod feed;
pub mod identity;
mod later;
pub mod live;
mod lobby;
mod members;
mod message_list;
mod messages;
pub mod outbox;
mod rich_text;
mod room;
mod rooms;
mod sidebar;
mod sign_in;
mod typing;

use crate::message::DisplayName;
use leptos::prelude::*;
use leptos_meta::{Meta, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// A memo, as a signal: what a message row derives from the feed. (The server used to
/// store the value instead, when it rendered rows as components; it writes their HTML
/// now, and renders them only in tests: `docs/ARCHITECTURE.md`, ledger, retired.)
pub fn derived<T>(f: impl Fn() -> T + Send + Sync + 'static) -> Signal<T>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| f()).into()
}

/// The site's icon: a blue square with rounded corners, 32 × 32, as a PNG.
const FAVICON: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAACAAAAAgCAYAAABzenr0AAAAiUlEQVR42u2XwQnAIAxFM0I3qZt1FEdwJDeoo9i0JGCFHgri9/AP76AH/0MjJLIfp3QEJSlFqYModmbo89rFpsSBoV9Ey3oJ3Bt5QriTXcIF4sTw9ibE37yCCGLFgRJIMrjaf/8OAYY/UIACFKAABShAAQosIQBvyeBNKbwthw8mS4xm8OEUNp5fGI62eMqApC4AAAAASUVORK5CYII=";

/// The HTML document around the app. On the server it also sets the page's
/// Content-Security-Policy, whose nonce leptos_axum puts on every inline script.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::http::security::set_page_policy();
    // Here, not in `App`: only the server knows the stylesheet's hashed name, and where
    // the main JS and WASM are served (`server::http::assets` says why, and why its own
    // `hydration_scripts`).
    #[cfg(feature = "ssr")]
    let (stylesheet, scripts) = (
        crate::server::http::assets::stylesheet(&options),
        crate::server::http::assets::hydration_scripts(&options),
    );
    // (The browser hydrates `App`, never this document.)
    #[cfg(not(feature = "ssr"))]
    let (stylesheet, scripts) = ("", ());
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                // A PNG, not an SVG: Chromium loads an SVG icon as a document of its own on
                // the page's main thread, which cost a slowed phone about 40 ms before the
                // app could start (BENCHMARKS.md, issue 11 on a slower machine).
                <link rel="icon" type="image/png" href=FAVICON />
                <link id="leptos" rel="stylesheet" href=stylesheet />
                <AutoReload options />
                {scripts}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Who is signed in, shared by every page. `whoami` loads it while rendering (a session
/// whose name is no longer held counts as signed out); signing in or out from the
/// browser sets `known`, which wins.
#[derive(Clone, Copy)]
pub struct SessionContext {
    pub whoami: Resource<Result<Option<DisplayName>, ServerFnError>>,
    pub known: RwSignal<Option<Option<DisplayName>>>,
}

impl SessionContext {
    /// The current name, if signed in.
    pub fn name(&self) -> Option<DisplayName> {
        self.known
            .get()
            .unwrap_or_else(|| self.whoami.get().and_then(Result::ok).flatten())
    }

    /// The current name, without subscribing to it (for event handlers).
    pub fn name_untracked(&self) -> Option<DisplayName> {
        self.known
            .get_untracked()
            .unwrap_or_else(|| self.whoami.get_untracked().and_then(Result::ok).flatten())
    }
}

/// True once the app runs in the browser. What depends on the browser (local time, a
/// disabled button) renders as the server did until then, so hydration matches.
#[derive(Clone, Copy)]
pub struct Hydrated(pub ReadSignal<bool>);

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    provide_context(Hydrated(hydrated));
    let session = SessionContext {
        whoami: Resource::new(|| (), |_| data::whoami()),
        known: RwSignal::new(None),
    };
    provide_context(session);
    let outbox = outbox::Outbox::new();
    provide_context(outbox);
    // The outbox outlives the room pages: it sends from whichever page this tab shows,
    // from when the page is live (`later.rs`).
    #[cfg(feature = "hydrate")]
    later::start_app(outbox, session);
    #[cfg(not(feature = "hydrate"))]
    let _ = session;

    view! {
        <Title text="tiny-chat" />
        <Meta name="color-scheme" content="light dark" />
        <Router>
            // Async: the server waits for the page's data and sends it whole, so that it
            // reads (and its forms work) without JavaScript.
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/") view=lobby::Lobby ssr=SsrMode::Async />
                <Route path=path!("/r/:room") view=room::RoomPage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// Answers the page being rendered with 404 (on the server; a no-op in the browser).
fn set_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_not_found();
    view! {
        <main class="page narrow">
            <h1>"Not found"</h1>
            <p>"There is nothing here. " <a href="/">"Back to the lobby"</a></p>
        </main>
    }
}
