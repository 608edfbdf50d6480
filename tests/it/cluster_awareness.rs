//! Presence and typing on several server processes sharing one Redis: one room, one list
//! of people, whichever node each stream is on; and a node that dies without closing its
//! streams does not leave its people in the room.

use crate::helpers::{
    self, EventReader, NodeProcess, RedisServer, listen, presence, presence_until, typing,
};
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;

/// The leave grace the nodes run with.
const GRACE: Duration = Duration::from_millis(500);

/// Two nodes on a private Redis, sharing a prefix and a secret, with a short leave grace.
async fn two_nodes(redis: &RedisServer) -> (NodeProcess, NodeProcess) {
    two_nodes_typing_every(redis, Duration::from_secs(2)).await
}

/// Two nodes whose `typing` fans out at most once per `throttle`.
async fn two_nodes_typing_every(
    redis: &RedisServer,
    throttle: Duration,
) -> (NodeProcess, NodeProcess) {
    let prefix = helpers::unique_prefix();
    let grace = GRACE.as_secs_f64().to_string();
    let settings = [
        ("REDIS_URL", redis.url()),
        ("CHAT_REDIS_PREFIX", prefix),
        ("CHAT_SECRET", "shared".to_owned()),
        ("CHAT_LEAVE_GRACE_SECS", grace),
        ("CHAT_TYPING_THROTTLE_MS", throttle.as_millis().to_string()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = NodeProcess::start_with(&settings).await;
    let b = NodeProcess::start_with(&settings).await;
    (a, b)
}

/// A browser without the helpers' 30 s request timeout, for streams that must outlive
/// it; signed in as `name` on `node` when a name is given.
async fn lasting_browser(node: &NodeProcess, name: Option<&str>) -> Client {
    let client = Client::builder().cookie_store(true).build().unwrap();
    if let Some(name) = name {
        let response = helpers::try_sign_in(&node.base, &client, name).await;
        assert_eq!(response.status(), StatusCode::OK, "signing in as {name}");
    }
    client
}

/// An anonymous listener on `node`'s `room`, past its opening `presence`.
async fn watch(node: &NodeProcess, room: &str) -> EventReader {
    let mut events = listen(&node.base, &lasting_browser(node, None).await, room).await;
    let first = events.next_named("presence").await;
    assert_eq!(first.json()["room"], room);
    events
}

async fn expect_person(events: &mut EventReader, kind: &str, room: &str, name: &str) {
    let event = events.next_named(kind).await;
    assert_eq!(event.id, None, "{kind} has no id: {event:?}");
    assert_eq!(event.json(), json!({ "room": room, "name": name }));
}

#[tokio::test]
async fn presence_joins_and_leaves_agree_across_two_nodes() {
    let redis = RedisServer::start();
    let (a, b) = two_nodes(&redis).await;
    let mut watch_a = watch(&a, "lobby").await;
    let mut watch_b = watch(&b, "lobby").await;
    let alice = helpers::sign_in(&a.base, "alice").await;

    let tab_on_a = listen(&a.base, &alice, "lobby").await;
    expect_person(&mut watch_b, "join", "lobby", "alice").await;
    expect_person(&mut watch_a, "join", "lobby", "alice").await;
    let alone = json!({ "room": "lobby", "online": ["alice"], "count": 1 });
    for node in [&a, &b] {
        let seen = presence_until(&node.base, "lobby", |p| p["count"] == 1).await;
        assert_eq!(seen, alone, "{}", node.base);
    }

    // Her second tab, on the other node: no second join anywhere.
    let tab_on_b = listen(&b.base, &alice, "lobby").await;
    watch_a.assert_quiet(Duration::from_secs(1)).await;
    watch_b.assert_quiet(Duration::from_millis(100)).await;
    for node in [&a, &b] {
        assert_eq!(presence(&node.base, "lobby").await, alone, "{}", node.base);
    }

    // The tab on A closes: the one on B keeps her in the room, on both nodes.
    drop(tab_on_a);
    watch_a.assert_quiet(GRACE * 3).await;
    watch_b.assert_quiet(Duration::from_millis(100)).await;
    for node in [&a, &b] {
        assert_eq!(presence(&node.base, "lobby").await, alone, "{}", node.base);
    }

    // The last closes: one leave, seen on both nodes.
    drop(tab_on_b);
    expect_person(&mut watch_a, "leave", "lobby", "alice").await;
    expect_person(&mut watch_b, "leave", "lobby", "alice").await;
    watch_a.assert_quiet(Duration::from_millis(500)).await;
    watch_b.assert_quiet(Duration::from_millis(100)).await;
    let empty = json!({ "room": "lobby", "online": [], "count": 0 });
    for node in [&a, &b] {
        assert_eq!(presence(&node.base, "lobby").await, empty, "{}", node.base);
    }
}

#[tokio::test]
async fn typing_is_throttled_across_nodes() {
    let redis = RedisServer::start();
    // A window no machine is slow enough to outlast: nothing here depends on its speed.
    let (a, b) = two_nodes_typing_every(&redis, Duration::from_secs(60)).await;
    let mut watch_a = watch(&a, "lobby").await;
    let mut watch_b = watch(&b, "lobby").await;
    let alice = helpers::sign_in(&a.base, "alice").await;

    assert_eq!(
        typing(&a.base, &alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut watch_a, "typing", "lobby", "alice").await;
    expect_person(&mut watch_b, "typing", "lobby", "alice").await;

    // Within her window, on the other node: answered, not sent.
    assert_eq!(
        typing(&b.base, &alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    watch_b.assert_quiet(Duration::from_millis(500)).await;
    watch_a.assert_quiet(Duration::from_millis(100)).await;

    // Past the window (a short one: a slower machine only waits longer), sent again.
    let (a, b) = two_nodes_typing_every(&redis, Duration::from_millis(200)).await;
    let mut watch_a = watch(&a, "lobby").await;
    let mut watch_b = watch(&b, "lobby").await;
    let alice = helpers::sign_in(&a.base, "alice").await;
    assert_eq!(
        typing(&a.base, &alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut watch_b, "typing", "lobby", "alice").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        typing(&b.base, &alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut watch_a, "typing", "lobby", "alice").await;
    expect_person(&mut watch_a, "typing", "lobby", "alice").await;
    expect_person(&mut watch_b, "typing", "lobby", "alice").await;
}

/// How long after `since` each of `names` got its `leave` on `events`; fails on any
/// other event, and when one has not come `deadline` after `since` (the contract says
/// 30 s; the tests allow 35 and print what they saw).
async fn leaves(
    events: &mut EventReader,
    room: &str,
    names: &[&str],
    since: Instant,
    deadline: Duration,
) -> BTreeMap<String, Duration> {
    let mut seen = BTreeMap::new();
    while seen.len() < names.len() {
        let left = (since + deadline).saturating_duration_since(Instant::now());
        let Some(event) = events.next_within(left).await else {
            panic!(
                "only {seen:?} left within {deadline:?} of the kill; expected {names:?}; \
                 the stream {}",
                if left.is_zero() {
                    "stayed quiet"
                } else {
                    "ended"
                }
            );
        };
        assert_eq!(event.name(), "leave", "{event:?}");
        let data = event.json();
        assert_eq!(data["room"], room, "{event:?}");
        let name = data["name"].as_str().unwrap().to_owned();
        assert!(
            names.contains(&name.as_str()),
            "an unexpected leave: {event:?}"
        );
        assert!(!seen.contains_key(&name), "a second leave: {event:?}");
        seen.insert(name, since.elapsed());
    }
    seen
}

#[tokio::test]
async fn the_people_of_a_killed_node_leave_within_30_seconds() {
    let redis = RedisServer::start();
    let (mut a, b) = two_nodes(&redis).await;
    let mut watch_b = watch(&b, "lobby").await;
    // Alice and Bob are only on A; Carol only on B; Dave has a tab on each.
    let mut tabs = Vec::new();
    for (name, nodes) in [
        ("alice", vec![&a]),
        ("bob", vec![&a]),
        ("carol", vec![&b]),
        ("dave", vec![&a, &b]),
    ] {
        let client = lasting_browser(nodes[0], Some(name)).await;
        for node in nodes {
            tabs.push(listen(&node.base, &client, "lobby").await);
        }
    }
    let mut joined = Vec::new();
    for _ in 0..4 {
        joined.push(watch_b.next_named("join").await.json()["name"].clone());
    }
    joined.sort_by_key(|n| n.as_str().unwrap().to_owned());
    assert_eq!(joined, ["alice", "bob", "carol", "dave"]);
    presence_until(&b.base, "lobby", |p| p["count"] == 4).await;

    let killed = Instant::now();
    a.kill();
    let delays = leaves(
        &mut watch_b,
        "lobby",
        &["alice", "bob"],
        killed,
        Duration::from_secs(35),
    )
    .await;
    println!("leave after kill -9 of their node: {delays:?}");

    // Dave is still here through his tab on B, and so is Carol.
    assert_eq!(
        presence(&b.base, "lobby").await,
        json!({ "room": "lobby", "online": ["carol", "dave"], "count": 2 })
    );
    watch_b.assert_quiet(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_killed_nodes_people_leave_for_listeners_on_a_node_without_people() {
    let redis = RedisServer::start();
    let (mut a, b) = two_nodes(&redis).await;
    // Node B has only an anonymous listener in the room.
    let mut watch_b = watch(&b, "watched").await;
    let alice = lasting_browser(&a, Some("alice")).await;
    let _tab = listen(&a.base, &alice, "watched").await;
    expect_person(&mut watch_b, "join", "watched", "alice").await;

    let killed = Instant::now();
    a.kill();
    let delays = leaves(
        &mut watch_b,
        "watched",
        &["alice"],
        killed,
        Duration::from_secs(35),
    )
    .await;
    println!("leave seen by a listener on a node without people: {delays:?}");
    assert_eq!(
        presence(&b.base, "watched").await,
        json!({ "room": "watched", "online": [], "count": 0 })
    );
}

/// Join, leave and typing travel on Pub/Sub only (they are not in a room's log), so
/// whatever is published while a node re-subscribes is lost to its listeners: a quiet
/// node's keep-alive pings must keep its one Pub/Sub connection, not replace it.
#[tokio::test]
async fn a_quiet_node_keeps_its_pubsub_connection() {
    let redis = RedisServer::start();
    let (a, _b) = two_nodes(&redis).await;
    let _listening = watch(&a, "lobby").await;

    tokio::time::sleep(Duration::from_secs(12)).await;

    let clients = redis.clients();
    let subscribers: Vec<&String> = clients.iter().filter(|c| c.contains(" psub=1 ")).collect();
    assert_eq!(subscribers.len(), 2, "one per node: {clients:#?}");
    for subscriber in subscribers {
        let age: u64 = subscriber
            .split(' ')
            .find_map(|field| field.strip_prefix("age="))
            .and_then(|age| age.parse().ok())
            .expect("CLIENT LIST has age=");
        assert!(
            age >= 10,
            "a Pub/Sub connection was replaced during 12 s of quiet (age {age} s): {subscriber}"
        );
    }
}
