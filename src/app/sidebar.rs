//! The sidebar: the rooms this browser visited, most recent first, each with what you
//! missed there (unread messages, and whether one mentions you), and the offer to be
//! notified of mentions while the tab is hidden.

use super::{Hydrated, client, feed::Feed};
use crate::message::RoomName;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn RecentRooms(current: RoomName) -> impl IntoView {
    let feed = expect_context::<Feed>();
    view! {
        <nav class="sidebar" aria-label="Recent rooms">
            <h2>"Rooms"</h2>
            <ul>
                <For
                    each=move || feed.recent.get()
                    key=|room| room.clone()
                    children=move |room| {
                        let here = room == current;
                        let unread = {
                            let room = room.clone();
                            Memo::new(move |_| {
                                feed.unread.with(|all| all.get(&room).map_or(0, |u| u.count()))
                            })
                        };
                        let mentioned = {
                            let room = room.clone();
                            Memo::new(move |_| {
                                feed.unread.with(|all| all.get(&room).is_some_and(|u| u.mentioned()))
                            })
                        };
                        let label = {
                            let room = room.clone();
                            move || match (unread.get(), mentioned.get()) {
                                (0, _) => format!("#{room}"),
                                (n, false) => format!("#{room}, {n} unread"),
                                (n, true) => format!("#{room}, {n} unread, mentions you"),
                            }
                        };
                        view! {
                            <li class:unread=move || { !here && unread.get() > 0 } class:mentioned=move || !here && mentioned.get()>
                                <A
                                    href=format!("/r/{room}")
                                    attr:class=if here { "current" } else { "" }
                                    attr:aria-current=here.then_some("page")
                                    attr:aria-label=label
                                >
                                    <span class="room-label">"#" {room.to_string()}</span>
                                    <Show when=move || !here && mentioned.get()>
                                        <span class="mention-mark" aria-hidden="true">"@"</span>
                                    </Show>
                                    <Show when=move || { !here && unread.get() > 0 }>
                                        <span class="unread-count" aria-hidden="true">{unread}</span>
                                    </Show>
                                </A>
                            </li>
                        }
                    }
                />
            </ul>
            <a class="new-room" href="/">"+ Open a room"</a>
            <NotifyButton />
        </nav>
    }
}

/// "Notify me of mentions": asks the browser once; shown only where it can ask.
#[component]
fn NotifyButton() -> impl IntoView {
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let permission = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if hydrated.get() {
            permission.set(client::notification_permission());
        }
    });
    let ask = move |_| client::request_notification_permission(move |now| permission.set(now));
    view! {
        <Show when=move || permission.with(|p| p.as_deref() == Some("default"))>
            <button type="button" class="secondary notify" on:click=ask>
                "Notify me of mentions"
            </button>
        </Show>
        <Show when=move || permission.with(|p| p.as_deref() == Some("granted"))>
            <p class="notify-on muted">"Mentions notify you while this tab is hidden."</p>
        </Show>
    }
}
