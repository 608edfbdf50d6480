//! The broker on a real Redis Cluster: rooms spread over every master, and a master
//! killed or a slot moved while people talk. (The contract suites run on the cluster too:
//! their `cluster::` cases.)
//!
//! Every test here is ignored on a plain `cargo test`: those of `spread` need the cluster
//! of `TEST_REDIS_CLUSTER_URLS`, and those of `failover` start one of their own
//! ([`local::LocalCluster`]) to break it. `scripts/test` runs them all.

mod failover;
mod local;
mod spread;

use crate::helpers::{BrokerKind, TestApp, spawn_node};
use tiny_chat::server::broker::redis::ask_any_node;

/// Each slot range's master port, from `CLUSTER SLOTS` on any node of `urls`.
fn slot_masters(urls: &[String]) -> Vec<(u16, u16, u16)> {
    // Each range: [from, to, [master ip, port, id, ...], replicas...].
    let ranges: Vec<Vec<redis::Value>> = ask_any_node(urls, redis::cmd("CLUSTER").arg("SLOTS"))
        .unwrap_or_else(|| panic!("no node of {urls:?} answers CLUSTER SLOTS"));
    let number = |value: &redis::Value| redis::from_redis_value_ref::<u16>(value).unwrap();
    ranges
        .iter()
        .map(|range| {
            let redis::Value::Array(master) = &range[2] else {
                panic!("a master in {range:?}")
            };
            (number(&range[0]), number(&range[1]), number(&master[1]))
        })
        .collect()
}

/// The port of the master that holds `room`'s keys now.
fn master_of(urls: &[String], prefix: &str, room: &str) -> u16 {
    let key = format!("{prefix}:room:{{{room}}}:log");
    let slot: u16 = ask_any_node(urls, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key))
        .expect("a node answers CLUSTER KEYSLOT");
    slot_masters(urls)
        .into_iter()
        .find(|(from, to, _)| (*from..=*to).contains(&slot))
        .map(|(_, _, port)| port)
        .unwrap()
}

/// Two apps on the cluster at `urls`, under one key prefix: two nodes of one chat.
async fn two_nodes(urls: &[String]) -> (TestApp, TestApp) {
    let a = spawn_node(BrokerKind::Cluster, |c| {
        c.redis_cluster_urls = urls.to_vec();
        c.signin_rate = 0.0;
    })
    .await;
    let b = spawn_node(BrokerKind::Cluster, |c| {
        c.redis_cluster_urls = urls.to_vec();
        c.signin_rate = 0.0;
        c.redis_prefix = a.config.redis_prefix.clone();
    })
    .await;
    (a, b)
}
