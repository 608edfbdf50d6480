//! The room's message rows, a part the page mounts once live (`later.rs`), in the list
//! of `message_list.rs`: each message as rich text with its reactions. Once hydrated, a
//! row offers what can be done with its message:
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
    feed::{Feed, Messages},
    identity::Avatar,
    rich_text::RichText,
};
use crate::{
    awareness,
    message::{ChatMessage, DisplayName, MessageId},
};
use leptos::{prelude::*, task::spawn_local};

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

/// The rows' HTML as the server writes them into the page (`page_html.rs` says why),
/// from the feed the room seeded.
#[cfg(feature = "ssr")]
pub(super) fn rows_html() -> String {
    let session = expect_context::<SessionContext>();
    let feed = expect_context::<Feed>();
    let viewer = session.name_untracked().map(super::data::ssr::holding);
    feed.messages
        .with_untracked(|all| page_html::rows_html(all, viewer.as_ref()))
}

/// Puts the live rows into `log`, in place of whatever the server sent there (called
/// by `later::mount_parts` once the page is live, like every part).
#[cfg(not(feature = "ssr"))]
pub(super) fn mount_rows(log: &web_sys::HtmlOListElement, session: SessionContext) {
    use super::Hydrated;
    use leptos::tachys::view::{Mountable, Render};
    let messages = expect_context::<Feed>().messages;
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let me = Memo::new(move |_| session.name());
    // When this session's holding of its name began, as the browser keeps it (a page
    // rendered signed in asks the server at once when it does not: `outbox::signed`).
    let since = Memo::new(move |_| {
        let me = session.name()?;
        let held = client::signed().filter(|held| held.name.same_name(&me));
        held.map(|held| held.since)
    });
    let rows = Memo::new(move |_| messages.with(rows));
    let mut live = view! {
        <For each=move || rows.get() key=|row| (row.id, row.first_of_group) let(row)>
            <MessageRow row me since hydrated />
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
    /// Yours: sent by your session's holding of the sender's name (not by an earlier
    /// holder of that name).
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
    /// When your session's holding of its name began (`SessionInfo::since`).
    since: Memo<Option<String>>,
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
        let (sender, sent_at) = (sender.clone(), sent_at.clone());
        derived(move || {
            since.with(|since| since.as_ref().is_some_and(|since| &sent_at >= since))
                && me.with(|me| me.as_ref().is_some_and(|me| me.same_name(&sender)))
        })
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

#[cfg(all(test, feature = "ssr"))]
mod tests;
