//! Several server processes on one Redis behave as one chat.

use crate::helpers::{
    self, EventReader, NodeProcess, PROMPTLY, RedisServer, texts, try_sign_in, unique_prefix,
};
use reqwest::{Client, StatusCode};
use std::time::Duration;
use tiny_chat::message::ChatMessage;

async fn sign_in(node: &NodeProcess, name: &str) -> Client {
    helpers::sign_in(&node.base, name).await
}

async fn say(client: &Client, node: &NodeProcess, room: &str, text: &str) -> ChatMessage {
    helpers::say(&node.base, client, room, text).await
}

async fn events(node: &NodeProcess, room: &str, last_event_id: Option<&str>) -> EventReader {
    let mut request = Client::new().get(node.url(&format!("/api/rooms/{room}/events")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    EventReader::new(request.send().await.unwrap())
}

#[tokio::test]
async fn a_message_posted_on_one_node_reaches_a_subscriber_on_another() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let b = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let mut on_b = events(&b, "everyone", None).await;
    let mut on_a = events(&a, "everyone", None).await;

    let alice = sign_in(&a, "alice").await;
    let sent = say(&alice, &a, "everyone", "hello from a").await;
    // The session signed by node A is good on node B.
    let reply = say(&alice, &b, "everyone", "and from b").await;

    assert_eq!(on_b.messages(2).await, [sent.clone(), reply.clone()]);
    assert_eq!(on_a.messages(2).await, [sent, reply]);
    on_b.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn resume_works_across_nodes() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let b = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let ann = sign_in(&a, "ann").await;
    let mut first = events(&a, "everyone", None).await;
    let seen = say(&ann, &a, "everyone", "seen").await;
    assert_eq!(first.next().await.message(), seen);
    drop(first);

    for text in ["missed 1", "missed 2"] {
        say(&ann, &a, "everyone", text).await;
    }
    let mut resumed = events(&b, "everyone", Some(&seen.id.to_string())).await;
    say(&ann, &b, "everyone", "live").await;

    assert_eq!(
        texts(&resumed.messages(3).await),
        ["missed 1", "missed 2", "live"]
    );
    resumed.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn each_node_holds_one_pubsub_connection_however_many_listeners() {
    let redis = RedisServer::start();
    let prefix = unique_prefix();
    let a = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let b = NodeProcess::start(&redis.url(), &prefix, "shared").await;
    let before = redis.clients().len();

    let mut streams = Vec::new();
    for i in 0..50 {
        let node = if i % 2 == 0 { &a } else { &b };
        streams.push(events(node, &format!("room-{}", i % 5), None).await);
    }
    let ann = sign_in(&a, "ann").await;
    say(&ann, &a, "room-0", "to ten listeners").await;
    for stream in streams.iter_mut().step_by(5) {
        assert_eq!(stream.next().await.message().text, "to ten listeners");
    }

    let clients = redis.clients();
    let subscribers = clients.iter().filter(|c| c.contains(" psub=1 ")).count();
    assert_eq!(
        subscribers, 2,
        "one Pub/Sub connection per node: {clients:#?}"
    );
    assert!(
        clients.len() <= before + 1,
        "50 listeners opened no Redis connections ({before} before, {} after)",
        clients.len()
    );
}

/// Two nodes on a private Redis, sharing a prefix and a secret.
async fn two_nodes(redis: &RedisServer, env: &[(&str, &str)]) -> (NodeProcess, NodeProcess) {
    let prefix = unique_prefix();
    let mut settings = vec![
        ("REDIS_URL", redis.url()),
        ("CHAT_REDIS_PREFIX", prefix),
        ("CHAT_SECRET", "shared".to_owned()),
    ];
    settings.extend(env.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = NodeProcess::start_with(&settings).await;
    let b = NodeProcess::start_with(&settings).await;
    (a, b)
}

#[tokio::test]
async fn two_sessions_racing_for_one_name_on_two_nodes_exactly_one_wins() {
    let redis = RedisServer::start();
    // All the test's clients are 127.0.0.1: lift the per-address sign-in limit.
    let (a, b) = two_nodes(&redis, &[("CHAT_SIGNIN_RATE", "0")]).await;
    for round in 0..20 {
        let (name, shouted) = (format!("racer {round}"), format!("RACER {round}"));
        let (on_a, on_b) = (helpers::browser(), helpers::browser());
        let (from_a, from_b) = tokio::join!(
            try_sign_in(&a.base, &on_a, &name),
            try_sign_in(&b.base, &on_b, &shouted),
        );
        let mut statuses = [from_a.status(), from_b.status()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_signed_out_cookie_is_refused_on_both_nodes_at_once() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis, &[]).await;
    let alice = helpers::browser();
    let signed_in = try_sign_in(&a.base, &alice, "alice").await;
    let copied = helpers::session_cookie(&signed_in);
    let with_copy = |node: &NodeProcess, path: &str| {
        helpers::browser()
            .get(node.url(path))
            .header("cookie", copied.clone())
    };
    assert_eq!(
        with_copy(&b, "/api/session").send().await.unwrap().status(),
        StatusCode::OK
    );

    let out = alice.delete(a.url("/api/session")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // Nothing is cached: the very next request on either node is refused.
    for node in [&a, &b] {
        let read = with_copy(node, "/api/session").send().await.unwrap();
        assert_eq!(read.status(), StatusCode::UNAUTHORIZED, "{}", node.base);
        let post = helpers::browser()
            .post(node.url("/api/rooms/everyone/messages"))
            .header("cookie", copied.clone())
            .json(&serde_json::json!({ "text": "with a signed-out cookie" }))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::UNAUTHORIZED, "{}", node.base);
    }
    let history: Vec<ChatMessage> = helpers::browser()
        .get(b.url("/api/rooms/everyone/messages"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(history.is_empty());
}

#[tokio::test]
async fn two_nodes_share_one_post_limit_per_name_across_sign_ins() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(
        &redis,
        &[("CHAT_POST_RATE", "0.5"), ("CHAT_POST_BURST", "3")],
    )
    .await;
    let ann = sign_in(&a, "ann").await;
    say(&ann, &a, "everyone", "one").await;
    say(&ann, &b, "everyone", "two").await;
    say(&ann, &a, "everyone", "three").await;

    let limited = helpers::post(&b.base, &ann, "everyone", "four").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
    // Signing out and in again, on the other node, does not reset it.
    ann.delete(b.url("/api/session")).send().await.unwrap();
    let ann = sign_in(&b, "ann").await;
    let still = helpers::post(&a.base, &ann, "everyone", "five").await;
    assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_node_killed_mid_conversation_loses_no_accepted_post() {
    let redis = RedisServer::start();
    let (mut a, b) = two_nodes(&redis, &[]).await;
    let ann = sign_in(&a, "ann").await;
    let bob = sign_in(&b, "bob").await;
    // Ann's browser listens on node A.
    let mut listening = events(&a, "everyone", None).await;
    let mut accepted = Vec::new();
    let mut received = Vec::new();
    for i in 0..5 {
        accepted.push(say(&ann, &a, "everyone", &format!("ann {i}")).await);
        accepted.push(say(&bob, &b, "everyone", &format!("bob {i}")).await);
    }
    received.extend(listening.messages(10).await);

    a.kill();
    assert!(
        listening.next_within(PROMPTLY).await.is_none(),
        "the killed node's stream ends"
    );
    // While Ann's browser is away, Bob goes on; then it reconnects to node B with the
    // last id it has, and Ann posts there with the cookie node A signed.
    for i in 5..8 {
        accepted.push(say(&bob, &b, "everyone", &format!("bob {i}")).await);
    }
    let last = received.last().unwrap().id.to_string();
    let mut resumed = events(&b, "everyone", Some(&last)).await;
    for i in 8..10 {
        accepted.push(say(&ann, &b, "everyone", &format!("ann {i}")).await);
    }
    received.extend(resumed.messages(accepted.len() - received.len()).await);
    resumed.assert_quiet(Duration::from_millis(300)).await;

    assert_eq!(received, accepted, "every accepted post, once, in order");
}

#[tokio::test]
async fn two_nodes_share_one_sign_in_limit_per_client_address() {
    let redis = RedisServer::start();
    let proxy = ("CHAT_TRUSTED_PROXIES", "loopback");
    let (a, b) = two_nodes(&redis, &[("CHAT_SIGNIN_RATE", "3"), proxy]).await;
    let sign_in_from = |node: &NodeProcess, address: &str, name: &str| {
        helpers::browser()
            .post(node.url("/api/session"))
            .header("x-forwarded-for", address)
            .json(&serde_json::json!({ "name": name }))
            .send()
    };
    for (node, name) in [(&a, "one"), (&b, "two"), (&a, "three")] {
        let response = sign_in_from(node, "203.0.113.9", name).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    for node in [&a, &b] {
        let limited = sign_in_from(node, "203.0.113.9", "four").await.unwrap();
        assert_eq!(
            limited.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            node.base
        );
    }
    let elsewhere = sign_in_from(&b, "198.51.100.9", "four").await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::OK);
}
