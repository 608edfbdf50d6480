//! The one error type of the HTTP edge, answered as the JSON shape in `docs/API.md`.

use crate::message::{ErrorBody, ErrorDetail, InvalidMessage, InvalidName, InvalidRoom};
use crate::server::{broker::BrokerError, chat};
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Retry-After` when no new room can be made: rooms free up only as they go idle, so
/// an hour is a guess, and says "not soon".
pub const ROOMS_FULL_RETRY_SECS: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    InvalidRoom(#[from] InvalidRoom),
    #[error("sign in first: POST /api/session with a name")]
    Unauthenticated,
    #[error("cross-site requests may not change anything here")]
    CrossOrigin,
    #[error("that message is someone else's")]
    Forbidden,
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("this server does not answer for that host name")]
    MisdirectedRequest,
    #[error("the request body is larger than 16 KiB")]
    PayloadTooLarge,
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("that name is taken by someone who is signed in; pick another")]
    NameTaken,
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    #[error(transparent)]
    InvalidMessage(#[from] InvalidMessage),
    #[error("{0}")]
    InvalidReaction(String),
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("no new room can be made now; post in a room that has messages")]
    RoomsFull,
    #[error(transparent)]
    Broker(BrokerError),
}

impl From<chat::Error> for Error {
    fn from(error: chat::Error) -> Self {
        match error {
            chat::Error::InvalidName(invalid) => Error::InvalidName(invalid),
            chat::Error::InvalidMessage(invalid) => Error::InvalidMessage(invalid),
            chat::Error::InvalidReaction(invalid) => Error::InvalidReaction(invalid.to_string()),
            invalid @ chat::Error::InvalidClientId => Error::BadRequest(invalid.to_string()),
            chat::Error::NameTaken => Error::NameTaken,
            chat::Error::Broker(error) => error.into(),
        }
    }
}

impl From<BrokerError> for Error {
    fn from(error: BrokerError) -> Self {
        match error {
            BrokerError::Revoked => Error::Unauthenticated,
            BrokerError::NotFound => Error::NotFound,
            BrokerError::Forbidden => Error::Forbidden,
            too_many @ BrokerError::TooManyReactions => {
                Error::InvalidReaction(too_many.to_string())
            }
            BrokerError::RateLimited(wait) => Error::RateLimited {
                retry_after_secs: crate::server::broker::limit::retry_after_secs(wait),
            },
            // Rooms free up only as they go idle: no time to promise.
            BrokerError::RoomsFull => Error::RoomsFull,
            unavailable @ BrokerError::Unavailable(_) => Error::Broker(unavailable),
        }
    }
}

impl Error {
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::InvalidRoom(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::CrossOrigin | Error::Forbidden => StatusCode::FORBIDDEN,
            Error::NameTaken => StatusCode::CONFLICT,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::MisdirectedRequest => StatusCode::MISDIRECTED_REQUEST,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::InvalidName(_) | Error::InvalidMessage(_) | Error::InvalidReaction(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Error::RateLimited { .. } | Error::RoomsFull => StatusCode::TOO_MANY_REQUESTS,
            Error::Broker(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_request",
            Error::InvalidRoom(_) => "invalid_room",
            Error::Unauthenticated => "unauthenticated",
            Error::CrossOrigin => "cross_origin",
            Error::Forbidden => "forbidden",
            Error::NameTaken => "name_taken",
            Error::NotFound => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::MisdirectedRequest => "bad_request",
            Error::PayloadTooLarge => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::InvalidName(_) => "invalid_name",
            Error::InvalidMessage(_) => "invalid_message",
            Error::InvalidReaction(_) => "invalid_reaction",
            Error::RateLimited { .. } | Error::RoomsFull => "rate_limited",
            Error::Broker(_) => "unavailable",
        }
    }

    /// When to try again, for a refusal that says (`Retry-After`, in seconds).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            Error::RoomsFull => Some(ROOMS_FULL_RETRY_SECS),
            _ => None,
        }
    }

    /// What the client is told. Broker failures are logged in full and answered
    /// without their internals.
    pub fn public_message(&self) -> String {
        match self {
            Error::Broker(_) => {
                "the message broker is unavailable; nothing was stored or published".into()
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Broker(BrokerError::Unavailable(inner)) = &self {
            tracing::error!(error = format!("{inner:#}"), "broker unavailable");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.public_message(),
            },
        };
        let mut response = (self.status_code(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
