//! A room's log on Redis: its messages and the changes to them, and history as each
//! message stands now.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log` | Stream | every entry since the oldest of the newest `CHAT_HISTORY_LIMIT` messages, at most 4 per message kept: a message (`s` sender, `t` text; the entry id is the message id), an update (`u`: the message as it then stood, JSON) or a delete (`d`: the message id) |
//! | `P:room:{room}:ids` | sorted set, all scores 0 | the ids of the messages in the log that are not deleted, zero-padded so that they sort as ids: history's index |
//! | `P:room:{room}:state` | hash | message id → the message as it stands (JSON), for those that changed |
//!
//! History is one script, one round trip however many changes there were: the page's ids
//! from the index, then each message's state, or its log entry if it never changed. Every
//! script that appends to the log trims it exactly: to the oldest of the newest
//! `CHAT_HISTORY_LIMIT` messages (`XTRIM MINID`), and to
//! [`LOG_ENTRIES_PER_MESSAGE`] entries per message kept, so that edits and reactions
//! do not push messages out; a message trimmed leaves the index and the state with it.
//!
//! A change is read (one round trip), applied in Rust ([`changes::apply`], shared with
//! the memory broker), then stored by a script that checks that the message's state is
//! still the one read, with the hold and the post limit, and appends, indexes and
//! publishes in the same step. If another node changed the message in between, the
//! change is read and applied again: so concurrent reactions from many nodes all count.
//! Pub/Sub payloads: `u\n<entry id>\n<JSON>` and `d\n<entry id>\n<message id>`.

use super::{RedisBroker, RunScript, interval_us, publishing_script, rate_limited, unavailable};
use crate::{
    message::{ChatMessage, Deleted, DisplayName, MessageId, RoomName},
    server::{
        broker::{
            BrokerError, BrokerResult, Change, Changed, LOG_ENTRIES_PER_MESSAGE,
            changes::{self, Outcome},
        },
        log::Entry,
    },
};
use anyhow::{Context, anyhow, bail};
use redis::{Script, Value};
use std::time::Duration;

/// How many times a change is read and applied again when another node changed the
/// message in between. Each round at least one of the racing changes is stored, so this
/// bounds a burst of concurrent reactions to one message, not a livelock.
const CHANGE_ATTEMPTS: usize = 64;

/// Functions shared by the scripts that append to a room's log.
macro_rules! log_lua {
    () => {
        r#"
local function pad(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end
local function unpad(member)
  local ms, seq = string.match(member, '^(%d+)%-(%d+)$')
  return string.gsub(ms, '^0+(%d)', '%1') .. '-' .. string.gsub(seq, '^0+(%d)', '%1')
end
local function trim(log, ids, state, keep, maxlen)
  local over = redis.call('ZCARD', ids) - keep
  if over > 0 then
    local oldest = redis.call('ZRANGE', ids, 0, over)
    for i = 1, over do redis.call('HDEL', state, unpad(oldest[i])) end
    redis.call('ZREMRANGEBYRANK', ids, 0, over - 1)
    redis.call('XTRIM', log, 'MINID', unpad(oldest[over + 1]))
  end
  over = redis.call('XLEN', log) - maxlen
  if over <= 0 then return end
  for _, entry in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', over)) do
    if entry[2][1] == 's' then
      redis.call('ZREM', ids, pad(entry[1]))
      redis.call('HDEL', state, entry[1])
    end
  end
  redis.call('XTRIM', log, 'MAXLEN', maxlen)
end
"#
    };
}
pub(super) use log_lua;

/// `KEYS`: index, state, log. `ARGV`: the upper bound (`+`, or `(` and a padded id), the
/// page size. Returns `{id, state JSON}` or `{id, {log entry fields}}` per message,
/// newest first.
const HISTORY_SCRIPT: &str = concat!(
    log_lua!(),
    r#"
local out = {}
for _, member in ipairs(redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))) do
  local id = unpad(member)
  local state = redis.call('HGET', KEYS[2], id)
  if state then
    out[#out + 1] = {id, state}
  else
    local entry = redis.call('XRANGE', KEYS[3], id, id)[1]
    if entry then out[#out + 1] = {id, entry[2]} end
  end
end
return out
"#
);

/// `KEYS`: log, index, state, [name hold, name rate] (on a cluster, in another slot: the
/// change is admitted before, by itself). `ARGV`: session id, hold TTL (ms),
/// rate interval (µs), burst, message id, the state read ('' if none), the new state (''
/// to delete), channel, messages kept, log length. A change does not extend the room's life (only a
/// post does, as the room index counts posts): the state expires with the log.
///
/// Returns `{1, entry id}`, `{-1, ''}` when the session no longer holds its name, `{-2,
/// wait µs}` past the post limit, `{-3, ''}` when the message is gone, and `{-4, ''}`
/// when its state is no longer the one read.
const CHANGE_SCRIPT: &str = concat!(
    super::gcra_lua!(),
    log_lua!(),
    r#"
if KEYS[4] then
  if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {-1, ''} end
  redis.call('PEXPIRE', KEYS[4], ARGV[2])
end
if not redis.call('ZSCORE', KEYS[2], pad(ARGV[5])) then return {-3, ''} end
if (redis.call('HGET', KEYS[3], ARGV[5]) or '') ~= ARGV[6] then return {-4, ''} end
if KEYS[5] then
  local wait = gcra(KEYS[5], tonumber(ARGV[3]), tonumber(ARGV[4]))
  if wait > 0 then return {-2, string.format('%d', wait)} end
end
local id
if ARGV[7] == '' then
  id = redis.call('XADD', KEYS[1], '*', 'd', ARGV[5])
  redis.call('ZREM', KEYS[2], pad(ARGV[5]))
  redis.call('HDEL', KEYS[3], ARGV[5])
  redis.call('PUBLISH', ARGV[8], 'd\n' .. id .. '\n' .. ARGV[5])
else
  id = redis.call('XADD', KEYS[1], '*', 'u', ARGV[7])
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
  redis.call('PUBLISH', ARGV[8], 'u\n' .. id .. '\n' .. ARGV[7])
end
trim(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[9]), tonumber(ARGV[10]))
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) end
return {1, id}
"#
);

pub(super) struct LogScripts {
    history: Script,
    change: Script,
}

impl LogScripts {
    pub fn new(sharded: bool) -> Self {
        Self {
            history: Script::new(HISTORY_SCRIPT),
            change: publishing_script(CHANGE_SCRIPT, sharded),
        }
    }
}

/// A message id as the index holds it: both parts zero-padded, so that ids sort as text.
pub(super) fn padded(id: MessageId) -> String {
    format!("{:020}-{:020}", id.ms, id.seq)
}

impl RedisBroker {
    pub(super) async fn read_history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let bound = before.map_or_else(|| "+".to_owned(), |id| format!("({}", padded(id)));
        let reply: Value = self
            .log_scripts
            .history
            .key(self.keys.ids(room))
            .key(self.keys.state(room))
            .key(self.keys.log(room))
            .arg(bound)
            .arg(limit)
            .run(&self.connection, "reading room history")
            .await?;
        let mut messages = parse_history(room, reply).map_err(unavailable)?;
        messages.reverse();
        Ok(messages)
    }

    pub(super) async fn apply_change(&self, change: Change) -> BrokerResult<Changed> {
        if self.cluster.is_some() {
            // The hold and the post limit are in the name's slot, not the room's: checked
            // and counted once, before the change, by themselves.
            self.admit(&change.author).await?;
        }
        for _ in 0..CHANGE_ATTEMPTS {
            let (current, stored) = self.read_message(&change).await?;
            let outcome = changes::apply(&current, &change.kind, &change.author, super::now_ms())?;
            let (new_state, answer) = match outcome {
                Outcome::Same => return Ok(Changed::Message(current)),
                Outcome::Updated(message) => (
                    serde_json::to_string(&message).expect("a ChatMessage always serializes"),
                    Changed::Message(message),
                ),
                Outcome::Deleted => (String::new(), Changed::Deleted),
            };
            if self.store_change(&change, &stored, &new_state).await? {
                return Ok(answer);
            }
        }
        // Not the broker's failure: the message is too busy right now. Try again soon.
        tracing::warn!(room = %change.room, id = %change.id, "a message changed {CHANGE_ATTEMPTS} times while a change to it was applied");
        Err(BrokerError::RateLimited(Duration::from_secs(1)))
    }

    /// The message a change is for, as it stands, with its stored state (`""` if it
    /// never changed): [`BrokerError::Revoked`] first if the author's session no longer
    /// holds their name, as a post would be.
    async fn read_message(&self, change: &Change) -> BrokerResult<(ChatMessage, String)> {
        let (room, id) = (&change.room, change.id);
        let mut read = redis::pipe();
        read.atomic();
        // On a cluster the hold is in another slot, and `admit` has checked it.
        let check_hold = self.cluster.is_none();
        if check_hold {
            read.get(self.keys.name(&change.author.name));
        }
        read.zscore(self.keys.ids(room), padded(id))
            .hget(self.keys.state(room), id.to_string())
            .cmd("XRANGE")
            .arg(self.keys.log(room))
            .arg(id.to_string())
            .arg(id.to_string());
        let mut replies: Vec<Value> = read
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a message")
            .map_err(unavailable)?;
        let (entries, state, indexed) = match (replies.pop(), replies.pop(), replies.pop()) {
            (Some(entries), Some(state), Some(indexed)) => (entries, state, indexed),
            _ => return Err(unavailable(anyhow!("a short reply reading a message"))),
        };
        let parse = |what| anyhow!("reading a message: a malformed {what}");
        let indexed: Option<f64> =
            redis::from_redis_value(indexed).map_err(|_| unavailable(parse("index score")))?;
        let state: Option<String> =
            redis::from_redis_value(state).map_err(|_| unavailable(parse("state")))?;
        if check_hold {
            let holder: Option<String> = replies
                .pop()
                .and_then(|holder| redis::from_redis_value(holder).ok())
                .flatten();
            if holder.as_deref() != Some(change.author.session_id.as_str()) {
                return Err(BrokerError::Revoked);
            }
        }
        if indexed.is_none() {
            return Err(BrokerError::NotFound);
        }
        if let Some(state) = state {
            let message = serde_json::from_str(&state)
                .with_context(|| format!("message {id} has a malformed state"))
                .map_err(unavailable)?;
            return Ok((message, state));
        }
        match parse_entries(room, entries).map_err(unavailable)?.pop() {
            Some(Entry::Message(message)) => Ok((message, String::new())),
            _ => Err(BrokerError::NotFound),
        }
    }

    /// Stores a change if the message's state is still `expected`: `false` if it is not.
    async fn store_change(
        &self,
        change: &Change,
        expected: &str,
        new_state: &str,
    ) -> BrokerResult<bool> {
        let room = &change.room;
        let author = &change.author;
        let mut invocation = self.log_scripts.change.key(self.keys.log(room));
        invocation
            .key(self.keys.ids(room))
            .key(self.keys.state(room));
        if self.cluster.is_none() {
            invocation
                .key(self.keys.name(&author.name))
                .key(self.keys.rate(&author.name));
        }
        let (outcome, reply): (i64, String) = invocation
            .arg(&author.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us(self.limits.post_rate))
            .arg(self.limits.post_burst)
            .arg(change.id.to_string())
            .arg(expected)
            .arg(new_state)
            .arg(self.keys.live(room))
            .arg(self.limits.history)
            .arg(self.limits.history * LOG_ENTRIES_PER_MESSAGE)
            .run(&self.connection, "running the change script")
            .await?;
        match outcome {
            1 => Ok(true),
            -4 => Ok(false),
            -1 => Err(BrokerError::Revoked),
            -2 => Err(rate_limited(&reply)),
            -3 => Err(BrokerError::NotFound),
            other => Err(unavailable(anyhow!("the change script answered {other}"))),
        }
    }
}

/// Parses an `XRANGE` reply into log entries.
pub(super) fn parse_entries(room: &RoomName, reply: Value) -> anyhow::Result<Vec<Entry>> {
    let Value::Array(entries) = reply else {
        bail!("unexpected stream reply {reply:?}");
    };
    entries
        .into_iter()
        .map(|entry| {
            let (id, fields): (String, Vec<(String, String)>) =
                redis::from_redis_value(entry).context("reading a stream entry")?;
            let id: MessageId = id.parse().map_err(|_| anyhow!("bad stream id {id:?}"))?;
            parse_entry(room, id, fields)
        })
        .collect()
}

fn parse_entry(
    room: &RoomName,
    id: MessageId,
    fields: Vec<(String, String)>,
) -> anyhow::Result<Entry> {
    let mut fields = fields.into_iter();
    let Some((first, value)) = fields.next() else {
        bail!("stream entry {id} is empty");
    };
    match first.as_str() {
        "s" => {
            let sender = DisplayName::parse(&value)
                .map_err(|_| anyhow!("stream entry {id} has an invalid sender"))?;
            let (_, text) = fields
                .find(|(k, _)| k == "t")
                .with_context(|| format!("stream entry {id} has no text"))?;
            Ok(Entry::Message(ChatMessage::new(
                id,
                room.clone(),
                sender,
                text,
            )))
        }
        "u" => Ok(Entry::Update {
            id,
            message: serde_json::from_str(&value)
                .with_context(|| format!("stream entry {id} has a malformed update"))?,
        }),
        "d" => Ok(Entry::Delete {
            id,
            deleted: Deleted {
                room: room.clone(),
                id: value
                    .parse()
                    .map_err(|_| anyhow!("stream entry {id} deletes a bad id"))?,
            },
        }),
        other => bail!("stream entry {id} has an unknown field {other:?}"),
    }
}

/// Parses the history script's reply: per message, its state or its log entry's fields.
fn parse_history(room: &RoomName, reply: Value) -> anyhow::Result<Vec<ChatMessage>> {
    let rows: Vec<(String, Value)> =
        redis::from_redis_value(reply).context("reading the history script's reply")?;
    rows.into_iter()
        .map(|(id, data)| {
            let id: MessageId = id.parse().map_err(|_| anyhow!("bad message id {id:?}"))?;
            if let Value::Array(_) = data {
                let fields: Vec<(String, String)> = redis::from_redis_value(data)?;
                match parse_entry(room, id, fields)? {
                    Entry::Message(message) => Ok(message),
                    _ => bail!("the index names {id}, which is not a message"),
                }
            } else {
                let state: String = redis::from_redis_value(data)?;
                serde_json::from_str(&state)
                    .with_context(|| format!("message {id} has a malformed state"))
            }
        })
        .collect()
}

/// Parses a Pub/Sub payload of the log: a message `id\nsender\ntext`, an update
/// `u\nentry id\nJSON`, or a delete `d\nentry id\nmessage id`.
pub(super) fn parse_live(room: RoomName, payload: &[u8]) -> anyhow::Result<Entry> {
    let payload = std::str::from_utf8(payload).context("payload is not UTF-8")?;
    let mut parts = payload.splitn(3, '\n');
    let (Some(first), Some(second), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("malformed payload");
    };
    let entry_id = |raw: &str| -> anyhow::Result<MessageId> {
        raw.parse().map_err(|_| anyhow!("bad id {raw:?}"))
    };
    match first {
        "u" => Ok(Entry::Update {
            id: entry_id(second)?,
            message: serde_json::from_str(rest).context("a malformed update")?,
        }),
        "d" => Ok(Entry::Delete {
            id: entry_id(second)?,
            deleted: Deleted {
                room,
                id: entry_id(rest)?,
            },
        }),
        id => {
            let sender =
                DisplayName::parse(second).map_err(|_| anyhow!("bad sender {second:?}"))?;
            Ok(Entry::Message(ChatMessage::new(
                entry_id(id)?,
                room,
                sender,
                rest.to_owned(),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_payloads_keep_newlines_in_the_text() {
        let Entry::Message(message) =
            parse_live(RoomName::everyone(), b"5-1\nann\nline one\nline two").unwrap()
        else {
            panic!("a message");
        };
        assert_eq!(message.id, MessageId::new(5, 1));
        assert_eq!(message.text, "line one\nline two");
        assert!(parse_live(RoomName::everyone(), b"5-1\nann").is_err());
    }

    #[test]
    fn change_payloads_are_updates_and_deletes() {
        let room = RoomName::everyone();
        let message = ChatMessage::new(
            MessageId::new(5, 0),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            "a\nb".into(),
        );
        let payload = format!("u\n7-0\n{}", serde_json::to_string(&message).unwrap());
        assert_eq!(
            parse_live(room.clone(), payload.as_bytes()).unwrap(),
            Entry::Update {
                id: MessageId::new(7, 0),
                message
            }
        );
        assert_eq!(
            parse_live(room.clone(), b"d\n8-0\n5-0").unwrap(),
            Entry::Delete {
                id: MessageId::new(8, 0),
                deleted: Deleted {
                    room,
                    id: MessageId::new(5, 0)
                }
            }
        );
    }

    #[test]
    fn padded_ids_sort_as_ids() {
        let ids = [
            MessageId::new(9, 10),
            MessageId::new(10, 0),
            MessageId::new(9, 9),
            MessageId::new(1_732_400_000_000, 0),
        ];
        let mut by_text: Vec<String> = ids.iter().copied().map(padded).collect();
        by_text.sort();
        let mut by_id = ids.to_vec();
        by_id.sort();
        assert_eq!(by_text, by_id.into_iter().map(padded).collect::<Vec<_>>());
    }
}
