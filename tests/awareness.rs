//! The contract of presence, typing and the many-room stream (`docs/API.md`, "Presence
//! and typing" and "One stream for many rooms"): every case runs against the memory
//! broker and a real Redis.
#![cfg(feature = "ssr")]

#[macro_use]
mod common;

use common::{
    BrokerKind, EventReader, PROMPTLY, TestApp, error_code, open_stream, presence_until,
    spawn_app_with, texts,
};
use futures::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::{collections::BTreeMap, time::Duration};
use tiny_chat::message::ChatMessage;
use tokio::time::Instant;

contract!(
    presence_comes_first_without_an_id_before_any_replay,
    anonymous_listeners_are_not_people,
    a_person_with_two_tabs_joins_once_and_leaves_when_the_last_closes,
    a_reload_within_the_grace_makes_neither_leave_nor_join,
    presence_lists_who_is_in_a_room_sorted_case_insensitively,
    typing_fans_out_once_per_person_and_room_every_two_seconds,
    one_stream_carries_many_rooms_with_room_prefixed_ids,
    a_many_room_resume_has_no_gap_and_no_duplicate_even_during_the_replay,
    the_last_event_id_header_replaces_that_rooms_id,
    an_unknown_or_old_id_resyncs_only_its_own_room,
    here_makes_a_person_present_only_in_those_rooms,
    bad_room_lists_get_400_with_their_codes,
    past_a_hundred_people_join_and_leave_are_not_sent,
);

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

async fn typing_fans_out_once_per_person_and_room_every_two_seconds(kind: BrokerKind) {
    let app = spawn(kind).await;
    let (alice, bob) = (app.signed_in("alice").await, app.signed_in("bob").await);
    let mut lobby = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut lobby, "lobby", &[]).await;
    let mut other = app.listen(&app.client(), "other").await;
    expect_presence(&mut other, "other", &[]).await;

    let started = Instant::now();
    let first = app.typing(&alice, "lobby").await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    expect_person(&mut lobby, "typing", "lobby", "alice").await;

    // Within her 2 s: answered, not sent. Bob and another room have windows of their own.
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.typing(&bob, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut lobby, "typing", "lobby", "bob").await;
    assert_eq!(
        app.typing(&alice, "other").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut other, "typing", "other", "alice").await;
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    let quiet_until = started + Duration::from_millis(1700);
    lobby
        .assert_quiet(quiet_until.saturating_duration_since(Instant::now()))
        .await;
    other.assert_quiet(Duration::from_millis(100)).await;

    // Past the window, it is sent again.
    tokio::time::sleep_until(started + Duration::from_millis(2300)).await;
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut lobby, "typing", "lobby", "alice").await;

    // Typing needs the session; the room must be a room.
    let anonymous = app.typing(&app.client(), "lobby").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(anonymous).await, "unauthenticated");
    // A copy of a cookie whose owner signed out gets 401 too, and sends nothing.
    let carol = app.client();
    let signed = common::try_sign_in(&app.base, &carol, "carol").await;
    let cookie = common::session_cookie(&signed);
    let sign_out = carol.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(sign_out.status(), StatusCode::NO_CONTENT);
    let revoked = app
        .client()
        .post(app.url("/api/rooms/lobby/typing"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(revoked).await, "unauthenticated");
    let bad = app.typing(&alice, "UPPER").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad).await, "invalid_room");
    lobby.assert_quiet(Duration::from_millis(300)).await;
    other.assert_quiet(Duration::from_millis(100)).await;
}

async fn one_stream_carries_many_rooms_with_room_prefixed_ids(kind: BrokerKind) {
    let app = spawn(kind).await;
    let ann = app.signed_in("ann").await;
    let alpha = say_many(&app, &ann, "alpha", 3).await;
    let beta = say_many(&app, &ann, "beta", 2).await;

    let query = format!("rooms=alpha:{},beta:{}", alpha[0].id, beta[0].id);
    let mut events = app.events_many(&app.client(), &query, None).await;

    let presence = presences(&mut events, 2).await;
    assert_eq!(presence["alpha"], empty_presence("alpha"));
    assert_eq!(presence["beta"], empty_presence("beta"));
    let replayed = room_messages(&mut events, 3).await;
    assert_eq!(replayed["alpha"], alpha[1..]);
    assert_eq!(replayed["beta"], beta[1..]);

    let live_alpha = app.say(&ann, "alpha", "live alpha").await;
    app.say(&ann, "gamma", "not listed").await;
    let live_beta = app.say(&ann, "beta", "live beta").await;
    let live = room_messages(&mut events, 2).await;
    assert_eq!(live["alpha"], [live_alpha]);
    assert_eq!(live["beta"], [live_beta]);
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn a_many_room_resume_has_no_gap_and_no_duplicate_even_during_the_replay(kind: BrokerKind) {
    let app = spawn(kind).await;
    let ann = app.signed_in("ann").await;
    // More than one page of replay (100) in alpha.
    let alpha = say_many(&app, &ann, "alpha", 250).await;
    let beta = say_many(&app, &ann, "beta", 120).await;

    let query = format!("rooms=alpha:{},beta:{}", alpha[0].id, beta[10].id);
    let mut events = app.events_many(&app.client(), &query, None).await;
    // Posted while the stream has read little or nothing of its replay.
    let mut expected_alpha: Vec<_> = alpha[1..].iter().map(|m| m.id).collect();
    let mut expected_beta: Vec<_> = beta[11..].iter().map(|m| m.id).collect();
    for i in 0..3 {
        expected_alpha.push(app.say(&ann, "alpha", &format!("during {i}")).await.id);
        expected_beta.push(app.say(&ann, "beta", &format!("during {i}")).await.id);
    }

    presences(&mut events, 2).await;
    let received = room_messages(&mut events, expected_alpha.len() + expected_beta.len()).await;
    let ids = |room: &str| -> Vec<_> { received[room].iter().map(|m| m.id).collect() };
    assert_eq!(
        ids("alpha"),
        expected_alpha,
        "alpha: every message once, in order"
    );
    assert_eq!(
        ids("beta"),
        expected_beta,
        "beta: every message once, in order"
    );

    let live = app.say(&ann, "beta", "live").await;
    assert_eq!(events.next().await.room_message(), live);
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn the_last_event_id_header_replaces_that_rooms_id(kind: BrokerKind) {
    let app = spawn(kind).await;
    let ann = app.signed_in("ann").await;
    let alpha = say_many(&app, &ann, "alpha", 4).await;
    let beta = say_many(&app, &ann, "beta", 4).await;

    let query = format!("rooms=alpha:{},beta:{}", alpha[0].id, beta[0].id);
    let header = format!("beta/{}", beta[2].id);
    let mut events = app.events_many(&app.client(), &query, Some(&header)).await;

    presences(&mut events, 2).await;
    let replayed = room_messages(&mut events, 4).await;
    assert_eq!(texts(&replayed["alpha"]), ["alpha 1", "alpha 2", "alpha 3"]);
    assert_eq!(
        texts(&replayed["beta"]),
        ["beta 3"],
        "the header's id wins for beta"
    );
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn an_unknown_or_old_id_resyncs_only_its_own_room(kind: BrokerKind) {
    // Both brokers keep exactly the limit, so a few posts past it drop the first.
    let posts = 10;
    let app = spawn_app_with(kind, |c| {
        c.history_limit = 5;
        c.leave_grace_secs = GRACE.as_secs_f64();
    })
    .await;
    let ann = app.signed_in("ann").await;
    let first = app.say(&ann, "alpha", "first").await;
    say_many(&app, &ann, "alpha", posts).await;
    let beta = say_many(&app, &ann, "beta", 3).await;

    for bad in ["1-0", "99999999999999-0", &first.id.to_string()] {
        let retained = app.history("alpha", "?limit=200").await;
        let query = format!("rooms=alpha:{bad},beta:{}", beta[0].id);
        let mut events = app.events_many(&app.client(), &query, None).await;
        presences(&mut events, 2).await;

        let mut resyncs = Vec::new();
        let mut replayed = Vec::new();
        for _ in 0..3 {
            let event = events.next().await;
            match event.name() {
                "resync" => resyncs.push(event.json()),
                _ => replayed.push(event.room_message()),
            }
        }
        assert_eq!(
            resyncs.len(),
            1,
            "one resync, for alpha, with {bad}: {resyncs:?}"
        );
        assert_eq!(resyncs[0]["room"], "alpha", "with {bad}");
        assert_eq!(
            replayed,
            beta[1..],
            "beta replays as usual with alpha:{bad}"
        );
        let oldest = resyncs[0]["oldest"].as_str().unwrap();
        assert_ne!(oldest, first.id.to_string(), "the first message is gone");
        if retained.len() < 200 {
            assert_eq!(oldest, retained[0].id.to_string(), "the oldest retained");
        } else {
            assert!(retained.iter().any(|m| m.id.to_string() == oldest));
        }

        // Then alpha is live.
        let live = app.say(&ann, "alpha", &format!("after {bad}")).await;
        assert_eq!(events.next().await.room_message(), live);
        events.assert_quiet(Duration::from_millis(200)).await;
    }
}

async fn here_makes_a_person_present_only_in_those_rooms(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut alpha_watch = app.listen(&app.client(), "alpha").await;
    expect_presence(&mut alpha_watch, "alpha", &[]).await;
    let mut beta_watch = app.listen(&app.client(), "beta").await;
    expect_presence(&mut beta_watch, "beta", &[]).await;
    let zed = app.signed_in("zed").await;

    let mut stream = app
        .events_many(&zed, "rooms=alpha,beta&here=alpha", None)
        .await;
    let presence = presences(&mut stream, 2).await;
    assert_eq!(presence["beta"], empty_presence("beta"));
    expect_person(&mut alpha_watch, "join", "alpha", "zed").await;
    beta_watch.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(
        app.presence("alpha").await,
        json!({ "room": "alpha", "online": ["zed"], "count": 1 })
    );
    assert_eq!(app.presence("beta").await, empty_presence("beta"));
    // Zed's stream may carry his own join; nothing else yet.
    for event in stream.drain(Duration::from_millis(300)).await {
        assert_eq!(
            (event.name(), event.json()),
            ("join", json!({ "room": "alpha", "name": "zed" })),
            "only his own join so far"
        );
    }

    // The stream carries everyone else's awareness in all its rooms, here or not.
    let bob = app.signed_in("bob").await;
    let _bob_tab = app.listen(&bob, "beta").await;
    expect_person(&mut stream, "join", "beta", "bob").await;
    expect_person(&mut beta_watch, "join", "beta", "bob").await;
    assert_eq!(
        app.typing(&bob, "beta").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut stream, "typing", "beta", "bob").await;
    expect_person(&mut beta_watch, "typing", "beta", "bob").await;
    assert_eq!(
        app.typing(&zed, "alpha").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut alpha_watch, "typing", "alpha", "zed").await;

    // Closing the stream: zed leaves alpha; beta never had him.
    drop(stream);
    expect_person(&mut alpha_watch, "leave", "alpha", "zed").await;
    beta_watch
        .assert_quiet(GRACE + Duration::from_millis(300))
        .await;
    assert_eq!(app.presence("alpha").await, empty_presence("alpha"));
}

async fn bad_room_lists_get_400_with_their_codes(kind: BrokerKind) {
    let app = spawn(kind).await;
    let fifty: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
    let fifty_one = format!("/api/events?rooms={},r50", fifty.join(","));
    let long_room = format!("/api/events?rooms={}", "r".repeat(33));
    let cases = [
        ("missing rooms", "/api/events", "bad_request"),
        ("only here", "/api/events?here=alpha", "bad_request"),
        ("empty rooms", "/api/events?rooms=", "bad_request"),
        (
            "empty entry",
            "/api/events?rooms=alpha,,beta",
            "bad_request",
        ),
        ("trailing comma", "/api/events?rooms=alpha,", "bad_request"),
        ("bad id", "/api/events?rooms=alpha:nope", "bad_request"),
        ("empty id", "/api/events?rooms=alpha:", "bad_request"),
        (
            "duplicate room",
            "/api/events?rooms=alpha,beta,alpha",
            "bad_request",
        ),
        (
            "here not in rooms",
            "/api/events?rooms=alpha&here=beta",
            "bad_request",
        ),
        ("51 rooms", fifty_one.as_str(), "bad_request"),
        (
            "invalid room",
            "/api/events?rooms=alpha,UPPER",
            "invalid_room",
        ),
        ("spaced room", "/api/events?rooms=no%20way", "invalid_room"),
        ("long room", long_room.as_str(), "invalid_room"),
        (
            "invalid here",
            "/api/events?rooms=alpha&here=-x",
            "invalid_room",
        ),
    ];
    for (what, path, code) in cases {
        let (status, got) = get_error(&app, path).await;
        assert_eq!(
            (status, got.as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{what}: {path}"
        );
    }

    // Fifty is allowed, and each room's presence comes first.
    let mut events = app
        .events_many(&app.client(), &format!("rooms={}", fifty.join(",")), None)
        .await;
    let presence = presences(&mut events, 50).await;
    assert_eq!(presence.len(), 50);
    assert_eq!(presence["r49"], empty_presence("r49"));
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
