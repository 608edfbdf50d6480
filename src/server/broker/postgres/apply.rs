//! One batch of write requests, applied in one transaction: the rooms it writes to
//! locked first (in name order, so that two nodes' batches never deadlock), then each
//! request in the order it came, then each room's row moved on. A refusal is an answer;
//! only a fault of the database is an `Err`, which rolls the whole batch back.

use super::{pg_id, read::parse_message};
use crate::{
    message::{ChatMessage, Deleted, MessageId, RoomName},
    server::broker::{
        BrokerError, BrokerResult, Change, Changed, NewMessage, Published,
        changes::{self, Outcome},
        log::Entry,
    },
};
use deadpool_postgres::Transaction;
use std::collections::BTreeMap;

/// A write, as the writer queues it.
pub enum Request {
    Post(NewMessage),
    Change(Change),
    Hold {
        key: String,
        released: Option<String>,
        session_id: String,
        expires_ms: u64,
    },
    /// A hold's expiry moved on by use (written now and then, not answered).
    Touch {
        key: String,
        session_id: String,
        expires_ms: u64,
    },
    Release {
        key: String,
        session_id: String,
    },
}

/// A request's answer.
pub enum Answer {
    Post(BrokerResult<Published>),
    Change(BrokerResult<Changed>),
    Done,
}

/// A room as the batch found it (locked) and leaves it.
struct Room {
    /// Its newest entry: where ids and the chain go on from.
    last: Option<MessageId>,
    /// Whether the batch wrote to it.
    moved: bool,
    /// The newest message's time, when the batch posted to it.
    message_ms: Option<u64>,
}

/// What a batch wrote: its answers, in the order asked, and the entries it appended,
/// each with the room's entry before it, in commit order.
pub struct Applied {
    pub answers: Vec<Answer>,
    pub entries: Vec<(Option<MessageId>, Entry)>,
}

pub async fn batch(
    tx: &Transaction<'_>,
    requests: &[Request],
    now: u64,
) -> anyhow::Result<Applied> {
    let mut rooms = lock_rooms(tx, requests).await?;
    let mut applied = Applied {
        answers: Vec::with_capacity(requests.len()),
        entries: Vec::new(),
    };
    let mut posted = NewRows::default();
    for request in requests {
        let answer = match request {
            Request::Post(new) => Answer::Post(
                post(tx, new, &mut rooms, &mut posted, &mut applied.entries, now).await?,
            ),
            Request::Change(change) => {
                // It reads the message it changes, which may be one just posted.
                posted.insert(tx).await?;
                Answer::Change(
                    change_message(tx, change, &mut rooms, &mut applied.entries, now).await?,
                )
            }
            Request::Hold {
                key,
                released,
                session_id,
                expires_ms,
            } => {
                if let Some(released) = released {
                    release(tx, released, session_id).await?;
                }
                let hold = tx
                    .prepare_cached(
                        "INSERT INTO holds (key, session_id, expires_ms) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE
                         SET session_id = EXCLUDED.session_id, expires_ms = EXCLUDED.expires_ms",
                    )
                    .await?;
                tx.execute(&hold, &[key, session_id, &(*expires_ms as i64)])
                    .await?;
                Answer::Done
            }
            Request::Touch {
                key,
                session_id,
                expires_ms,
            } => {
                let touch = tx
                    .prepare_cached(
                        "UPDATE holds SET expires_ms = GREATEST(expires_ms, $3)
                         WHERE key = $1 AND session_id = $2",
                    )
                    .await?;
                tx.execute(&touch, &[key, session_id, &(*expires_ms as i64)])
                    .await?;
                Answer::Done
            }
            Request::Release { key, session_id } => {
                release(tx, key, session_id).await?;
                Answer::Done
            }
        };
        applied.answers.push(answer);
    }
    posted.insert(tx).await?;
    for (name, room) in rooms.iter().filter(|(_, room)| room.moved) {
        let (ms, seq) = pg_id(room.last.expect("a moved room has an entry"));
        let moved = tx
            .prepare_cached(
                "UPDATE rooms SET entry_ms = $2, entry_seq = $3,
                        message_ms = COALESCE($4, message_ms)
                 WHERE name = $1",
            )
            .await?;
        let message_ms = room.message_ms.map(|ms| ms as i64);
        tx.execute(&moved, &[&name.as_str(), &ms, &seq, &message_ms])
            .await?;
    }
    Ok(applied)
}

/// Locks the row of every room the batch writes to, in name order: a room posted to is
/// made if it is new; a room only changed must exist (a change to a room that does
/// not makes no row).
async fn lock_rooms(
    tx: &Transaction<'_>,
    requests: &[Request],
) -> anyhow::Result<BTreeMap<RoomName, Room>> {
    let mut posted: BTreeMap<&RoomName, bool> = BTreeMap::new();
    for request in requests {
        match request {
            Request::Post(new) => {
                posted.insert(&new.room, true);
            }
            Request::Change(change) => {
                posted.entry(&change.room).or_insert(false);
            }
            _ => {}
        }
    }
    let upsert = tx
        .prepare_cached(
            "INSERT INTO rooms (name) VALUES ($1)
             ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
             RETURNING entry_ms, entry_seq",
        )
        .await?;
    let select = tx
        .prepare_cached("SELECT entry_ms, entry_seq FROM rooms WHERE name = $1 FOR UPDATE")
        .await?;
    let mut rooms = BTreeMap::new();
    for (name, posted) in posted {
        let statement = if posted { &upsert } else { &select };
        let Some(row) = tx.query_opt(statement, &[&name.as_str()]).await? else {
            continue;
        };
        let last = MessageId::new(row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
        rooms.insert(
            name.clone(),
            Room {
                last: (last != MessageId::new(0, 0)).then_some(last),
                moved: false,
                message_ms: None,
            },
        );
    }
    Ok(rooms)
}

/// The room's next id (the current millisecond, or a higher sequence within its newest
/// entry's if the clock has not moved on, or went back), and the entry before it.
fn next_id(room: &mut Room, now: u64) -> (MessageId, Option<MessageId>) {
    let previous = room.last;
    let id = match previous {
        Some(last) if now <= last.ms => MessageId::new(last.ms, last.seq + 1),
        _ => MessageId::new(now, 0),
    };
    room.last = Some(id);
    room.moved = true;
    (id, previous)
}

async fn release(tx: &Transaction<'_>, key: &str, session_id: &str) -> anyhow::Result<()> {
    let release = tx
        .prepare_cached("DELETE FROM holds WHERE key = $1 AND session_id = $2")
        .await?;
    tx.execute(&release, &[&key, &session_id]).await?;
    Ok(())
}

/// The key a repeated `client_id` is found by: the session's and the client's, in a form
/// no two pairs share.
fn client_key(session_id: &str, client_id: &str) -> String {
    format!("{}/{session_id}{client_id}", session_id.len())
}

fn to_json(message: &ChatMessage) -> String {
    serde_json::to_string(message).expect("a message always serializes")
}

/// New messages not inserted yet: a batch's posts go in with one statement (one round
/// trip for them all, where one each took 0.45 of the posts per second of Redis alone).
#[derive(Default)]
struct NewRows {
    rooms: Vec<String>,
    ms: Vec<i64>,
    seq: Vec<i64>,
    bodies: Vec<String>,
    keys: Vec<Option<String>>,
}

impl NewRows {
    /// Inserts the messages, and their log entries.
    async fn insert(&mut self, tx: &Transaction<'_>) -> anyhow::Result<()> {
        if self.rooms.is_empty() {
            return Ok(());
        }
        let insert = tx
            .prepare_cached(
                "WITH m AS (
                     INSERT INTO messages (room, ms, seq, body, client_key)
                     SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[])
                 )
                 INSERT INTO entries (room, ms, seq, kind, of_ms, of_seq)
                 SELECT r, m, s, 0, m, s FROM UNNEST($1::text[], $2::int8[], $3::int8[]) AS u (r, m, s)",
            )
            .await?;
        tx.execute(
            &insert,
            &[&self.rooms, &self.ms, &self.seq, &self.bodies, &self.keys],
        )
        .await?;
        *self = Self::default();
        Ok(())
    }
}

async fn post(
    tx: &Transaction<'_>,
    new: &NewMessage,
    rooms: &mut BTreeMap<RoomName, Room>,
    posted: &mut NewRows,
    entries: &mut Vec<(Option<MessageId>, Entry)>,
    now: u64,
) -> anyhow::Result<Result<Published, BrokerError>> {
    let key = new
        .client_id
        .as_deref()
        .map(|client_id| client_key(&new.author.session_id, client_id));
    if let Some(key) = &key {
        // A repeat may be of a post earlier in this batch.
        posted.insert(tx).await?;
        let first = tx
            .prepare_cached(
                "SELECT body, deleted FROM messages WHERE room = $1 AND client_key = $2",
            )
            .await?;
        if let Some(row) = tx.query_opt(&first, &[&new.room.as_str(), key]).await? {
            // The first message as it stands, whatever this retry's text says; gone
            // once deleted.
            return Ok(match row.get::<_, bool>(1) {
                true => Err(BrokerError::NotFound),
                false => Ok(Published::Repeat(parse_message(row.get(0))?)),
            });
        }
    }
    let room = rooms
        .get_mut(&new.room)
        .expect("every room posted to is locked");
    let (id, previous) = next_id(room, now);
    room.message_ms = Some(id.ms);
    let message = ChatMessage::new(
        id,
        new.room.clone(),
        new.author.name.clone(),
        new.text.as_str().to_owned(),
    );
    let (ms, seq) = pg_id(id);
    posted.rooms.push(new.room.as_str().to_owned());
    posted.ms.push(ms);
    posted.seq.push(seq);
    posted.bodies.push(to_json(&message));
    posted.keys.push(key);
    entries.push((previous, Entry::Message(message.clone())));
    Ok(Ok(Published::New(message)))
}

async fn change_message(
    tx: &Transaction<'_>,
    change: &Change,
    rooms: &mut BTreeMap<RoomName, Room>,
    entries: &mut Vec<(Option<MessageId>, Entry)>,
    now: u64,
) -> anyhow::Result<Result<Changed, BrokerError>> {
    let Some(room) = rooms.get_mut(&change.room) else {
        return Ok(Err(BrokerError::NotFound));
    };
    let (of_ms, of_seq) = pg_id(change.id);
    let read = tx
        .prepare_cached(
            "SELECT body FROM messages
             WHERE room = $1 AND ms = $2 AND seq = $3 AND NOT deleted",
        )
        .await?;
    let Some(row) = tx
        .query_opt(&read, &[&change.room.as_str(), &of_ms, &of_seq])
        .await?
    else {
        return Ok(Err(BrokerError::NotFound));
    };
    let current = parse_message(row.get(0))?;
    let outcome = match changes::apply(&current, &change.kind, &change.author, now) {
        Ok(outcome) => outcome,
        Err(refused) => return Ok(Err(refused)),
    };
    let (id, previous) = match outcome {
        Outcome::Same => return Ok(Ok(Changed::Message(current))),
        _ => next_id(room, now),
    };
    let (ms, seq) = pg_id(id);
    let room_name = change.room.as_str();
    let (answer, entry, kind) = match outcome {
        Outcome::Updated(message) => {
            let update = tx
                .prepare_cached(
                    "UPDATE messages SET body = $4 WHERE room = $1 AND ms = $2 AND seq = $3",
                )
                .await?;
            tx.execute(&update, &[&room_name, &of_ms, &of_seq, &to_json(&message)])
                .await?;
            let entry = Entry::Update {
                id,
                message: message.clone(),
            };
            (Changed::Message(message), entry, 1i16)
        }
        _ => {
            // Its text stays for a day, for a stream resuming from before the delete
            // (it replays the message, then this); then the purge erases it.
            let delete = tx
                .prepare_cached(
                    "UPDATE messages SET deleted = true, deleted_ms = $4
                     WHERE room = $1 AND ms = $2 AND seq = $3",
                )
                .await?;
            tx.execute(&delete, &[&room_name, &of_ms, &of_seq, &(now as i64)])
                .await?;
            let deleted = Deleted {
                room: change.room.clone(),
                id: change.id,
            };
            (Changed::Deleted, Entry::Delete { id, deleted }, 2i16)
        }
    };
    let append = tx
        .prepare_cached(
            "INSERT INTO entries (room, ms, seq, kind, of_ms, of_seq)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(&append, &[&room_name, &ms, &seq, &kind, &of_ms, &of_seq])
        .await?;
    entries.push((previous, entry));
    Ok(Ok(answer))
}
