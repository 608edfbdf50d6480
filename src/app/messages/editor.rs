//! Editing your message in place: its text becomes a box. Enter saves, Shift+Enter
//! starts a new line, Escape cancels; then the focus goes back where it came from (the
//! row's Edit button, or the composer after Up).

use super::RowState;
use crate::{
    app::{client, composer::COMPOSER_ID as COMPOSER},
    message::MessageText,
};
use leptos::{ev, html, prelude::*};

/// An edit in progress: the row, the text as it was, the text as typed, and where the
/// focus goes back when it ends.
#[derive(Clone, Copy)]
struct Edit {
    state: RowState,
    initial: StoredValue<String>,
    draft: RwSignal<String>,
    return_to: StoredValue<String>,
}

impl Edit {
    fn new(state: RowState, initial: String) -> Self {
        // A row drawn again while its message is being edited picks the draft up again.
        let editing = state.feed.editing;
        let kept = editing.with_untracked(|e| e.as_ref().and_then(|e| e.draft.clone()));
        let return_to = editing
            .get_untracked()
            .map_or_else(|| COMPOSER.to_owned(), |e| e.return_to);
        Self {
            state,
            draft: RwSignal::new(kept.unwrap_or_else(|| initial.clone())),
            initial: StoredValue::new(initial),
            return_to: StoredValue::new(return_to),
        }
    }

    /// What was typed: kept with the feed's edit too (untracked: the rows need not hear
    /// of every keystroke).
    fn typed(self, typed: String) {
        self.state.feed.editing.update_untracked(|e| {
            if let Some(e) = e.as_mut() {
                e.draft = Some(typed.clone());
            }
        });
        self.draft.set(typed);
        self.state.error.set(None);
    }

    /// Ends the edit, and gives the focus back.
    fn finish(self) {
        self.state.feed.editing.set(None);
        // (`try_`: the message may have been deleted, and this editor with it, while
        // the edit was on its way.)
        let back = self.return_to.try_get_value();
        client::focus_by_id(back.as_deref().unwrap_or(COMPOSER), COMPOSER);
    }

    fn cancel(self) {
        self.state.error.set(None);
        self.finish();
    }

    /// Sends the new text, if it is new; ends the edit once it is saved.
    fn save(self) {
        let text = self.draft.get_untracked();
        if self.initial.with_value(|initial| *initial == text) {
            self.finish();
            return;
        }
        let state = self.state;
        if let Err(invalid) = MessageText::parse(&text) {
            state.error.set(Some(invalid.to_string()));
            return;
        }
        let Some(before) = state.message.get_untracked() else {
            return;
        };
        let (room, feed) = (state.feed.room.get_value(), state.feed);
        state.change(
            async move {
                client::edit_message(&room, before.id, &text)
                    .await
                    .map(|answer| (before, answer))
            },
            move |(before, answer)| {
                feed.answer(&before, answer);
                self.finish();
            },
        );
    }

    fn keydown(self, event: ev::KeyboardEvent) {
        match event.key().as_str() {
            "Enter" if !event.shift_key() && !event.is_composing() => {
                event.prevent_default();
                self.save();
            }
            "Escape" => {
                event.prevent_default();
                self.cancel();
            }
            _ => {}
        }
    }
}

#[component]
pub(super) fn Editor(state: RowState, initial: String) -> impl IntoView {
    let edit = Edit::new(state, initial);
    let area = NodeRef::<html::Textarea>::new();
    // Into the box, after the text.
    Effect::new(move |_| {
        let Some(area) = area.get() else {
            return;
        };
        let end = area.value().encode_utf16().count() as u32;
        let _ = area.focus();
        let _ = area.set_selection_range(end, end);
    });
    let hint_id = format!("edit-hint-{}", state.id);
    view! {
        <div class="editor">
            <textarea
                id=format!("edit-text-{}", state.id)
                class="edit-text"
                aria-label="Edit message"
                aria-describedby=hint_id.clone()
                rows="2"
                maxlength="4000"
                node_ref=area
                prop:value=edit.draft
                on:input=move |event| edit.typed(event_target_value(&event))
                on:keydown=move |event| edit.keydown(event)
            ></textarea>
            <div class="editor-foot">
                <span id=hint_id class="muted">
                    "Enter to save · Esc to cancel"
                </span>
                <button type="button" class="quiet" on:click=move |_| edit.cancel()>
                    "Cancel"
                </button>
                <button type="button" disabled=move || state.busy.get() on:click=move |_| edit.save()>
                    "Save"
                </button>
            </div>
        </div>
    }
}
