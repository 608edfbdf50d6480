//! Changes at once and across nodes: concurrent reactions all land, on one node and on
//! two; an edit and a delete on one node are seen live on the other.

use super::{QUIET, edit, expect_change, expect_no_content, expect_ok, raw_history, react, remove};
use crate::helpers::{BrokerKind, TestApp, spawn_app_with, spawn_node};
use serde_json::{Value, json};
use std::collections::BTreeSet;

contract!(concurrent_reactions_on_one_node_all_land);

async fn concurrent_reactions_on_one_node_all_land(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.signin_rate = 0.0).await;
    twenty_people_react_at_once(&app, &app).await;
}

/// Twenty people, half on `a` and half on `b`, react to one message at once, each with 👍
/// and ten of them with 🎉 too: every reaction lands, once, and every listener ends with
/// the message as history has it. Returns the message as it then stands.
async fn twenty_people_react_at_once(a: &TestApp, b: &TestApp) -> Value {
    let room = "crowd";
    let author = a.signed_in("author").await;
    let sent = a.say(&author, room, "react to me").await;
    // Resumed from the message itself, so that neither stream can still hear it live (a
    // node hears its own publish a moment after the post is answered).
    let after_sent = sent.id.to_string();
    let mut on_a = a.events(room, Some(&after_sent)).await;
    let mut on_b = b.events(room, Some(&after_sent)).await;
    let mut people = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { a } else { b };
        let name = format!("fan {i:02}");
        let client = node.signed_in(&name).await;
        people.push((i, node, name, client));
    }

    let reactions = people.iter().flat_map(|(i, node, name, client)| {
        let emoji: &[&str] = if i % 4 < 2 {
            &["👍", "🎉"]
        } else {
            &["👍"]
        };
        emoji.iter().map(move |&emoji| async move {
            let response = react(node, client, room, sent.id, emoji).await;
            (
                name.as_str(),
                emoji,
                expect_ok(response, &format!("{name} {emoji}")).await,
            )
        })
    });
    let answers = futures::future::join_all(reactions).await;
    assert_eq!(answers.len(), 30);
    for (name, emoji, message) in &answers {
        let names = message["reactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["emoji"] == *emoji)
            .map(|r| r["names"].clone());
        assert!(
            names.is_some_and(|n| n.as_array().unwrap().contains(&json!(name))),
            "the answer to {name} {emoji} holds the reaction: {message}"
        );
    }

    let history = raw_history(a, room, "").await;
    assert_eq!(raw_history(b, room, "").await, history, "both nodes agree");
    let now = history[0].clone();
    let reactions = now["reactions"].as_array().unwrap();
    let names_of = |emoji: &str| -> Vec<String> {
        reactions
            .iter()
            .find(|r| r["emoji"] == emoji)
            .unwrap_or_else(|| panic!("{emoji} in {now}"))["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    let thumbs = names_of("👍");
    let party = names_of("🎉");
    assert_eq!(reactions.len(), 2, "{now}");
    let everyone: BTreeSet<String> = people.iter().map(|p| p.2.clone()).collect();
    let some: BTreeSet<String> = people
        .iter()
        .filter(|p| p.0 % 4 < 2)
        .map(|p| p.2.clone())
        .collect();
    assert_eq!(thumbs.len(), 20, "each name once: {thumbs:?}");
    assert_eq!(thumbs.iter().cloned().collect::<BTreeSet<_>>(), everyone);
    assert_eq!(party.len(), 10, "each name once: {party:?}");
    assert_eq!(party.iter().cloned().collect::<BTreeSet<_>>(), some);

    // Each listener gets one update per change, in the log's order: the k-th shows the
    // message after exactly k reactions, and the last is the message as history has it.
    let mut seen = Vec::new();
    for (node, events) in [("a", &mut on_a), ("b", &mut on_b)] {
        let mut updates = Vec::new();
        let mut last = sent.id;
        for k in 1..=30 {
            let (id, message) = expect_change(events, "update", last).await;
            let total: usize = message["reactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["names"].as_array().unwrap().len())
                .sum();
            assert_eq!(total, k, "update {k} on node {node}: {message}");
            updates.push((id, message));
            last = id;
        }
        assert_eq!(
            updates.last().unwrap().1,
            now,
            "node {node} ends as history"
        );
        events.assert_quiet(QUIET).await;
        seen.push(updates);
    }
    assert_eq!(seen[0], seen[1], "both nodes send the same updates");
    now
}

#[tokio::test]
async fn concurrent_reactions_on_two_nodes_all_land_and_both_agree_on_redis() {
    concurrent_reactions_on_two_nodes_all_land_and_both_agree(BrokerKind::Redis).await;
}

#[tokio::test]
async fn concurrent_reactions_on_two_nodes_all_land_and_both_agree_on_postgres() {
    concurrent_reactions_on_two_nodes_all_land_and_both_agree(BrokerKind::Postgres).await;
}

#[tokio::test]
#[ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"]
async fn concurrent_reactions_on_two_nodes_all_land_and_both_agree_on_the_cluster() {
    concurrent_reactions_on_two_nodes_all_land_and_both_agree(BrokerKind::Cluster).await;
}

#[tokio::test]
async fn an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other_on_redis() {
    an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other(BrokerKind::Redis).await;
}

#[tokio::test]
async fn an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other_on_postgres() {
    an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other(BrokerKind::Postgres).await;
}

#[tokio::test]
#[ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"]
async fn an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other_on_the_cluster() {
    an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other(BrokerKind::Cluster).await;
}

/// Two apps on the test Redis (or cluster), under one key prefix: two nodes of one chat.
async fn two_nodes(kind: BrokerKind) -> (TestApp, TestApp) {
    let a = spawn_node(kind, |c| c.signin_rate = 0.0).await;
    let b = spawn_node(kind, |c| {
        c.signin_rate = 0.0;
        c.redis_prefix = a.config.redis_prefix.clone();
        c.database_url = a.config.database_url.clone();
    })
    .await;
    (a, b)
}

async fn concurrent_reactions_on_two_nodes_all_land_and_both_agree(kind: BrokerKind) {
    let (a, b) = two_nodes(kind).await;
    twenty_people_react_at_once(&a, &b).await;
}

async fn an_edit_and_a_delete_on_one_node_are_seen_live_on_the_other(kind: BrokerKind) {
    let (a, b) = two_nodes(kind).await;
    let room = "across";
    let alice = a.signed_in("alice").await;
    let bob = b.signed_in("bob").await;
    // Opened first and read up to bob's 👍, so that no stream hears it after the edit.
    let mut on_b = b.events(room, None).await;
    let mut on_a = a.events(room, None).await;
    let sent = a.say(&alice, room, "from a").await;
    let reacted = expect_ok(react(&b, &bob, room, sent.id, "👍").await, "bob 👍 on b").await;
    for events in [&mut on_b, &mut on_a] {
        assert_eq!(events.next_named("message").await.message(), sent);
        let (_, live) = expect_change(events, "update", sent.id).await;
        assert_eq!(live, reacted);
    }

    let edited = expect_ok(
        edit(&a, &alice, room, sent.id, "from a, edited").await,
        "edit",
    )
    .await;
    assert_eq!(
        edited["reactions"], reacted["reactions"],
        "an edit keeps the reactions"
    );
    for events in [&mut on_b, &mut on_a] {
        let (_, live) = expect_change(events, "update", sent.id).await;
        assert_eq!(live, edited);
    }
    assert_eq!(raw_history(&b, room, "").await, json!([edited]));

    // alice's session, signed by node A, deletes through node B.
    expect_no_content(remove(&b, &alice, room, sent.id).await, "delete on b").await;
    for events in [&mut on_a, &mut on_b] {
        let (_, data) = expect_change(events, "delete", sent.id).await;
        assert_eq!(data, json!({ "room": room, "id": sent.id.to_string() }));
        events.assert_quiet(QUIET).await;
    }
    assert_eq!(raw_history(&a, room, "").await, json!([]));
}
