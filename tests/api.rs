//! The contract suite: every case runs against the memory broker and a real Redis.
#![cfg(feature = "ssr")]

#[macro_use]
mod common;

use common::{BrokerKind, PROMPTLY, presence_until, spawn_app, spawn_app_with, texts};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tiny_chat::message::ChatMessage;

contract!(
    a_post_reaches_a_subscriber_once_as_typed,
    the_sender_is_the_session_never_the_body,
    history_comes_oldest_first_and_pages_backwards,
    resume_after_a_gap_replays_the_missed_messages_then_goes_live,
    resume_from_the_query_works_and_the_header_wins,
    an_unknown_or_malformed_id_gets_resync,
    an_id_older_than_what_is_retained_gets_resync,
    client_id_makes_a_post_idempotent,
    rooms_are_isolated,
    rooms_list_recent_activity_first_and_always_everyone,
    sessions_sign_in_read_and_sign_out,
    every_bad_input_gets_its_documented_error_and_stores_nothing,
    the_event_stream_has_the_documented_headers_and_keepalive,
    a_subscriber_that_never_reads_does_not_stall_the_others,
    shutdown_ends_open_streams_promptly,
    posting_faster_than_the_limit_gets_429_with_retry_after,
    pages_render_history_escaped_and_unknown_pages_are_404,
    a_room_page_renders_its_parts_for_whoever_looks,
);

async fn a_post_reaches_a_subscriber_once_as_typed(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.signed_in("alice").await;
    let mut events = app.events("everyone", None).await;

    let sent = app
        .say(&alice, "everyone", "hi <b>bold</b> & \"quotes\"\nline two")
        .await;

    let received = events.next().await.message();
    assert_eq!(received, sent);
    assert_eq!(received.text, "hi <b>bold</b> & \"quotes\"\nline two");
    assert_eq!(received.sender.as_str(), "alice");
    assert_eq!(received.room.as_str(), "everyone");
    events.assert_quiet(Duration::from_millis(300)).await;
}

async fn the_sender_is_the_session_never_the_body(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let mallory = app.signed_in("mallory").await;

    let response = mallory
        .post(app.url("/api/rooms/everyone/messages"))
        .json(&json!({ "text": "it was me", "sender": "alice" }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    let message: ChatMessage = response.json().await.unwrap();
    assert_eq!(message.sender.as_str(), "mallory");
    assert_eq!(
        app.history("everyone", "").await[0].sender.as_str(),
        "mallory"
    );
}

async fn history_comes_oldest_first_and_pages_backwards(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut sent = Vec::new();
    for i in 0..7 {
        sent.push(app.say(&ann, "lobby", &format!("m{i}")).await);
    }

    let newest = app.history("lobby", "?limit=3").await;
    assert_eq!(texts(&newest), ["m4", "m5", "m6"]);
    let older = app
        .history("lobby", &format!("?limit=3&before={}", newest[0].id))
        .await;
    assert_eq!(texts(&older), ["m1", "m2", "m3"]);
    let oldest = app
        .history("lobby", &format!("?limit=3&before={}", older[0].id))
        .await;
    assert_eq!(texts(&oldest), ["m0"]);
    assert_eq!(
        app.history("lobby", "").await,
        sent,
        "default limit covers all 7"
    );
    assert!(sent.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    assert!(app.history("empty-room", "").await.is_empty());
}

async fn resume_after_a_gap_replays_the_missed_messages_then_goes_live(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut first = app.events("everyone", None).await;
    app.say(&ann, "everyone", "before").await;
    let seen = first.next().await.message();
    drop(first);

    // The gap: posted while nobody listens.
    for text in ["gap 1", "gap 2", "gap 3"] {
        app.say(&ann, "everyone", text).await;
    }
    let mut resumed = app.events("everyone", Some(&seen.id.to_string())).await;
    app.say(&ann, "everyone", "after").await;

    let received = resumed.messages(4).await;
    assert_eq!(texts(&received), ["gap 1", "gap 2", "gap 3", "after"]);
    resumed.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(resumed.retry.as_deref(), Some("3000"));
}

async fn resume_from_the_query_works_and_the_header_wins(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let m: Vec<ChatMessage> = {
        let mut m = Vec::new();
        for i in 0..4 {
            m.push(app.say(&ann, "everyone", &format!("m{i}")).await);
        }
        m
    };

    let mut by_query = app
        .events_at(
            &format!("/api/rooms/everyone/events?last_event_id={}", m[1].id),
            None,
        )
        .await;
    assert_eq!(texts(&by_query.messages(2).await), ["m2", "m3"]);

    // As on a browser reconnect: the URL still has the first id, the header the newer.
    let mut both = app
        .events_at(
            &format!("/api/rooms/everyone/events?last_event_id={}", m[0].id),
            Some(&m[2].id.to_string()),
        )
        .await;
    assert_eq!(texts(&both.messages(1).await), ["m3"]);
    both.assert_quiet(Duration::from_millis(300)).await;
}

async fn an_unknown_or_malformed_id_gets_resync(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    // Watched until both have come back, so that no later stream can hear them live.
    let mut watch = app.events("everyone", None).await;
    let oldest = app.say(&ann, "everyone", "one").await;
    let two = app.say(&ann, "everyone", "two").await;
    assert_eq!(watch.next().await.message(), oldest);
    assert_eq!(watch.next().await.message(), two);

    for bad in ["1-0", "99999999999999-0", "garbage", ""] {
        let mut events = app.events("everyone", Some(bad)).await;
        let event = events.next().await;
        assert_eq!(event.event.as_deref(), Some("resync"), "for {bad:?}");
        assert_eq!(
            event.json(),
            json!({ "room": "everyone", "oldest": oldest.id.to_string() })
        );
        // Then it is live.
        let live = app.say(&ann, "everyone", &format!("after {bad}")).await;
        assert_eq!(events.next().await.message(), live);
    }

    let mut empty = app.events("nobody-here", Some("1-0")).await;
    assert_eq!(
        empty.next().await.json(),
        json!({ "room": "nobody-here", "oldest": null })
    );
}

async fn an_id_older_than_what_is_retained_gets_resync(kind: BrokerKind) {
    // Both brokers keep exactly the limit, so a few posts past it drop the first.
    let limit = 5;
    let posts = 10;
    let app = spawn_app_with(kind, |c| c.history_limit = limit).await;
    let ann = app.signed_in("ann").await;
    let first = app.say(&ann, "everyone", "first").await;
    for i in 0..posts {
        app.say(&ann, "everyone", &format!("m{i}")).await;
    }

    let mut events = app.events("everyone", Some(&first.id.to_string())).await;
    let event = events.next().await;

    assert_eq!(event.event.as_deref(), Some("resync"));
    let oldest = app.history("everyone", "?limit=200").await;
    let oldest_retained = event.json()["oldest"].as_str().unwrap().to_owned();
    assert_ne!(oldest_retained, first.id.to_string());
    assert!(oldest.iter().any(|m| m.id.to_string() == oldest_retained));
}

async fn client_id_makes_a_post_idempotent(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut events = app.events("everyone", None).await;
    let body = json!({ "text": "once", "client_id": "c-1" });
    let url = app.url("/api/rooms/everyone/messages");

    let first = ann.post(&url).json(&body).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: ChatMessage = first.json().await.unwrap();
    let again = ann.post(&url).json(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<ChatMessage>().await.unwrap(), first);

    assert_eq!(events.next().await.message(), first);
    events.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(
        app.history("everyone", "").await,
        std::slice::from_ref(&first)
    );

    // The key is scoped to the session and to the room.
    let other = app.signed_in("bob").await;
    assert_eq!(
        other.post(&url).json(&body).send().await.unwrap().status(),
        StatusCode::CREATED
    );
    let elsewhere = app.url("/api/rooms/elsewhere/messages");
    assert_eq!(
        ann.post(&elsewhere)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

async fn rooms_are_isolated(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let mut red = app.events("red", None).await;
    let mut blue = app.events("blue", None).await;

    let to_red = app.say(&ann, "red", "for red").await;
    let to_blue = app.say(&ann, "blue", "for blue").await;

    assert_eq!(red.next().await.message(), to_red);
    assert_eq!(blue.next().await.message(), to_blue);
    red.assert_quiet(Duration::from_millis(300)).await;
    blue.assert_quiet(Duration::from_millis(100)).await;
    assert_eq!(app.history("red", "").await, [to_red]);
    assert_eq!(app.history("blue", "").await, [to_blue]);
}

async fn rooms_list_recent_activity_first_and_always_everyone(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let rooms = app.rooms().await;
    assert_eq!(
        serde_json::to_value(&rooms).unwrap(),
        json!([{ "name": "everyone", "last_message_at": null }])
    );

    let ann = app.signed_in("ann").await;
    app.say(&ann, "older", "x").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let newest = app.say(&ann, "newer", "y").await;

    let rooms = app.rooms().await;
    let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["newer", "older", "everyone"]);
    assert_eq!(
        rooms[0].last_message_at.as_deref(),
        Some(newest.sent_at.as_str())
    );
}

async fn sessions_sign_in_read_and_sign_out(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let client = app.client();
    let url = app.url("/api/session");
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let response = client
        .post(&url)
        .json(&json!({ "name": "  Zoë 山田 " }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("chat_session="), "{cookie}");
    let max_age = format!("Max-Age={}", 30 * 86_400);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", max_age.as_str()] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{cookie} lacks {attribute}"
        );
    }
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "name": "Zoë 山田" })
    );
    let me: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(me, json!({ "name": "Zoë 山田" }));

    assert_eq!(
        client.delete(&url).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn every_bad_input_gets_its_documented_error_and_stores_nothing(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let anonymous = app.client();
    let messages = app.url("/api/rooms/everyone/messages");
    let json_body = |v: Value| v.to_string();
    let big = "x".repeat(17 * 1024);

    struct Case<'a> {
        what: &'a str,
        client: &'a reqwest::Client,
        method: reqwest::Method,
        url: String,
        content_type: Option<&'a str>,
        body: Option<String>,
        status: StatusCode,
        code: &'a str,
    }
    let post = |what, client, url: &str, body: Option<String>, status, code| Case {
        what,
        client,
        method: reqwest::Method::POST,
        url: url.to_owned(),
        content_type: Some("application/json"),
        body,
        status,
        code,
    };
    let get = |what, url: String, status, code| Case {
        what,
        client: &anonymous,
        method: reqwest::Method::GET,
        url,
        content_type: None,
        body: None,
        status,
        code,
    };
    let session = app.url("/api/session");
    let cases = [
        post(
            "empty name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "   "}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "long name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "x".repeat(25)}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "markup in name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "<script>"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "control char in name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "a\u{7}b"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "name not a string",
            &anonymous,
            &session,
            Some(json_body(json!({"name": 5}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "no session",
            &anonymous,
            &messages,
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        post(
            "empty text",
            &ann,
            &messages,
            Some(json_body(json!({"text": " \n "}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "long text",
            &ann,
            &messages,
            Some(json_body(json!({"text": "é".repeat(2001)}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "text padded past 2000 characters as sent",
            &ann,
            &messages,
            Some(json_body(
                json!({"text": format!("hi{}", " ".repeat(1999))}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "missing text",
            &ann,
            &messages,
            Some(json_body(json!({}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "not json",
            &ann,
            &messages,
            Some("{text".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "json array",
            &ann,
            &messages,
            Some("[]".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "over 16 KiB",
            &ann,
            &messages,
            Some(json_body(json!({"text": big}))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        post(
            "long client_id",
            &ann,
            &messages,
            Some(json_body(
                json!({"text": "hi", "client_id": "c".repeat(65)}),
            )),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "empty client_id",
            &ann,
            &messages,
            Some(json_body(json!({"text": "hi", "client_id": ""}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "bad room",
            &ann,
            &app.url("/api/rooms/No%20Way/messages"),
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        post(
            "long room",
            &ann,
            &app.url(&format!("/api/rooms/{}/messages", "r".repeat(33))),
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        Case {
            content_type: Some("text/plain"),
            ..post(
                "wrong content type",
                &ann,
                &messages,
                Some(json_body(json!({"text": "hi"}))),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
        },
        Case {
            content_type: None,
            ..post(
                "no content type",
                &ann,
                &messages,
                Some(json_body(json!({"text": "hi"}))),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
        },
        get(
            "limit 0",
            app.url("/api/rooms/everyone/messages?limit=0"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "limit 201",
            app.url("/api/rooms/everyone/messages?limit=201"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "limit text",
            app.url("/api/rooms/everyone/messages?limit=ten"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "bad before",
            app.url("/api/rooms/everyone/messages?before=yesterday"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "bad room history",
            app.url("/api/rooms/UPPER/messages"),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        get(
            "bad room events",
            app.url("/api/rooms/-x/events"),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        Case {
            method: reqwest::Method::PUT,
            ..get(
                "wrong method",
                app.url("/api/rooms"),
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            )
        },
        get(
            "unknown route",
            app.url("/api/nothing"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];

    for case in cases {
        let mut request = case.client.request(case.method.clone(), &case.url);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = case.body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.what);
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", case.what));
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.what);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            case.what
        );
    }

    let tampered = app.client();
    let response = tampered
        .post(&messages)
        .header("cookie", "chat_session=forged")
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert!(
        app.history("everyone", "").await.is_empty(),
        "nothing was stored"
    );
}

async fn the_event_stream_has_the_documented_headers_and_keepalive(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.keepalive_secs = 0.6).await;
    let response = app
        .client()
        .get(app.url("/api/rooms/everyone/events"))
        .header("accept", "text/event-stream")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut events = common::EventReader::new(response);
    assert_eq!(events.headers["content-type"], "text/event-stream");
    assert_eq!(events.headers["cache-control"], "no-cache");
    assert_eq!(events.headers["x-accel-buffering"], "no");
    assert!(events.headers.get("content-encoding").is_none());

    // A ping comes within one interval of silence (a proxy that cuts idle connections
    // after the interval never sees the stream idle that long).
    events.assert_quiet(Duration::from_millis(750)).await;
    assert_eq!(events.retry.as_deref(), Some("3000"));
    assert!(
        events.comments.iter().any(|c| c == "ping"),
        "no ping within 0.75 s of a 0.6 s keep-alive: got {:?}",
        events.comments
    );
}

async fn a_subscriber_that_never_reads_does_not_stall_the_others(kind: BrokerKind) {
    use futures::StreamExt;
    use http_body_util::BodyExt;

    // History holds every message of the test, so the stuck subscriber can catch up.
    let total = 3500;
    let app = spawn_app_with(kind, |c| {
        c.subscriber_buffer = 16;
        c.history_limit = 5000;
    })
    .await;
    let ann = app.signed_in("ann").await;

    // A client that reads nothing after the headers. Its socket, the server's and hyper's
    // buffers hold about 4.5 MiB between them; the test posts more than that.
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/api/rooms/everyone/events")
        .header("host", app.addr.to_string())
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let stuck = sender.send_request(request).await.unwrap();
    assert_eq!(stuck.status(), 200);
    let mut reader = app.events("everyone", None).await;

    let padding = "x".repeat(1900);
    let mut sent: Vec<_> = futures::stream::iter(0..total)
        .map(|i| {
            let (app, ann, text) = (&app, &ann, format!("{i} {padding}"));
            async move { app.say(ann, "everyone", &text).await.id }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    sent.sort();

    // The reading subscriber gets everything, once and in order, while the other is stuck.
    let received: Vec<_> = reader
        .messages(total)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(received, sent);
    reader.assert_quiet(Duration::from_millis(200)).await;

    // The stuck one, once it reads, has lost nothing silently: every message, once and in
    // order, caught up from history.
    let mut body = stuck.into_body();
    let mut raw = String::new();
    let deadline = tokio::time::Instant::now() + PROMPTLY * 2;
    // Complete events with an `id:` line: messages, not `retry:` or `event: presence`.
    let messages_in = |raw: &str| {
        raw.rsplit_once("\n\n").map_or(0, |(complete, _)| {
            complete
                .split("\n\n")
                .filter(|block| block.lines().any(|l| l.starts_with("id: ")))
                .count()
        })
    };
    while messages_in(&raw) < total {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the stuck subscriber catches up")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            raw.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    let ids: Vec<String> = raw
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = sent.iter().map(ToString::to_string).collect();
    assert!(
        !raw.contains("event: resync"),
        "history holds all {total}, so no resync is needed"
    );
    assert_eq!(ids, expected);
    assert!(
        app.metric("chat_subscriber_lags_total").await > 0.0,
        "the stuck subscriber lagged and caught up"
    );
}

async fn shutdown_ends_open_streams_promptly(kind: BrokerKind) {
    let mut app = spawn_app(kind).await;
    let mut events = app.events("everyone", None).await;

    let started = std::time::Instant::now();
    app.shutdown().await;

    assert!(
        events.next_within(PROMPTLY).await.is_none(),
        "the stream ended"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

async fn posting_faster_than_the_limit_gets_429_with_retry_after(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| {
        c.post_rate = 1.0;
        c.post_burst = 3;
    })
    .await;
    let ann = app.signed_in("ann").await;
    let bob = app.signed_in("bob").await;
    for i in 0..3 {
        app.say(&ann, "everyone", &format!("burst {i}")).await;
    }

    let response = app.post(&ann, "everyone", "one too many").await;

    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After: {retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        texts(&app.history("everyone", "").await),
        ["burst 0", "burst 1", "burst 2"]
    );
    // The limit is the name's: signing out and in again does not reset it.
    assert_eq!(
        ann.delete(app.url("/api/session"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let ann = app.signed_in("ann").await;
    let again = app.post(&ann, "everyone", "after signing in again").await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another name is not affected, and the limited one may post again after waiting.
    app.say(&bob, "everyone", "bob is fine").await;
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    app.say(&ann, "everyone", "after waiting").await;
}

async fn pages_render_history_escaped_and_unknown_pages_are_404(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    app.say(&ann, "lounge", "<script>alert(1)</script> & co")
        .await;

    let (status, html) = app.get("/r/lounge").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert(1)"),
        "the text must be escaped"
    );
    // The rows are in the page's log. (The browser makes the log a live region,
    // `role="log"`, once its own rows have replaced these.)
    let log = &html[html
        .find(r#"class="message-log""#)
        .expect("the message log")..];
    assert!(
        log.contains(r#"<li class="message first" data-id=""#),
        "{log}"
    );

    for path in ["/nowhere", "/r/Not%20A%20Room"] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// The parts the server renders after their data (who you are, who is here: on Redis
/// neither is ready at once), signed in and signed out. A part rendered where it cannot
/// find its context fails the whole page (an empty answer), as it once did on Redis only.
async fn a_room_page_renders_its_parts_for_whoever_looks(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let _here = app.listen(&ann, "lounge").await;
    presence_until(&app.base, "lounge", |p| p["count"] == 1).await;

    let response = ann.get(app.url("/r/lounge")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mine = response.text().await.unwrap();
    for (part, html) in [
        ("who you are", r#"aria-label="Signed in as ann. Account""#),
        (
            "the composer",
            r#"<form method="post" action="/sf/post" class="composer">"#,
        ),
        (
            "who is here, in the header",
            r#"<span class="members-count">1"#,
        ),
        (
            "who is here, in the list",
            r#"<span class="member-name">ann"#,
        ),
    ] {
        assert!(mine.contains(html), "signed in, {part}: {mine}");
    }
    assert!(!mine.contains(r#"class="composer signed-out""#), "{mine}");

    let (status, theirs) = app.get("/r/lounge").await;
    assert_eq!(status, StatusCode::OK);
    for (part, html) in [
        (
            "the form to pick a name",
            r#"<form method="post" action="/sf/sign_in" class="sign-in">"#,
        ),
        (
            "who is here, in the list",
            r#"<span class="member-name">ann"#,
        ),
    ] {
        assert!(theirs.contains(html), "signed out, {part}: {theirs}");
    }
    for html in ["Signed in as", r#"action="/sf/post""#] {
        assert!(!theirs.contains(html), "signed out, {html}: {theirs}");
    }
}
