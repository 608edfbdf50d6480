//! Resuming a room's stream: from `Last-Event-ID` (header or query), with a `resync`
//! when the id is unknown or older than what is kept.

use crate::helpers::{BrokerKind, spawn_app, spawn_app_with, texts};
use serde_json::json;
use std::time::Duration;
use tiny_chat::message::ChatMessage;

contract!(
    resume_after_a_gap_replays_the_missed_messages_then_goes_live,
    resume_from_the_query_works_and_the_header_wins,
    an_unknown_or_malformed_id_gets_resync,
);
live_window!(an_id_older_than_what_is_retained_gets_resync);

async fn resume_after_a_gap_replays_the_missed_messages_then_goes_live(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut first = app.events("everyone", None).await;
    app.say(&ann, "everyone", "before").await;
    let seen = first.next().await.message();
    drop(first);

    // The gap: posted while nobody listens.
    for text in ["gap 1", "gap 2", "gap 3"] {
        app.say(&ann, "everyone", text).await;
    }
    let mut resumed = app.events("everyone", Some(&seen.id.to_string())).await;
    app.say(&ann, "everyone", "after").await;

    let received = resumed.messages(4).await;
    assert_eq!(texts(&received), ["gap 1", "gap 2", "gap 3", "after"]);
    resumed.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(resumed.retry.as_deref(), Some("3000"));
}

async fn resume_from_the_query_works_and_the_header_wins(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let m: Vec<ChatMessage> = {
        let mut m = Vec::new();
        for i in 0..4 {
            m.push(app.say(&ann, "everyone", &format!("m{i}")).await);
        }
        m
    };

    let mut by_query = app
        .events_at(
            &format!("/api/rooms/everyone/events?last_event_id={}", m[1].id),
            None,
        )
        .await;
    assert_eq!(texts(&by_query.messages(2).await), ["m2", "m3"]);

    // As on a browser reconnect: the URL still has the first id, the header the newer.
    let mut both = app
        .events_at(
            &format!("/api/rooms/everyone/events?last_event_id={}", m[0].id),
            Some(&m[2].id.to_string()),
        )
        .await;
    assert_eq!(texts(&both.messages(1).await), ["m3"]);
    both.assert_quiet(Duration::from_millis(300)).await;
}

async fn an_unknown_or_malformed_id_gets_resync(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    // Watched until both have come back, so that no later stream can hear them live.
    let mut watch = app.events("everyone", None).await;
    let oldest = app.say(&ann, "everyone", "one").await;
    let two = app.say(&ann, "everyone", "two").await;
    assert_eq!(watch.next().await.message(), oldest);
    assert_eq!(watch.next().await.message(), two);

    for bad in ["1-0", "99999999999999-0", "garbage", ""] {
        let mut events = app.events("everyone", Some(bad)).await;
        let event = events.next().await;
        assert_eq!(event.event.as_deref(), Some("resync"), "for {bad:?}");
        assert_eq!(
            event.json(),
            json!({ "room": "everyone", "oldest": oldest.id.to_string() })
        );
        // Then it is live.
        let live = app.say(&ann, "everyone", &format!("after {bad}")).await;
        assert_eq!(events.next().await.message(), live);
    }

    let mut empty = app.events("nobody-here", Some("1-0")).await;
    assert_eq!(
        empty.next().await.json(),
        json!({ "room": "nobody-here", "oldest": null })
    );
}

async fn an_id_older_than_what_is_retained_gets_resync(kind: BrokerKind) {
    // Both brokers keep exactly the limit, so a few posts past it drop the first.
    let limit = 5;
    let posts = 10;
    let app = spawn_app_with(kind, |c| c.history_limit = limit).await;
    let ann = app.signed_in("ann").await;
    let first = app.say(&ann, "everyone", "first").await;
    for i in 0..posts {
        app.say(&ann, "everyone", &format!("m{i}")).await;
    }

    let mut events = app.events("everyone", Some(&first.id.to_string())).await;
    let event = events.next().await;

    assert_eq!(event.event.as_deref(), Some("resync"));
    let oldest = app.history("everyone", "?limit=200").await;
    let oldest_retained = event.json()["oldest"].as_str().unwrap().to_owned();
    assert_ne!(oldest_retained, first.id.to_string());
    assert!(oldest.iter().any(|m| m.id.to_string() == oldest_retained));
}
