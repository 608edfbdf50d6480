//! The server under test: one node or two, on the broker a case asks for.

use super::{
    BrokerKind, EventReader, PROMPTLY, browser, cluster_urls, delete_prefix, events_many, listen,
    metric, open_stream, post, presence, redis_url, say, sign_in, typing, unique_prefix,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use std::{net::SocketAddr, time::Duration};
use tiny_chat::{
    message::ChatMessage,
    server::{
        self,
        config::{Config, DatabaseUrl},
        state::AppState,
    },
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

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
    /// The data folder of a node on SQLite, removed when the app is dropped.
    pub data: Option<std::sync::Arc<tempfile::TempDir>>,
    /// The PostgreSQL database of the test, dropped when the app is.
    pub database: Option<std::sync::Arc<super::PgDatabase>>,
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

/// A server on the given broker, with its own Redis prefix.
pub async fn spawn_app(kind: BrokerKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

/// A server on the given broker, with settings adjusted by `configure`; on the cluster,
/// two nodes of one chat (see [`BrokerKind::Cluster`]).
pub async fn spawn_app_with(kind: BrokerKind, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut app = spawn_node(kind, configure).await;
    if kind.is_cluster() {
        let peer = spawn_configured(app.config.clone(), false).await;
        wait_ready(&peer.base).await;
        app.peer = Some(Box::new(peer));
    }
    app
}

/// One server on the given broker, with its own Redis prefix and settings adjusted by
/// `configure`. On the cluster, that of `TEST_REDIS_CLUSTER_URLS` unless `configure`
/// names one (a test that starts a cluster of its own).
pub async fn spawn_node(kind: BrokerKind, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::defaults();
    config.secret = Some("test secret".into());
    config.database_url = Some(DatabaseUrl::None);
    let data = (kind == BrokerKind::Sqlite).then(|| {
        let dir = tempfile::tempdir().expect("a temporary data folder");
        config.data_dir = dir.path().to_owned();
        config.database_url = None;
        std::sync::Arc::new(dir)
    });
    let database = matches!(kind, BrokerKind::Postgres | BrokerKind::ClusterPostgres).then(|| {
        let database = super::PgDatabase::create();
        config.database_url = Some(DatabaseUrl::Postgres(database.url.clone()));
        std::sync::Arc::new(database)
    });
    // Tests post thousands of messages from one session; the limit has a test of its own.
    config.post_rate = 0.0;
    if matches!(kind, BrokerKind::Redis | BrokerKind::Postgres) {
        config.redis_url = Some(redis_url());
    }
    config.redis_prefix = unique_prefix();
    configure(&mut config);
    if kind.is_cluster() && config.redis_cluster_urls.is_empty() {
        config.redis_cluster_urls = cluster_urls();
    }
    let mut app = spawn_configured(config, true).await;
    app.data = data;
    app.database = database;
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
        data: None,
        database: None,
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
