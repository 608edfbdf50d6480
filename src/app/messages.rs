//! The room's messages: the scrolling list (older history at the top, a pill for new
//! messages while scrolled up), each message with its `@name` mentions highlighted, and
//! who is typing under it.

use super::{
    Hydrated, SessionContext, client,
    feed::{Feed, Messages, PAGE, typing_label},
    identity::Avatar,
};
use crate::{
    awareness::{self, Segment},
    message::{ChatMessage, DisplayName, MessageId, RoomName},
};
use leptos::{ev, html, prelude::*, task::spawn_local};

/// A sender's messages closer together than this share one header.
const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

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
pub fn MessageList(room: RoomName) -> impl IntoView {
    let feed = expect_context::<Feed>();
    let (messages, more_older) = (feed.messages, feed.more_older);
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
                feed.add(page);
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
    let mentions_me = {
        let (sender, text) = (message.sender.clone(), message.text.clone());
        move || {
            me.with(|me| {
                me.as_ref()
                    .is_some_and(|me| !me.same_name(&sender) && awareness::mentions_name(&text, me))
            })
        }
    };
    let sent_at = message.sent_at.clone();
    let clock = {
        let sent_at = sent_at.clone();
        move || client::clock(&sent_at, hydrated.get())
    };
    view! {
        <li
            class="message"
            class:mine=mine
            class:mentions-me=mentions_me
            class:first=first_of_group
            data-id=message.id.to_string()
        >
            {first_of_group.then(|| view! {
                <div class="meta">
                    <Avatar name=message.sender.clone() />
                    <span class="sender">{message.sender.to_string()}</span>
                    <time datetime=sent_at>{clock}</time>
                </div>
            })}
            <p class="text">{text_with_mentions(&message.text)}</p>
        </li>
    }
}

/// A message's text as text nodes, with each `@name` in a `<span class="mention">`.
/// Never markup: Leptos writes every piece as a text node.
fn text_with_mentions(text: &str) -> Vec<AnyView> {
    awareness::segments(text)
        .into_iter()
        .map(|segment| match segment {
            Segment::Text(plain) => plain.to_owned().into_any(),
            Segment::Mention(mention) => {
                view! { <span class="mention">{mention.to_owned()}</span> }.into_any()
            }
        })
        .collect()
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
