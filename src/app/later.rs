//! What a room page hydrates, and what it mounts once it is live.
//!
//! The server renders the whole page, so it reads, and its forms work, before any
//! WASM runs. The browser hydrates only what a page needs to go live: the header with
//! the connection status, the message list's frame and the one event stream. Every
//! other part (the message rows, the composer, the rooms sidebar, the members, who you
//! are, the outbox, who is typing) is a [`Later`] part: the browser keeps the server's
//! HTML for it and, once the stream is open (or after [`WAIT_AT_MOST`]), replaces it
//! with the live component. The lobby works the same way, without waiting: it has no
//! stream.
//!
//! In a release build (`cargo leptos build --split`), what only the live parts reach
//! is cut out of the main WASM into a file of its own, fetched by [`mount_parts`] the
//! first time it runs: about a third of the app's code, which a page load no longer
//! waits for (`docs/ARCHITECTURE.md`, ledger 11). A room opened within the app mounts its parts
//! at once, with no server HTML to keep.

use super::{
    SessionContext,
    composer::Composer,
    feed::Feed,
    identity::Identity,
    members::{MemberList, MembersButton},
    outbox::{OutboxCount, OutboxList},
    rooms::{ActiveRooms, lobby_body},
    sidebar::RecentRooms,
    sign_in::SignInForm,
    typing::TypingLine,
};
use crate::{awareness::Presence, message::RoomName};
use leptos::prelude::*;
use std::pin::Pin;

/// The room's members as the server saw them while rendering.
pub type Here = Resource<Result<Presence, ServerFnError>>;

/// A part of the room page that is mounted once the page is live.
#[derive(Clone)]
pub enum Part {
    /// Recent rooms, with their unread counts.
    Rooms(RoomName),
    /// The header's "N people here" button.
    MembersButton(Here),
    /// The header's avatar and name menu.
    Identity,
    /// The header's count of unsent messages.
    OutboxCount,
    /// This room's unsent messages, under the list.
    Outbox(RoomName),
    /// "alice is typing…"
    Typing,
    /// The message box (or, signed out, the form to pick a name).
    Composer(RoomName),
    /// Who is here.
    Members(Here),
    /// What the lobby shows under its title (mounted at once: the lobby has no stream).
    Lobby(ActiveRooms),
}

/// What a part that waits for data renders: a future of its view, made afresh each time
/// it is asked for.
type Ready = Box<dyn Fn() -> Pin<Box<dyn Future<Output = AnyView> + Send>> + Send + Sync>;

/// A part's view: at once, or once the data it waits for (who you are, who is here) is in.
enum Shape {
    Now(AnyView),
    Waiting(Ready),
}

/// What each part shows, as the server renders it and the browser mounts it.
fn shape_of(part: Part) -> Shape {
    let session = expect_context::<SessionContext>();
    // Who is here, as the server saw it while rendering: the server's parts show it as
    // it is (`members::Shown`); the browser's show the feed's, which the room seeded with
    // the same answer and the stream keeps current.
    let members = move |here: Here, part: fn(Option<Presence>) -> AnyView| {
        Shape::Waiting(Box::new(move || {
            Box::pin(async move { part(here.await.ok()) })
        }))
    };
    match part {
        Part::Rooms(room) => Shape::Now(view! { <RecentRooms current=room /> }.into_any()),
        Part::MembersButton(here) => {
            members(here, |served| view! { <MembersButton served /> }.into_any())
        }
        Part::Members(here) => members(here, |served| view! { <MemberList served /> }.into_any()),
        Part::Identity => Shape::Waiting(Box::new(move || {
            Box::pin(async move {
                let _ = session.whoami.await;
                view! {
                    <Show when=move || session.name().is_some()>
                        <Identity />
                    </Show>
                }
                .into_any()
            })
        })),
        Part::OutboxCount => Shape::Now(view! { <OutboxCount /> }.into_any()),
        Part::Outbox(room) => {
            let status = expect_context::<Feed>().status;
            Shape::Now(view! { <OutboxList room status /> }.into_any())
        }
        Part::Typing => Shape::Now(view! { <TypingLine /> }.into_any()),
        Part::Lobby(rooms) => Shape::Now(lobby_body(rooms).into_any()),
        Part::Composer(room) => Shape::Waiting(Box::new(move || {
            let room = room.clone();
            Box::pin(async move {
                let _ = session.whoami.await;
                // Mounted once per sign-in, not rebuilt on a change of name.
                view! {
                    <Show
                        when=move || session.name().is_some()
                        fallback=|| view! {
                            <div class="composer signed-out">
                                <SignInForm prompt="Pick a name to join the conversation" />
                            </div>
                        }
                    >
                        <Composer room=room.clone() />
                    </Show>
                }
                .into_any()
            })
        })),
    }
}

/// The part as the browser mounts it: one that waits for data, in a `Suspense`.
#[cfg(not(feature = "ssr"))]
fn view_of(part: Part) -> AnyView {
    match shape_of(part) {
        Shape::Now(view) => view,
        Shape::Waiting(ready) => {
            view! { <Suspense fallback=|| ()>{move || Suspend::new(ready())}</Suspense> }.into_any()
        }
    }
}

/// The part as the server renders it. One that waits for data is rendered to HTML, in
/// the page's owner, once its data is in, and put into its `<div>` whole: the browser
/// never hydrates a part (it mounts its own), so the server need not render it as
/// something to hydrate. A `Suspense` per part, its effect, owners and signals, took
/// about a third of a room page's server time (`docs/ARCHITECTURE.md`, ledger 9). (A bare `Suspend` of the part's view is not enough: the page renders
/// what it resolves to outside of any owner, where the part's components find no
/// context.)
#[cfg(feature = "ssr")]
fn server_view(part: Part) -> AnyView {
    use leptos::tachys::view::RenderHtml;
    let ready = match shape_of(part) {
        Shape::Now(view) => return view! { <div class="later">{view}</div> }.into_any(),
        Shape::Waiting(ready) => ready,
    };
    let owner = Owner::current().expect("a part renders inside the app");
    Suspend::new(async move {
        let part = ready().await;
        let html = owner.with(|| part.to_html());
        view! { <div class="later" inner_html=html></div> }
    })
    .into_any()
}

/// A part of the page mounted once it is live, in a `<div class="later">` (which CSS
/// lays out as if it were not there). The server renders the part into it; the browser
/// leaves that HTML alone while it hydrates, and replaces it with the live part later.
#[component]
pub fn Later(part: Part) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        server_view(part)
    }
    #[cfg(not(feature = "ssr"))]
    {
        let slot = NodeRef::<leptos::html::Div>::new();
        slot.on_load(move |element| browser::add(browser::Slot::Part(part, element)));
        view! { <div class="later" node_ref=slot></div> }
    }
}

/// The message rows, a part like the others: on the server, their HTML written directly
/// (`messages/page_html.rs`); in the browser, the live rows, which replace the server's
/// rather than hydrate them once the page is live. They become a live region (`role="log"`) only then, so that a screen
/// reader does not read the whole page of messages out as new. `mounted` is set once
/// they are in.
#[component]
pub fn LaterRows(mounted: RwSignal<bool>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        let html = super::messages::rows_html();
        let _ = mounted;
        view! { <ol class="message-log" aria-label="Messages" inner_html=html></ol> }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let log = NodeRef::<leptos::html::Ol>::new();
        log.on_load(move |log| browser::add(browser::Slot::Rows(log, mounted)));
        view! { <ol class="message-log" aria-label="Messages" node_ref=log></ol> }
    }
}

#[cfg(not(feature = "ssr"))]
pub use browser::{start, start_app};

#[cfg(not(feature = "ssr"))]
mod browser;
