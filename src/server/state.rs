//! What every handler shares, built from the config: the one place that knows every
//! layer (it makes the broker the config asks for, the chat over it, and the HTTP edge's
//! settings). Extractors take only the parts they read, through `FromRef`.

use super::http::cookie::{self, CookieSettings};
use super::http::net::{PublicOrigin, StreamCounter, TrustedProxies};
use super::{
    broker::{Broker, Limits, postgres},
    chat::Chat,
    config::{Config, DatabaseUrl},
    metrics::Metrics,
};
use anyhow::Context;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// The shortest `CHAT_SECRET` taken without a warning: 256 bits, as HMAC-SHA256 wants.
pub const MIN_SECRET_BYTES: usize = 32;

/// Cloned for every request (by axum, and into each page's Leptos context), so it is one
/// `Arc`: cloning the fields one by one was about 1.5% of a room page's server time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    /// The use cases, over the broker.
    pub chat: Chat,
    pub cookie: CookieSettings,
    pub leptos_options: LeptosOptions,
    /// Cancelled when graceful shutdown begins: background tasks (the Redis listener,
    /// the presence refresh) stop on it. SSE streams end when `serve` closes the bus.
    pub shutdown: CancellationToken,
    pub keepalive: Duration,
    /// Open streams per client address, on this node.
    pub streams: Arc<StreamCounter>,
    pub trusted_proxies: Arc<TrustedProxies>,
    /// `CHAT_PUBLIC_URL`: the origin state-changing requests must come from, if set.
    pub public_origin: Option<PublicOrigin>,
    pub metrics_access: MetricsAccess,
}

/// Who may read `/metrics` on the main address.
#[derive(Clone, Debug)]
pub enum MetricsAccess {
    /// Clients on loopback only (the default).
    Loopback,
    /// Requests with `Authorization: Bearer <token>`.
    Token(Arc<str>),
    /// Nobody: it is served on `CHAT_METRICS_ADDR` instead.
    Elsewhere,
}

impl AppState {
    /// Builds the state for `config`. Must run inside a Tokio runtime: the Redis broker
    /// starts its Pub/Sub task here, and the chat its presence refresh.
    pub fn new(
        config: &Config,
        leptos_options: LeptosOptions,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let limits = config.limits();
        let database = config.database();
        // Many nodes share one secret, kept in their database: migrated first.
        let shared_secret = match &database {
            DatabaseUrl::Postgres(url) => Some(
                postgres::migrate(url, cookie::random_secret())
                    .context("preparing the PostgreSQL database")?,
            ),
            _ => None,
        };
        let broker = broker_for(config, &database, limits, &shutdown)?;
        let chat = Chat::new(broker, config.leave_grace(), metrics, shutdown.clone());
        if let Some(secret) = &config.secret
            && secret.len() < MIN_SECRET_BYTES
        {
            tracing::warn!(
                "CHAT_SECRET is {} bytes: anyone who guesses it can sign cookies as anyone; \
                 use at least {MIN_SECRET_BYTES} random bytes (`openssl rand -hex 32`)",
                secret.len()
            );
        }
        let secret = match (&config.secret, &database) {
            (Some(secret), _) => secret.clone(),
            (None, DatabaseUrl::None) => {
                tracing::warn!(
                    "CHAT_SECRET is not set and nothing is kept: sessions are signed with a \
                     random per-process key, so they end when this process does"
                );
                cookie::random_secret()
            }
            (None, DatabaseUrl::Postgres(_)) => {
                shared_secret.expect("a PostgreSQL database was migrated")
            }
            (None, _) => kept_secret(&config.data_dir)?,
        };
        let metrics_access = match (&config.metrics_addr, &config.metrics_token) {
            (Some(_), _) => MetricsAccess::Elsewhere,
            (None, Some(token)) => MetricsAccess::Token(token.as_str().into()),
            (None, None) => MetricsAccess::Loopback,
        };
        Ok(Self(Arc::new(Shared {
            chat,
            cookie: CookieSettings {
                key: cookie::key_from_secret(&secret),
                max_age_secs: config.name_idle().as_secs_f64().ceil() as i64,
                secure: config
                    .public_url
                    .as_ref()
                    .is_some_and(PublicOrigin::is_https),
            },
            leptos_options,
            shutdown,
            keepalive: config.keepalive(),
            streams: StreamCounter::new(config.max_streams_per_client),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            public_origin: config.public_url.clone(),
            metrics_access,
        })))
    }

    pub fn metrics(&self) -> &Metrics {
        self.chat.metrics()
    }
}

/// The broker the config asks for: the live tier (in process, Redis or a Redis
/// Cluster) over what keeps the chat.
fn broker_for(
    config: &Config,
    database: &DatabaseUrl,
    limits: Limits,
    shutdown: &CancellationToken,
) -> anyhow::Result<Broker> {
    let redis = config.uses_redis();
    match database {
        DatabaseUrl::None => tracing::warn!(
            "CHAT_DATABASE_URL=none: nothing is kept beyond {}; for tests and benchmarks only",
            if redis {
                "Redis's window"
            } else {
                "this process"
            }
        ),
        DatabaseUrl::Postgres(_) if !redis => anyhow::bail!(
            "PostgreSQL is for many nodes, which share what is live through Redis: set \
             REDIS_URL or REDIS_CLUSTER_URLS too (one node keeps its data in SQLite: leave \
             CHAT_DATABASE_URL unset)"
        ),
        DatabaseUrl::Postgres(_) => {}
        DatabaseUrl::Sqlite(_) if redis => anyhow::bail!(
            "Redis carries what is live, not what is kept, and SQLite is one node's: for many \
             nodes set CHAT_DATABASE_URL to a PostgreSQL database every node shares, or to \
             none to keep nothing (tests and benchmarks)"
        ),
        DatabaseUrl::Sqlite(_) => {}
    }
    Ok(
        match (&config.redis_url, &config.redis_cluster_urls, database) {
            (Some(_), urls, _) if !urls.is_empty() => {
                anyhow::bail!("set REDIS_URL or REDIS_CLUSTER_URLS, not both")
            }
            (Some(url), _, DatabaseUrl::Postgres(database)) => Broker::postgres(
                database,
                postgres::Live::Redis(url),
                &config.redis_prefix,
                limits,
                shutdown.clone(),
                config.retention(),
            )?,
            (None, urls, DatabaseUrl::Postgres(database)) if !urls.is_empty() => Broker::postgres(
                database,
                postgres::Live::Cluster(urls),
                &config.redis_prefix,
                limits,
                shutdown.clone(),
                config.retention(),
            )?,
            (Some(url), _, _) => {
                Broker::redis(url, &config.redis_prefix, limits, shutdown.clone())?
            }
            (None, urls, _) if !urls.is_empty() => {
                Broker::cluster(urls, &config.redis_prefix, limits, shutdown.clone())?
            }
            (None, _, DatabaseUrl::Sqlite(path)) => {
                if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("making the data folder {}", dir.display()))?;
                }
                Broker::sqlite(path, limits, config.retention())?
            }
            (None, _, _) => Broker::memory(limits),
        },
    )
}

/// The file in `CHAT_DATA_DIR` that keeps the generated secret.
pub const SECRET_FILE: &str = "secret";

/// The secret kept in `data_dir` (readable by this user only), made once when missing,
/// so that a restart signs nobody out.
fn kept_secret(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => anyhow::bail!("{} is empty: remove it to make a new one", path.display()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("reading {}", path.display())));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("making the data folder {}", data_dir.display()))?;
    let secret = cookie::random_secret();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "made the secret that signs sessions");
    Ok(secret)
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Chat {
    fn from_ref(state: &AppState) -> Self {
        state.chat.clone()
    }
}

impl FromRef<AppState> for CookieSettings {
    fn from_ref(state: &AppState) -> Self {
        state.cookie.clone()
    }
}

impl FromRef<AppState> for Arc<TrustedProxies> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.trusted_proxies)
    }
}
