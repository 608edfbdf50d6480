//! Reading what is kept: history, the log after an id, the room list, and at start the
//! holds. Each read runs on a blocking task with one of a few read-only connections.

use super::{
    connect,
    rows::{parse_message, sql_id},
};
use crate::{
    message::{ChatMessage, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::broker::{
        After, BrokerError, BrokerResult, Page, ROOM_LIST_LIMIT, holds::MAX_HOLDS, log::replayed,
        with_default_room,
    },
};
use rusqlite::{Connection, OptionalExtension, params};
use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

/// How many connections read at once: reads are short, and the machine's cores are
/// few; more would only queue in SQLite.
const READERS: usize = 4;

pub struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Readers {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conns = (0..READERS)
            .map(|_| {
                let conn = connect(path)?;
                conn.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `read` on the next connection, on a blocking task.
    pub async fn read<T: Send + 'static>(
        self: &std::sync::Arc<Self>,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BrokerResult<T> {
        let readers = std::sync::Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || {
            let at = readers.next.fetch_add(1, Ordering::Relaxed) % readers.conns.len();
            let conn = readers.conns[at].lock().expect("reader lock poisoned");
            read(&conn)
        })
        .await;
        match done {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(BrokerError::Unavailable(
                anyhow::Error::new(error).context("reading the database"),
            )),
            Err(error) => Err(BrokerError::Unavailable(anyhow::anyhow!(
                "a read of the database stopped: {error}"
            ))),
        }
    }
}

pub fn history(
    conn: &Connection,
    room: &RoomName,
    before: Option<MessageId>,
    limit: usize,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let (ms, seq) = before.map_or((i64::MAX, i64::MAX), sql_id);
    let mut query = conn.prepare_cached(
        "SELECT body FROM messages
         WHERE room = ?1 AND (ms, seq) < (?2, ?3) AND deleted = 0
         ORDER BY ms DESC, seq DESC LIMIT ?4",
    )?;
    let mut page = query
        .query_map(params![room.as_str(), ms, seq, limit as i64], |row| {
            row.get::<_, String>(0)
        })?
        .map(|body| parse_message(&body?))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    page.reverse();
    Ok(page)
}

pub fn after(
    conn: &Connection,
    room: &RoomName,
    after: MessageId,
    limit: usize,
) -> rusqlite::Result<After> {
    let (ms, seq) = sql_id(after);
    let known = conn
        .prepare_cached("SELECT 1 FROM entries WHERE room = ?1 AND ms = ?2 AND seq = ?3")?
        .exists(params![room.as_str(), ms, seq])?;
    if !known {
        let oldest = conn
            .prepare_cached("SELECT ms, seq FROM entries WHERE room = ?1 ORDER BY ms, seq LIMIT 1")?
            .query_row(params![room.as_str()], |row| {
                Ok(MessageId::new(
                    row.get::<_, i64>(0)? as u64,
                    row.get::<_, i64>(1)? as u64,
                ))
            })
            .optional()?;
        return Ok(After::Resync { oldest });
    }
    let mut query = conn.prepare_cached(
        "SELECT e.ms, e.seq, e.kind, e.of_ms, e.of_seq, m.body, m.deleted
         FROM entries e JOIN messages m
           ON m.room = e.room AND m.ms = e.of_ms AND m.seq = e.of_seq
         WHERE e.room = ?1 AND (e.ms, e.seq) > (?2, ?3)
         ORDER BY e.ms, e.seq LIMIT ?4",
    )?;
    let mut rows = query.query(params![room.as_str(), ms, seq, limit as i64])?;
    let (mut entries, mut read, mut last) = (Vec::new(), 0, None);
    while let Some(row) = rows.next()? {
        read += 1;
        let id = MessageId::new(row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64);
        last = Some(id);
        let of = MessageId::new(row.get::<_, i64>(3)? as u64, row.get::<_, i64>(4)? as u64);
        let row_of = (row.get_ref(5)?.as_str()?, row.get(6)?);
        let Some(entry) = replayed(room, (id, row.get(2)?, of), row_of, parse_message)? else {
            continue;
        };
        entries.push(entry);
    }
    Ok(After::Entries(Page {
        entries,
        last,
        full: read >= limit,
    }))
}

pub fn rooms(conn: &Connection) -> rusqlite::Result<Vec<RoomSummary>> {
    let mut query = conn
        .prepare_cached("SELECT name, message_ms FROM rooms ORDER BY message_ms DESC LIMIT ?1")?;
    let rooms = query
        .query_map([ROOM_LIST_LIMIT as i64], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .filter_map(|row| match row {
            Ok((name, ms)) => RoomName::parse(&name).ok().map(|name| {
                Ok(RoomSummary {
                    name,
                    last_message_at: Some(rfc3339_millis(ms as u64)),
                })
            }),
            Err(error) => Some(Err(error)),
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(with_default_room(rooms))
}

/// The holds kept: (name key, session id, expiry in wall ms), the latest to expire first,
/// as many as the memory holds.
pub fn holds(conn: &Connection) -> rusqlite::Result<Vec<(String, String, u64)>> {
    let mut query = conn.prepare(
        "SELECT key, session_id, expires_ms FROM holds ORDER BY expires_ms DESC LIMIT ?1",
    )?;
    query
        .query_map([MAX_HOLDS as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get::<_, i64>(2)? as u64))
        })?
        .collect()
}
