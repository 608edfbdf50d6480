//! Redis goes away and comes back: no accepted message is lost or duplicated.

use crate::helpers::{self, BrokerKind, PROMPTLY, RedisServer, TestApp, free_port, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use tiny_chat::message::ChatMessage;

/// Two apps on `redis`, under one key prefix: two nodes of one chat.
async fn two_apps(redis: &RedisServer) -> (TestApp, TestApp) {
    let url = redis.url();
    let a = spawn_app_with(BrokerKind::Redis, |c| c.redis_url = Some(url.clone())).await;
    let b = spawn_app_with(BrokerKind::Redis, |c| {
        c.redis_url = Some(url);
        c.redis_prefix = a.config.redis_prefix.clone();
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn a_connected_subscriber_gets_every_accepted_message_across_a_redis_restart() {
    let mut redis = RedisServer::start();
    let (a, b) = two_apps(&redis).await;
    let on_a = a.signed_in("ann").await;
    let on_b = b.signed_in("bob").await;
    let mut subscriber = a.events("everyone", None).await;
    let mut accepted: Vec<ChatMessage> = Vec::new();

    for i in 0..3 {
        accepted.push(a.say(&on_a, "everyone", &format!("before {i}")).await);
    }
    // Heard before the kill: this Redis keeps nothing on disk, so a message still on its
    // way to A's Pub/Sub connection when it dies is gone from the stream too.
    assert_eq!(subscriber.messages(3).await, accepted);

    // Down long enough (1.5 s) that node A's Pub/Sub reconnect is backing off when Redis
    // returns, so that what node B accepts first reaches A only through its catch-up.
    redis.kill();
    for i in 0..15 {
        let response = a.post(&on_a, "everyone", &format!("while down {i}")).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = a.client().get(a.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A signed-in browser's stream opens too (as an anonymous one, since its hold cannot
    // be checked): an error status would make its EventSource give up.
    drop(helpers::listen(&a.base, &on_a, "everyone").await);
    let healthy = a.client().get(a.url("/healthz")).send().await.unwrap();
    assert_eq!(healthy.status(), StatusCode::OK);

    redis.restart();
    // Post through node B at once, while node A's Pub/Sub may still be reconnecting, then
    // through both: every 201 counts, every 503 stored nothing.
    let deadline = tokio::time::Instant::now() + PROMPTLY * 2;
    let mut i = 0;
    while accepted.len() < 3 + 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis never came back"
        );
        let (app, client, name) = if i % 3 == 0 {
            (&a, &on_a, "ann")
        } else {
            (&b, &on_b, "bob")
        };
        let response = app.post(client, "everyone", &format!("after {i}")).await;
        i += 1;
        match response.status() {
            StatusCode::CREATED => accepted.push(response.json().await.unwrap()),
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(Duration::from_millis(10)).await,
            // This Redis keeps nothing on disk, so its restart lost the name holds: the
            // session signs in again (its cookie keeps its id) and posts on.
            StatusCode::UNAUTHORIZED => {
                let again = helpers::try_sign_in(&app.base, client, name).await;
                assert!(
                    matches!(
                        again.status(),
                        StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE
                    ),
                    "signing in again: {}",
                    again.status()
                );
            }
            other => panic!("unexpected {other}"),
        }
    }

    let received = subscriber.messages(accepted.len() - 3).await;
    assert_eq!(
        received,
        accepted[3..],
        "every accepted message, once, in order"
    );
    subscriber.assert_quiet(Duration::from_millis(500)).await;
    helpers::wait_ready(&a.base).await;
    assert!(
        a.metric("chat_broker_caught_up_total").await > 0.0,
        "node A delivered what it missed from the stream"
    );
}

#[tokio::test]
async fn without_redis_posts_get_503_and_the_node_is_not_ready() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(BrokerKind::Memory, |c| c.redis_url = Some(url)).await;
    let client = app.client();

    // A name is held in Redis, so signing in needs it too.
    let response = helpers::try_sign_in(&app.base, &client, "ann").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(helpers::error_code(response).await, "unavailable");
    let ready = app.client().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let history = app
        .client()
        .get(app.url("/api/rooms/everyone/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A stream still opens, live from now; a resume asks the browser to retry later.
    let events = app.events("everyone", Some("1-0")).await;
    assert_eq!(events.headers["content-type"], "text/event-stream");
}

/// Redis keeps nothing on disk here: a restart loses every presence entry, and the joins
/// and leaves published while a node re-subscribes are lost. The nodes put their people
/// back (their refresh), and each node sends its rooms' presence again once its Pub/Sub
/// is back, so that a listener's member list is right again.
#[tokio::test]
async fn presence_comes_back_after_a_redis_restart() {
    let mut redis = RedisServer::start();
    let (a, b) = two_apps(&redis).await;
    // A client without the 30 s limit of `browser()`: the stream outlives the restart.
    let ann = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    assert_eq!(
        helpers::try_sign_in(&a.base, &ann, "ann").await.status(),
        StatusCode::OK
    );
    let _ann_here = helpers::listen(&a.base, &ann, "back").await;
    let watcher = reqwest::Client::new();
    let mut watching = helpers::events_many(&b.base, &watcher, "rooms=back&here=back", None).await;
    let first = watching.next_named("presence").await.json();
    assert_eq!(first["online"], serde_json::json!(["ann"]));
    // Ann's own `join` may follow that first presence (B subscribed before it reached
    // B): set aside, so that only what B hears after the restart counts below.
    while watching
        .next_within(Duration::from_millis(300))
        .await
        .is_some()
    {}

    redis.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    redis.restart();

    // Within a refresh (5 s) and a reconnect, ann is back in Redis, and B's listener
    // has been told: by a `join` (ann's node re-entering her) or by a fresh `presence`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut told = false;
    while !told {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = watching
            .next_within(left)
            .await
            .expect("the listener is told who is here after the restart");
        let data = event.json();
        told = match event.name() {
            "presence" => data["online"] == serde_json::json!(["ann"]),
            "join" => data["name"] == "ann",
            _ => false,
        };
    }
    // B's command connection notices that Redis restarted on the first command it sends
    // there (that one answers 503), and reconnects.
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let response = watcher
            .get(b.url("/api/rooms/back/presence"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let presence: Value = response.json().await.unwrap();
            assert_eq!(presence["online"], serde_json::json!(["ann"]));
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            tokio::time::Instant::now() < deadline,
            "B reads presence again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
