//! On the cluster of `TEST_REDIS_CLUSTER_URLS`: rooms spread over every master, and a
//! node subscribes only to the rooms that have listeners there.

use super::{master_of, two_nodes};
use crate::helpers::cluster_urls;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};
use tiny_chat::message::ChatMessage;

#[tokio::test]
#[ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"]
async fn rooms_spread_over_every_master_and_each_delivers_once_in_order() {
    let urls = cluster_urls();
    let (a, b) = two_nodes(&urls).await;
    let prefix = a.config.redis_prefix.clone();
    // Rooms until every master holds two of them.
    let mut by_master: BTreeMap<u16, Vec<String>> = BTreeMap::new();
    for i in 0.. {
        let room = format!("room-{i}");
        let master = master_of(&urls, &prefix, &room);
        let rooms = by_master.entry(master).or_default();
        if rooms.len() < 2 {
            rooms.push(room);
        }
        if by_master.len() == 3 && by_master.values().all(|r| r.len() == 2) {
            break;
        }
        assert!(i < 1000, "three masters: {by_master:?}");
    }
    let rooms: Vec<String> = by_master.into_values().flatten().collect();
    let mut listening = Vec::new();
    for room in &rooms {
        listening.push((room, b.events(room, None).await));
    }
    let ann = a.signed_in("ann").await;
    let mut sent: BTreeMap<&String, Vec<ChatMessage>> = BTreeMap::new();
    for i in 0..5 {
        for room in &rooms {
            let message = a.say(&ann, room, &format!("{room} #{i}")).await;
            sent.entry(room).or_default().push(message);
        }
    }
    for (room, events) in &mut listening {
        for expected in &sent[room] {
            assert_eq!(&events.next().await.message(), expected, "{room}");
        }
        events.assert_quiet(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
#[ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"]
async fn a_node_subscribes_only_to_rooms_with_listeners_there() {
    let urls = cluster_urls();
    let (a, _b) = two_nodes(&urls).await;
    let prefix = a.config.redis_prefix.clone();
    let channel = format!("{prefix}:room:{{quiet}}:live");
    let master = master_of(&urls, &prefix, "quiet");
    let subscribers = || -> i64 {
        let mut connection = redis::Client::open(format!("redis://127.0.0.1:{master}"))
            .unwrap()
            .get_connection()
            .unwrap();
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("SHARDNUMSUB")
            .arg(&channel)
            .query(&mut connection)
            .unwrap();
        count
    };
    assert_eq!(subscribers(), 0, "no listener, no subscription");
    let listener = a.events("quiet", None).await;
    assert_eq!(subscribers(), 1, "one subscription for the node");
    let second = a.events("quiet", None).await;
    assert_eq!(subscribers(), 1, "still one, however many listeners");
    drop((listener, second));
    let deadline = Instant::now() + Duration::from_secs(10);
    while subscribers() != 0 {
        assert!(
            Instant::now() < deadline,
            "the room is unsubscribed once nobody listens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
