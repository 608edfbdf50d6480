//! A room's event stream as a connection: its headers and keep-alive, a subscriber
//! that never reads, and shutdown.

use crate::helpers::{self, BrokerKind, PROMPTLY, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use std::time::Duration;

contract!(
    the_event_stream_has_the_documented_headers_and_keepalive,
    a_subscriber_that_never_reads_does_not_stall_the_others,
    shutdown_ends_open_streams_promptly,
);

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
    let mut events = helpers::EventReader::new(response);
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
    // Complete events with an `id:` line (messages, not `retry:` or `event: presence`),
    // counted as they complete: scanning all of `raw` each frame made this quadratic.
    let (mut counted, mut complete) = (0, 0);
    while counted < total {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the stuck subscriber catches up")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            raw.push_str(std::str::from_utf8(&data).unwrap());
            if let Some((done, _)) = raw.rsplit_once("\n\n")
                && done.len() >= complete
            {
                counted += raw[complete..done.len()]
                    .split("\n\n")
                    .filter(|block| block.lines().any(|l| l.starts_with("id: ")))
                    .count();
                complete = done.len() + 2;
            }
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
