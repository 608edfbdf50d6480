//! The chat's domain and its live tier: the room log, names, presence and the live bus,
//! each a trait of one concern, with two implementations of all four.
//!
//! - [`RoomLog`]: a room's messages and every change to them (append, change, history,
//!   and the entries after an id, which a stream resumes from).
//! - [`Names`]: which session holds which name.
//! - [`Awareness`]: who is in which room, and who is typing.
//! - [`Bus`]: this node's live deliveries. [`Bus::subscribe`] owns the one ordering rule
//!   of a stream (subscribed on this node, and the node receiving the room's traffic,
//!   before anything is read from the log), so no caller can get it wrong; the fan-out
//!   (`hub`) behind it is private to this module.
//!
//! [`Broker`] holds one of each, made by [`Broker::memory`] (one node, in process memory:
//! [`memory::MemoryBroker`]), [`Broker::sqlite`] (one node that keeps its rooms and names
//! in SQLite, live as in memory: [`sqlite::SqliteBroker`]), [`Broker::postgres`] (any
//! number of nodes that keep them in PostgreSQL, live on Redis:
//! [`postgres::PgBroker`]), [`Broker::redis`] or [`Broker::cluster`] (any number of nodes
//! on one Redis or a Redis Cluster, keeping only Redis's window: [`redis::RedisBroker`]).
//! Each implementation does all four on one struct, since a post checks the hold of its
//! author's name, the post limit, stores and publishes in one step; each trait's doc
//! says which steps are one. All pass the same contract suites (`tests/it/`).
//!
//! A room's log holds its messages and every change to them (edits, deletes, reactions),
//! each an entry with its own id ([`log::Entry`]): streams replay the log, history shows
//! each message as it stands. What a change does is decided once, in `changes`, for both.
//!
//! Also here, below the chat's use cases (`server::chat`) and knowing nothing of HTTP or
//! of the config: [`presence::PresenceTracker`] (a person's streams on this node, with the
//! leave grace), [`limit`] (in-process rate limits) and the SSE frames every delivery is
//! encoded into once ([`frames`]).

mod bounds;
mod changes;
pub mod clock;
pub mod frames;
mod holds;
mod hub;
pub mod limit;
pub mod log;
pub mod memory;
pub mod postgres;
pub mod presence;
pub mod redis;
pub mod sqlite;

pub use bounds::Limits;
pub use hub::{Delivery, Subscription};

use crate::awareness::Presence;
use crate::message::{ChatMessage, DisplayName, MessageId, MessageText, RoomName, RoomSummary};
use async_trait::async_trait;
use log::{Emoji, Entry};
use std::{net::IpAddr, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// A session as the broker sees it: the name it claims, its random id, and when its
/// holding of the name began. It holds the name while the broker's hold for that name
/// (compared by [`DisplayName::key`]) carries this session id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub name: DisplayName,
    pub session_id: String,
    /// When this holding of the name began (ms since the epoch, on the clock that gives
    /// messages their ids): the name's messages from before it are an earlier holder's,
    /// which this one may not edit or delete ([`changes::apply`]).
    pub since: u64,
}

/// The answer to a claim on a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The session holds the name now (it may have held it already). `at` is the time
    /// of the claim on the clock that gives messages their ids (ms since the epoch): when
    /// the holding began, if the session did not hold the name already.
    Granted { at: u64 },
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
    /// Where the post comes from (an IPv6 client's /64): a post that makes a new room
    /// counts against this address's new-room limit, as against its author's.
    pub client: IpAddr,
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
    Entries(Page),
    /// The id is unknown or no longer retained: the client must reload history.
    Resync { oldest: Option<MessageId> },
}

/// A page of the log entries after an id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The entries to send, oldest first. Fewer than were read, when some were of no use
    /// any more (an update of a message deleted since, which its delete follows).
    pub entries: Vec<Entry>,
    /// The id of the last entry read, sent or not: where the next page starts.
    pub last: Option<MessageId>,
    /// Whether as many entries were read as were asked for: the log may hold more.
    pub full: bool,
}

impl Page {
    /// A page of the entries read, all of use; `asked` is how many were asked for.
    pub fn of(entries: Vec<Entry>, asked: usize) -> Self {
        Self {
            last: entries.last().map(Entry::id),
            full: entries.len() >= asked,
            entries,
        }
    }
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
    /// The post would make a new room, and the chat holds as many rooms as it may
    /// (`CHAT_MAX_ROOMS`): old rooms are never forgotten to make room.
    #[error("no new room can be made now; post in a room that has messages")]
    RoomsFull,
}

pub type BrokerResult<T> = Result<T, BrokerError>;

/// A room's log: its messages and the changes to them.
#[async_trait]
pub trait RoomLog: Send + Sync + 'static {
    /// Stores a message, assigning its id, and publishes it to every node: if its author
    /// still holds their name ([`BrokerError::Revoked`] if not) and is within the post
    /// limit ([`BrokerError::RateLimited`]); a post that makes a new room also if the
    /// chat has room for one ([`BrokerError::RoomsFull`]) and its author and address are
    /// within the new-room limit. The check, the limits and the store are one step, so a
    /// revoked session can never post.
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
}

/// Names: a name belongs to one session at a time, on every node.
#[async_trait]
pub trait Names: Send + Sync + 'static {
    /// Claims `holder.name` for `holder.session_id`, atomically on every node, and
    /// releases `previous` if the session held it and it is another name. Every attempt
    /// counts against `client`'s sign-in limit, on all nodes together
    /// ([`BrokerError::RateLimited`] past it).
    async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim>;

    /// Ends the session's hold on its name, if it has it.
    async fn release(&self, holder: &Holder) -> BrokerResult<()>;

    /// Whether the session still holds its name; using it extends the hold.
    async fn holds(&self, holder: &Holder) -> BrokerResult<bool>;
}

/// Presence and typing, shared by every node.
#[async_trait]
pub trait Awareness: Send + Sync + 'static {
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
    /// [`Limits::typing_throttle`], on any node: if they
    /// still hold their name ([`BrokerError::Revoked`] if not), which it extends. One step,
    /// as for a post.
    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()>;

    /// Keeps this node's people present: called every few seconds with everyone present
    /// on this node, by room. On Redis it refreshes their expiry (and puts back any that
    /// Redis lost) and prunes those rooms (and every room watched here) of the people of
    /// dead nodes.
    async fn refresh(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()>;
}

/// This node's live deliveries of every room's log entries and awareness events.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Subscribes to each room's live deliveries, from now on. Once it returns, this node
    /// receives the rooms' traffic (on a cluster, the rooms' shard channels are
    /// subscribed): so a caller may read the log after it and miss nothing, and what
    /// arrives twice (in the log and live) is told apart by its id. Where entries stored
    /// before may still be on their way to this node (Redis), each subscription carries
    /// the newest id stored when it was made (`floor`), for a stream live from now.
    async fn subscribe(&self, rooms: &[RoomName]) -> Vec<Subscription>;

    /// Whether the broker answers now.
    async fn ready(&self) -> bool;

    /// Ends every subscription, now and from now on (graceful shutdown): each delivers
    /// what it already holds, then ends.
    fn close(&self);
}

/// What a live tier on Redis reads back from the store that keeps the chat (PostgreSQL,
/// [`postgres`]): where each room's log stands, and the entries that reached this node
/// out of order or not at all (a node that stopped between its commit and its publish).
#[async_trait]
pub trait Backfill: Send + Sync + 'static {
    /// Each room's newest kept entry id (`None`: none yet), in the order asked.
    async fn newest(&self, rooms: &[RoomName]) -> anyhow::Result<Vec<Option<MessageId>>>;

    /// Up to `limit` of the room's kept entries after `after` (from its first with
    /// `None`), oldest first, as [`RoomLog::after`] gives them.
    async fn entries_after(
        &self,
        room: &RoomName,
        after: Option<MessageId>,
        limit: usize,
    ) -> anyhow::Result<Page>;
}

/// The four roles, from one implementation.
#[derive(Clone)]
pub struct Broker {
    pub log: Arc<dyn RoomLog>,
    pub names: Arc<dyn Names>,
    pub awareness: Arc<dyn Awareness>,
    pub bus: Arc<dyn Bus>,
}

impl Broker {
    fn of<B: RoomLog + Names + Awareness + Bus>(broker: Arc<B>) -> Self {
        Self {
            log: Arc::clone(&broker) as _,
            names: Arc::clone(&broker) as _,
            awareness: Arc::clone(&broker) as _,
            bus: broker,
        }
    }

    /// One node, everything in this process's memory.
    pub fn memory(limits: Limits) -> Self {
        Self::of(Arc::new(memory::MemoryBroker::new(limits)))
    }

    /// One node that keeps its rooms and names in the SQLite database at `path` (made
    /// when missing), with everything live in process as [`Broker::memory`]; messages
    /// older than `retention` are removed, if it is set.
    pub fn sqlite(
        path: &std::path::Path,
        limits: Limits,
        retention: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let live = memory::MemoryBroker::new(limits);
        sqlite::SqliteBroker::open(path, live, retention).map(|b| Self::of(Arc::new(b)))
    }

    /// Any number of nodes that keep everything in the PostgreSQL database at `url`
    /// (which [`postgres::migrate`] has migrated), with Redis or a Redis Cluster for what
    /// is live ([`postgres::PgBroker`]); messages older than `retention` are removed, if
    /// it is set. Must run inside a Tokio runtime.
    pub fn postgres(
        url: &str,
        live: postgres::Live<'_>,
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
        retention: Option<Duration>,
    ) -> anyhow::Result<Self> {
        postgres::PgBroker::start(url, live, prefix, limits, shutdown, retention)
            .map(|b| Self::of(Arc::new(b)))
    }

    /// Any number of nodes on the Redis at `url`. Connects lazily: the node starts (and
    /// answers `/readyz` with 503) even while Redis is down. Must run inside a Tokio
    /// runtime: the Pub/Sub task starts here, and stops on `shutdown`.
    pub fn redis(
        url: &str,
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        redis::RedisBroker::start(url, prefix, limits, shutdown, None)
            .map(|b| Self::of(Arc::new(b)))
    }

    /// Any number of nodes on a Redis Cluster, from its seed nodes' `urls`; as
    /// [`Broker::redis`] otherwise.
    pub fn cluster(
        urls: &[String],
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        redis::RedisBroker::start_cluster(urls, prefix, limits, shutdown, None)
            .map(|b| Self::of(Arc::new(b)))
    }
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
