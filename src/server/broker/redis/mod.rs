//! The Redis broker: several nodes on one Redis behave as one chat.
//!
//! Keys, under a configurable prefix `P`:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log` | Stream | the room's log: its last `CHAT_HISTORY_LIMIT` messages and the changes to them (see [`log`](self::log)); with the room's `ids` and `state`, expires after `CHAT_ROOM_IDLE_DAYS` without a post |
//! | `P:room:{room}:live` | Pub/Sub channel | each log entry as it is stored |
//! | `P:rooms` | sorted set | room → time of its last message, at most `CHAT_MAX_ROOMS`; a room trimmed from it loses its log too |
//! | `P:post:{room}:{session}:{client_id}` | string, 24 h | the first message of an idempotent post |
//! | `P:name:{name}` | string, TTL `CHAT_NAME_IDLE_DAYS` | the id of the session holding the name (canonical form) |
//! | `P:rate:{name}` | string, short TTL | the name's post limit: the GCRA "theoretical arrival time", in µs |
//! | `P:signin:{address}` | string, short TTL | the client address's sign-in limit, likewise |
//!
//! A post is one Lua script: check that the session still holds its name (and extend
//! the hold), return the first message of a repeated `client_id`, apply the name's rate
//! limit, then `XADD` + `ZADD` (history's index) + `PUBLISH`. So a revoked cookie can never post, N nodes
//! share one limit per name, and a message is never stored without being published or
//! published out of id order, all in one round trip. Each node holds one multiplexed
//! command connection and one Pub/Sub connection with a pattern subscription to every
//! room's channel; nothing opens a connection per request or per SSE client.

mod listener;
mod log;
mod presence;

pub use presence::PRESENCE_TTL;

use super::{
    After, Broker, BrokerError, BrokerResult, Change, Changed, Claim, Holder,
    LOG_ENTRIES_PER_MESSAGE, Limits, NewMessage, Published, ROOM_LIST_LIMIT, with_default_room,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::{hub::Hub, log::Entry},
};
use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use redis::{
    AsyncCommands, Client, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio_util::sync::CancellationToken;

/// How long a `client_id` is remembered.
const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;
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

/// A GCRA rate limit in Lua, shared by the scripts below: `gcra(key, interval µs, burst)`
/// takes one cell and returns 0, or returns how many µs until one is free. The key holds
/// the "theoretical arrival time" and expires when the limit has fully recovered. Time
/// is Redis's own (`TIME`), so every node shares one clock.
macro_rules! gcra_lua {
    () => {
        r#"
local function gcra(key, interval, burst)
  if interval <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local wait = next_tat - burst * interval - now
  if wait > 0 then return wait end
  redis.call('SET', key, string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  return 0
end
"#
    };
}
pub(crate) use gcra_lua;

/// `KEYS`: log, room index, name hold, name rate, history index, state, [idempotency key].
/// `ARGV`: messages kept, sender, text, channel, room, idempotency TTL, room index
/// limit, session id, hold TTL (ms), rate interval (µs, 0 for no limit), burst, room TTL
/// (ms), the prefix of a room's keys (to delete the rooms trimmed from the index), and
/// the log's length limit.
///
/// Returns `{1, id}` for a new message, `{0, "id\ntext"}` for a repeat, `{-1, ""}` when
/// the session no longer holds its name, and `{-2, wait µs}` past the rate limit.
const PUBLISH_SCRIPT: &str = concat!(
    gcra_lua!(),
    log::log_lua!(),
    r#"
if redis.call('GET', KEYS[3]) ~= ARGV[8] then return {-1, ''} end
redis.call('PEXPIRE', KEYS[3], ARGV[9])
if KEYS[7] then
  local prior = redis.call('GET', KEYS[7])
  if prior then return {0, prior} end
end
local wait = gcra(KEYS[4], tonumber(ARGV[10]), tonumber(ARGV[11]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[2], 't', ARGV[3])
redis.call('ZADD', KEYS[5], 0, pad(id))
trim(KEYS[1], KEYS[5], KEYS[6], tonumber(ARGV[1]), tonumber(ARGV[14]))
for _, key in ipairs({KEYS[1], KEYS[5], KEYS[6]}) do redis.call('PEXPIRE', key, ARGV[12]) end
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', KEYS[2], ms, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (ms - tonumber(ARGV[12])))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if over > 0 then
  for _, room in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    local key = ARGV[13] .. room
    redis.call('DEL', key .. ':log', key .. ':ids', key .. ':state')
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PUBLISH', ARGV[4], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
if KEYS[7] then redis.call('SET', KEYS[7], id .. '\n' .. ARGV[3], 'EX', ARGV[6]) end
return {1, id}
"#
);

/// `KEYS`: the name's hold, the client address's sign-in limit, [the hold of the
/// session's previous name]. `ARGV`: session id, hold TTL (ms), sign-in interval (µs, 0
/// for no limit), burst. Returns `{1, ""}` when the session holds the name now, `{0, ""}`
/// when another does, and `{-2, wait µs}` past the address's sign-in limit (every
/// attempt counts, refused ones too, so that names cannot be probed quickly).
const CLAIM_SCRIPT: &str = concat!(
    gcra_lua!(),
    r#"
local wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[3] and KEYS[3] ~= KEYS[1] and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return {1, ''}
"#
);

/// `KEYS`: a name's hold. `ARGV`: session id, hold TTL (ms), or none to release. Returns 1
/// when the session held the name (and extends or ends the hold), else 0.
const TOUCH_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
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

    fn ids(&self, room: &RoomName) -> String {
        format!("{}:room:{room}:ids", self.prefix)
    }

    fn state(&self, room: &RoomName) -> String {
        format!("{}:room:{room}:state", self.prefix)
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

    fn name(&self, name: &DisplayName) -> String {
        format!("{}:name:{}", self.prefix, name.canonical())
    }

    fn rate(&self, name: &DisplayName) -> String {
        format!("{}:rate:{}", self.prefix, name.canonical())
    }

    fn signin(&self, client: IpAddr) -> String {
        format!("{}:signin:{client}", self.prefix)
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
    limits: Limits,
    publish: Script,
    claim: Script,
    touch: Script,
    presence_scripts: presence::PresenceScripts,
    log_scripts: log::LogScripts,
    /// This process's random id: its presence entries carry it.
    node_id: String,
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
        limits: Limits,
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
            limits: Limits {
                history: limits.history.max(1),
                max_rooms: limits.max_rooms.max(1),
                ..limits
            },
            publish: Script::new(PUBLISH_SCRIPT),
            claim: Script::new(CLAIM_SCRIPT),
            touch: Script::new(TOUCH_SCRIPT),
            presence_scripts: presence::PresenceScripts::new(),
            log_scripts: log::LogScripts::new(),
            node_id: format!("{:016x}", rand::random::<u64>()),
            listener,
        };
        let task = listener::Listener {
            client,
            store: broker.store(),
            presence_read: broker.presence_scripts.read.clone(),
            hub: Arc::clone(&broker.hub),
            state: Arc::clone(&broker.listener),
        };
        tokio::spawn(task.run(shutdown));
        Ok(broker)
    }

    fn name_idle_ms(&self) -> u64 {
        self.limits.name_idle.as_millis().max(1) as u64
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
        let author = &new.author;
        let mut invocation = self.publish.key(self.keys.log(room));
        invocation
            .key(self.keys.rooms())
            .key(self.keys.name(&author.name))
            .key(self.keys.rate(&author.name))
            .key(self.keys.ids(room))
            .key(self.keys.state(room));
        if let Some(client_id) = &new.client_id {
            invocation.key(self.keys.post(room, &author.session_id, client_id));
        }
        let interval_us = interval_us(self.limits.post_rate);
        invocation
            .arg(self.limits.history)
            .arg(author.name.as_str())
            .arg(new.text.as_str())
            .arg(self.keys.live(room))
            .arg(room.as_str())
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(self.limits.max_rooms)
            .arg(&author.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us)
            .arg(self.limits.post_burst)
            .arg(self.limits.room_idle.as_millis().max(1) as u64)
            .arg(format!("{}:room:", self.keys.prefix))
            .arg(self.limits.history * LOG_ENTRIES_PER_MESSAGE);
        let (outcome, reply): (i64, String) = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .context("running the publish script")
            .map_err(unavailable)?;
        let (id, text) = match outcome {
            1 => (reply.as_str(), new.text.into_string()),
            0 => {
                let (id, text) = reply.split_once('\n').ok_or_else(|| {
                    unavailable(anyhow!("malformed idempotency record {reply:?}"))
                })?;
                (id, text.to_owned())
            }
            -1 => return Err(BrokerError::Revoked),
            -2 => {
                let wait_us: u64 = reply.parse().unwrap_or(1_000_000);
                return Err(BrokerError::RateLimited(Duration::from_micros(wait_us)));
            }
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

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        self.read_history(room, before, limit).await
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        self.apply_change(change).await
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let entries = self
            .store()
            .range_from(room, after, Some(limit.saturating_add(1)))
            .await
            .map_err(unavailable)?;
        if entries.first().is_some_and(|first| first.id() == after) {
            return Ok(After::Entries(entries[1..].to_vec()));
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

    async fn claim_name(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        let mut invocation = self.claim.key(self.keys.name(&holder.name));
        invocation.key(self.keys.signin(client));
        if let Some(previous) = previous {
            invocation.key(self.keys.name(previous));
        }
        let (outcome, wait): (i64, String) = invocation
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us(self.limits.signin_rate))
            .arg(self.limits.signin_burst)
            .invoke_async(&mut self.connection.clone())
            .await
            .context("claiming a name")
            .map_err(unavailable)?;
        match outcome {
            1 => Ok(Claim::Granted),
            0 => Ok(Claim::Taken),
            _ => Err(BrokerError::RateLimited(Duration::from_micros(
                wait.parse().unwrap_or(1_000_000),
            ))),
        }
    }

    async fn release_name(&self, holder: &Holder) -> BrokerResult<()> {
        let _: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .invoke_async(&mut self.connection.clone())
            .await
            .context("releasing a name")
            .map_err(unavailable)?;
        Ok(())
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        let held: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .invoke_async(&mut self.connection.clone())
            .await
            .context("checking a name's hold")
            .map_err(unavailable)?;
        Ok(held == 1)
    }

    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        self.enter_and_read(room, person, register).await
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        self.leave_one(room, person).await
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        self.read_presence(room).await
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        self.send_typing(room, person).await
    }

    async fn refresh_presence(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        self.refresh_all(present).await
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

/// A rate in cells per second as the GCRA scripts' interval in µs; 0 for no limit.
fn interval_us(rate: f64) -> u64 {
    if rate > 0.0 {
        (1e6 / rate).round().max(1.0) as u64
    } else {
        0
    }
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
    /// The retained log entries from `from` on, `from` included: all of them, or the
    /// first `count`.
    async fn range_from(
        &self,
        room: &RoomName,
        from: MessageId,
        count: Option<usize>,
    ) -> anyhow::Result<Vec<Entry>> {
        let mut command = redis::cmd("XRANGE");
        command
            .arg(self.keys.log(room))
            .arg(from.to_string())
            .arg("+");
        if let Some(count) = count {
            command.arg("COUNT").arg(count);
        }
        let reply: Value = command
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a room's stream")?;
        log::parse_entries(room, reply)
    }

    /// The oldest retained log entry's id.
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
        Ok(log::parse_entries(room, reply)?.first().map(Entry::id))
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
}
