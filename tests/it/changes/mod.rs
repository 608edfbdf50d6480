//! The contract of changing a message (`docs/API.md`, "Changing a message" and the
//! `update` and `delete` events): edits, deletes and reactions, live, in history and on
//! resume. Every case runs against the memory broker, a real Redis and a Redis Cluster
//! (see `contract!`); those of `nodes` run two nodes on one Redis or cluster. The helpers
//! here are shared by the parts.

mod edits;
mod errors;
mod limits;
mod nodes;
mod reactions;
mod resume;
mod time;

use crate::helpers::{Event, EventReader, TestApp, open_stream};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::{fmt::Display, time::Duration};
use tiny_chat::message::{ChatMessage, MessageId};

/// How long a stream must stay silent to show that nothing more was sent.
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------------------------------
// Requests

fn message_url(app: &TestApp, room: &str, id: impl Display) -> String {
    app.url(&format!("/api/rooms/{room}/messages/{id}"))
}

fn reaction_url(app: &TestApp, room: &str, id: impl Display, emoji: &str) -> String {
    format!(
        "{}/reactions/{}",
        message_url(app, room, id),
        path_segment(emoji)
    )
}

/// Percent-encodes every byte but the unreserved ones, as a browser's
/// `encodeURIComponent` does for an emoji.
fn path_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `PATCH /api/rooms/{room}/messages/{id}` with `{"text": text}`, whatever the answer.
async fn edit(
    app: &TestApp,
    client: &Client,
    room: &str,
    id: impl Display,
    text: &str,
) -> Response {
    client
        .patch(message_url(app, room, id))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
}

/// `DELETE /api/rooms/{room}/messages/{id}`, whatever the answer.
async fn remove(app: &TestApp, client: &Client, room: &str, id: impl Display) -> Response {
    client
        .delete(message_url(app, room, id))
        .send()
        .await
        .unwrap()
}

/// `PUT .../reactions/{emoji}`, whatever the answer.
async fn react(
    app: &TestApp,
    client: &Client,
    room: &str,
    id: impl Display,
    emoji: &str,
) -> Response {
    client
        .put(reaction_url(app, room, id, emoji))
        .send()
        .await
        .unwrap()
}

/// `DELETE .../reactions/{emoji}`, whatever the answer.
async fn unreact(
    app: &TestApp,
    client: &Client,
    room: &str,
    id: impl Display,
    emoji: &str,
) -> Response {
    client
        .delete(reaction_url(app, room, id, emoji))
        .send()
        .await
        .unwrap()
}

/// Expects `200` and returns the body, the message as it now stands, as raw JSON.
async fn expect_ok(response: Response, what: &str) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    let message: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON: {e}: {body}"));
    parse(&message);
    message
}

/// Expects `204` with an empty body.
async fn expect_no_content(response: Response, what: &str) {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{what}: {body}");
    assert_eq!(body, "", "{what}: a 204 has no body");
}

/// Expects the documented error shape with this status and code.
async fn expect_error(response: Response, status: StatusCode, code: &str, what: &str) {
    let actual = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{what}: {body}");
    let body: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not JSON: {e}: {body}"));
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

/// `GET /api/rooms/{room}/messages{query}` as raw JSON.
async fn raw_history(app: &TestApp, room: &str, query: &str) -> Value {
    let (status, body) = app.get(&format!("/api/rooms/{room}/messages{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A message's raw JSON as the shared type (which checks the five required keys).
fn parse(message: &Value) -> ChatMessage {
    serde_json::from_value(message.clone())
        .unwrap_or_else(|e| panic!("not a ChatMessage: {e}: {message}"))
}

fn raw(message: &ChatMessage) -> Value {
    serde_json::to_value(message).unwrap()
}

/// The keys of a JSON object, sorted.
fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

const PLAIN_KEYS: [&str; 5] = ["id", "room", "sender", "sent_at", "text"];

// ---------------------------------------------------------------------------------------
// Streams

/// A room's stream opened as `client` (a person when signed in); awareness events are set
/// aside, so that it yields the room's log.
async fn watch(app: &TestApp, client: &Client, room: &str) -> EventReader {
    let path = format!("/api/rooms/{room}/events");
    let response = open_stream(app.stream_base(), client, &path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "opening {path}");
    EventReader::new(response)
}

/// Opens the room's stream, then has `client` say `text` and waits for it there. A stream
/// opened after a post may still see that post live (with Redis, the node hears its own
/// publish a moment after answering), so a test that wants a quiet stream opens it first
/// and takes the message off it.
async fn say_then_watch(
    app: &TestApp,
    client: &Client,
    room: &str,
    text: &str,
) -> (ChatMessage, EventReader) {
    let mut events = app.events(room, None).await;
    let sent = app.say(client, room, text).await;
    let seen = events.next_named("message").await;
    assert_eq!(entry_id(&seen), sent.id, "the message itself: {seen:?}");
    (sent, events)
}

/// The `id:` of an event of a room's own stream, which every log entry has.
fn entry_id(event: &Event) -> MessageId {
    event
        .id
        .as_deref()
        .unwrap_or_else(|| panic!("an entry of the log has an id: {event:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("the id is a log id: {event:?}"))
}

/// The next event, which must be `name` (`update` or `delete`) with an id of its own later
/// than `after`; returns that id and the data.
async fn expect_change(
    events: &mut EventReader,
    name: &str,
    after: MessageId,
) -> (MessageId, Value) {
    let event = events.next_named(name).await;
    let id = entry_id(&event);
    assert!(
        id > after,
        "a change's id is later than every id before it ({after}): {event:?}"
    );
    (id, event.json())
}

/// The next event is the `update` that a change answered with `answer`, later than
/// `*last`; `*last` moves to it.
async fn expect_update(events: &mut EventReader, last: &mut MessageId, answer: &Value) {
    let (entry, live) = expect_change(events, "update", *last).await;
    assert_eq!(&live, answer, "the stream's update is the change's answer");
    *last = entry;
}

/// The next `n` events, whatever they are.
async fn next_events(events: &mut EventReader, n: usize) -> Vec<Event> {
    let mut received = Vec::with_capacity(n);
    for _ in 0..n {
        received.push(events.next().await);
    }
    received
}
