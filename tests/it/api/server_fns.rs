//! The pages' server functions (`/sf/*`) refuse as the API does: the status and the
//! JSON error shape, to anything but a form posted without JavaScript, which goes back
//! to its page with the reason (issue 23: they answered `500 text/plain` for a client's
//! mistakes).

use crate::helpers::{BrokerKind, TestApp, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

contract!(server_functions_refuse_with_the_apis_status_and_shape);

/// Posts a form to a server function as a script would, and reads the answer.
async fn call(app: &TestApp, client: &Client, path: &str, form: &str) -> (StatusCode, Value) {
    let response = client
        .post(app.url(path))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let json = response.headers()["content-type"] == "application/json";
    assert!(json, "{path}: {:?}", response.headers());
    (status, response.json().await.unwrap())
}

fn refusal(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

async fn server_functions_refuse_with_the_apis_status_and_shape(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        c.post_rate = 0.001;
        c.post_burst = 2;
    })
    .await;
    let nobody = app.client();
    let cases = [
        (
            "/sf/post",
            "room=Not+A+Room&text=hi",
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        (
            "/sf/post",
            "room=everyone&text=hi",
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        (
            "/sf/sign_in",
            "name=%3Cb%3E",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        (
            "/sf/history",
            "room=Not+A+Room",
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        ("/sf/history", "", StatusCode::BAD_REQUEST, "bad_request"),
        (
            "/sf/post",
            "text=hi",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (path, form, status, code) in cases {
        let (got, body) = call(&app, &nobody, path, form).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path} {form}: {body}"
        );
    }

    let ann = app.signed_in("ann").await;
    let (status, body) = call(&app, &ann, "/sf/sign_in", "name=ann").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mallory = app.client();
    let (status, body) = call(&app, &mallory, "/sf/sign_in", "name=Ann").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body,
        refusal(
            "name_taken",
            "that name is taken by someone who is signed in; pick another"
        )
    );
    let long = "x".repeat(2001);
    let (status, body) = call(
        &app,
        &ann,
        "/sf/post",
        &format!("room=everyone&text={long}"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body,
        refusal(
            "invalid_message",
            "message text must be 1 to 2000 characters"
        )
    );

    // Past the post limit: 429 with when to try again.
    let answer = loop {
        let response = ann
            .post(app.url("/sf/post"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("room=everyone&text=again")
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            break response;
        }
    };
    assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers().contains_key("retry-after"));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}
