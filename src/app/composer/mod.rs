//! The message box. Enter sends (into the outbox, which the sending tab empties: see
//! `outbox`) and Shift+Enter starts a new line; while you type, the room is told (at most
//! every 2 s); typing `@` offers the names of the people here (`mention.rs`); Up in the
//! empty box edits your last message.
//! Without JavaScript it is a plain form post to a server function that redirects back
//! to the room.

mod mention;

use super::{
    Hydrated, SessionContext, client,
    data::Post,
    feed::{self, Editing, Feed},
    outbox::Outbox,
};
use crate::{
    awareness::TYPING_THROTTLE_MS,
    message::{DisplayName, MessageText, RoomName},
};
use leptos::{ev, html, prelude::*, server_fn::ServerFn, task::spawn_local};
use mention::{MentionOptions, Mentions, OPTIONS_ID};

/// The message box's element id: where the focus goes back after editing a message.
pub const COMPOSER_ID: &str = "composer-text";

/// Why the last send could not even go into the outbox, if it could not.
#[derive(Clone, Debug, PartialEq)]
enum Sending {
    Idle,
    Failed(String),
}

/// Puts the message in the outbox (which sends it as soon as it can).
#[cfg(feature = "hydrate")]
fn send_later(
    outbox: Outbox,
    session: SessionContext,
    room: RoomName,
    sender: DisplayName,
    text: String,
    client_id: String,
) -> Result<(), String> {
    let unsent = super::outbox::Unsent {
        client_id,
        room,
        sender,
        // Given by `push`: the session it is typed in.
        session: String::new(),
        text,
        failed: None,
    };
    super::outbox::push(outbox, session, unsent)
}

#[cfg(not(feature = "hydrate"))]
fn send_later(
    _: Outbox,
    _: SessionContext,
    _: RoomName,
    _: DisplayName,
    _: String,
    _: String,
) -> Result<(), String> {
    Err("sending needs the browser".to_owned())
}

/// What is being written: its text, the key that every try to send it carries (given as
/// it is typed, so that it cannot post twice), and why the last send failed, if it did.
#[derive(Clone, Copy)]
struct Draft {
    text: RwSignal<String>,
    client_id: StoredValue<String>,
    sending: RwSignal<Sending>,
}

impl Draft {
    fn new() -> Self {
        let draft = Self {
            text: RwSignal::new(String::new()),
            client_id: StoredValue::new(client::new_client_id()),
            sending: RwSignal::new(Sending::Idle),
        };
        // An unsent message taken back from the outbox, to be edited: its text, and its key.
        let outbox = expect_context::<Outbox>();
        Effect::new(move |_| {
            if let Some((id, taken)) = outbox.taken_back.get() {
                outbox.taken_back.set(None);
                draft.client_id.set_value(id);
                draft.text.set(taken);
                client::focus_by_id(COMPOSER_ID, COMPOSER_ID);
            }
        });
        draft
    }

    fn is_empty(self) -> bool {
        self.text.with(|t| t.trim().is_empty())
    }

    /// What was typed, as typed.
    fn typed(self, value: String) {
        self.text.set(value);
        if matches!(self.sending.get_untracked(), Sending::Failed(_)) {
            self.sending.set(Sending::Idle);
        }
    }

    /// Puts the message in the outbox, and starts a new one.
    fn send(self, room: &RoomName, session: SessionContext, outbox: Outbox) {
        let body = self.text.get_untracked();
        let Some(sender) = session.name_untracked() else {
            return;
        };
        if MessageText::parse(&body).is_err() {
            return;
        }
        let client_id = self.client_id.get_value();
        match send_later(outbox, session, room.clone(), sender, body, client_id) {
            Ok(()) => {
                self.text.set(String::new());
                self.client_id.set_value(client::new_client_id());
                self.sending.set(Sending::Idle);
            }
            Err(reason) => self.sending.set(Sending::Failed(reason)),
        }
    }

    /// The line under the box: why the last send failed.
    fn status(self) -> String {
        match self.sending.get() {
            Sending::Idle => String::new(),
            Sending::Failed(reason) => format!("Not sent: {reason}."),
        }
    }
}

/// Tells the room you are typing, at most once per throttle window, and only about text
/// that is there.
fn announce_typing(room: &RoomName, draft: Draft, last: StoredValue<f64>) {
    let now = client::now_ms();
    if draft.text.with_untracked(|t| t.trim().is_empty())
        || now - last.get_value() < TYPING_THROTTLE_MS as f64
    {
        return;
    }
    last.set_value(now);
    let room = room.clone();
    spawn_local(async move {
        let _ = client::post_typing(&room).await;
    });
}

/// Up in the empty box edits your last message.
fn edit_last(event: &ev::KeyboardEvent, draft: Draft, feed: Feed, session: SessionContext) {
    let plain = !(event.shift_key() || event.alt_key() || event.ctrl_key() || event.meta_key());
    if event.key() != "ArrowUp" || !plain || !draft.text.with_untracked(String::is_empty) {
        return;
    }
    let last = session.name_untracked().and_then(|me| {
        feed.messages
            .with_untracked(|all| feed::newest_of(all, &me))
    });
    if let Some(id) = last {
        event.prevent_default();
        feed.editing.set(Some(Editing {
            id,
            return_to: COMPOSER_ID.to_owned(),
            draft: None,
        }));
    }
}

#[component]
pub fn Composer(room: RoomName) -> impl IntoView {
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let feed = expect_context::<Feed>();
    let session = expect_context::<SessionContext>();
    let outbox = expect_context::<Outbox>();
    let draft = Draft::new();
    let textarea = NodeRef::<html::Textarea>::new();
    let mentions = Mentions::new(draft.text, textarea);
    let last_typing = StoredValue::new(f64::NEG_INFINITY);

    let submit = {
        let room = room.clone();
        move |event: ev::SubmitEvent| {
            event.prevent_default();
            draft.send(&room, session, outbox);
        }
    };
    let keydown = {
        let room = room.clone();
        move |event: ev::KeyboardEvent| {
            if mentions.keydown(&event) {
                return;
            }
            if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
                event.prevent_default();
                draft.send(&room, session, outbox);
            }
            edit_last(&event, draft, feed, session);
        }
    };
    let input = {
        let room = room.clone();
        move |event| {
            draft.typed(event_target_value(&event));
            mentions.find();
            announce_typing(&room, draft, last_typing);
        }
    };

    view! {
        <form class="composer" method="post" action=Post::url() on:submit=submit>
            <input type="hidden" name="room" value=room.to_string() />
            <input type="hidden" name="client_id" value=draft.client_id.get_value() />
            <label class="visually-hidden" for=COMPOSER_ID>"Message"</label>
            <MentionOptions mentions />
            <textarea
                id=COMPOSER_ID
                name="text"
                rows="1"
                maxlength="4000"
                placeholder=format!("Message #{room}")
                node_ref=textarea
                prop:value=draft.text
                aria-autocomplete="list"
                aria-controls=OPTIONS_ID
                aria-activedescendant=move || mentions.active_id()
                on:input=input
                on:click=move |_| mentions.find()
                on:keyup=move |event: ev::KeyboardEvent| {
                    if matches!(event.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                        mentions.find();
                    }
                }
                on:blur=move |_| mentions.close()
                on:keydown=keydown
                aria-describedby="composer-status"
            ></textarea>
            <button
                type="submit"
                // Only the browser disables it: without JavaScript it must stay usable.
                disabled=move || hydrated.get() && draft.is_empty()
            >
                "Send"
            </button>
            <p id="composer-status" class="composer-status" role="status">
                {move || draft.status()}
            </p>
        </form>
    }
}
