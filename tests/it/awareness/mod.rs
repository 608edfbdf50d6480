//! The contract of presence, typing and the many-room stream (`docs/API.md`, "Presence
//! and typing" and "One stream for many rooms"): every case runs against the memory
//! broker, a real Redis and a Redis Cluster (see `contract!`). The helpers here are
//! shared by the three parts.

mod many_rooms;
mod presence;
mod signed_out;
mod typing;

use crate::helpers::{BrokerKind, EventReader, TestApp, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::{collections::BTreeMap, time::Duration};
use tiny_chat::message::ChatMessage;

/// The leave grace of most cases: short, so the suite is quick.
const GRACE: Duration = Duration::from_millis(500);

async fn spawn(kind: BrokerKind) -> TestApp {
    spawn_app_with(kind, |c| c.leave_grace_secs = GRACE.as_secs_f64()).await
}

/// Asserts the next event is `presence` of `room`, without an id, listing `online`.
async fn expect_presence(events: &mut EventReader, room: &str, online: &[&str]) {
    let event = events.next_named("presence").await;
    assert_eq!(event.id, None, "presence has no id: {event:?}");
    assert_eq!(
        event.json(),
        json!({ "room": room, "online": online, "count": online.len() })
    );
}

/// Asserts the next event is `kind` (`join`, `leave`, `typing`) of `name` in `room`,
/// without an id.
async fn expect_person(events: &mut EventReader, kind: &str, room: &str, name: &str) {
    let event = events.next_named(kind).await;
    assert_eq!(event.id, None, "{kind} has no id: {event:?}");
    assert_eq!(event.json(), json!({ "room": room, "name": name }));
}

/// `GET` a path without a session and return its status and error code.
async fn get_error(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app.client().get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{path}: {body}"
    );
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

/// Posts `n` messages to `room`, `<prefix> 0`, `<prefix> 1`, ...
async fn say_many(app: &TestApp, client: &Client, room: &str, n: usize) -> Vec<ChatMessage> {
    let mut sent = Vec::with_capacity(n);
    for i in 0..n {
        sent.push(app.say(client, room, &format!("{room} {i}")).await);
    }
    sent
}

/// Reads `n` message events of a many-room stream, by room (checking each `id:`).
async fn room_messages(events: &mut EventReader, n: usize) -> BTreeMap<String, Vec<ChatMessage>> {
    let mut by_room: BTreeMap<String, Vec<ChatMessage>> = BTreeMap::new();
    for _ in 0..n {
        let message = events.next().await.room_message();
        by_room
            .entry(message.room.to_string())
            .or_default()
            .push(message);
    }
    by_room
}

/// Reads the `presence` events a many-room stream starts with, one per listed room, and
/// returns them by room.
async fn presences(events: &mut EventReader, rooms: usize) -> BTreeMap<String, Value> {
    let mut by_room = BTreeMap::new();
    for _ in 0..rooms {
        let event = events.next().await;
        assert_eq!(
            event.name(),
            "presence",
            "a presence for each listed room comes first: {event:?}"
        );
        assert_eq!(event.id, None, "{event:?}");
        let data = event.json();
        by_room.insert(data["room"].as_str().unwrap().to_owned(), data);
    }
    by_room
}

fn empty_presence(room: &str) -> Value {
    json!({ "room": room, "online": [], "count": 0 })
}
