//! A session is the one that signed in: a cookie planted in a browser before its owner
//! signs in, or a copy of one whose name moved on, never becomes the signed-in session
//! (issue 23's session fixation).

use crate::helpers::{BrokerKind, error_code, session_cookie, spawn_app, try_sign_in};
use reqwest::{Client, Response, StatusCode};
use serde_json::json;

contract!(
    a_planted_signed_out_cookie_does_not_become_the_victims_session,
    a_stolen_cookie_does_not_follow_its_owner_to_a_new_name,
);

/// A client without a cookie store: it sends exactly the cookie it is given.
fn bare() -> Client {
    Client::new()
}

async fn post_with(app: &crate::helpers::TestApp, cookie: &str, text: &str) -> Response {
    bare()
        .post(app.url("/api/rooms/everyone/messages"))
        .header("cookie", cookie)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
}

async fn sign_in_with(app: &crate::helpers::TestApp, cookie: &str, name: &str) -> Response {
    bare()
        .post(app.url("/api/session"))
        .header("cookie", cookie)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
}

async fn a_planted_signed_out_cookie_does_not_become_the_victims_session(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    // The attacker signs in and out, and keeps the (validly signed) cookie.
    let attacker = app.client();
    let planted = session_cookie(&try_sign_in(&app.base, &attacker, "eve").await);
    let out = bare()
        .delete(app.url("/api/session"))
        .header("cookie", &planted)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // The victim's browser carries the planted cookie when the victim signs in.
    let signed_in = sign_in_with(&app, &planted, "victim").await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let victims = session_cookie(&signed_in);
    let message = post_with(&app, &victims, "hello from the victim").await;
    assert_eq!(message.status(), StatusCode::CREATED);
    let message: serde_json::Value = message.json().await.unwrap();

    // The attacker's copy of the planted cookie is not the victim's session.
    let forged = post_with(&app, &planted, "posted as the victim?").await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(forged).await, "unauthenticated");
    let edit = bare()
        .patch(app.url(&format!(
            "/api/rooms/everyone/messages/{}",
            message["id"].as_str().unwrap()
        )))
        .header("cookie", &planted)
        .json(&json!({ "text": "edited by the attacker" }))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), StatusCode::UNAUTHORIZED);
    let taken = sign_in_with(&app, &planted, "victim").await;
    assert_eq!(
        taken.status(),
        StatusCode::CONFLICT,
        "the name is the victim's"
    );
    assert_eq!(
        post_with(&app, &victims, "still mine").await.status(),
        StatusCode::CREATED
    );
}

async fn a_stolen_cookie_does_not_follow_its_owner_to_a_new_name(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let owner = app.client();
    let stolen = session_cookie(&try_sign_in(&app.base, &owner, "mason").await);
    // The owner moves to a new name; the stolen copy still says `mason`.
    assert_eq!(
        try_sign_in(&app.base, &owner, "mason2").await.status(),
        StatusCode::OK
    );
    let follow = sign_in_with(&app, &stolen, "mason2").await;
    assert_eq!(follow.status(), StatusCode::CONFLICT);
    assert_eq!(error_code(follow).await, "name_taken");
    assert_eq!(
        app.post(&owner, "everyone", "still mine").await.status(),
        StatusCode::CREATED
    );
}
