//! The outbox on the page: a room's unsent messages under its log, and the count of all
//! of them beside the connection status. Empty on the server (the outbox lives in the
//! browser) and until the page is hydrated, so that hydration matches.

use super::{Outbox, Unsent, status_of};
use crate::{
    app::{SessionContext, live::Connection},
    message::RoomName,
};
use leptos::prelude::*;

/// `N waiting` beside the status: the messages of every room still to be sent.
#[component]
pub fn OutboxCount() -> impl IntoView {
    let outbox = expect_context::<Outbox>();
    let waiting = Memo::new(move |_| {
        outbox
            .unsent
            .with(|all| all.iter().filter(|u| u.failed.is_none()).count())
    });
    view! {
        <span class="outbox-count" hidden=move || waiting.get() == 0>
            {move || format!("{} waiting", waiting.get())}
        </span>
    }
}

/// The room's unsent messages, in the order typed, each with its state and what can be
/// done with it: Edit takes it back into the composer, Cancel drops it.
#[component]
pub fn OutboxList(room: RoomName, status: RwSignal<Connection>) -> impl IntoView {
    let outbox = expect_context::<Outbox>();
    let session = expect_context::<SessionContext>();
    let mine = Memo::new(move |_| {
        outbox.unsent.with(|all| {
            all.iter()
                .filter(|u| u.room == room)
                .cloned()
                .collect::<Vec<Unsent>>()
        })
    });
    let row = move |unsent: Unsent| {
        let state = if unsent.failed.is_some() {
            "failed"
        } else {
            "waiting"
        };
        let (edit_id, cancel_id) = (unsent.client_id.clone(), unsent.client_id.clone());
        let shown = unsent.clone();
        // Only into the composer of the name that typed it: it would be sent as yours.
        let sender = unsent.sender.clone();
        let editable = move || session.name().is_some_and(|me| me.same_name(&sender));
        let line = move || {
            let online = status.get() != Connection::Offline;
            status_of(&shown, session.name().as_ref(), online)
        };
        view! {
            <li class="outbox-item" data-state=state>
                <span class="sender">{unsent.sender.to_string()}</span>
                <span class="outbox-text">{unsent.text.clone()}</span>
                <span class="outbox-status">{line}</span>
                <span class="outbox-actions">
                    <button type="button" hidden=move || !editable() on:click=move |_| take_back(outbox, &edit_id)>
                        "Edit"
                    </button>
                    <button type="button" on:click=move |_| cancel(outbox, &cancel_id)>
                        "Cancel"
                    </button>
                </span>
            </li>
        }
    };
    view! {
        <ol class="outbox" aria-label="Unsent messages" hidden=move || mine.with(Vec::is_empty)>
            // Drawn anew on each change: a few rows at most, where a keyed `For` would
            // cost the WASM 2 KB (gzipped) for nothing.
            {move || mine.get().into_iter().map(row).collect_view()}
        </ol>
    }
}

#[cfg(feature = "hydrate")]
use super::{cancel, take_back};

#[cfg(not(feature = "hydrate"))]
fn take_back(_: Outbox, _: &str) {}

#[cfg(not(feature = "hydrate"))]
fn cancel(_: Outbox, _: &str) {}
