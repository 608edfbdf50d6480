//! Limits: sign-ins and open streams per client address, long resumes replayed page by
//! page, form bodies, and the number of rooms kept.

use crate::helpers::{BrokerKind, PROMPTLY, error_code, spawn_app, spawn_app_with, texts};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tiny_chat::server::config::{Config, DatabaseUrl};

contract!(
    sign_ins_are_limited_per_client_address,
    a_forwarded_address_is_believed_only_from_a_named_proxy,
    an_ipv6_network_is_one_client,
    open_streams_are_limited_per_client_address,
    a_long_resume_is_replayed_page_by_page_in_order_then_live,
    form_bodies_are_limited_like_api_bodies,
    past_the_room_limit_a_new_room_is_refused_and_none_is_forgotten,
    new_rooms_are_limited_per_name_and_per_address,
);

/// Behind a proxy on loopback, named as one (`CHAT_TRUSTED_PROXIES`), as the README shows.
fn behind_a_local_proxy(config: &mut Config) {
    config.trusted_proxies = "loopback".parse().unwrap();
}

async fn sign_ins_are_limited_per_client_address(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        behind_a_local_proxy(c);
        c.signin_rate = 3.0;
    })
    .await;
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

/// Sign-ins from `address` (as a proxy on loopback would forward it), named `prefix 0..`.
async fn sign_ins_from(
    app: &crate::helpers::TestApp,
    address: &str,
    names: &[String],
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for name in names {
        let response = app
            .client()
            .post(app.url("/api/session"))
            .header("x-forwarded-for", address)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    statuses
}

async fn a_forwarded_address_is_believed_only_from_a_named_proxy(kind: BrokerKind) {
    // By default no peer is a proxy: each "client" below is the test itself, on loopback,
    // whatever it forwards, so they share one limit.
    let app = spawn_app_with(kind, |c| c.signin_rate = 3.0).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let names = [format!("forger {i}")];
        statuses.extend(sign_ins_from(&app, &format!("203.0.113.{i}"), &names).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

async fn an_ipv6_network_is_one_client(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        behind_a_local_proxy(c);
        c.signin_rate = 3.0;
    })
    .await;
    let names = |from: usize| {
        (from..from + 1)
            .map(|i| format!("v6 guest {i}"))
            .collect::<Vec<_>>()
    };
    let mut statuses = Vec::new();
    for (i, address) in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff::9",
        "2001:db8:1:2::abcd",
    ]
    .into_iter()
    .enumerate()
    {
        statuses.extend(sign_ins_from(&app, address, &names(i)).await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "one /64 is one client"
    );
    assert_eq!(
        sign_ins_from(&app, "2001:db8:1:3::1", &names(9)).await,
        [StatusCode::OK],
        "the next /64 is another"
    );
}

async fn open_streams_are_limited_per_client_address(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        behind_a_local_proxy(c);
        c.max_streams_per_client = 2;
    })
    .await;
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

async fn past_the_room_limit_a_new_room_is_refused_and_none_is_forgotten(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.max_rooms = 2).await;
    let ann = app.signed_in("ann").await;
    for room in ["first", "second", "first"] {
        app.say(&ann, room, &format!("in {room}")).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let refused = app.post(&ann, "third", "one room too many").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(error_code(refused).await, "rate_limited");

    let listed: Vec<String> = app
        .rooms()
        .await
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(listed, ["first", "second", "everyone"]);
    assert_eq!(texts(&app.history("second", "").await), ["in second"]);
    assert!(app.history("third", "").await.is_empty());
    // The rooms that have messages take more.
    app.say(&ann, "second", "still here").await;

    // On Redis alone, a room's Stream is its log (with PostgreSQL, there is none).
    if let (Some(url), Some(DatabaseUrl::None)) = (&app.config.redis_url, &app.config.database_url)
    {
        let mut redis = ::redis::Client::open(url.as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let prefix = &app.config.redis_prefix;
        let ttl: i64 = ::redis::cmd("PTTL")
            .arg(format!("{prefix}:room:first:log"))
            .query(&mut redis)
            .unwrap();
        assert!(
            ttl > 0,
            "a room's Stream expires when the room goes idle: PTTL {ttl}"
        );
    }
}

async fn new_rooms_are_limited_per_name_and_per_address(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        behind_a_local_proxy(c);
        c.new_rooms_per_hour = 2.0;
    })
    .await;
    let from = |address: &'static str| {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        (client, address)
    };
    let sign_in = |(client, address): &(reqwest::Client, &'static str), name: &str| {
        client
            .post(app.url("/api/session"))
            .header("x-forwarded-for", *address)
            .json(&json!({ "name": name }))
            .send()
    };
    let post = |(client, address): &(reqwest::Client, &'static str), room: &str| {
        client
            .post(app.url(&format!("/api/rooms/{room}/messages")))
            .header("x-forwarded-for", *address)
            .json(&json!({ "text": "hello" }))
            .send()
    };
    let ann = from("203.0.113.7");
    assert_eq!(sign_in(&ann, "ann").await.unwrap().status(), StatusCode::OK);
    for room in ["one", "two"] {
        assert_eq!(
            post(&ann, room).await.unwrap().status(),
            StatusCode::CREATED
        );
    }
    let third = post(&ann, "three").await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_code(third).await, "rate_limited");
    assert_eq!(
        post(&ann, "one").await.unwrap().status(),
        StatusCode::CREATED,
        "a room with messages is no new room"
    );
    // Another name from the same address shares its limit; elsewhere, its own.
    let bob_here = from("203.0.113.7");
    assert_eq!(
        sign_in(&bob_here, "bob").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        post(&bob_here, "four").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let cy = from("198.51.100.4");
    assert_eq!(sign_in(&cy, "cy").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        post(&cy, "four").await.unwrap().status(),
        StatusCode::CREATED
    );
}
