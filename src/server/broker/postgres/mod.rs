//! Many nodes that keep everything in PostgreSQL (`CHAT_DATABASE_URL=postgres://...`),
//! with Redis (or a Redis Cluster) for what is live: the fan-out, presence, typing, the
//! limits and the holds of names as they are used. A write is answered only once its
//! transaction is committed, so a Redis that restarts empty loses nothing.
//!
//! ## Writes, and the order of a room's entries across nodes
//!
//! Each node has one writer (`writer.rs`): it takes what is queued (up to 256 requests),
//! applies it in one transaction and commits (one commit for many concurrent posts),
//! then publishes the batch's entries to Redis, then answers. In the transaction
//! (`apply.rs`) every room the batch writes to is locked first, by its row in `rooms`,
//! in name order (two nodes' batches never deadlock); the row holds the room's newest
//! entry, from which the next id goes on (the current millisecond, or the next sequence
//! number in the newest id's; so ids never go backwards, across restarts and nodes, even
//! with a node's clock behind) and which the entry names as the one before it. So a
//! room's entries commit in id order, each after the one it names.
//!
//! Publishes are not ordered: node A commits 5, node B then commits 6, and B's publish
//! may reach Redis first, or A may die between its commit and its publish. So a node
//! delivers an entry only after the one it names; an entry whose predecessor it has not
//! delivered is a gap, filled from this database (where the predecessor is committed
//! already) in order, before the entry goes out (`redis/chain.rs`). A lost publish with
//! nothing after it is found by a sweep of the rooms open on the node every 5 s (2 s on
//! a cluster), and after every reconnect to Redis. A listener never sees id 6 and then
//! misses 5, and never sees anything that is not committed.
//!
//! ## Failure cases
//!
//! - **The database is unreachable or refuses a write** (down, disk full, a failover):
//!   the batch rolls back (one transaction), each of its requests answers `503`, and
//!   nothing of it is published. A batch gets 5 s; the pool reconnects by itself, so
//!   the node recovers with no restart. `/readyz` answers `503` until a query succeeds.
//!   Reads answer `503` meanwhile; streams stay open.
//! - **A commit whose answer is lost** (the connection drops at that moment) answers
//!   `503` although it may be kept: a retry with the same `client_id` answers the first
//!   message, and listeners get it from the sweep.
//! - **`kill -9` of a node:** what it committed is kept; what it had not published
//!   reaches listeners through the chain or the sweep. Its queued requests were not
//!   answered.
//! - **Redis restarts empty:** nothing kept is lost. The holds of names are written
//!   through to `holds` (expiry as use moves it, at most once per a twentieth of
//!   `CHAT_NAME_IDLE_DAYS`); a session Redis no longer knows is put back from the
//!   database on its next request, and a sign-in checks the database before it takes a
//!   name that Redis has forgotten. Rate limits and presence start again from nothing.
//!   Streams resume from the database.
//!
//! Reads (history, the log after an id, the room list) go to the database, through a
//! pool of a few connections; so does a stream's resume from any id ever given.

mod apply;
mod purge;
mod read;
mod store;
mod writer;

pub use store::{Store, migrate};

use super::{
    After, Awareness, Backfill, BrokerError, BrokerResult, Bus, Change, Changed, Claim, Holder,
    Limits, Names, NewMessage, Published, RoomLog, Subscription, redis::RedisBroker,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary},
};
use async_trait::async_trait;
use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio_util::sync::CancellationToken;
use writer::Writer;

/// A hold's expiry is written again once use has moved it on by this part of the idle
/// time, as on SQLite.
const TOUCH_EVERY: u32 = 20;

pub struct PgBroker {
    /// Names, presence, typing, the limits and the bus, on Redis.
    live: Arc<RedisBroker>,
    store: Arc<Store>,
    writer: Writer,
    limits: Limits,
    /// The expiry last written of each hold this process extended (key → wall ms).
    written_expiry: Mutex<HashMap<String, u64>>,
    /// Rooms this node has posted to: a post to one of them makes no new room, so it
    /// skips the room index's round trip (posts: 4,236 → see BENCHMARKS.md).
    known_rooms: Mutex<HashSet<RoomName>>,
}

/// Rooms [`PgBroker::known_rooms`] remembers at most before it starts again.
const KNOWN_ROOMS: usize = 4096;

/// Where the live tier is.
pub enum Live<'a> {
    Redis(&'a str),
    Cluster(&'a [String]),
}

impl PgBroker {
    /// Starts the live tier and the writer over the database at `url`, which
    /// [`migrate`] has migrated. Must run inside a Tokio runtime.
    pub fn start(
        url: &str,
        live: Live<'_>,
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
        retention: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let store = Arc::new(Store::open(url)?);
        tokio::spawn(purge::every_hour(
            Arc::clone(&store),
            retention,
            shutdown.clone(),
        ));
        let backfill: Arc<dyn Backfill> = Arc::clone(&store) as _;
        let redis = match live {
            Live::Redis(url) => {
                RedisBroker::start(url, prefix, limits.clone(), shutdown, Some(backfill))?
            }
            Live::Cluster(urls) => {
                RedisBroker::start_cluster(urls, prefix, limits.clone(), shutdown, Some(backfill))?
            }
        };
        let live = Arc::new(redis);
        let writer = Writer::start(Arc::clone(&store), Arc::clone(&live));
        Ok(Self {
            live,
            store,
            writer,
            limits,
            written_expiry: Mutex::new(HashMap::new()),
            known_rooms: Mutex::new(HashSet::new()),
        })
    }

    fn name_idle_ms(&self) -> u64 {
        self.limits.name_idle.as_millis().max(1) as u64
    }

    /// Puts back a session's hold that Redis lost (it restarted), if the database says
    /// the session holds the name still. Answers whether it did.
    async fn restored(&self, holder: &Holder) -> BrokerResult<bool> {
        let kept = self
            .store
            .hold(&holder.name.key())
            .await
            .map_err(unavailable)?;
        let now = now_ms();
        match kept {
            Some((session_id, expires_ms))
                if session_id == holder.session_id && expires_ms > now =>
            {
                self.live
                    .restore_hold(&holder.name, &session_id, expires_ms - now)
                    .await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Runs `step`, which checks `holder`'s hold; if Redis no longer knows it, and the
    /// database says it is theirs, puts it back and runs `step` again.
    async fn with_hold<T, F, Fut>(&self, holder: &Holder, step: F) -> BrokerResult<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = BrokerResult<T>>,
    {
        match step().await {
            Err(BrokerError::Revoked) if self.restored(holder).await? => step().await,
            done => done,
        }
    }

    /// Writes the hold's new expiry when use has moved it far enough since the last
    /// write, without waiting for it.
    fn note_use(&self, holder: &Holder) {
        let idle = self.name_idle_ms();
        let expires_ms = now_ms() + idle;
        let key = holder.name.key();
        let mut written = self.written_expiry.lock().expect("expiry lock poisoned");
        let last = written.get(&key).copied().unwrap_or(0);
        if expires_ms.saturating_sub(last) < idle / u64::from(TOUCH_EVERY) {
            return;
        }
        if written.len() >= super::holds::MAX_HOLDS {
            written.clear();
        }
        written.insert(key.clone(), expires_ms);
        drop(written);
        self.writer
            .touch(key, holder.session_id.clone(), expires_ms);
    }

    /// Writes every message as it stands, one JSON per line (`tiny-chat export`).
    pub async fn export(
        url: &str,
        room: Option<&RoomName>,
        out: &mut (impl std::io::Write + Send),
    ) -> anyhow::Result<u64> {
        let store = Store::open(url)?;
        store.export(room, out).await
    }
}

#[async_trait]
impl RoomLog for PgBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        let known = (self.known_rooms.lock().expect("rooms lock poisoned")).contains(&new.room);
        self.with_hold(&new.author, || async {
            match known {
                true => self.live.admit_write(&new.author).await,
                false => self
                    .live
                    .admit_post(&new.author, &new.room, new.client)
                    .await
                    .map(drop),
            }
        })
        .await?;
        self.note_use(&new.author);
        let room = new.room.clone();
        let published = self.writer.post(new).await?;
        if !known {
            let mut rooms = self.known_rooms.lock().expect("rooms lock poisoned");
            if rooms.len() >= KNOWN_ROOMS {
                rooms.clear();
            }
            rooms.insert(room);
        }
        Ok(published)
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        self.with_hold(&change.author, || self.live.admit_write(&change.author))
            .await?;
        self.note_use(&change.author);
        self.writer.change(change).await
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        self.store
            .history(room, before, limit)
            .await
            .map_err(unavailable)
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        self.store
            .after(room, after, limit)
            .await
            .map_err(unavailable)
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        self.store.rooms().await.map_err(unavailable)
    }
}

#[async_trait]
impl Names for PgBroker {
    async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        let key = holder.name.key();
        // A name Redis forgot (it restarted) may still be someone's: put their hold
        // back first, so that the claim sees it.
        if let Some((session_id, expires_ms)) = self.store.hold(&key).await.map_err(unavailable)?
            && expires_ms > now_ms()
        {
            self.live
                .restore_hold(&holder.name, &session_id, expires_ms - now_ms())
                .await?;
        }
        let claim = self.live.claim(holder, previous, client).await?;
        if let Claim::Granted { at } = claim {
            let released = previous
                .map(DisplayName::key)
                .filter(|previous| *previous != key);
            let expires_ms = now_ms() + self.name_idle_ms();
            self.written_expiry
                .lock()
                .expect("expiry lock poisoned")
                .insert(key.clone(), expires_ms);
            self.writer
                .hold(key, released, holder.session_id.clone(), expires_ms)
                .await?;
            // The holding begins at Redis's time; this node's clock gives the ids of the
            // holder's messages. The earlier of the two, so that a clock a little behind
            // never makes a new holder's own message look like an earlier holder's.
            return Ok(Claim::Granted {
                at: at.min(now_ms()),
            });
        }
        Ok(claim)
    }

    async fn release(&self, holder: &Holder) -> BrokerResult<()> {
        self.live.release(holder).await?;
        let key = holder.name.key();
        self.written_expiry
            .lock()
            .expect("expiry lock poisoned")
            .remove(&key);
        self.writer.release(key, holder.session_id.clone()).await
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        let held = self.live.holds(holder).await? || self.restored(holder).await?;
        if held {
            self.note_use(holder);
        }
        Ok(held)
    }
}

#[async_trait]
impl Awareness for PgBroker {
    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        let mut presence = self.live.enter(room, person, register).await?;
        if presence.is_none() && self.restored(person).await? {
            presence = self.live.enter(room, person, register).await?;
        }
        if presence.is_some() {
            self.note_use(person);
        }
        Ok(presence)
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        self.live.leave(room, person).await
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        self.live.presence(room).await
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        self.with_hold(person, || self.live.typing(room, person))
            .await
    }

    async fn refresh(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        self.live.refresh(present).await
    }
}

#[async_trait]
impl Bus for PgBroker {
    async fn subscribe(&self, rooms: &[RoomName]) -> Vec<Subscription> {
        self.live.subscribe(rooms).await
    }

    /// Whether Redis and the database both answer, and the last write did not fail.
    async fn ready(&self) -> bool {
        if !self.live.ready().await {
            return false;
        }
        if !self.writer.failing.load(Ordering::Acquire) {
            return self.store.ready().await;
        }
        // A write failed: only a write of its own says whether writes work again.
        let ready = self.store.probe().await;
        if ready {
            self.writer.failing.store(false, Ordering::Release);
        }
        ready
    }

    fn close(&self) {
        self.live.close();
    }
}

/// An id's halves as PostgreSQL integers; an id from a client past `i64::MAX` compares
/// as the largest.
pub fn pg_id(id: MessageId) -> (i64, i64) {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (clamp(id.ms), clamp(id.seq))
}

fn unavailable(error: anyhow::Error) -> BrokerError {
    metrics::counter!("chat_broker_errors_total").increment(1);
    BrokerError::Unavailable(error)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
