//! What a row holds, both ways: an id's two integers, a message's JSON.

use crate::message::{ChatMessage, MessageId, RoomName};
use rusqlite::{Connection, OptionalExtension, Params, params};

/// Runs a statement prepared once per connection (parsing SQL was the writer's largest
/// cost per post before).
pub fn run(conn: &Connection, sql: &str, params: impl Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// An id's halves as SQLite integers. Ids this server gives fit; an id from a client
/// that does not (a `before=` or `Last-Event-ID` past `i64::MAX`) compares as the largest.
pub fn sql_id(id: MessageId) -> (i64, i64) {
    let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (clamp(id.ms), clamp(id.seq))
}

pub fn to_json(message: &ChatMessage) -> String {
    serde_json::to_string(message).expect("a message always serializes")
}

/// A message as kept. A row that does not read back is a fault of the file, reported as
/// one (`503`), never a panic.
pub fn parse_message(body: &str) -> rusqlite::Result<ChatMessage> {
    serde_json::from_str(body).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

/// The message `id` of `room` as it stands, unless deleted.
pub fn message_at(
    conn: &Connection,
    room: &RoomName,
    id: MessageId,
) -> rusqlite::Result<Option<ChatMessage>> {
    let (ms, seq) = sql_id(id);
    let body: Option<String> = conn
        .prepare_cached(
            "SELECT body FROM messages
             WHERE room = ?1 AND ms = ?2 AND seq = ?3 AND deleted = 0",
        )?
        .query_row(params![room.as_str(), ms, seq], |row| row.get(0))
        .optional()?;
    body.as_deref().map(parse_message).transpose()
}
