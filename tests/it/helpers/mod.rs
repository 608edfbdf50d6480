//! Test helpers: a real server on port 0, a real Redis, a key prefix per test.
//!
//! - [`app`]: the server under test ([`TestApp`], [`spawn_app`] and its kin).
//! - [`requests`]: what a browser asks of it (sign in, post, open a stream, ...).
//! - [`events`]: reading an SSE stream event by event ([`EventReader`]).
//! - [`processes`]: a private `redis-server` and the real server binary, as processes.
//! - [`pg`]: a PostgreSQL database per test.

mod app;
mod events;
mod pg;
mod processes;
mod requests;

pub use app::*;
pub use events::*;
pub use pg::*;
pub use processes::*;
pub use requests::*;

use std::time::Duration;
use tiny_chat::message::ChatMessage;

/// Runs each listed case in a module of its own on one broker; with `ignore`, ignored
/// for that reason unless asked for.
macro_rules! cases_on {
    ($module:ident, $kind:ident; $($case:ident),*) => {
        mod $module {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::helpers::BrokerKind::$kind).await
            })*
        }
    };
    ($module:ident, $kind:ident, ignore = $why:literal; $($case:ident),*) => {
        mod $module {
            $(#[tokio::test]
            #[ignore = $why]
            async fn $case() {
                super::$case($crate::helpers::BrokerKind::$kind).await
            })*
        }
    };
}

/// Runs each listed case once per way of running the chat: `memory::case` (one node,
/// nothing kept), `sqlite::case` (the default), `postgres::case` (Redis and PostgreSQL)
/// and `cluster::case` (two nodes on a Redis Cluster and PostgreSQL). The cluster's cases
/// are ignored unless asked for (`--include-ignored`, as `scripts/test` does), since a
/// plain `cargo test` has no cluster; asked for without one, they fail.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        cases_on!(memory, Memory; $($case),*);
        cases_on!(sqlite, Sqlite; $($case),*);
        cases_on!(postgres, Postgres; $($case),*);
        cases_on!(cluster, ClusterPostgres, ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"; $($case),*);
    };
}

/// Runs each listed case on the live tiers that keep a window of `CHAT_HISTORY_LIMIT`
/// messages per room with no database (memory, Redis, the cluster): the cases about that
/// window's bounds. SQLite keeps every message; `kept.rs` holds its cases.
macro_rules! live_window {
    ($($case:ident),* $(,)?) => {
        cases_on!(memory_window, Memory; $($case),*);
        cases_on!(redis_window, Redis; $($case),*);
        cases_on!(cluster_window, Cluster, ignore = "needs a Redis Cluster: TEST_REDIS_CLUSTER_URLS (scripts/test starts one)"; $($case),*);
    };
}

/// How long a test waits for something that should happen at once.
pub const PROMPTLY: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerKind {
    /// One node, keeping nothing (`CHAT_DATABASE_URL=none`).
    Memory,
    /// One node keeping everything in SQLite, in a folder of the test's own: the default.
    Sqlite,
    Redis,
    /// The Redis Cluster of `TEST_REDIS_CLUSTER_URLS` (`scripts/test` starts one); its
    /// cases are `#[ignore]`d, as a plain `cargo test` has none, and fail without one.
    ///
    /// [`spawn_app`] runs two chat nodes on it, and the contract holds across them: the
    /// [`TestApp`] writes, signs in and asks for presence on the first node, and opens
    /// every stream on the second ([`TestApp::stream_base`]).
    Cluster,
    /// Redis for what is live, and a PostgreSQL database of the test's own ([`pg`]).
    Postgres,
    /// Two nodes on the Redis Cluster, as [`BrokerKind::Cluster`], and a PostgreSQL
    /// database of the test's own.
    ClusterPostgres,
}

impl BrokerKind {
    /// Whether it runs two nodes on a Redis Cluster.
    pub fn is_cluster(self) -> bool {
        matches!(self, Self::Cluster | Self::ClusterPostgres)
    }
}

/// The seed URLs of the cluster the tests use: `TEST_REDIS_CLUSTER_URLS`. Fails the test
/// when it is not set: a case that needs a cluster never passes without one.
pub fn cluster_urls() -> Vec<String> {
    let urls = std::env::var("TEST_REDIS_CLUSTER_URLS").unwrap_or_default();
    assert!(
        !urls.trim().is_empty(),
        "this test needs a Redis Cluster: set TEST_REDIS_CLUSTER_URLS to its seed URLs \
         (`scripts/redis-cluster start` prints them; `scripts/test` starts one)"
    );
    urls.split(',').map(str::to_owned).collect()
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

/// The texts of some messages.
pub fn texts(messages: &[ChatMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}
