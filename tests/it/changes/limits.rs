//! The post limit counts changes; a plain message keeps its five keys; changes do not
//! push messages out of history, and the log stays bounded.

use super::{PLAIN_KEYS, edit, expect_error, expect_ok, keys, raw_history, react, remove, unreact};
use crate::helpers::{BrokerKind, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

contract!(
    changes_count_against_the_post_limit,
    a_plain_message_has_exactly_the_five_keys,
);
live_window!(changes_do_not_push_messages_out_of_history_and_the_log_stays_bounded);

async fn changes_count_against_the_post_limit(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        c.post_rate = 1.0;
        c.post_burst = 3;
    })
    .await;
    let room = "limited";
    let ann = app.signed_in("ann").await;
    let bob = app.signed_in("bob").await;
    let sent = app.say(&ann, room, "one").await;
    expect_ok(edit(&app, &ann, room, sent.id, "one, edited").await, "edit").await;
    let now = expect_ok(react(&app, &ann, room, sent.id, "👍").await, "react").await;

    let limited = [
        ("reacting", react(&app, &ann, room, sent.id, "🎉").await),
        ("unreacting", unreact(&app, &ann, room, sent.id, "👍").await),
        ("editing", edit(&app, &ann, room, sent.id, "again").await),
        ("deleting", remove(&app, &ann, room, sent.id).await),
    ];
    for (what, response) in limited {
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        assert!(
            retry_after.is_some_and(|s| (1..=2).contains(&s)),
            "{what}: Retry-After {retry_after:?}"
        );
        expect_error(
            response,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            what,
        )
        .await;
    }
    assert_eq!(
        raw_history(&app, room, "").await,
        json!([now]),
        "nothing changed"
    );
    // Another name is not limited.
    expect_ok(react(&app, &bob, room, sent.id, "🎉").await, "bob reacting").await;
}

async fn a_plain_message_has_exactly_the_five_keys(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "plain";
    let ann = app.signed_in("ann").await;
    let mut events = app.events(room, None).await;

    let response = app.post(&ann, room, "plain").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let posted: Value = response.json().await.unwrap();
    assert_eq!(keys(&posted), PLAIN_KEYS, "{posted}");
    let live = events.next().await;
    assert_eq!(live.json(), posted);
    assert_eq!(keys(&live.json()), PLAIN_KEYS);
    assert_eq!(raw_history(&app, room, "").await, json!([posted]));

    // A reaction taken back leaves the message plain again, everywhere.
    let id = posted["id"].as_str().unwrap();
    expect_ok(react(&app, &ann, room, id, "👍").await, "react").await;
    let back = expect_ok(unreact(&app, &ann, room, id, "👍").await, "unreact").await;
    assert_eq!(back, posted);
    let _reacted = events.next_named("update").await;
    let unreacted = events.next_named("update").await;
    assert_eq!(unreacted.json(), posted);
    assert_eq!(keys(&raw_history(&app, room, "").await[0]), PLAIN_KEYS);
}

async fn changes_do_not_push_messages_out_of_history_and_the_log_stays_bounded(kind: BrokerKind) {
    // Three messages kept; the log holds at most 4 entries per message kept, 12.
    let app = spawn_app_with(kind, |c| {
        c.history_limit = 3;
        c.post_rate = 0.0;
    })
    .await;
    let room = "kept";
    let ann = app.signed_in("ann").await;
    let texts = |history: Value| -> Vec<String> {
        let all = history.as_array().unwrap().iter();
        all.map(|m| m["text"].as_str().unwrap().to_owned())
            .collect()
    };
    let one = app.say(&ann, room, "one").await;
    app.say(&ann, room, "two").await;
    app.say(&ann, room, "three").await;
    // Eight changes: eleven entries, within the bound, and no message goes.
    for _ in 0..4 {
        expect_ok(react(&app, &ann, room, one.id, "👍").await, "react").await;
        expect_ok(unreact(&app, &ann, room, one.id, "👍").await, "unreact").await;
    }
    assert_eq!(
        texts(raw_history(&app, room, "").await),
        ["one", "two", "three"]
    );
    let mut resumed = app.events(room, Some(&one.id.to_string())).await;
    assert_eq!(
        resumed.next().await.message().text,
        "two",
        "one is still in the log"
    );

    // A fourth message: the first leaves history, and the log with it.
    app.say(&ann, room, "four").await;
    assert_eq!(
        texts(raw_history(&app, room, "").await),
        ["two", "three", "four"]
    );
    let mut gone = app.events(room, Some(&one.id.to_string())).await;
    assert_eq!(gone.next().await.event.as_deref(), Some("resync"));

    // Changes past the bound trim the oldest entries, messages among them. The log is
    // three, the eight changes, four and five (11 of 12): eleven more changes push out
    // the ten entries before five.
    let five = app.say(&ann, room, "five").await;
    for _ in 0..5 {
        expect_ok(react(&app, &ann, room, five.id, "🎉").await, "react").await;
        expect_ok(unreact(&app, &ann, room, five.id, "🎉").await, "unreact").await;
    }
    assert_eq!(texts(raw_history(&app, room, "").await), ["four", "five"]);
    expect_ok(react(&app, &ann, room, five.id, "🎉").await, "react").await;
    assert_eq!(texts(raw_history(&app, room, "").await), ["five"]);
}
