//! Who may change what, and the documented errors of every change that is refused
//! (refused changes change nothing).

use super::{
    QUIET, edit, entry_id, expect_error, expect_no_content, expect_ok, message_url, raw,
    raw_history, react, remove, say_then_watch, unreact,
};
use crate::helpers::{BrokerKind, spawn_app};
use reqwest::{Response, StatusCode};
use serde_json::json;

contract!(
    only_the_sender_may_edit_or_delete_and_nothing_changes_otherwise,
    a_signed_out_session_changes_nothing,
    an_unknown_malformed_or_deleted_id_is_not_found,
    bad_text_bad_emoji_and_no_session_get_their_documented_errors,
    an_empty_emoji_is_an_invalid_reaction,
);

async fn only_the_sender_may_edit_or_delete_and_nothing_changes_otherwise(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "mine";
    let alice = app.signed_in("alice").await;
    let mallory = app.signed_in("mallory").await;
    let (sent, mut events) = say_then_watch(&app, &alice, room, "alice's words").await;

    expect_error(
        edit(&app, &mallory, room, sent.id, "mallory's words").await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "editing someone else's message",
    )
    .await;
    expect_error(
        remove(&app, &mallory, room, sent.id).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "deleting someone else's message",
    )
    .await;

    events.assert_quiet(QUIET).await;
    assert_eq!(raw_history(&app, room, "").await, json!([raw(&sent)]));
    // Reacting is for anyone, though.
    expect_ok(
        react(&app, &mallory, room, sent.id, "👍").await,
        "mallory 👍",
    )
    .await;
}

async fn a_signed_out_session_changes_nothing(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "holders";
    let alice = app.signed_in("alice").await;
    let sent = app.say(&alice, room, "first words").await;
    let sign_out = alice.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(sign_out.status(), StatusCode::NO_CONTENT);

    // The old session holds nothing now. (Whoever takes the name next is another
    // person, who may not change it either: `identity/holding.rs`.)
    expect_error(
        edit(&app, &alice, room, sent.id, "stale").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "editing after signing out",
    )
    .await;
    expect_error(
        remove(&app, &alice, room, sent.id).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "deleting after signing out",
    )
    .await;
    assert_eq!(raw_history(&app, room, "").await, json!([raw(&sent)]));
}

async fn an_unknown_malformed_or_deleted_id_is_not_found(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "missing";
    let ann = app.signed_in("ann").await;
    let (kept, mut events) = say_then_watch(&app, &ann, room, "kept").await;
    let gone = app.say(&ann, room, "gone").await;
    assert_eq!(entry_id(&events.next_named("message").await), gone.id);
    let elsewhere = app.say(&ann, "elsewhere", "in another room").await;
    let edited = expect_ok(
        edit(&app, &ann, room, kept.id, "kept, edited").await,
        "edit",
    )
    .await;
    expect_no_content(remove(&app, &ann, room, gone.id).await, "deleting").await;
    // The id of the edit's own log entry is not a message either.
    let update = events.next_named("update").await;
    let update_id = update.id.clone().unwrap();
    assert_eq!(update.json(), edited);

    let ids = [
        ("an unknown id", "1-0".to_owned()),
        ("a malformed id", "garbage".to_owned()),
        ("a deleted message", gone.id.to_string()),
        ("a message of another room", elsewhere.id.to_string()),
        ("the id of a change", update_id),
    ];
    for (what, id) in &ids {
        let not_found = async |response: Response, action: &str| {
            expect_error(
                response,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{action} {what}"),
            )
            .await;
        };
        not_found(edit(&app, &ann, room, id, "new").await, "editing").await;
        not_found(remove(&app, &ann, room, id).await, "deleting").await;
        not_found(react(&app, &ann, room, id, "👍").await, "reacting to").await;
        not_found(unreact(&app, &ann, room, id, "👍").await, "unreacting to").await;
    }

    assert_eq!(
        raw_history(&app, room, "").await,
        json!([edited]),
        "nothing changed"
    );
    assert_eq!(app.history("elsewhere", "").await, [elsewhere]);
}

async fn bad_text_bad_emoji_and_no_session_get_their_documented_errors(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "errors";
    let ann = app.signed_in("ann").await;
    let anonymous = app.client();
    let (sent, mut events) = say_then_watch(&app, &ann, room, "as typed").await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;

    for (what, text) in [
        ("empty text", " \n ".to_owned()),
        ("long text", "é".repeat(2001)),
        (
            "text padded past 2000 characters",
            format!("hi{}", " ".repeat(1999)),
        ),
    ] {
        let response = edit(&app, &ann, room, sent.id, &text).await;
        expect_error(response, unprocessable, "invalid_message", what).await;
    }
    let url = message_url(&app, room, sent.id);
    let missing = ann.patch(&url).json(&json!({})).send().await.unwrap();
    expect_error(missing, StatusCode::BAD_REQUEST, "bad_request", "no text").await;
    let not_json = ann
        .patch(&url)
        .header("content-type", "application/json")
        .body("{text")
        .send()
        .await
        .unwrap();
    expect_error(not_json, StatusCode::BAD_REQUEST, "bad_request", "not JSON").await;

    let long = "x".repeat(300);
    for emoji in ["x", "abc", "👍👍", "👍x", "\u{200d}", long.as_str()] {
        let what = format!("reacting with {emoji:?}");
        let response = react(&app, &ann, room, sent.id, emoji).await;
        expect_error(response, unprocessable, "invalid_reaction", &what).await;
        let response = unreact(&app, &ann, room, sent.id, emoji).await;
        expect_error(
            response,
            unprocessable,
            "invalid_reaction",
            &format!("un{what}"),
        )
        .await;
    }

    let unauthenticated = async |response: Response, what: &str| {
        expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated", what).await;
    };
    unauthenticated(edit(&app, &anonymous, room, sent.id, "x").await, "edit").await;
    unauthenticated(remove(&app, &anonymous, room, sent.id).await, "delete").await;
    unauthenticated(react(&app, &anonymous, room, sent.id, "👍").await, "react").await;
    unauthenticated(
        unreact(&app, &anonymous, room, sent.id, "👍").await,
        "unreact",
    )
    .await;
    let forged = anonymous
        .patch(&url)
        .header("cookie", "chat_session=forged")
        .json(&json!({ "text": "x" }))
        .send()
        .await
        .unwrap();
    unauthenticated(forged, "a forged cookie").await;

    let bad_room = app.url(&format!("/api/rooms/No%20Way/messages/{}", sent.id));
    let response = ann
        .patch(&bad_room)
        .json(&json!({ "text": "x" }))
        .send()
        .await
        .unwrap();
    expect_error(
        response,
        StatusCode::BAD_REQUEST,
        "invalid_room",
        "a bad room",
    )
    .await;

    events.assert_quiet(QUIET).await;
    assert_eq!(
        raw_history(&app, room, "").await,
        json!([raw(&sent)]),
        "nothing changed"
    );
}

/// An empty emoji is "not one emoji", so `422 invalid_reaction` by API.md's words; but the
/// path then ends in `/reactions/`, which a router may well treat as no route at all
/// (`404`). The brief asks for 422; kept apart so that the other errors are judged alone.
async fn an_empty_emoji_is_an_invalid_reaction(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "empty-emoji";
    let ann = app.signed_in("ann").await;
    let sent = app.say(&ann, room, "as typed").await;
    for (what, response) in [
        (
            "reacting with \"\"",
            react(&app, &ann, room, sent.id, "").await,
        ),
        (
            "unreacting with \"\"",
            unreact(&app, &ann, room, sent.id, "").await,
        ),
    ] {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        expect_error(response, status, "invalid_reaction", what).await;
    }
    assert_eq!(raw_history(&app, room, "").await, json!([raw(&sent)]));
}
