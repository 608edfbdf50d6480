//! The message box. Enter sends (into the outbox, which the sending tab empties: see
//! `outbox`) and Shift+Enter starts a new line; while you type, the room is told (at most
//! every 2 s); typing `@` offers the names of the people here; Up in the empty box edits
//! your last message.
//! Without JavaScript it is a plain form post to a server function that redirects back
//! to the room.

use super::{
    Hydrated, SessionContext, client,
    data::Post,
    feed::{self, Editing, Feed},
    identity::Avatar,
    outbox::Outbox,
};
use crate::{
    awareness::{self, TYPING_THROTTLE_MS},
    message::{DisplayName, MessageText, RoomName},
};
use leptos::{ev, html, prelude::*, server_fn::ServerFn, task::spawn_local};

/// The message box's element id: where the focus goes back after editing a message.
pub const COMPOSER_ID: &str = "composer-text";

/// How many names the `@` list offers at most.
const SUGGESTIONS: usize = 8;

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

/// The `@name` being typed: where its `@` is (a byte index) and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct MentionQuery {
    at: usize,
    prefix: String,
}

#[component]
pub fn Composer(room: RoomName) -> impl IntoView {
    let Hydrated(hydrated) = expect_context::<Hydrated>();
    let feed = expect_context::<Feed>();
    let session = expect_context::<SessionContext>();
    let outbox = expect_context::<Outbox>();
    let text = RwSignal::new(String::new());
    let sending = RwSignal::new(Sending::Idle);
    // One key per message, given as it is typed: every try to send it uses it, so it
    // cannot post twice.
    let client_id = StoredValue::new(client::new_client_id());
    let textarea = NodeRef::<html::Textarea>::new();
    let last_typing = StoredValue::new(f64::NEG_INFINITY);

    // `@` completion: what is being typed, the names it matches, the highlighted one.
    let query = RwSignal::new(None::<MentionQuery>);
    let active = RwSignal::new(0usize);
    let options = Memo::new(move |_| {
        let Some(query) = query.get() else {
            return Vec::new();
        };
        let me = session.name();
        feed.members.with(|members| {
            members.as_ref().map_or_else(Vec::new, |m| {
                suggestions(&m.online, me.as_ref(), &query.prefix)
            })
        })
    });
    let listing = move || options.with(|o| !o.is_empty());

    let caret = move || {
        let textarea = textarea.get_untracked()?;
        let utf16 = textarea.selection_start().ok()??;
        Some(byte_index(&textarea.value(), utf16 as usize))
    };
    let find_query = move || {
        let found = caret().and_then(|caret| text.with_untracked(|t| mention_query(t, caret)));
        if found != query.get_untracked() {
            active.set(0);
            query.set(found);
        }
    };
    let complete = move |index: usize| {
        let (Some(found), Some(name), Some(caret), Some(textarea)) = (
            query.get_untracked(),
            options.with_untracked(|o| o.get(index).cloned()),
            caret(),
            textarea.get_untracked(),
        ) else {
            return;
        };
        let (completed, new_caret) = text.with_untracked(|t| complete(t, found.at, caret, &name));
        textarea.set_value(&completed);
        let utf16 = completed[..new_caret].encode_utf16().count() as u32;
        let _ = textarea.set_selection_range(utf16, utf16);
        text.set(completed);
        query.set(None);
        // The binding writes the same value again on its next run; put the caret back.
        request_animation_frame(move || {
            let _ = textarea.set_selection_range(utf16, utf16);
        });
    };

    // An unsent message taken back from the outbox, to be edited: its text, and its key.
    Effect::new(move |_| {
        if let Some((id, taken)) = outbox.taken_back.get() {
            outbox.taken_back.set(None);
            client_id.set_value(id);
            text.set(taken);
            client::focus_by_id(COMPOSER_ID, COMPOSER_ID);
        }
    });
    let send = {
        let room = room.clone();
        move || {
            let body = text.get_untracked();
            let Some(sender) = session.name_untracked() else {
                return;
            };
            if MessageText::parse(&body).is_err() {
                return;
            }
            match send_later(
                outbox,
                session,
                room.clone(),
                sender,
                body,
                client_id.get_value(),
            ) {
                Ok(()) => {
                    text.set(String::new());
                    client_id.set_value(client::new_client_id());
                    sending.set(Sending::Idle);
                }
                Err(reason) => sending.set(Sending::Failed(reason)),
            }
        }
    };
    // Tells the room you are typing, at most once per throttle window, and only about
    // text that is there.
    let typing = move |room: &RoomName| {
        let now = client::now_ms();
        if text.with_untracked(|t| t.trim().is_empty())
            || now - last_typing.get_value() < TYPING_THROTTLE_MS as f64
        {
            return;
        }
        last_typing.set_value(now);
        let room = room.clone();
        spawn_local(async move {
            let _ = client::post_typing(&room).await;
        });
    };
    let submit = {
        let send = send.clone();
        move |event: ev::SubmitEvent| {
            event.prevent_default();
            send();
        }
    };
    let keydown = move |event: ev::KeyboardEvent| {
        if listing() {
            let count = options.with_untracked(Vec::len);
            match event.key().as_str() {
                "ArrowDown" => active.update(|i| *i = (*i + 1) % count),
                "ArrowUp" => active.update(|i| *i = (*i + count - 1) % count),
                "Enter" | "Tab" => complete(active.get_untracked().min(count - 1)),
                "Escape" => query.set(None),
                _ => return,
            }
            event.prevent_default();
            return;
        }
        if event.key() == "Enter" && !event.shift_key() && !event.is_composing() {
            event.prevent_default();
            send();
        }
        let plain = !(event.shift_key() || event.alt_key() || event.ctrl_key() || event.meta_key());
        if event.key() == "ArrowUp" && plain && text.with_untracked(String::is_empty) {
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
    };
    let empty = move || text.with(|t| t.trim().is_empty());
    let option_id = |index: usize| format!("mention-option-{index}");

    view! {
        <form class="composer" method="post" action=Post::url() on:submit=submit>
            <input type="hidden" name="room" value=room.to_string() />
            <input type="hidden" name="client_id" value=client_id.get_value() />
            <label class="visually-hidden" for=COMPOSER_ID>"Message"</label>
            <Show when=listing>
                <ul id="mention-options" class="mention-options" role="listbox" aria-label="People to mention">
                    <For
                        each=move || options.get().into_iter().enumerate()
                        key=|(index, name)| (*index, name.clone())
                        children=move |(index, name): (usize, DisplayName)| {
                            view! {
                                <li
                                    id=option_id(index)
                                    role="option"
                                    class:active=move || active.get() == index
                                    aria-selected=move || (active.get() == index).to_string()
                                    // Keep the focus in the box: the click completes.
                                    on:mousedown=move |event| {
                                        event.prevent_default();
                                        complete(index);
                                    }
                                >
                                    <Avatar name=name.clone() />
                                    <span class="option-name">{name.to_string()}</span>
                                </li>
                            }
                        }
                    />
                </ul>
            </Show>
            <textarea
                id=COMPOSER_ID
                name="text"
                rows="1"
                maxlength="4000"
                placeholder=format!("Message #{room}")
                node_ref=textarea
                prop:value=text
                aria-autocomplete="list"
                aria-controls="mention-options"
                aria-activedescendant=move || listing().then(|| option_id(active.get()))
                on:input={
                    let room = room.clone();
                    move |event| {
                        text.set(event_target_value(&event));
                        if matches!(sending.get_untracked(), Sending::Failed(_)) {
                            sending.set(Sending::Idle);
                        }
                        find_query();
                        typing(&room);
                    }
                }
                on:click=move |_| find_query()
                on:keyup=move |event: ev::KeyboardEvent| {
                    if matches!(event.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                        find_query();
                    }
                }
                on:blur=move |_| query.set(None)
                on:keydown=keydown
                aria-describedby="composer-status"
            ></textarea>
            <button
                type="submit"
                // Only the browser disables it: without JavaScript it must stay usable.
                disabled=move || hydrated.get() && empty()
            >
                "Send"
            </button>
            <p id="composer-status" class="composer-status" role="status">
                {move || match sending.get() {
                    Sending::Idle => String::new(),
                    Sending::Failed(reason) => format!("Not sent: {reason}."),
                }}
            </p>
        </form>
    }
}

/// The `@name` being typed just before `caret` (a byte index), if any: an `@` at the
/// start or after a character that cannot be in a name, then name characters only.
fn mention_query(text: &str, caret: usize) -> Option<MentionQuery> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let prefix = &before[at + 1..];
    let starts = awareness::mention_can_start(before[..at].chars().next_back());
    (starts && prefix.chars().all(awareness::mention_char)).then(|| MentionQuery {
        at,
        prefix: prefix.to_owned(),
    })
}

/// The people here whose name starts with `prefix` (case-insensitively), but you.
fn suggestions(online: &[DisplayName], me: Option<&DisplayName>, prefix: &str) -> Vec<DisplayName> {
    let prefix = prefix.to_lowercase();
    online
        .iter()
        .filter(|name| me.is_none_or(|me| !me.same_name(name)))
        .filter(|name| name.canonical().starts_with(&prefix))
        .take(SUGGESTIONS)
        .cloned()
        .collect()
}

/// `text` with the mention typed from `at` to `caret` replaced by `@name `, and where
/// the caret goes then (byte indexes).
fn complete(text: &str, at: usize, caret: usize, name: &DisplayName) -> (String, usize) {
    let rest = &text[caret..];
    let space = if rest.starts_with(' ') { "" } else { " " };
    let completed = format!("{}@{name}{space}{rest}", &text[..at]);
    let new_caret = at + 1 + name.as_str().len() + 1;
    (completed, new_caret)
}

/// The byte index in `text` of a UTF-16 offset (what the DOM's selection counts in).
fn byte_index(text: &str, utf16: usize) -> usize {
    let mut units = 0;
    for (index, c) in text.char_indices() {
        if units >= utf16 {
            return index;
        }
        units += c.len_utf16();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    fn query(text: &str) -> Option<(usize, String)> {
        mention_query(text, text.len()).map(|q| (q.at, q.prefix))
    }

    #[test]
    fn a_mention_is_being_typed_after_an_at_sign() {
        assert_eq!(query("@"), Some((0, String::new())));
        assert_eq!(query("hi @al"), Some((3, "al".into())));
        assert_eq!(query("(@Zoë"), Some((1, "Zoë".into())));
        assert_eq!(query("hi @al "), None);
        assert_eq!(query("mail a@b"), None);
        assert_eq!(query("no at"), None);
        assert_eq!(
            mention_query("@al and more", 3).map(|q| q.prefix),
            Some("al".into())
        );
    }

    #[test]
    fn suggestions_match_a_prefix_in_any_case_but_never_you() {
        let online = [name("Alice"), name("alfred"), name("bob"), name("ALF")];
        let me = name("alf");
        assert_eq!(
            suggestions(&online, Some(&me), "AL"),
            [name("Alice"), name("alfred")]
        );
        assert_eq!(suggestions(&online, None, "b"), [name("bob")]);
        assert_eq!(suggestions(&online, None, "").len(), 4);
    }

    #[test]
    fn completing_writes_the_name_and_a_space_and_moves_the_caret() {
        let (text, caret) = complete("hi @al", 3, 6, &name("Alice"));
        assert_eq!(text, "hi @Alice ");
        assert_eq!(caret, text.len());
        let (text, caret) = complete("@m there", 0, 2, &name("Mary Ann"));
        assert_eq!(text, "@Mary Ann there");
        assert_eq!(&text[caret..], "there");
    }

    #[test]
    fn utf16_offsets_become_byte_indexes() {
        assert_eq!(byte_index("abc", 2), 2);
        assert_eq!(byte_index("é@x", 1), 2);
        assert_eq!(byte_index("😀@", 2), 4);
        assert_eq!(byte_index("ab", 9), 2);
    }
}
