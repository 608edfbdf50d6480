//! The browser side of the outbox: localStorage, the `storage` event, and sending.
//!
//! Only the tab that holds the browser's stream sends (`live::sends`), one message at a
//! time, oldest first; it is woken when the outbox changes here or in another tab, when
//! it becomes the sender, when its stream opens and when the browser comes online.

use super::{MAX_UNSENT, OUTBOX_KEY, Outbox, Unsent, parse};
use crate::{
    app::{SessionContext, client, live},
    message::{ChatMessage, DisplayName, ErrorBody, SessionInfo},
};
use gloo_net::http::{Request, RequestBuilder};
use leptos::{prelude::*, task::spawn_local};
use std::{cell::Cell, time::Duration};
use wasm_bindgen::JsCast;

/// How long a post that met a network error or a `5xx` waits before the next try
/// (unless the browser comes online, or the stream opens, first).
const RETRY: Duration = Duration::from_secs(5);

thread_local! {
    static SENDING: Cell<bool> = const { Cell::new(false) };
    static AGAIN: Cell<bool> = const { Cell::new(false) };
}

fn load() -> Vec<Unsent> {
    client::storage()
        .and_then(|s| s.get_item(OUTBOX_KEY).ok()?)
        .map(|json| parse(&json))
        .unwrap_or_default()
}

/// Reads, changes and writes the outbox at once (other tabs change it too), and shows
/// it; whether it could be written.
fn change(outbox: Outbox, edit: impl FnOnce(&mut Vec<Unsent>)) -> bool {
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

/// Shows the outbox, follows the other tabs' changes to it and to who is signed in, and
/// sends whenever this tab may. Once per page (the outbox outlives the room pages).
pub fn start(outbox: Outbox, session: SessionContext) {
    outbox.unsent.set(load());
    window_event_listener_untyped("storage", move |event| {
        let key = event
            .dyn_ref::<web_sys::StorageEvent>()
            .and_then(|e| e.key());
        match key.as_deref() {
            Some(OUTBOX_KEY) | None => {
                outbox.unsent.set(load());
                flush(outbox, session);
            }
            // Signed in or out in another tab: this one shows it, and sends as it.
            Some(client::SESSION_KEY) => spawn_local(async move {
                if let Ok(name) = signed_in().await {
                    session.known.maybe_update(|known| {
                        let changed = *known != Some(name.clone());
                        *known = Some(name);
                        changed
                    });
                    flush(outbox, session);
                }
            }),
            Some(_) => {}
        }
    });
    live::on_wake(move || flush(outbox, session));
    flush(outbox, session);
}

/// Puts a message in the outbox and wakes the sender. `Err` with the reason when the
/// outbox is full or storage refuses it: the composer keeps the text then.
pub fn push(outbox: Outbox, session: SessionContext, unsent: Unsent) -> Result<(), String> {
    if load().len() >= MAX_UNSENT {
        return Err(format!(
            "{MAX_UNSENT} messages are waiting to be sent already"
        ));
    }
    if !change(outbox, |all| all.push(unsent)) {
        return Err("this browser's storage refused the message".to_owned());
    }
    flush(outbox, session);
    Ok(())
}

/// Drops an unsent message.
pub fn cancel(outbox: Outbox, client_id: &str) {
    change(outbox, |all| all.retain(|u| u.client_id != client_id));
}

/// Takes an unsent message back into the composer, with its `client_id`: if an earlier
/// try did reach the server, sending it again edits that message instead of posting
/// another.
pub fn take_back(outbox: Outbox, client_id: &str) {
    let mut taken = None;
    change(outbox, |all| {
        if let Some(index) = all.iter().position(|u| u.client_id == client_id) {
            taken = Some(all.remove(index));
        }
    });
    if let Some(unsent) = taken {
        outbox.taken_back.set(Some((unsent.client_id, unsent.text)));
    }
}

/// Sends what waits, if this tab is the sender; once at a time.
pub fn flush(outbox: Outbox, session: SessionContext) {
    if !live::sends() {
        return;
    }
    if SENDING.with(|s| s.replace(true)) {
        AGAIN.with(|a| a.set(true));
        return;
    }
    spawn_local(async move {
        let retry = loop {
            AGAIN.with(|a| a.set(false));
            let retry = send_all(outbox, session).await;
            if !AGAIN.with(Cell::get) {
                break retry;
            }
        };
        SENDING.with(|s| s.set(false));
        if let Some(after) = retry {
            set_timeout(move || flush(outbox, session), after);
        }
    });
}

/// Sends the waiting messages of the name signed in, oldest first, until none is left
/// (`None`) or one must wait (how long).
async fn send_all(outbox: Outbox, session: SessionContext) -> Option<Duration> {
    loop {
        let me = session.name_untracked()?;
        if !window().navigator().on_line() || !live::sends() {
            return None;
        }
        let next = load().into_iter().find(|u| u.sendable_by(&me))?;
        // This very entry, as it was sent: taken back and sent again meanwhile (same key,
        // new text), it is another entry, still to go.
        let this = |u: &Unsent| u.client_id == next.client_id && u.text == next.text;
        let url = format!("/api/rooms/{}/messages", next.room);
        let body = serde_json::json!({ "text": next.text, "client_id": next.client_id });
        let mut answer = send(Request::post(&url), &body).await;
        // An earlier try got through before the text was edited: edit that message.
        if let Sent::Taken(message) = &answer
            && message.text != next.text
        {
            let url = format!("{url}/{}", message.id);
            answer = send(
                Request::patch(&url),
                &serde_json::json!({ "text": next.text }),
            )
            .await;
        }
        match answer {
            Sent::Taken(message) => {
                change(outbox, |all| all.retain(|u| !this(u)));
                outbox.landed.set(Some(message));
            }
            Sent::Refused(reason) => {
                change(outbox, |all| {
                    if let Some(unsent) = all.iter_mut().find(|u| this(u)) {
                        unsent.failed = Some(reason);
                    }
                });
            }
            // Signed out meanwhile (in another tab, say): it waits for its name.
            Sent::SignedOut => {
                session.known.set(Some(None));
                return None;
            }
            Sent::Later(after) => return Some(after),
        }
    }
}

/// `GET /api/session`: the name signed in, if any; `Err` when there is no answer.
async fn signed_in() -> Result<Option<DisplayName>, ()> {
    let response = Request::get("/api/session").send().await.map_err(drop)?;
    match response.status() {
        200 => Ok(response.json::<SessionInfo>().await.ok().map(|s| s.name)),
        401 => Ok(None),
        _ => Err(()),
    }
}

enum Sent {
    Taken(ChatMessage),
    /// Refused for good, with the server's reason.
    Refused(String),
    /// `401`: this browser's session is gone.
    SignedOut,
    /// Not now (a network error, `429`, `5xx`): try again after this long.
    Later(Duration),
}

/// Sends `body` and sorts the answer.
async fn send(request: RequestBuilder, body: &serde_json::Value) -> Sent {
    let Ok(request) = request.json(body) else {
        return Sent::Refused("the message could not be encoded".to_owned());
    };
    let Ok(response) = request.send().await else {
        return Sent::Later(RETRY);
    };
    let status = response.status();
    if response.ok() {
        return match response.json::<ChatMessage>().await {
            Ok(message) => Sent::Taken(message),
            Err(_) => Sent::Later(RETRY),
        };
    }
    match status {
        401 => Sent::SignedOut,
        429 => {
            let seconds = response
                .headers()
                .get("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(1);
            Sent::Later(Duration::from_secs(seconds.clamp(1, 60)))
        }
        500.. => Sent::Later(RETRY),
        _ => match response.json::<ErrorBody>().await {
            Ok(body) => Sent::Refused(body.error.message),
            Err(_) => Sent::Refused(format!("the server answered {status}")),
        },
    }
}
