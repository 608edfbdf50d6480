//! What every handler shares.

use super::{
    broker::{Broker, Limits, memory::MemoryBroker, redis::RedisBroker},
    config::Config,
    hub::Hub,
    net::{PublicOrigin, StreamCounter, TrustedProxies},
    presence::PresenceTracker,
    session::{self, CookieSettings},
};
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

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
    pub broker: Arc<dyn Broker>,
    /// Who is present in which room through this node's streams.
    pub presence: Arc<PresenceTracker>,
    pub cookie: CookieSettings,
    pub leptos_options: LeptosOptions,
    /// Cancelled when graceful shutdown begins: background tasks (the Redis listener)
    /// stop on it. SSE streams end when `serve` closes the hub.
    pub shutdown: CancellationToken,
    pub keepalive: Duration,
    /// Open streams per client address, on this node.
    pub streams: Arc<StreamCounter>,
    pub trusted_proxies: Arc<TrustedProxies>,
    /// `CHAT_PUBLIC_URL`: the origin state-changing requests must come from, if set.
    pub public_origin: Option<PublicOrigin>,
    pub metrics_access: MetricsAccess,
    pub metrics: Metrics,
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
    /// starts its Pub/Sub task here.
    pub fn new(
        config: &Config,
        leptos_options: LeptosOptions,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let hub = Hub::new(config.subscriber_buffer as usize);
        let limits = Limits::from_config(config);
        let broker: Arc<dyn Broker> = match (&config.redis_url, &config.redis_cluster_urls) {
            (Some(_), urls) if !urls.is_empty() => {
                anyhow::bail!("set REDIS_URL or REDIS_CLUSTER_URLS, not both")
            }
            (Some(url), _) => Arc::new(RedisBroker::start(
                url,
                &config.redis_prefix,
                limits,
                hub,
                shutdown.clone(),
            )?),
            (None, urls) if !urls.is_empty() => Arc::new(RedisBroker::start_cluster(
                urls,
                &config.redis_prefix,
                limits,
                hub,
                shutdown.clone(),
            )?),
            (None, _) => Arc::new(MemoryBroker::new(limits, hub)),
        };
        let presence = PresenceTracker::new(Arc::clone(&broker), config.leave_grace());
        tokio::spawn(Arc::clone(&presence).run_refresh(shutdown.clone()));
        let secret = config.secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "CHAT_SECRET is not set: sessions are signed with a random per-process key, \
                 so they end when this process does and other nodes will not accept them"
            );
            session::random_secret()
        });
        let metrics_access = match (&config.metrics_addr, &config.metrics_token) {
            (Some(_), _) => MetricsAccess::Elsewhere,
            (None, Some(token)) => MetricsAccess::Token(token.as_str().into()),
            (None, None) => MetricsAccess::Loopback,
        };
        Ok(Self(Arc::new(Shared {
            broker,
            presence,
            cookie: CookieSettings {
                key: session::key_from_secret(&secret),
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
            metrics,
        })))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Metric handles, resolved once so the hot path only does an atomic add.
#[derive(Clone)]
pub struct Metrics {
    pub prometheus: PrometheusHandle,
    pub connections: metrics::Gauge,
    pub published: metrics::Counter,
    pub delivered: metrics::Counter,
    pub lagged: metrics::Counter,
    pub awareness_delivered: metrics::Counter,
}

impl Metrics {
    fn new() -> Self {
        // The recorder is process-global; tests run many apps in one process.
        static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();
        let prometheus = PROMETHEUS
            .get_or_init(|| {
                let handle = PrometheusBuilder::new()
                    .install_recorder()
                    .expect("no other metrics recorder is installed");
                metrics::describe_gauge!("chat_sse_connections", "Open SSE streams");
                metrics::describe_counter!(
                    "chat_messages_published_total",
                    "Messages stored and published by this node"
                );
                metrics::describe_counter!(
                    "chat_messages_delivered_total",
                    "Message events written to SSE streams"
                );
                metrics::describe_counter!(
                    "chat_subscriber_lags_total",
                    "Times a subscriber fell behind and caught up from history"
                );
                metrics::describe_counter!(
                    "chat_awareness_delivered_total",
                    "Presence, join, leave, typing and resync events written to SSE streams after the first presence"
                );
                metrics::describe_counter!("chat_broker_errors_total", "Failed broker operations");
                metrics::describe_counter!(
                    "chat_broker_caught_up_total",
                    "Messages this node missed on Pub/Sub and delivered from the stream after reconnecting"
                );
                metrics::counter!("chat_broker_errors_total").absolute(0);
                handle
            })
            .clone();
        Self {
            prometheus,
            connections: metrics::gauge!("chat_sse_connections"),
            published: metrics::counter!("chat_messages_published_total"),
            delivered: metrics::counter!("chat_messages_delivered_total"),
            lagged: metrics::counter!("chat_subscriber_lags_total"),
            awareness_delivered: metrics::counter!("chat_awareness_delivered_total"),
        }
    }
}
