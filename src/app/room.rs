//! `/r/{room}`: the room.
//!
//! The server renders the last 50 messages. After hydration an `EventSource` resumes
//! after the newest of them, and every message, from history, live or a post's answer,
//! goes into one map keyed by id: whatever arrives twice is shown once, in id order.

use super::{
    Hydrated, SessionContext, client,
    data::{self, Post},
    identity::{Avatar, Identity},
    live::Connection,
    sign_in::SignInForm,
};
use crate::message::{ChatMessage, DisplayName, MessageId, MessageText, RoomName};
use leptos::{ev, html, prelude::*, server_fn::ServerFn, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};
use std::collections::BTreeMap;

/// Messages fetched per page of older history.
const PAGE: usize = 50;
/// A sender's messages closer together than this share one header.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

type Messages = BTreeMap<MessageId, ChatMessage>;

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
    let history = Resource::new(
        {
            let room = room.to_string();
            move || room.clone()
        },
        data::history,
    );
    let messages = RwSignal::new(Messages::new());
    let more_older = RwSignal::new(true);
    let status = RwSignal::new(Connection::Offline);
    let add = move |message: ChatMessage| {
        messages.update(|all| {
            all.insert(message.id, message);
        });
    };

    #[cfg(feature = "hydrate")]
    connect_when_ready(room.clone(), history, messages, more_older, status);
    remember_room(&room);

    let title = format!("#{room} · tiny-chat");
    let (list_room, composer_room) = (room.clone(), room.clone());
    view! {
        <Title text=title />
        <div class="room-layout">
            <RecentRooms current=room.clone() />
            <main class="room">
                <header class="room-header">
                    <a class="back" href="/" aria-label="Lobby">"←"</a>
                    <h1>"#" {room.to_string()}</h1>
                    <span class=move || format!("status {}", status.get().label()) role="status">
                        {move || status.get().label()}
                    </span>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            let _ = session.whoami.await;
                            view! {
                                <Show when=move || session.name().is_some()>
                                    <Identity />
                                </Show>
                            }
                        })}
                    </Suspense>
                </header>
                <Transition fallback=|| view! { <p class="muted pad">"Loading messages…"</p> }>
                    {move || { let room = list_room.clone(); Suspend::new(async move {
                        match history.await {
                            Ok(page) => {
                                messages.update(|all| all.extend(page.into_iter().map(|m| (m.id, m))));
                                view! { <MessageList room=room.clone() messages more_older /> }.into_any()
                            }
                            Err(error) => view! {
                                <p class="field-error pad">"Could not load messages: " {error.to_string()}</p>
                            }
                            .into_any(),
                        }
                    })}}
                </Transition>
                <Suspense fallback=|| ()>
                    {move || { let room = composer_room.clone(); Suspend::new(async move {
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
                                <Composer room=room.clone() on_sent=add />
                            </Show>
                        }
                    })}}
                </Suspense>
            </main>
        </div>
    }
}

/// Opens the room's stream once its history is on the page, resuming after the newest
/// message shown; reopens it if the browser gives up; closes it when the room is left.
#[cfg(feature = "hydrate")]
fn connect_when_ready(
    room: RoomName,
    history: Resource<Result<Vec<ChatMessage>, ServerFnError>>,
    messages: RwSignal<Messages>,
    more_older: RwSignal<bool>,
    status: RwSignal<Connection>,
) {
    use super::live::{self, LiveStream};
    use send_wrapper::SendWrapper;

    let stream = StoredValue::new(None::<SendWrapper<LiveStream>>);
    let attempt = RwSignal::new(0u32);
    Effect::new(move |_| {
        attempt.track();
        let loaded = history.with(|h| matches!(h, Some(Ok(_))));
        if !loaded
            || stream.with_value(|s| s.is_some() && status.get_untracked() != Connection::Offline)
        {
            return;
        }
        let newest = messages.with_untracked(|all| all.keys().next_back().copied());
        let url = live::events_url(&room, newest);
        let on_message = move |message: ChatMessage| {
            messages.update(|all| {
                all.insert(message.id, message);
            })
        };
        let on_resync = {
            let room = room.clone();
            move || reload_newest(room.clone(), messages, more_older)
        };
        match LiveStream::open(&url, status, on_message, on_resync) {
            Ok(opened) => stream.set_value(Some(SendWrapper::new(opened))),
            Err(_) => status.set(Connection::Offline),
        }
    });
    // The browser retries a dropped connection by itself; after an error status it
    // stops, and we open a fresh stream a little later.
    Effect::new(move |_| {
        if status.get() == Connection::Offline && stream.with_value(Option::is_some) {
            set_timeout(
                move || attempt.update(|n| *n += 1),
                std::time::Duration::from_secs(3),
            );
        }
    });
    on_cleanup(move || stream.set_value(None));
}

/// After `event: resync`: what the page shows can no longer be continued, so it is
/// replaced by the newest page of history. (Through the JSON API rather than by
/// refetching the page's resource, which would rebuild the list under its own feet.)
#[cfg(feature = "hydrate")]
fn reload_newest(room: RoomName, messages: RwSignal<Messages>, more_older: RwSignal<bool>) {
    spawn_local(async move {
        if let Ok(page) = client::history(&room, None, PAGE).await {
            more_older.set(page.len() == PAGE);
            messages.set(page.into_iter().map(|m| (m.id, m)).collect());
        }
    });
}

/// Puts the room first in the browser's recent list.
fn remember_room(room: &RoomName) {
    let room = room.clone();
    Effect::new(move |_| {
        let mut recent = client::load_recent();
        client::remember(&mut recent, &room);
        client::save_recent(&recent);
        if let Some(RecentList(list)) = use_context::<RecentList>() {
            list.set(recent);
        }
    });
}

#[derive(Clone, Copy)]
struct RecentList(RwSignal<Vec<RoomName>>);

/// The sidebar: rooms this browser visited, most recent first.
#[component]
fn RecentRooms(current: RoomName) -> impl IntoView {
    let list = RwSignal::new(Vec::<RoomName>::new());
    provide_context(RecentList(list));
    view! {
        <nav class="sidebar" aria-label="Recent rooms">
            <h2>"Rooms"</h2>
            <ul>
                <For
                    each=move || list.get()
                    key=|room| room.clone()
                    children=move |room| {
                        let here = room == current;
                        view! {
                            <li>
                                <A
                                    href=format!("/r/{room}")
                                    attr:class=if here { "current" } else { "" }
                                    attr:aria-current=here.then_some("page")
                                >
                                    "#"
                                    {room.to_string()}
                                </A>
                            </li>
                        }
                    }
                />
            </ul>
            <a class="new-room" href="/">"+ Open a room"</a>
        </nav>
    }
}

/// One row of the list: a message, and whether it starts a group (shows who and when).
#[derive(Clone, PartialEq)]
struct Row {
    message: ChatMessage,
    first_of_group: bool,
}

fn rows(all: &Messages) -> Vec<Row> {
    let mut previous: Option<(&DisplayName, u64)> = None;
    all.values()
        .map(|message| {
            let first_of_group = previous.is_none_or(|(sender, ms)| {
                sender != &message.sender || message.id.ms.saturating_sub(ms) > GROUP_GAP_MS
            });
            previous = Some((&message.sender, message.id.ms));
            Row {
                message: message.clone(),
                first_of_group,
            }
        })
        .collect()
}

#[component]
fn MessageList(
    room: RoomName,
    messages: RwSignal<Messages>,
    more_older: RwSignal<bool>,
) -> impl IntoView {
    let session = expect_context::<SessionContext>();
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let me = Memo::new(move |_| session.name());
    let list = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let unread = RwSignal::new(0usize);
    let loading_older = RwSignal::new(false);
    let rows = Memo::new(move |_| messages.with(rows));

    let scroll_to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        unread.set(0);
    };

    // New messages at the bottom: follow them when at the bottom, else count them.
    Effect::new(move |newest_before: Option<Option<MessageId>>| {
        let newest = messages.with(|all| all.keys().next_back().copied());
        if let Some(Some(before)) = newest_before {
            let added =
                messages.with_untracked(|all| all.range(before..).count().saturating_sub(1));
            if at_bottom.get_untracked() {
                request_animation_frame(scroll_to_bottom);
            } else if added > 0 {
                unread.update(|n| *n += added);
            }
        } else {
            request_animation_frame(scroll_to_bottom);
        }
        newest
    });

    let load_older = move || {
        if loading_older.get_untracked() || !more_older.get_untracked() {
            return;
        }
        let Some(oldest) = messages.with_untracked(|all| all.keys().next().copied()) else {
            return;
        };
        loading_older.set(true);
        let room = room.clone();
        spawn_local(async move {
            if let Ok(page) = client::history(&room, Some(oldest), PAGE).await {
                more_older.set(page.len() == PAGE);
                let Some(list) = list.get_untracked() else {
                    return;
                };
                let (height, top) = (list.scroll_height(), list.scroll_top());
                messages.update(|all| all.extend(page.into_iter().map(|m| (m.id, m))));
                // Keep the same messages in view after the ones above them arrive.
                request_animation_frame(move || {
                    list.set_scroll_top(top + list.scroll_height() - height)
                });
            }
            loading_older.set(false);
        });
    };

    let on_scroll = move |_: ev::Event| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        let bottom = list.scroll_height() - list.scroll_top() - list.client_height() < 40;
        at_bottom.set(bottom);
        if bottom {
            unread.set(0);
        }
        if list.scroll_top() < 120 {
            load_older();
        }
    };

    view! {
        <div class="messages" node_ref=list on:scroll=on_scroll>
            <p class="history-edge muted">
                {move || {
                    if loading_older.get() {
                        "Loading older messages…"
                    } else if more_older.get() && messages.with(|m| m.len() >= PAGE) {
                        "Scroll up for older messages"
                    } else if messages.with(Messages::is_empty) {
                        "No messages yet. Say hello!"
                    } else {
                        "This is the beginning of the room."
                    }
                }}
            </p>
            <ol class="message-log" role="log" aria-live="polite" aria-label="Messages">
                <For each=move || rows.get() key=|row| (row.message.id, row.first_of_group) let(row)>
                    <MessageRow row me hydrated />
                </For>
            </ol>
        </div>
        <Show when=move || { unread.get() > 0 }>
            <button class="new-pill" on:click=move |_| scroll_to_bottom()>
                {move || match unread.get() {
                    1 => "1 new message ↓".to_owned(),
                    n => format!("{n} new messages ↓"),
                }}
            </button>
        </Show>
    }
}

#[component]
fn MessageRow(
    row: Row,
    me: Memo<Option<DisplayName>>,
    hydrated: ReadSignal<bool>,
) -> impl IntoView {
    let Row {
        message,
        first_of_group,
    } = row;
    // Yours only while your session holds the name (`me` is `None` once it does not).
    let mine = {
        let sender = message.sender.clone();
        move || me.with(|me| me.as_ref().is_some_and(|me| me.same_name(&sender)))
    };
    let sent_at = message.sent_at.clone();
    let clock = {
        let sent_at = sent_at.clone();
        move || client::clock(&sent_at, hydrated.get())
    };
    view! {
        <li class="message" class:mine=mine class:first=first_of_group data-id=message.id.to_string()>
            {first_of_group.then(|| view! {
                <div class="meta">
                    <Avatar name=message.sender.clone() />
                    <span class="sender">{message.sender.to_string()}</span>
                    <time datetime=sent_at>{clock}</time>
                </div>
            })}
            // Text, never markup: Leptos writes it as a text node.
            <p class="text">{message.text}</p>
        </li>
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Sending {
    Idle,
    Pending,
    Failed(String),
}

/// The message box. Enter sends and Shift+Enter starts a new line. Without JavaScript it
/// is a plain form post to a server function that redirects back to the room.
#[component]
fn Composer(
    room: RoomName,
    on_sent: impl Fn(ChatMessage) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let text = RwSignal::new(String::new());
    let sending = RwSignal::new(Sending::Idle);
    // One key per message: a retry after a failure reuses it, so it cannot post twice.
    let client_id = StoredValue::new(client::new_client_id());
    let textarea = NodeRef::<html::Textarea>::new();

    let send = {
        let room = room.clone();
        move || {
            let body = text.get_untracked();
            if MessageText::parse(&body).is_err() || sending.get_untracked() == Sending::Pending {
                return;
            }
            sending.set(Sending::Pending);
            let (room, id) = (room.clone(), client_id.get_value());
            spawn_local(async move {
                match client::post_message(&room, &body, &id).await {
                    Ok(message) => {
                        on_sent(message);
                        text.set(String::new());
                        client_id.set_value(client::new_client_id());
                        sending.set(Sending::Idle);
                    }
                    Err(reason) => sending.set(Sending::Failed(reason)),
                }
            });
        }
    };
    let submit = {
        let send = send.clone();
        move |event: ev::SubmitEvent| {
            event.prevent_default();
            send();
        }
    };
    let keydown = move |event: ev::KeyboardEvent| {
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        }
    };
    let empty = move || text.with(|t| t.trim().is_empty());

    view! {
        <form class="composer" method="post" action=Post::url() on:submit=submit>
            <input type="hidden" name="room" value=room.to_string() />
            <input type="hidden" name="client_id" value=client_id.get_value() />
            <label class="visually-hidden" for="composer-text">"Message"</label>
            <textarea
                id="composer-text"
                name="text"
                rows="1"
                maxlength="4000"
                placeholder=format!("Message #{room}")
                node_ref=textarea
                prop:value=text
                on:input=move |event| {
                    text.set(event_target_value(&event));
                    if matches!(sending.get_untracked(), Sending::Failed(_)) {
                        sending.set(Sending::Idle);
                    }
                }
                on:keydown=keydown
                aria-describedby="composer-status"
            ></textarea>
            <button
                type="submit"
                // Only the browser disables it: without JavaScript it must stay usable.
                disabled=move || hydrated.get() && (empty() || sending.get() == Sending::Pending)
            >
                "Send"
            </button>
            <p id="composer-status" class="composer-status" role="status">
                {move || match sending.get() {
                    Sending::Idle => String::new(),
                    Sending::Pending => "Sending…".to_owned(),
                    Sending::Failed(reason) => format!("Not sent: {reason}. Press Enter to try again."),
                }}
            </p>
        </form>
    }
}
