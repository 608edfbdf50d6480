//! What every handler shares.

use super::{
    broker::{Broker, memory::MemoryBroker, redis::RedisBroker},
    config::Config,
    hub::Hub,
    limit::PostLimiter,
    session,
};
use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;
use leptos::prelude::LeptosOptions;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub broker: Arc<dyn Broker>,
    pub cookie_key: Key,
    pub leptos_options: LeptosOptions,
    /// Cancelled when graceful shutdown begins: background tasks (the Redis listener)
    /// stop on it. SSE streams end when `serve` closes the hub.
    pub shutdown: CancellationToken,
    pub keepalive: Duration,
    pub post_limiter: Arc<PostLimiter>,
    pub metrics: Metrics,
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
        let history_limit = config.history_limit as usize;
        let broker: Arc<dyn Broker> = match &config.redis_url {
            Some(url) => Arc::new(RedisBroker::start(
                url,
                &config.redis_prefix,
                history_limit,
                hub,
                shutdown.clone(),
            )?),
            None => Arc::new(MemoryBroker::new(history_limit, hub)),
        };
        let secret = config.secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "CHAT_SECRET is not set: sessions are signed with a random per-process key, \
                 so they end when this process does and other nodes will not accept them"
            );
            session::random_secret()
        });
        Ok(Self {
            broker,
            cookie_key: session::key_from_secret(&secret),
            leptos_options,
            shutdown,
            keepalive: config.keepalive(),
            post_limiter: Arc::new(PostLimiter::new(config.post_rate, config.post_burst)),
            metrics,
        })
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Self {
        state.cookie_key.clone()
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
        }
    }
}
