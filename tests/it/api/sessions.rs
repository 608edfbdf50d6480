//! Signing in, reading and signing out; the post limit, which is the name's.

use crate::helpers::{BrokerKind, spawn_app, spawn_app_with, texts};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tiny_chat::message::rfc3339_millis;

contract!(
    sessions_sign_in_read_and_sign_out,
    posting_faster_than_the_limit_gets_429_with_retry_after,
);

async fn sessions_sign_in_read_and_sign_out(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let client = app.client();
    let url = app.url("/api/session");
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let response = client
        .post(&url)
        .json(&json!({ "name": "  Zoë 山田 " }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("chat_session="), "{cookie}");
    let max_age = format!("Max-Age={}", 30 * 86_400);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", max_age.as_str()] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{cookie} lacks {attribute}"
        );
    }
    // The name, and when its holding began (this server's addition to the contract).
    let answer: Value = response.json().await.unwrap();
    let since = answer["since"]
        .as_str()
        .expect("since, as a time")
        .to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let now = u64::try_from(now.unwrap().as_millis()).unwrap();
    let (from, to) = (rfc3339_millis(now - 60_000), rfc3339_millis(now));
    assert!(from < since && since <= to, "{since} not in {from}..={to}");
    assert_eq!(answer, json!({ "name": "Zoë 山田", "since": since }));
    let me: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(me, answer);

    assert_eq!(
        client.delete(&url).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn posting_faster_than_the_limit_gets_429_with_retry_after(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        c.post_rate = 1.0;
        c.post_burst = 3;
    })
    .await;
    let ann = app.signed_in("ann").await;
    let bob = app.signed_in("bob").await;
    for i in 0..3 {
        app.say(&ann, "everyone", &format!("burst {i}")).await;
    }

    let response = app.post(&ann, "everyone", "one too many").await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        texts(&app.history("everyone", "").await),
        ["burst 0", "burst 1", "burst 2"]
    );
    // The limit is the name's: signing out and in again does not reset it.
    assert_eq!(
        ann.delete(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let ann = app.signed_in("ann").await;
    let again = app.post(&ann, "everyone", "after signing in again").await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another name is not affected, and the limited one may post again after waiting.
    app.say(&bob, "everyone", "bob is fine").await;
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    app.say(&ann, "everyone", "after waiting").await;
}
