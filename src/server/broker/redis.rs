//! The Redis broker: several nodes on one Redis behave as one chat.
//!
//! Keys, under a configurable prefix `P`:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log` | Stream | the room's last N messages; the entry id is the message id |
//! | `P:room:{room}:live` | Pub/Sub channel | each message as it is stored |
//! | `P:rooms` | sorted set | room → time of its last message, for `GET /api/rooms` |
//! | `P:post:{room}:{session}:{client_id}` | string, 24 h | the first message of an idempotent post |
//!
//! A post is one Lua script (`XADD` + `ZADD` + `PUBLISH`), so a message is never stored
//! without being published or published out of id order. Each node holds one multiplexed
//! command connection and one Pub/Sub connection with a pattern subscription to every
//! room's channel; nothing opens a connection per request or per SSE client.

use super::{
    After, Broker, BrokerError, BrokerResult, NewMessage, Published, ROOM_LIST_LIMIT,
    with_default_room,
};
use crate::{
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::hub::Hub,
};
use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use futures::StreamExt;
use redis::{
    AsyncCommands, Client, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio_util::sync::CancellationToken;

/// How long a `client_id` is remembered.
const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;
/// How many rooms the activity index keeps.
const ROOM_INDEX_LIMIT: usize = 1000;
/// Every command gives up after this long, so that a POST answers 503 promptly when
/// Redis is gone.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the Pub/Sub connection is pinged, to notice a dead connection that TCP has
/// not reported.
const LISTENER_PING_EVERY: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Allowance for clock skew between this node and Redis when catching up a room that has
/// had no message since it opened here.
const CLOCK_SKEW_MS: u64 = 2_000;

/// `KEYS`: stream, room index, [idempotency key]. `ARGV`: maxlen, sender, text, channel,
/// room, idempotency TTL, room index limit. Returns `{1, id}` for a new message and
/// `{0, "id\ntext"}` for a repeat.
const PUBLISH_SCRIPT: &str = r#"
if KEYS[3] then
  local prior = redis.call('GET', KEYS[3])
  if prior then return {0, prior} end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[2], 't', ARGV[3])
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', KEYS[2], ms, ARGV[5])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1 - tonumber(ARGV[7]))
redis.call('PUBLISH', ARGV[4], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
if KEYS[3] then redis.call('SET', KEYS[3], id .. '\n' .. ARGV[3], 'EX', ARGV[6]) end
return {1, id}
"#;

/// Key names under the prefix.
#[derive(Clone, Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn log(&self, room: &RoomName) -> String {
        format!("{}:room:{room}:log", self.prefix)
    }

    fn live(&self, room: &RoomName) -> String {
        format!("{}:room:{room}:live", self.prefix)
    }

    fn rooms(&self) -> String {
        format!("{}:rooms", self.prefix)
    }

    fn post(&self, room: &RoomName, session: &str, client_id: &str) -> String {
        format!("{}:post:{room}:{session}:{client_id}", self.prefix)
    }

    /// The prefix with its glob characters escaped, for `PSUBSCRIBE` and `SCAN` patterns.
    fn escaped_prefix(&self) -> String {
        let mut escaped = String::with_capacity(self.prefix.len() + 4);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    }

    /// The pattern matching every room's channel.
    fn live_pattern(&self) -> String {
        format!("{}:room:*:live", self.escaped_prefix())
    }

    /// The room of a channel name, if it is one of ours.
    fn room_of_channel(&self, channel: &str) -> Option<RoomName> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":room:")?;
        RoomName::parse(rest.strip_suffix(":live")?).ok()
    }
}

pub struct RedisBroker {
    connection: ConnectionManager,
    keys: Keys,
    hub: Arc<Hub>,
    history_limit: usize,
    publish: Script,
    listener: Arc<ListenerState>,
}

/// What the Pub/Sub task shares with the broker.
struct ListenerState {
    /// Subscribed and caught up: live deliveries flow.
    healthy: AtomicBool,
    /// When the subscription was last known to be working (ms since the epoch): the
    /// floor from which a room that saw no message is caught up after a reconnect.
    last_ok_ms: AtomicU64,
}

impl RedisBroker {
    /// Connects lazily: the node starts (and answers `/readyz` with 503) even while Redis
    /// is down, and connects as soon as it is up. The Pub/Sub task stops on `shutdown`.
    pub fn start(
        url: &str,
        prefix: &str,
        history_limit: usize,
        hub: Arc<Hub>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = Client::open(url).context("parsing REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_MAX);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("creating the Redis connection manager")?;
        let keys = Keys {
            prefix: prefix.to_owned(),
        };
        let listener = Arc::new(ListenerState {
            healthy: AtomicBool::new(false),
            last_ok_ms: AtomicU64::new(now_ms()),
        });
        let broker = Self {
            connection,
            keys,
            hub,
            history_limit: history_limit.max(1),
            publish: Script::new(PUBLISH_SCRIPT),
            listener,
        };
        let task = Listener {
            client,
            store: broker.store(),
            hub: Arc::clone(&broker.hub),
            state: Arc::clone(&broker.listener),
        };
        tokio::spawn(task.run(shutdown));
        Ok(broker)
    }

    fn store(&self) -> Store {
        Store {
            connection: self.connection.clone(),
            keys: self.keys.clone(),
        }
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        let room = &new.room;
        let mut invocation = self.publish.key(self.keys.log(room));
        invocation.key(self.keys.rooms());
        if let Some(key) = &new.idempotency {
            invocation.key(self.keys.post(room, &key.session_id, &key.client_id));
        }
        invocation
            .arg(self.history_limit)
            .arg(new.sender.as_str())
            .arg(new.text.as_str())
            .arg(self.keys.live(room))
            .arg(room.as_str())
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(ROOM_INDEX_LIMIT);
        let (fresh, reply): (i64, String) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .context("running the publish script")
            .map_err(unavailable)?;
        let (id, text) = if fresh == 1 {
            (reply.as_str(), new.text.into_string())
        } else {
            let (id, text) = reply
                .split_once('\n')
                .ok_or_else(|| unavailable(anyhow!("malformed idempotency record {reply:?}")))?;
            (id, text.to_owned())
        };
        let id: MessageId = id
            .parse()
            .map_err(|_| unavailable(anyhow!("Redis returned a malformed id {id:?}")))?;
        let message = ChatMessage {
            id,
            room: new.room,
            sender: new.sender,
            text,
            sent_at: rfc3339_millis(id.ms),
        };
        Ok(if fresh == 1 {
            Published::New(message)
        } else {
            Published::Repeat(message)
        })
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let end = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let reply: Value = redis::cmd("XREVRANGE")
            .arg(self.keys.log(room))
            .arg(end)
            .arg("-")
            .arg("COUNT")
            .arg(limit)
            .query_async(&mut self.connection.clone())
            .await
            .context("reading room history")
            .map_err(unavailable)?;
        let mut messages = parse_entries(room, reply).map_err(unavailable)?;
        messages.reverse();
        Ok(messages)
    }

    async fn after(&self, room: &RoomName, after: MessageId) -> BrokerResult<After> {
        let entries = self
            .store()
            .range_from(room, after)
            .await
            .map_err(unavailable)?;
        if entries.first().is_some_and(|first| first.id == after) {
            return Ok(After::Messages(entries[1..].to_vec()));
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

    async fn ready(&self) -> bool {
        if !self.listener.healthy.load(Ordering::Acquire) {
            return false;
        }
        let ping: redis::RedisResult<String> = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await;
        ping.is_ok()
    }

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

/// Deletes every key under `prefix` (tests and benchmarks clean up with it). Uses `SCAN`,
/// so a large Redis is never blocked.
pub fn delete_prefix(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let mut connection = Client::open(url)?.get_connection()?;
    let keys = Keys {
        prefix: prefix.to_owned(),
    };
    let pattern = format!("{}:*", keys.escaped_prefix());
    let keys: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(&pattern)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter::<String>(&mut connection)?
        .collect::<Result<_, _>>()?;
    for chunk in keys.chunks(500) {
        redis::cmd("DEL").arg(chunk).exec(&mut connection)?;
    }
    Ok(keys.len())
}

fn unavailable(error: anyhow::Error) -> BrokerError {
    metrics::counter!("chat_broker_errors_total").increment(1);
    BrokerError::Unavailable(error)
}

/// Reads of a room's stream, shared by the broker and its Pub/Sub task.
#[derive(Clone)]
struct Store {
    connection: ConnectionManager,
    keys: Keys,
}

impl Store {
    /// Every retained message from `from` on, `from` included.
    async fn range_from(
        &self,
        room: &RoomName,
        from: MessageId,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let reply: Value = redis::cmd("XRANGE")
            .arg(self.keys.log(room))
            .arg(from.to_string())
            .arg("+")
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a room's stream")?;
        parse_entries(room, reply)
    }

    /// The oldest retained message id.
    async fn oldest(&self, room: &RoomName) -> anyhow::Result<Option<MessageId>> {
        let reply: Value = redis::cmd("XRANGE")
            .arg(self.keys.log(room))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a room's oldest message")?;
        Ok(parse_entries(room, reply)?.first().map(|m| m.id))
    }

    /// The newest id trimmed from a room's stream (`max-deleted-entry-id`, Redis 7), or
    /// `None` when the stream does not exist.
    async fn max_deleted(&self, room: &RoomName) -> anyhow::Result<Option<MessageId>> {
        let mut connection = self.connection.clone();
        let key = self.keys.log(room);
        let exists: bool = connection.exists(&key).await.context("checking a stream")?;
        if !exists {
            return Ok(None);
        }
        let info: Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .context("reading stream info")?;
        let fields: Vec<(String, Value)> = match info {
            Value::Map(pairs) => pairs
                .into_iter()
                .filter_map(|(k, v)| Some((redis::from_redis_value::<String>(k).ok()?, v)))
                .collect(),
            Value::Array(items) => items
                .chunks_exact(2)
                .filter_map(|kv| {
                    Some((
                        redis::from_redis_value_ref::<String>(&kv[0]).ok()?,
                        kv[1].clone(),
                    ))
                })
                .collect(),
            other => bail!("unexpected XINFO reply {other:?}"),
        };
        let id = fields
            .into_iter()
            .find(|(k, _)| k == "max-deleted-entry-id")
            .context("XINFO has no max-deleted-entry-id (Redis 7 or later is required)")?
            .1;
        let id: String = redis::from_redis_value(id).context("reading max-deleted-entry-id")?;
        Ok(Some(
            id.parse()
                .map_err(|_| anyhow!("bad max-deleted-entry-id {id:?}"))?,
        ))
    }
}

/// Parses an `XRANGE`/`XREVRANGE` reply of entries with fields `s` (sender) and `t` (text).
fn parse_entries(room: &RoomName, reply: Value) -> anyhow::Result<Vec<ChatMessage>> {
    let Value::Array(entries) = reply else {
        bail!("unexpected stream reply {reply:?}");
    };
    entries
        .into_iter()
        .map(|entry| {
            let (id, fields): (String, Vec<(String, String)>) =
                redis::from_redis_value(entry).context("reading a stream entry")?;
            let id: MessageId = id.parse().map_err(|_| anyhow!("bad stream id {id:?}"))?;
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .with_context(|| format!("stream entry {id} has no field {name}"))
            };
            Ok(ChatMessage {
                id,
                room: room.clone(),
                sender: DisplayName::parse(&field("s")?)
                    .map_err(|_| anyhow!("stream entry {id} has an invalid sender"))?,
                text: field("t")?,
                sent_at: rfc3339_millis(id.ms),
            })
        })
        .collect()
}

/// Parses a Pub/Sub payload, `id\nsender\ntext`.
fn parse_live(room: RoomName, payload: &[u8]) -> anyhow::Result<ChatMessage> {
    let payload = std::str::from_utf8(payload).context("payload is not UTF-8")?;
    let mut parts = payload.splitn(3, '\n');
    let (Some(id), Some(sender), Some(text)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("malformed payload");
    };
    let id: MessageId = id.parse().map_err(|_| anyhow!("bad id {id:?}"))?;
    Ok(ChatMessage {
        id,
        room,
        sender: DisplayName::parse(sender).map_err(|_| anyhow!("bad sender {sender:?}"))?,
        text: text.to_owned(),
        sent_at: rfc3339_millis(id.ms),
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The node's one Pub/Sub connection: subscribes to every room's channel, feeds the hub,
/// and after each (re)connect catches up the rooms open here from their streams.
struct Listener {
    client: Client,
    store: Store,
    hub: Arc<Hub>,
    state: Arc<ListenerState>,
}

impl Listener {
    async fn run(self, shutdown: CancellationToken) {
        let mut delay = RECONNECT_MIN;
        loop {
            let session = self.subscribe_and_listen(&shutdown, &mut delay);
            let outcome = tokio::select! {
                outcome = session => outcome,
                () = shutdown.cancelled() => return,
            };
            self.state.healthy.store(false, Ordering::Release);
            if let Err(error) = outcome {
                metrics::counter!("chat_broker_errors_total").increment(1);
                tracing::warn!(error = format!("{error:#}"), retry_in = ?delay, "Redis Pub/Sub connection lost");
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// One connection's life. Returns only with the error that ended it.
    async fn subscribe_and_listen(
        &self,
        shutdown: &CancellationToken,
        delay: &mut Duration,
    ) -> anyhow::Result<()> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .context("connecting for Pub/Sub timed out")?
            .context("connecting for Pub/Sub")?;
        let (mut sink, mut stream) = pubsub.split();
        let pattern = self.store.keys.live_pattern();
        tokio::time::timeout(COMMAND_TIMEOUT, sink.psubscribe(&pattern))
            .await
            .context("PSUBSCRIBE timed out")?
            .context("PSUBSCRIBE")?;
        // Messages arriving from now on queue up in `stream` while we catch up, and the
        // hub drops those that the catch-up already delivered.
        self.catch_up().await?;
        self.state.healthy.store(true, Ordering::Release);
        self.state.last_ok_ms.store(now_ms(), Ordering::Release);
        *delay = RECONNECT_MIN;
        tracing::info!(%pattern, "subscribed to Redis Pub/Sub");

        let mut ping = tokio::time::interval(LISTENER_PING_EVERY);
        ping.reset();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let message = message.context("the Pub/Sub connection closed")?;
                    let Some(room) = self.store.keys.room_of_channel(message.get_channel_name()) else {
                        continue;
                    };
                    match parse_live(room, message.get_payload_bytes()) {
                        Ok(message) => {
                            self.hub.dispatch(&message);
                        }
                        Err(error) => tracing::warn!(error = format!("{error:#}"), "ignoring a malformed Pub/Sub message"),
                    }
                }
                _ = ping.tick() => {
                    let pong: String = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping())
                        .await
                        .context("Pub/Sub ping timed out")?
                        .context("Pub/Sub ping")?;
                    debug_assert!(!pong.is_empty());
                    self.state.last_ok_ms.store(now_ms(), Ordering::Release);
                }
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Delivers what each room open on this node missed while the subscription was down,
    /// or tells its subscribers to resync when the stream no longer holds all of it.
    async fn catch_up(&self) -> anyhow::Result<()> {
        let floor = self
            .state
            .last_ok_ms
            .load(Ordering::Acquire)
            .saturating_sub(CLOCK_SKEW_MS);
        for (room, last) in self.hub.active_rooms() {
            let from = last.unwrap_or(MessageId::new(floor, 0));
            let entries = self.store.range_from(&room, from).await?;
            let retained = entries.first().is_some_and(|m| m.id == from);
            if let Some(last) = last
                && !retained
                && !entries.is_empty()
                && self
                    .store
                    .max_deleted(&room)
                    .await?
                    .is_some_and(|d| d > last)
            {
                tracing::warn!(%room, "missed messages are no longer retained; resyncing the room");
                self.hub.resync(&room, entries.first().map(|m| m.id));
                continue;
            }
            let missed = entries.iter().filter(|m| self.hub.dispatch(m)).count();
            if missed > 0 {
                metrics::counter!("chat_broker_caught_up_total").increment(missed as u64);
                tracing::info!(%room, missed, "caught up after reconnecting to Redis");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_map_back_to_rooms() {
        let keys = Keys {
            prefix: "chat".into(),
        };
        let room = RoomName::parse("dev-ops").unwrap();
        assert_eq!(keys.room_of_channel(&keys.live(&room)), Some(room));
        assert_eq!(keys.room_of_channel("chat:room:Bad:live"), None);
        assert_eq!(keys.room_of_channel("other:room:a:live"), None);
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        let keys = Keys {
            prefix: "t*[1]?".into(),
        };
        assert_eq!(keys.live_pattern(), r"t\*\[1\]\?:room:*:live");
    }

    #[test]
    fn live_payloads_keep_newlines_in_the_text() {
        let message = parse_live(RoomName::everyone(), b"5-1\nann\nline one\nline two").unwrap();
        assert_eq!(message.id, MessageId::new(5, 1));
        assert_eq!(message.text, "line one\nline two");
        assert!(parse_live(RoomName::everyone(), b"5-1\nann").is_err());
    }
}
