//! Several server processes on one Redis behave as one chat.
#![cfg(feature = "ssr")]

mod common;

use common::{EventReader, NodeProcess, RedisServer, texts, unique_prefix};
use reqwest::Client;
use std::time::Duration;
use tiny_chat::message::ChatMessage;

async fn sign_in(node: &NodeProcess, name: &str) -> Client {
    common::sign_in(&node.base, name).await
}

async fn say(client: &Client, node: &NodeProcess, room: &str, text: &str) -> ChatMessage {
    common::say(&node.base, client, room, text).await
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
