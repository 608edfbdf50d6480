//! Test helpers: a real server on port 0, a real Redis, a key prefix per test.
#![allow(dead_code)] // each test binary uses a different part of this module

use futures::StreamExt;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use tiny_chat::{
    message::ChatMessage,
    server::{self, config::Config, state::AppState},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// Runs each listed case once per broker: `memory::case` and `redis::case`.
#[allow(unused_macros)] // only the contract suites use it
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $case() { super::$case(super::BrokerKind::Memory).await })*
        }
        mod redis {
            $(#[tokio::test] async fn $case() { super::$case(super::BrokerKind::Redis).await })*
        }
        mod cluster {
            $(#[tokio::test] async fn $case() {
                if $crate::common::cluster_urls().is_some() {
                    super::$case(super::BrokerKind::Cluster).await
                }
            })*
        }
    };
}

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    Memory,
    Redis,
    /// The Redis Cluster of `TEST_REDIS_CLUSTER_URLS` (`scripts/test` starts one); its
    /// cases pass trivially without one, as a plain `cargo test` has none.
    ///
    /// [`spawn_app`] runs two chat nodes on it, and the contract holds across them: the
    /// [`TestApp`] writes, signs in and asks for presence on the first node, and opens
    /// every stream on the second ([`TestApp::stream_base`]).
    Cluster,
}

/// The seed URLs of the cluster the tests use, if any: `TEST_REDIS_CLUSTER_URLS`.
pub fn cluster_urls() -> Option<Vec<String>> {
    let urls = std::env::var("TEST_REDIS_CLUSTER_URLS").ok()?;
    Some(urls.split(',').map(str::to_owned).collect())
}

/// The Redis the tests use: `TEST_REDIS_URL`, else the machine's on 127.0.0.1:6379.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix of its own, so that tests run in parallel on one Redis.
pub fn unique_prefix() -> String {
    format!("test-{}", uuid::Uuid::new_v4().simple())
}

/// Deletes every key under a prefix; says so when it cannot (no panic: it runs in Drop).
pub fn delete_prefix(url: &str, prefix: &str) {
    if let Err(error) = tiny_chat::server::broker::redis::delete_prefix(url, prefix) {
        eprintln!("could not delete the test's keys under {prefix} at {url}: {error:#}");
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub config: Config,
    /// Ends the server as SIGTERM would.
    pub stop: CancellationToken,
    pub server: Option<JoinHandle<std::io::Result<()>>>,
    owns_prefix: bool,
    /// A second node of the same chat (same broker, prefix and secret), where the
    /// streams open; `None` on one node.
    pub peer: Option<Box<TestApp>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Where streams open: the second node when there is one, else this one.
    pub fn stream_base(&self) -> &str {
        self.peer.as_ref().map_or(&self.base, |peer| &peer.base)
    }

    /// A browser-like client without a session.
    pub fn client(&self) -> Client {
        browser()
    }

    /// A client signed in as `name`.
    pub async fn signed_in(&self, name: &str) -> Client {
        sign_in(&self.base, name).await
    }

    pub async fn post(&self, client: &Client, room: &str, text: &str) -> Response {
        post(&self.base, client, room, text).await
    }

    /// Posts and expects `201`, returning the message.
    pub async fn say(&self, client: &Client, room: &str, text: &str) -> ChatMessage {
        say(&self.base, client, room, text).await
    }

    /// `GET` a path and return its status and body text.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.client().get(self.url(path)).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// `GET /api/rooms`.
    pub async fn rooms(&self) -> Vec<tiny_chat::message::RoomSummary> {
        let (status, body) = self.get("/api/rooms").await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_str(&body).unwrap()
    }

    /// The value of a Prometheus counter or gauge on `/metrics`, summed over both nodes
    /// when there are two.
    pub async fn metric(&self, name: &str) -> f64 {
        let mut sum = metric(&self.base, name).await;
        if let Some(peer) = &self.peer {
            sum += metric(&peer.base, name).await;
        }
        sum
    }

    pub async fn history(&self, room: &str, query: &str) -> Vec<ChatMessage> {
        let response = self
            .client()
            .get(self.url(&format!("/api/rooms/{room}/messages{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Opens a room's event stream, with an optional `Last-Event-ID` header.
    pub async fn events(&self, room: &str, last_event_id: Option<&str>) -> EventReader {
        self.events_at(&format!("/api/rooms/{room}/events"), last_event_id)
            .await
    }

    /// Opens an event stream without a session; awareness events are set aside.
    pub async fn events_at(&self, path: &str, last_event_id: Option<&str>) -> EventReader {
        let response = open_stream(self.stream_base(), &self.client(), path, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK, "opening {path}");
        EventReader::new(response)
    }

    /// Opens a room's stream as `client` (a person when signed in), with every event.
    pub async fn listen(&self, client: &Client, room: &str) -> EventReader {
        listen(self.stream_base(), client, room).await
    }

    /// Opens `GET /api/events?{query}` as `client`, with every event.
    pub async fn events_many(
        &self,
        client: &Client,
        query: &str,
        last_event_id: Option<&str>,
    ) -> EventReader {
        events_many(self.stream_base(), client, query, last_event_id).await
    }

    /// `GET /api/rooms/{room}/presence`, expecting `200`.
    pub async fn presence(&self, room: &str) -> Value {
        presence(&self.base, room).await
    }

    /// `POST /api/rooms/{room}/typing` as `client`, whatever the answer.
    pub async fn typing(&self, client: &Client, room: &str) -> Response {
        typing(&self.base, client, room).await
    }

    /// Stops the server (both nodes) as SIGTERM would and waits for it to finish.
    pub async fn shutdown(&mut self) {
        if let Some(peer) = &mut self.peer {
            Box::pin(peer.shutdown()).await;
        }
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(PROMPTLY, server)
                .await
                .expect("the server stops promptly")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owns_prefix {
            return;
        }
        // Stop both nodes first, so that neither writes under the prefix (a presence
        // refresh, say) after it is deleted.
        self.stop.cancel();
        if let Some(peer) = &self.peer {
            peer.stop.cancel();
        }
        if let Some(url) = &self.config.redis_url {
            delete_prefix(url, &self.config.redis_prefix);
        } else if !self.config.redis_cluster_urls.is_empty() {
            let (urls, prefix) = (&self.config.redis_cluster_urls, &self.config.redis_prefix);
            if let Err(error) =
                tiny_chat::server::broker::redis::delete_prefix_on_cluster(urls, prefix)
            {
                eprintln!(
                    "could not delete the test's keys under {prefix} on the cluster: {error:#}"
                );
            }
        }
    }
}

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

/// The `name=value` pair of the session cookie a response sets.
pub fn session_cookie(response: &Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("chat_session="))
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

/// A server on the given broker, with its own Redis prefix.
pub async fn spawn_app(kind: BrokerKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

/// A server on the given broker, with settings adjusted by `configure`; on the cluster,
/// two nodes of one chat (see [`BrokerKind::Cluster`]).
pub async fn spawn_app_with(kind: BrokerKind, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut app = spawn_node(kind, configure).await;
    if kind == BrokerKind::Cluster {
        let peer = spawn_configured(app.config.clone(), false).await;
        wait_ready(&peer.base).await;
        app.peer = Some(Box::new(peer));
    }
    app
}

/// One server on the given broker, with its own Redis prefix and settings adjusted by
/// `configure`.
pub async fn spawn_node(kind: BrokerKind, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::defaults();
    config.secret = Some("test secret".into());
    // Tests post thousands of messages from one session; the limit has a test of its own.
    config.post_rate = 0.0;
    match kind {
        BrokerKind::Memory => {}
        BrokerKind::Redis => config.redis_url = Some(redis_url()),
        BrokerKind::Cluster => {
            config.redis_cluster_urls = cluster_urls().expect("TEST_REDIS_CLUSTER_URLS")
        }
    }
    config.redis_prefix = unique_prefix();
    configure(&mut config);
    let app = spawn_configured(config, true).await;
    if kind != BrokerKind::Memory {
        wait_ready(&app.base).await;
    }
    app
}

/// A server with exactly this config; `owns_prefix` deletes its keys when dropped.
pub async fn spawn_configured(config: Config, owns_prefix: bool) -> TestApp {
    // `RUST_LOG=tiny_chat=debug cargo test ...` shows the server's logs.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let state = AppState::new(
        &config,
        server::leptos_options(addr),
        CancellationToken::new(),
    )
    .unwrap();
    let server = tokio::spawn(server::serve(
        listener,
        state,
        stop.clone().cancelled_owned(),
    ));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        config,
        stop,
        server: Some(server),
        owns_prefix,
        peer: None,
    }
}

/// Polls `/readyz` until it answers 200.
pub async fn wait_ready(base: &str) {
    let client = Client::new();
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One parsed SSE event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

impl Event {
    pub fn message(&self) -> ChatMessage {
        assert_eq!(self.event, None, "expected a message event, got {self:?}");
        let message: ChatMessage = serde_json::from_str(&self.data).unwrap();
        assert_eq!(self.id.as_deref(), Some(message.id.to_string().as_str()));
        message
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }

    /// The event's name; `message` when it has no `event:` line.
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// Whether this is one of the events about who is in a room.
    pub fn is_awareness(&self) -> bool {
        AWARENESS_EVENTS.contains(&self.name())
    }

    /// A message of `GET /api/events`: its id is `<room>/<message id>`.
    pub fn room_message(&self) -> ChatMessage {
        assert_eq!(self.event, None, "expected a message event, got {self:?}");
        let message: ChatMessage = serde_json::from_str(&self.data).unwrap();
        assert_eq!(
            self.id.as_deref(),
            Some(format!("{}/{}", message.room, message.id).as_str()),
            "the id of {self:?}"
        );
        message
    }
}

/// The events about presence and typing, which streams carry besides the room's log.
pub const AWARENESS_EVENTS: [&str; 4] = ["presence", "join", "leave", "typing"];

/// Reads an SSE response event by event; also records comments and `retry:` lines.
///
/// Made with [`EventReader::new`], it sets the awareness events (`presence`, `join`,
/// `leave`, `typing`) aside in `awareness` and yields the rest, so that suites about
/// messages read messages; [`EventReader::with_awareness`] yields every event.
pub struct EventReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pub headers: reqwest::header::HeaderMap,
    pub comments: Vec<String>,
    pub retry: Option<String>,
    /// The awareness events set aside, when they are not yielded.
    pub awareness: Vec<Event>,
    keep_awareness: bool,
}

impl EventReader {
    /// A reader that sets awareness events aside.
    pub fn new(response: Response) -> Self {
        Self {
            headers: response.headers().clone(),
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            comments: Vec::new(),
            retry: None,
            awareness: Vec::new(),
            keep_awareness: false,
        }
    }

    /// A reader that yields every event, awareness events included.
    pub fn with_awareness(response: Response) -> Self {
        Self {
            keep_awareness: true,
            ..Self::new(response)
        }
    }

    /// The next event named `name`; fails the test if another event or none comes
    /// promptly.
    pub async fn next_named(&mut self, name: &str) -> Event {
        let event = self
            .next_within(PROMPTLY)
            .await
            .unwrap_or_else(|| panic!("expected event: {name} within {PROMPTLY:?}, got none"));
        assert_eq!(event.name(), name, "expected event: {name}, got {event:?}");
        event
    }

    /// Reads events for `wait` and returns them all (the stream may end sooner).
    pub async fn drain(&mut self, wait: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = Vec::new();
        while let Some(event) = self
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            events.push(event);
        }
        events
    }

    /// The next event, or `None` if the stream ends or nothing comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match self.parse_block(&block) {
                    Some(event) if !self.keep_awareness && event.is_awareness() => {
                        self.awareness.push(event);
                    }
                    Some(event) => return Some(event),
                    None => {}
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            // A connection cut mid-chunk (a killed node) ends the stream, as in a browser.
            self.buffer
                .push_str(std::str::from_utf8(&chunk.ok()?).unwrap());
        }
    }

    /// The next event; fails the test if none comes promptly.
    pub async fn next(&mut self) -> Event {
        self.next_within(PROMPTLY)
            .await
            .expect("an event arrives promptly")
    }

    /// The next `n` message events.
    pub async fn messages(&mut self, n: usize) -> Vec<ChatMessage> {
        let mut messages = Vec::with_capacity(n);
        while messages.len() < n {
            let Some(event) = self.next_within(PROMPTLY).await else {
                let texts: Vec<&str> = messages
                    .iter()
                    .map(|m: &ChatMessage| m.text.as_str())
                    .collect();
                panic!(
                    "{} of {n} messages came, then none (or the stream ended): {texts:?}",
                    messages.len()
                );
            };
            messages.push(event.message());
        }
        messages
    }

    /// Asserts that no event comes within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Some(event) = self.next_within(wait).await {
            panic!("expected no event, got {event:?}");
        }
    }

    fn parse_block(&mut self, block: &str) -> Option<Event> {
        let (mut event, mut id, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            if let Some(comment) = line.strip_prefix(':') {
                self.comments.push(comment.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("retry: ") {
                self.retry = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push(value);
            }
        }
        (!data.is_empty()).then(|| Event {
            event,
            id,
            data: data.join("\n"),
        })
    }
}

/// The texts of some messages.
pub fn texts(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private `redis-server` on a free port, for tests that stop Redis or count its
/// clients. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, with nothing persisted, and waits for PING.
    pub fn restart(&mut self) {
        let binary = std::env::var("TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = std::process::Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &std::env::temp_dir().display().to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary} (install redis-server): {e}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + PROMPTLY;
        loop {
            let pong = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `CLIENT LIST`, one line per connection.
    pub fn clients(&self) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut connection)
            .unwrap();
        list.lines().map(str::to_owned).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real server binary, as a separate process. Killed (as `kill -9` does) when dropped.
pub struct NodeProcess {
    pub base: String,
    child: std::process::Child,
}

impl NodeProcess {
    pub async fn start(redis_url: &str, prefix: &str, secret: &str) -> Self {
        Self::start_with(&[
            ("REDIS_URL", redis_url),
            ("CHAT_REDIS_PREFIX", prefix),
            ("CHAT_SECRET", secret),
        ])
        .await
    }

    /// A node with exactly these settings (no `REDIS_URL`: the memory broker).
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"));
        command
            .env_remove("REDIS_URL")
            .env("LEPTOS_SITE_ADDR", &addr)
            .env("RUST_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting the server binary");
        let base = format!("http://{addr}");
        wait_ready(&base).await;
        Self { base, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Kills the process with SIGKILL, as a crash would: nothing is closed cleanly.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory, in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
