//! Where messages are stored and how they reach every node: one trait, two brokers.
//!
//! - [`memory::MemoryBroker`]: one node, the last N messages per room in process memory.
//! - [`redis::RedisBroker`]: any number of nodes on one Redis. Each room is a Redis Stream
//!   (history and resume) and a Pub/Sub channel (live); each node holds one Pub/Sub
//!   connection and fans out in process.
//!
//! A room's log holds its messages and every change to them (edits, deletes, reactions),
//! each an entry with its own id ([`Entry`]): streams replay the log, history shows each
//! message as it stands. What a change does is decided once, in `changes`, for both.
//!
//! Both deliver live log entries through the node's [`Hub`], and both pass the same
//! contract suites in `tests/api.rs` and `tests/changes.rs`. Both also hold names: a name belongs to one session at a time,
//! and a post is stored only while its session holds its name.

mod changes;
mod holds;
pub mod memory;
pub mod redis;

use super::{
    config::Config,
    hub::Hub,
    log::{Emoji, Entry},
};
use crate::awareness::Presence;
use crate::message::{ChatMessage, DisplayName, MessageId, MessageText, RoomName, RoomSummary};
use async_trait::async_trait;
use std::{net::IpAddr, sync::Arc, time::Duration};

/// A session as the broker sees it: the name it claims and its random id. It holds the
/// name while the broker's hold for that name (compared by [`DisplayName::canonical`])
/// carries this session id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub name: DisplayName,
    pub session_id: String,
}

/// The answer to a claim on a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The session holds the name now (it may have held it already).
    Granted,
    /// Another live session holds it; nothing changed.
    Taken,
}

/// A message to store and publish, from the session that posts it.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub room: RoomName,
    pub author: Holder,
    pub text: MessageText,
    /// The client's `client_id`, if it sent one: a repeat from the same session returns
    /// the first message instead of posting again.
    pub client_id: Option<String>,
}

/// The result of a publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Stored and published now.
    New(ChatMessage),
    /// A repeat of an earlier post with the same idempotency key: nothing was published.
    Repeat(ChatMessage),
}

/// A change to a message, from the session that asks for it.
#[derive(Clone, Debug)]
pub struct Change {
    pub room: RoomName,
    /// The message's id.
    pub id: MessageId,
    pub author: Holder,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug)]
pub enum ChangeKind {
    /// New text (the sender only).
    Edit(MessageText),
    /// Gone from history (the sender only).
    Delete,
    /// The author's reaction with an emoji, on or off (anyone).
    React(Emoji),
    Unreact(Emoji),
}

/// The result of a change: the message as it stands after it, or gone. A change that
/// changes nothing (the same text, a reaction twice) answers the same way, with no new
/// log entry and nothing published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    Message(ChatMessage),
    Deleted,
}

/// What a broker retains after a given id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// The id is retained: up to the asked number of the log entries after it (messages
    /// and changes), oldest first.
    Entries(Vec<Entry>),
    /// The id is unknown or no longer retained: the client must reload history.
    Resync { oldest: Option<MessageId> },
}

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker cannot be reached; nothing was stored or published.
    #[error("the message broker is unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// The session no longer holds its name (signed out, expired, or taken over).
    #[error("the session no longer holds its name")]
    Revoked,
    /// The name posts faster than the limit; try again after this long.
    #[error("posting too fast")]
    RateLimited(Duration),
    /// No such message in the room (or it was deleted).
    #[error("no such message")]
    NotFound,
    /// The message is someone else's.
    #[error("not your message")]
    Forbidden,
    /// The message holds as many reactions as it may.
    #[error("this message holds as many reactions as it can")]
    TooManyReactions,
}

pub type BrokerResult<T> = Result<T, BrokerError>;

/// The bounds a broker keeps, from the config.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Messages retained per room; the log keeps up to [`LOG_ENTRIES_PER_MESSAGE`] times
    /// as many entries, changes included.
    pub history: usize,
    /// How long an unused name stays held.
    pub name_idle: Duration,
    /// Posts per second per name (0: off) and the burst allowed at once.
    pub post_rate: f64,
    pub post_burst: u32,
    /// Sign-ins per second per client address (0: off) and the burst allowed at once.
    pub signin_rate: f64,
    pub signin_burst: u32,
    /// Rooms whose history is kept; the least recently active go first.
    pub max_rooms: usize,
    /// A room with no message for this long is forgotten.
    pub room_idle: Duration,
    /// Memory broker: bytes of messages kept over all rooms.
    pub memory_bytes: usize,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            history: config.history_limit as usize,
            name_idle: config.name_idle(),
            post_rate: config.post_rate,
            post_burst: config.post_burst,
            // `CHAT_SIGNIN_RATE` is per minute, and a minute's worth may come at once.
            signin_rate: config.signin_rate / 60.0,
            signin_burst: config.signin_rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
            max_rooms: config.max_rooms as usize,
            room_idle: config.room_idle(),
            memory_bytes: config.memory_max_mb as usize * 1024 * 1024,
        }
    }
}

#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Stores a message, assigning its id, and publishes it to every node: if its author
    /// still holds their name ([`BrokerError::Revoked`] if not) and is within the post
    /// limit ([`BrokerError::RateLimited`]). The check, the limit and the store are one
    /// step, so a revoked session can never post.
    async fn publish(&self, message: NewMessage) -> BrokerResult<Published>;

    /// Applies a change to a message: checks the hold, that the message exists and (for
    /// an edit or a delete) is the author's, and the post limit, then appends the change
    /// to the room's log and publishes it, in one step, like a post.
    async fn change(&self, change: Change) -> BrokerResult<Changed>;

    /// The newest `limit` messages before `before` (or the newest overall), oldest first,
    /// each as it stands now; deleted ones are left out.
    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>>;

    /// The first `limit` retained log entries after `after`, or [`After::Resync`] when
    /// `after` is not retained.
    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After>;

    /// Rooms with recent activity first; `everyone` is always listed.
    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>>;

    /// Claims `holder.name` for `holder.session_id`, atomically on every node, and
    /// releases `previous` if the session held it and it is another name. Every attempt
    /// counts against `client`'s sign-in limit, on all nodes together
    /// ([`BrokerError::RateLimited`] past it).
    async fn claim_name(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim>;

    /// Ends the session's hold on its name, if it has it.
    async fn release_name(&self, holder: &Holder) -> BrokerResult<()>;

    /// Whether the session still holds its name; using it extends the hold.
    async fn holds(&self, holder: &Holder) -> BrokerResult<bool>;

    /// If `person` still holds their name (which extends the hold), and `register` is
    /// set (their first stream to the room on this node), registers this node's presence
    /// of them in `room`: that sends `join` when they were online on no node, and the room
    /// has at most [`JOIN_LEAVE_LIMIT`](crate::awareness::JOIN_LEAVE_LIMIT) people with
    /// them. Answers the room's presence as it stands after, or `None` (and changes
    /// nothing) when the name is no longer theirs: all one step, on Redis one round trip.
    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>>;

    /// Ends this node's presence of `person` in `room` (their last stream here closed,
    /// and the leave grace passed). Sends `leave` when they are online on no other node.
    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()>;

    /// Who is in `room` now. On Redis this also prunes the people of nodes that stopped
    /// refreshing them, and sends their `leave`.
    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence>;

    /// Sends `typing` for `person` in `room`, unless it was sent in the last
    /// [`TYPING_THROTTLE_MS`](crate::awareness::TYPING_THROTTLE_MS), on any node: if they
    /// still hold their name ([`BrokerError::Revoked`] if not), which it extends. One step,
    /// as for a post.
    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()>;

    /// Keeps this node's people present: called every few seconds with everyone present
    /// on this node, by room. On Redis it refreshes their expiry (and puts back any that
    /// Redis lost) and prunes those rooms of the people of dead nodes.
    async fn refresh_presence(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()>;

    /// Makes sure that this node receives the rooms' live traffic from now on, before a
    /// stream that was just subscribed to them in the hub reads anything. Only a broker
    /// that subscribes per room (the cluster's) has anything to do.
    async fn watch(&self, _rooms: &[RoomName]) {}

    /// Whether the broker answers now.
    async fn ready(&self) -> bool;

    /// This node's fan-out.
    fn hub(&self) -> &Arc<Hub>;
}

/// A room's log holds at most this many entries per message it keeps
/// (`CHAT_HISTORY_LIMIT`): room for edits and reactions, so that they do not push
/// messages out of history, and a bound on them all the same.
pub const LOG_ENTRIES_PER_MESSAGE: usize = 4;

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
