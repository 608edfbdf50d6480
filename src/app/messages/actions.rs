//! A row's toolbar, drawn once hydrated and shown on hover or focus (a tap focuses the
//! row on touch screens): "Add reaction" for everyone signed in, with the quick
//! reactions; Edit and Delete on your own messages. Delete asks first, in the row.
//! Escape closes what is open and gives the focus back to the button that opened it.

use super::{Popup, RowState};
use crate::{
    app::{client, composer::COMPOSER_ID as COMPOSER, feed::Editing},
    message::{MAX_EMOJI_PER_MESSAGE, QUICK_REACTIONS},
};
use leptos::{ev, prelude::*};

#[component]
pub(super) fn Actions(state: RowState) -> impl IntoView {
    let (id, popup) = (state.id, state.popup);
    let react_id = format!("react-{id}");
    let delete_id = format!("delete-{id}");
    let picker_id = format!("picker-{id}");
    let pick_id = move |index: usize| format!("pick-{id}-{index}");

    // The quick reactions not on the message yet (while it may take another emoji).
    let offered = Memo::new(move |_| {
        state.message.with(|m| {
            let Some(m) = m else {
                return Vec::new();
            };
            if m.reactions.len() >= MAX_EMOJI_PER_MESSAGE {
                return Vec::new();
            }
            QUICK_REACTIONS
                .into_iter()
                .filter(|emoji| m.reactions.iter().all(|r| r.emoji != *emoji))
                .collect::<Vec<_>>()
        })
    });
    let picking = Memo::new(move |_| popup.get() == Popup::Picker);
    let confirming = Memo::new(move |_| popup.get() == Popup::ConfirmDelete);

    let close = {
        let (react_id, delete_id) = (react_id.clone(), delete_id.clone());
        move || {
            let back = match popup.get_untracked() {
                Popup::None => return false,
                Popup::Picker => &react_id,
                Popup::ConfirmDelete => &delete_id,
            };
            popup.set(Popup::None);
            client::focus_by_id(back, COMPOSER);
            true
        }
    };
    let keydown = {
        let close = close.clone();
        move |event: ev::KeyboardEvent| {
            if event.key() == "Escape" && close() {
                event.prevent_default();
                // Not the list's, nor the editor's.
                event.stop_propagation();
            }
        }
    };
    let toggle_picker = move |_| {
        if picking.get_untracked() {
            popup.set(Popup::None);
        } else {
            popup.set(Popup::Picker);
            // The first quick reaction offered: the others are hidden.
            let first = offered.with_untracked(|o| o.first().copied());
            let index = QUICK_REACTIONS.iter().position(|e| Some(*e) == first);
            client::focus_by_id(&pick_id(index.unwrap_or(0)), &format!("react-{id}"));
        }
    };
    let pick = {
        let close = close.clone();
        move |emoji: &'static str| {
            state.react(emoji.to_owned(), true);
            close();
        }
    };
    let edit = move |_| {
        popup.set(Popup::None);
        state.feed.editing.set(Some(Editing {
            id,
            return_to: format!("edit-{id}"),
            draft: None,
        }));
    };
    let ask = move |_| {
        popup.set(Popup::ConfirmDelete);
        client::focus_by_id(&format!("cancel-delete-{id}"), COMPOSER);
    };
    let delete = move |_| {
        popup.set(Popup::None);
        let (room, feed) = (state.feed.room.get_value(), state.feed);
        state.change(
            async move { client::delete_message(&room, id).await },
            move |()| {
                feed.remove(id);
                client::focus_by_id(COMPOSER, COMPOSER);
            },
        );
    };

    // One static structure, its parts shown and hidden by signals: far less WASM than a
    // `Show` per part (each one a type-erased view with its whole render machinery).
    let (mine, busy) = (state.mine, state.busy);
    view! {
        <div class="actions" role="group" aria-label="Message actions" on:keydown=keydown>
            <button
                type="button"
                id=react_id
                class="action"
                aria-label="Add reaction"
                title="Add reaction"
                hidden=move || confirming.get() || offered.with(Vec::is_empty)
                aria-expanded=move || picking.get().to_string()
                aria-controls=picker_id.clone()
                disabled=move || busy.get()
                on:click=toggle_picker
            >
                "☺+"
            </button>
            <button
                type="button"
                id=format!("edit-{id}")
                class="action"
                aria-label="Edit message"
                hidden=move || confirming.get() || !mine.get()
                on:click=edit
            >
                "Edit"
            </button>
            <button
                type="button"
                id=delete_id
                class="action"
                aria-label="Delete message"
                hidden=move || confirming.get() || !mine.get()
                disabled=move || busy.get()
                on:click=ask
            >
                "Delete"
            </button>
            <span class="confirm-text" hidden=move || !confirming.get()>
                "Delete this message?"
            </span>
            <button
                type="button"
                class="action danger"
                hidden=move || !confirming.get()
                on:click=delete
            >
                "Delete"
            </button>
            <button
                type="button"
                id=format!("cancel-delete-{id}")
                class="action"
                hidden=move || !confirming.get()
                on:click=move |_| {
                    close();
                }
            >
                "Cancel"
            </button>
            <div
                id=picker_id
                class="picker"
                role="group"
                aria-label="Pick a reaction"
                hidden=move || !picking.get()
            >
                {QUICK_REACTIONS
                    .into_iter()
                    .enumerate()
                    .map(|(index, emoji)| {
                        let pick = pick.clone();
                        view! {
                            <button
                                type="button"
                                id=pick_id(index)
                                class="pick"
                                aria-label=format!("React with {emoji}")
                                hidden=move || offered.with(|o| !o.contains(&emoji))
                                on:click=move |_| pick(emoji)
                            >
                                {emoji}
                            </button>
                        }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}
