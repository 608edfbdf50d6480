//! A room's log on Redis: its messages and the changes to them, and history as each
//! message stands now.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log` | Stream | every entry since the oldest of the newest `CHAT_HISTORY_LIMIT` messages, at most 4 per message kept: a message (`s` sender, `t` text; the entry id is the message id), an update (`r`: the message's id; `u`, from before: the message as it then stood, JSON) or a delete (`d`: the message id) |
//! | `P:room:{room}:ids` | sorted set, all scores 0 | the ids of the messages in the log that are not deleted, zero-padded so that they sort as ids: history's index |
//! | `P:room:{room}:state` | hash | message id → the message as it stands (JSON), for those that changed: an update is replayed with it |
//!
//! History is one script, one round trip however many changes there were: the page's ids
//! from the index, then each message's state, or its log entry if it never changed. Every
//! script that appends to the log trims it exactly: to the oldest of the newest
//! `CHAT_HISTORY_LIMIT` messages (`XTRIM MINID`), and to
//! [`LOG_ENTRIES_PER_MESSAGE`] entries per message kept, so that edits and reactions
//! do not push messages out; a message trimmed leaves the index and the state with it.
//!
//! A post is one script on one Redis (`lua/publish.lua`); on a cluster, see
//! [`cluster`](super::cluster). A change is read (one round trip), applied in Rust
//! ([`changes::apply`], shared with
//! the memory broker), then stored by a script (`lua/change.lua`) that checks that the message's state is
//! still the one read, with the hold and the post limit, and appends, indexes and
//! publishes in the same step. If another node changed the message in between, the
//! change is read and applied again: so concurrent reactions from many nodes all count.
//! Pub/Sub payloads: `u\n<entry id>\n<JSON>` and `d\n<entry id>\n<message id>`.

use super::{
    RedisBroker, interval_us,
    parse::{self, Raw},
    rate_limited, unavailable, with_default_room,
};
use crate::{
    message::{ChatMessage, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::broker::{
        After, BrokerError, BrokerResult, Change, Changed, LOG_ENTRIES_PER_MESSAGE, NewMessage,
        Page, Published, ROOM_LIST_LIMIT, RoomLog,
        changes::{self, Outcome},
        log::Entry,
    },
};
use anyhow::{Context, anyhow};
use async_trait::async_trait;
use redis::{AsyncCommands, Value};
use std::time::Duration;

/// How many times a change is read and applied again when another node changed the
/// message in between. Each round at least one of the racing changes is stored, so this
/// bounds a burst of concurrent reactions to one message, not a livelock.
const CHANGE_ATTEMPTS: usize = 64;

/// A message id as the index holds it: both parts zero-padded, so that ids sort as text.
pub(super) fn padded(id: MessageId) -> String {
    format!("{:020}-{:020}", id.ms, id.seq)
}

#[async_trait]
impl RoomLog for RedisBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        if self.cluster.is_some() {
            return self.publish_on_cluster(new).await;
        }
        self.publish_on_one(new).await
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        if self.cluster.is_some() {
            // The hold and the post limit are in the name's slot, not the room's: checked
            // and counted once, before the change, by themselves.
            self.admit(&change.author, false).await?;
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

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let bound = before.map_or_else(|| "+".to_owned(), |id| format!("({}", padded(id)));
        let mut messages = self
            .newest(room, bound, limit, "reading room history")
            .await?;
        messages.reverse();
        Ok(messages)
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let store = self.store();
        let raws = store
            .range_from(room, after, Some(limit.saturating_add(1)))
            .await
            .map_err(unavailable)?;
        if raws.first().is_some_and(|first| first.id() == after) {
            let read = &raws[1..];
            let entries = store.resolve(room, read).await.map_err(unavailable)?;
            return Ok(After::Entries(Page {
                entries,
                last: read.last().map(Raw::id),
                full: read.len() >= limit,
            }));
        }
        let oldest = self.store().oldest(room).await.map_err(unavailable)?;
        Ok(After::Resync { oldest })
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        let pairs: Vec<(String, f64)> = self
            .connection
            .clone()
            .zrevrange_withscores(self.keys.rooms(), 0, ROOM_LIST_LIMIT as isize - 1)
            .await
            .context("reading the room index")
            .map_err(unavailable)?;
        let rooms = pairs
            .into_iter()
            .filter_map(|(name, ms)| {
                Some(RoomSummary {
                    name: RoomName::parse(&name).ok()?,
                    last_message_at: Some(rfc3339_millis(ms as u64)),
                })
            })
            .collect();
        Ok(with_default_room(rooms))
    }
}

impl RedisBroker {
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
        match parse::entries(room, entries).map_err(unavailable)?.pop() {
            Some(Raw::Entry(Entry::Message(message))) => Ok((message, String::new())),
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
        let mut call = self.scripts.change.call();
        call.key("log", self.keys.log(room))
            .key("ids", self.keys.ids(room))
            .key("state", self.keys.state(room))
            .arg("id", change.id.to_string())
            .arg("expected", expected)
            .arg("new_state", new_state)
            .arg("channel", self.keys.live(room))
            .arg("history", self.limits.history)
            .arg("log_limit", self.limits.history * LOG_ENTRIES_PER_MESSAGE)
            .arg("session", &author.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .arg("rate_interval", interval_us(self.limits.post_rate))
            .arg("rate_burst", self.limits.post_burst);
        if self.cluster.is_none() {
            let name = self.keys.of_name(&author.name);
            call.key("hold", name.hold).key("rate", name.rate);
        }
        let (outcome, reply): (i64, String) = call
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

#[cfg(test)]
mod tests {
    use super::*;

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
