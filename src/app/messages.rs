//! The room's messages: the scrolling list (older history at the top, a pill for new
//! messages while scrolled up), each message as rich text with its reactions, and who
//! is typing under it. Once hydrated, a row offers what can be done with its message:
//!
//! - `actions.rs`: the toolbar shown on hover or focus (react; edit and delete your own),
//! - `reactions.rs`: the reactions under the text, each a toggle,
//! - `editor.rs`: editing your message in place,
//! - `page_html.rs`: the rows as the server writes them into the page.
//!
//! The server does not render the row components: it writes the rows' HTML directly
//! (`page_html.rs` says why), so outside the tests they only run in the browser.
#![cfg_attr(all(feature = "ssr", not(test)), allow(dead_code))]

mod actions;
mod editor;
#[cfg(feature = "ssr")]
mod page_html;
mod reactions;

use super::{
    SessionContext, client, derived,
    feed::{Feed, Messages, PAGE, typing_label},
    identity::Avatar,
    rich_text::RichText,
};
use crate::{
    awareness,
    message::{ChatMessage, DisplayName, MessageId, RoomName},
};
use leptos::{ev, html, prelude::*, task::spawn_local};

/// Scrolled this close to the top, the list loads older messages.
const LOAD_OLDER_WITHIN_PX: f64 = 120.0;

/// A sender's messages closer together than this share one header.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

/// One row of the list: a message, and whether it starts a group (shows who and when).
/// What an edit or a reaction changes is not here: the row reads it from the feed, so
/// that a change redraws its text or its reactions, not the row (which keeps the
/// focus, the scroll position and an edit in progress).
#[derive(Clone, PartialEq)]
struct Row {
    id: MessageId,
    sender: DisplayName,
    sent_at: String,
    first_of_group: bool,
}

fn rows(all: &Messages) -> Vec<Row> {
    grouped(all)
        .map(|(message, first_of_group)| Row {
            id: message.id,
            sender: message.sender.clone(),
            sent_at: message.sent_at.clone(),
            first_of_group,
        })
        .collect()
}

/// Each message, in order, and whether it starts a group.
fn grouped(all: &Messages) -> impl Iterator<Item = (&ChatMessage, bool)> {
    let mut previous: Option<(&DisplayName, u64)> = None;
    all.values().map(move |message| {
        let first_of_group = previous.is_none_or(|(sender, ms)| {
            sender != &message.sender || message.id.ms.saturating_sub(ms) > GROUP_GAP_MS
        });
        previous = Some((&message.sender, message.id.ms));
        (message, first_of_group)
    })
}

#[component]
pub fn MessageList(room: RoomName) -> impl IntoView {
    let feed = expect_context::<Feed>();
    let (messages, more_older) = (feed.messages, feed.more_older);
    let list = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let unread = RwSignal::new(0usize);
    let loading_older = RwSignal::new(false);
    // The live rows are in (until then the server's show: see `MessageLog`).
    let mounted = RwSignal::new(false);
    // The newest message as it stands: a new one, or a change to it (reactions make it
    // taller), is followed at the bottom; a change higher up moves nothing.
    let newest = Memo::new(move |_| messages.with(|all| all.values().next_back().cloned()));

    let scroll_to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(f64::from(list.scroll_height()));
        }
        unread.set(0);
    };

    // New messages at the bottom: follow them when at the bottom, else count them.
    Effect::new(move |newest_before: Option<Option<MessageId>>| {
        let newest = newest.with(|newest| newest.as_ref().map(|m| m.id));
        if let Some(Some(before)) = newest_before {
            let added = messages.with_untracked(|all| {
                let from = all.find_index(&before).unwrap_or_else(|at| at);
                (all.len() - from).saturating_sub(1)
            });
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
        // (Not before the live rows are in: older ones would not show, and the scroll
        // position kept for them would be wrong.)
        if loading_older.get_untracked() || !more_older.get_untracked() || !mounted.get_untracked()
        {
            return;
        }
        let Some(oldest) = messages.with_untracked(|all| all.first().map(|(id, _)| *id)) else {
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
                // (`scroll_top` is a float with web-sys's unstable APIs, which Web Locks
                // need: see .cargo/config.toml.)
                let (height, top) = (f64::from(list.scroll_height()), list.scroll_top());
                feed.add(page);
                // Keep the same messages in view after the ones above them arrive.
                request_animation_frame(move || {
                    list.set_scroll_top(top + f64::from(list.scroll_height()) - height)
                });
            }
            loading_older.set(false);
        });
    };

    // Once the live rows are in: follow what arrived below the server's rows, or load
    // the older messages asked for by a scroll to the top meanwhile.
    let load_older_asked = load_older.clone();
    Effect::new(move |_| {
        if !mounted.get() {
            return;
        }
        if at_bottom.get_untracked() {
            request_animation_frame(scroll_to_bottom);
        } else if list
            .get_untracked()
            .is_some_and(|list| list.scroll_top() < LOAD_OLDER_WITHIN_PX)
        {
            load_older_asked();
        }
    });

    let on_scroll = move |_: ev::Event| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        let bottom =
            f64::from(list.scroll_height() - list.client_height()) - list.scroll_top() < 40.0;
        at_bottom.set(bottom);
        if bottom {
            unread.set(0);
        }
        if list.scroll_top() < LOAD_OLDER_WITHIN_PX {
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
            <MessageLog mounted />
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

/// The rows. On the server, their HTML written directly (`page_html.rs`); in the
/// browser, the live rows, which replace the server's rather than hydrate them once the
/// page is live (`later.rs`). They become a live region (`role="log"`) only then, so that a screen
/// reader does not read the whole page of messages out as new. `mounted` is set once
/// they are in.
#[component]
fn MessageLog(mounted: RwSignal<bool>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        let session = expect_context::<SessionContext>();
        let feed = expect_context::<Feed>();
        let html = feed
            .messages
            .with_untracked(|all| page_html::rows_html(all, session.name_untracked().as_ref()));
        let _ = mounted;
        view! { <ol class="message-log" aria-label="Messages" inner_html=html></ol> }
    }
    #[cfg(not(feature = "ssr"))]
    {
        let log = NodeRef::<html::Ol>::new();
        log.on_load(move |log| super::later::add_rows(log, mounted));
        view! { <ol class="message-log" aria-label="Messages" node_ref=log></ol> }
    }
}

/// Puts the live rows into `log`, in place of whatever the server sent there (called
/// by `later::mount_parts` once the page is live).
#[cfg(not(feature = "ssr"))]
pub(super) fn mount_rows(log: &web_sys::HtmlOListElement, session: SessionContext) {
    use super::Hydrated;
    use leptos::tachys::view::{Mountable, Render};
    let messages = expect_context::<Feed>().messages;
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let me = Memo::new(move |_| session.name());
    let rows = Memo::new(move |_| messages.with(rows));
    let mut live = view! {
        <For each=move || rows.get() key=|row| (row.id, row.first_of_group) let(row)>
            <MessageRow row me hydrated />
        </For>
    }
    .build();
    log.replace_children_with_node_0();
    live.mount(log, None);
    for (name, value) in [
        ("role", "log"),
        ("aria-live", "polite"),
        ("aria-relevant", "additions"),
    ] {
        let _ = log.set_attribute(name, value);
    }
    // The rows stay live as long as the list: their state goes with its owner.
    let live = send_wrapper::SendWrapper::new(live);
    on_cleanup(move || drop(live));
}

/// What a row's parts share: the message as it now stands, and what is open over it.
#[derive(Clone, Copy)]
struct RowState {
    feed: Feed,
    id: MessageId,
    /// `None` for the moment between its deletion and the row's removal.
    message: Signal<Option<ChatMessage>>,
    me: Memo<Option<DisplayName>>,
    hydrated: ReadSignal<bool>,
    /// Yours, while your session holds the sender's name.
    mine: Signal<bool>,
    popup: RwSignal<Popup>,
    /// A change of this message is on its way: the next waits for its answer, so that
    /// two clicks cannot arrive in the wrong order.
    busy: RwSignal<bool>,
    /// Why the last change was refused, shown in the row.
    error: RwSignal<Option<String>>,
}

/// What is open over a row: at most one thing at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Popup {
    None,
    Picker,
    ConfirmDelete,
}

impl RowState {
    /// Sends a change of this message; `done` gets the answer, back on the page.
    fn change<T: 'static>(
        self,
        request: impl Future<Output = Result<T, String>> + 'static,
        done: impl FnOnce(T) + 'static,
    ) {
        if self.busy.get_untracked() {
            return;
        }
        self.busy.set(true);
        self.error.set(None);
        spawn_local(async move {
            match request.await {
                Ok(answer) => done(answer),
                Err(reason) => self.error.set(Some(reason)),
            }
            self.busy.set(false);
        });
    }

    /// Adds (`on`) or takes back your reaction `emoji`.
    fn react(self, emoji: String, on: bool) {
        let Some(before) = self.message.get_untracked() else {
            return;
        };
        let room = self.feed.room.get_value();
        let feed = self.feed;
        self.change(
            async move {
                client::react(&room, before.id, &emoji, on)
                    .await
                    .map(|a| (before, a))
            },
            move |(before, answer)| feed.answer(&before, answer),
        );
    }
}

#[component]
fn MessageRow(
    row: Row,
    me: Memo<Option<DisplayName>>,
    hydrated: ReadSignal<bool>,
) -> impl IntoView {
    let feed = expect_context::<Feed>();
    let Row {
        id,
        sender,
        sent_at,
        first_of_group,
    } = row;
    let message = derived(move || feed.messages.with(|all| all.get(&id).cloned()));
    let text =
        derived(move || message.with(|m| m.as_ref().map(|m| m.text.clone()).unwrap_or_default()));
    let edited_at = derived(move || message.with(|m| m.as_ref()?.edited_at.clone()));
    let mine = {
        let sender = sender.clone();
        derived(move || me.with(|me| me.as_ref().is_some_and(|me| me.same_name(&sender))))
    };
    let state = RowState {
        feed,
        id,
        message,
        me,
        hydrated,
        mine,
        popup: RwSignal::new(Popup::None),
        busy: RwSignal::new(false),
        error: RwSignal::new(None),
    };
    let editing = derived(move || {
        feed.editing
            .with(|e| e.as_ref().is_some_and(|e| e.id == id))
    });
    let mentions_me = move || {
        me.with(|me| {
            me.as_ref().is_some_and(|me| {
                !mine.get() && text.with(|text| awareness::mentions_name(text, me))
            })
        })
    };
    let clock = {
        let sent_at = sent_at.clone();
        move || client::clock(&sent_at, hydrated.get())
    };
    // The text, or the editor in its place. The editor reads the text once: a change
    // arriving meanwhile must not wipe what is being typed.
    let body = move || {
        if editing.get() {
            view! { <editor::Editor state initial=text.get_untracked() /> }.into_any()
        } else {
            view! { <RichText text=text.get() me /> }.into_any()
        }
    };
    view! {
        <li
            class="message"
            class:mine=mine
            class:mentions-me=mentions_me
            class:first=first_of_group
            class:editing=editing
            class:open=move || state.popup.get() != Popup::None
            data-id=id.to_string()
            // Focusable by a tap (not by Tab), so that a touch shows the row's actions.
            tabindex=move || hydrated.get().then_some("-1")
        >
            {first_of_group.then(|| view! {
                <div class="meta">
                    <Avatar name=sender.clone() />
                    <span class="sender">{sender.to_string()}</span>
                    <time datetime=sent_at>{clock}</time>
                </div>
            })}
            {body}
            {move || edited_at.get().map(|at| view! {
                <span class="edited" title=at>"(edited)"</span>
            })}
            <reactions::ReactionBar state />
            {move || {
                (hydrated.get() && me.with(Option::is_some))
                    .then(|| view! { <actions::Actions state /> })
            }}
            {move || state.error.get().map(|reason| view! {
                <p class="row-error" role="alert">{reason}</p>
            })}
        </li>
    }
}

/// "alice is typing…" under the list; never yourself.
#[component]
pub fn TypingLine() -> impl IntoView {
    let feed = expect_context::<Feed>();
    let session = expect_context::<SessionContext>();
    let label = move || {
        let me = session.name();
        let names: Vec<DisplayName> = feed.typing.with(|typing| {
            typing
                .iter()
                .filter(|t| me.as_ref().is_none_or(|me| !me.same_name(&t.name)))
                .map(|t| t.name.clone())
                .collect()
        });
        typing_label(&names)
    };
    view! { <p class="typing" aria-live="polite">{label}</p> }
}

#[cfg(all(test, feature = "ssr"))]
mod tests;
