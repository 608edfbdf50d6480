//! A session that no longer holds its name is not present: signing out, or moving to
//! another name, ends its streams and its presence at once through the node that did it,
//! and within the hold check's interval through the others (on the cluster, where the
//! streams open on the second node).

use super::{GRACE, empty_presence, expect_person, expect_presence, spawn};
use crate::helpers::{BrokerKind, PROMPTLY, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tiny_chat::server::chat::CHECK_EVERY;

contract!(
    signing_out_ends_the_sessions_presence_and_its_streams,
    a_new_name_ends_the_old_names_presence,
);

/// How long another node may take to notice.
fn within(app: &TestApp) -> Duration {
    let across = if app.peer.is_some() {
        CHECK_EVERY
    } else {
        Duration::ZERO
    };
    across + GRACE + PROMPTLY
}

async fn signing_out_ends_the_sessions_presence_and_its_streams(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut observer = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut observer, "lobby", &[]).await;
    let alice = app.signed_in("alice").await;
    let mut tab = app.listen(&alice, "lobby").await;
    expect_person(&mut observer, "join", "lobby", "alice").await;

    let out = alice.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let leave = observer.next_within(within(&app)).await.expect("a leave");
    assert_eq!(leave.name(), "leave", "{leave:?}");
    assert_eq!(leave.json(), json!({ "room": "lobby", "name": "alice" }));
    tab.expect_end(PROMPTLY).await;
    assert_eq!(app.presence("lobby").await, empty_presence("lobby"));

    // The browser comes back signed out: a listener, not a person.
    let mut back = app.listen(&alice, "lobby").await;
    expect_presence(&mut back, "lobby", &[]).await;
    observer.assert_quiet(GRACE * 2).await;
}

async fn a_new_name_ends_the_old_names_presence(kind: BrokerKind) {
    let app = spawn(kind).await;
    let mut observer = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut observer, "lobby", &[]).await;
    let alice = app.signed_in("alice").await;
    let mut tab = app.listen(&alice, "lobby").await;
    expect_person(&mut observer, "join", "lobby", "alice").await;

    let renamed = alice
        .post(app.url("/api/session"))
        .json(&json!({ "name": "alicia" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    let leave = observer.next_within(within(&app)).await.expect("a leave");
    assert_eq!(leave.json(), json!({ "room": "lobby", "name": "alice" }));
    tab.expect_end(PROMPTLY).await;

    // Back under the new name.
    let _tab = app.listen(&alice, "lobby").await;
    expect_person(&mut observer, "join", "lobby", "alicia").await;
}
