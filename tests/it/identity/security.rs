//! Cross-site protection: cross-site writes refused, a content security policy whose
//! nonce is on every script, our own public origin behind a proxy, and metrics only for
//! loopback or the token (or on their own address).

use crate::helpers::{
    self, BrokerKind, error_code, session_cookie, spawn_app, spawn_app_with, texts,
};
use reqwest::StatusCode;
use serde_json::json;

contract!(
    cross_site_writes_are_refused_and_change_nothing,
    pages_carry_a_policy_whose_nonce_is_on_every_script,
    metrics_answer_only_loopback_or_the_token,
    behind_a_proxy_the_public_origin_is_our_own_and_cookies_are_secure,
);

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

#[tokio::test]
async fn metrics_on_their_own_address_are_not_served_on_the_main_one() {
    let metrics = format!("127.0.0.1:{}", helpers::free_port());
    let node = helpers::NodeProcess::start_with(&[
        ("CHAT_SECRET", "ops"),
        ("CHAT_METRICS_ADDR", &metrics),
    ])
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

/// A request as a proxy would pass it on from `peer`, straight to the router.
async fn metrics_status(router: &axum::Router, peer: &str, forwarded: Option<&str>) -> u16 {
    use tower::ServiceExt;
    let mut request = axum::http::Request::get("/metrics").header("host", "127.0.0.1");
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(axum::body::Body::empty()).unwrap();
    let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 4711);
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn metrics_decide_on_the_socket_peer_never_a_forwarded_address() {
    use tiny_chat::server::{self, config::Config, state::AppState};
    let mut config = Config::defaults();
    config.database_url = Some(tiny_chat::server::config::DatabaseUrl::None);
    // The worst case: the LAN is trusted to forward, and a LAN client claims loopback.
    config.trusted_proxies = "loopback,private".parse().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let options = server::leptos_options("127.0.0.1:0".parse().unwrap());
    let router = server::router(AppState::new(&config, options, stop.clone()).unwrap());
    assert_eq!(metrics_status(&router, "127.0.0.1", None).await, 200);
    assert_eq!(
        metrics_status(&router, "10.0.0.5", Some("127.0.0.1, 10.0.0.5")).await,
        404
    );
    assert_eq!(
        metrics_status(&router, "10.0.0.5", Some("127.0.0.1")).await,
        404
    );
    assert_eq!(metrics_status(&router, "10.0.0.5", None).await, 404);
    assert_eq!(
        metrics_status(&router, "127.0.0.1", Some("203.0.113.7")).await,
        404,
        "through a proxy on loopback, some client's"
    );
    stop.cancel();
}
