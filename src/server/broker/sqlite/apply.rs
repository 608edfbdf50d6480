//! Each write request, applied in the writer's transaction: the checks that read what is
//! committed or ahead in the same batch, the id, the rows. A refusal is an answer
//! (`Ok((Err(..), None))`); only a fault of the database is an `Err`, which fails the
//! whole batch.

use super::rows::{message_at, parse_message, run, sql_id, to_json};
use crate::{
    message::{ChatMessage, Deleted, MessageId, RoomName},
    server::broker::{
        BrokerError, BrokerResult, Change, ChangeKind, Changed, NewMessage, Published,
        changes::{self, Outcome},
        log::Entry,
        memory::MemoryBroker,
    },
};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

/// The writer's state that a request reads and moves on.
pub struct State<'a> {
    pub rooms: &'a mut HashSet<RoomName>,
    pub new_rooms: &'a mut Vec<RoomName>,
    pub last_id: &'a mut MessageId,
    pub live: &'a MemoryBroker,
}

impl State<'_> {
    /// The next id: the current millisecond, or a higher sequence within the last id's
    /// millisecond if the clock has not moved on (or went back).
    fn next_id(&mut self) -> MessageId {
        let now = self.live.clock().now_ms();
        *self.last_id = if now > self.last_id.ms {
            MessageId::new(now, 0)
        } else {
            MessageId::new(self.last_id.ms, self.last_id.seq + 1)
        };
        *self.last_id
    }
}

pub fn release(tx: &Connection, key: &str, session_id: &str) -> rusqlite::Result<()> {
    run(
        tx,
        "DELETE FROM holds WHERE key = ?1 AND session_id = ?2",
        params![key, session_id],
    )?;
    Ok(())
}

/// The key a repeated `client_id` is found by: the session's and the client's, in a form
/// no two pairs share.
fn client_key(session_id: &str, client_id: &str) -> String {
    format!("{}/{session_id}{client_id}", session_id.len())
}

pub type Done<T> = (BrokerResult<T>, Option<Entry>);

pub fn post(
    tx: &Connection,
    new: NewMessage,
    state: &mut State,
) -> rusqlite::Result<Done<Published>> {
    let key = new
        .client_id
        .as_deref()
        .map(|client_id| client_key(&new.author.session_id, client_id));
    if let Some(key) = &key {
        let first: Option<(String, bool)> = tx
            .prepare_cached(
                "SELECT body, deleted FROM messages WHERE room = ?1 AND client_key = ?2",
            )?
            .query_row(params![new.room.as_str(), key], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        if let Some((body, deleted)) = first {
            // The first message as it stands, whatever this retry's text says; gone
            // once deleted.
            return Ok(match deleted {
                true => (Err(BrokerError::NotFound), None),
                false => (Ok(Published::Repeat(parse_message(&body)?)), None),
            });
        }
    }
    if let Err(refused) = state.live.check_post(&new.author.name) {
        return Ok((Err(refused), None));
    }
    if !state.rooms.contains(&new.room) {
        if state.rooms.len() >= state.live.limits().max_rooms {
            return Ok((Err(BrokerError::RoomsFull), None));
        }
        if let Err(refused) = state.live.check_new_room(&new.author.name, new.client) {
            return Ok((Err(refused), None));
        }
        state.rooms.insert(new.room.clone());
        state.new_rooms.push(new.room.clone());
    }
    let id = state.next_id();
    let message = ChatMessage::new(id, new.room, new.author.name, new.text.into_string());
    let (ms, seq) = sql_id(id);
    let room = message.room.as_str();
    run(
        tx,
        "INSERT INTO messages (room, ms, seq, body, client_key) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![room, ms, seq, to_json(&message), key],
    )?;
    append(tx, room, id, 0, id)?;
    Ok((
        Ok(Published::New(message.clone())),
        Some(Entry::Message(message)),
    ))
}

pub fn change_message(
    tx: &Connection,
    change: Change,
    state: &mut State,
) -> rusqlite::Result<Done<Changed>> {
    let Some(current) = message_at(tx, &change.room, change.id)? else {
        return Ok((Err(BrokerError::NotFound), None));
    };
    let now = state.live.clock().now_ms();
    let outcome = match changes::apply(&current, &change.kind, &change.author, now) {
        Ok(outcome) => outcome,
        Err(refused) => return Ok((Err(refused), None)),
    };
    if outcome == Outcome::Same {
        return Ok((Ok(Changed::Message(current)), None));
    }
    if let Err(refused) = state.live.check_post(&change.author.name) {
        return Ok((Err(refused), None));
    }
    let id = state.next_id();
    let room = change.room.as_str();
    let (of_ms, of_seq) = sql_id(change.id);
    Ok(match outcome {
        Outcome::Updated(message) => {
            run(
                tx,
                "UPDATE messages SET body = ?4 WHERE room = ?1 AND ms = ?2 AND seq = ?3",
                params![room, of_ms, of_seq, to_json(&message)],
            )?;
            append(tx, room, id, 1, change.id)?;
            let entry = Entry::Update {
                id,
                message: message.clone(),
            };
            (Ok(Changed::Message(message)), Some(entry))
        }
        Outcome::Deleted | Outcome::Same => {
            debug_assert!(matches!(change.kind, ChangeKind::Delete));
            // Its text stays for a day, for a stream resuming from before the delete
            // (it replays the message, then this); then `purge` erases it.
            run(
                tx,
                "UPDATE messages SET deleted = 1, deleted_ms = ?4
                 WHERE room = ?1 AND ms = ?2 AND seq = ?3",
                params![room, of_ms, of_seq, now as i64],
            )?;
            append(tx, room, id, 2, change.id)?;
            let deleted = Deleted {
                room: change.room.clone(),
                id: change.id,
            };
            (Ok(Changed::Deleted), Some(Entry::Delete { id, deleted }))
        }
    })
}

/// Appends a log entry (kind 0 a message, 1 an update, 2 a delete of message `of`) and
/// moves the room's newest entry to it, making the room when it is new.
fn append(
    tx: &Connection,
    room: &str,
    id: MessageId,
    kind: i64,
    of: MessageId,
) -> rusqlite::Result<()> {
    let (ms, seq) = sql_id(id);
    let (of_ms, of_seq) = sql_id(of);
    run(
        tx,
        "INSERT INTO entries (room, ms, seq, kind, of_ms, of_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![room, ms, seq, kind, of_ms, of_seq],
    )?;
    // A message moves the room's newest message too (the room list's order).
    let moved = match kind {
        0 => {
            "INSERT INTO rooms (name, message_ms, entry_ms, entry_seq) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET message_ms = ?2, entry_ms = ?2, entry_seq = ?3"
        }
        _ => "UPDATE rooms SET entry_ms = ?2, entry_seq = ?3 WHERE name = ?1",
    };
    run(tx, moved, params![room, ms, seq])?;
    Ok(())
}
