//! Extractors whose rejections answer in the API's JSON error shape.

use super::error::Error;
use crate::message::{MessageId, RoomName};
use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Path, Request,
        path::ErrorKind,
        rejection::{JsonRejection, PathRejection},
    },
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

/// `axum::Json`, with rejections mapped to `400 bad_request`, `413 payload_too_large` and
/// `415 unsupported_media_type`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> Error {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::UnsupportedMediaType,
        _ => Error::BadRequest(rejection.body_text()),
    }
}

/// What a path the router matched but could not decode answers: a segment that is not
/// UTF-8 is refused as what it should have been (a room, an emoji), not as a missing
/// resource.
fn path_error(rejection: PathRejection) -> Error {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return Error::NotFound;
    };
    match failed.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } if key == "room" => {
            Error::InvalidRoom(crate::message::InvalidRoom)
        }
        ErrorKind::InvalidUtf8InPathParam { key } if key == "emoji" => {
            Error::InvalidReaction(crate::server::broker::log::InvalidReaction.to_string())
        }
        _ => Error::NotFound,
    }
}

/// The `{room}` path segment, parsed: `400 invalid_room` when it is not a room name.
pub struct RoomPath(pub RoomName);

impl<S: Send + Sync> FromRequestParts<S> for RoomPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| match path_error(rejection) {
                Error::NotFound => Error::InvalidRoom(crate::message::InvalidRoom),
                other => other,
            })?;
        Ok(Self(RoomName::parse(&raw)?))
    }
}

/// The `{room}` and `{id}` of a message's path (and its `{emoji}`, unparsed, if the route
/// has one): `400 invalid_room` for a bad room, `404 not_found` for an id that cannot be
/// a message's, `422 invalid_reaction` for an emoji that is not even text.
pub struct MessagePath {
    pub room: RoomName,
    pub id: MessageId,
    pub emoji: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MessagePath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(path_error)?;
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let room = RoomName::parse(param("room").ok_or(Error::NotFound)?)?;
        let id = param("id")
            .and_then(|id| id.parse().ok())
            .ok_or(Error::NotFound)?;
        Ok(Self {
            room,
            id,
            emoji: param("emoji").cloned(),
        })
    }
}

/// `axum::extract::Query`, with a malformed query answered as `400 bad_request`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(Error::BadRequest(rejection.body_text())),
        }
    }
}
