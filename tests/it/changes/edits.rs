//! Edits and deletes: seen live as the whole message (or its id), in history, and in
//! the pages of history, which count messages and not their changes.

use super::time::{assert_edited_at, epoch_ms, now_ms};
use super::{
    QUIET, edit, expect_change, expect_no_content, expect_ok, keys, raw, raw_history, react,
    remove, watch,
};
use crate::helpers::{BrokerKind, spawn_app};
use serde_json::{Value, json};
use tiny_chat::message::ChatMessage;

contract!(
    an_edit_is_seen_live_and_in_history_as_the_whole_message,
    a_delete_is_seen_live_and_leaves_history_and_its_pages,
    history_pages_count_messages_not_their_changes,
);

async fn an_edit_is_seen_live_and_in_history_as_the_whole_message(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "edits";
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let mut bobs = watch(&app, &bob, room).await;
    let sent = app.say(&alice, room, "teh first").await;
    assert_eq!(bobs.next().await.message(), sent);

    let before = now_ms();
    let edited = expect_ok(
        edit(&app, &alice, room, sent.id, "the first").await,
        "editing",
    )
    .await;
    let after = now_ms();

    let mut expected = raw(&sent);
    expected["text"] = json!("the first");
    expected["edited_at"] = edited["edited_at"].clone();
    assert_eq!(edited, expected, "only text and edited_at change");
    assert_eq!(
        keys(&edited),
        ["edited_at", "id", "room", "sender", "sent_at", "text"]
    );
    assert_edited_at(&edited, before, after);

    let (first_entry, live) = expect_change(&mut bobs, "update", sent.id).await;
    assert_eq!(
        live, edited,
        "the update carries the whole message as it now stands"
    );
    assert_eq!(raw_history(&app, room, "").await, json!([edited]));

    // A second edit is an entry of its own, later than the first.
    let again = expect_ok(
        edit(&app, &alice, room, sent.id, "the very first").await,
        "again",
    )
    .await;
    let (_, live) = expect_change(&mut bobs, "update", first_entry).await;
    assert_eq!(live, again);
    assert_eq!(again["text"], "the very first");
    assert!(
        epoch_ms(again["edited_at"].as_str().unwrap())
            >= epoch_ms(edited["edited_at"].as_str().unwrap()),
        "edited_at follows the latest edit: {edited} then {again}"
    );
    assert_eq!(raw_history(&app, room, "").await, json!([again]));
    bobs.assert_quiet(QUIET).await;
}

async fn a_delete_is_seen_live_and_leaves_history_and_its_pages(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "deletes";
    let ann = app.signed_in("ann").await;
    let mut events = app.events(room, None).await;
    let mut sent = Vec::new();
    for i in 0..10 {
        sent.push(app.say(&ann, room, &format!("m{i}")).await);
    }
    assert_eq!(events.messages(10).await, sent);

    let mut last = sent[9].id;
    for i in [2, 3, 5] {
        expect_no_content(remove(&app, &ann, room, sent[i].id).await, "deleting").await;
        let (entry, data) = expect_change(&mut events, "delete", last).await;
        assert_eq!(data, json!({ "room": room, "id": sent[i].id.to_string() }));
        last = entry;
    }
    events.assert_quiet(QUIET).await;

    let kept = |indexes: &[usize]| -> Vec<ChatMessage> {
        indexes.iter().map(|&i| sent[i].clone()).collect()
    };
    assert_eq!(app.history(room, "").await, kept(&[0, 1, 4, 6, 7, 8, 9]));
    // Pages hold `limit` messages, whatever was deleted among them.
    assert_eq!(app.history(room, "?limit=3").await, kept(&[7, 8, 9]));
    let before = |i: usize, limit: u32| format!("?limit={limit}&before={}", sent[i].id);
    assert_eq!(app.history(room, &before(7, 3)).await, kept(&[1, 4, 6]));
    assert_eq!(app.history(room, &before(1, 3)).await, kept(&[0]));
    assert_eq!(app.history(room, &before(4, 2)).await, kept(&[0, 1]));
    // A client may page from a message that was deleted since it loaded it.
    assert_eq!(
        app.history(room, &before(5, 3)).await,
        kept(&[0, 1, 4]),
        "paging before a deleted message's id"
    );
    assert_eq!(app.history(room, &before(3, 3)).await, kept(&[0, 1]));
}

async fn history_pages_count_messages_not_their_changes(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "pages";
    let ann = app.signed_in("ann").await;
    let bob = app.signed_in("bob").await;
    let mut sent = Vec::new();
    for i in 0..6 {
        sent.push(app.say(&ann, room, &format!("p{i}")).await);
    }
    // Every message but the first gets changes, later in the log than every message.
    let mut now = vec![Value::Null; 6];
    now[0] = raw(&sent[0]);
    for i in 1..6 {
        now[i] = expect_ok(
            edit(&app, &ann, room, sent[i].id, &format!("p{i} edited")).await,
            "editing",
        )
        .await;
    }
    for i in [2, 4] {
        expect_ok(react(&app, &bob, room, sent[i].id, "👍").await, "reacting").await;
        now[i] = expect_ok(react(&app, &ann, room, sent[i].id, "🎉").await, "reacting").await;
    }
    expect_no_content(remove(&app, &ann, room, sent[3].id).await, "deleting").await;

    let page = |indexes: &[usize]| {
        Value::from(indexes.iter().map(|&i| now[i].clone()).collect::<Vec<_>>())
    };
    assert_eq!(raw_history(&app, room, "").await, page(&[0, 1, 2, 4, 5]));
    assert_eq!(raw_history(&app, room, "?limit=2").await, page(&[4, 5]));
    let before = |i: usize| format!("?limit=2&before={}", sent[i].id);
    assert_eq!(raw_history(&app, room, &before(4)).await, page(&[1, 2]));
    assert_eq!(raw_history(&app, room, &before(1)).await, page(&[0]));
    assert_eq!(raw_history(&app, room, "?limit=1").await, page(&[5]));
}
