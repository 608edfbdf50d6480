//! What a use case can refuse, before HTTP gives it a status (`http::error`).

use crate::{
    message::{InvalidMessage, InvalidName},
    server::broker::{BrokerError, log::InvalidReaction},
};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    #[error(transparent)]
    InvalidMessage(#[from] InvalidMessage),
    #[error(transparent)]
    InvalidReaction(#[from] InvalidReaction),
    #[error(
        "client_id must be 1 to {} characters, without control characters",
        super::MAX_CLIENT_ID_CHARS
    )]
    InvalidClientId,
    /// Someone else holds the name; nothing changed.
    #[error("that name is taken by someone who is signed in; pick another")]
    NameTaken,
    /// What the broker refused, or that it cannot be reached.
    #[error(transparent)]
    Broker(#[from] BrokerError),
}
