//! The message and room endpoints of `docs/API.md`.

use super::{
    broker::{Change, ChangeKind, Changed, NewMessage, Published},
    error::{Error, Result},
    extract::{ApiJson, ApiQuery, MessagePath, RoomPath},
    log::Emoji,
    session::{Claimed, Token, renewal_header, with_cookie},
    state::AppState,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, EditBody, MessageId, MessageText, RoomName, RoomSummary},
};
use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
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
/// first one when the session repeats a `client_id`. The session's hold on its name is
/// checked by the broker in the same step that stores; since posting extends the hold,
/// the answer renews the cookie too, when that is due.
pub async fn post_message(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    Claimed(token): Claimed,
    ApiJson(body): ApiJson<PostBody>,
) -> Result<Response> {
    let renewal = renewal_header(&state.cookie, &token);
    let answer = match publish(&state, token, room, &body.text, body.client_id).await? {
        Published::New(message) => (StatusCode::CREATED, Json(message)),
        Published::Repeat(message) => (StatusCode::OK, Json(message)),
    };
    Ok(with_cookie(answer, renewal))
}

/// Validates and publishes a post: the one path for the JSON API and the no-JS form.
pub async fn publish(
    state: &AppState,
    token: Token,
    room: RoomName,
    text: &str,
    client_id: Option<String>,
) -> Result<Published> {
    let text = MessageText::parse(text)?;
    if let Some(client_id) = &client_id {
        let chars = client_id.chars().count();
        if !(1..=MAX_CLIENT_ID_CHARS).contains(&chars) || client_id.chars().any(char::is_control) {
            return Err(Error::BadRequest(format!(
                "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters, without control characters"
            )));
        }
    }
    let published = state
        .broker
        .publish(NewMessage {
            room,
            author: token.holder(),
            text,
            client_id,
        })
        .await?;
    if let Published::New(_) = published {
        state.metrics.published.increment(1);
    }
    Ok(published)
}

/// `PATCH /api/rooms/{room}/messages/{id}`: `200` with the message as it now stands.
pub async fn edit_message(
    State(state): State<AppState>,
    path: MessagePath,
    Claimed(token): Claimed,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Response> {
    let text = MessageText::parse(&body.text)?;
    change(&state, token, path, ChangeKind::Edit(text)).await
}

/// `DELETE /api/rooms/{room}/messages/{id}`: `204`.
pub async fn delete_message(
    State(state): State<AppState>,
    path: MessagePath,
    Claimed(token): Claimed,
) -> Result<Response> {
    change(&state, token, path, ChangeKind::Delete).await
}

/// `PUT /api/rooms/{room}/messages/{id}/reactions/{emoji}`: `200` with the message.
pub async fn react(
    State(state): State<AppState>,
    path: MessagePath,
    Claimed(token): Claimed,
) -> Result<Response> {
    let emoji = reaction(&path)?;
    change(&state, token, path, ChangeKind::React(emoji)).await
}

/// `DELETE /api/rooms/{room}/messages/{id}/reactions/{emoji}`: `200` with the message.
pub async fn unreact(
    State(state): State<AppState>,
    path: MessagePath,
    Claimed(token): Claimed,
) -> Result<Response> {
    let emoji = reaction(&path)?;
    change(&state, token, path, ChangeKind::Unreact(emoji)).await
}

fn reaction(path: &MessagePath) -> Result<Emoji> {
    Emoji::parse(path.emoji.as_deref().unwrap_or_default())
        .map_err(|invalid| Error::InvalidReaction(invalid.to_string()))
}

/// Applies a change through the broker, which checks the hold, the sender and the post
/// limit in the same step that stores it. Like a post, it renews the cookie when due.
async fn change(
    state: &AppState,
    token: Token,
    path: MessagePath,
    kind: ChangeKind,
) -> Result<Response> {
    let renewal = renewal_header(&state.cookie, &token);
    let changed = state
        .broker
        .change(Change {
            room: path.room,
            id: path.id,
            author: token.holder(),
            kind,
        })
        .await?;
    let answer = match changed {
        Changed::Message(message) => Json(message).into_response(),
        Changed::Deleted => StatusCode::NO_CONTENT.into_response(),
    };
    Ok(with_cookie(answer, renewal))
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
    let (before, limit) = query.parse()?;
    Ok(Json(state.broker.history(&room, before, limit).await?))
}

impl HistoryQuery {
    /// `before` as a message id, and `limit` in `1..=MAX_PAGE` (default [`DEFAULT_PAGE`]).
    pub fn parse(self) -> Result<(Option<MessageId>, usize)> {
        let before = self
            .before
            .map(|raw| {
                raw.parse::<MessageId>().map_err(|_| {
                    Error::BadRequest(format!("before must be a message id, not {raw:?}"))
                })
            })
            .transpose()?;
        let limit = match self.limit {
            None => DEFAULT_PAGE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    Error::BadRequest(format!("limit must be 1 to {MAX_PAGE}, not {raw:?}"))
                })?,
        };
        Ok((before, limit))
    }
}

/// `GET /api/rooms/{room}/presence`: who is in the room now.
pub async fn presence(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
) -> Result<Json<Presence>> {
    Ok(Json(state.broker.presence(&room).await?))
}

/// `POST /api/rooms/{room}/typing`: `204`; fans out `typing` at most once per person per
/// room every 2 s (the broker throttles, on all nodes together). The broker checks the
/// session's hold in the same step, as for a post: `401` once it has ended.
pub async fn typing(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    Claimed(token): Claimed,
) -> Result<StatusCode> {
    state.broker.typing(&room, &token.holder()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/rooms`: rooms with recent activity first.
pub async fn rooms(State(state): State<AppState>) -> Result<Json<Vec<RoomSummary>>> {
    Ok(Json(state.broker.rooms().await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_history_query_parses_or_is_a_bad_request(
            before in proptest::option::of(".{0,40}"),
            limit in proptest::option::of(".{0,12}"),
        ) {
            match (HistoryQuery { before, limit }).parse() {
                Ok((_, limit)) => prop_assert!((1..=MAX_PAGE).contains(&limit)),
                Err(error) => prop_assert_eq!(error.code(), "bad_request"),
            }
        }

        #[test]
        fn valid_queries_parse_to_what_they_say(ms in 0u64..u64::MAX, seq in 0u64..1000, limit in 1usize..=MAX_PAGE) {
            let query = HistoryQuery { before: Some(format!("{ms}-{seq}")), limit: Some(limit.to_string()) };
            prop_assert_eq!(query.parse().unwrap(), (Some(MessageId::new(ms, seq)), limit));
        }
    }
}
