//! Where messages are stored and how they reach every node: one trait, two brokers.
//!
//! - [`memory::MemoryBroker`]: one node, the last N messages per room in process memory.
//! - [`redis::RedisBroker`]: any number of nodes on one Redis. Each room is a Redis Stream
//!   (history and resume) and a Pub/Sub channel (live); each node holds one Pub/Sub
//!   connection and fans out in process.
//!
//! Both deliver live messages through the node's [`Hub`], and both pass the same contract
//! suite in `tests/api.rs`.

pub mod memory;
pub mod redis;

use super::hub::Hub;
use crate::message::{ChatMessage, DisplayName, MessageId, MessageText, RoomName, RoomSummary};
use async_trait::async_trait;
use std::sync::Arc;

/// A message to store and publish.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room: RoomName,
    pub sender: DisplayName,
    pub text: MessageText,
    /// Set when the client sent a `client_id`: a repeat of the same key returns the first
    /// message instead of posting again.
    pub idempotency: Option<IdempotencyKey>,
}

/// A session's `client_id` for one post.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub session_id: String,
    pub client_id: String,
}

/// The result of a publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Stored and published now.
    New(ChatMessage),
    /// A repeat of an earlier post with the same idempotency key: nothing was published.
    Repeat(ChatMessage),
}

/// What a broker retains after a given id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// The id is retained: these are the messages after it, oldest first.
    Messages(Vec<ChatMessage>),
    /// The id is unknown or no longer retained: the client must reload history.
    Resync { oldest: Option<MessageId> },
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker cannot be reached; nothing was stored or published.
    #[error("the message broker is unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

pub type BrokerResult<T> = Result<T, BrokerError>;

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Stores a message, assigning its id, and publishes it to every node.
    async fn publish(&self, message: NewMessage) -> BrokerResult<Published>;

    /// The newest `limit` messages before `before` (or the newest overall), oldest first.
    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>>;

    /// Every retained message after `after`, or [`After::Resync`] when `after` is not
    /// retained.
    async fn after(&self, room: &RoomName, after: MessageId) -> BrokerResult<After>;

    /// Rooms with recent activity first; `everyone` is always listed.
    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>>;

    /// Whether the broker answers now.
    async fn ready(&self) -> bool;

    /// This node's fan-out.
    fn hub(&self) -> &Arc<Hub>;
}

/// How many rooms `GET /api/rooms` lists at most.
pub const ROOM_LIST_LIMIT: usize = 100;

/// Puts `everyone` in a room list if activity did not already.
fn with_default_room(mut rooms: Vec<RoomSummary>) -> Vec<RoomSummary> {
    if !rooms.iter().any(|r| r.name.as_str() == RoomName::DEFAULT) {
        rooms.push(RoomSummary {
            name: RoomName::everyone(),
            last_message_at: None,
        });
    }
    rooms
}
