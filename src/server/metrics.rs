//! The node's metrics: the Prometheus recorder, and the handles the hot paths count with.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
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
