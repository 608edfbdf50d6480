//! Editing your message in place: its text becomes a box. Enter saves, Shift+Enter
//! starts a new line, Escape cancels; then the focus goes back where it came from (the
//! row's Edit button, or the composer after Up).

use super::RowState;
use crate::{
    app::{client, composer::COMPOSER_ID as COMPOSER},
    message::MessageText,
};
use leptos::{ev, html, prelude::*};

#[component]
pub(super) fn Editor(state: RowState, initial: String) -> impl IntoView {
    // A row drawn again while its message is being edited picks the draft up again.
    let kept = state
        .feed
        .editing
        .with_untracked(|e| e.as_ref().and_then(|e| e.draft.clone()));
    let draft = RwSignal::new(kept.unwrap_or_else(|| initial.clone()));
    let area = NodeRef::<html::Textarea>::new();
    let return_to = StoredValue::new(
        state
            .feed
            .editing
            .get_untracked()
            .map_or_else(|| COMPOSER.to_owned(), |e| e.return_to),
    );

    // Into the box, after the text.
    Effect::new(move |_| {
        let Some(area) = area.get() else {
            return;
        };
        let end = area.value().encode_utf16().count() as u32;
        let _ = area.focus();
        let _ = area.set_selection_range(end, end);
    });

    let finish = move || {
        state.feed.editing.set(None);
        // (`try_`: the message may have been deleted, and this editor with it, while
        // the edit was on its way.)
        let back = return_to.try_get_value();
        client::focus_by_id(back.as_deref().unwrap_or(COMPOSER), COMPOSER);
    };
    let save = move || {
        let text = draft.get_untracked();
        if text == initial {
            finish();
            return;
        }
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
                finish();
            },
        );
    };
    let keydown = {
        let save = save.clone();
        move |event: ev::KeyboardEvent| match event.key().as_str() {
            "Enter" if !event.shift_key() && !event.is_composing() => {
                event.prevent_default();
                save();
            }
            "Escape" => {
                event.prevent_default();
                state.error.set(None);
                finish();
            }
            _ => {}
        }
    };

    view! {
        <div class="editor">
            <textarea
                id=format!("edit-text-{}", state.id)
                class="edit-text"
                aria-label="Edit message"
                aria-describedby=format!("edit-hint-{}", state.id)
                rows="2"
                maxlength="4000"
                node_ref=area
                prop:value=draft
                on:input=move |event| {
                    let typed = event_target_value(&event);
                    // Untracked: the rows need not hear of every keystroke.
                    state.feed.editing.update_untracked(|e| {
                        if let Some(e) = e.as_mut() {
                            e.draft = Some(typed.clone());
                        }
                    });
                    draft.set(typed);
                    state.error.set(None);
                }
                on:keydown=keydown
            ></textarea>
            <div class="editor-foot">
                <span id=format!("edit-hint-{}", state.id) class="muted">
                    "Enter to save · Esc to cancel"
                </span>
                <button
                    type="button"
                    class="quiet"
                    on:click=move |_| {
                        state.error.set(None);
                        finish();
                    }
                >
                    "Cancel"
                </button>
                <button type="button" disabled=move || state.busy.get() on:click=move |_| save()>
                    "Save"
                </button>
            </div>
        </div>
    }
}
