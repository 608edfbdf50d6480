//! Posting and reading: a post reaches its subscribers once, as typed and from the
//! session's name; history pages backwards; a client id makes a post idempotent; rooms
//! are apart, and listed by activity.

use crate::helpers::{BrokerKind, spawn_app, texts};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tiny_chat::message::ChatMessage;

contract!(
    a_post_reaches_a_subscriber_once_as_typed,
    the_sender_is_the_session_never_the_body,
    history_comes_oldest_first_and_pages_backwards,
    client_id_makes_a_post_idempotent,
    rooms_are_isolated,
    rooms_list_recent_activity_first_and_always_everyone,
);

async fn a_post_reaches_a_subscriber_once_as_typed(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.signed_in("alice").await;
    let mut events = app.events("everyone", None).await;

    let sent = app
        .say(&alice, "everyone", "hi <b>bold</b> & \"quotes\"\nline two")
        .await;

    let received = events.next().await.message();
    assert_eq!(received, sent);
    assert_eq!(received.text, "hi <b>bold</b> & \"quotes\"\nline two");
    assert_eq!(received.sender.as_str(), "alice");
    assert_eq!(received.room.as_str(), "everyone");
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn the_sender_is_the_session_never_the_body(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let mallory = app.signed_in("mallory").await;

    let response = mallory
        .post(app.url("/api/rooms/everyone/messages"))
        .json(&json!({ "text": "it was me", "sender": "alice" }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    let message: ChatMessage = response.json().await.unwrap();
    assert_eq!(message.sender.as_str(), "mallory");
    assert_eq!(
        app.history("everyone", "").await[0].sender.as_str(),
        "mallory"
    );
}

async fn history_comes_oldest_first_and_pages_backwards(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut sent = Vec::new();
    for i in 0..7 {
        sent.push(app.say(&ann, "lobby", &format!("m{i}")).await);
    }

    let newest = app.history("lobby", "?limit=3").await;
    assert_eq!(texts(&newest), ["m4", "m5", "m6"]);
    let older = app
        .history("lobby", &format!("?limit=3&before={}", newest[0].id))
        .await;
    assert_eq!(texts(&older), ["m1", "m2", "m3"]);
    let oldest = app
        .history("lobby", &format!("?limit=3&before={}", older[0].id))
        .await;
    assert_eq!(texts(&oldest), ["m0"]);
    assert_eq!(
        app.history("lobby", "").await,
        sent,
        "default limit covers all 7"
    );
    assert!(sent.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert!(app.history("empty-room", "").await.is_empty());
}

async fn client_id_makes_a_post_idempotent(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut events = app.events("everyone", None).await;
    let body = json!({ "text": "once", "client_id": "c-1" });
    let url = app.url("/api/rooms/everyone/messages");

    let first = ann.post(&url).json(&body).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: ChatMessage = first.json().await.unwrap();
    let again = ann.post(&url).json(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<ChatMessage>().await.unwrap(), first);

    assert_eq!(events.next().await.message(), first);
    events.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(
        app.history("everyone", "").await,
        std::slice::from_ref(&first)
    );

    // The key is scoped to the session and to the room.
    let other = app.signed_in("bob").await;
    assert_eq!(
        other.post(&url).json(&body).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let elsewhere = app.url("/api/rooms/elsewhere/messages");
    assert_eq!(
        ann.post(&elsewhere)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

async fn rooms_are_isolated(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut red = app.events("red", None).await;
    let mut blue = app.events("blue", None).await;

    let to_red = app.say(&ann, "red", "for red").await;
    let to_blue = app.say(&ann, "blue", "for blue").await;

    assert_eq!(red.next().await.message(), to_red);
    assert_eq!(blue.next().await.message(), to_blue);
    red.assert_quiet(Duration::from_millis(300)).await;
    blue.assert_quiet(Duration::from_millis(100)).await;
    assert_eq!(app.history("red", "").await, [to_red]);
    assert_eq!(app.history("blue", "").await, [to_blue]);
}

async fn rooms_list_recent_activity_first_and_always_everyone(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let rooms = app.rooms().await;
    assert_eq!(
        serde_json::to_value(&rooms).unwrap(),
        json!([{ "name": "everyone", "last_message_at": null }])
    );

    let ann = app.signed_in("ann").await;
    app.say(&ann, "older", "x").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newest = app.say(&ann, "newer", "y").await;

    let rooms = app.rooms().await;
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["newer", "older", "everyone"]);
    assert_eq!(
        rooms[0].last_message_at.as_deref(),
        Some(newest.sent_at.as_str())
    );
}
