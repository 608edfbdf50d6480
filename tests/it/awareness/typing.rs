//! `typing`: sent once per person and room per throttle window, only for a session.
//!
//! Nothing here depends on how fast the machine is: the "once per window" half runs on a
//! node whose window is a minute, which no run outlasts, and the "past the window" half
//! on a node whose window is short and is waited out by a sleep, which a slower machine
//! only makes longer.

use super::{GRACE, expect_person, expect_presence};
use crate::helpers::{self, BrokerKind, TestApp, error_code, spawn_app_with};
use reqwest::StatusCode;
use std::time::Duration;

contract!(typing_fans_out_once_per_person_and_room_every_two_seconds);

/// A throttle window longer than any run of the test, however loaded the machine.
const LONG_WINDOW: Duration = Duration::from_secs(60);

/// A throttle window short enough to wait out.
const SHORT_WINDOW: Duration = Duration::from_millis(200);

/// A node with the suite's leave grace and this typing throttle window.
async fn spawn_with_window(kind: BrokerKind, window: Duration) -> TestApp {
    spawn_app_with(kind, |c| {
        c.leave_grace_secs = GRACE.as_secs_f64();
        c.typing_throttle_ms = window.as_millis().try_into().unwrap();
    })
    .await
}

async fn typing_fans_out_once_per_person_and_room_every_two_seconds(kind: BrokerKind) {
    let app = spawn_with_window(kind, LONG_WINDOW).await;
    let (alice, bob) = (app.signed_in("alice").await, app.signed_in("bob").await);
    let mut lobby = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut lobby, "lobby", &[]).await;
    let mut other = app.listen(&app.client(), "other").await;
    expect_presence(&mut other, "other", &[]).await;

    let first = app.typing(&alice, "lobby").await;
    assert_eq!(first.status(), StatusCode::NO_CONTENT);
    expect_person(&mut lobby, "typing", "lobby", "alice").await;

    // Within her window: answered, not sent. Bob and another room have windows of their own.
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.typing(&bob, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut lobby, "typing", "lobby", "bob").await;
    assert_eq!(
        app.typing(&alice, "other").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut other, "typing", "other", "alice").await;
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    lobby.assert_quiet(Duration::from_millis(500)).await;
    other.assert_quiet(Duration::from_millis(100)).await;

    // Typing needs the session; the room must be a room.
    let anonymous = app.typing(&app.client(), "lobby").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(anonymous).await, "unauthenticated");
    // A copy of a cookie whose owner signed out gets 401 too, and sends nothing.
    let carol = app.client();
    let signed = helpers::try_sign_in(&app.base, &carol, "carol").await;
    let cookie = helpers::session_cookie(&signed);
    let sign_out = carol.delete(app.url("/api/session")).send().await.unwrap();
    assert_eq!(sign_out.status(), StatusCode::NO_CONTENT);
    let revoked = app
        .client()
        .post(app.url("/api/rooms/lobby/typing"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(revoked).await, "unauthenticated");
    let bad = app.typing(&alice, "UPPER").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(bad).await, "invalid_room");
    lobby.assert_quiet(Duration::from_millis(300)).await;
    other.assert_quiet(Duration::from_millis(100)).await;
    drop((lobby, other, app));

    // Past the window, it is sent again.
    let app = spawn_with_window(kind, SHORT_WINDOW).await;
    let alice = app.signed_in("alice").await;
    let mut lobby = app.listen(&app.client(), "lobby").await;
    expect_presence(&mut lobby, "lobby", &[]).await;
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut lobby, "typing", "lobby", "alice").await;
    tokio::time::sleep(SHORT_WINDOW + Duration::from_millis(100)).await;
    assert_eq!(
        app.typing(&alice, "lobby").await.status(),
        StatusCode::NO_CONTENT
    );
    expect_person(&mut lobby, "typing", "lobby", "alice").await;
}
