//! A message belongs to the holding of a name, not to the string: when a guest's name is
//! released and someone else takes it, the new holder cannot change the earlier holder's
//! messages (issue 23's seventh finding), while a holder keeps their own through
//! signing in again with the name they hold.

use crate::helpers::{BrokerKind, TestApp, error_code, spawn_app};
use reqwest::{Client, StatusCode};
use serde_json::json;
use tiny_chat::message::ChatMessage;

contract!(
    a_later_holder_of_a_name_cannot_change_an_earlier_holders_messages,
    signing_in_again_with_the_name_one_holds_keeps_ones_messages,
);

async fn edit(app: &TestApp, client: &Client, message: &ChatMessage, text: &str) -> StatusCode {
    let url = app.url(&format!("/api/rooms/everyone/messages/{}", message.id));
    let answer = client
        .patch(url)
        .json(&json!({ "text": text }))
        .send()
        .await;
    answer.unwrap().status()
}

async fn delete(app: &TestApp, client: &Client, message: &ChatMessage) -> reqwest::Response {
    let url = app.url(&format!("/api/rooms/everyone/messages/{}", message.id));
    client.delete(url).send().await.unwrap()
}

async fn history(app: &TestApp) -> Vec<ChatMessage> {
    let answer = app.client().get(app.url("/api/rooms/everyone/messages"));
    answer.send().await.unwrap().json().await.unwrap()
}

/// When the session's holding began, as `GET /api/session` says (as `sent_at` says a
/// time): what clients go by to show a message as the holder's own.
async fn since(app: &TestApp, client: &Client) -> String {
    let me = client.get(app.url("/api/session")).send().await.unwrap();
    let me: serde_json::Value = me.json().await.unwrap();
    me["since"].as_str().expect("since").to_owned()
}

async fn a_later_holder_of_a_name_cannot_change_an_earlier_holders_messages(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let first = app.signed_in("mason").await;
    let old = app
        .say(&first, "everyone", "the first mason wrote this")
        .await;
    let out = first.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // Someone else takes the released name (in another case, which is the same name).
    let second = app.signed_in("Mason").await;
    assert_eq!(
        edit(&app, &second, &old, "rewritten").await,
        StatusCode::FORBIDDEN
    );
    let refused = delete(&app, &second, &old).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(refused).await, "forbidden");
    assert_eq!(history(&app).await, vec![old.clone()], "unchanged");

    // What the new holder writes is theirs, and clients can tell which is which.
    let new = app.say(&second, "everyone", "the second mason").await;
    let held = since(&app, &second).await;
    assert!(
        old.sent_at < held && held <= new.sent_at,
        "{} {held} {}",
        old.sent_at,
        new.sent_at
    );
    assert_eq!(edit(&app, &second, &new, "edited").await, StatusCode::OK);
    assert_eq!(
        delete(&app, &second, &new).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(history(&app).await, vec![old]);
}

async fn signing_in_again_with_the_name_one_holds_keeps_ones_messages(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let client = app.signed_in("ann").await;
    let message = app.say(&client, "everyone", "mine").await;
    let held = since(&app, &client).await;
    assert!(held <= message.sent_at, "{held} {}", message.sent_at);
    for again in ["ann", "Ann"] {
        let answer = client
            .post(app.url("/api/session"))
            .json(&json!({ "name": again }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(since(&app, &client).await, held, "the same holding");
        assert_eq!(
            edit(&app, &client, &message, &format!("still mine ({again})")).await,
            StatusCode::OK
        );
    }
    // A name left and taken again is a new holding, even by the same browser: nothing
    // tells the server that it is the same person.
    for name in ["anne", "ann"] {
        let answer = client
            .post(app.url("/api/session"))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    assert_eq!(
        edit(&app, &client, &message, "and now?").await,
        StatusCode::FORBIDDEN
    );
    assert!(
        since(&app, &client).await > message.sent_at,
        "a new holding"
    );
}
