//! One node that keeps everything: the room log, and who holds which name, in a SQLite
//! database (`tiny-chat.db` in `CHAT_DATA_DIR`); presence, typing, the limits and the
//! bus in process, as on the memory broker (which this one holds and lends those roles
//! to). What is kept survives a restart and `kill -9`: a post is answered `201` only once
//! its transaction is committed to the database's write-ahead log with `synchronous =
//! FULL` (on disk, not in the OS's cache).
//!
//! ## The one writer, and why the order holds
//!
//! Every write goes to one thread that owns the one connection that writes
//! (`writer.rs`). It takes what is queued (up to [`writer::MAX_BATCH`] requests),
//! applies them in order in one transaction (checks, ids, the message's new state, the
//! log entry), commits, and only then hands the batch to a task of the runtime that
//! gives its entries to the hub, in id order, and answers each request (batch after
//! batch, in commit order). So:
//!
//! - **Group commit:** concurrent posts share one commit (one `fsync`), and a post never
//!   waits for more than the batch ahead of it.
//! - **Ids and live order are one sequence.** The writer gives every entry its id (the
//!   current millisecond, or the next sequence number in the last id's; never below the
//!   newest id on disk, so ids never go backwards across restarts) and publishes in that
//!   order, after the commit. A stream sees id 6 only once 5 is on disk and already
//!   handed to the hub; a reader of the log (a stream resuming, or catching up after
//!   its buffer overflowed) sees an entry only once committed, so whatever it reads
//!   the hub has sent or is about to send, and the stream tells the two apart by id.
//! - **Nothing is shown that is not kept.** An entry reaches no stream before its
//!   commit, so a listener never sees a message that a crash then loses.
//! - **Checks read what is committed or ahead in the same batch:** a repeated
//!   `client_id`, the message a change applies to, the room count. Two reactions to one
//!   message at once are applied one after the other to the message as it stands.
//!
//! The hold of a name and the post limit are checked in process, before the request is
//! queued (the holds are the memory broker's, loaded from disk at start and written
//! through on every sign-in and sign-out; their expiry is written as use extends it, at
//! most once per [`TOUCH_EVERY`] of a name's idle time).
//!
//! ## Failure cases
//!
//! - **A write fails** (disk full, I/O error, the file made read-only): the whole batch
//!   rolls back, every request in it answers `503 unavailable`, nothing of it reaches a
//!   stream, and nothing half-written remains (one transaction). The rooms it would
//!   have made are forgotten again. `/readyz` answers `503` until a write succeeds: while
//!   failing, each `/readyz` tries a small write itself, so the node recovers by itself
//!   once the disk has room, with no restart. Streams stay open throughout.
//! - **`kill -9` or a power cut:** a committed transaction is in the WAL on disk; one
//!   that was not committed was not answered, and leaves nothing (SQLite's recovery).
//!   The writer's in-memory state (the last id, the room set) is read back at start.
//! - **A sign-in whose hold cannot be written** answers `503`; the hold stays in this
//!   process until it ends, so only a restart in that state loses it.
//! - **A slow disk** slows writes, never reads: readers use their own connections
//!   (WAL lets them read while the writer writes).
//!
//! A deleted message leaves history at once; its text stays on disk for a day, so that a
//! stream resuming from before the delete replays the message and then its delete, as
//! on every tier, and is erased after.
//!
//! Reads (history, the entries after an id, the room list) run on [`read::Readers`],
//! a few connections each used by one blocking task at a time.

mod apply;
pub mod ops;
mod purge;
mod read;
mod rows;
mod writer;

#[cfg(test)]
mod tests;

use super::{
    After, Awareness, BrokerError, BrokerResult, Bus, Change, Changed, Claim, Holder, Limits,
    Names, NewMessage, Published, RoomLog, Subscription, memory::MemoryBroker,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary},
};
use anyhow::Context;
use async_trait::async_trait;
use read::Readers;
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};
use std::{
    collections::HashMap,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use writer::Writer;

/// The file of the database in `CHAT_DATA_DIR`.
pub const DATABASE_FILE: &str = "tiny-chat.db";

/// A hold's expiry is written again once use has moved it on by this part of the idle
/// time (a day and a half of the default 30): a session in use is never lost to a
/// restart, and a busy name does not write on every post.
const TOUCH_EVERY: u32 = 20;

/// The schema, oldest migration first (`migrations/sqlite/`). A database of a newer
/// schema than these is refused untouched.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(include_str!(
        "../../../../migrations/sqlite/0001_kept.sql"
    ))])
}

pub struct SqliteBroker {
    /// Names, presence, typing, the limits and the bus.
    live: Arc<MemoryBroker>,
    writer: Writer,
    readers: Arc<Readers>,
    /// The expiry last written of each hold this process extended (key → wall ms).
    written_expiry: Mutex<HashMap<String, u64>>,
}

/// Opens a connection with the settings every one of ours has.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Opens (creating it when missing) and migrates the database at `path`: the writer's
/// connection. Refuses a database of a newer schema, leaving it as it is.
pub fn open_database(path: &Path) -> anyhow::Result<Connection> {
    let mut conn =
        connect(path).with_context(|| format!("opening the database {}", path.display()))?;
    migrations()
        .to_latest(&mut conn)
        .map_err(|error| match error {
            rusqlite_migration::Error::MigrationDefinition(
                rusqlite_migration::MigrationDefinitionError::DatabaseTooFarAhead,
            ) => anyhow::anyhow!(
                "the database {} was written by a newer version of tiny-chat; \
             run that version (this one leaves it untouched)",
                path.display()
            ),
            other => anyhow::Error::new(other).context(format!("migrating {}", path.display())),
        })?;
    Ok(conn)
}

impl SqliteBroker {
    /// Opens the database at `path`, reads back what it keeps and starts the writer,
    /// which removes messages older than `retention` (if set) now and hourly.
    pub fn open(
        path: &Path,
        live: MemoryBroker,
        retention: Option<Duration>,
    ) -> anyhow::Result<Self> {
        let live = Arc::new(live);
        let conn = open_database(path)?;
        let kept = writer::Kept::read(&conn).context("reading the database")?;
        for (key, session_id, expires_ms) in read::holds(&conn).context("reading the names")? {
            live.restore_hold(key, session_id, expires_ms);
        }
        let readers = Arc::new(Readers::open(path)?);
        let writer = Writer::start(conn, kept, Arc::clone(&live), retention)?;
        Ok(Self {
            live,
            writer,
            readers,
            written_expiry: Mutex::new(HashMap::new()),
        })
    }

    fn limits(&self) -> &Limits {
        self.live.limits()
    }

    /// Writes the hold's new expiry when use has moved it far enough since the last
    /// write, without waiting for it: losing one costs at most that much idle time.
    fn note_use(&self, holder: &Holder) {
        let idle = self.limits().name_idle.as_millis() as u64;
        let expires_ms = self.live.clock().now_ms() + idle;
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
            .hold_later(key, holder.session_id.clone(), expires_ms);
    }

    /// Checks the hold (extending it) before a write is queued.
    fn check_hold(&self, holder: &Holder) -> BrokerResult<()> {
        if !self.live.touch(holder) {
            return Err(BrokerError::Revoked);
        }
        self.note_use(holder);
        Ok(())
    }
}

#[async_trait]
impl RoomLog for SqliteBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        self.check_hold(&new.author)?;
        self.writer.post(new).await
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        self.check_hold(&change.author)?;
        self.writer.change(change).await
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let room = room.clone();
        self.readers
            .read(move |conn| read::history(conn, &room, before, limit))
            .await
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let room = room.clone();
        self.readers
            .read(move |conn| read::after(conn, &room, after, limit))
            .await
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        self.readers.read(read::rooms).await
    }
}

#[async_trait]
impl Names for SqliteBroker {
    async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        let Claim::Granted { at } = self.live.claim(holder, previous, client).await? else {
            return Ok(Claim::Taken);
        };
        let key = holder.name.key();
        let released = previous
            .map(DisplayName::key)
            .filter(|previous| *previous != key);
        let expires_ms = self.live.clock().now_ms() + self.limits().name_idle.as_millis() as u64;
        self.written_expiry
            .lock()
            .expect("expiry lock poisoned")
            .insert(key.clone(), expires_ms);
        self.writer
            .hold(key, released, holder.session_id.clone(), expires_ms)
            .await?;
        // Never before an id the writer gave, whatever the clock says now.
        Ok(Claim::Granted {
            at: at.max(self.writer.last_ms()),
        })
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
        let held = self.live.holds(holder).await?;
        if held {
            self.note_use(holder);
        }
        Ok(held)
    }
}

#[async_trait]
impl Awareness for SqliteBroker {
    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        let presence = self.live.enter(room, person, register).await?;
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
        self.live.typing(room, person).await
    }

    async fn refresh(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        self.live.refresh(present).await
    }
}

#[async_trait]
impl Bus for SqliteBroker {
    async fn subscribe(&self, rooms: &[RoomName]) -> Vec<Subscription> {
        self.live.subscribe(rooms).await
    }

    /// Whether the database takes writes: after a failed write, a small write of its
    /// own decides, so that the node recovers without waiting for a post.
    async fn ready(&self) -> bool {
        self.writer.ready().await
    }

    fn close(&self) {
        self.live.close();
    }
}

/// Where the database of a data folder is.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}
