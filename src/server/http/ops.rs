//! `/healthz`, `/readyz` and `/metrics`.
//!
//! `/metrics` is not for the world. On the main address it answers only what
//! [`MetricsAccess`] allows: by default a client whose socket is on loopback and that
//! came through no proxy (no forwarding header), or requests with the bearer
//! token of `CHAT_METRICS_TOKEN`; with `CHAT_METRICS_ADDR` it is served on that address
//! alone ([`super::serve_metrics`]). Everyone else gets `404 not_found`.

use super::{error::Error, net::PeerAddr};
use crate::server::state::{AppState, MetricsAccess};
use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// `200` when the broker answers, else `503`.
pub async fn readyz(State(state): State<AppState>) -> StatusCode {
    if state.chat.ready().await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// `/metrics` on the main address, for those [`MetricsAccess`] lets in.
pub async fn metrics(
    State(state): State<AppState>,
    PeerAddr(peer): PeerAddr,
    headers: HeaderMap,
) -> Response {
    let allowed = match &state.metrics_access {
        // The socket's peer, never a header: a forwarded loopback address is a claim,
        // and a request that came through a proxy on loopback is some client's.
        MetricsAccess::Loopback => {
            peer.is_loopback()
                && !headers.contains_key("x-forwarded-for")
                && !headers.contains_key(header::FORWARDED)
        }
        MetricsAccess::Token(token) => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes())),
        MetricsAccess::Elsewhere => false,
    };
    if allowed {
        render_metrics(State(state)).await
    } else {
        Error::NotFound.into_response()
    }
}

/// The Prometheus text, unguarded: the metrics listener's only route.
pub async fn render_metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics().prometheus.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Compares without an early exit, so the time taken does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
