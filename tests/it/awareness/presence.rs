//! Who is in a room: `presence` first on every stream, `join` and `leave` once per
//! person however many tabs, a reload within the grace unseen, and a crowd past a
//! hundred told by its count.

use super::{GRACE, empty_presence, expect_person, expect_presence, get_error, say_many, spawn};
use crate::helpers::{
    BrokerKind, EventReader, PROMPTLY, open_stream, presence_until, spawn_app_with,
};
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

contract!(
    presence_comes_first_without_an_id_before_any_replay,
    anonymous_listeners_are_not_people,
    a_person_with_two_tabs_joins_once_and_leaves_when_the_last_closes,
    a_reload_within_the_grace_makes_neither_leave_nor_join,
    presence_lists_who_is_in_a_room_sorted_case_insensitively,
    past_a_hundred_people_join_and_leave_are_not_sent,
);

async fn presence_comes_first_without_an_id_before_any_replay(kind: BrokerKind) {
    let app = spawn(kind).await;
    let ann = app.signed_in("ann").await;
    let sent = say_many(&app, &ann, "lobby", 3).await;
    let _ann_tab = app.listen(&ann, "lobby").await;
    presence_until(&app.base, "lobby", |p| p["count"] == 1).await;

    // Resuming: presence, then the replay.
    let path = "/api/rooms/lobby/events";
    let response = open_stream(
        &app.base,
        &app.client(),
        path,
        Some(&sent[0].id.to_string()),
    )
    .await;
    let mut resumed = EventReader::with_awareness(response);
    expect_presence(&mut resumed, "lobby", &["ann"]).await;
    assert_eq!(resumed.next().await.message(), sent[1]);
    assert_eq!(resumed.next().await.message(), sent[2]);
    resumed.assert_quiet(Duration::from_millis(300)).await;

    // With an unknown id: presence, then the resync.
    let response = open_stream(app.stream_base(), &app.client(), path, Some("1-0")).await;
    let mut resyncing = EventReader::with_awareness(response);
    expect_presence(&mut resyncing, "lobby", &["ann"]).await;
    let resync = resyncing.next_named("resync").await;
    assert_eq!(
        resync.json(),
        json!({ "room": "lobby", "oldest": sent[0].id.to_string() })
    );

    // Live from now: presence alone.
    let mut live = app.listen(&app.client(), "elsewhere").await;
    expect_presence(&mut live, "elsewhere", &[]).await;
    live.assert_quiet(Duration::from_millis(300)).await;
}

async fn anonymous_listeners_are_not_people(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut observer = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut observer, "lobby", &[]).await;

    let mut guest = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut guest, "lobby", &[]).await;
    let many = app
        .events_many(&app.client(), "rooms=lobby&here=lobby", None)
        .await;

    observer
        .assert_quiet(GRACE + Duration::from_millis(300))
        .await;
    assert_eq!(app.presence("lobby").await, empty_presence("lobby"));
    drop((guest, many));
    observer.assert_quiet(GRACE * 2).await;
}

async fn a_person_with_two_tabs_joins_once_and_leaves_when_the_last_closes(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut observer = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut observer, "lobby", &[]).await;
    let alice = app.signed_in("alice").await;

    let first_tab = app.listen(&alice, "lobby").await;
    expect_person(&mut observer, "join", "lobby", "alice").await;
    let second_tab = app.listen(&alice, "lobby").await;

    observer.assert_quiet(Duration::from_secs(1)).await;
    let alone = json!({ "room": "lobby", "online": ["alice"], "count": 1 });
    assert_eq!(app.presence("lobby").await, alone);
    let mut late = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut late, "lobby", &["alice"]).await;

    // One tab closes: the other keeps her in the room.
    drop(first_tab);
    observer
        .assert_quiet(GRACE * 2 + Duration::from_millis(500))
        .await;
    assert_eq!(app.presence("lobby").await, alone);

    // The last one closes: one leave, after the grace.
    drop(second_tab);
    expect_person(&mut observer, "leave", "lobby", "alice").await;
    expect_person(&mut late, "leave", "lobby", "alice").await;
    observer.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(app.presence("lobby").await, empty_presence("lobby"));
}

async fn a_reload_within_the_grace_makes_neither_leave_nor_join(kind: BrokerKind) {
    let grace = Duration::from_millis(1500);
    let app = spawn_app_with(kind, |c| c.leave_grace_secs = grace.as_secs_f64()).await;
    let mut observer = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut observer, "lobby", &[]).await;
    let alice = app.signed_in("alice").await;
    let tab = app.listen(&alice, "lobby").await;
    expect_person(&mut observer, "join", "lobby", "alice").await;

    // A reload: the stream closes and a new one opens at once.
    drop(tab);
    let reload = Instant::now();
    let tab = app.listen(&alice, "lobby").await;
    let reopened_in = reload.elapsed();
    if let Some(event) = observer.next_within(grace + Duration::from_secs(1)).await {
        panic!(
            "a reload whose new stream opened {reopened_in:?} after the old one closed, \
             inside the {grace:?} grace, sent {event:?} {:?} after the close",
            reload.elapsed()
        );
    }
    assert_eq!(
        app.presence("lobby").await,
        json!({ "room": "lobby", "online": ["alice"], "count": 1 })
    );

    // Gone for good: the leave waits for the grace.
    drop(tab);
    let closed = Instant::now();
    let leave = observer
        .next_within(grace + PROMPTLY)
        .await
        .expect("a leave after the grace");
    let waited = closed.elapsed();
    assert_eq!(leave.name(), "leave", "{leave:?}");
    assert_eq!(leave.json(), json!({ "room": "lobby", "name": "alice" }));
    assert!(
        waited >= grace,
        "the leave came {waited:?} after the tab closed, inside the {grace:?} grace"
    );
}

async fn presence_lists_who_is_in_a_room_sorted_case_insensitively(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut tabs = Vec::new();
    for name in ["bob", "Alice", "carol", "Dave"] {
        let client = app.signed_in(name).await;
        tabs.push(app.listen(&client, "lobby").await);
    }
    let eve = app.signed_in("eve").await;
    tabs.push(app.listen(&eve, "elsewhere").await);

    let sorted = json!({
        "room": "lobby",
        "online": ["Alice", "bob", "carol", "Dave"],
        "count": 4,
    });
    let presence = presence_until(&app.base, "lobby", |p| p["count"] == 4).await;
    assert_eq!(presence, sorted);
    let mut late = app.listen(&app.client(), "lobby").await;
    assert_eq!(late.next_named("presence").await.json(), sorted);
    assert_eq!(
        presence_until(&app.base, "elsewhere", |p| p["count"] == 1).await,
        json!({ "room": "elsewhere", "online": ["eve"], "count": 1 })
    );
    assert_eq!(
        app.presence("nobody-here").await,
        empty_presence("nobody-here")
    );

    for bad in ["UPPER", "-x", "No%20Way", &"r".repeat(33)] {
        let path = format!("/api/rooms/{bad}/presence");
        let (status, code) = get_error(&app, &path).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_room"),
            "{path}"
        );
    }
}

async fn past_a_hundred_people_join_and_leave_are_not_sent(kind: BrokerKind) {
    let grace = Duration::from_millis(300);
    let app = spawn_app_with(kind, |c| {
        c.leave_grace_secs = grace.as_secs_f64();
        // 102 people from one address.
        c.signin_rate = 0.0;
        c.max_streams_per_client = 0;
    })
    .await;
    let names: Vec<String> = (0..102).map(|i| format!("p{i:03}")).collect();
    let clients: Vec<Client> = futures::stream::iter(&names)
        .map(|name| app.signed_in(name))
        .buffered(16)
        .collect()
        .await;
    let mut observer = app.listen(&app.client(), "crowd").await;
    expect_presence(&mut observer, "crowd", &[]).await;

    // Up to a hundred, each one joins.
    let mut tabs: Vec<EventReader> = futures::stream::iter(&clients[..100])
        .map(|client| app.listen(client, "crowd"))
        .buffered(16)
        .collect()
        .await;
    let mut joined = Vec::new();
    for _ in 0..100 {
        let event = observer.next_named("join").await;
        assert_eq!(event.id, None);
        joined.push(event.json()["name"].as_str().unwrap().to_owned());
    }
    joined.sort();
    assert_eq!(joined, names[..100]);
    presence_until(&app.base, "crowd", |p| p["count"] == 100).await;

    // The join that takes the room past a hundred is sent as the room's presence (so a
    // list that stops getting joins knows the count); the next is not sent at all.
    tabs.push(app.listen(&clients[100], "crowd").await);
    let crossed = observer.next_named("presence").await.json();
    assert_eq!(crossed["count"], 101, "{crossed}");
    assert_eq!(crossed["online"].as_array().unwrap().len(), 100);
    tabs.push(app.listen(&clients[101], "crowd").await);
    let presence = presence_until(&app.base, "crowd", |p| p["count"] == 102).await;
    observer.assert_quiet(Duration::from_millis(500)).await;
    let online: Vec<String> = serde_json::from_value(presence["online"].clone()).unwrap();
    assert_eq!(online.len(), 100, "online lists at most 100: {presence}");
    assert!(
        online
            .windows(2)
            .all(|w| w[0].to_lowercase() < w[1].to_lowercase())
    );
    assert!(online.iter().all(|n| names.contains(n)));
    let mut late = app.listen(&app.client(), "crowd").await;
    let first = late.next_named("presence").await.json();
    assert_eq!(first["count"], 102);
    assert_eq!(first["online"].as_array().unwrap().len(), 100);

    // Nor a leave while more than a hundred stay.
    drop(tabs.remove(0));
    presence_until(&app.base, "crowd", |p| p["count"] == 101).await;
    observer
        .assert_quiet(grace + Duration::from_millis(300))
        .await;

    // The leave that brings the room back to a hundred is sent as its presence, with
    // everyone in it; from there on, joins and leaves by name again.
    drop(tabs.remove(0));
    let back = observer.next_named("presence").await.json();
    assert_eq!(back["count"], 100, "{back}");
    let listed: Vec<String> = serde_json::from_value(back["online"].clone()).unwrap();
    assert_eq!(listed, names[2..], "everyone left in the room: {back}");
    drop(tabs.remove(0));
    expect_person(&mut observer, "leave", "crowd", "p002").await;
    let newcomer = app.signed_in("newcomer").await;
    let _newcomer_tab = app.listen(&newcomer, "crowd").await;
    expect_person(&mut observer, "join", "crowd", "newcomer").await;
}
