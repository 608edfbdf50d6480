//! A name is held by one session at a time: taken names refused (in the API and the
//! no-JS form), signing out revokes every copy of the cookie, an unused name expires.

use crate::helpers::{
    self, BrokerKind, error_code, session_cookie, spawn_app, spawn_app_with, try_sign_in,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

contract!(
    a_name_is_held_by_one_session_at_a_time,
    signing_out_revokes_a_copied_cookie_everywhere,
    an_unused_name_expires_and_use_keeps_it,
    a_form_sign_in_with_a_taken_name_comes_back_with_the_reason,
    a_look_alike_of_a_held_name_is_taken_and_an_invisible_letter_is_no_name,
);

/// A client without a cookie store that sends exactly `cookie`.
fn with_cookie(cookie: &str) -> (Client, String) {
    (helpers::browser(), cookie.to_owned())
}

async fn a_name_is_held_by_one_session_at_a_time(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.client();
    assert_eq!(
        try_sign_in(&app.base, &alice, "alice").await.status(),
        StatusCode::OK
    );

    // Compared after trimming, case-insensitively: someone else gets 409 and nothing changes.
    let mallory = app.client();
    let taken = try_sign_in(&app.base, &mallory, "  ALICE ").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(taken.headers().get("set-cookie").is_none());
    assert_eq!(error_code(taken).await, "name_taken");
    assert_eq!(
        app.post(&mallory, "everyone", "as alice?").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The holder may sign in with it again, in any case.
    let again = try_sign_in(&app.base, &alice, "Alice").await;
    assert_eq!(again.status(), StatusCode::OK);
    app.say(&alice, "everyone", "still me").await;

    // A new name releases the old one, and the session keeps working under the new name.
    assert_eq!(
        try_sign_in(&app.base, &alice, "alicia").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        try_sign_in(&app.base, &mallory, "alice").await.status(),
        StatusCode::OK
    );
    let me: Value = alice
        .get(app.url("/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "alicia");
    let posted = app.say(&alice, "everyone", "as alicia").await;
    assert_eq!(posted.sender.as_str(), "alicia");
}

async fn signing_out_revokes_a_copied_cookie_everywhere(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.client();
    let response = try_sign_in(&app.base, &alice, "alice").await;
    let (thief, cookie) = with_cookie(&session_cookie(&response));
    let as_thief = |request: reqwest::RequestBuilder| request.header("cookie", cookie.clone());
    let status = as_thief(thief.get(app.url("/api/session")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::OK,
        "a copied cookie works while its owner holds the name"
    );

    assert_eq!(
        alice
            .delete(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    let read = as_thief(thief.get(app.url("/api/session")))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
    let post = as_thief(thief.post(app.url("/api/rooms/everyone/messages")))
        .json(&json!({ "text": "posted with a stolen cookie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(post).await, "unauthenticated");
    // The no-JS form refuses it too.
    let form = as_thief(thief.post(app.url("/sf/post")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("room=everyone&text=via+the+form")
        .send()
        .await
        .unwrap();
    assert!(!form.status().is_success(), "{}", form.status());
    assert!(
        app.history("everyone", "").await.is_empty(),
        "nothing was stored"
    );
    // The name is free again.
    app.signed_in("alice").await;
}

async fn an_unused_name_expires_and_use_keeps_it(kind: BrokerKind) {
    let idle = Duration::from_millis(1500);
    let app = spawn_app_with(kind, |c| c.name_idle_days = idle.as_secs_f64() / 86_400.0).await;
    let idler = app.signed_in("idler").await;
    let regular = app.signed_in("regular").await;

    // The regular posts more often than the idle time; the idler does nothing.
    for i in 0..5 {
        tokio::time::sleep(idle / 3).await;
        app.say(&regular, "everyone", &format!("still here {i}"))
            .await;
    }
    let newcomer = app.client();
    assert_eq!(
        try_sign_in(&app.base, &newcomer, "regular").await.status(),
        StatusCode::CONFLICT,
        "use extends the hold"
    );
    let taken_over = try_sign_in(&app.base, &newcomer, "IDLER").await;
    assert_eq!(taken_over.status(), StatusCode::OK, "an unused hold ends");
    assert!(
        taken_over.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=2"),
        "the cookie lives as long as the hold (rounded up to whole seconds)"
    );

    assert_eq!(
        app.post(&idler, "everyone", "too late").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let me = idler.get(app.url("/api/session")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

async fn a_form_sign_in_with_a_taken_name_comes_back_with_the_reason(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    app.signed_in("alice").await;
    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .post(app.url("/sf/sign_in"))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", app.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Alice")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert!(response.headers().get("set-cookie").is_none());
    let location = response.headers()["location"].to_str().unwrap().to_owned();

    // The page it goes back to says why, and keeps what was typed.
    let (status, html) = app.get(location.trim_start_matches(&app.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("That name is taken"), "{html}");
    assert!(html.contains(r#"value="Alice""#), "{html}");
}

async fn a_look_alike_of_a_held_name_is_taken_and_an_invisible_letter_is_no_name(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.signin_rate = 0.0).await;
    let mason = app.signed_in("Mason").await;

    let mallory = app.client();
    for alike in [
        "M\u{0430}son", // a Cyrillic а
        "\u{041C}ason", // a Cyrillic М
        "Ｍａｓｏｎ",   // fullwidth
        "𝐌𝐚𝐬𝐨𝐧",        // mathematical bold
        "\u{216F}ason", // the Roman numeral one thousand
        "MAS0N",        // a zero
    ] {
        let taken = try_sign_in(&app.base, &mallory, alike).await;
        assert_eq!(taken.status(), StatusCode::CONFLICT, "{alike:?}");
        assert!(taken.headers().get("set-cookie").is_none(), "{alike:?}");
        assert_eq!(error_code(taken).await, "name_taken", "{alike:?}");
    }
    let filler = try_sign_in(&app.base, &mallory, "Mas\u{3164}on").await;
    assert_eq!(filler.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(filler).await, "invalid_name");

    // Mason still holds the name, and someone else may take a name that only sounds alike.
    let posted = app.say(&mason, "everyone", "still Mason").await;
    assert_eq!(posted.sender.as_str(), "Mason");
    assert_eq!(
        try_sign_in(&app.base, &mallory, "Jason").await.status(),
        StatusCode::OK
    );
}
