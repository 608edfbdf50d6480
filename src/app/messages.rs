//! The room's messages: the scrolling list (older history at the top, a pill for new
//! messages while scrolled up), each message as rich text with its reactions, and who
//! is typing under it. Once hydrated, a row offers what can be done with its message:
//!
//! - `actions.rs`: the toolbar shown on hover or focus (react; edit and delete your own),
//! - `reactions.rs`: the reactions under the text, each a toggle,
//! - `editor.rs`: editing your message in place.

mod actions;
mod editor;
mod reactions;

use super::{
    Hydrated, SessionContext, client, derived,
    feed::{Feed, Messages, PAGE, typing_label},
    identity::Avatar,
    rich_text::RichText,
};
use crate::{
    awareness,
    message::{ChatMessage, DisplayName, MessageId, RoomName},
};
use leptos::{ev, html, prelude::*, task::spawn_local};

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
    let mut previous: Option<(&DisplayName, u64)> = None;
    all.values()
        .map(|message| {
            let first_of_group = previous.is_none_or(|(sender, ms)| {
                sender != &message.sender || message.id.ms.saturating_sub(ms) > GROUP_GAP_MS
            });
            previous = Some((&message.sender, message.id.ms));
            Row {
                id: message.id,
                sender: message.sender.clone(),
                sent_at: message.sent_at.clone(),
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
        if list.scroll_top() < 120.0 {
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
            <ol class="message-log" role="log" aria-live="polite" aria-relevant="additions" aria-label="Messages">
                <For each=move || rows.get() key=|row| (row.id, row.first_of_group) let(row)>
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
mod tests {
    use super::*;
    use crate::message::Reaction;

    fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    /// A message's row as the server renders it for `viewer`.
    fn rendered(viewer: &str, message: ChatMessage) -> String {
        let owner = Owner::new();
        owner.with(|| {
            let feed = Feed::new(message.room.clone());
            feed.add([message]);
            provide_context(feed);
            let row = feed.messages.with_untracked(rows).remove(0);
            let viewer = name(viewer);
            let me = Memo::new(move |_| Some(viewer.clone()));
            let hydrated = signal(false).0;
            view! { <MessageRow row me hydrated /> }.to_html()
        })
    }

    #[test]
    fn without_javascript_reactions_and_edits_show_and_nothing_offers_a_change() {
        let mut message = ChatMessage::new(
            MessageId::new(1_732_400_000_000, 0),
            RoomName::parse("dev").unwrap(),
            name("alice"),
            "hi".into(),
        );
        message.edited_at = Some("2026-11-23T22:01:00.000Z".into());
        message.reactions = vec![Reaction {
            emoji: "👍".into(),
            names: vec![name("bob"), name("Alice")],
        }];
        let html = rendered("alice", message);

        let button = &html[html.find("<button").expect("a reaction")..];
        let button = &button[..button.find("</button>").unwrap()];
        assert!(button.contains(r#"class="reaction mine""#), "{button}");
        assert!(button.contains(r#"aria-pressed="true""#), "{button}");
        assert!(button.contains(r#"title="bob, Alice""#), "{button}");
        assert!(button.contains(" disabled"), "{button}");
        assert!(button.contains("👍") && button.contains(">2<"), "{button}");
        // (Leptos may put a `<!>` marker after a text node.)
        let edited = &html[..html.find(">(edited)<").expect("marked edited")];
        let edited = &edited[edited.rfind("<span").unwrap()..];
        assert!(edited.contains(r#"class="edited""#), "{edited}");
        assert!(
            edited.contains(r#"title="2026-11-23T22:01:00.000Z""#),
            "{edited}"
        );
        for action in ["Edit message", "Delete message", "Add reaction"] {
            assert!(!html.contains(action), "{action} without JavaScript");
        }
    }
}
