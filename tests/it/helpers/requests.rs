//! What a browser asks of a server at `base`, each a function of the address, so that
//! a test of several nodes can ask any of them.

use super::{EventReader, PROMPTLY};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tiny_chat::message::ChatMessage;

/// The value of a Prometheus counter or gauge on the `/metrics` of the node at `base`.
pub async fn metric(base: &str, name: &str) -> f64 {
    let text = browser()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// A client that keeps cookies, as a browser does.
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A browser-like client signed in as `name` on the server at `base`.
pub async fn sign_in(base: &str, name: &str) -> Client {
    let client = browser();
    let response = try_sign_in(base, &client, name).await;
    assert_eq!(response.status(), StatusCode::OK, "signing in as {name:?}");
    client
}

/// `POST /api/session` as `name` with `client`'s cookies, whatever the answer.
pub async fn try_sign_in(base: &str, client: &Client, name: &str) -> Response {
    client
        .post(format!("{base}/api/session"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap()
}

/// The `name=value` pair of the session cookie a response sets (`__Host-chat_session`
/// over https).
pub fn session_cookie(response: &Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("chat_session=") || v.starts_with("__Host-chat_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie is set")
        .to_owned()
}

/// The JSON error code of a response.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub async fn post(base: &str, client: &Client, room: &str, text: &str) -> Response {
    client
        .post(format!("{base}/api/rooms/{room}/messages"))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
}

/// Posts and expects `201`, returning the message.
pub async fn say(base: &str, client: &Client, room: &str, text: &str) -> ChatMessage {
    let response = post(base, client, room, text).await;
    assert_eq!(response.status(), StatusCode::CREATED, "posting {text:?}");
    response.json().await.unwrap()
}

/// `GET {path}` as an event stream with `client`'s cookies and an optional
/// `Last-Event-ID`, whatever the answer.
pub async fn open_stream(
    base: &str,
    client: &Client,
    path: &str,
    last_event_id: Option<&str>,
) -> Response {
    let mut request = client
        .get(format!("{base}{path}"))
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.unwrap()
}

/// Opens a room's stream as `client` (a person when signed in), with every event.
pub async fn listen(base: &str, client: &Client, room: &str) -> EventReader {
    let path = format!("/api/rooms/{room}/events");
    let response = open_stream(base, client, &path, None).await;
    assert_eq!(response.status(), StatusCode::OK, "opening {path}");
    EventReader::with_awareness(response)
}

/// Opens `GET /api/events?{query}` as `client`, with every event.
pub async fn events_many(
    base: &str,
    client: &Client,
    query: &str,
    last_event_id: Option<&str>,
) -> EventReader {
    let path = format!("/api/events?{query}");
    let response = open_stream(base, client, &path, last_event_id).await;
    assert_eq!(response.status(), StatusCode::OK, "opening {path}");
    EventReader::with_awareness(response)
}

/// `GET /api/rooms/{room}/presence`, expecting `200`.
pub async fn presence(base: &str, room: &str) -> Value {
    let response = browser()
        .get(format!("{base}/api/rooms/{room}/presence"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "presence of {room}");
    response.json().await.unwrap()
}

/// Polls `GET /api/rooms/{room}/presence` until `until` holds of it; returns it.
pub async fn presence_until(base: &str, room: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let presence = presence(base, room).await;
        if until(&presence) {
            return presence;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence of {room} never came to pass: last {presence}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /api/rooms/{room}/typing` as `client`, whatever the answer.
pub async fn typing(base: &str, client: &Client, room: &str) -> Response {
    client
        .post(format!("{base}/api/rooms/{room}/typing"))
        .send()
        .await
        .unwrap()
}
