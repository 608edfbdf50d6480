//! Server functions' errors in the API's shape. leptos answers a server function's error
//! with `500` and its own text encoding, whatever the error; a form posted without
//! JavaScript gets a redirect back to its page instead, which stays as it is. Every
//! other caller gets what the JSON API would answer: the status and
//! `{"error":{"code":"...","message":"..."}}`.
//!
//! The server functions (`app::data`) name their refusal with [`refuse`], which marks the
//! response with a header of ours (never sent on); [`errors_as_json`] turns the error
//! into the API's shape by it. An error without the mark is leptos's own: arguments that
//! do not decode are `400 bad_request`, anything else `500 internal`.

use super::error::Error;
use crate::message::{ErrorBody, ErrorDetail};
use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

/// The mark of a refusal: `<status> <code>`.
const REFUSAL: &str = "x-chat-refusal";

/// Marks the server function's response as refused with `error`: its status, code and
/// `Retry-After`. Outside a server function (a page rendering), it does nothing that
/// reaches the client.
pub fn refuse(error: &Error) {
    let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let mark = format!("{} {}", error.status_code().as_u16(), error.code());
    options.insert_header(
        header::HeaderName::from_static(REFUSAL),
        HeaderValue::from_str(&mark).expect("a status and a code are a valid header value"),
    );
    if let Some(secs) = error.retry_after_secs() {
        options.insert_header(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// Answers a server function's error as the API would, except to a plain form post.
pub async fn errors_as_json(request: Request, next: Next) -> Response {
    let form = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut response = next.run(request).await;
    let mark = response.headers_mut().remove(REFUSAL);
    if form || !response.headers().contains_key(SERVER_FN_ERROR_HEADER) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // leptos's text: `<kind>|<message>`, where our refusals put their public message,
    // or a form's refusal as JSON.
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let (kind, message) = text.split_once('|').unwrap_or(("", &text));
    let (status, code, message) = match mark.as_ref().and_then(|m| m.to_str().ok()) {
        Some(mark) => {
            let (status, code) = mark.split_once(' ').unwrap_or((mark, "internal"));
            let status = status.parse().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // A form's refusal (`app::data::FormError`) says its message as `message`.
            let form: Option<serde_json::Value> = serde_json::from_str(message).ok();
            let message = form
                .as_ref()
                .and_then(|form| form["message"].as_str())
                .unwrap_or(message)
                .to_owned();
            (status, code.to_owned(), message)
        }
        None if matches!(kind, "Args" | "MissingArg" | "Deserialization") => (
            StatusCode::BAD_REQUEST,
            "bad_request".to_owned(),
            "the server function's arguments are missing or malformed".to_owned(),
        ),
        None => {
            tracing::error!(error = %text, "a server function failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal".to_owned(),
                "the server could not answer".to_owned(),
            )
        }
    };
    let body = ErrorBody {
        error: ErrorDetail { code, message },
    };
    let mut answer = (status, axum::Json(body)).into_response();
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    answer
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}
