//! The browser side of the outbox: the other tabs' changes (the `storage` event), and
//! sending. `stored.rs` reads and writes it; `signed.rs` ties it to the session.
//!
//! Only the tab that holds the browser's stream sends (`live::sends`), one message at a
//! time, oldest first; it is woken when the outbox changes here or in another tab, when
//! it becomes the sender, when its stream opens and when the browser comes online.

use super::{
    MAX_UNSENT, OUTBOX_KEY, Outbox, Unsent, signed,
    stored::{change, load},
};
use crate::{
    app::{SessionContext, client, live},
    message::{ChatMessage, ErrorBody},
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

/// Shows the outbox, follows the other tabs' changes to it and to who is signed in, and
/// sends whenever this tab may. Once per page (the outbox outlives the room pages).
pub fn start(outbox: Outbox, session: SessionContext) {
    outbox.unsent.set(load());
    signed::follow(outbox, session);
    window_event_listener_untyped("storage", move |event| {
        let key = event
            .dyn_ref::<web_sys::StorageEvent>()
            .and_then(|e| e.key());
        match key.as_deref() {
            Some(OUTBOX_KEY) | None => {
                outbox.unsent.set(load());
                flush(outbox);
            }
            Some(client::SESSION_KEY) => {
                signed::changed_elsewhere(outbox, session);
                flush(outbox);
            }
            Some(_) => {}
        }
    });
    live::on_wake(move || flush(outbox));
    flush(outbox);
}

/// Puts a message in the outbox, under the session it is typed in, and wakes the sender.
/// `Err` with the reason when the outbox is full or storage refuses it, or when this
/// browser is no longer signed in as its sender: the composer keeps the text then.
pub fn push(outbox: Outbox, session: SessionContext, mut unsent: Unsent) -> Result<(), String> {
    unsent.session = signed::tag_for(session, &unsent.sender)
        .ok_or_else(|| format!("this browser is no longer signed in as {}", unsent.sender))?;
    if load().len() >= MAX_UNSENT {
        return Err(format!(
            "{MAX_UNSENT} messages are waiting to be sent already"
        ));
    }
    if !change(outbox, |all| all.push(unsent)) {
        return Err("this browser's storage refused the message".to_owned());
    }
    flush(outbox);
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
pub fn flush(outbox: Outbox) {
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
            let retry = send_all(outbox).await;
            if !AGAIN.with(Cell::get) {
                break retry;
            }
        };
        SENDING.with(|s| s.set(false));
        if let Some(after) = retry {
            set_timeout(move || flush(outbox), after);
        }
    });
}

/// Sends the waiting messages of the session signed in, oldest first, until none is left
/// (`None`) or one must wait (how long).
async fn send_all(outbox: Outbox) -> Option<Duration> {
    loop {
        let me = client::signed()?;
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
            // The session has ended (outside this browser, say): nothing of it is sent,
            // and the page shows it signed out (unless it has signed in anew meanwhile).
            Sent::SignedOut => {
                client::session_ended(Some(me.tag));
                return None;
            }
            Sent::Later(after) => return Some(after),
        }
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
