//! The contract of names, cross-site protection and limits: every case runs against the
//! memory broker and a real Redis.
#![cfg(feature = "ssr")]

#[macro_use]
mod common;

use common::{
    BrokerKind, PROMPTLY, error_code, session_cookie, spawn_app, spawn_app_with, texts, try_sign_in,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

contract!(
    a_name_is_held_by_one_session_at_a_time,
    signing_out_revokes_a_copied_cookie_everywhere,
    an_unused_name_expires_and_use_keeps_it,
    cross_site_writes_are_refused_and_change_nothing,
    pages_carry_a_policy_whose_nonce_is_on_every_script,
    sign_ins_are_limited_per_client_address,
    open_streams_are_limited_per_client_address,
    a_long_resume_is_replayed_page_by_page_in_order_then_live,
    metrics_answer_only_loopback_or_the_token,
    form_bodies_are_limited_like_api_bodies,
    a_form_sign_in_with_a_taken_name_comes_back_with_the_reason,
    past_the_room_limit_the_least_active_room_is_forgotten,
    behind_a_proxy_the_public_origin_is_our_own_and_cookies_are_secure,
);

/// A client without a cookie store that sends exactly `cookie`.
fn with_cookie(cookie: &str) -> (Client, String) {
    (common::browser(), cookie.to_owned())
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
    assert_eq!(me, json!({ "name": "alicia" }));
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

async fn cross_site_writes_are_refused_and_change_nothing(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let messages = app.url("/api/rooms/everyone/messages");
    let post_with = |headers: &[(&str, &str)]| {
        let mut request = ann.post(&messages).json(&json!({ "text": "hello" }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        &[("sec-fetch-site", "cross-site")],
        &[("origin", &*app.base), ("sec-fetch-site", "cross-site")],
    ] {
        let refused = post_with(headers).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(error_code(refused).await, "cross_origin", "{headers:?}");
    }
    // Sign-in, sign-out and the no-JS forms (server functions) are covered alike.
    let evil = [("origin", "https://evil.example")];
    let sign_in = app
        .client()
        .post(app.url("/api/session"))
        .header(evil[0].0, evil[0].1)
        .json(&json!({ "name": "mallory" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::FORBIDDEN);
    let sign_out = ann
        .delete(app.url("/api/session"))
        .header(evil[0].0, evil[0].1)
        .send()
        .await
        .unwrap();
    assert_eq!(sign_out.status(), StatusCode::FORBIDDEN);
    let form = ann
        .post(app.url("/sf/post"))
        .header(evil[0].0, evil[0].1)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("room=everyone&text=forged+by+a+form")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    assert!(
        app.history("everyone", "").await.is_empty(),
        "nothing was stored"
    );

    // The page's own origin, a same-origin fetch, and clients that send neither header pass.
    let from_page = post_with(&[("origin", &*app.base), ("sec-fetch-site", "same-origin")]);
    assert_eq!(from_page.await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(post_with(&[]).await.unwrap().status(), StatusCode::CREATED);
    let no_js_form = ann
        .post(app.url("/sf/post"))
        .header("origin", &app.base)
        .header("accept", "text/html")
        .header("referer", app.url("/r/everyone"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("room=everyone&text=from+the+no-JS+form")
        .send()
        .await
        .unwrap();
    assert!(no_js_form.status().is_success(), "{}", no_js_form.status());
    assert_eq!(
        texts(&app.history("everyone", "").await),
        ["hello", "hello", "from the no-JS form"]
    );
    // Still signed in: the refused sign-out changed nothing.
    assert_eq!(
        ann.get(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

async fn pages_carry_a_policy_whose_nonce_is_on_every_script(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let mut nonces = Vec::new();
    for path in ["/", "/r/everyone", "/no-such-page"] {
        let response = app.client().get(app.url(path)).send().await.unwrap();
        let headers = response.headers().clone();
        let html = response.text().await.unwrap();
        let csp = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce in the policy")
            .to_owned();
        let scripts = html.matches("<script").count();
        assert!(scripts > 0, "{path} has inline scripts to check");
        assert_eq!(
            html.matches(&format!("nonce=\"{nonce}\"")).count(),
            scripts,
            "{path}: every script carries the nonce"
        );
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a fresh nonce per response");
    // The API carries the plain headers too.
    let response = app
        .client()
        .get(app.url("/api/rooms"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

async fn sign_ins_are_limited_per_client_address(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.signin_rate = 3.0).await;
    let sign_in_from = |address: &'static str, name: String| {
        let client = app.client();
        let url = app.url("/api/session");
        async move {
            client
                .post(url)
                .header("x-forwarded-for", address)
                .json(&json!({ "name": name }))
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..3 {
        let response = sign_in_from("203.0.113.7", format!("guest {i}")).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = sign_in_from("203.0.113.7", "guest 3".into()).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=20).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    assert_eq!(error_code(limited).await, "rate_limited");
    // Another address is not affected; a forged hop left of the proxy's does not help.
    let other = sign_in_from("198.51.100.1", "guest 4".into()).await;
    assert_eq!(other.status(), StatusCode::OK);
    let forged = sign_in_from("198.51.100.2, 203.0.113.7", "guest 5".into()).await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn open_streams_are_limited_per_client_address(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.max_streams_per_client = 2).await;
    let open = |address: &'static str| {
        app.client()
            .get(app.url("/api/rooms/everyone/events"))
            .header("x-forwarded-for", address)
            .send()
    };
    let first = open("203.0.113.7").await.unwrap();
    let second = open("203.0.113.7").await.unwrap();
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = open("203.0.113.7").await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    assert_eq!(error_code(third).await, "rate_limited");
    assert_eq!(open("198.51.100.1").await.unwrap().status(), StatusCode::OK);

    // Closing a stream frees its place.
    drop(first);
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let again = open("203.0.113.7").await.unwrap();
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_long_resume_is_replayed_page_by_page_in_order_then_live(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let first = app.say(&ann, "everyone", "m0").await;
    let mut sent = Vec::new();
    for i in 1..=250 {
        sent.push(app.say(&ann, "everyone", &format!("m{i}")).await.id);
    }

    let mut events = app.events("everyone", Some(&first.id.to_string())).await;
    // A post while the replay is under way arrives once, after it.
    let during = app.say(&ann, "everyone", "during").await;
    sent.push(during.id);
    let received: Vec<_> = events
        .messages(sent.len())
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(received, sent);
    let live = app.say(&ann, "everyone", "live").await;
    assert_eq!(events.next().await.message(), live);
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn metrics_answer_only_loopback_or_the_token(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let get = |headers: &[(&'static str, &'static str)]| {
        let mut request = app.client().get(app.url("/metrics"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(get(&[]).await, StatusCode::OK, "loopback may read");
    assert_eq!(
        get(&[("x-forwarded-for", "203.0.113.7")]).await,
        StatusCode::NOT_FOUND,
        "a client behind the proxy may not"
    );

    let app = spawn_app_with(kind, |c| c.metrics_token = Some("s3cret".into())).await;
    let get = |auth: Option<&'static str>| {
        let mut request = app.client().get(app.url("/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(get(None).await, StatusCode::NOT_FOUND);
    assert_eq!(get(Some("Bearer wrong")).await, StatusCode::NOT_FOUND);
    assert_eq!(get(Some("Bearer s3cret")).await, StatusCode::OK);
}

async fn form_bodies_are_limited_like_api_bodies(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let big = format!("room=everyone&text={}", "x".repeat(17 * 1024));
    for path in ["/sf/post", "/sf/sign_in"] {
        let response = ann
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    assert!(app.history("everyone", "").await.is_empty());
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

async fn past_the_room_limit_the_least_active_room_is_forgotten(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.max_rooms = 2).await;
    let ann = app.signed_in("ann").await;
    for room in ["first", "second", "first", "third"] {
        app.say(&ann, room, &format!("in {room}")).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let listed: Vec<String> = app
        .rooms()
        .await
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(listed, ["third", "first", "everyone"]);
    assert!(
        app.history("second", "").await.is_empty(),
        "its history is gone"
    );
    assert_eq!(
        texts(&app.history("first", "").await),
        ["in first", "in first"]
    );

    if let Some(url) = &app.config.redis_url {
        let mut redis = ::redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let prefix = &app.config.redis_prefix;
        let exists: bool = ::redis::cmd("EXISTS")
            .arg(format!("{prefix}:room:second:log"))
            .query(&mut redis)
            .unwrap();
        assert!(
            !exists,
            "the forgotten room's Stream is deleted, not left behind"
        );
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(format!("{prefix}:room:third:log"))
            .query(&mut redis)
            .unwrap();
        assert!(
            ttl > 0,
            "a room's Stream expires when the room goes idle: PTTL {ttl}"
        );
    }
}

#[tokio::test]
async fn metrics_on_their_own_address_are_not_served_on_the_main_one() {
    let metrics = format!("127.0.0.1:{}", common::free_port());
    let node =
        common::NodeProcess::start_with(&[("CHAT_SECRET", "ops"), ("CHAT_METRICS_ADDR", &metrics)])
            .await;
    let main = reqwest::get(node.url("/metrics")).await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let own = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert!(
        own.text()
            .await
            .unwrap()
            .contains("chat_messages_published_total")
    );
}

async fn behind_a_proxy_the_public_origin_is_our_own_and_cookies_are_secure(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        c.public_url = Some("https://chat.example.com".parse().unwrap());
    })
    .await;
    // The proxy forwards to 127.0.0.1:port, so Host is not what the browser saw.
    let sign_in = app
        .client()
        .post(app.url("/api/session"))
        .header("origin", "https://chat.example.com")
        .header("sec-fetch-site", "same-origin")
        .json(&json!({ "name": "ann" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sign_in.status(), StatusCode::OK);
    let set_cookie = sign_in.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.split("; ").any(|a| a == "Secure"),
        "{set_cookie}"
    );

    let cookie = session_cookie(&sign_in);
    let post = |origin: &'static str| {
        app.client()
            .post(app.url("/api/rooms/everyone/messages"))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .json(&json!({ "text": format!("from {origin}") }))
            .send()
    };
    assert_eq!(
        post("https://chat.example.com").await.unwrap().status(),
        StatusCode::CREATED
    );
    let foreign = post("https://evil.example").await.unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        texts(&app.history("everyone", "").await),
        ["from https://chat.example.com"]
    );
}
