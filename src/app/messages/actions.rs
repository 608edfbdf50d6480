//! A row's toolbar, drawn once hydrated and shown on hover or focus (a tap focuses the
//! row on touch screens): "Add reaction" for everyone signed in, with the quick
//! reactions; Edit and Delete on your own messages. Delete asks first, in the row.
//! Escape closes what is open and gives the focus back to the button that opened it.
//!
//! One static structure, its parts shown and hidden by signals: far less WASM than a
//! `Show` per part (each one a type-erased view with its whole render machinery).

use super::{Popup, RowState};
use crate::{
    app::{client, composer::COMPOSER_ID as COMPOSER, feed::Editing},
    message::{MAX_EMOJI_PER_MESSAGE, MessageId, QUICK_REACTIONS},
};
use leptos::{ev, prelude::*};

/// The toolbar's state and what its buttons do.
#[derive(Clone, Copy)]
struct Toolbar {
    state: RowState,
    /// The quick reactions not on the message yet (while it may take another emoji).
    offered: Memo<Vec<&'static str>>,
    picking: Memo<bool>,
    confirming: Memo<bool>,
}

fn react_id(id: MessageId) -> String {
    format!("react-{id}")
}

fn delete_id(id: MessageId) -> String {
    format!("delete-{id}")
}

fn picker_id(id: MessageId) -> String {
    format!("picker-{id}")
}

fn pick_id(id: MessageId, index: usize) -> String {
    format!("pick-{id}-{index}")
}

impl Toolbar {
    fn new(state: RowState) -> Self {
        let popup = state.popup;
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
        Self {
            state,
            offered,
            picking: Memo::new(move |_| popup.get() == Popup::Picker),
            confirming: Memo::new(move |_| popup.get() == Popup::ConfirmDelete),
        }
    }

    /// Closes what is open, the focus back on the button that opened it: `false` when
    /// nothing was.
    fn close(self) -> bool {
        let id = self.state.id;
        let back = match self.state.popup.get_untracked() {
            Popup::None => return false,
            Popup::Picker => react_id(id),
            Popup::ConfirmDelete => delete_id(id),
        };
        self.state.popup.set(Popup::None);
        client::focus_by_id(&back, COMPOSER);
        true
    }

    fn toggle_picker(self) {
        let (id, popup) = (self.state.id, self.state.popup);
        if self.picking.get_untracked() {
            popup.set(Popup::None);
            return;
        }
        popup.set(Popup::Picker);
        // The first quick reaction offered: the others are hidden.
        let first = self.offered.with_untracked(|o| o.first().copied());
        let index = QUICK_REACTIONS.iter().position(|e| Some(*e) == first);
        client::focus_by_id(&pick_id(id, index.unwrap_or(0)), &react_id(id));
    }

    fn pick(self, emoji: &'static str) {
        self.state.react(emoji.to_owned(), true);
        self.close();
    }

    fn edit(self) {
        let (id, state) = (self.state.id, self.state);
        state.popup.set(Popup::None);
        state.feed.editing.set(Some(Editing {
            id,
            return_to: format!("edit-{id}"),
            draft: None,
        }));
    }

    fn ask(self) {
        self.state.popup.set(Popup::ConfirmDelete);
        client::focus_by_id(&format!("cancel-delete-{}", self.state.id), COMPOSER);
    }

    fn delete(self) {
        let (id, state) = (self.state.id, self.state);
        state.popup.set(Popup::None);
        let (room, feed) = (state.feed.room.get_value(), state.feed);
        state.change(
            async move { client::delete_message(&room, id).await },
            move |()| {
                feed.remove(id);
                client::focus_by_id(COMPOSER, COMPOSER);
            },
        );
    }
}

#[component]
pub(super) fn Actions(state: RowState) -> impl IntoView {
    let toolbar = Toolbar::new(state);
    let keydown = move |event: ev::KeyboardEvent| {
        if event.key() == "Escape" && toolbar.close() {
            event.prevent_default();
            // Not the list's, nor the editor's.
            event.stop_propagation();
        }
    };
    view! {
        <div class="actions" role="group" aria-label="Message actions" on:keydown=keydown>
            <ReactButton toolbar />
            <OwnButtons toolbar />
            <ConfirmDelete toolbar />
            <Picker toolbar />
        </div>
    }
}

/// "Add reaction", which opens the picker.
#[component]
fn ReactButton(toolbar: Toolbar) -> impl IntoView {
    let Toolbar {
        state,
        offered,
        picking,
        confirming,
    } = toolbar;
    view! {
        <button
            type="button"
            id=react_id(state.id)
            class="action"
            aria-label="Add reaction"
            title="Add reaction"
            hidden=move || confirming.get() || offered.with(Vec::is_empty)
            aria-expanded=move || picking.get().to_string()
            aria-controls=picker_id(state.id)
            disabled=move || state.busy.get()
            on:click=move |_| toolbar.toggle_picker()
        >
            "☺+"
        </button>
    }
}

/// Edit and Delete, on your own messages.
#[component]
fn OwnButtons(toolbar: Toolbar) -> impl IntoView {
    let Toolbar {
        state, confirming, ..
    } = toolbar;
    let (mine, busy) = (state.mine, state.busy);
    view! {
        <button
            type="button"
            id=format!("edit-{}", state.id)
            class="action"
            aria-label="Edit message"
            hidden=move || confirming.get() || !mine.get()
            on:click=move |_| toolbar.edit()
        >
            "Edit"
        </button>
        <button
            type="button"
            id=delete_id(state.id)
            class="action"
            aria-label="Delete message"
            hidden=move || confirming.get() || !mine.get()
            disabled=move || busy.get()
            on:click=move |_| toolbar.ask()
        >
            "Delete"
        </button>
    }
}

/// "Delete this message?", with Delete and Cancel.
#[component]
fn ConfirmDelete(toolbar: Toolbar) -> impl IntoView {
    let Toolbar {
        state, confirming, ..
    } = toolbar;
    view! {
        <span class="confirm-text" hidden=move || !confirming.get()>
            "Delete this message?"
        </span>
        <button
            type="button"
            class="action danger"
            hidden=move || !confirming.get()
            on:click=move |_| toolbar.delete()
        >
            "Delete"
        </button>
        <button
            type="button"
            id=format!("cancel-delete-{}", state.id)
            class="action"
            hidden=move || !confirming.get()
            on:click=move |_| {
                toolbar.close();
            }
        >
            "Cancel"
        </button>
    }
}

/// The quick reactions not on the message yet.
#[component]
fn Picker(toolbar: Toolbar) -> impl IntoView {
    let Toolbar {
        state,
        offered,
        picking,
        ..
    } = toolbar;
    let id = state.id;
    view! {
        <div
            id=picker_id(id)
            class="picker"
            role="group"
            aria-label="Pick a reaction"
            hidden=move || !picking.get()
        >
            {QUICK_REACTIONS
                .into_iter()
                .enumerate()
                .map(|(index, emoji)| {
                    view! {
                        <button
                            type="button"
                            id=pick_id(id, index)
                            class="pick"
                            aria-label=format!("React with {emoji}")
                            hidden=move || offered.with(|o| !o.contains(&emoji))
                            on:click=move |_| toolbar.pick(emoji)
                        >
                            {emoji}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
