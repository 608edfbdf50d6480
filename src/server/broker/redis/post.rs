//! A post on one Redis: one script (`lua/publish.lua`) checks the hold, answers a
//! repeated `client_id`, applies the post limit (and for a new room the room count and
//! the new-room limits), appends, publishes and updates the room index, all in one round
//! trip. So a revoked cookie can never post, N nodes share one limit per name, and a
//! message is never stored without being published or published out of id order. (On a
//! cluster the same takes more steps: [`cluster`](super::cluster).)

use super::{RedisBroker, interval_us, log::padded, lua::Call, parse, rate_limited, unavailable};
use crate::{
    message::{ChatMessage, MessageId, RoomName},
    server::broker::{BrokerError, BrokerResult, LOG_ENTRIES_PER_MESSAGE, NewMessage, Published},
};
use anyhow::anyhow;
use redis::Value;

/// How long a `client_id` is remembered.
const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;

impl RedisBroker {
    pub(super) async fn publish_on_one(&self, new: NewMessage) -> BrokerResult<Published> {
        let (room, author) = (&new.room, &new.author);
        let mut call = self.scripts.publish.call();
        self.append_args(&mut call, &new);
        let name = self.keys.of_name(&author.name);
        call.key("rooms", self.keys.rooms())
            .key("hold", name.hold)
            .key("rate", name.rate)
            .key("new_room_by_name", name.new_room)
            .key(
                "new_room_by_client",
                self.keys.new_room_by_client(new.client),
            )
            .arg("session", &author.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .arg("rate_interval", interval_us(self.limits.post_rate))
            .arg("rate_burst", self.limits.post_burst)
            .arg("room", room.as_str())
            .arg("max_rooms", self.limits.max_rooms)
            .arg("new_room_interval", interval_us(self.limits.new_room_rate))
            .arg("new_room_burst", self.limits.new_room_burst);
        self.idempotency_key(&mut call, &new);
        let (outcome, reply): (i64, String) = call
            .run(&self.connection, "running the publish script")
            .await?;
        self.published(outcome, reply, new).await
    }

    /// What every post's script reads first (`lua/append.lua`): the room's log keys and
    /// the message.
    pub(super) fn append_args(&self, call: &mut Call<'_>, new: &NewMessage) {
        let room = &new.room;
        call.key("log", self.keys.log(room))
            .key("ids", self.keys.ids(room))
            .key("state", self.keys.state(room))
            .arg("sender", new.author.name.as_str())
            .arg("text", new.text.as_str())
            .arg("history", self.limits.history)
            .arg("log_limit", self.limits.history * LOG_ENTRIES_PER_MESSAGE)
            .arg("room_ttl", self.room_idle_ms())
            .arg("channel", self.keys.live(room))
            .arg("post_ttl", IDEMPOTENCY_TTL_SECS);
    }

    /// The post's idempotency key, its script's last, if the post has a `client_id`.
    pub(super) fn idempotency_key(&self, call: &mut Call<'_>, new: &NewMessage) {
        if let Some(client_id) = &new.client_id {
            let key = self.keys.post(&new.room, &new.author.session_id, client_id);
            call.key("post", key);
        }
    }

    /// A post script's answer as the post's outcome: for a repeat, the first message
    /// as it stands now (not found once deleted or trimmed away).
    pub(super) async fn published(
        &self,
        outcome: i64,
        reply: String,
        new: NewMessage,
    ) -> BrokerResult<Published> {
        match outcome {
            1 => {
                let id = parse_id(&reply)?;
                let text = new.text.into_string();
                let message = ChatMessage::new(id, new.room, new.author.name, text);
                Ok(Published::New(message))
            }
            // A record from before ids alone were kept holds "id\ntext": the id is first.
            0 => {
                let id = parse_id(reply.split('\n').next().unwrap_or_default())?;
                let first = self.message(&new.room, id).await?;
                first.map(Published::Repeat).ok_or(BrokerError::NotFound)
            }
            -1 => Err(BrokerError::Revoked),
            -2 => Err(rate_limited(&reply)),
            -3 => Err(BrokerError::RoomsFull),
            other => Err(unavailable(anyhow!("the publish script answered {other}"))),
        }
    }

    /// The message `id` of `room` as it stands, if it is there (not deleted, nor trimmed).
    pub(super) async fn message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> BrokerResult<Option<ChatMessage>> {
        let bound = format!("[{}", padded(id));
        let mut found = self.newest(room, bound, 1, "reading a message").await?;
        Ok(found.pop().filter(|message| message.id == id))
    }

    /// At most `count` of the messages of `room` with ids up to `bound` (a ZRANGEBYLEX
    /// bound over padded ids), as they stand, newest first.
    pub(super) async fn newest(
        &self,
        room: &RoomName,
        bound: String,
        count: usize,
        what: &'static str,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let reply: Value = self
            .scripts
            .history
            .call()
            .key("ids", self.keys.ids(room))
            .key("state", self.keys.state(room))
            .key("log", self.keys.log(room))
            .arg("bound", bound)
            .arg("count", count)
            .run(&self.connection, what)
            .await?;
        parse::history(room, reply).map_err(unavailable)
    }
}

fn parse_id(raw: &str) -> BrokerResult<MessageId> {
    raw.parse()
        .map_err(|_| unavailable(anyhow!("Redis returned a malformed id {raw:?}")))
}
