//! `/r/{room}`: the room.
//!
//! The server renders the last 50 messages and who is here. After hydration the tab's
//! one event stream (`feed.rs`) resumes this room after the newest of those messages and
//! the other recent rooms after what was read there, and every message, from history,
//! live or a post's answer, goes into one map keyed by id: whatever arrives twice is
//! shown once, in id order.

use super::{
    SessionContext, client, data,
    feed::Feed,
    later::{Later, Part},
    members::Sheet,
    message_list::MessageList,
    outbox::Outbox,
};
use crate::message::RoomName;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room = Memo::new(move |_| params.read().get("room").unwrap_or_default());
    move || match RoomName::parse(&room.get()) {
        Ok(room) => view! { <Room room /> }.into_any(),
        Err(invalid) => {
            super::set_not_found();
            view! {
                <main class="page narrow">
                    <h1>"No such room"</h1>
                    <p>{invalid.to_string()}</p>
                    <p><a href="/">"Back to the lobby"</a></p>
                </main>
            }
            .into_any()
        }
    }
}

#[component]
fn Room(room: RoomName) -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let source = {
        let room = room.to_string();
        move || room.clone()
    };
    let history = Resource::new(source.clone(), data::history);
    let presence = Resource::new(source, data::members);
    let feed = Feed::new(room.clone());
    provide_context(feed);
    provide_context(Sheet(RwSignal::new(false)));

    #[cfg(feature = "hydrate")]
    super::feed::connect(feed, history);
    remember_room(&room, feed);
    // A message this tab's outbox just sent shows at once, before the stream brings it.
    let outbox = expect_context::<Outbox>();
    // (Not at once: what landed before the room opened is in its history, or deleted.)
    Effect::watch(
        move || outbox.landed.get(),
        move |landed, _, _| {
            if let Some(message) = landed
                && feed.room.try_with_value(|room| *room == message.room) == Some(true)
            {
                feed.add([message.clone()]);
            }
        },
        false,
    );

    // Every part but the header's status and the list's frame comes once the page is
    // live (`later.rs`).
    #[cfg(not(feature = "ssr"))]
    super::later::start(true);
    // Who is here, as the server saw it while rendering (its answer is in the page); the
    // stream takes over after. (On the server, the members' parts show the answer itself.)
    #[cfg(not(feature = "ssr"))]
    leptos::task::spawn_local(async move {
        if let Ok(here) = presence.await {
            feed.seed_members(here);
        }
    });
    let list_room = room.clone();
    view! {
        <Title text=move || feed.title() />
        <div class="room-layout">
            <Later part=Part::Rooms(room.clone()) />
            <main class="room">
                <header class="room-header">
                    <a class="back" href="/" aria-label="Lobby">"←"</a>
                    <h1>"#" {room.to_string()}</h1>
                    <span
                        class=move || format!("status {}", feed.status.get().label())
                        data-role=move || feed.role.get().map(|role| role.label())
                        role="status"
                    >
                        {move || feed.status.get().label()}
                    </span>
                    <Later part=Part::OutboxCount />
                    <Later part=Part::MembersButton(presence) />
                    <Later part=Part::Identity />
                </header>
                <Transition fallback=|| view! { <p class="muted pad">"Loading messages…"</p> }>
                    {move || { let room = list_room.clone(); Suspend::new(async move {
                        // Who is looking decides how the server writes the rows.
                        let _ = session.whoami.await;
                        match history.await {
                            Ok(page) => {
                                feed.add(page);
                                view! { <MessageList room=room.clone() /> }.into_any()
                            }
                            Err(error) => view! {
                                <p class="field-error pad">"Could not load messages: " {error.to_string()}</p>
                            }
                            .into_any(),
                        }
                    })}}
                </Transition>
                <Later part=Part::Outbox(room.clone()) />
                <Later part=Part::Typing />
                <Later part=Part::Composer(room.clone()) />
            </main>
            <Later part=Part::Members(presence) />
        </div>
    }
}

/// Puts the room first in the browser's recent list.
fn remember_room(room: &RoomName, feed: Feed) {
    let room = room.clone();
    Effect::new(move |_| {
        let mut recent = client::load_recent();
        client::remember(&mut recent, &room);
        client::save_recent(&recent);
        feed.recent.set(recent);
    });
}
