//! The message and room endpoints of `docs/API.md`: each parses its request, calls its
//! use case (`server::chat`), and answers.

use super::{
    cookie::{CookieSettings, Token, renewal_header},
    error::{Error, Result},
    extract::{ApiJson, ApiQuery, MessagePath, RoomPath},
    net::ClientAddr,
    session::{Claimed, with_cookie},
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, EditBody, MessageId, RoomSummary},
    server::{
        broker::{Changed, Published},
        chat::Chat,
    },
};
use axum::{
    Json,
    extract::State,
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

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
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    RoomPath(room): RoomPath,
    client: ClientAddr,
    Claimed(token): Claimed,
    ApiJson(body): ApiJson<PostBody>,
) -> Result<Response> {
    let renewal = renewal_header(&cookie, &token);
    let (text, client_id) = (&body.text, body.client_id);
    let published = chat
        .post(token.holder(), room, text, client_id, client.limit_key())
        .await?;
    let answer = match published {
        Published::New(message) => (StatusCode::CREATED, Json(message)),
        Published::Repeat(message) => (StatusCode::OK, Json(message)),
    };
    Ok(with_cookie(answer, renewal))
}

/// `PATCH /api/rooms/{room}/messages/{id}`: `200` with the message as it now stands.
pub async fn edit_message(
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    path: MessagePath,
    Claimed(token): Claimed,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Response> {
    let changed = chat
        .edit(token.holder(), path.room, path.id, &body.text)
        .await;
    answer(&cookie, &token, changed)
}

/// `DELETE /api/rooms/{room}/messages/{id}`: `204`.
pub async fn delete_message(
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    path: MessagePath,
    Claimed(token): Claimed,
) -> Result<Response> {
    let changed = chat.delete(token.holder(), path.room, path.id).await;
    answer(&cookie, &token, changed)
}

/// `PUT /api/rooms/{room}/messages/{id}/reactions/{emoji}` puts the reaction on,
/// `DELETE` takes it back: `200` with the message either way.
pub async fn reaction(
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    method: Method,
    path: MessagePath,
    Claimed(token): Claimed,
) -> Result<Response> {
    let emoji = path.emoji.unwrap_or_default();
    let on = method == Method::PUT;
    let changed = chat
        .react(token.holder(), path.room, path.id, &emoji, on)
        .await;
    answer(&cookie, &token, changed)
}

/// A change's answer: the message as it stands, or `204` once deleted. Like a post, a
/// change is use, and renews the cookie when that is due.
fn answer(
    cookie: &CookieSettings,
    token: &Token,
    changed: crate::server::chat::Result<Changed>,
) -> Result<Response> {
    let renewal = renewal_header(cookie, token);
    let answer = match changed? {
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
    State(chat): State<Chat>,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<ChatMessage>>> {
    let (before, limit) = query.parse()?;
    Ok(Json(chat.history(&room, before, limit).await?))
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
    State(chat): State<Chat>,
    RoomPath(room): RoomPath,
) -> Result<Json<Presence>> {
    Ok(Json(chat.presence(&room).await?))
}

/// `POST /api/rooms/{room}/typing`: `204`; fans out `typing` at most once per person per
/// room every 2 s (the broker throttles, on all nodes together). The broker checks the
/// session's hold in the same step, as for a post: `401` once it has ended.
pub async fn typing(
    State(chat): State<Chat>,
    RoomPath(room): RoomPath,
    Claimed(token): Claimed,
) -> Result<StatusCode> {
    chat.typing(&room, &token.holder()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/rooms`: rooms with recent activity first.
pub async fn rooms(State(chat): State<Chat>) -> Result<Json<Vec<RoomSummary>>> {
    Ok(Json(chat.rooms().await?))
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
