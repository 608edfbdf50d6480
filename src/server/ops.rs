//! `/healthz`, `/readyz` and `/metrics`.

use super::state::AppState;
use axum::{
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// `200` when the broker answers, else `503`.
pub async fn readyz(State(state): State<AppState>) -> StatusCode {
    if state.broker.ready().await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.prometheus.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
