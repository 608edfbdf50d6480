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

    // What the new holder writes is theirs.
    let new = app.say(&second, "everyone", "the second mason").await;
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
    for again in ["ann", "Ann"] {
        let answer = client
            .post(app.url("/api/session"))
            .json(&json!({ "name": again }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
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
}
