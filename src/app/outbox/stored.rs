//! The outbox as this browser stores it (localStorage, shared by its tabs), read and
//! written for the session it is signed in with.

use super::{OUTBOX_KEY, Outbox, Unsent, parse};
use crate::app::client;
use leptos::prelude::*;

/// The outbox of the session this browser is signed in with: what another session left
/// (an earlier sign-in, or a stored outbox from before sessions had tags) is not read, and
/// goes at the next write.
pub fn load() -> Vec<Unsent> {
    let Some(me) = client::signed() else {
        return Vec::new();
    };
    let stored = client::storage()
        .and_then(|s| s.get_item(OUTBOX_KEY).ok()?)
        .map(|json| parse(&json))
        .unwrap_or_default();
    stored.into_iter().filter(|u| u.typed_in(&me)).collect()
}

/// Reads, changes and writes the outbox at once (other tabs change it too), and shows
/// it; whether it could be written.
pub fn change(outbox: Outbox, edit: impl FnOnce(&mut Vec<Unsent>)) -> bool {
    let mut all = load();
    edit(&mut all);
    let written = client::storage().is_some_and(|storage| {
        let json = serde_json::to_string(&all).unwrap_or_default();
        if all.is_empty() {
            storage.remove_item(OUTBOX_KEY).is_ok()
        } else {
            storage.set_item(OUTBOX_KEY, &json).is_ok()
        }
    });
    outbox.unsent.set(all);
    written
}
