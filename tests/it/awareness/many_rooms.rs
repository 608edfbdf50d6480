//! One stream for many rooms (`GET /api/events`): room-prefixed ids, a resume per room
//! without gap or duplicate, a resync only where it is needed, `here`, and the 400s of
//! a bad room list.

use super::{
    GRACE, empty_presence, expect_person, expect_presence, get_error, presences, room_messages,
    say_many, spawn,
};
use crate::helpers::{BrokerKind, spawn_app_with, texts};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

contract!(
    one_stream_carries_many_rooms_with_room_prefixed_ids,
    a_many_room_resume_has_no_gap_and_no_duplicate_even_during_the_replay,
    the_last_event_id_header_replaces_that_rooms_id,
    here_makes_a_person_present_only_in_those_rooms,
    bad_room_lists_get_400_with_their_codes,
);
live_window!(an_unknown_or_old_id_resyncs_only_its_own_room);

async fn one_stream_carries_many_rooms_with_room_prefixed_ids(kind: BrokerKind) {
    let app = spawn(kind).await;
    let ann = app.signed_in("ann").await;
    let alpha = say_many(&app, &ann, "alpha", 3).await;
    let beta = say_many(&app, &ann, "beta", 2).await;

    let query = format!("rooms=alpha:{},beta:{}", alpha[0].id, beta[0].id);
    let mut events = app.events_many(&app.client(), &query, None).await;

    // Here in neither room: no presence, only the rooms' messages.
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
    // Presence comes for alpha alone: awareness is for the rooms one is here in.
    let presence = presences(&mut stream, 1).await;
    assert_eq!(
        presence["alpha"]["room"], "alpha",
        "the only presence is alpha's"
    );
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

    // The stream carries no awareness of beta, where it is not here: not bob's join,
    // not his typing (beta's own watcher gets both), though beta's messages come.
    let bob = app.signed_in("bob").await;
    let _bob_tab = app.listen(&bob, "beta").await;
    expect_person(&mut beta_watch, "join", "beta", "bob").await;
    assert_eq!(
        app.typing(&bob, "beta").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut beta_watch, "typing", "beta", "bob").await;
    let said = app.say(&bob, "beta", "a message in beta").await;
    assert_eq!(stream.next().await.room_message(), said);
    assert_eq!(beta_watch.next().await.message(), said);
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

    // Fifty is allowed, and each room's presence comes first where the stream is here.
    let query = format!("rooms={0}&here={0}", fifty.join(","));
    let mut events = app.events_many(&app.client(), &query, None).await;
    let presence = presences(&mut events, 50).await;
    assert_eq!(presence.len(), 50);
    assert_eq!(presence["r49"], empty_presence("r49"));
}
