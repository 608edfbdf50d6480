//! The message and room endpoints of `docs/API.md`.

use super::{
    broker::{IdempotencyKey, NewMessage, Published},
    error::{Error, Result},
    extract::{ApiJson, ApiQuery, RoomPath},
    session::Session,
    state::AppState,
};
use crate::message::{ChatMessage, MessageId, MessageText, RoomName, RoomSummary};
use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
pub const MAX_CLIENT_ID_CHARS: usize = 64;

#[derive(Deserialize)]
pub struct PostBody {
    text: String,
    client_id: Option<String>,
}

/// `POST /api/rooms/{room}/messages`: `201` with the new message, or `200` with the
/// first one when the session repeats a `client_id`.
pub async fn post_message(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    session: Session,
    ApiJson(body): ApiJson<PostBody>,
) -> Result<(StatusCode, Json<ChatMessage>)> {
    Ok(
        match publish(&state, session, room, &body.text, body.client_id).await? {
            Published::New(message) => (StatusCode::CREATED, Json(message)),
            Published::Repeat(message) => (StatusCode::OK, Json(message)),
        },
    )
}

/// Validates and publishes a post: the one path for the JSON API and the no-JS form.
pub async fn publish(
    state: &AppState,
    session: Session,
    room: RoomName,
    text: &str,
    client_id: Option<String>,
) -> Result<Published> {
    let text = MessageText::parse(text)?;
    state
        .post_limiter
        .check(&session.id)
        .map_err(|wait| Error::RateLimited {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    let idempotency = client_id
        .map(|client_id| {
            let chars = client_id.chars().count();
            if (1..=MAX_CLIENT_ID_CHARS).contains(&chars) && !client_id.chars().any(char::is_control) {
                Ok(IdempotencyKey {
                    session_id: session.id.clone(),
                    client_id,
                })
            } else {
                Err(Error::BadRequest(format!(
                    "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters, without control characters"
                )))
            }
        })
        .transpose()?;
    let published = state
        .broker
        .publish(NewMessage {
            room,
            sender: session.name,
            text,
            idempotency,
        })
        .await?;
    if let Published::New(_) = published {
        state.metrics.published.increment(1);
    }
    Ok(published)
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
    limit: Option<String>,
}

/// `GET /api/rooms/{room}/messages?before=&limit=`: oldest first.
pub async fn history(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<ChatMessage>>> {
    let before = query
        .before
        .map(|raw| {
            raw.parse::<MessageId>()
                .map_err(|_| Error::BadRequest(format!("before must be a message id, not {raw:?}")))
        })
        .transpose()?;
    let limit = match query.limit {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::BadRequest(format!("limit must be 1 to {MAX_PAGE}, not {raw:?}"))
            })?,
    };
    Ok(Json(state.broker.history(&room, before, limit).await?))
}

/// `GET /api/rooms`: rooms with recent activity first.
pub async fn rooms(State(state): State<AppState>) -> Result<Json<Vec<RoomSummary>>> {
    Ok(Json(state.broker.rooms().await?))
}
