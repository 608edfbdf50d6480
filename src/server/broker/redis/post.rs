//! A post on one Redis: one script (`lua/publish.lua`) checks the hold, answers a
//! repeated `client_id`, applies the post limit, appends, publishes and updates the room
//! index, all in one round trip. So a revoked cookie can never post, N nodes share one
//! limit per name, and a message is never stored without being published or published
//! out of id order. (On a cluster the same takes three steps: [`cluster`](super::cluster).)

use super::{RedisBroker, interval_us, lua::Call, rate_limited, unavailable};
use crate::{
    message::{ChatMessage, MessageId},
    server::broker::{BrokerError, BrokerResult, LOG_ENTRIES_PER_MESSAGE, NewMessage, Published},
};
use anyhow::anyhow;

/// How long a `client_id` is remembered.
const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;

impl RedisBroker {
    pub(super) async fn publish_on_one(&self, new: NewMessage) -> BrokerResult<Published> {
        let (room, author) = (&new.room, &new.author);
        let mut call = self.scripts.publish.call();
        self.append_args(&mut call, &new);
        call.key("rooms", self.keys.rooms())
            .key("hold", self.keys.name(&author.name))
            .key("rate", self.keys.rate(&author.name))
            .arg("session", &author.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .arg("rate_interval", interval_us(self.limits.post_rate))
            .arg("rate_burst", self.limits.post_burst)
            .arg("room", room.as_str())
            .arg("max_rooms", self.limits.max_rooms)
            .arg("room_prefix", format!("{}:room:", self.keys.prefix));
        self.idempotency_key(&mut call, &new);
        let (outcome, reply): (i64, String) = call
            .run(&self.connection, "running the publish script")
            .await?;
        self.published(outcome, reply, new)
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

    /// A post script's answer as the post's outcome.
    pub(super) fn published(
        &self,
        outcome: i64,
        reply: String,
        new: NewMessage,
    ) -> BrokerResult<Published> {
        let (id, text) = match outcome {
            1 => (reply.as_str(), new.text.into_string()),
            0 => {
                let (id, text) = reply.split_once('\n').ok_or_else(|| {
                    unavailable(anyhow!("malformed idempotency record {reply:?}"))
                })?;
                (id, text.to_owned())
            }
            -1 => return Err(BrokerError::Revoked),
            -2 => return Err(rate_limited(&reply)),
            other => return Err(unavailable(anyhow!("the publish script answered {other}"))),
        };
        let id: MessageId = id
            .parse()
            .map_err(|_| unavailable(anyhow!("Redis returned a malformed id {id:?}")))?;
        let message = ChatMessage::new(id, new.room, new.author.name, text);
        Ok(if outcome == 1 {
            Published::New(message)
        } else {
            Published::Repeat(message)
        })
    }
}
